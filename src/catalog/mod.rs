//! The catalog: listings, their immutable versions and payloads, the review
//! of what the law says must be reviewed, and search.
//!
//! Lifecycle: `draft → listed` (general data) or `draft → pending_review →
//! listed | rejected` (important data); `listed | pending_review → delisted`;
//! a delisted listing may be published again, a rejected one is edited back
//! to draft first. Core data is never listed.

use std::ops::Range;

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::{Bool, Text};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::{self, Action, Entry, Recorded};
use crate::domain::{self, Actor, Classification, DatasetStatus, Decision, Role};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::objects::{self, PutError};
use crate::rights::provenance::{ActivityInput, SourceRef};
use crate::rights::{self, Act};
use crate::store::schema::{dataset_tags, dataset_versions, datasets};
use crate::store::{Backend, DbConnection};

const MAX_TITLE_CHARS: usize = 200;
const MAX_DESCRIPTION_CHARS: usize = 20_000;
const MAX_TAGS: usize = 20;
const MAX_TAG_CHARS: usize = 50;
const MAX_LICENSE_CHARS: usize = 4_000;
const MAX_REASON_CHARS: usize = 2_000;
const MAX_PRICE: i64 = 1_000_000_000_000_000;
const MAX_QUERY_CHARS: usize = 200;
const MAX_QUERY_TERMS: usize = 8;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// In the currency's minor unit (fen for CNY).
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub amount: i64,
    /// ISO 4217 code.
    #[schema(example = "CNY", pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub reason: Option<String>,
    pub reviewer: Uuid,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Dataset {
    pub id: Uuid,
    /// The account holding the holding right: the listing's owner.
    pub provider: Uuid,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub classification: Classification,
    pub personal_data: bool,
    pub license: String,
    pub price: Price,
    pub status: DatasetStatus,
    pub review: Option<Review>,
    pub latest_version: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub listed_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDataset {
    #[schema(example = "城市交通流量", min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: String,
    /// Single words of 1 to 50 characters.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub tags: Vec<String>,
    pub classification: Classification,
    pub personal_data: bool,
    #[schema(min_length = 1, max_length = 4000)]
    pub license: String,
    pub price: Price,
    /// Source versions this dataset was derived from; the caller must hold
    /// the processing right over each.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub derived_from: Vec<SourceRef>,
    /// The processing step, required with `derived_from`.
    #[serde(default)]
    pub activity: Option<ActivityInput>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    pub classification: Option<Classification>,
    pub personal_data: Option<bool>,
    #[schema(min_length = 1, max_length = 4000)]
    pub license: Option<String>,
    pub price: Option<Price>,
    /// Records a further derivation of this draft from these sources.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub derived_from: Vec<SourceRef>,
    #[serde(default)]
    pub activity: Option<ActivityInput>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    pub decision: Decision,
    /// Required when rejecting.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelistInput {
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Version {
    pub version: i32,
    /// Hex SHA-256 of the payload.
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub tag: Option<String>,
    pub classification: Option<Classification>,
    pub provider: Option<Uuid>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DatasetPage {
    pub items: Vec<Dataset>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A byte range as a client asked for it, resolved against the payload size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ByteRange {
    /// `first-last`, inclusive.
    FromTo(u64, u64),
    /// `first-`.
    From(u64),
    /// `-n`: the last n bytes.
    Last(u64),
}

impl ByteRange {
    fn resolve(self, size: u64) -> Option<Range<u64>> {
        let range = match self {
            ByteRange::FromTo(first, last) if first <= last => {
                first..last.saturating_add(1).min(size)
            }
            ByteRange::From(first) => first..size,
            ByteRange::Last(n) if n > 0 => size.saturating_sub(n)..size,
            _ => return None,
        };
        (range.start < range.end).then_some(range)
    }
}

/// A payload on its way out.
pub struct Content {
    pub dataset: Uuid,
    pub version: Version,
    /// The bytes being sent: the whole payload or the resolved range.
    pub range: Range<u64>,
    pub partial: bool,
    pub body:
        futures_util::stream::BoxStream<'static, std::result::Result<Bytes, object_store::Error>>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::datasets)]
pub(crate) struct DatasetRow {
    pub id: String,
    pub provider_id: String,
    pub title: String,
    pub description: String,
    pub tags: String,
    pub classification: String,
    pub personal_data: bool,
    pub license: String,
    pub price_amount: i64,
    pub price_currency: String,
    pub status: String,
    pub review_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub latest_version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub listed_at: Option<NaiveDateTime>,
}

impl DatasetRow {
    pub fn status(&self) -> Result<DatasetStatus> {
        DatasetStatus::from_db(&self.status)
    }

    pub fn classification(&self) -> Result<Classification> {
        Classification::from_db(&self.classification)
    }

    pub fn uuid(&self) -> Result<Uuid> {
        domain::id_from_db(&self.id)
    }

    pub fn into_dataset(self) -> Result<Dataset> {
        let review = match (&self.reviewed_by, self.reviewed_at) {
            (Some(reviewer), Some(at)) => Some(Review {
                reason: self.review_reason.clone(),
                reviewer: domain::id_from_db(reviewer)?,
                at: domain::from_db_time(at),
            }),
            _ => None,
        };
        Ok(Dataset {
            id: self.uuid()?,
            provider: domain::id_from_db(&self.provider_id)?,
            tags: serde_json::from_str(&self.tags)
                .map_err(|e| Error::Internal(format!("stored tags are not JSON: {e}")))?,
            classification: self.classification()?,
            status: self.status()?,
            title: self.title,
            description: self.description,
            personal_data: self.personal_data,
            license: self.license,
            price: Price {
                amount: self.price_amount,
                currency: self.price_currency,
            },
            review,
            latest_version: (self.latest_version > 0).then_some(self.latest_version),
            created_at: domain::from_db_time(self.created_at),
            updated_at: domain::from_db_time(self.updated_at),
            listed_at: self.listed_at.map(domain::from_db_time),
        })
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = crate::store::schema::dataset_versions)]
pub(crate) struct VersionRow {
    number: i32,
    media_type: String,
    size: i64,
    sha256: String,
    object_key: String,
    created_at: NaiveDateTime,
}

impl VersionRow {
    fn version(&self) -> Version {
        Version {
            version: self.number,
            sha256: self.sha256.clone(),
            size: self.size.max(0) as u64,
            media_type: self.media_type.clone(),
            created_at: domain::from_db_time(self.created_at),
        }
    }
}

// ---------------------------------------------------------------------------
// Validation

fn required_text(field: &str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    optional_text(field, value, max)
}

fn optional_text(field: &str, value: &str, max: usize) -> Result<String> {
    if value.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r')
    {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(value.trim().to_owned())
}

fn clean_tags(tags: &[String]) -> Result<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid("tags", format!("at most {MAX_TAGS} tags")));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = required_text("tags", tag, MAX_TAG_CHARS)?;
        if tag.contains(char::is_whitespace) {
            return Err(Error::invalid("tags", "a tag is one word without spaces"));
        }
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    Ok(clean)
}

fn check_price(price: &Price) -> Result<()> {
    if !(0..=MAX_PRICE).contains(&price.amount) {
        return Err(Error::invalid(
            "price.amount",
            format!("must be between 0 and {MAX_PRICE}"),
        ));
    }
    if !(price.currency.len() == 3 && price.currency.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(Error::invalid(
            "price.currency",
            "must be an ISO 4217 code such as \"CNY\"",
        ));
    }
    Ok(())
}

fn search_text(title: &str, description: &str, tags: &[String]) -> String {
    format!("{title}\n{description}\n{}", tags.join(" "))
}

fn check_reason(reason: Option<String>) -> Result<Option<String>> {
    match reason {
        Some(r) => {
            let r = optional_text("reason", &r, MAX_REASON_CHARS)?;
            Ok((!r.is_empty()).then_some(r))
        }
        None => Ok(None),
    }
}

// ---------------------------------------------------------------------------
// Reading and authorising

pub(crate) fn load(conn: &mut DbConnection, id: Uuid) -> Result<Option<DatasetRow>> {
    Ok(datasets::table
        .find(id.to_string())
        .select(DatasetRow::as_select())
        .first::<DatasetRow>(conn)
        .optional()?)
}

/// Loads a listing the actor may see; anything else is "not found", so that
/// drafts do not leak through the difference between 403 and 404.
pub(crate) fn load_visible(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    id: Uuid,
) -> Result<DatasetRow> {
    match load(conn, id)? {
        Some(row) if rights::can_see(conn, actor, &row)? => Ok(row),
        _ => Err(Error::not_found("dataset")),
    }
}

fn invalid_state(row: &DatasetRow, doing: &str) -> Error {
    Error::refused(
        Code::InvalidState,
        format!("cannot {doing} a dataset that is {}", row.status),
    )
    .with("current_status", row.status.clone())
}

/// Records a change to a listing; its provider is a party to it.
fn audit_dataset(
    conn: &mut DbConnection,
    actor: &Actor,
    action: Action,
    row: &DatasetRow,
    detail: Value,
) -> Result<u64> {
    let dataset = row.uuid()?;
    audit::append(
        conn,
        Entry {
            actor: Some(actor.id),
            action,
            dataset: Some(dataset),
            subject: dataset.to_string(),
            parties: vec![domain::id_from_db(&row.provider_id)?],
            detail,
        },
    )
}

// ---------------------------------------------------------------------------
// State changes

/// Creates a draft listing owned by `actor`.
pub async fn create(
    market: &Market,
    actor: &Actor,
    input: NewDataset,
) -> Result<Recorded<Dataset>> {
    actor.require_any(&[Role::Provider])?;
    let title = required_text("title", &input.title, MAX_TITLE_CHARS)?;
    let description = optional_text("description", &input.description, MAX_DESCRIPTION_CHARS)?;
    let tags = clean_tags(&input.tags)?;
    let license = required_text("license", &input.license, MAX_LICENSE_CHARS)?;
    check_price(&input.price)?;
    let actor = actor.clone();
    let issuer = rights::Issuer::of(market);
    market
        .db
        .write(move |conn| {
            let id = domain::new_id();
            let now = domain::to_db_time(domain::now());
            diesel::insert_into(datasets::table)
                .values((
                    datasets::id.eq(id.to_string()),
                    datasets::provider_id.eq(actor.id.to_string()),
                    datasets::title.eq(&title),
                    datasets::description.eq(&description),
                    datasets::tags.eq(json!(tags).to_string()),
                    datasets::classification.eq(input.classification.as_str()),
                    datasets::personal_data.eq(input.personal_data),
                    datasets::license.eq(&license),
                    datasets::price_amount.eq(input.price.amount),
                    datasets::price_currency.eq(&input.price.currency),
                    datasets::status.eq(DatasetStatus::Draft.as_str()),
                    datasets::latest_version.eq(0),
                    datasets::search_text.eq(search_text(&title, &description, &tags)),
                    datasets::created_at.eq(now),
                    datasets::updated_at.eq(now),
                ))
                .execute(conn)?;
            replace_tags(conn, id, &tags)?;
            let row =
                load(conn, id)?.ok_or_else(|| Error::Internal("new dataset vanished".into()))?;
            let index = audit_dataset(
                conn,
                &actor,
                Action::DatasetCreated,
                &row,
                json!({
                    "title": title,
                    "classification": input.classification,
                    "personal_data": input.personal_data,
                }),
            )?;
            let mut indexes = vec![index];
            indexes.extend(rights::register_original(conn, &issuer, &actor, &row)?);
            if !input.derived_from.is_empty() || input.activity.is_some() {
                indexes.push(rights::provenance::record_derivation(
                    conn,
                    &actor,
                    &row,
                    &input.derived_from,
                    input.activity.as_ref(),
                )?);
            }
            Ok(Recorded::new(row.into_dataset()?, indexes))
        })
        .await
}

fn replace_tags(conn: &mut DbConnection, id: Uuid, tags: &[String]) -> Result<()> {
    diesel::delete(dataset_tags::table.filter(dataset_tags::dataset_id.eq(id.to_string())))
        .execute(conn)?;
    for tag in tags {
        diesel::insert_into(dataset_tags::table)
            .values((
                dataset_tags::dataset_id.eq(id.to_string()),
                dataset_tags::tag.eq(tag),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Edits a draft (or a rejected listing, which returns to draft).
pub async fn update(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    patch: DatasetPatch,
) -> Result<Recorded<Dataset>> {
    let title = patch
        .title
        .as_deref()
        .map(|t| required_text("title", t, MAX_TITLE_CHARS))
        .transpose()?;
    let description = patch
        .description
        .as_deref()
        .map(|d| optional_text("description", d, MAX_DESCRIPTION_CHARS))
        .transpose()?;
    let tags = patch.tags.as_deref().map(clean_tags).transpose()?;
    let license = patch
        .license
        .as_deref()
        .map(|l| required_text("license", l, MAX_LICENSE_CHARS))
        .transpose()?;
    if let Some(price) = &patch.price {
        check_price(price)?;
    }
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = load_visible(conn, Some(&actor), id)?;
            rights::may(conn, &actor, Act::Edit, &row)?;
            let status = row.status()?;
            if !matches!(status, DatasetStatus::Draft | DatasetStatus::Rejected) {
                return Err(invalid_state(&row, "edit"));
            }
            let mut changed = Vec::new();
            let new_title = title.clone().unwrap_or_else(|| row.title.clone());
            let new_description = description
                .clone()
                .unwrap_or_else(|| row.description.clone());
            let new_tags = match &tags {
                Some(t) => t.clone(),
                None => {
                    serde_json::from_str(&row.tags).map_err(|e| Error::Internal(e.to_string()))?
                }
            };
            let new_tags_json = json!(new_tags).to_string();
            let new_license = license.clone().unwrap_or_else(|| row.license.clone());
            let new_price = patch.price.clone().unwrap_or(Price {
                amount: row.price_amount,
                currency: row.price_currency.clone(),
            });
            let new_classification = patch.classification.unwrap_or(row.classification()?);
            let new_personal = patch.personal_data.unwrap_or(row.personal_data);
            for (field, differs) in [
                ("title", new_title != row.title),
                ("description", new_description != row.description),
                ("tags", new_tags_json != row.tags),
                (
                    "classification",
                    new_classification.as_str() != row.classification,
                ),
                ("personal_data", new_personal != row.personal_data),
                ("license", new_license != row.license),
                (
                    "price",
                    new_price.amount != row.price_amount
                        || new_price.currency != row.price_currency,
                ),
            ] {
                if differs {
                    changed.push(field);
                }
            }
            diesel::update(datasets::table.find(id.to_string()))
                .set((
                    datasets::title.eq(&new_title),
                    datasets::description.eq(&new_description),
                    datasets::tags.eq(&new_tags_json),
                    datasets::classification.eq(new_classification.as_str()),
                    datasets::personal_data.eq(new_personal),
                    datasets::license.eq(&new_license),
                    datasets::price_amount.eq(new_price.amount),
                    datasets::price_currency.eq(&new_price.currency),
                    datasets::status.eq(DatasetStatus::Draft.as_str()),
                    datasets::search_text.eq(search_text(&new_title, &new_description, &new_tags)),
                    datasets::updated_at.eq(domain::to_db_time(domain::now())),
                ))
                .execute(conn)?;
            if tags.is_some() {
                replace_tags(conn, id, &new_tags)?;
            }
            let index = audit_dataset(
                conn,
                &actor,
                Action::DatasetUpdated,
                &row,
                json!({ "changed": changed, "status": DatasetStatus::Draft }),
            )?;
            let mut indexes = vec![index];
            if !patch.derived_from.is_empty() || patch.activity.is_some() {
                indexes.push(rights::provenance::record_derivation(
                    conn,
                    &actor,
                    &row,
                    &patch.derived_from,
                    patch.activity.as_ref(),
                )?);
            }
            let row = load(conn, id)?.ok_or_else(|| Error::not_found("dataset"))?;
            Ok(Recorded::new(row.into_dataset()?, indexes))
        })
        .await
}

/// Submits a listing: general data is listed at once, important data waits
/// for a regulator, core data is refused.
pub async fn publish(market: &Market, actor: &Actor, id: Uuid) -> Result<Recorded<Dataset>> {
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = load_visible(conn, Some(&actor), id)?;
            rights::may(conn, &actor, Act::Publish, &row)?;
            let classification = row.classification()?;
            if classification == Classification::Core {
                return Err(Error::refused(
                    Code::CoreDataNotTradable,
                    "core data is never listed: the Data Security Law puts it outside the market",
                ));
            }
            if !matches!(
                row.status()?,
                DatasetStatus::Draft | DatasetStatus::Delisted
            ) {
                return Err(invalid_state(&row, "publish"));
            }
            if row.latest_version == 0 {
                return Err(Error::refused(
                    Code::NoVersion,
                    "add a version with the payload before publishing",
                ));
            }
            let now = domain::to_db_time(domain::now());
            let status = if classification == Classification::Important {
                DatasetStatus::PendingReview
            } else {
                DatasetStatus::Listed
            };
            diesel::update(datasets::table.find(id.to_string()))
                .set((
                    datasets::status.eq(status.as_str()),
                    datasets::updated_at.eq(now),
                    datasets::listed_at.eq((status == DatasetStatus::Listed).then_some(now)),
                ))
                .execute(conn)?;
            let index = audit_dataset(
                conn,
                &actor,
                Action::DatasetPublished,
                &row,
                json!({ "status": status }),
            )?;
            let row = load(conn, id)?.ok_or_else(|| Error::not_found("dataset"))?;
            Ok(Recorded::new(row.into_dataset()?, vec![index]))
        })
        .await
}

/// A regulator's decision on important data waiting for review.
pub async fn review(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: ReviewInput,
) -> Result<Recorded<Dataset>> {
    actor.require_any(&[Role::Regulator])?;
    let reason = check_reason(input.reason)?;
    if input.decision == Decision::Reject && reason.is_none() {
        return Err(Error::invalid("reason", "a rejection needs a reason"));
    }
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = load_visible(conn, Some(&actor), id)?;
            if row.status()? != DatasetStatus::PendingReview {
                return Err(invalid_state(&row, "review"));
            }
            let now = domain::to_db_time(domain::now());
            let status = match input.decision {
                Decision::Approve => DatasetStatus::Listed,
                Decision::Reject => DatasetStatus::Rejected,
            };
            diesel::update(datasets::table.find(id.to_string()))
                .set((
                    datasets::status.eq(status.as_str()),
                    datasets::review_reason.eq(&reason),
                    datasets::reviewed_by.eq(actor.id.to_string()),
                    datasets::reviewed_at.eq(now),
                    datasets::updated_at.eq(now),
                    datasets::listed_at.eq((status == DatasetStatus::Listed).then_some(now)),
                ))
                .execute(conn)?;
            let index = audit_dataset(
                conn,
                &actor,
                Action::DatasetReviewed,
                &row,
                json!({ "decision": input.decision, "reason": reason, "status": status }),
            )?;
            let row = load(conn, id)?.ok_or_else(|| Error::not_found("dataset"))?;
            Ok(Recorded::new(row.into_dataset()?, vec![index]))
        })
        .await
}

/// Takes a listing off the market (its owner, or a regulator).
pub async fn delist(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: DelistInput,
) -> Result<Recorded<Dataset>> {
    let reason = check_reason(input.reason)?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = load_visible(conn, Some(&actor), id)?;
            rights::may(conn, &actor, Act::Delist, &row)?;
            if !matches!(
                row.status()?,
                DatasetStatus::Listed | DatasetStatus::PendingReview
            ) {
                return Err(invalid_state(&row, "delist"));
            }
            diesel::update(datasets::table.find(id.to_string()))
                .set((
                    datasets::status.eq(DatasetStatus::Delisted.as_str()),
                    datasets::updated_at.eq(domain::to_db_time(domain::now())),
                ))
                .execute(conn)?;
            let index = audit_dataset(
                conn,
                &actor,
                Action::DatasetDelisted,
                &row,
                json!({ "reason": reason, "status": DatasetStatus::Delisted }),
            )?;
            let row = load(conn, id)?.ok_or_else(|| Error::not_found("dataset"))?;
            Ok(Recorded::new(row.into_dataset()?, vec![index]))
        })
        .await
}

/// Streams a new payload version into the object store and records it.
/// Nothing is recorded unless the whole payload arrived within the limit,
/// and nothing is kept in the store unless it was recorded.
pub async fn add_version<S, E>(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    media_type: String,
    declared_length: Option<u64>,
    body: S,
) -> Result<Recorded<Version>>
where
    S: Stream<Item = std::result::Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let limit = market.settings.limits.upload_bytes;
    if declared_length.is_some_and(|n| n > limit) {
        return Err(too_large(limit));
    }
    if declared_length == Some(0) {
        return Err(empty_payload());
    }
    check_media_type(&media_type)?;
    {
        let actor = actor.clone();
        market
            .db
            .read(move |conn| {
                let row = load_visible(conn, Some(&actor), id)?;
                rights::may(conn, &actor, Act::AddVersion, &row)
            })
            .await?;
    }
    let key = format!("datasets/{id}/{}", Uuid::new_v4());
    let stored = match market.objects.put_stream(&key, body, limit).await {
        Ok(stored) => stored,
        Err(PutError::TooLarge { limit }) => return Err(too_large(limit)),
        Err(PutError::Interrupted(why)) => {
            return Err(Error::refused(
                Code::MalformedBody,
                format!("the upload was interrupted: {why}"),
            ));
        }
        Err(PutError::Store(e)) => return Err(e.into()),
    };
    let recorded = if stored.size == 0 {
        Err(empty_payload())
    } else {
        record_version(market, actor, id, media_type, &key, &stored).await
    };
    if recorded.is_err()
        && let Err(e) = market.objects.delete(&key).await
    {
        tracing::warn!(%key, error = %e, "could not remove the payload of an unrecorded version");
    }
    recorded
}

async fn record_version(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    media_type: String,
    key: &str,
    stored: &objects::Stored,
) -> Result<Recorded<Version>> {
    let actor = actor.clone();
    let key = key.to_owned();
    let sha256 = hex::encode(stored.sha256);
    let size = i64::try_from(stored.size).map_err(|_| too_large(i64::MAX as u64))?;
    market
        .db
        .write(move |conn| {
            // Checked again: the right may have moved during the upload.
            let row = load_visible(conn, Some(&actor), id)?;
            rights::may(conn, &actor, Act::AddVersion, &row)?;
            let number = row.latest_version + 1;
            let created_at = domain::now();
            diesel::insert_into(dataset_versions::table)
                .values((
                    dataset_versions::dataset_id.eq(id.to_string()),
                    dataset_versions::number.eq(number),
                    dataset_versions::media_type.eq(&media_type),
                    dataset_versions::size.eq(size),
                    dataset_versions::sha256.eq(&sha256),
                    dataset_versions::object_key.eq(&key),
                    dataset_versions::created_by.eq(actor.id.to_string()),
                    dataset_versions::created_at.eq(domain::to_db_time(created_at)),
                ))
                .execute(conn)?;
            diesel::update(datasets::table.find(id.to_string()))
                .set((
                    datasets::latest_version.eq(number),
                    datasets::updated_at.eq(domain::to_db_time(created_at)),
                ))
                .execute(conn)?;
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::VersionAdded,
                    dataset: Some(id),
                    subject: format!("{id}/{number}"),
                    parties: vec![domain::id_from_db(&row.provider_id)?],
                    detail: json!({
                        "version": number,
                        "sha256": sha256,
                        "size": size,
                        "media_type": media_type,
                    }),
                },
            )?;
            Ok(Recorded::new(
                Version {
                    version: number,
                    sha256: sha256.clone(),
                    size: size as u64,
                    media_type: media_type.clone(),
                    created_at,
                },
                vec![index],
            ))
        })
        .await
}

fn empty_payload() -> Error {
    Error::invalid("payload", "a version needs a non-empty payload")
}

fn too_large(limit: u64) -> Error {
    Error::refused(
        Code::PayloadTooLarge,
        format!("the payload exceeds the limit of {limit} bytes"),
    )
    .with("limit", limit)
}

fn check_media_type(media_type: &str) -> Result<()> {
    let valid = media_type.len() <= 255
        && media_type.parse::<mime::Mime>().is_ok()
        && media_type.is_ascii()
        && !media_type.chars().any(|c| c.is_ascii_control());
    if valid {
        Ok(())
    } else {
        Err(Error::refused(
            Code::UnsupportedMediaType,
            "Content-Type is not a valid media type",
        ))
    }
}

// ---------------------------------------------------------------------------
// Queries

/// One listing, if the actor may see it.
pub async fn get(market: &Market, actor: Option<&Actor>, id: Uuid) -> Result<Dataset> {
    let actor = actor.cloned();
    market
        .db
        .read(move |conn| load_visible(conn, actor.as_ref(), id)?.into_dataset())
        .await
}

/// A listing's versions, oldest first.
pub async fn versions(market: &Market, actor: Option<&Actor>, id: Uuid) -> Result<Vec<Version>> {
    let actor = actor.cloned();
    market
        .db
        .read(move |conn| {
            load_visible(conn, actor.as_ref(), id)?;
            let rows: Vec<VersionRow> = dataset_versions::table
                .filter(dataset_versions::dataset_id.eq(id.to_string()))
                .order(dataset_versions::number.asc())
                .select(VersionRow::as_select())
                .load(conn)?;
            Ok(rows.iter().map(VersionRow::version).collect())
        })
        .await
}

pub(crate) fn find_version(conn: &mut DbConnection, id: Uuid, number: i32) -> Result<VersionRow> {
    dataset_versions::table
        .find((id.to_string(), number))
        .select(VersionRow::as_select())
        .first::<VersionRow>(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("version"))
}

/// Opens a version's payload, whole or a byte range.
pub(crate) async fn fetch(
    market: &Market,
    id: Uuid,
    row: VersionRow,
    range: Option<ByteRange>,
) -> Result<Content> {
    let version = row.version();
    let resolved = match range {
        None => None,
        Some(r) => Some(r.resolve(version.size).ok_or_else(|| {
            Error::refused(
                Code::RangeNotSatisfiable,
                "the range lies outside the payload",
            )
            .with("size", version.size)
        })?),
    };
    if version.size == 0 {
        // object_store refuses ranges of empty objects; an empty body needs none.
        return Ok(Content {
            dataset: id,
            version,
            range: 0..0,
            partial: false,
            body: Box::pin(futures_util::stream::empty()),
        });
    }
    let fetched = market
        .objects
        .get(&row.object_key, resolved.clone())
        .await?;
    Ok(Content {
        dataset: id,
        version,
        range: fetched.range,
        partial: resolved.is_some(),
        body: fetched.body,
    })
}

/// The public catalog: listed datasets, newest first, filtered and paged.
pub async fn search(market: &Market, query: SearchQuery) -> Result<DatasetPage> {
    let limits = &market.settings.limits;
    let limit = query.limit.unwrap_or(limits.page_size_default);
    if limit == 0 || limit > limits.page_size_max {
        return Err(Error::refused(
            Code::InvalidParameter,
            format!("limit must be between 1 and {}", limits.page_size_max),
        )
        .with("parameter", "limit"));
    }
    let cursor = query
        .cursor
        .as_deref()
        .map(|c| {
            Uuid::parse_str(c).map_err(|_| {
                Error::refused(Code::InvalidCursor, "the cursor is not one this API gave")
            })
        })
        .transpose()?;
    let terms = match query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        None => Vec::new(),
        Some(q) if q.chars().count() > MAX_QUERY_CHARS => {
            return Err(Error::refused(
                Code::InvalidParameter,
                format!("q must be at most {MAX_QUERY_CHARS} characters"),
            )
            .with("parameter", "q"));
        }
        Some(q) => q
            .split_whitespace()
            .take(MAX_QUERY_TERMS)
            .map(str::to_owned)
            .collect(),
    };
    market
        .db
        .read(move |conn| {
            let postgres = conn.is_postgres();
            let mut sql_query = datasets::table
                .filter(datasets::status.eq(DatasetStatus::Listed.as_str()))
                .select(DatasetRow::as_select())
                .order(datasets::id.desc())
                .limit(i64::from(limit) + 1)
                .into_boxed();
            for term in &terms {
                sql_query = sql_query.filter(term_filter(postgres, term));
            }
            if let Some(tag) = query.tag {
                sql_query = sql_query.filter(
                    datasets::id.eq_any(
                        dataset_tags::table
                            .filter(dataset_tags::tag.eq(tag))
                            .select(dataset_tags::dataset_id),
                    ),
                );
            }
            if let Some(classification) = query.classification {
                sql_query = sql_query.filter(datasets::classification.eq(classification.as_str()));
            }
            if let Some(provider) = query.provider {
                sql_query = sql_query.filter(datasets::provider_id.eq(provider.to_string()));
            }
            if let Some(cursor) = cursor {
                sql_query = sql_query.filter(datasets::id.lt(cursor.to_string()));
            }
            let mut rows: Vec<DatasetRow> = sql_query.load(conn)?;
            let more = rows.len() > limit as usize;
            rows.truncate(limit as usize);
            let next_cursor = if more {
                rows.last().map(|r| r.id.clone())
            } else {
                None
            };
            let items = rows
                .into_iter()
                .map(DatasetRow::into_dataset)
                .collect::<Result<_>>()?;
            Ok(DatasetPage { items, next_cursor })
        })
        .await
}

/// One search term as SQL: a case-insensitive substring match over title,
/// description and tags, served by each backend's trigram index.
fn term_filter(
    postgres: bool,
    term: &str,
) -> Box<dyn BoxableExpression<datasets::table, Backend, SqlType = Bool>> {
    if postgres {
        let pattern = format!("%{}%", escape_like(term));
        Box::new(
            sql::<Bool>("datasets.search_text ILIKE ")
                .bind::<Text, _>(pattern)
                .sql(" ESCAPE '\\'"),
        )
    } else if term.chars().count() >= 3 {
        // FTS5's trigram tokenizer matches a quoted phrase as a substring.
        let phrase = format!("\"{}\"", term.replace('"', "\"\""));
        Box::new(
            sql::<Bool>(
                "datasets.seq IN (SELECT rowid FROM datasets_search WHERE datasets_search MATCH ",
            )
            .bind::<Text, _>(phrase)
            .sql(")"),
        )
    } else {
        // Shorter than a trigram: the index cannot help, scan instead.
        Box::new(
            sql::<Bool>("instr(lower(datasets.search_text), lower(")
                .bind::<Text, _>(term.to_owned())
                .sql(")) > 0"),
        )
    }
}

fn escape_like(term: &str) -> String {
    let mut out = String::with_capacity(term.len());
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_resolve() {
        assert_eq!(ByteRange::FromTo(0, 9).resolve(100), Some(0..10));
        assert_eq!(ByteRange::FromTo(90, 200).resolve(100), Some(90..100));
        assert_eq!(ByteRange::From(99).resolve(100), Some(99..100));
        assert_eq!(ByteRange::Last(10).resolve(100), Some(90..100));
        assert_eq!(ByteRange::Last(1000).resolve(100), Some(0..100));
        assert_eq!(ByteRange::From(100).resolve(100), None);
        assert_eq!(ByteRange::FromTo(5, 4).resolve(100), None);
        assert_eq!(ByteRange::Last(0).resolve(100), None);
    }

    #[test]
    fn tags_are_cleaned() {
        assert_eq!(
            clean_tags(&["交通".into(), " traffic ".into(), "交通".into()]).unwrap(),
            vec!["交通".to_owned(), "traffic".to_owned()]
        );
        assert!(clean_tags(&["two words".into()]).is_err());
        assert!(clean_tags(&["".into()]).is_err());
    }

    #[test]
    fn like_patterns_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
    }
}
