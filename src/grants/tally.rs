//! Requests and grants counted, for oversight's statistics and
//! participants' compliance records.

use uuid::Uuid;

use crate::access;
use crate::domain::Actor;
use crate::error::Result;
use crate::store::DbConnection;
use crate::store::tally::{self, Count, Count2, Period, Scope};

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

pub fn tally(conn: &mut DbConnection, period: Period, scope: &Scope) -> Result<Tally> {
    Ok(Tally {
        requests_by_state: tally::rows(
            conn,
            "SELECT state AS key, COUNT(*) AS n FROM access_requests
             WHERE created_at >= $1 AND created_at < $2 {scope}
             GROUP BY state ORDER BY state",
            period,
            scope,
        )?,
        requests_per_day: tally::rows(
            conn,
            "SELECT {day} AS key, COUNT(*) AS n FROM access_requests
             WHERE created_at >= $1 AND created_at < $2 {scope} GROUP BY {day}",
            period,
            scope,
        )?,
        grants_per_day: tally::rows(
            conn,
            "SELECT {day} AS key, COUNT(*) AS n FROM grants
             WHERE created_at >= $1 AND created_at < $2 {scope} GROUP BY {day}",
            period,
            scope,
        )?,
        cross_border: tally::rows(
            conn,
            "SELECT COALESCE(destination_country, '') AS key, state AS key2, COUNT(*) AS n
             FROM access_requests
             WHERE cross_border AND created_at >= $1 AND created_at < $2 {scope}
             GROUP BY destination_country, state ORDER BY destination_country, state",
            period,
            scope,
        )?,
    })
}

/// Licences the account held that were revoked.
pub fn revoked_licences_of(conn: &mut DbConnection, licensee: Uuid) -> Result<i64> {
    use crate::store::schema::grants;
    use diesel::prelude::*;
    Ok(grants::table
        .filter(grants::licensee_id.eq(licensee.to_string()))
        .filter(grants::status.eq(crate::grants::GrantStatus::Revoked))
        .count()
        .get_result(conn)?)
}

/// Whether `other` deals with the actor: it asked for access to a dataset
/// the actor decides on, or a licence runs between them either way.
pub fn deals_with(conn: &mut DbConnection, actor: &Actor, other: Uuid) -> Result<bool> {
    use crate::store::schema::{access_requests, grants};
    use diesel::prelude::*;
    let (me, other) = (actor.id.to_string(), other.to_string());
    let licensed: i64 = grants::table
        .filter(
            grants::licensor_id
                .eq(&me)
                .and(grants::licensee_id.eq(&other))
                .or(grants::licensor_id
                    .eq(&other)
                    .and(grants::licensee_id.eq(&me))),
        )
        .count()
        .get_result(conn)?;
    if licensed > 0 {
        return Ok(true);
    }
    // The same subquery as the provider's list of incoming requests.
    let asked: i64 = access_requests::table
        .filter(access_requests::consumer_id.eq(&other))
        .filter(access_requests::dataset_id.eq_any(access::decided_datasets(actor)))
        .count()
        .get_result(conn)?;
    Ok(asked > 0)
}

/// Cross-border requests (ordered or asked) to `destination` for datasets
/// of `classification`, made after `since` and up to `until`: how many,
/// and the ids of the newest `keep`.
pub fn cross_border_to(
    conn: &mut DbConnection,
    destination: &str,
    classification: crate::domain::Classification,
    since: chrono::DateTime<chrono::Utc>,
    until: chrono::DateTime<chrono::Utc>,
    keep: i64,
) -> Result<(i64, Vec<String>)> {
    use crate::domain;
    use crate::store::schema::{access_requests, datasets};
    use diesel::prelude::*;
    let query = || {
        access_requests::table
            .filter(access_requests::cross_border.eq(true))
            .filter(access_requests::destination_country.eq(destination.to_owned()))
            .filter(access_requests::created_at.gt(domain::to_db_time(since)))
            .filter(access_requests::created_at.le(domain::to_db_time(until)))
            .filter(
                access_requests::dataset_id.eq_any(
                    datasets::table
                        .filter(datasets::classification.eq(classification))
                        .select(datasets::id),
                ),
            )
    };
    let count: i64 = query().count().get_result(conn)?;
    let newest: Vec<String> = query()
        .order(access_requests::created_at.desc())
        .limit(keep)
        .select(access_requests::id)
        .load(conn)?;
    Ok((count, newest))
}
