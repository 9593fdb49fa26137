//! The market seen whole, for oversight: listings by class, requests,
//! grants and deliveries day by day, cross-border flows by destination, and
//! trade by currency — each a grouped count or sum computed by the
//! database over indexed time ranges, never by loading rows.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use serde::Serialize;

use crate::audit::{self, Action};
use crate::domain::{self, Actor};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::store::DbConnection;
use crate::store::dialect;

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

#[derive(QueryableByName)]
struct Grouped {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = Text)]
    b: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = Text)]
    a: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct Total {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName)]
struct TradeRow {
    #[diesel(sql_type = Text)]
    currency: String,
    #[diesel(sql_type = BigInt)]
    orders: i64,
    #[diesel(sql_type = Nullable<BigInt>)]
    volume: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    min_price: Option<i64>,
    #[diesel(sql_type = Nullable<BigInt>)]
    max_price: Option<i64>,
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

/// Rows of `sql` (numbered placeholders `$1` = from, `$2` = to).
fn in_period<R: QueryableByName<crate::store::Backend> + 'static>(
    conn: &mut DbConnection,
    sql: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> Result<Vec<R>> {
    Ok(diesel::sql_query(dialect::numbered(conn, sql))
        .bind::<Timestamp, _>(from)
        .bind::<Timestamp, _>(to)
        .load(conn)?)
}

fn compute(conn: &mut DbConnection, from: NaiveDateTime, to: NaiveDateTime) -> Result<Statistics> {
    let listings: Vec<Grouped> = diesel::sql_query(
        "SELECT classification AS a, status AS b, COUNT(*) AS n
         FROM datasets GROUP BY classification, status ORDER BY classification, status",
    )
    .load(conn)?;
    let personal: Total = diesel::sql_query(
        "SELECT COUNT(*) AS n FROM datasets
         WHERE status = 'listed' AND (personal_data OR inherited_personal_data)",
    )
    .get_result(conn)?;
    let requests: Vec<Counted> = in_period(
        conn,
        "SELECT state AS a, COUNT(*) AS n FROM access_requests
         WHERE created_at >= $1 AND created_at < $2 GROUP BY state ORDER BY state",
        from,
        to,
    )?;
    let mut daily: BTreeMap<String, Day> = BTreeMap::new();
    let mut add = |rows: Vec<Counted>, field: fn(&mut Day) -> &mut i64| {
        for row in rows {
            *field(daily.entry(row.a).or_default()) += row.n;
        }
    };
    let day = dialect::day_of(conn, "created_at");
    add(
        in_period(
            conn,
            &format!(
                "SELECT {day} AS a, COUNT(*) AS n FROM access_requests
                 WHERE created_at >= $1 AND created_at < $2 GROUP BY {day}"
            ),
            from,
            to,
        )?,
        |d| &mut d.requests,
    );
    add(
        in_period(
            conn,
            &format!(
                "SELECT {day} AS a, COUNT(*) AS n FROM grants
                 WHERE created_at >= $1 AND created_at < $2 GROUP BY {day}"
            ),
            from,
            to,
        )?,
        |d| &mut d.grants,
    );
    for (action, field) in [
        (
            Action::DeliveryCompleted,
            (|d| &mut d.deliveries) as fn(&mut Day) -> &mut i64,
        ),
        (Action::DeliveryRefused, |d| &mut d.refused_deliveries),
    ] {
        // An action is one of our own words, never a client's text.
        let rows = in_period(
            conn,
            &format!(
                "SELECT {day} AS a, COUNT(*) AS n FROM audit_entries
                 WHERE action = '{}' AND created_at >= $1 AND created_at < $2 GROUP BY {day}",
                action.as_str()
            ),
            from,
            to,
        )?;
        add(rows, field);
    }
    let cross_border: Vec<Grouped> = in_period(
        conn,
        "SELECT COALESCE(destination_country, '') AS a, state AS b, COUNT(*) AS n
         FROM access_requests
         WHERE cross_border AND created_at >= $1 AND created_at < $2
         GROUP BY destination_country, state ORDER BY destination_country, state",
        from,
        to,
    )?;
    let orders: Vec<Counted> = in_period(
        conn,
        "SELECT state AS a, COUNT(*) AS n FROM orders
         WHERE created_at >= $1 AND created_at < $2 GROUP BY state ORDER BY state",
        from,
        to,
    )?;
    let trade: Vec<TradeRow> = in_period(
        conn,
        "SELECT currency, COUNT(*) AS orders, CAST(SUM(amount) AS BIGINT) AS volume,
                MIN(amount) AS min_price, MAX(amount) AS max_price
         FROM orders WHERE state = 'settled' AND created_at >= $1 AND created_at < $2
         GROUP BY currency ORDER BY currency",
        from,
        to,
    )?;
    Ok(Statistics {
        from: domain::from_db_time(from),
        to: domain::from_db_time(to),
        listings: listings
            .into_iter()
            .map(|r| ListingCount {
                classification: r.a,
                status: r.b,
                count: r.n,
            })
            .collect(),
        listed_with_personal_data: personal.n,
        requests: requests.into_iter().map(state_count).collect(),
        daily: daily
            .into_iter()
            .map(|(day, counts)| Day { day, ..counts })
            .collect(),
        cross_border: cross_border
            .into_iter()
            .map(|r| Destination {
                destination: r.a,
                state: r.b,
                count: r.n,
            })
            .collect(),
        orders: orders.into_iter().map(state_count).collect(),
        trade: trade
            .into_iter()
            .map(|r| Trade {
                currency: r.currency,
                orders: r.orders,
                volume: r.volume.unwrap_or(0),
                min_price: r.min_price.unwrap_or(0),
                max_price: r.max_price.unwrap_or(0),
            })
            .collect(),
    })
}

fn state_count(row: Counted) -> StateCount {
    StateCount {
        state: row.a,
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
    let (from, to) = (domain::to_db_time(from), domain::to_db_time(to));
    market.db.read(move |conn| compute(conn, from, to)).await
}
