//! Versions: immutable revisions of a listing's payload, streamed into the
//! object store with their SHA-256 and size computed on the way, and read
//! back whole or by byte range.

use std::ops::Range;

use bytes::Bytes;
use diesel::prelude::*;
use futures_util::Stream;
use serde_json::json;
use uuid::Uuid;

use super::rows::{DatasetRow, VersionRow, find_version, load_for, load_locked_for, load_visible};
use super::types::{Version, VersionReviewInput, VersionStatus};
use crate::access::Act;
use crate::audit::{self, Action, Entry, Recorded};
use crate::domain::text::Reason;
use crate::domain::{self, Actor, Classification, DatasetStatus, Decision, Role};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::objects::{self, PutError};
use crate::store::schema::{dataset_versions, datasets};

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
            .read(move |conn| load_for(conn, &actor, id, Act::AddVersion).map(|_| ()))
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
            // Checked again: the right may have moved during the upload. The
            // row is locked first: whether the version needs review rests on
            // its classification and status.
            let row = load_locked_for(conn, &actor, id, Act::AddVersion)?;
            let created_at = domain::now();
            let status = if needs_review(&row) {
                VersionStatus::PendingReview
            } else {
                VersionStatus::Available
            };
            // Taking the number by incrementing the row (not from the row
            // read above) locks it: two uploads finishing at once get
            // consecutive numbers instead of one of them a key conflict.
            diesel::update(datasets::table.find(id.to_string()))
                .set((
                    datasets::latest_version.eq(datasets::latest_version + 1),
                    datasets::updated_at.eq(domain::to_db_time(created_at)),
                ))
                .execute(conn)?;
            let number: i32 = datasets::table
                .find(id.to_string())
                .select(datasets::latest_version)
                .first(conn)?;
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
                    dataset_versions::status.eq(status),
                ))
                .execute(conn)?;
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::VersionAdded,
                    dataset: Some(id),
                    subject: format!("{id}/{number}"),
                    parties: vec![row.provider()?],
                    detail: json!({
                        "version": number,
                        "sha256": sha256,
                        "size": size,
                        "media_type": media_type,
                        "status": status,
                    }),
                },
            )?;
            Ok(Recorded::new(
                find_version(conn, id, number)?.version()?,
                vec![index],
            ))
        })
        .await
}

/// Whether a new version must wait for a regulator before it is delivered
/// under grants: important data whose listing a regulator already reviewed
/// (while a listing waits for review, its review covers its versions).
fn needs_review(row: &DatasetRow) -> bool {
    row.classification >= Classification::Important
        && row.reviewed_at.is_some()
        && row.status != DatasetStatus::PendingReview
}

/// A regulator's decision on a version waiting for review.
pub async fn review_version(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    number: i32,
    input: VersionReviewInput,
) -> Result<Recorded<Version>> {
    actor.require_any(&[Role::Regulator])?;
    let reason = Reason::parse_optional("reason", input.reason.as_deref())?;
    if input.decision == Decision::Reject && reason.is_none() {
        return Err(Error::invalid("reason", "a rejection needs a reason"));
    }
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = load_visible(conn, Some(&actor), id)?;
            super::rows::require_within(conn, &actor, &row)?;
            let version = find_version(conn, id, number)?;
            let next = match input.decision {
                Decision::Approve => VersionStatus::Available,
                Decision::Reject => VersionStatus::Rejected,
            };
            let now = domain::to_db_time(domain::now());
            let changed = diesel::update(
                dataset_versions::table
                    .filter(dataset_versions::dataset_id.eq(id.to_string()))
                    .filter(dataset_versions::number.eq(number))
                    .filter(dataset_versions::status.eq(VersionStatus::PendingReview)),
            )
            .set((
                dataset_versions::status.eq(next),
                dataset_versions::reviewed_by.eq(actor.id.to_string()),
                dataset_versions::reviewed_at.eq(now),
                dataset_versions::review_reason.eq(reason.as_ref().map(Reason::as_str)),
            ))
            .execute(conn)?;
            if changed != 1 {
                let current = find_version(conn, id, number)?.status;
                return Err(Error::refused(
                    Code::InvalidState,
                    format!("cannot review a version that is {current}"),
                )
                .with("current_status", current.as_str()));
            }
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::VersionReviewed,
                    dataset: Some(id),
                    subject: format!("{id}/{number}"),
                    parties: vec![row.provider()?],
                    detail: json!({
                        "decision": input.decision,
                        "reason": reason,
                        "status": next,
                        "sha256": version.sha256,
                    }),
                },
            )?;
            Ok(Recorded::new(
                find_version(conn, id, number)?.version()?,
                vec![index],
            ))
        })
        .await
}

/// Approves every version of a listing that waits for review, as part of
/// the regulator's approval of the listing itself.
pub(super) fn approve_pending(
    conn: &mut crate::store::DbConnection,
    id: Uuid,
    reviewer: Uuid,
) -> Result<usize> {
    let now = domain::to_db_time(domain::now());
    Ok(diesel::update(
        dataset_versions::table
            .filter(dataset_versions::dataset_id.eq(id.to_string()))
            .filter(dataset_versions::status.eq(VersionStatus::PendingReview)),
    )
    .set((
        dataset_versions::status.eq(VersionStatus::Available),
        dataset_versions::reviewed_by.eq(reviewer.to_string()),
        dataset_versions::reviewed_at.eq(now),
    ))
    .execute(conn)?)
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
            rows.iter().map(VersionRow::version).collect()
        })
        .await
}

/// Opens a version's payload, whole or a byte range.
pub async fn fetch(
    market: &Market,
    id: Uuid,
    row: VersionRow,
    range: Option<ByteRange>,
) -> Result<Content> {
    let version = row.version()?;
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
        .get(&row.object_key, resolved.clone(), version.size)
        .await?;
    Ok(Content {
        dataset: id,
        version,
        range: fetched.range,
        partial: resolved.is_some(),
        body: fetched.body,
    })
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
}
