//! The catalog's rows as the store keeps them, and the reads every part of
//! the catalog shares: a listing by id, a listing the actor may see.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use super::types::{Dataset, Price, Review, Version, VersionStatus};
use crate::access::{self, Listing};
use crate::audit::{self, Action, Entry};
use crate::domain::jurisdiction::Sector;
use crate::domain::{self, Actor, Classification, DatasetStatus};
use crate::error::{Code, Error, Result};
use crate::store::schema::{dataset_versions, datasets};
use crate::store::{DbConnection, on_backend};

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::datasets)]
pub struct DatasetRow {
    pub id: String,
    pub provider_id: String,
    pub title: String,
    pub description: String,
    pub tags: String,
    pub classification: Classification,
    pub personal_data: bool,
    pub license: String,
    pub price_amount: i64,
    pub price_currency: String,
    pub status: DatasetStatus,
    pub review_reason: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub latest_version: i32,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub listed_at: Option<NaiveDateTime>,
    pub reviewed_classification: Option<Classification>,
    pub inherited_classification: Option<Classification>,
    pub inherited_personal_data: bool,
    pub sector: Option<Sector>,
}

/// The rule on jurisdictions for a dataset: a regulator acts on it only
/// when its provider's region and its sector fall in its jurisdiction.
pub fn require_within(conn: &mut DbConnection, actor: &Actor, row: &DatasetRow) -> Result<()> {
    if !actor.roles.contains(domain::Role::Regulator) {
        return Ok(());
    }
    let region = crate::accounts::region_of(conn, row.provider()?)?;
    crate::accounts::require_within(conn, actor, region.as_deref(), row.sector_name())
}

/// A regulator's verdict as the rows keep it.
fn review_of(
    by: &Option<String>,
    at: Option<NaiveDateTime>,
    reason: &Option<String>,
) -> Result<Option<Review>> {
    match (by, at) {
        (Some(reviewer), Some(at)) => Ok(Some(Review {
            reason: reason.clone(),
            reviewer: domain::id_from_db(reviewer)?,
            at: domain::from_db_time(at),
        })),
        _ => Ok(None),
    }
}

impl DatasetRow {
    pub fn uuid(&self) -> Result<Uuid> {
        domain::id_from_db(&self.id)
    }

    /// Whether it holds personal information, or is derived from data that
    /// does.
    pub fn personal(&self) -> bool {
        self.personal_data || self.inherited_personal_data
    }

    /// Its sector's name, for jurisdictions.
    pub fn sector_name(&self) -> Option<&'static str> {
        self.sector.map(|s| s.as_str())
    }

    pub fn provider(&self) -> Result<Uuid> {
        domain::id_from_db(&self.provider_id)
    }

    /// What the rule book needs to know of it.
    pub fn listing(&self) -> Result<Listing> {
        Ok(Listing {
            id: self.uuid()?,
            status: self.status,
        })
    }

    pub fn tag_list(&self) -> Result<Vec<String>> {
        serde_json::from_str(&self.tags)
            .map_err(|e| Error::Internal(format!("stored tags are not JSON: {e}")))
    }

    pub fn into_dataset(self) -> Result<Dataset> {
        let review = review_of(&self.reviewed_by, self.reviewed_at, &self.review_reason)?;
        Ok(Dataset {
            id: self.uuid()?,
            provider: self.provider()?,
            tags: self.tag_list()?,
            classification: self.classification,
            status: self.status,
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
            inherited_classification: self.inherited_classification,
            inherited_personal_data: self.inherited_personal_data,
            sector: self.sector,
        })
    }
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::dataset_versions)]
pub struct VersionRow {
    pub dataset_id: String,
    pub number: i32,
    pub media_type: String,
    pub size: i64,
    pub sha256: String,
    pub object_key: String,
    pub created_at: NaiveDateTime,
    pub status: VersionStatus,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub review_reason: Option<String>,
}

impl VersionRow {
    pub fn version(&self) -> Result<Version> {
        Ok(Version {
            version: self.number,
            sha256: self.sha256.clone(),
            size: self.size.max(0) as u64,
            media_type: self.media_type.clone(),
            created_at: domain::from_db_time(self.created_at),
            status: self.status,
            review: review_of(&self.reviewed_by, self.reviewed_at, &self.review_reason)?,
        })
    }
}

/// One listing, whoever asks.
pub fn load(conn: &mut DbConnection, id: Uuid) -> Result<Option<DatasetRow>> {
    Ok(on_backend!(conn, c => datasets::table
        .find(id.to_string())
        .select(DatasetRow::as_select())
        .first::<DatasetRow>(c)
        .optional())?)
}

/// Loads a listing the actor may see; anything else is "not found", so that
/// drafts do not leak through the difference between 403 and 404.
pub fn load_visible(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    id: Uuid,
) -> Result<DatasetRow> {
    match load(conn, id)? {
        Some(row) if access::can_see(conn, actor, &row.listing()?)? => Ok(row),
        _ => Err(Error::not_found("dataset")),
    }
}

/// Loads a listing the actor may see and act on: 404 for one it may not
/// know of, 403 for one it sees but may not `act` on (one read of the
/// rights register for both).
pub fn load_for(
    conn: &mut DbConnection,
    actor: &Actor,
    id: Uuid,
    act: access::Act,
) -> Result<DatasetRow> {
    let row = load(conn, id)?;
    allowed(conn, actor, act, row)
}

/// The listing found, if the actor may `act` on it (see [`load_for`]).
fn allowed(
    conn: &mut DbConnection,
    actor: &Actor,
    act: access::Act,
    found: Option<DatasetRow>,
) -> Result<DatasetRow> {
    let row = found.ok_or_else(|| Error::not_found("dataset"))?;
    access::require(conn, actor, act, &row.listing()?)?;
    Ok(row)
}

/// [`load_for`] on the row locked for the rest of the write transaction, as
/// [`crate::store::lock_row!`] locks it, in the same statement that reads
/// it: on PostgreSQL `SELECT … FOR UPDATE`, one round trip where the lock
/// and the read were two.
pub fn load_locked_for(
    conn: &mut DbConnection,
    actor: &Actor,
    id: Uuid,
    act: access::Act,
) -> Result<DatasetRow> {
    let row = match conn {
        DbConnection::Postgres(pg) => datasets::table
            .find(id.to_string())
            .select(DatasetRow::as_select())
            .for_update()
            .first::<DatasetRow>(pg)
            .optional()?,
        DbConnection::Sqlite(_) => load(conn, id)?,
    };
    allowed(conn, actor, act, row)
}

/// Several listings by id, whoever asks.
pub fn load_many(conn: &mut DbConnection, ids: &[String]) -> Result<Vec<DatasetRow>> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        rows.extend(
            datasets::table
                .filter(datasets::id.eq_any(chunk))
                .select(DatasetRow::as_select())
                .load::<DatasetRow>(conn)?,
        );
    }
    Ok(rows)
}

/// One version of a listing.
pub fn find_version(conn: &mut DbConnection, id: Uuid, number: i32) -> Result<VersionRow> {
    on_backend!(conn, c => dataset_versions::table
        .find((id.to_string(), number))
        .select(VersionRow::as_select())
        .first::<VersionRow>(c)
        .optional())?
    .ok_or_else(|| Error::not_found("version"))
}

/// Whether the listing has this version.
pub fn version_exists(conn: &mut DbConnection, id: Uuid, number: i32) -> Result<bool> {
    let count: i64 = dataset_versions::table
        .find((id.to_string(), number))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// The SHA-256 of the listing's newest payload, if it has one.
/// The number of a dataset's newest version, if it has one.
pub fn latest_version(conn: &mut DbConnection, id: Uuid) -> Result<Option<i32>> {
    Ok(dataset_versions::table
        .filter(dataset_versions::dataset_id.eq(id.to_string()))
        .select(diesel::dsl::max(dataset_versions::number))
        .first::<Option<i32>>(conn)?)
}

pub fn latest_sha256(conn: &mut DbConnection, id: Uuid) -> Result<Option<String>> {
    Ok(dataset_versions::table
        .filter(dataset_versions::dataset_id.eq(id.to_string()))
        .order(dataset_versions::number.desc())
        .select(dataset_versions::sha256)
        .first(conn)
        .optional()?)
}

/// The versions of several listings, in order, for provenance documents.
pub fn versions_of(conn: &mut DbConnection, ids: &[String]) -> Result<Vec<VersionRow>> {
    let mut rows = Vec::new();
    for chunk in ids.chunks(500) {
        rows.extend(
            dataset_versions::table
                .filter(dataset_versions::dataset_id.eq_any(chunk))
                .order((
                    dataset_versions::dataset_id.asc(),
                    dataset_versions::number.asc(),
                ))
                .select(VersionRow::as_select())
                .load::<VersionRow>(conn)?,
        );
    }
    Ok(rows)
}

/// Every version's payload: its object key and size in bytes, by key. A
/// backup checks with it that its copy of the payloads holds each one.
pub fn payloads(conn: &mut DbConnection) -> Result<Vec<(String, i64)>> {
    Ok(dataset_versions::table
        .order(dataset_versions::object_key.asc())
        .select((dataset_versions::object_key, dataset_versions::size))
        .load(conn)?)
}

pub(super) fn invalid_state(row: &DatasetRow, doing: &str) -> Error {
    Error::refused(
        Code::InvalidState,
        format!("cannot {doing} a dataset that is {}", row.status),
    )
    .with("current_status", row.status.as_str())
}

/// Records a change to a listing; its provider is a party to it.
pub(super) fn audit_dataset(
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
            parties: vec![row.provider()?],
            detail,
        },
    )
}
