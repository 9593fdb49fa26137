//! A participant's compliance record, derived from what the market holds
//! about it: its verification, suspensions, freezes, licences revoked, and
//! complaints decided against it. Oversight and the account itself read it
//! whole; a counterparty (someone it asked for access, or with whom a
//! licence runs) reads a summary before deciding.

use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use crate::access::freezes;
use crate::accounts::{AccountStatus, Verification};
use crate::audit::{self, Action};
use crate::domain::{Actor, EntityType, Role};
use crate::error::{Error, Result};
use crate::grants;
use crate::market::Market;
use crate::store::DbConnection;
use crate::store::schema::complaints;

use super::complaints::ComplaintState;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ComplianceRecord {
    pub account: Uuid,
    /// `full` for oversight and the account itself, `summary` for a
    /// counterparty; a summary leaves out the fields marked so.
    pub view: String,
    pub entity_type: EntityType,
    pub verified: bool,
    /// Who verified it, when, under which reference (full only).
    pub verification: Option<Verification>,
    pub suspended: bool,
    /// Times it was suspended (full only).
    pub suspensions: Option<i64>,
    /// An account freeze is in force.
    pub frozen: bool,
    /// Freezes ever put on it (full only).
    pub freezes: Option<i64>,
    /// Licences it held that were revoked.
    pub licences_revoked: i64,
    /// Complaints about it a regulator upheld.
    pub complaints_upheld: i64,
    /// Complaints about it dismissed (full only).
    pub complaints_dismissed: Option<i64>,
    /// Complaints about it not yet decided (full only).
    pub complaints_open: Option<i64>,
    /// Early-warning alerts about it a regulator confirmed.
    pub alerts_confirmed: i64,
}

fn complaints_against(
    conn: &mut DbConnection,
    account: Uuid,
    state: ComplaintState,
) -> Result<i64> {
    Ok(complaints::table
        .filter(complaints::respondent_id.eq(account.to_string()))
        .filter(complaints::state.eq(state))
        .count()
        .get_result(conn)?)
}

/// The record of `account`, as much of it as the actor may read; an
/// account the actor has no dealings with is "not found".
pub async fn record(market: &Market, actor: &Actor, account: Uuid) -> Result<ComplianceRecord> {
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let full = actor.id == account
                || actor.roles.is_oversight()
                || actor.roles.contains(Role::Admin);
            if !full && !grants::tally::deals_with(conn, &actor, account)? {
                return Err(Error::not_found("account"));
            }
            let found = crate::accounts::find(conn, account)?;
            let freezes = freezes::on_account(conn, account)?;
            let only_full = |n: i64| full.then_some(n);
            Ok(ComplianceRecord {
                account,
                view: if full { "full" } else { "summary" }.to_owned(),
                entity_type: found.entity_type,
                verified: found.verification.is_some(),
                verification: found.verification.filter(|_| full),
                suspended: found.status == AccountStatus::Suspended,
                suspensions: only_full(audit::count_about(
                    conn,
                    Action::AccountSuspended,
                    &account.to_string(),
                )?),
                frozen: freezes.iter().any(|f| f.lifted.is_none()),
                freezes: only_full(freezes.len() as i64),
                licences_revoked: grants::tally::revoked_licences_of(conn, account)?,
                complaints_upheld: complaints_against(conn, account, ComplaintState::Upheld)?,
                complaints_dismissed: only_full(complaints_against(
                    conn,
                    account,
                    ComplaintState::Dismissed,
                )?),
                complaints_open: only_full(complaints_against(
                    conn,
                    account,
                    ComplaintState::Open,
                )?),
                alerts_confirmed: super::alerts::confirmed_about(conn, account)?,
            })
        })
        .await
}
