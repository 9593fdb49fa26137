//! The market seen whole, for oversight: listings by class, requests,
//! grants and deliveries day by day, cross-border flows by destination, and
//! trade by currency — each a grouped count or sum the database computes
//! over an indexed time range, asked of the service that owns the table.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::audit::{self, Action};
use crate::domain::jurisdiction::{self, Jurisdiction, Sector};
use crate::domain::{self, Actor};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::store::DbConnection;
use crate::store::tally::{Count, Period, Scope};
use crate::{catalog, grants, trading};

/// The longest period one query may cover, in days: a year of daily rows.
pub const MAX_PERIOD_DAYS: i64 = 366;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Statistics {
    /// The period the flows below cover: `from` inclusive, `to` exclusive.
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// The part of the market counted: datasets whose provider is in one of
    /// these regions and of one of these sectors (empty: not limited). A
    /// regulator's figures keep to its jurisdiction.
    pub scope: Jurisdiction,
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

fn compute(conn: &mut DbConnection, period: Period, counted: Jurisdiction) -> Result<Statistics> {
    let scope = Scope {
        regions: counted.regions.clone(),
        sectors: counted.sectors().unwrap_or_default(),
    };
    let (listings, by_sector, personal) = catalog::tally_listings(conn, &scope)?;
    let requests = grants::tally::tally(conn, period, &scope)?;
    let deliveries = audit::tally_per_day(conn, Action::DeliveryCompleted, period, &scope)?;
    let refused = audit::tally_per_day(conn, Action::DeliveryRefused, period, &scope)?;
    let orders = trading::orders::tally_by_state(conn, period, &scope)?;
    let trade = trading::orders::tally_settled(conn, period, &scope)?;
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
        scope: counted,
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

/// The market's statistics over a period (regulators and auditors), for
/// one region or sector if asked; a regulator's keep to its jurisdiction.
pub async fn statistics(
    market: &Market,
    actor: &Actor,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    region: Option<String>,
    sector: Option<Sector>,
) -> Result<Statistics> {
    audit::require_oversight(actor)?;
    let (from, to) = period(from, to)?;
    let period = Period {
        from: domain::to_db_time(from),
        to: domain::to_db_time(to),
    };
    let home = market.settings.catalog.home_territory.clone();
    if let Some(region) = &region
        && !jurisdiction::is_region_of(region, &home)
    {
        return Err(Error::refused(
            Code::InvalidParameter,
            format!("region must be an ISO 3166-2 subdivision of {home}, such as {home}-SH"),
        )
        .with("parameter", "region"));
    }
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let own = crate::accounts::jurisdiction_of(conn, &actor)?;
            // What is asked for must lie within what the regulator oversees.
            let region_ok = region.is_none() || own.covers_region(region.as_deref());
            let sector_ok =
                sector.is_none_or(|s| own.sectors.is_empty() || own.sectors.contains(&s));
            if !(region_ok && sector_ok) {
                return Err(Error::refused(
                    Code::OutsideJurisdiction,
                    "the region or sector asked for is outside your jurisdiction",
                )
                .with("region", region.clone())
                .with("sector", sector.map(|s| s.as_str())));
            }
            let counted = Jurisdiction {
                regions: region.map(|r| vec![r]).unwrap_or(own.regions),
                sectors: sector.map(|s| vec![s]).unwrap_or(own.sectors),
            };
            compute(conn, period, counted)
        })
        .await
}
