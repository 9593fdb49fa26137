//! Access requests: `pending → under_review → approved | rejected`,
//! `pending → approved | rejected | withdrawn | expired`. Terminal states
//! are final. Every transition is one conditional update (see
//! [`crate::store::transition!`]): of two decisions racing for one request,
//! exactly one is made and recorded; the other is told the state it lost to.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::cross_border::{self, Transfer};
use super::licences::create_grant;
use super::policy;
use super::purchases;
use super::rows::RequestRow;
use super::types::{
    AccessRequest, ApproveInput, LegalBasis, NewRequest, PolicyOverride, ReasonInput, RequestPage,
    RequestReviewInput, RequestRole, RequestState,
};
use crate::access;
use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog::{self, DatasetRow};
use crate::config::CrossBorderSettings;
use crate::domain::text::{Message, Purpose, Reason};
use crate::domain::{self, Actor, Classification, DatasetStatus, Decision, Role};
use crate::error::{Code, Error, Result, on_unique_violation};
use crate::market::Market;
use crate::page;
use crate::store::schema::access_requests;
use crate::store::{DbConnection, transition};
use crate::trading::orders::Closing;

pub(super) fn wrong_state(row: &RequestRow, doing: &str) -> Error {
    Error::refused(
        Code::InvalidState,
        format!("cannot {doing} a request that is {}", row.state),
    )
    .with("current_state", row.state.as_str())
}

/// The refusal for a transition another request made first: the state it
/// is in now.
fn lost(conn: &mut DbConnection, id: &str, doing: &str) -> Result<Error> {
    let now = load_request(conn, domain::id_from_db(id)?)?
        .ok_or_else(|| Error::not_found("access request"))?;
    Ok(wrong_state(&now, doing))
}

pub(super) fn load_request(conn: &mut DbConnection, id: Uuid) -> Result<Option<RequestRow>> {
    Ok(access_requests::table
        .find(id.to_string())
        .select(RequestRow::as_select())
        .first::<RequestRow>(conn)
        .optional()?)
}

/// Loads a request the actor may know about: its consumer, those who may
/// decide it, and oversight. Others get "not found".
fn load_request_visible(
    conn: &mut DbConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(RequestRow, DatasetRow)> {
    let not_found = || Error::not_found("access request");
    let row = load_request(conn, id)?.ok_or_else(not_found)?;
    let dataset = catalog::load(conn, row.dataset()?)?.ok_or_else(not_found)?;
    let visible = row.consumer_id == actor.id.to_string()
        || actor.roles.is_oversight()
        || access::may_decide(conn, actor, row.dataset()?)?;
    if visible {
        Ok((row, dataset))
    } else {
        Err(not_found())
    }
}

fn require_decider(conn: &mut DbConnection, actor: &Actor, row: &RequestRow) -> Result<()> {
    if access::may_decide(conn, actor, row.dataset()?)? {
        Ok(())
    } else {
        Err(Error::refused(
            Code::NotPermitted,
            "only the holder of the dataset's holding or operation right decides its requests",
        ))
    }
}

fn audit_request(
    conn: &mut DbConnection,
    actor: Option<Uuid>,
    action: Action,
    row: &RequestRow,
    dataset: &DatasetRow,
    detail: serde_json::Value,
) -> Result<u64> {
    audit::append(
        conn,
        Entry {
            actor,
            action,
            dataset: Some(row.dataset()?),
            subject: row.id.clone(),
            parties: vec![row.consumer()?, dataset.provider()?],
            detail,
        },
    )
}

/// Expires a pending request whose time is up, recording it (and
/// refunding the order it carries). Returns the audit indexes when it did
/// (none when another request or the sweeper did first).
pub(super) fn expire_if_due(
    conn: &mut DbConnection,
    row: &mut RequestRow,
    dataset: &DatasetRow,
) -> Result<Vec<u64>> {
    let now = domain::to_db_time(domain::now());
    if row.state != RequestState::Pending || row.expires_at > now {
        return Ok(vec![]);
    }
    let made = transition!(conn, access_requests, &row.id,
        state: [RequestState::Pending] => RequestState::Expired,
        updated_at = now);
    if !made.made() {
        *row = load_request(conn, domain::id_from_db(&row.id)?)?
            .ok_or_else(|| Error::not_found("access request"))?;
        return Ok(vec![]);
    }
    row.state = RequestState::Expired;
    row.updated_at = now;
    let mut indexes = vec![audit_request(
        conn,
        None,
        Action::AccessRequestExpired,
        row,
        dataset,
        json!({ "state": RequestState::Expired, "expired_at": domain::format_time(domain::from_db_time(row.expires_at)) }),
    )?];
    indexes.extend(purchases::close_order(conn, row, None, Closing::Expired)?);
    Ok(indexes)
}

/// A new access request, as the consumer asked or as an order makes it.
pub(super) struct NewRow<'a> {
    pub dataset: &'a DatasetRow,
    pub consumer: Uuid,
    pub purpose: &'a str,
    pub duration_days: u32,
    pub max_downloads: u32,
    pub processing: bool,
    /// Where it goes abroad, and on what basis; none at home.
    pub transfer: Option<Transfer>,
    pub message: Option<&'a str>,
    pub ttl: Duration,
    pub order: Option<Uuid>,
    /// The policy an order's approval makes (the offer's terms).
    pub policy: Option<PolicyOverride>,
}

/// Writes a request and its audit entry, in the caller's transaction.
pub(super) fn insert_request(conn: &mut DbConnection, new: NewRow) -> Result<(RequestRow, u64)> {
    let cross_border = new.transfer.is_some();
    let requires_review = new.transfer.as_ref().is_some_and(Transfer::requires_review);
    let destination = new.transfer.as_ref().map(Transfer::destination);
    let legal_basis = new.transfer.as_ref().map(Transfer::basis);
    let subjects = new.transfer.as_ref().map(Transfer::subjects);
    let id = domain::new_id();
    let now = domain::now();
    let policy = new
        .policy
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(|e| Error::Internal(e.to_string()))?;
    diesel::insert_into(access_requests::table)
        .values((
            access_requests::id.eq(id.to_string()),
            access_requests::dataset_id.eq(&new.dataset.id),
            access_requests::consumer_id.eq(new.consumer.to_string()),
            access_requests::purpose.eq(new.purpose),
            access_requests::duration_days.eq(new.duration_days as i32),
            access_requests::max_downloads.eq(new.max_downloads as i32),
            access_requests::processing.eq(new.processing),
            access_requests::cross_border.eq(cross_border),
            access_requests::destination_country.eq(destination),
            access_requests::legal_basis.eq(legal_basis),
            access_requests::personal_information_subjects
                .eq(subjects.map(|n| i64::try_from(n).unwrap_or(i64::MAX))),
            access_requests::message.eq(new.message),
            access_requests::state.eq(RequestState::Pending),
            access_requests::requires_review.eq(requires_review),
            access_requests::created_at.eq(domain::to_db_time(now)),
            access_requests::updated_at.eq(domain::to_db_time(now)),
            access_requests::expires_at.eq(domain::to_db_time(now + new.ttl)),
            access_requests::policy.eq(policy),
            access_requests::order_id.eq(new.order.map(|o| o.to_string())),
        ))
        .execute(conn)
        .map_err(|e| {
            on_unique_violation(e, || match new.order {
                None => Error::refused(
                    Code::AlreadyExists,
                    "you have an open request for this dataset; withdraw it or wait for the decision",
                ),
                Some(_) => Error::refused(
                    Code::AlreadyExists,
                    "you have an open order for this dataset awaiting the provider; cancel it or wait for the decision",
                ),
            })
        })?;
    let row =
        load_request(conn, id)?.ok_or_else(|| Error::Internal("new request vanished".into()))?;
    let index = audit_request(
        conn,
        Some(new.consumer),
        Action::AccessRequestCreated,
        &row,
        new.dataset,
        json!({
            "purpose": new.purpose,
            "duration_days": new.duration_days,
            "max_downloads": new.max_downloads,
            "processing": new.processing,
            "cross_border": cross_border,
            "destination_country": destination,
            "legal_basis": legal_basis,
            "personal_information_subjects": subjects,
            "requires_review": requires_review,
            "order": new.order,
        }),
    )?;
    Ok((row, index))
}

/// A consumer's access request checked against the market's settings, to
/// be made by [`create_request_in`] in the caller's transaction.
#[derive(Clone)]
pub struct CheckedRequest {
    actor: Actor,
    input: NewRequest,
    purpose: Purpose,
    destination: Option<String>,
    stated: Option<(LegalBasis, u64)>,
    rules: CrossBorderSettings,
    message: Option<Message>,
    ttl: Duration,
    home: String,
}

/// A consumer asks for licensed access to a listed dataset.
pub async fn create_request(
    market: &Market,
    actor: &Actor,
    input: NewRequest,
) -> Result<Recorded<AccessRequest>> {
    let checked = check_request(market, actor, input)?;
    market
        .db
        .write(move |conn| create_request_in(conn, &checked))
        .await
}

/// The checks of [`create_request`] that need no database.
pub fn check_request(market: &Market, actor: &Actor, input: NewRequest) -> Result<CheckedRequest> {
    actor.require_any(&[Role::Consumer])?;
    let limits = &market.settings.grants;
    let purpose = Purpose::parse("purpose", &input.purpose)?;
    if !(1..=limits.max_duration_days).contains(&input.duration_days) {
        return Err(Error::invalid(
            "duration_days",
            format!("must be between 1 and {}", limits.max_duration_days),
        ));
    }
    if !(1..=limits.max_downloads).contains(&input.max_downloads) {
        return Err(Error::invalid(
            "max_downloads",
            format!("must be between 1 and {}", limits.max_downloads),
        ));
    }
    let home = market.settings.catalog.home_territory.clone();
    let destination = match (input.cross_border, input.destination_country.as_deref()) {
        (true, Some(c)) if domain::is_country_code(c) && c != home => Some(c.to_owned()),
        (true, Some(_)) => {
            return Err(Error::invalid(
                "destination_country",
                format!("must be an ISO 3166-1 alpha-2 code other than {home}"),
            ));
        }
        (true, None) => {
            return Err(Error::invalid(
                "destination_country",
                "is required when cross_border is true",
            ));
        }
        (false, Some(_)) => {
            return Err(Error::invalid(
                "destination_country",
                "is only for cross-border requests",
            ));
        }
        (false, None) => None,
    };
    let stated = cross_border::stated(
        input.cross_border,
        "is required when cross_border is true",
        "is only for cross-border requests",
        input.legal_basis,
        input.personal_information_subjects,
    )?;
    let rules = market.settings.grants.cross_border.clone();
    let message = Message::parse_optional("message", input.message.as_deref())?;
    let ttl = Duration::seconds(i64::try_from(limits.request_ttl_secs).unwrap_or(i64::MAX / 2));
    Ok(CheckedRequest {
        actor: actor.clone(),
        input,
        purpose,
        destination,
        stated,
        rules,
        message,
        ttl,
        home,
    })
}

/// Makes a checked request ([`check_request`]) in the caller's transaction,
/// with its audit entry: [`create_request`] in a larger transaction.
pub fn create_request_in(
    conn: &mut DbConnection,
    checked: &CheckedRequest,
) -> Result<Recorded<AccessRequest>> {
    let CheckedRequest {
        actor,
        input,
        purpose,
        destination,
        stated,
        rules,
        message,
        ttl,
        home,
    } = checked;
    let (stated, ttl, home) = (*stated, *ttl, home.as_str());
    // Only listed datasets take requests; anything else "does not exist".
    let dataset = catalog::load(conn, input.dataset)?
        .filter(|d| d.status == DatasetStatus::Listed)
        .ok_or_else(|| Error::not_found("dataset"))?;
    if dataset.personal_data && purpose.as_str().is_empty() {
        return Err(Error::refused(
            Code::PurposeRequired,
            "this dataset holds personal data: state the purpose of the processing",
        ));
    }
    // Where the data would go is where the consumer is registered:
    // from abroad, a request is a cross-border one to there.
    let registered = crate::accounts::find(conn, actor.id)?;
    require_verified_for(&registered, &dataset)?;
    let territory = registered.territory_or(home);
    if territory != home && destination.as_deref() != Some(territory) {
        return Err(Error::invalid(
            if input.cross_border {
                "destination_country"
            } else {
                "cross_border"
            },
            format!(
                "your registered territory is {territory}: a request from there is cross-border, with {territory} as its destination"
            ),
        ));
    }
    let transfer = destination
        .clone()
        .zip(stated)
        .map(|(to, (basis, subjects))| Transfer::admit(&dataset, to, basis, subjects, rules))
        .transpose()?;
    if access::may_decide(conn, actor, input.dataset)? {
        return Err(Error::invalid(
            "dataset",
            "you already hold rights over this dataset",
        ));
    }
    let (row, index) = insert_request(
        conn,
        NewRow {
            dataset: &dataset,
            consumer: actor.id,
            purpose: purpose.as_str(),
            duration_days: input.duration_days,
            max_downloads: input.max_downloads,
            processing: input.processing,
            transfer,
            message: message.as_ref().map(Message::as_str),
            ttl,
            order: None,
            policy: None,
        },
    )?;
    Ok(Recorded::new(row.to_request()?, vec![index]))
}

/// One request; a pending one whose time is up is expired on the way.
pub async fn get_request(
    market: &Market,
    actor: &Actor,
    id: Uuid,
) -> Result<Recorded<AccessRequest>> {
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (mut row, dataset) = load_request_visible(conn, &actor, id)?;
            let expired = expire_if_due(conn, &mut row, &dataset)?;
            Ok(Recorded::new(row.to_request()?, expired))
        })
        .await
}

/// Requests the actor made (`outgoing`) or may decide (`incoming`; for
/// oversight, all), newest first.
pub async fn list_requests(
    market: &Market,
    actor: &Actor,
    role: RequestRole,
    state: Option<RequestState>,
    limit: u32,
    cursor: Option<String>,
) -> Result<RequestPage> {
    let cursor = page::parse_cursor(cursor.as_deref())?;
    super::sweeper::sweep_requests(market).await?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let mut query = access_requests::table
                .select(RequestRow::as_select())
                .order(access_requests::id.desc())
                .limit(i64::from(limit) + 1)
                .into_boxed();
            query = match role {
                RequestRole::Outgoing => {
                    query.filter(access_requests::consumer_id.eq(actor.id.to_string()))
                }
                RequestRole::Incoming if actor.roles.is_oversight() => query,
                RequestRole::Incoming => query
                    .filter(access_requests::dataset_id.eq_any(access::decided_datasets(&actor))),
            };
            if let Some(state) = state {
                query = query.filter(access_requests::state.eq(state));
            }
            if let Some(cursor) = cursor {
                query = query.filter(access_requests::id.lt(cursor.to_string()));
            }
            let rows: Vec<RequestRow> = query.load(conn)?;
            request_page(rows, limit)
        })
        .await
}

/// The holder (or broker) approves. Requests that the law says need review
/// go to a regulator first; the others become a grant at once.
pub async fn approve(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: ApproveInput,
) -> Result<Recorded<AccessRequest>> {
    let home = market.settings.catalog.home_territory.clone();
    let fee_bps = market.settings.trading.platform_fee_bps;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (mut row, dataset) = load_request_visible(conn, &actor, id)?;
            require_decider(conn, &actor, &row)?;
            let mut indexes = expire_if_due(conn, &mut row, &dataset)?;
            if row.state != RequestState::Pending {
                return Err(wrong_state(&row, "approve"));
            }
            let overrides = match (&row.order_id, &input.policy) {
                (Some(_), Some(_)) => {
                    return Err(Error::invalid(
                        "policy",
                        "an order's terms are its offer's: approve it as it is",
                    ));
                }
                (Some(_), None) => stored_policy(&row)?,
                (None, policy) => policy.clone().unwrap_or_default(),
            };
            indexes.extend(approve_in(
                conn, actor.id, &mut row, &dataset, &overrides, &home, fee_bps,
            )?);
            let row = load_request(conn, id)?.ok_or_else(|| Error::not_found("access request"))?;
            Ok(Recorded::new(row.to_request()?, indexes))
        })
        .await
}

/// The policy stored with a request (an approval awaiting review, or an
/// order's terms).
fn stored_policy(row: &RequestRow) -> Result<PolicyOverride> {
    match row.policy.as_deref() {
        Some(text) => {
            serde_json::from_str(text).map_err(|e| Error::Internal(format!("stored policy: {e}")))
        }
        None => Ok(PolicyOverride::default()),
    }
}

/// Approves a pending request in the caller's transaction: to review, or to
/// a grant (and the order it carries settled).
pub(super) fn approve_in(
    conn: &mut DbConnection,
    decider: Uuid,
    row: &mut RequestRow,
    dataset: &DatasetRow,
    overrides: &PolicyOverride,
    home: &str,
    fee_bps: u32,
) -> Result<Vec<u64>> {
    // Checked now, so that the approver hears of a bad policy at once.
    let policy = policy::resolve(conn, row, overrides, domain::now(), home)?;
    let now = domain::to_db_time(domain::now());
    let next = if row.requires_review {
        RequestState::UnderReview
    } else {
        RequestState::Approved
    };
    let overrides_json =
        serde_json::to_string(overrides).map_err(|e| Error::Internal(e.to_string()))?;
    let made = transition!(conn, access_requests, &row.id,
        state: [RequestState::Pending] => next,
        updated_at = now,
        decided_by = decider.to_string(),
        decided_at = now,
        policy = &overrides_json);
    if !made.made() {
        return Err(lost(conn, &row.id, "approve")?);
    }
    row.state = next;
    let mut indexes = vec![audit_request(
        conn,
        Some(decider),
        Action::AccessRequestApproved,
        row,
        dataset,
        json!({ "state": next, "policy": overrides }),
    )?];
    if next == RequestState::Approved {
        indexes.extend(grant_approved(
            conn, row, dataset, decider, policy, fee_bps,
        )?);
    }
    Ok(indexes)
}

/// The grant an approval makes, and the order it fulfils settled.
fn grant_approved(
    conn: &mut DbConnection,
    row: &RequestRow,
    dataset: &DatasetRow,
    licensor: Uuid,
    policy: crate::grants::types::Policy,
    fee_bps: u32,
) -> Result<Vec<u64>> {
    let (grant, index) = create_grant(conn, row, dataset, licensor, policy)?;
    let mut indexes = vec![index];
    indexes.extend(purchases::fulfil_order(
        conn, row, grant, licensor, fee_bps,
    )?);
    Ok(indexes)
}

/// The holder (or broker) refuses.
pub async fn reject(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: ReasonInput,
) -> Result<Recorded<AccessRequest>> {
    let reason = Reason::parse("reason", &input.reason)?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (mut row, dataset) = load_request_visible(conn, &actor, id)?;
            require_decider(conn, &actor, &row)?;
            let mut indexes = expire_if_due(conn, &mut row, &dataset)?;
            if row.state != RequestState::Pending {
                return Err(wrong_state(&row, "reject"));
            }
            let now = domain::to_db_time(domain::now());
            let made = transition!(conn, access_requests, &row.id,
                state: [RequestState::Pending] => RequestState::Rejected,
                updated_at = now,
                decided_by = actor.id.to_string(),
                decided_at = now,
                decision_reason = reason.as_str());
            if !made.made() {
                return Err(lost(conn, &row.id, "reject")?);
            }
            indexes.push(audit_request(
                conn,
                Some(actor.id),
                Action::AccessRequestRejected,
                &row,
                &dataset,
                json!({ "state": RequestState::Rejected, "reason": reason }),
            )?);
            indexes.extend(purchases::close_order(
                conn,
                &row,
                Some(actor.id),
                Closing::Declined,
            )?);
            let row = load_request(conn, id)?.ok_or_else(|| Error::not_found("access request"))?;
            Ok(Recorded::new(row.to_request()?, indexes))
        })
        .await
}

/// The consumer takes back a request nobody has decided yet.
pub async fn withdraw(market: &Market, actor: &Actor, id: Uuid) -> Result<Recorded<AccessRequest>> {
    let actor = actor.clone();
    market
        .db
        .write(move |conn| withdraw_request_in(conn, &actor, id))
        .await
}

/// [`withdraw`] in the caller's transaction.
pub fn withdraw_request_in(
    conn: &mut DbConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<Recorded<AccessRequest>> {
    let (mut row, dataset) = load_request_visible(conn, actor, id)?;
    let indexes = withdraw_in(conn, actor, &mut row, &dataset)?;
    let row = load_request(conn, id)?.ok_or_else(|| Error::not_found("access request"))?;
    Ok(Recorded::new(row.to_request()?, indexes))
}

/// Withdraws a pending request in the caller's transaction (and cancels
/// and refunds the order it carries).
pub(super) fn withdraw_in(
    conn: &mut DbConnection,
    actor: &Actor,
    row: &mut RequestRow,
    dataset: &DatasetRow,
) -> Result<Vec<u64>> {
    if row.consumer_id != actor.id.to_string() {
        return Err(Error::refused(
            Code::NotPermitted,
            "only the requester withdraws a request",
        ));
    }
    let mut indexes = expire_if_due(conn, row, dataset)?;
    if row.state != RequestState::Pending {
        return Err(wrong_state(row, "withdraw"));
    }
    let made = transition!(conn, access_requests, &row.id,
        state: [RequestState::Pending] => RequestState::Withdrawn,
        updated_at = domain::to_db_time(domain::now()));
    if !made.made() {
        return Err(lost(conn, &row.id, "withdraw")?);
    }
    indexes.push(audit_request(
        conn,
        Some(actor.id),
        Action::AccessRequestWithdrawn,
        row,
        dataset,
        json!({ "state": RequestState::Withdrawn }),
    )?);
    indexes.extend(purchases::close_order(
        conn,
        row,
        Some(actor.id),
        Closing::Cancelled,
    )?);
    Ok(indexes)
}

/// A regulator's decision on a request under review.
pub async fn review(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: RequestReviewInput,
) -> Result<Recorded<AccessRequest>> {
    actor.require_any(&[Role::Regulator])?;
    let reason = Reason::parse_optional("reason", input.reason.as_deref())?;
    if input.decision == Decision::Reject && reason.is_none() {
        return Err(Error::invalid("reason", "must not be empty"));
    }
    let assessment = assessment(&input)?;
    let home = market.settings.catalog.home_territory.clone();
    let fee_bps = market.settings.trading.platform_fee_bps;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (mut row, dataset) = load_request_visible(conn, &actor, id)?;
            catalog::require_within(conn, &actor, &dataset)?;
            if row.state != RequestState::UnderReview {
                return Err(wrong_state(&row, "review"));
            }
            let now = domain::to_db_time(domain::now());
            let next = match input.decision {
                Decision::Approve => RequestState::Approved,
                Decision::Reject => RequestState::Rejected,
            };
            let expires_at = assessment.as_ref().map(|(_, at)| *at);
            let made = transition!(conn, access_requests, &row.id,
                state: [RequestState::UnderReview] => next,
                updated_at = now,
                reviewed_by = actor.id.to_string(),
                reviewed_at = now,
                review_reason = reason.as_ref().map(Reason::as_str),
                assessment_reference = assessment.as_ref().map(|(r, _)| r.as_str()),
                assessment_expires_at = expires_at.map(domain::to_db_time));
            if !made.made() {
                return Err(lost(conn, &row.id, "review")?);
            }
            row.state = next;
            let mut indexes = vec![audit_request(
                conn,
                Some(actor.id),
                Action::AccessRequestReviewed,
                &row,
                &dataset,
                json!({
                    "decision": input.decision,
                    "reason": reason,
                    "state": next,
                    "assessment_reference": assessment.as_ref().map(|(r, _)| r),
                    "assessment_expires_at": expires_at.map(domain::format_time),
                }),
            )?];
            if next == RequestState::Approved {
                let overrides = stored_policy(&row)?;
                // The window starts when the grant exists, not when the holder agreed.
                let mut policy = policy::resolve(conn, &row, &overrides, domain::now(), &home)?;
                if let Some(expires_at) = expires_at {
                    // Data leaves only while the assessment it rests on holds.
                    if expires_at <= policy.not_before {
                        return Err(Error::invalid(
                            "assessment_expires_at",
                            format!(
                                "must come after the grant's start, {}",
                                domain::format_time(policy.not_before)
                            ),
                        ));
                    }
                    policy.not_after = policy.not_after.min(expires_at);
                }
                let licensor = row
                    .decided_by
                    .as_deref()
                    .map(domain::id_from_db)
                    .transpose()?
                    .ok_or_else(|| Error::Internal("a reviewed request has no approver".into()))?;
                indexes.extend(grant_approved(
                    conn, &row, &dataset, licensor, policy, fee_bps,
                )?);
            } else {
                indexes.extend(purchases::close_order(
                    conn,
                    &row,
                    Some(actor.id),
                    Closing::Declined,
                )?);
            }
            let row = load_request(conn, id)?.ok_or_else(|| Error::not_found("access request"))?;
            Ok(Recorded::new(row.to_request()?, indexes))
        })
        .await
}

/// What a regulator's approval rests on: the assessment's reference and
/// when it lapses, both required to approve and refused with a rejection.
fn assessment(input: &RequestReviewInput) -> Result<Option<(Reason, DateTime<Utc>)>> {
    match input.decision {
        Decision::Approve => {
            let reference = input.assessment_reference.as_deref().ok_or_else(|| {
                Error::invalid("assessment_reference", "is required when approving")
            })?;
            let reference = Reason::parse("assessment_reference", reference)?;
            let expires_at = input.assessment_expires_at.ok_or_else(|| {
                Error::invalid("assessment_expires_at", "is required when approving")
            })?;
            // Stored to the microsecond, so the grant ends exactly when it lapses.
            let expires_at = expires_at.trunc_subsecs(6);
            if expires_at <= domain::now() {
                return Err(Error::invalid(
                    "assessment_expires_at",
                    "must lie in the future: an assessment that has lapsed allows nothing",
                ));
            }
            Ok(Some((reference, expires_at)))
        }
        Decision::Reject => {
            if input.assessment_reference.is_some() {
                return Err(Error::invalid(
                    "assessment_reference",
                    "is only for an approval",
                ));
            }
            if input.assessment_expires_at.is_some() {
                return Err(Error::invalid(
                    "assessment_expires_at",
                    "is only for an approval",
                ));
            }
            Ok(None)
        }
    }
}

/// Important or personal data goes only to a participant a regulator has
/// verified, whether requested or bought.
pub(crate) fn require_verified_for(
    consumer: &crate::accounts::Account,
    dataset: &catalog::DatasetRow,
) -> Result<()> {
    if dataset.classification == Classification::Important {
        consumer.require_verified("requesting important data")
    } else if dataset.personal_data || dataset.inherited_personal_data {
        consumer.require_verified("requesting personal data")
    } else {
        Ok(())
    }
}

/// The regulators' review queue of access requests: those under review in
/// the asking regulator's jurisdiction (the dataset's provider's region and
/// the dataset's sector), newest first.
pub async fn review_queue(
    market: &Market,
    actor: &Actor,
    limit: u32,
    cursor: Option<String>,
) -> Result<RequestPage> {
    actor.require_any(&[Role::Regulator, Role::Auditor])?;
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let scope = crate::accounts::jurisdiction_of(conn, &actor)?;
            let mut query = access_requests::table
                .filter(access_requests::state.eq(RequestState::UnderReview))
                .order(access_requests::id.desc())
                .limit(i64::from(limit) + 1)
                .select(RequestRow::as_select())
                .into_boxed();
            if let Some(regions) = scope.regions() {
                query = query.filter(
                    access_requests::dataset_id.eq_any(catalog::of_providers_in(regions.to_vec())),
                );
            }
            if let Some(sectors) = scope.sectors() {
                query =
                    query.filter(access_requests::dataset_id.eq_any(catalog::in_sectors(sectors)));
            }
            if let Some(cursor) = cursor {
                query = query.filter(access_requests::id.lt(cursor.to_string()));
            }
            let rows: Vec<RequestRow> = query.load(conn)?;
            request_page(rows, limit)
        })
        .await
}

/// One page of requests: `limit` of the rows loaded (one more shows there
/// is a next page).
fn request_page(rows: Vec<RequestRow>, limit: u32) -> Result<RequestPage> {
    let (rows, next_cursor) = page::split(rows, limit, |r| &r.id);
    let items = rows
        .iter()
        .map(RequestRow::to_request)
        .collect::<Result<_>>()?;
    Ok(RequestPage { items, next_cursor })
}
