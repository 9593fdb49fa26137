//! The audit trail: every state change appends an entry in the change's own
//! transaction, so the two commit together or not at all.
//!
//! An entry's canonical bytes are the UTF-8 JSON object
//! `{"action","actor","dataset","detail","index","subject","time","v"}` with
//! members sorted by name at every level, no insignificant whitespace,
//! integers only and strings escaped as `serde_json` escapes them (which
//! matches RFC 8785 for the values the market writes); `time` is RFC 3339
//! UTC with six fractional digits. The leaf hash is
//! `SHA-256(0x00 || canonical)` as in RFC 6962.
//!
//! The entries are the leaves of an RFC 6962 Merkle tree ([`tree`]), whose
//! heads are signed as C2SP checkpoints ([`heads`], [`checkpoint`]); proofs
//! come from [`proofs`], and [`verify`] is the offline verifier. See
//! docs/audit.md.

pub mod checkpoint;
pub mod cosignature;
mod cosigned;
mod entries;
mod heads;
pub mod merkle;
mod proofs;
mod tree;
pub mod verify;
pub mod window;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::domain::{self, Actor, Role, market_words};
use crate::error::{Error, Result};
use crate::store::DbConnection;
use crate::store::schema::{audit_entries, audit_entry_parties, audit_log_head};

pub use cosigned::{configured_witnesses, last_cosigned, record_cosignature, witnessed_checkpoint};
pub use entries::{
    EntryFields, EntryFilter, EntryPage, EntryStream, EntryView, NodeView, export, list,
};
pub use heads::{Sealer, TreeHead, catch_up, catch_up_in, checkpoint, recent_heads, tree_head};
pub use merkle::leaf_hash;
pub use proofs::{ConsistencyProof, InclusionProof, consistency_proof, inclusion_proof};

/// Version of the canonical entry format.
pub const ENTRY_FORMAT: i64 = 1;

market_words!(
    /// What happened, as recorded in the log.
    Action {
        AccountCreated = "account.created",
        AccountLogin = "account.login",
        AccountLoginFailed = "account.login_failed",
        AccountSuspended = "account.suspended",
        AccountVerified = "account.verified",
        AccountJurisdictionSet = "account.jurisdiction_set",
        AccountReinstated = "account.reinstated",
        DatasetCreated = "dataset.created",
        DatasetUpdated = "dataset.updated",
        DatasetPublished = "dataset.published",
        DatasetReviewed = "dataset.reviewed",
        DatasetDelisted = "dataset.delisted",
        VersionAdded = "version.added",
        VersionReviewed = "version.reviewed",
        RightRegistered = "right.registered",
        RightTransferred = "right.transferred",
        RightDelegated = "right.delegated",
        DerivationRecorded = "derivation.recorded",
        AccessRequestCreated = "access_request.created",
        AccessRequestApproved = "access_request.approved",
        AccessRequestRejected = "access_request.rejected",
        AccessRequestWithdrawn = "access_request.withdrawn",
        AccessRequestExpired = "access_request.expired",
        AccessRequestReviewed = "access_request.reviewed",
        GrantCreated = "grant.created",
        GrantRevoked = "grant.revoked",
        GrantExpired = "grant.expired",
        GrantExpiring = "grant.expiring",
        DataTokenIssued = "data_token.issued",
        DeliveryCompleted = "delivery.completed",
        DeliveryRefused = "delivery.refused",
        OfferCreated = "offer.created",
        OfferRevised = "offer.revised",
        OfferWithdrawn = "offer.withdrawn",
        OrderPlaced = "order.placed",
        OrderPaid = "order.paid",
        OrderFulfilled = "order.fulfilled",
        OrderSettled = "order.settled",
        OrderCancelled = "order.cancelled",
        OrderDeclined = "order.declined",
        OrderExpired = "order.expired",
        OrderRefunded = "order.refunded",
        LedgerPosted = "ledger.posted",
        PaymentReceived = "payment.received",
        PayoutRequested = "payout.requested",
        PayoutPaid = "payout.paid",
        PayoutRejected = "payout.rejected",
        FreezeImposed = "freeze.imposed",
        FreezeLifted = "freeze.lifted",
        IncidentRecorded = "incident.recorded",
        ComplaintFiled = "complaint.filed",
        ComplaintDecided = "complaint.decided",
        AlertRaised = "alert.raised",
        AlertAcknowledged = "alert.acknowledged",
        AlertResolved = "alert.resolved",
        WebhookRegistered = "webhook.registered",
        WebhookRemoved = "webhook.removed",
        WebhookRedelivered = "webhook.redelivered",
        DspNegotiationRequested = "dsp_negotiation.requested",
        DspNegotiationAgreed = "dsp_negotiation.agreed",
        DspNegotiationVerified = "dsp_negotiation.verified",
        DspNegotiationFinalized = "dsp_negotiation.finalized",
        DspNegotiationTerminated = "dsp_negotiation.terminated",
        DspTransferRequested = "dsp_transfer.requested",
        DspTransferStarted = "dsp_transfer.started",
        DspTransferSuspended = "dsp_transfer.suspended",
        DspTransferCompleted = "dsp_transfer.completed",
        DspTransferTerminated = "dsp_transfer.terminated",
    }
);

/// The log as one connection sees it: its size (the head row every append
/// updates) and its newest signed head. Read inside a snapshot (a backup),
/// it describes exactly the log the snapshot holds.
#[derive(Clone, Debug)]
pub struct LogState {
    pub size: u64,
    pub head: Option<TreeHead>,
}

/// The log's [`LogState`] on `conn`.
pub fn state(conn: &mut DbConnection) -> Result<LogState> {
    Ok(LogState {
        size: tree::log_size(conn)?,
        head: heads::latest(conn)?,
    })
}

/// A state change to record.
#[derive(Clone, Debug)]
pub struct Entry {
    pub actor: Option<Uuid>,
    pub action: Action,
    pub dataset: Option<Uuid>,
    /// The identifier of the thing that changed.
    pub subject: String,
    /// Accounts the change concerns besides the actor (a dataset's provider,
    /// a grant's licensor and licensee): they may read and prove the entry.
    pub parties: Vec<Uuid>,
    pub detail: Value,
}

impl Entry {
    /// The actor and the parties, each once, in order.
    fn all_parties(&self) -> Vec<Uuid> {
        let mut all: Vec<Uuid> = self
            .actor
            .iter()
            .chain(self.parties.iter())
            .copied()
            .collect();
        all.sort();
        all.dedup();
        all
    }
}

/// A service result together with the audit indexes its change wrote, so a
/// party can later ask for their inclusion proofs.
#[derive(Debug)]
pub struct Recorded<T> {
    pub value: T,
    pub audit_indexes: Vec<u64>,
}

impl<T> Recorded<T> {
    pub fn new(value: T, audit_indexes: Vec<u64>) -> Self {
        Recorded {
            value,
            audit_indexes,
        }
    }
}

/// Audit rows not yet written: one change's, gathered while it runs, or a
/// whole batch's, written as it ends in a few statements (on PostgreSQL
/// one for the lot, instead of five or more per entry), see
/// [`around_change`].
#[derive(Default)]
struct Pending {
    /// The batch's next index when the change started, to go back to if it
    /// fails.
    start: Option<i64>,
    /// The tree's right edge when the change started, likewise.
    edge: Option<merkle::CompactRange>,
    entries: Vec<EntryRow>,
    parties: Vec<(String, i64)>,
    nodes: Vec<(merkle::NodeId, merkle::Hash)>,
}

struct EntryRow {
    idx: i64,
    created_at: chrono::NaiveDateTime,
    actor_id: Option<String>,
    action: Action,
    dataset_id: Option<String>,
    subject: String,
    canonical: String,
    leaf_hash: Vec<u8>,
}

/// The log's head as a batch moves it: the size it found, and the next
/// index to give out. The head row is written once, as the batch ends.
#[derive(Clone, Copy)]
struct BatchHead {
    found: i64,
    next: i64,
}

thread_local! {
    /// The change the database writer is running on this thread, if its
    /// entries are being gathered.
    static PENDING: std::cell::RefCell<Option<Pending>> = const { std::cell::RefCell::new(None) };
    /// The head of the batch the writer is running on this thread.
    static BATCH: std::cell::Cell<Option<BatchHead>> = const { std::cell::Cell::new(None) };
    /// The rows of the batch's changes that succeeded so far, written as it
    /// ends.
    static BATCH_ROWS: std::cell::RefCell<Pending> = std::cell::RefCell::new(Pending::default());
    /// The size the batch ending on this thread grew the log to, for the
    /// sealer that runs next in the same transaction.
    static GREW_TO: std::cell::Cell<Option<u64>> = const { std::cell::Cell::new(None) };
}

/// The size the batch now ending on this thread grew the log to, holding
/// its head row throughout; `None` when it appended nothing (or this is no
/// batch). Read once, by the sealer.
pub(crate) fn take_batch_growth() -> Option<u64> {
    GREW_TO.with(std::cell::Cell::take)
}

/// The indexes of the entries appended on this thread that are not written
/// yet — the running batch's, kept until it ends, and the running change's
/// own — of `action` about any of `subjects`. A read of the log inside a
/// change adds these to what it finds in the database, or it would miss
/// what its batch-mates logged.
pub(crate) fn unwritten_indexes(action: Action, subjects: &[String]) -> Vec<u64> {
    let matching = |rows: &Pending| -> Vec<u64> {
        rows.entries
            .iter()
            .filter(|e| e.action == action && subjects.contains(&e.subject))
            .filter_map(|e| u64::try_from(e.idx).ok())
            .collect()
    };
    let mut found = BATCH_ROWS.with(|r| matching(&r.borrow()));
    PENDING.with(|p| {
        if let Some(pending) = p.borrow().as_ref() {
            found.extend(matching(pending));
        }
    });
    found
}

/// Installed with [`crate::store::Db::set_around_change`]. A batch takes
/// the log's head as it begins; each of its changes has its entries
/// gathered from its start, kept for the batch when its work succeeds, and
/// given back (indexes and the tree's right edge) when it fails. As the
/// batch ends, the entries of all its changes are written at once with the
/// log's new size: on PostgreSQL one round trip for the whole batch's
/// entries and the size, instead of one per change and one for the size
/// (above 64 entries, one `COPY` per table and the size: faster there).
/// Nothing in an entry's rows can fail for one change and not another (the
/// indexes come from the head the batch holds), so a failure to write them
/// fails the batch. A batch rolled back forgets the tree's right edge this
/// thread kept, whose leaves may be gone.
pub fn around_change(conn: &mut DbConnection, change: crate::store::Change) -> Result<()> {
    use crate::store::Change;
    match change {
        // Every batch takes the log's head before its changes lock any row
        // of theirs: on PostgreSQL batches of several instances then take
        // their locks in one order (head first) and cannot deadlock, as a
        // batch that took a row in one change and the head in the next,
        // against one that did the opposite, would. (SQLite's write
        // transaction holds the database already.)
        Change::BatchBegun => {
            GREW_TO.with(|g| g.set(None));
            BATCH_ROWS.with(|r| r.take());
            let size = take_head(conn)?;
            BATCH.with(|b| {
                b.set(Some(BatchHead {
                    found: size,
                    next: size,
                }))
            });
            Ok(())
        }
        Change::Started => {
            let start = BATCH.with(|b| b.get()).map(|h| h.next);
            PENDING.with(|p| {
                *p.borrow_mut() = Some(Pending {
                    start,
                    edge: start.and_then(|_| tree::edge_mark()),
                    ..Pending::default()
                })
            });
            Ok(())
        }
        Change::Failed => {
            if let Some(pending) = PENDING.with(|p| p.borrow_mut().take())
                && let Some(start) = pending.start
            {
                BATCH.with(|b| {
                    if let Some(head) = b.get() {
                        b.set(Some(BatchHead {
                            next: start,
                            ..head
                        }));
                    }
                });
                tree::restore_edge(pending.edge);
            }
            Ok(())
        }
        Change::Succeeded => match PENDING.with(|p| p.borrow_mut().take()) {
            Some(pending) if pending.start.is_some() => {
                BATCH_ROWS.with(|r| r.borrow_mut().extend(pending));
                Ok(())
            }
            Some(pending) => pending.write_rows(conn),
            None => Ok(()),
        },
        Change::BatchRolledBack => {
            BATCH.with(|b| b.set(None));
            BATCH_ROWS.with(|r| r.take());
            PENDING.with(|p| p.borrow_mut().take());
            GREW_TO.with(|g| g.set(None));
            tree::forget_edge();
            Ok(())
        }
        Change::BatchEnding => match BATCH.with(|b| b.take()) {
            Some(head) if head.next != head.found => {
                BATCH_ROWS
                    .with(|r| r.take())
                    .write_rows_growing_to(conn, Some(head.next))?;
                GREW_TO.with(|g| g.set(u64::try_from(head.next).ok()));
                Ok(())
            }
            _ => Ok(()),
        },
    }
}

/// Takes the log's head row for the rest of the transaction and reads the
/// size, in one statement kept prepared (`UPDATE … RETURNING`): on
/// PostgreSQL the row's lock, on SQLite inside the writer's transaction.
fn take_head(conn: &mut DbConnection) -> Result<i64> {
    use audit_log_head::dsl as head;
    let size = crate::store::on_backend!(conn, c => crate::store::kept::update(
        head::audit_log_head,
        head::id.eq(1),
        head::size.eq(head::size),
    )
    .returning(head::size)
    .get_result(c))?;
    Ok(size)
}

/// Appends `entry` inside the caller's open transaction and returns its
/// index. Taking the head row first takes its lock (PostgreSQL) or relies
/// on the IMMEDIATE write transaction (SQLite), so concurrent writers get
/// consecutive indexes with no gaps. The entry's leaf and the subtrees it
/// completes go into the stored tree in the same transaction. Inside a
/// change the database writer runs, the rows are gathered, kept for the
/// batch when the change succeeds and written as the batch ends
/// ([`around_change`]; a read of the log inside the batch sees them through
/// [`unwritten_indexes`]); elsewhere they are written at once.
pub fn append(conn: &mut DbConnection, entry: Entry) -> Result<u64> {
    use audit_log_head::dsl as head;
    // Inside a change of a batch the writer runs, the index comes from the
    // batch's head; anywhere else the head row is moved at once.
    let gathering = PENDING.with(|p| p.borrow().is_some()) && BATCH.with(|b| b.get()).is_some();
    let index = if gathering {
        BATCH.with(|b| {
            let mut head = b.get().unwrap_or(BatchHead { found: 0, next: 0 });
            let index = head.next;
            head.next += 1;
            b.set(Some(head));
            index
        })
    } else {
        diesel::update(head::audit_log_head.filter(head::id.eq(1)))
            .set(head::size.eq(head::size + 1))
            .execute(conn)?;
        let size: i64 = head::audit_log_head
            .filter(head::id.eq(1))
            .select(head::size)
            .first(conn)?;
        size - 1
    };
    let time = domain::now();
    let canonical = canonical_entry(index, time, &entry);
    let leaf = leaf_hash(canonical.as_bytes());
    let position =
        u64::try_from(index).map_err(|_| Error::Internal("audit log head is negative".into()))?;
    let nodes = tree::advance(conn, position, leaf)?;
    let row = EntryRow {
        idx: index,
        created_at: domain::to_db_time(time),
        actor_id: entry.actor.map(|a| a.to_string()),
        action: entry.action,
        dataset_id: entry.dataset.map(|d| d.to_string()),
        subject: entry.subject.clone(),
        canonical,
        leaf_hash: leaf.to_vec(),
    };
    let parties: Vec<(String, i64)> = entry
        .all_parties()
        .iter()
        .map(|p| (p.to_string(), index))
        .collect();
    if gathering {
        PENDING.with(|p| {
            if let Some(pending) = p.borrow_mut().as_mut() {
                pending.entries.push(row);
                pending.parties.extend(parties);
                pending.nodes.extend(nodes);
            }
        });
    } else {
        Pending {
            entries: vec![row],
            parties,
            nodes,
            ..Pending::default()
        }
        .write_rows(conn)?;
    }
    Ok(position)
}

/// Bind parameters one statement may carry on PostgreSQL (65,535), with room.
const PG_MAX_PARAMS: usize = 60_000;

impl Pending {
    /// Adds another change's rows, after these.
    fn extend(&mut self, other: Pending) {
        self.entries.extend(other.entries);
        self.parties.extend(other.parties);
        self.nodes.extend(other.nodes);
    }

    /// The entries, their parties and the tree nodes they completed.
    fn write_rows(self, conn: &mut DbConnection) -> Result<()> {
        self.write_rows_growing_to(conn, None)
    }

    /// The rows, and with them the log head's new `size` when given (a
    /// batch's rows, whose head the batch holds).
    fn write_rows_growing_to(self, conn: &mut DbConnection, size: Option<i64>) -> Result<()> {
        // Up to 64 entries (most batches of requests), one statement; more
        // (a busy batch, a fill, a backfill) go table by table, with `COPY`,
        // which is as fast at 64 entries and faster above.
        if let DbConnection::Postgres(pg) = conn
            && self.entries.len() <= crate::store::COPY_ABOVE
            // (one more parameter for the head's size)
            && self.entries.len() * 8 + self.parties.len() * 2 + self.nodes.len() * 3
                < PG_MAX_PARAMS
        {
            return self.write_rows_at_once(pg, size);
        }
        self.write_rows_by_table(conn)?;
        if let Some(size) = size {
            use audit_log_head::dsl as log_head;
            crate::store::on_backend!(conn, c => crate::store::kept::update(
                log_head::audit_log_head,
                log_head::id.eq(1),
                log_head::size.eq(size),
            )
            .execute(c))?;
        }
        Ok(())
    }

    /// On PostgreSQL, the three inserts and the head's new size as one
    /// statement (all but the last as data-modifying `WITH` queries): a
    /// batch's audit rows cost one round trip to the database.
    fn write_rows_at_once(self, pg: &mut diesel::PgConnection, size: Option<i64>) -> Result<()> {
        use diesel::sql_types::{BigInt, Binary, Integer, Nullable, Text, Timestamp};
        let mut numbered = 0usize;
        let mut values = |rows: usize, columns: usize| -> String {
            (0..rows)
                .map(|_| {
                    let row: Vec<String> = (0..columns)
                        .map(|_| {
                            numbered += 1;
                            format!("${numbered}")
                        })
                        .collect();
                    format!("({})", row.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut inserts = Vec::new();
        if size.is_some() {
            inserts.push(format!(
                "UPDATE audit_log_head SET size = {} WHERE id = 1",
                values(1, 1)
            ));
        }
        if !self.entries.is_empty() {
            inserts.push(format!(
                "INSERT INTO audit_entries (idx, created_at, actor_id, action, dataset_id, subject, canonical, leaf_hash) VALUES {}",
                values(self.entries.len(), 8)
            ));
        }
        if !self.parties.is_empty() {
            inserts.push(format!(
                "INSERT INTO audit_entry_parties (account_id, idx) VALUES {}",
                values(self.parties.len(), 2)
            ));
        }
        if !self.nodes.is_empty() {
            inserts.push(format!(
                "INSERT INTO audit_tree_nodes (level, node_index, hash) VALUES {}",
                values(self.nodes.len(), 3)
            ));
        }
        let Some(last) = inserts.pop() else {
            return Ok(());
        };
        let sql = if inserts.is_empty() {
            last
        } else {
            let with: Vec<String> = inserts
                .iter()
                .enumerate()
                .map(|(i, insert)| format!("written_{i} AS ({insert})"))
                .collect();
            format!("WITH {} {last}", with.join(", "))
        };
        // Bound in the order the placeholders were numbered.
        let mut query = diesel::sql_query(sql).into_boxed::<diesel::pg::Pg>();
        if let Some(size) = size {
            query = query.bind::<BigInt, _>(size);
        }
        for e in self.entries {
            query = query
                .bind::<BigInt, _>(e.idx)
                .bind::<Timestamp, _>(e.created_at)
                .bind::<Nullable<Text>, _>(e.actor_id)
                .bind::<Text, _>(e.action.as_str())
                .bind::<Nullable<Text>, _>(e.dataset_id)
                .bind::<Text, _>(e.subject)
                .bind::<Text, _>(e.canonical)
                .bind::<Binary, _>(e.leaf_hash);
        }
        for (account, idx) in self.parties {
            query = query.bind::<Text, _>(account).bind::<BigInt, _>(idx);
        }
        for (id, hash) in self.nodes {
            let (level, index, hash) = tree::node_row(id, hash)?;
            query = query
                .bind::<Integer, _>(level)
                .bind::<BigInt, _>(index)
                .bind::<Binary, _>(hash);
        }
        query.execute(pg)?;
        Ok(())
    }

    fn write_rows_by_table(self, conn: &mut DbConnection) -> Result<()> {
        let entries: Vec<_> = self
            .entries
            .into_iter()
            .map(|e| {
                (
                    audit_entries::idx.eq(e.idx),
                    audit_entries::created_at.eq(e.created_at),
                    audit_entries::actor_id.eq(e.actor_id),
                    audit_entries::action.eq(e.action),
                    audit_entries::dataset_id.eq(e.dataset_id),
                    audit_entries::subject.eq(e.subject),
                    audit_entries::canonical.eq(e.canonical),
                    audit_entries::leaf_hash.eq(e.leaf_hash),
                )
            })
            .collect();
        crate::store::insert_rows!(conn, audit_entries::table, entries);
        let parties: Vec<_> = self
            .parties
            .into_iter()
            .map(|(account, idx)| {
                (
                    audit_entry_parties::account_id.eq(account),
                    audit_entry_parties::idx.eq(idx),
                )
            })
            .collect();
        crate::store::insert_rows!(conn, audit_entry_parties::table, parties);
        tree::insert_nodes(conn, &self.nodes)
    }
}

fn canonical_entry(index: i64, time: DateTime<Utc>, entry: &Entry) -> String {
    let value = serde_json::json!({
        "v": ENTRY_FORMAT,
        "index": index,
        "time": domain::format_time(time),
        "actor": entry.actor.map(|a| a.to_string()),
        "action": entry.action.as_str(),
        "dataset": entry.dataset.map(|d| d.to_string()),
        "subject": entry.subject,
        "parties": entry.all_parties().iter().map(Uuid::to_string).collect::<Vec<_>>(),
        "detail": entry.detail,
    });
    canonical_json(&value)
}

/// Serialises `value` with object members sorted by name at every level and
/// no whitespace. Sorting is done here rather than trusting the map type,
/// whose order depends on a serde_json feature any dependency may switch on.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (key, member)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(member, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

/// An entry as its canonical bytes say.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EntryRecord {
    pub v: i64,
    pub index: u64,
    pub time: String,
    pub actor: Option<String>,
    pub action: String,
    pub dataset: Option<String>,
    pub subject: String,
    pub parties: Vec<String>,
    #[schema(value_type = Object)]
    pub detail: Value,
}

/// The records at `indexes`, as their canonical bytes say, for entries
/// whose bytes still hash to their stored leaf (an altered entry is left
/// out, so whoever asked sees it missing).
pub fn records_at(
    conn: &mut DbConnection,
    indexes: &[u64],
) -> Result<std::collections::HashMap<u64, EntryRecord>> {
    use crate::store::schema::audit_entries;
    let mut found = std::collections::HashMap::with_capacity(indexes.len());
    for chunk in indexes.chunks(500) {
        let wanted: Vec<i64> = chunk.iter().map(|i| *i as i64).collect();
        let rows: Vec<(i64, String, Vec<u8>)> = audit_entries::table
            .filter(audit_entries::idx.eq_any(wanted))
            .select((
                audit_entries::idx,
                audit_entries::canonical,
                audit_entries::leaf_hash,
            ))
            .load(conn)?;
        for (idx, canonical, leaf) in rows {
            if merkle::leaf_hash(canonical.as_bytes()).as_slice() != leaf.as_slice() {
                continue;
            }
            if let Ok(record) = serde_json::from_str::<EntryRecord>(&canonical)
                && record.index == idx as u64
            {
                found.insert(record.index, record);
            }
        }
    }
    Ok(found)
}

/// Entries of one action recorded in a period, per UTC day (for
/// oversight's statistics).
pub fn tally_per_day(
    conn: &mut crate::store::DbConnection,
    action: Action,
    period: crate::store::tally::Period,
    scope: &crate::store::tally::Scope,
) -> Result<Vec<crate::store::tally::Count>> {
    // An action is one of the market's own words, never a client's text.
    crate::store::tally::rows(
        conn,
        &format!(
            "SELECT {{day}} AS key, COUNT(*) AS n FROM audit_entries
             WHERE action = '{}' AND created_at >= $1 AND created_at < $2 {{scope}}
             GROUP BY {{day}}",
            action.as_str()
        ),
        period,
        scope,
    )
}

/// Only auditors and regulators read the trail as a whole.
pub fn require_oversight(actor: &Actor) -> Result<()> {
    actor.require_any(&[Role::Auditor, Role::Regulator])
}

/// How many entries the log holds.
pub async fn size(db: &crate::store::Db) -> Result<u64> {
    db.read(tree::log_size).await
}

/// How many entries of one action concern one subject (an account's
/// suspensions, say).
pub fn count_about(conn: &mut DbConnection, action: Action, subject: &str) -> Result<i64> {
    Ok(audit_entries::table
        .filter(audit_entries::action.eq(action.as_str()))
        .filter(audit_entries::subject.eq(subject))
        .count()
        .get_result(conn)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_members_at_every_level() {
        let v = serde_json::json!({"b": 1, "a": {"z": true, "y": [ {"d": null, "c": "x"} ]}, "é": "中文\n"});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"y":[{"c":"x","d":null}],"z":true},"b":1,"é":"中文\n"}"#
        );
    }

    /// A database with the audit log's hooks installed, on SQLite.
    fn audited_db(dir: &std::path::Path) -> crate::store::Db {
        let mut db = tree::tests::db(dir);
        db.set_around_change(std::sync::Arc::new(around_change));
        db
    }

    fn entry(action: Action, subject: &str) -> Entry {
        Entry {
            actor: None,
            action,
            dataset: None,
            subject: subject.into(),
            parties: vec![],
            detail: serde_json::json!({}),
        }
    }

    /// Runs `changes` as one batch of the writer, in their order: a first
    /// change holds the writer until all of them are queued.
    fn in_one_batch<F>(db: &crate::store::Db, changes: Vec<F>) -> Vec<Result<u64>>
    where
        F: FnMut(&mut DbConnection) -> Result<u64> + Send + 'static,
    {
        let (held, holding) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = {
            let db = db.clone();
            std::thread::spawn(move || {
                db.write_blocking(move |_| {
                    let _ = held.send(());
                    let _ = released.recv();
                    Ok(())
                })
            })
        };
        holding.recv().unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let outcomes = runtime.block_on(async {
            // Polled in order, each queues its change before the next.
            let queued = futures_util::future::join_all(changes.into_iter().map(|c| db.write(c)));
            let go = async {
                tokio::task::yield_now().await;
                release.send(()).unwrap();
            };
            tokio::join!(queued, go).0
        });
        holder.join().unwrap().unwrap();
        outcomes
    }

    #[test]
    fn a_head_signed_before_at_the_size_a_batch_reaches_stays() {
        use crate::store::schema::audit_tree_heads;
        let dir = tempfile::tempdir().unwrap();
        let mut db = audited_db(dir.path());
        let keys = crate::keys::PlatformKeys::load_or_create(&dir.path().join("keys")).unwrap();
        let sealer = heads::Sealer::new(std::sync::Arc::new(keys), "test-log".into());
        db.set_before_commit(std::sync::Arc::new(move |conn| sealer.seal(conn)));
        // A head of size 1 over an empty log: as after a log was cut back
        // under the server.
        db.write_blocking(|conn| {
            diesel::insert_into(audit_tree_heads::table)
                .values((
                    audit_tree_heads::tree_size.eq(1i64),
                    audit_tree_heads::root_hash.eq(vec![7u8; 32]),
                    audit_tree_heads::signed_at.eq(domain::to_db_time(domain::now())),
                    audit_tree_heads::kid.eq("earlier"),
                    audit_tree_heads::signature.eq(vec![0u8; 64]),
                    audit_tree_heads::checkpoint.eq("earlier"),
                ))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
        let index = db
            .write_blocking(|conn| append(conn, entry(Action::DatasetUpdated, "grows to 1")))
            .unwrap();
        assert_eq!(index, 0, "the batch grew the log to the signed head's size");
        let kids: Vec<String> = audit_tree_heads::table
            .filter(audit_tree_heads::tree_size.eq(1i64))
            .select(audit_tree_heads::kid)
            .load(&mut *db.get().unwrap())
            .unwrap();
        assert_eq!(kids, vec!["earlier".to_owned()], "the head there stays");
    }

    /// A change that appended and then failed, between two that succeed in
    /// the same batch: the batch runs again with savepoints, and the change
    /// after the failed one must append from the tree's right edge as the
    /// change before left it. That edge cannot be read back from the stored
    /// tree, since a batch's entries are written only as it ends.
    #[test]
    fn a_change_that_fails_after_appending_gives_back_its_index_and_its_edge() {
        let dir = tempfile::tempdir().unwrap();
        let db = audited_db(dir.path());
        let change = |subject: &'static str, fails: bool| {
            move |conn: &mut DbConnection| {
                let index = append(conn, entry(Action::DatasetUpdated, subject))?;
                if fails {
                    return Err(Error::Internal("refused after appending".into()));
                }
                Ok(index)
            }
        };
        let outcomes = in_one_batch(
            &db,
            vec![
                change("before", false),
                change("failed", true),
                change("after", false),
            ],
        );
        assert_eq!(outcomes[0].as_ref().unwrap(), &0);
        assert!(outcomes[1].is_err());
        assert_eq!(
            outcomes[2].as_ref().unwrap(),
            &1,
            "the failed change's index is given back"
        );
        let mut conn = db.get().unwrap();
        assert_eq!(tree::log_size(&mut conn).unwrap(), 2);
        let leaves: Vec<Vec<u8>> = audit_entries::table
            .order(audit_entries::idx.asc())
            .select(audit_entries::leaf_hash)
            .load(&mut conn)
            .unwrap();
        assert_eq!(leaves.len(), 2);
        assert_eq!(
            tree::root_at(&mut conn, 2).unwrap(),
            tree::tests::root_of(leaves.into_iter().map(|l| l.try_into().unwrap())),
            "the stored tree holds the two entries that committed"
        );
    }

    /// A change that looks in the log (as raising an alert looks for its
    /// resolution) finds what a batch-mate before it logged, though the
    /// batch's entries are written only as it ends.
    #[test]
    fn a_change_finds_the_entries_its_batch_mates_logged() {
        let dir = tempfile::tempdir().unwrap();
        let db = audited_db(dir.path());
        type Change = Box<dyn FnMut(&mut DbConnection) -> Result<u64> + Send>;
        let changes: Vec<Change> = vec![
            Box::new(|conn| append(conn, entry(Action::AlertResolved, "alert-1"))),
            Box::new(|conn| append(conn, entry(Action::AlertResolved, "alert-2"))),
            Box::new(|conn| {
                let found =
                    window::indexes_about(conn, Action::AlertResolved, &["alert-1".into()])?;
                if found != [0] {
                    return Err(Error::Internal(format!(
                        "found {found:?}, not the first change's entry alone"
                    )));
                }
                append(conn, entry(Action::AlertRaised, "alert-1"))
            }),
        ];
        let outcomes = in_one_batch(&db, changes);
        assert_eq!(
            outcomes.into_iter().map(|o| o.unwrap()).collect::<Vec<_>>(),
            [0, 1, 2]
        );
    }

    #[test]
    fn leaf_hash_is_rfc6962() {
        // RFC 6962 leaf hash of the empty entry (transparency-dev vectors).
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }
}
