//! Requests and grants counted over a period, for oversight's statistics.

use crate::error::Result;
use crate::store::DbConnection;
use crate::store::tally::{self, Count, Count2, Period};

pub struct Tally {
    /// Requests made in the period, by their state now.
    pub requests_by_state: Vec<Count>,
    /// Requests made, per UTC day.
    pub requests_per_day: Vec<Count>,
    /// Grants issued, per UTC day.
    pub grants_per_day: Vec<Count>,
    /// Cross-border requests made, by destination and state now.
    pub cross_border: Vec<Count2>,
}

pub fn tally(conn: &mut DbConnection, period: Period) -> Result<Tally> {
    Ok(Tally {
        requests_by_state: tally::rows(
            conn,
            "SELECT state AS key, COUNT(*) AS n FROM access_requests
             WHERE created_at >= $1 AND created_at < $2 GROUP BY state ORDER BY state",
            period,
        )?,
        requests_per_day: tally::rows(
            conn,
            "SELECT {day} AS key, COUNT(*) AS n FROM access_requests
             WHERE created_at >= $1 AND created_at < $2 GROUP BY {day}",
            period,
        )?,
        grants_per_day: tally::rows(
            conn,
            "SELECT {day} AS key, COUNT(*) AS n FROM grants
             WHERE created_at >= $1 AND created_at < $2 GROUP BY {day}",
            period,
        )?,
        cross_border: tally::rows(
            conn,
            "SELECT COALESCE(destination_country, '') AS key, state AS key2, COUNT(*) AS n
             FROM access_requests
             WHERE cross_border AND created_at >= $1 AND created_at < $2
             GROUP BY destination_country, state ORDER BY destination_country, state",
            period,
        )?,
    })
}
