//! Reading the log: the filtered trail for people, and the raw entries with
//! their canonical bytes, stored tree nodes and signed heads for verifiers,
//! as pages or as a stream read from the database in batches.

use std::pin::Pin;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Binary, Text};
use futures_util::{Stream, StreamExt, TryStreamExt, stream};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::heads::{self, TreeHead};
use super::merkle::NodeId;
use super::{Action, EntryRecord, tree};
use crate::domain::{self, Actor};
use crate::error::{Code, Error, Result};
use crate::store::schema::{audit_entries, audit_entry_parties};
use crate::store::{Backend, Db, DbConnection};

/// Rows an export reads per query.
const EXPORT_BATCH: u32 = 500;

/// What an entry's canonical bytes say, besides its index. An entry whose
/// stored bytes are not a valid entry has none of these members, which is
/// why the API document marks them optional.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EntryFields {
    #[schema(required = false)]
    pub time: String,
    #[schema(required = false)]
    pub actor: Option<String>,
    #[schema(required = false)]
    pub action: String,
    #[schema(required = false)]
    pub dataset: Option<String>,
    #[schema(required = false)]
    pub subject: String,
    /// The actor and every account the entry concerns.
    #[schema(required = false)]
    pub parties: Vec<String>,
    #[schema(value_type = Object, required = false)]
    pub detail: Value,
}

/// A stored hash of a complete subtree.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NodeView {
    /// Height above the leaves (0 = the leaf itself).
    pub level: u8,
    /// Hex SHA-256.
    pub hash: String,
}

/// An entry as the API serves it: what its canonical bytes say, the bytes
/// themselves, and what the stored tree holds for it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EntryView {
    /// The entry's position in the log: its leaf index.
    pub index: u64,
    /// Parsed from `canonical`; absent when the stored bytes are not a valid
    /// entry (which `datamarket audit verify` reports).
    #[serde(flatten)]
    #[schema(value_type = EntryFields)]
    pub fields: Option<EntryFields>,
    /// The canonical bytes exactly as hashed (a JSON text, see docs/audit.md).
    pub canonical: String,
    /// Hex leaf hash stored with the entry.
    pub leaf_hash: String,
    /// The stored nodes the append of this entry completed, bottom-up: the
    /// leaf (level 0), then every subtree whose last leaf this entry is.
    pub nodes: Vec<NodeView>,
    /// The signed head of size `index + 1`, when a transaction committed the
    /// log at exactly that size.
    pub tree_head: Option<TreeHead>,
}

#[derive(Clone, Debug, Default)]
pub struct EntryFilter {
    pub after: Option<u64>,
    pub limit: u32,
    pub subject: Option<String>,
    pub actor: Option<Uuid>,
    /// Entries whose actor or parties include this account.
    pub account: Option<Uuid>,
    pub action: Option<String>,
    pub dataset: Option<Uuid>,
    /// Entries recorded at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Entries recorded before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Entries with an index at least this.
    pub start: Option<u64>,
    /// Entries with an index below this.
    pub end: Option<u64>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EntryPage {
    pub entries: Vec<EntryView>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next_after: Option<u64>,
}

/// Entries, one at a time, read in batches.
pub type EntryStream = Pin<Box<dyn Stream<Item = Result<EntryView>> + Send>>;

/// Auditors and regulators read the whole trail; any other account only its
/// own entries, by asking for them with `account=<its id>`.
fn authorize(actor: &Actor, filter: &EntryFilter) -> Result<()> {
    if actor.roles.is_oversight() || filter.account == Some(actor.id) {
        return Ok(());
    }
    Err(Error::refused(
        Code::WrongRole,
        "the audit trail needs the auditor or regulator role; other accounts may list the entries they are a party to with account=<their id>",
    ))
}

fn invalid(parameter: &str, detail: impl Into<String>) -> Error {
    Error::refused(Code::InvalidParameter, detail).with("parameter", parameter)
}

fn check(actor: &Actor, filter: &EntryFilter) -> Result<()> {
    authorize(actor, filter)?;
    if filter
        .action
        .as_deref()
        .is_some_and(|a| Action::parse(a).is_none())
    {
        return Err(invalid("action", "action: not a recorded action"));
    }
    if let (Some(start), Some(end)) = (filter.start, filter.end)
        && end < start
    {
        return Err(invalid("end", format!("end {end} is below start {start}")));
    }
    if let (Some(since), Some(until)) = (filter.since, filter.until)
        && until < since
    {
        return Err(invalid("until", "until is before since"));
    }
    Ok(())
}

type EntryRowType = (BigInt, Text, Binary);

/// The filtered entries after `after` and below `end`, in log order.
fn filtered(
    filter: &EntryFilter,
    after: Option<u64>,
    end: Option<u64>,
) -> audit_entries::BoxedQuery<'static, Backend, EntryRowType> {
    let mut query = audit_entries::table
        .select((
            audit_entries::idx,
            audit_entries::canonical,
            audit_entries::leaf_hash,
        ))
        .order(audit_entries::idx.asc())
        .into_boxed()
        .filter(tree::planned_afresh());
    let clamp = |i: u64| i64::try_from(i).unwrap_or(i64::MAX);
    if let Some(after) = after {
        query = query.filter(audit_entries::idx.gt(clamp(after)));
    }
    if let Some(start) = filter.start {
        query = query.filter(audit_entries::idx.ge(clamp(start)));
    }
    if let Some(end) = end {
        query = query.filter(audit_entries::idx.lt(clamp(end)));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_entries::created_at.ge(domain::to_db_time(since)));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_entries::created_at.lt(domain::to_db_time(until)));
    }
    if let Some(subject) = filter.subject.clone() {
        query = query.filter(audit_entries::subject.eq(subject));
    }
    if let Some(actor) = filter.actor {
        query = query.filter(audit_entries::actor_id.eq(actor.to_string()));
    }
    if let Some(account) = filter.account {
        query = query.filter(
            audit_entries::idx.eq_any(
                audit_entry_parties::table
                    .filter(audit_entry_parties::account_id.eq(account.to_string()))
                    .select(audit_entry_parties::idx),
            ),
        );
    }
    if let Some(action) = filter.action.clone() {
        query = query.filter(audit_entries::action.eq(action));
    }
    if let Some(dataset) = filter.dataset {
        query = query.filter(audit_entries::dataset_id.eq(dataset.to_string()));
    }
    query
}

/// Up to `limit` entries of the filter after `after` and below `end`, with
/// their stored nodes and heads (three queries, whatever the batch size).
fn load_batch(
    conn: &mut DbConnection,
    filter: &EntryFilter,
    after: Option<u64>,
    end: Option<u64>,
    limit: u32,
) -> Result<Vec<EntryView>> {
    let rows: Vec<(i64, String, Vec<u8>)> = filtered(filter, after, end)
        .limit(i64::from(limit))
        .load(conn)?;
    let mut ids = Vec::new();
    let mut head_sizes = Vec::with_capacity(rows.len());
    for (idx, _, _) in &rows {
        let index = *idx as u64;
        ids.extend(completed_by(index));
        head_sizes.push(idx + 1);
    }
    let nodes = tree::fetch(conn, &ids)?;
    let mut heads = heads::at_sizes(conn, head_sizes)?;
    rows.into_iter()
        .map(|(idx, canonical, leaf_hash)| {
            let index = u64::try_from(idx)
                .map_err(|_| Error::Internal(format!("stored audit index {idx}")))?;
            let fields = serde_json::from_str::<EntryRecord>(&canonical)
                .ok()
                .map(EntryFields::from);
            Ok(EntryView {
                index,
                fields,
                canonical,
                leaf_hash: hex::encode(leaf_hash),
                nodes: completed_by(index)
                    .filter_map(|id| {
                        nodes.get(&id).map(|hash| NodeView {
                            level: id.level,
                            hash: hex::encode(hash),
                        })
                    })
                    .collect(),
                tree_head: heads.remove(&(index + 1)),
            })
        })
        .collect()
}

/// The nodes the append of leaf `index` completed, bottom-up.
fn completed_by(index: u64) -> impl Iterator<Item = NodeId> {
    (0..=index.trailing_ones()).map(move |level| NodeId {
        level: level as u8,
        index: index >> level,
    })
}

impl From<EntryRecord> for EntryFields {
    fn from(r: EntryRecord) -> Self {
        EntryFields {
            time: r.time,
            actor: r.actor,
            action: r.action,
            dataset: r.dataset,
            subject: r.subject,
            parties: r.parties,
            detail: r.detail,
        }
    }
}

/// One page of the filtered trail, in log order.
pub async fn list(db: &Db, actor: &Actor, filter: EntryFilter) -> Result<EntryPage> {
    check(actor, &filter)?;
    db.read(move |conn| {
        let mut entries = load_batch(conn, &filter, filter.after, filter.end, filter.limit + 1)?;
        let more = entries.len() > filter.limit as usize;
        entries.truncate(filter.limit as usize);
        let next_after = if more {
            entries.last().map(|e| e.index)
        } else {
            None
        };
        Ok(EntryPage {
            entries,
            next_after,
        })
    })
    .await
}

/// Every entry of the filter (no page limit), streamed: the database is read
/// `EXPORT_BATCH` rows at a time as the consumer asks for more. The export
/// stops at the log's size when it began (or `end`, if lower), so that it
/// ends however fast the log grows.
pub async fn export(db: &Db, actor: &Actor, filter: EntryFilter) -> Result<EntryStream> {
    check(actor, &filter)?;
    let size = db.read(tree::log_size).await?;
    let end = filter.end.map_or(size, |end| end.min(size));
    let first = filter.after;
    let batches = stream::try_unfold(
        (db.clone(), filter, first, false),
        move |(db, filter, after, done)| async move {
            if done {
                return Ok::<_, Error>(None);
            }
            let query = filter.clone();
            let batch = db
                .read(move |conn| load_batch(conn, &query, after, Some(end), EXPORT_BATCH))
                .await?;
            if batch.is_empty() {
                return Ok(None);
            }
            let done = batch.len() < EXPORT_BATCH as usize;
            let after = batch.last().map(|e| e.index);
            Ok(Some((batch, (db, filter, after, done))))
        },
    );
    Ok(batches
        .map_ok(|batch| stream::iter(batch.into_iter().map(Ok)))
        .try_flatten()
        .boxed())
}
