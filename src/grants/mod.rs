//! Licensed access: a consumer asks, the holder (or the broker holding the
//! operation right) decides, a regulator reviews what the law says must be
//! reviewed, and approval creates a grant whose policy every delivery is
//! checked against (see [`delivery`]).
//!
//! Requests: `pending → under_review → approved | rejected`,
//! `pending → approved | rejected | withdrawn | expired`. Terminal states are
//! final. Grants: `active → revoked | expired | exhausted`.

pub mod delivery;
pub mod policy;

use chrono::{DateTime, Duration, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog::{self, DatasetRow};
use crate::domain::{self, Actor, Classification, DatasetStatus, Decision, Role, market_words};
use crate::error::{Code, Error, Result, on_unique_violation};
use crate::market::Market;
use crate::rights::{self, Act};
use crate::store::DbConnection;
use crate::store::schema::{access_requests, dataset_versions, grants, rights as rights_table};
use crate::tokens::{self, DATA_AUDIENCE, DataClaims};

const MAX_PURPOSE_CHARS: usize = 500;
const MAX_MESSAGE_CHARS: usize = 2_000;
const MAX_REASON_CHARS: usize = 2_000;

market_words!(
    /// Where an access request stands.
    RequestState {
        Pending = "pending",
        UnderReview = "under_review",
        Approved = "approved",
        Rejected = "rejected",
        Withdrawn = "withdrawn",
        Expired = "expired",
    }
);

market_words!(
    /// Where a grant stands.
    GrantStatus {
        Active = "active",
        Revoked = "revoked",
        Expired = "expired",
        Exhausted = "exhausted",
    }
);

market_words!(
    /// Which side of a request to list.
    RequestRole {
        Incoming = "incoming",
        Outgoing = "outgoing",
    }
);

market_words!(
    /// Which side of a grant to list.
    GrantRole {
        Licensor = "licensor",
        Licensee = "licensee",
    }
);

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub dataset: Uuid,
    /// What the data will be used for; required for personal data.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub purpose: String,
    /// At most `grants.max_duration_days` (3650 by default).
    #[schema(minimum = 1)]
    pub duration_days: u32,
    /// At most `grants.max_downloads` (1,000,000 by default).
    #[schema(minimum = 1)]
    pub max_downloads: u32,
    /// Whether the data will be processed into other data.
    pub processing: bool,
    /// Whether the data will be sent abroad.
    pub cross_border: bool,
    /// ISO 3166-1 alpha-2; required when `cross_border`.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub destination_country: Option<String>,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub message: Option<String>,
}

/// Narrowing changes the approver makes to what was asked for.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_downloads: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing: Option<bool>,
    /// A subset of the territories asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory: Option<Vec<String>>,
    /// Pin the grant to one version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveInput {
    #[serde(default)]
    pub policy: Option<PolicyOverride>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestReviewInput {
    pub decision: Decision,
    /// Required when rejecting.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataTokenInput {
    /// Bind the token to one version.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

/// The terms of a grant, enforced at every delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    pub purposes: Vec<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub max_downloads: u32,
    /// Territories (ISO 3166-1 alpha-2) the data may be delivered to.
    pub territory: Vec<String>,
    /// Whether the licensee may process the data into derived datasets.
    pub processing: bool,
    /// Always false: the licensee may not pass the data on.
    pub redistribution: bool,
    /// The one version covered, or all when null.
    pub version: Option<i32>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Verdict {
    pub by: Uuid,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AccessRequest {
    pub id: Uuid,
    pub dataset: Uuid,
    pub consumer: Uuid,
    pub purpose: String,
    pub duration_days: u32,
    pub max_downloads: u32,
    pub processing: bool,
    pub cross_border: bool,
    pub destination_country: Option<String>,
    pub message: Option<String>,
    pub state: RequestState,
    /// Whether a regulator must review it after the holder approves.
    pub requires_review: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it expires if nobody decides.
    pub expires_at: DateTime<Utc>,
    /// The holder's (or broker's) decision.
    pub decision: Option<Verdict>,
    /// The regulator's review.
    pub review: Option<Verdict>,
    /// The grant approval created.
    pub grant: Option<Uuid>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Grant {
    pub id: Uuid,
    pub request: Uuid,
    pub dataset: Uuid,
    pub licensor: Uuid,
    pub licensee: Uuid,
    pub policy: Policy,
    pub downloads_used: u32,
    pub downloads_remaining: u32,
    /// The status now (an active grant past its window reads `expired`).
    pub status: GrantStatus,
    pub created_at: DateTime<Utc>,
    pub revocation: Option<Verdict>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RequestPage {
    pub items: Vec<AccessRequest>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GrantPage {
    pub items: Vec<Grant>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DataToken {
    /// A JWT with audience `datamarket-data`, accepted only by the content endpoint.
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub grant: Uuid,
    pub dataset: Uuid,
    pub version: Option<i32>,
}

// ---------------------------------------------------------------------------
// Rows

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::access_requests)]
pub(crate) struct RequestRow {
    id: String,
    dataset_id: String,
    consumer_id: String,
    purpose: String,
    duration_days: i32,
    max_downloads: i32,
    processing: bool,
    cross_border: bool,
    destination_country: Option<String>,
    message: Option<String>,
    state: String,
    requires_review: bool,
    created_at: NaiveDateTime,
    updated_at: NaiveDateTime,
    expires_at: NaiveDateTime,
    decided_by: Option<String>,
    decided_at: Option<NaiveDateTime>,
    decision_reason: Option<String>,
    policy: Option<String>,
    reviewed_by: Option<String>,
    reviewed_at: Option<NaiveDateTime>,
    review_reason: Option<String>,
    grant_id: Option<String>,
}

fn verdict(
    by: &Option<String>,
    at: Option<NaiveDateTime>,
    reason: &Option<String>,
) -> Result<Option<Verdict>> {
    match (by, at) {
        (Some(by), Some(at)) => Ok(Some(Verdict {
            by: domain::id_from_db(by)?,
            at: domain::from_db_time(at),
            reason: reason.clone(),
        })),
        _ => Ok(None),
    }
}

impl RequestRow {
    fn state(&self) -> Result<RequestState> {
        RequestState::from_db(&self.state)
    }

    fn to_request(&self) -> Result<AccessRequest> {
        Ok(AccessRequest {
            id: domain::id_from_db(&self.id)?,
            dataset: domain::id_from_db(&self.dataset_id)?,
            consumer: domain::id_from_db(&self.consumer_id)?,
            purpose: self.purpose.clone(),
            duration_days: self.duration_days.max(0) as u32,
            max_downloads: self.max_downloads.max(0) as u32,
            processing: self.processing,
            cross_border: self.cross_border,
            destination_country: self.destination_country.clone(),
            message: self.message.clone(),
            state: self.state()?,
            requires_review: self.requires_review,
            created_at: domain::from_db_time(self.created_at),
            updated_at: domain::from_db_time(self.updated_at),
            expires_at: domain::from_db_time(self.expires_at),
            decision: verdict(&self.decided_by, self.decided_at, &self.decision_reason)?,
            review: verdict(&self.reviewed_by, self.reviewed_at, &self.review_reason)?,
            grant: self
                .grant_id
                .as_deref()
                .map(domain::id_from_db)
                .transpose()?,
        })
    }
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::grants)]
pub(crate) struct GrantRow {
    pub(crate) id: String,
    request_id: String,
    pub(crate) dataset_id: String,
    pub(crate) version: Option<i32>,
    pub(crate) licensor_id: String,
    pub(crate) licensee_id: String,
    purposes: String,
    pub(crate) not_before: NaiveDateTime,
    pub(crate) not_after: NaiveDateTime,
    pub(crate) max_downloads: i32,
    pub(crate) downloads_used: i32,
    territory: String,
    pub(crate) processing: bool,
    pub(crate) status: String,
    created_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
    revoked_by: Option<String>,
    revoke_reason: Option<String>,
}

impl GrantRow {
    pub(crate) fn territory(&self) -> Result<Vec<String>> {
        serde_json::from_str(&self.territory)
            .map_err(|e| Error::Internal(format!("stored territory: {e}")))
    }

    pub(crate) fn policy(&self) -> Result<Policy> {
        Ok(Policy {
            purposes: serde_json::from_str(&self.purposes)
                .map_err(|e| Error::Internal(format!("stored purposes: {e}")))?,
            not_before: domain::from_db_time(self.not_before),
            not_after: domain::from_db_time(self.not_after),
            max_downloads: self.max_downloads.max(0) as u32,
            territory: self.territory()?,
            processing: self.processing,
            redistribution: false,
            version: self.version,
        })
    }

    /// The status as of `now`: an active grant past its window is expired
    /// even before the sweep records it.
    pub(crate) fn status_at(&self, now: NaiveDateTime) -> Result<GrantStatus> {
        let stored = GrantStatus::from_db(&self.status)?;
        Ok(match stored {
            GrantStatus::Active if now >= self.not_after => GrantStatus::Expired,
            GrantStatus::Active if self.downloads_used >= self.max_downloads => {
                GrantStatus::Exhausted
            }
            other => other,
        })
    }

    pub(crate) fn to_grant(&self) -> Result<Grant> {
        let now = domain::to_db_time(domain::now());
        Ok(Grant {
            id: domain::id_from_db(&self.id)?,
            request: domain::id_from_db(&self.request_id)?,
            dataset: domain::id_from_db(&self.dataset_id)?,
            licensor: domain::id_from_db(&self.licensor_id)?,
            licensee: domain::id_from_db(&self.licensee_id)?,
            policy: self.policy()?,
            downloads_used: self.downloads_used.max(0) as u32,
            downloads_remaining: (self.max_downloads - self.downloads_used).max(0) as u32,
            status: self.status_at(now)?,
            created_at: domain::from_db_time(self.created_at),
            revocation: verdict(&self.revoked_by, self.revoked_at, &self.revoke_reason)?,
        })
    }

    fn parties(&self) -> Result<Vec<Uuid>> {
        Ok(vec![
            domain::id_from_db(&self.licensor_id)?,
            domain::id_from_db(&self.licensee_id)?,
        ])
    }
}

// ---------------------------------------------------------------------------
// Helpers

fn clean_reason(field: &str, reason: &str, required: bool) -> Result<Option<String>> {
    let reason = reason.trim();
    if reason.chars().count() > MAX_REASON_CHARS {
        return Err(Error::invalid(
            field,
            format!("must be at most {MAX_REASON_CHARS} characters"),
        ));
    }
    if reason.is_empty() {
        return if required {
            Err(Error::invalid(field, "must not be empty"))
        } else {
            Ok(None)
        };
    }
    Ok(Some(reason.to_owned()))
}

fn wrong_state(row: &RequestRow, doing: &str) -> Error {
    Error::refused(
        Code::InvalidState,
        format!("cannot {doing} a request that is {}", row.state),
    )
    .with("current_state", row.state.clone())
}

fn load_request(conn: &mut DbConnection, id: Uuid) -> Result<Option<RequestRow>> {
    Ok(access_requests::table
        .find(id.to_string())
        .select(RequestRow::as_select())
        .first::<RequestRow>(conn)
        .optional()?)
}

/// Whether the actor may decide requests for the dataset (holding or
/// operation right, in force).
fn may_decide(conn: &mut DbConnection, actor: &Actor, dataset: &DatasetRow) -> Result<bool> {
    Ok(rights::may(conn, actor, Act::DecideAccess, dataset).is_ok())
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
    let dataset =
        catalog::load(conn, domain::id_from_db(&row.dataset_id)?)?.ok_or_else(not_found)?;
    let visible = row.consumer_id == actor.id.to_string()
        || actor.roles.is_oversight()
        || may_decide(conn, actor, &dataset)?;
    if visible {
        Ok((row, dataset))
    } else {
        Err(not_found())
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
            dataset: Some(domain::id_from_db(&row.dataset_id)?),
            subject: row.id.clone(),
            parties: vec![
                domain::id_from_db(&row.consumer_id)?,
                domain::id_from_db(&dataset.provider_id)?,
            ],
            detail,
        },
    )
}

/// Expires a pending request whose time is up, recording it. Returns the
/// audit index when it did.
fn expire_if_due(
    conn: &mut DbConnection,
    row: &mut RequestRow,
    dataset: &DatasetRow,
) -> Result<Option<u64>> {
    let now = domain::to_db_time(domain::now());
    if row.state != RequestState::Pending.as_str() || row.expires_at > now {
        return Ok(None);
    }
    diesel::update(access_requests::table.find(&row.id))
        .set((
            access_requests::state.eq(RequestState::Expired.as_str()),
            access_requests::updated_at.eq(now),
        ))
        .execute(conn)?;
    row.state = RequestState::Expired.as_str().to_owned();
    row.updated_at = now;
    let index = audit_request(
        conn,
        None,
        Action::AccessRequestExpired,
        row,
        dataset,
        json!({ "state": RequestState::Expired, "expired_at": domain::format_time(domain::from_db_time(row.expires_at)) }),
    )?;
    Ok(Some(index))
}

// ---------------------------------------------------------------------------
// Requests

/// A consumer asks for licensed access to a listed dataset.
pub async fn create_request(
    market: &Market,
    actor: &Actor,
    input: NewRequest,
) -> Result<Recorded<AccessRequest>> {
    actor.require_any(&[Role::Consumer])?;
    let limits = &market.settings.grants;
    let purpose = input.purpose.trim().to_owned();
    if purpose.chars().count() > MAX_PURPOSE_CHARS {
        return Err(Error::invalid(
            "purpose",
            format!("must be at most {MAX_PURPOSE_CHARS} characters"),
        ));
    }
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
    let message = match input.message.as_deref().map(str::trim) {
        Some(m) if m.chars().count() > MAX_MESSAGE_CHARS => {
            return Err(Error::invalid(
                "message",
                format!("must be at most {MAX_MESSAGE_CHARS} characters"),
            ));
        }
        Some(m) if !m.is_empty() => Some(m.to_owned()),
        _ => None,
    };
    let ttl = Duration::seconds(i64::try_from(limits.request_ttl_secs).unwrap_or(i64::MAX / 2));
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            // Only listed datasets take requests; anything else "does not exist".
            let dataset = catalog::load(conn, input.dataset)?
                .filter(|d| d.status == DatasetStatus::Listed.as_str())
                .ok_or_else(|| Error::not_found("dataset"))?;
            if dataset.personal_data && purpose.is_empty() {
                return Err(Error::refused(
                    Code::PurposeRequired,
                    "this dataset holds personal data: state the purpose of the processing",
                ));
            }
            if may_decide(conn, &actor, &dataset)? {
                return Err(Error::invalid("dataset", "you already hold rights over this dataset"));
            }
            let requires_review = input.cross_border
                && (dataset.classification()? == Classification::Important || dataset.personal_data);
            let id = domain::new_id();
            let now = domain::now();
            diesel::insert_into(access_requests::table)
                .values((
                    access_requests::id.eq(id.to_string()),
                    access_requests::dataset_id.eq(&dataset.id),
                    access_requests::consumer_id.eq(actor.id.to_string()),
                    access_requests::purpose.eq(&purpose),
                    access_requests::duration_days.eq(input.duration_days as i32),
                    access_requests::max_downloads.eq(input.max_downloads as i32),
                    access_requests::processing.eq(input.processing),
                    access_requests::cross_border.eq(input.cross_border),
                    access_requests::destination_country.eq(&destination),
                    access_requests::message.eq(&message),
                    access_requests::state.eq(RequestState::Pending.as_str()),
                    access_requests::requires_review.eq(requires_review),
                    access_requests::created_at.eq(domain::to_db_time(now)),
                    access_requests::updated_at.eq(domain::to_db_time(now)),
                    access_requests::expires_at.eq(domain::to_db_time(now + ttl)),
                ))
                .execute(conn)
                .map_err(|e| {
                    on_unique_violation(e, || {
                        Error::refused(
                            Code::AlreadyExists,
                            "you have an open request for this dataset; withdraw it or wait for the decision",
                        )
                    })
                })?;
            let row = load_request(conn, id)?.ok_or_else(|| Error::Internal("new request vanished".into()))?;
            let index = audit_request(
                conn,
                Some(actor.id),
                Action::AccessRequestCreated,
                &row,
                &dataset,
                json!({
                    "purpose": purpose,
                    "duration_days": input.duration_days,
                    "max_downloads": input.max_downloads,
                    "processing": input.processing,
                    "cross_border": input.cross_border,
                    "destination_country": destination,
                    "requires_review": requires_review,
                }),
            )?;
            Ok(Recorded::new(row.to_request()?, vec![index]))
        })
        .await
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
            Ok(Recorded::new(
                row.to_request()?,
                expired.into_iter().collect(),
            ))
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
    let cursor = parse_cursor(cursor)?;
    sweep_requests(market).await?;
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
                RequestRole::Incoming => {
                    query.filter(access_requests::dataset_id.eq_any(decided_datasets(&actor)))
                }
            };
            if let Some(state) = state {
                query = query.filter(access_requests::state.eq(state.as_str()));
            }
            if let Some(cursor) = cursor {
                query = query.filter(access_requests::id.lt(cursor.to_string()));
            }
            let mut rows: Vec<RequestRow> = query.load(conn)?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next_cursor = if more {
                rows.last().map(|r| r.id.clone())
            } else {
                None
            };
            let items = rows
                .iter()
                .map(RequestRow::to_request)
                .collect::<Result<_>>()?;
            Ok(RequestPage { items, next_cursor })
        })
        .await
}

type HeldBy =
    diesel::dsl::Filter<rights_table::table, diesel::dsl::Eq<rights_table::holder_id, String>>;
type HeldDeciding =
    diesel::dsl::Filter<HeldBy, diesel::dsl::EqAny<rights_table::kind, [&'static str; 2]>>;
type HeldInForce = diesel::dsl::Filter<
    diesel::dsl::Filter<HeldDeciding, diesel::dsl::IsNull<rights_table::ended_at>>,
    diesel::dsl::Or<
        diesel::dsl::IsNull<rights_table::until>,
        diesel::dsl::Gt<rights_table::until, NaiveDateTime>,
    >,
>;
type DecidedDatasets = diesel::dsl::Select<HeldInForce, rights_table::dataset_id>;

/// The datasets whose holding or operation right the actor holds now.
fn decided_datasets(actor: &Actor) -> DecidedDatasets {
    let now = domain::to_db_time(domain::now());
    rights_table::table
        .filter(rights_table::holder_id.eq(actor.id.to_string()))
        .filter(rights_table::kind.eq_any(["holding", "operation"]))
        .filter(rights_table::ended_at.is_null())
        .filter(
            rights_table::until
                .is_null()
                .or(rights_table::until.gt(now)),
        )
        .select(rights_table::dataset_id)
}

fn parse_cursor(cursor: Option<String>) -> Result<Option<Uuid>> {
    cursor
        .map(|c| {
            Uuid::parse_str(&c).map_err(|_| {
                Error::refused(Code::InvalidCursor, "the cursor is not one this API gave")
            })
        })
        .transpose()
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
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (mut row, dataset) = load_request_visible(conn, &actor, id)?;
            if !may_decide(conn, &actor, &dataset)? {
                return Err(Error::refused(
                    Code::NotPermitted,
                    "only the holder of the dataset's holding or operation right decides its requests",
                ));
            }
            let mut indexes: Vec<u64> = expire_if_due(conn, &mut row, &dataset)?.into_iter().collect();
            if row.state()? != RequestState::Pending {
                return Err(wrong_state(&row, "approve"));
            }
            let overrides = input.policy.clone().unwrap_or_default();
            // Checked now, so that the approver hears of a bad policy at once.
            let policy = policy::resolve(conn, &row, &overrides, domain::now(), &home)?;
            let now = domain::to_db_time(domain::now());
            let next = if row.requires_review { RequestState::UnderReview } else { RequestState::Approved };
            let overrides_json = serde_json::to_string(&overrides).map_err(|e| Error::Internal(e.to_string()))?;
            diesel::update(access_requests::table.find(&row.id))
                .set((
                    access_requests::state.eq(next.as_str()),
                    access_requests::updated_at.eq(now),
                    access_requests::decided_by.eq(actor.id.to_string()),
                    access_requests::decided_at.eq(now),
                    access_requests::policy.eq(&overrides_json),
                ))
                .execute(conn)?;
            row.state = next.as_str().to_owned();
            indexes.push(audit_request(
                conn,
                Some(actor.id),
                Action::AccessRequestApproved,
                &row,
                &dataset,
                json!({ "state": next, "policy": overrides }),
            )?);
            if next == RequestState::Approved {
                indexes.push(create_grant(conn, &row, &dataset, actor.id, policy)?);
            }
            let row = load_request(conn, id)?.ok_or_else(|| Error::not_found("access request"))?;
            Ok(Recorded::new(row.to_request()?, indexes))
        })
        .await
}

fn create_grant(
    conn: &mut DbConnection,
    request: &RequestRow,
    dataset: &DatasetRow,
    licensor: Uuid,
    policy: Policy,
) -> Result<u64> {
    let id = domain::new_id();
    let now = domain::to_db_time(domain::now());
    diesel::insert_into(grants::table)
        .values((
            grants::id.eq(id.to_string()),
            grants::request_id.eq(&request.id),
            grants::dataset_id.eq(&request.dataset_id),
            grants::version.eq(policy.version),
            grants::licensor_id.eq(licensor.to_string()),
            grants::licensee_id.eq(&request.consumer_id),
            grants::purposes.eq(json!(policy.purposes).to_string()),
            grants::not_before.eq(domain::to_db_time(policy.not_before)),
            grants::not_after.eq(domain::to_db_time(policy.not_after)),
            grants::max_downloads.eq(policy.max_downloads as i32),
            grants::downloads_used.eq(0),
            grants::territory.eq(json!(policy.territory).to_string()),
            grants::processing.eq(policy.processing),
            grants::status.eq(GrantStatus::Active.as_str()),
            grants::created_at.eq(now),
        ))
        .execute(conn)?;
    diesel::update(access_requests::table.find(&request.id))
        .set((
            access_requests::grant_id.eq(id.to_string()),
            access_requests::state.eq(RequestState::Approved.as_str()),
            access_requests::updated_at.eq(now),
        ))
        .execute(conn)?;
    audit::append(
        conn,
        Entry {
            actor: Some(licensor),
            action: Action::GrantCreated,
            dataset: Some(dataset.uuid()?),
            subject: id.to_string(),
            parties: vec![licensor, domain::id_from_db(&request.consumer_id)?],
            detail: json!({ "request": request.id, "policy": policy }),
        },
    )
}

/// The holder (or broker) refuses.
pub async fn reject(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: ReasonInput,
) -> Result<Recorded<AccessRequest>> {
    let reason = clean_reason("reason", &input.reason, true)?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (mut row, dataset) = load_request_visible(conn, &actor, id)?;
            if !may_decide(conn, &actor, &dataset)? {
                return Err(Error::refused(
                    Code::NotPermitted,
                    "only the holder of the dataset's holding or operation right decides its requests",
                ));
            }
            let mut indexes: Vec<u64> = expire_if_due(conn, &mut row, &dataset)?.into_iter().collect();
            if row.state()? != RequestState::Pending {
                return Err(wrong_state(&row, "reject"));
            }
            let now = domain::to_db_time(domain::now());
            diesel::update(access_requests::table.find(&row.id))
                .set((
                    access_requests::state.eq(RequestState::Rejected.as_str()),
                    access_requests::updated_at.eq(now),
                    access_requests::decided_by.eq(actor.id.to_string()),
                    access_requests::decided_at.eq(now),
                    access_requests::decision_reason.eq(&reason),
                ))
                .execute(conn)?;
            indexes.push(audit_request(
                conn,
                Some(actor.id),
                Action::AccessRequestRejected,
                &row,
                &dataset,
                json!({ "state": RequestState::Rejected, "reason": reason }),
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
        .write(move |conn| {
            let (mut row, dataset) = load_request_visible(conn, &actor, id)?;
            if row.consumer_id != actor.id.to_string() {
                return Err(Error::refused(
                    Code::NotPermitted,
                    "only the requester withdraws a request",
                ));
            }
            let mut indexes: Vec<u64> = expire_if_due(conn, &mut row, &dataset)?
                .into_iter()
                .collect();
            if row.state()? != RequestState::Pending {
                return Err(wrong_state(&row, "withdraw"));
            }
            diesel::update(access_requests::table.find(&row.id))
                .set((
                    access_requests::state.eq(RequestState::Withdrawn.as_str()),
                    access_requests::updated_at.eq(domain::to_db_time(domain::now())),
                ))
                .execute(conn)?;
            indexes.push(audit_request(
                conn,
                Some(actor.id),
                Action::AccessRequestWithdrawn,
                &row,
                &dataset,
                json!({ "state": RequestState::Withdrawn }),
            )?);
            let row = load_request(conn, id)?.ok_or_else(|| Error::not_found("access request"))?;
            Ok(Recorded::new(row.to_request()?, indexes))
        })
        .await
}

/// A regulator's decision on a request under review.
pub async fn review(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: RequestReviewInput,
) -> Result<Recorded<AccessRequest>> {
    actor.require_any(&[Role::Regulator])?;
    let reason = clean_reason(
        "reason",
        input.reason.as_deref().unwrap_or(""),
        input.decision == Decision::Reject,
    )?;
    let home = market.settings.catalog.home_territory.clone();
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (mut row, dataset) = load_request_visible(conn, &actor, id)?;
            if row.state()? != RequestState::UnderReview {
                return Err(wrong_state(&row, "review"));
            }
            let now = domain::to_db_time(domain::now());
            let next = match input.decision {
                Decision::Approve => RequestState::Approved,
                Decision::Reject => RequestState::Rejected,
            };
            diesel::update(access_requests::table.find(&row.id))
                .set((
                    access_requests::state.eq(next.as_str()),
                    access_requests::updated_at.eq(now),
                    access_requests::reviewed_by.eq(actor.id.to_string()),
                    access_requests::reviewed_at.eq(now),
                    access_requests::review_reason.eq(&reason),
                ))
                .execute(conn)?;
            row.state = next.as_str().to_owned();
            let mut indexes = vec![audit_request(
                conn,
                Some(actor.id),
                Action::AccessRequestReviewed,
                &row,
                &dataset,
                json!({ "decision": input.decision, "reason": reason, "state": next }),
            )?];
            if next == RequestState::Approved {
                let overrides: PolicyOverride = match row.policy.as_deref() {
                    Some(text) => serde_json::from_str(text)
                        .map_err(|e| Error::Internal(format!("stored policy: {e}")))?,
                    None => PolicyOverride::default(),
                };
                // The window starts when the grant exists, not when the holder agreed.
                let policy = policy::resolve(conn, &row, &overrides, domain::now(), &home)?;
                let licensor = row
                    .decided_by
                    .as_deref()
                    .map(domain::id_from_db)
                    .transpose()?
                    .ok_or_else(|| Error::Internal("a reviewed request has no approver".into()))?;
                indexes.push(create_grant(conn, &row, &dataset, licensor, policy)?);
            }
            let row = load_request(conn, id)?.ok_or_else(|| Error::not_found("access request"))?;
            Ok(Recorded::new(row.to_request()?, indexes))
        })
        .await
}

// ---------------------------------------------------------------------------
// Grants

/// Loads a grant the actor may know about: its licensor and licensee, those
/// who may decide access to the dataset now, and oversight.
pub(crate) fn load_grant_visible(
    conn: &mut DbConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(GrantRow, DatasetRow)> {
    let not_found = || Error::not_found("grant");
    let row = grants::table
        .find(id.to_string())
        .select(GrantRow::as_select())
        .first::<GrantRow>(conn)
        .optional()?
        .ok_or_else(not_found)?;
    let dataset =
        catalog::load(conn, domain::id_from_db(&row.dataset_id)?)?.ok_or_else(not_found)?;
    let me = actor.id.to_string();
    let visible = row.licensee_id == me
        || row.licensor_id == me
        || actor.roles.is_oversight()
        || may_decide(conn, actor, &dataset)?;
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
    let cursor = parse_cursor(cursor)?;
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
                        .or(grants::dataset_id.eq_any(decided_datasets(&actor))),
                ),
            };
            if let Some(cursor) = cursor {
                query = query.filter(grants::id.lt(cursor.to_string()));
            }
            let mut rows: Vec<GrantRow> = query.load(conn)?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next_cursor = if more {
                rows.last().map(|r| r.id.clone())
            } else {
                None
            };
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
    let reason = clean_reason("reason", &input.reason, true)?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (row, dataset) = load_grant_visible(conn, &actor, id)?;
            let allowed = row.licensor_id == actor.id.to_string()
                || actor.has(Role::Regulator)
                || may_decide(conn, &actor, &dataset)?;
            if !allowed {
                return Err(Error::refused(
                    Code::NotPermitted,
                    "only the licensor, the dataset's holder or operator, or a regulator revokes a grant",
                ));
            }
            let status = GrantStatus::from_db(&row.status)?;
            if status == GrantStatus::Revoked {
                return Err(Error::refused(Code::InvalidState, "the grant is already revoked")
                    .with("current_status", row.status.clone()));
            }
            let now = domain::to_db_time(domain::now());
            diesel::update(grants::table.find(&row.id))
                .set((
                    grants::status.eq(GrantStatus::Revoked.as_str()),
                    grants::revoked_at.eq(now),
                    grants::revoked_by.eq(actor.id.to_string()),
                    grants::revoke_reason.eq(&reason),
                ))
                .execute(conn)?;
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::GrantRevoked,
                    dataset: Some(dataset.uuid()?),
                    subject: row.id.clone(),
                    parties: row.parties()?,
                    detail: json!({ "reason": reason, "previous_status": status }),
                },
            )?;
            let row = grants::table.find(&row.id).select(GrantRow::as_select()).first::<GrantRow>(conn)?;
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
                return Err(Error::refused(Code::NotPermitted, "only the licensee takes data tokens for a grant"));
            }
            let now = domain::to_db_time(domain::now());
            if let Some(refusal) = delivery::refusal(&row, now, None)? {
                return Err(refusal);
            }
            if let Some(version) = input.version {
                let exists = dataset_versions::table
                    .find((row.dataset_id.clone(), version))
                    .count()
                    .get_result::<i64>(conn)?
                    > 0;
                if !exists || row.version.is_some_and(|pinned| pinned != version) {
                    return Err(Error::invalid("version", "the grant covers no such version"));
                }
            }
            let issued = Utc::now().timestamp();
            let expires = (issued + lifetime as i64).min(domain::from_db_time(row.not_after).timestamp());
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
            let access_token = tokens::sign(&keys, &claims).map_err(|e| Error::Internal(e.to_string()))?;
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::DataTokenIssued,
                    dataset: Some(claims.dataset),
                    subject: row.id.clone(),
                    parties: row.parties()?,
                    detail: json!({ "token": claims.jti, "version": claims.version, "expires": claims.exp }),
                },
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

/// Whether `actor` holds a grant over `dataset` that allows processing,
/// which the rights service accepts as a processing right.
pub(crate) fn allows_processing(
    conn: &mut DbConnection,
    actor: &Actor,
    dataset: &str,
) -> Result<bool> {
    let now = domain::to_db_time(domain::now());
    let count: i64 = grants::table
        .filter(grants::licensee_id.eq(actor.id.to_string()))
        .filter(grants::dataset_id.eq(dataset))
        .filter(grants::processing.eq(true))
        .filter(grants::status.eq_any([
            GrantStatus::Active.as_str(),
            GrantStatus::Exhausted.as_str(),
        ]))
        .filter(grants::not_before.le(now))
        .filter(grants::not_after.gt(now))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Whether `actor` is the licensee of a grant over `dataset` still in
/// force, which lets it see the dataset after a delisting.
pub(crate) fn is_licensee(conn: &mut DbConnection, actor: &Actor, dataset: &str) -> Result<bool> {
    let now = domain::to_db_time(domain::now());
    let count: i64 = grants::table
        .filter(grants::licensee_id.eq(actor.id.to_string()))
        .filter(grants::dataset_id.eq(dataset))
        .filter(grants::status.ne(GrantStatus::Revoked.as_str()))
        .filter(grants::not_after.gt(now))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

// ---------------------------------------------------------------------------
// Sweeping

/// Expires every pending request whose time is up, each with its audit
/// entry. Returns how many it expired.
pub async fn sweep_requests(market: &Market) -> Result<usize> {
    market
        .db
        .write(|conn| {
            let now = domain::to_db_time(domain::now());
            let due: Vec<RequestRow> = access_requests::table
                .filter(access_requests::state.eq(RequestState::Pending.as_str()))
                .filter(access_requests::expires_at.le(now))
                .select(RequestRow::as_select())
                .limit(500)
                .load(conn)?;
            let mut expired = 0;
            for mut row in due {
                let dataset = catalog::load(conn, domain::id_from_db(&row.dataset_id)?)?
                    .ok_or_else(|| Error::Internal("a request names a missing dataset".into()))?;
                if expire_if_due(conn, &mut row, &dataset)?.is_some() {
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
                .filter(grants::status.eq(GrantStatus::Active.as_str()))
                .filter(grants::not_after.le(now))
                .select(GrantRow::as_select())
                .limit(500)
                .load(conn)?;
            for row in &due {
                delivery::record_expiry(conn, row)?;
            }
            Ok(due.len())
        })
        .await
}

/// Runs both sweeps every `grants.sweep_interval_secs` until aborted.
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
            ] {
                match result {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(n, what, "expired by the sweep"),
                    Err(e) => tracing::warn!(error = %e, what, "sweep failed"),
                }
            }
        }
    })
}
