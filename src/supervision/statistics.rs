//! The market seen whole, for oversight: listings by class, requests,
//! grants and deliveries day by day, cross-border flows by destination, and
//! trade by currency — each a grouped count or sum the database computes
//! over an indexed time range, asked of the service that owns the table.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::audit::{self, Action};
use crate::domain::{self, Actor};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::store::DbConnection;
use crate::store::tally::{Count, Period};
use crate::{catalog, grants, trading};

/// The longest period one query may cover, in days: a year of daily rows.
pub const MAX_PERIOD_DAYS: i64 = 366;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Statistics {
    /// The period the flows below cover: `from` inclusive, `to` exclusive.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Listings now (not bounded by the period), by classification and
    /// status.
    pub listings: Vec<ListingCount>,
    /// Listings now by sector (empty: none given) and status.
    pub listings_by_sector: Vec<SectorCount>,
    /// Listed datasets that hold, or derive from, personal information.
    pub listed_with_personal_data: i64,
    /// Access requests made in the period, by their state now.
    pub requests: Vec<StateCount>,
    /// Day by day (UTC): requests made, grants issued, deliveries made and
    /// refused. Days with nothing are left out.
    pub daily: Vec<Day>,
    /// Cross-border requests made in the period, by destination and state.
    pub cross_border: Vec<Destination>,
    /// Orders placed in the period, by their state now.
    pub orders: Vec<StateCount>,
    /// Orders placed in the period and settled (the money reached the
    /// seller), by currency, in minor units.
    pub trade: Vec<Trade>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ListingCount {
    pub classification: String,
    pub status: String,
    pub count: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct SectorCount {
    pub sector: String,
    pub status: String,
    pub count: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StateCount {
    pub state: String,
    pub count: i64,
}

#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct Day {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub requests: i64,
    pub grants: i64,
    pub deliveries: i64,
    pub refused_deliveries: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Destination {
    /// ISO 3166-1 alpha-2.
    pub destination: String,
    pub state: String,
    pub count: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Trade {
    pub currency: String,
    pub orders: i64,
    /// The sum of their prices, in minor units.
    pub volume: i64,
    pub min_price: i64,
    pub max_price: i64,
}

/// The period asked for: by default the 30 days up to now.
fn period(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, DateTime<Utc>)> {
    let to = to.unwrap_or_else(domain::now);
    let from = from.unwrap_or(to - Duration::days(30));
    let refuse =
        |why: String| Err(Error::refused(Code::InvalidParameter, why).with("parameter", "from"));
    if from >= to {
        return refuse("from must be before to".into());
    }
    if to - from > Duration::days(MAX_PERIOD_DAYS) {
        return refuse(format!("a period spans at most {MAX_PERIOD_DAYS} days"));
    }
    Ok((from, to))
}

/// Which of a day's counts a series adds to.
type DayField = fn(&mut Day) -> &mut i64;

fn compute(conn: &mut DbConnection, period: Period) -> Result<Statistics> {
    let (listings, by_sector, personal) = catalog::tally_listings(conn)?;
    let requests = grants::tally::tally(conn, period)?;
    let deliveries = audit::tally_per_day(conn, Action::DeliveryCompleted, period)?;
    let refused = audit::tally_per_day(conn, Action::DeliveryRefused, period)?;
    let orders = trading::orders::tally_by_state(conn, period)?;
    let trade = trading::orders::tally_settled(conn, period)?;
    let mut daily: BTreeMap<String, Day> = BTreeMap::new();
    let series: [(Vec<Count>, DayField); 4] = [
        (requests.requests_per_day, |d| &mut d.requests),
        (requests.grants_per_day, |d| &mut d.grants),
        (deliveries, |d| &mut d.deliveries),
        (refused, |d| &mut d.refused_deliveries),
    ];
    for (rows, field) in series {
        for row in rows {
            *field(daily.entry(row.key).or_default()) += row.n;
        }
    }
    Ok(Statistics {
        from: domain::from_db_time(period.from),
        to: domain::from_db_time(period.to),
        listings: listings
            .into_iter()
            .map(|r| ListingCount {
                classification: r.key,
                status: r.key2,
                count: r.n,
            })
            .collect(),
        listings_by_sector: by_sector
            .into_iter()
            .map(|r| SectorCount {
                sector: r.key,
                status: r.key2,
                count: r.n,
            })
            .collect(),
        listed_with_personal_data: personal,
        requests: requests
            .requests_by_state
            .into_iter()
            .map(state_count)
            .collect(),
        daily: daily
            .into_iter()
            .map(|(day, counts)| Day { day, ..counts })
            .collect(),
        cross_border: requests
            .cross_border
            .into_iter()
            .map(|r| Destination {
                destination: r.key,
                state: r.key2,
                count: r.n,
            })
            .collect(),
        orders: orders.into_iter().map(state_count).collect(),
        trade: trade
            .into_iter()
            .map(|r| Trade {
                currency: r.currency,
                orders: r.orders,
                volume: r.volume,
                min_price: r.min_price,
                max_price: r.max_price,
            })
            .collect(),
    })
}

fn state_count(row: Count) -> StateCount {
    StateCount {
        state: row.key,
        count: row.n,
    }
}

/// The market's statistics over a period (regulators and auditors).
pub async fn statistics(
    market: &Market,
    actor: &Actor,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<Statistics> {
    audit::require_oversight(actor)?;
    let (from, to) = period(from, to)?;
    let period = Period {
        from: domain::to_db_time(from),
        to: domain::to_db_time(to),
    };
    market.db.read(move |conn| compute(conn, period)).await
}
