//! Grants: the licences approval creates. `active → revoked | expired |
//! exhausted`; a revoked grant stays revoked. Each grant confers a licence
//! in the rule book's register ([`crate::access::register`]), which is what
//! lets its licensee see the dataset and, when allowed, process it.

use chrono::Utc;
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::delivery;
use super::policy;
use super::rows::{GrantRow, RequestRow};
use super::types::{
    DataToken, DataTokenInput, Grant, GrantPage, GrantRole, GrantStatus, Policy, ReasonInput,
};
use crate::access;
use crate::access::register::{self, Licence};
use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog::{self, DatasetRow};
use crate::domain::text::Reason;
use crate::domain::{self, Actor, Role};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::page;
use crate::store::schema::{access_requests, grants};
use crate::store::{DbConnection, lock_row, transition};
use crate::tokens::{self, DATA_AUDIENCE, DataClaims};
use crate::trading;

/// Creates the grant an approval makes, with the licence it confers, in the
/// approval's transaction. A grant an order bought carries the order, and
/// its licence the royalty the offer set for products derived from it.
pub(super) fn create_grant(
    conn: &mut DbConnection,
    request: &RequestRow,
    dataset: &DatasetRow,
    licensor: Uuid,
    policy: Policy,
) -> Result<(Uuid, u64)> {
    // Nothing is granted under a freeze.
    access::freezes::check(
        conn,
        &access::freezes::Probe {
            dataset: Some(request.dataset()?),
            accounts: vec![licensor, request.consumer()?, dataset.provider()?],
            classification: Some(dataset.classification),
            destination: request.destination_country.clone(),
        },
    )?;
    let order = request
        .order_id
        .as_deref()
        .map(domain::id_from_db)
        .transpose()?;
    let royalty_bps = match order {
        Some(order) if policy.processing => trading::orders::terms_of(conn, order)?.royalty_bps,
        _ => 0,
    };
    let id = domain::new_id();
    let now = domain::to_db_time(domain::now());
    let not_before = domain::to_db_time(policy.not_before);
    let not_after = domain::to_db_time(policy.not_after);
    diesel::insert_into(grants::table)
        .values((
            grants::id.eq(id.to_string()),
            grants::request_id.eq(&request.id),
            grants::dataset_id.eq(&request.dataset_id),
            grants::version.eq(policy.version),
            grants::licensor_id.eq(licensor.to_string()),
            grants::licensee_id.eq(&request.consumer_id),
            grants::purposes.eq(json!(policy.purposes).to_string()),
            grants::not_before.eq(not_before),
            grants::not_after.eq(not_after),
            grants::max_downloads.eq(policy.max_downloads as i32),
            grants::downloads_used.eq(0),
            grants::territory.eq(json!(policy.territory).to_string()),
            grants::processing.eq(policy.processing),
            grants::status.eq(GrantStatus::Active),
            grants::created_at.eq(now),
            grants::order_id.eq(&request.order_id),
        ))
        .execute(conn)?;
    register::record_licence(
        conn,
        &Licence {
            grant: id,
            dataset: request.dataset()?,
            licensee: request.consumer()?,
            processing: policy.processing,
            not_before,
            not_after,
            royalty_bps,
        },
    )?;
    diesel::update(access_requests::table.find(&request.id))
        .set((
            access_requests::grant_id.eq(id.to_string()),
            access_requests::updated_at.eq(now),
        ))
        .execute(conn)?;
    let index = audit::append(
        conn,
        Entry {
            actor: Some(licensor),
            action: Action::GrantCreated,
            dataset: Some(dataset.uuid()?),
            subject: id.to_string(),
            parties: vec![licensor, request.consumer()?],
            detail: json!({
                "request": request.id,
                "policy": policy,
                "order": order,
                "royalty_bps": royalty_bps,
            }),
        },
    )?;
    Ok((id, index))
}

pub(super) fn load_grant(conn: &mut DbConnection, id: &str) -> Result<Option<GrantRow>> {
    Ok(grants::table
        .find(id)
        .select(GrantRow::as_select())
        .first::<GrantRow>(conn)
        .optional()?)
}

/// Loads a grant the actor may know about: its licensor and licensee, those
/// who may decide access to the dataset now, and oversight.
pub(crate) fn load_grant_visible(
    conn: &mut DbConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(GrantRow, DatasetRow)> {
    let not_found = || Error::not_found("grant");
    let row = load_grant(conn, &id.to_string())?.ok_or_else(not_found)?;
    let dataset =
        catalog::load(conn, domain::id_from_db(&row.dataset_id)?)?.ok_or_else(not_found)?;
    let me = actor.id.to_string();
    let visible = row.licensee_id == me
        || row.licensor_id == me
        || actor.roles.is_oversight()
        || access::may_decide(conn, actor, dataset.uuid()?)?;
    if visible {
        Ok((row, dataset))
    } else {
        Err(not_found())
    }
}

pub async fn get_grant(market: &Market, actor: &Actor, id: Uuid) -> Result<Grant> {
    let actor = actor.clone();
    market
        .db
        .read(move |conn| load_grant_visible(conn, &actor, id)?.0.to_grant())
        .await
}

/// The grant's policy as an ODRL 2.2 Agreement.
pub async fn odrl_policy(market: &Market, actor: &Actor, id: Uuid) -> Result<serde_json::Value> {
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let (row, _) = load_grant_visible(conn, &actor, id)?;
            policy::odrl(&row)
        })
        .await
}

/// Grants the actor holds (`licensee`) or gave or now administers
/// (`licensor`; for oversight, all), newest first.
pub async fn list_grants(
    market: &Market,
    actor: &Actor,
    role: GrantRole,
    limit: u32,
    cursor: Option<String>,
) -> Result<GrantPage> {
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let mut query = grants::table
                .select(GrantRow::as_select())
                .order(grants::id.desc())
                .limit(i64::from(limit) + 1)
                .into_boxed();
            query = match role {
                GrantRole::Licensee => query.filter(grants::licensee_id.eq(actor.id.to_string())),
                GrantRole::Licensor if actor.roles.is_oversight() => query,
                GrantRole::Licensor => query.filter(
                    grants::licensor_id
                        .eq(actor.id.to_string())
                        .or(grants::dataset_id.eq_any(access::decided_datasets(&actor))),
                ),
            };
            if let Some(cursor) = cursor {
                query = query.filter(grants::id.lt(cursor.to_string()));
            }
            let rows: Vec<GrantRow> = query.load(conn)?;
            let (rows, next_cursor) = page::split(rows, limit, |r| &r.id);
            let items = rows.iter().map(GrantRow::to_grant).collect::<Result<_>>()?;
            Ok(GrantPage { items, next_cursor })
        })
        .await
}

/// Revokes a grant at once (its licensor, whoever may decide access to the
/// dataset now, or a regulator). Data tokens already issued stop working
/// too, because every delivery reads the grant.
pub async fn revoke(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: ReasonInput,
) -> Result<Recorded<Grant>> {
    let reason = Reason::parse("reason", &input.reason)?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            // Locked before it is read: the entry names the status revoked.
            lock_row!(conn, grants, id.to_string());
            let (row, dataset) = load_grant_visible(conn, &actor, id)?;
            let allowed = row.licensor_id == actor.id.to_string()
                || actor.has(Role::Regulator)
                || access::may_decide(conn, &actor, dataset.uuid()?)?;
            if !allowed {
                return Err(Error::refused(
                    Code::NotPermitted,
                    "only the licensor, the dataset's holder or operator, or a regulator revokes a grant",
                ));
            }
            // A regulator revoking as a regulator, not as a party, acts
            // within its jurisdiction only.
            if actor.has(Role::Regulator)
                && row.licensor_id != actor.id.to_string()
                && !access::may_decide(conn, &actor, dataset.uuid()?)?
            {
                catalog::require_within(conn, &actor, &dataset)?;
            }
            let already = |row: &GrantRow| {
                Error::refused(Code::InvalidState, "the grant is already revoked")
                    .with("current_status", row.status.as_str())
            };
            if row.status == GrantStatus::Revoked {
                return Err(already(&row));
            }
            let now = domain::to_db_time(domain::now());
            let made = transition!(conn, grants, &row.id,
                status: [GrantStatus::Active, GrantStatus::Expired, GrantStatus::Exhausted] => GrantStatus::Revoked,
                revoked_at = now,
                revoked_by = actor.id.to_string(),
                revoke_reason = reason.as_str());
            if !made.made() {
                let current = load_grant(conn, &row.id)?.ok_or_else(|| Error::not_found("grant"))?;
                return Err(already(&current));
            }
            register::end_licence(conn, id, now)?;
            let index = row.record(
                conn,
                Some(actor.id),
                Action::GrantRevoked,
                json!({ "reason": reason, "previous_status": row.status }),
            )?;
            let row = load_grant(conn, &row.id)?.ok_or_else(|| Error::not_found("grant"))?;
            Ok(Recorded::new(row.to_grant()?, vec![index]))
        })
        .await
}

/// A short-lived token a pipeline uses instead of the licensee's account
/// token, for this grant's content only.
pub async fn issue_data_token(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: DataTokenInput,
    address: Option<std::net::IpAddr>,
) -> Result<Recorded<DataToken>> {
    let lifetime = market.settings.grants.data_token_lifetime_secs;
    let issuer = market.settings.auth.issuer.clone();
    let keys = market.keys.clone();
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (row, dataset) = load_grant_visible(conn, &actor, id)?;
            if row.licensee_id != actor.id.to_string() {
                return Err(Error::refused(
                    Code::NotPermitted,
                    "only the licensee takes data tokens for a grant",
                ));
            }
            let now = domain::to_db_time(domain::now());
            if let Some(refusal) = delivery::refusal(&row, now, None)? {
                return Err(refusal);
            }
            if let Some(version) = input.version {
                let exists = catalog::version_exists(conn, dataset.uuid()?, version)?;
                if !exists || row.version.is_some_and(|pinned| pinned != version) {
                    return Err(Error::invalid(
                        "version",
                        "the grant covers no such version",
                    ));
                }
            }
            let issued = Utc::now().timestamp();
            let expires =
                (issued + lifetime as i64).min(domain::from_db_time(row.not_after).timestamp());
            let claims = DataClaims {
                iss: issuer.clone(),
                sub: actor.id,
                aud: DATA_AUDIENCE.to_owned(),
                iat: issued,
                exp: expires,
                jti: Uuid::new_v4(),
                grant: id,
                dataset: dataset.uuid()?,
                version: input.version.or(row.version),
            };
            let access_token =
                tokens::sign(&keys, &claims).map_err(|e| Error::Internal(e.to_string()))?;
            let index = row.record(
                conn,
                Some(actor.id),
                Action::DataTokenIssued,
                json!({
                    "token": claims.jti,
                    "version": claims.version,
                    "expires": claims.exp,
                    "address": address.map(|a| a.to_string()),
                }),
            )?;
            Ok(Recorded::new(
                DataToken {
                    access_token,
                    token_type: "Bearer",
                    expires_in: (expires - issued).max(0) as u64,
                    grant: id,
                    dataset: claims.dataset,
                    version: claims.version,
                },
                vec![index],
            ))
        })
        .await
}
