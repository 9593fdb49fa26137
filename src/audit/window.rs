//! The log read forward, as the early-warning watch reads it: the entries
//! after a position, and the entries about one account or one subject in a
//! window of time, for rules that count what happened.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::Value;
use uuid::Uuid;

use super::{Action, EntryRecord, merkle};
use crate::domain;
use crate::error::{Error, Result};
use crate::store::DbConnection;
use crate::store::schema::{audit_entries, audit_entry_parties};

/// The index and action word of every entry in `from..to`, oldest first,
/// as stored (unchecked against the leaf: for a look that only needs to
/// know what kind of changes happened).
pub fn actions_between(conn: &mut DbConnection, from: u64, to: u64) -> Result<Vec<(u64, String)>> {
    let rows: Vec<(i64, String)> = audit_entries::table
        .filter(audit_entries::idx.ge(from as i64))
        .filter(audit_entries::idx.lt(to as i64))
        .order(audit_entries::idx.asc())
        .select((audit_entries::idx, audit_entries::action))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(index, action)| (index.max(0) as u64, action))
        .collect())
}

/// An entry as its canonical bytes say, for a rule to look at.
#[derive(Clone, Debug)]
pub struct Seen {
    pub index: u64,
    pub time: DateTime<Utc>,
    pub actor: Option<Uuid>,
    pub action: Action,
    pub dataset: Option<Uuid>,
    pub subject: String,
    pub detail: Value,
}

/// The entries of `actions` with an index in `from..to`, oldest first. An
/// entry whose bytes no longer hash to its leaf is left out: a rule must not
/// act on what the log cannot prove.
pub fn entries_between(
    conn: &mut DbConnection,
    from: u64,
    to: u64,
    actions: &[Action],
) -> Result<Vec<Seen>> {
    let names: Vec<&str> = actions.iter().map(|a| a.as_str()).collect();
    let rows: Vec<(String, Vec<u8>)> = audit_entries::table
        .filter(audit_entries::idx.ge(from as i64))
        .filter(audit_entries::idx.lt(to as i64))
        .filter(audit_entries::action.eq_any(names))
        .order(audit_entries::idx.asc())
        .select((audit_entries::canonical, audit_entries::leaf_hash))
        .load(conn)?;
    let mut seen = Vec::with_capacity(rows.len());
    for (canonical, leaf) in rows {
        if merkle::leaf_hash(canonical.as_bytes()).as_slice() != leaf.as_slice() {
            continue;
        }
        let record: EntryRecord = serde_json::from_str(&canonical)
            .map_err(|e| Error::Internal(format!("log entry: {e}")))?;
        let id = |s: &Option<String>| s.as_deref().map(domain::id_from_db).transpose();
        seen.push(Seen {
            index: record.index,
            time: DateTime::parse_from_rfc3339(&record.time)
                .map_err(|e| Error::Internal(format!("log entry time: {e}")))?
                .with_timezone(&Utc),
            actor: id(&record.actor)?,
            action: Action::from_db(&record.action)?,
            dataset: id(&record.dataset)?,
            subject: record.subject,
            detail: record.detail,
        });
    }
    Ok(seen)
}

/// Whose entries a window counts.
#[derive(Clone, Copy, Debug)]
pub enum About<'a> {
    /// The account that acted.
    Actor(Uuid),
    /// The thing that changed (a grant's, a dataset's id).
    Subject(&'a str),
}

/// One entry a window counted.
#[derive(Clone, Debug)]
pub struct Hit {
    pub index: u64,
    pub dataset: Option<String>,
    pub subject: String,
}

/// Entries of one action about one account or subject recorded after
/// `since` and up to `until`: how many, and the newest `keep` of them.
pub fn in_window(
    conn: &mut DbConnection,
    action: Action,
    about: About,
    since: DateTime<Utc>,
    until: DateTime<Utc>,
    keep: i64,
) -> Result<(i64, Vec<Hit>)> {
    let query = || {
        let query = audit_entries::table
            .filter(audit_entries::action.eq(action.as_str()))
            .filter(audit_entries::created_at.gt(domain::to_db_time(since)))
            .filter(audit_entries::created_at.le(domain::to_db_time(until)))
            .into_boxed();
        match about {
            About::Actor(actor) => query.filter(audit_entries::actor_id.eq(actor.to_string())),
            About::Subject(subject) => query.filter(audit_entries::subject.eq(subject.to_owned())),
        }
    };
    let count: i64 = query().count().get_result(conn)?;
    if keep == 0 || count == 0 {
        return Ok((count, vec![]));
    }
    let newest: Vec<(i64, Option<String>, String)> = query()
        .order(audit_entries::idx.desc())
        .limit(keep)
        .select((
            audit_entries::idx,
            audit_entries::dataset_id,
            audit_entries::subject,
        ))
        .load(conn)?;
    Ok((
        count,
        newest
            .into_iter()
            .map(|(index, dataset, subject)| Hit {
                index: index as u64,
                dataset,
                subject,
            })
            .collect(),
    ))
}

/// The indexes of the entries of one action about any of `subjects`, in
/// order. Inside a change it includes those its batch logged and has not
/// written yet ([`super::unwritten_indexes`]).
pub fn indexes_about(
    conn: &mut DbConnection,
    action: Action,
    subjects: &[String],
) -> Result<Vec<u64>> {
    let found: Vec<i64> = audit_entries::table
        .filter(audit_entries::action.eq(action.as_str()))
        .filter(audit_entries::subject.eq_any(subjects))
        .order(audit_entries::idx.asc())
        .select(audit_entries::idx)
        .load(conn)?;
    let mut found: Vec<u64> = found.into_iter().map(|i| i as u64).collect();
    found.extend(super::unwritten_indexes(action, subjects));
    found.sort_unstable();
    found.dedup();
    Ok(found)
}

/// How many entries the log holds, as this transaction sees it.
pub fn logged(conn: &mut DbConnection) -> Result<u64> {
    super::tree::log_size(conn)
}

/// The accounts each entry with an index in `from..to` concerns (its actor
/// and parties), for entries that have any.
pub fn parties_between(
    conn: &mut DbConnection,
    from: u64,
    to: u64,
) -> Result<std::collections::HashMap<u64, Vec<Uuid>>> {
    let rows: Vec<(i64, String)> = audit_entry_parties::table
        .filter(audit_entry_parties::idx.ge(from as i64))
        .filter(audit_entry_parties::idx.lt(to as i64))
        .select((audit_entry_parties::idx, audit_entry_parties::account_id))
        .load(conn)?;
    let mut parties: std::collections::HashMap<u64, Vec<Uuid>> = std::collections::HashMap::new();
    for (index, account) in rows {
        parties
            .entry(index as u64)
            .or_default()
            .push(domain::id_from_db(&account)?);
    }
    Ok(parties)
}

/// Whether the log shows `dataset` listed when the entry at `index` was
/// written: the newest publication, review or delisting before that entry
/// that decided its status left it listed.
pub fn listed_at(conn: &mut DbConnection, dataset: Uuid, index: u64) -> Result<bool> {
    let deciding: Vec<(String, String)> = audit_entries::table
        .filter(audit_entries::dataset_id.eq(dataset.to_string()))
        .filter(audit_entries::idx.lt(index as i64))
        .filter(audit_entries::action.eq_any([
            Action::DatasetPublished.as_str(),
            Action::DatasetReviewed.as_str(),
            Action::DatasetDelisted.as_str(),
        ]))
        .order(audit_entries::idx.desc())
        .select((audit_entries::action, audit_entries::canonical))
        .limit(20)
        .load(conn)?;
    for (action, canonical) in deciding {
        if action == Action::DatasetDelisted.as_str() {
            return Ok(false);
        }
        let record: EntryRecord = serde_json::from_str(&canonical)
            .map_err(|e| Error::Internal(format!("log entry: {e}")))?;
        if listing_status(&record.detail) == Some("listed") {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The listing status a publication or review entry records.
pub fn listing_status(detail: &Value) -> Option<&str> {
    detail.get("status").and_then(Value::as_str)
}
