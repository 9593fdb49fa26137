//! The sweep: requests nobody decided in time, and grants past their
//! window, are recorded as expired — each by the same conditional update
//! a request would use, so a sweep racing a decision or a revocation on
//! another instance changes nothing twice.

use diesel::prelude::*;

use super::delivery;
use super::requests::expire_if_due;
use super::rows::{GrantRow, RequestRow};
use super::types::{GrantStatus, RequestState};
use crate::catalog;
use crate::domain;
use crate::error::{Error, Result};
use crate::market::Market;
use crate::store::schema::{access_requests, grants};

/// How many rows one sweep transaction takes on.
const BATCH: i64 = 500;

/// Expires every pending request whose time is up, each with its audit
/// entry. Returns how many it expired.
pub async fn sweep_requests(market: &Market) -> Result<usize> {
    market
        .db
        .write(|conn| {
            let now = domain::to_db_time(domain::now());
            let due: Vec<RequestRow> = access_requests::table
                .filter(access_requests::state.eq(RequestState::Pending))
                .filter(access_requests::expires_at.le(now))
                .select(RequestRow::as_select())
                .limit(BATCH)
                .load(conn)?;
            let mut expired = 0;
            for mut row in due {
                let dataset = catalog::load(conn, row.dataset()?)?
                    .ok_or_else(|| Error::Internal("a request names a missing dataset".into()))?;
                if !expire_if_due(conn, &mut row, &dataset)?.is_empty() {
                    expired += 1;
                }
            }
            Ok(expired)
        })
        .await
}

/// Records as expired every active grant past its window.
pub async fn sweep_grants(market: &Market) -> Result<usize> {
    market
        .db
        .write(|conn| {
            let now = domain::to_db_time(domain::now());
            let due: Vec<GrantRow> = grants::table
                .filter(grants::status.eq(GrantStatus::Active))
                .filter(grants::not_after.le(now))
                .select(GrantRow::as_select())
                .limit(BATCH)
                .load(conn)?;
            let mut expired = 0;
            for row in &due {
                if delivery::record_expiry(conn, row)?.is_some() {
                    expired += 1;
                }
            }
            Ok(expired)
        })
        .await
}

/// Tells the parties of every active grant that ends within
/// `grants.expiry_notice_secs` that it is expiring: once per grant, as an
/// audited change (`grant.expiring`), which the event dispatcher sends on.
pub async fn notice_expiring(market: &Market) -> Result<usize> {
    let notice = chrono::Duration::seconds(
        i64::try_from(market.settings.grants.expiry_notice_secs).unwrap_or(i64::MAX / 4),
    );
    market
        .db
        .write(move |conn| {
            let now = domain::now();
            let due: Vec<GrantRow> = grants::table
                .filter(grants::status.eq(GrantStatus::Active))
                .filter(grants::expiry_noticed_at.is_null())
                .filter(grants::not_after.gt(domain::to_db_time(now)))
                .filter(grants::not_after.le(domain::to_db_time(now + notice)))
                .select(GrantRow::as_select())
                .limit(BATCH)
                .load(conn)?;
            let mut noticed = 0;
            for row in &due {
                if delivery::record_expiry_notice(conn, row)?.is_some() {
                    noticed += 1;
                }
            }
            Ok(noticed)
        })
        .await
}

/// Runs the sweeps every `grants.sweep_interval_secs` until aborted.
pub fn spawn_sweeper(market: Market) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = std::time::Duration::from_secs(market.settings.grants.sweep_interval_secs);
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            for (what, result) in [
                ("requests", sweep_requests(&market).await),
                ("grants", sweep_grants(&market).await),
                ("expiring grants", notice_expiring(&market).await),
            ] {
                match result {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, what, "changed by the sweep"),
                    Err(e) => tracing::warn!(error = %e, what, "sweep failed"),
                }
            }
        }
    })
}
