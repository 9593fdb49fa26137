//! Freezes: a regulator's emergency stop on a dataset, an account, a
//! classification of data or a destination abroad. While one is in force,
//! nothing under it is delivered, granted or sold — the delivery path, the
//! grant's creation and an order's placement all ask [`in_force`] when
//! they decide (the delivery in its plan's read, the others in their
//! write transactions), so a freeze applies from the next request on
//! every instance. The register keeps every freeze, lifted ones too.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{self, Classification, market_words};
use crate::error::{Code, Error, Result, on_unique_violation};
use crate::store::DbConnection;
use crate::store::schema::freezes;

market_words!(
    /// What a freeze stops: every delivery, grant and sale of one dataset;
    /// everything an account would receive, sell or deliver; every dataset
    /// of one classification (e.g. all `important` data); or everything to
    /// one territory abroad.
    FreezeScope {
        Dataset = "dataset",
        Account = "account",
        Classification = "classification",
        Destination = "destination",
    }
);

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Freeze {
    pub id: Uuid,
    pub scope: FreezeScope,
    /// A dataset's or account's id, a classification, or a country code.
    pub target: String,
    pub reason: String,
    pub frozen_by: Uuid,
    pub frozen_at: DateTime<Utc>,
    pub lifted: Option<Lifted>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Lifted {
    pub by: Uuid,
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::freezes)]
struct FreezeRow {
    id: String,
    scope: FreezeScope,
    target: String,
    reason: String,
    frozen_by: String,
    frozen_at: NaiveDateTime,
    lifted_by: Option<String>,
    lifted_at: Option<NaiveDateTime>,
    lift_reason: Option<String>,
}

impl FreezeRow {
    fn to_freeze(&self) -> Result<Freeze> {
        let lifted = match (&self.lifted_by, self.lifted_at) {
            (Some(by), Some(at)) => Some(Lifted {
                by: domain::id_from_db(by)?,
                at: domain::from_db_time(at),
                reason: self.lift_reason.clone().unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(Freeze {
            id: domain::id_from_db(&self.id)?,
            scope: self.scope,
            target: self.target.clone(),
            reason: self.reason.clone(),
            frozen_by: domain::id_from_db(&self.frozen_by)?,
            frozen_at: domain::from_db_time(self.frozen_at),
            lifted,
        })
    }
}

/// What a delivery, grant or sale would touch: the dataset, the accounts
/// on either side, the data's classification, and where it would go.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub dataset: Option<Uuid>,
    pub accounts: Vec<Uuid>,
    pub classification: Option<Classification>,
    /// A territory abroad (none for delivery at home).
    pub destination: Option<String>,
}

/// The refusal for an act under a freeze: `403 frozen`, naming it.
pub fn refusal(freeze: &Freeze) -> Error {
    Error::refused(
        Code::Frozen,
        format!(
            "a regulator froze this {} ({}): {}",
            match freeze.scope {
                FreezeScope::Dataset => "dataset",
                FreezeScope::Account => "account",
                FreezeScope::Classification => "class of data",
                FreezeScope::Destination => "destination",
            },
            freeze.target,
            freeze.reason
        ),
    )
    .with("freeze", freeze.id.to_string())
    .with("scope", freeze.scope.as_str())
}

/// The freeze in force over anything the probe touches, if one is.
pub fn in_force(conn: &mut DbConnection, probe: &Probe) -> Result<Option<Freeze>> {
    let mut wanted: Vec<(FreezeScope, String)> = Vec::new();
    if let Some(dataset) = probe.dataset {
        wanted.push((FreezeScope::Dataset, dataset.to_string()));
    }
    for account in &probe.accounts {
        wanted.push((FreezeScope::Account, account.to_string()));
    }
    if let Some(classification) = probe.classification {
        wanted.push((
            FreezeScope::Classification,
            classification.as_str().to_owned(),
        ));
    }
    if let Some(destination) = &probe.destination {
        wanted.push((FreezeScope::Destination, destination.clone()));
    }
    if wanted.is_empty() {
        return Ok(None);
    }
    // One statement per six targets (every probe asks at most six): six
    // index lookups joined by `UNION ALL`, the missing targets repeating the
    // first. Not `target IN (…)` or six `OR`ed comparisons: an `IN` list as
    // long as the probe is a statement of its own shape, prepared afresh on
    // every delivery, and SQLite answers either form by building a
    // temporary table of the values on every run, which cost more than the
    // six lookups (this is asked on every delivery).
    const SLOTS: usize = 6;
    let mut rows: Vec<FreezeRow> = Vec::new();
    for chunk in wanted.chunks(SLOTS) {
        let slot = |i: usize| chunk.get(i).unwrap_or(&chunk[0]).1.clone();
        rows.extend(crate::store::on_backend!(conn, c => {
            let in_force = |target: String| {
                freezes::table
                    .filter(freezes::lifted_at.is_null())
                    .filter(freezes::target.eq(target))
                    .select(FreezeRow::as_select())
            };
            in_force(slot(0))
                .union_all(in_force(slot(1)))
                .union_all(in_force(slot(2)))
                .union_all(in_force(slot(3)))
                .union_all(in_force(slot(4)))
                .union_all(in_force(slot(5)))
                .load::<FreezeRow>(c)
        })?);
    }
    rows.sort_by_key(|row| row.frozen_at);
    for row in rows {
        if wanted
            .iter()
            .any(|(scope, target)| *scope == row.scope && *target == row.target)
        {
            return Ok(Some(row.to_freeze()?));
        }
    }
    Ok(None)
}

/// Refuses with `403 frozen` when a freeze covers the probe.
pub fn check(conn: &mut DbConnection, probe: &Probe) -> Result<()> {
    match in_force(conn, probe)? {
        Some(freeze) => Err(refusal(&freeze)),
        None => Ok(()),
    }
}

/// Records a freeze; a target frozen already is `409 already-exists`.
pub fn freeze(
    conn: &mut DbConnection,
    scope: FreezeScope,
    target: &str,
    reason: &str,
    by: Uuid,
) -> Result<Freeze> {
    let id = domain::new_id();
    diesel::insert_into(freezes::table)
        .values((
            freezes::id.eq(id.to_string()),
            freezes::scope.eq(scope.as_str()),
            freezes::target.eq(target),
            freezes::reason.eq(reason),
            freezes::frozen_by.eq(by.to_string()),
            freezes::frozen_at.eq(domain::to_db_time(domain::now())),
        ))
        .execute(conn)
        .map_err(|e| {
            on_unique_violation(e, || {
                Error::refused(Code::AlreadyExists, "this target is frozen already")
            })
        })?;
    find(conn, id)?.ok_or_else(|| Error::Internal("a new freeze vanished".into()))
}

/// Lifts a freeze in force (one conditional update): `None` when it was
/// lifted already.
pub fn lift(conn: &mut DbConnection, id: Uuid, reason: &str, by: Uuid) -> Result<Option<Freeze>> {
    let changed = diesel::update(
        freezes::table
            .filter(freezes::id.eq(id.to_string()))
            .filter(freezes::lifted_at.is_null()),
    )
    .set((
        freezes::lifted_by.eq(by.to_string()),
        freezes::lifted_at.eq(domain::to_db_time(domain::now())),
        freezes::lift_reason.eq(reason),
    ))
    .execute(conn)?;
    if changed == 1 {
        find(conn, id)
    } else {
        Ok(None)
    }
}

pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<Freeze>> {
    freezes::table
        .find(id.to_string())
        .select(FreezeRow::as_select())
        .first::<FreezeRow>(conn)
        .optional()?
        .map(|row| row.to_freeze())
        .transpose()
}

/// Freezes, newest first: those in force, or all.
pub fn list(conn: &mut DbConnection, in_force_only: bool) -> Result<Vec<Freeze>> {
    let mut query = freezes::table
        .order(freezes::id.desc())
        .select(FreezeRow::as_select())
        .into_boxed();
    if in_force_only {
        query = query.filter(freezes::lifted_at.is_null());
    }
    query
        .load::<FreezeRow>(conn)?
        .iter()
        .map(FreezeRow::to_freeze)
        .collect()
}

/// Every freeze ever put on an account, newest first.
pub fn on_account(conn: &mut DbConnection, account: Uuid) -> Result<Vec<Freeze>> {
    freezes::table
        .filter(freezes::scope.eq(FreezeScope::Account))
        .filter(freezes::target.eq(account.to_string()))
        .order(freezes::id.desc())
        .select(FreezeRow::as_select())
        .load::<FreezeRow>(conn)?
        .iter()
        .map(FreezeRow::to_freeze)
        .collect()
}
