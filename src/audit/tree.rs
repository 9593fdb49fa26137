//! The stored Merkle tree: every complete, aligned subtree hash in
//! `audit_tree_nodes`, written once, in the transaction of the append that
//! completes it (inside the database writer's batch, as the batch ends). An
//! append builds on the tree's right edge (the writer's, or its O(log n)
//! nodes read in one query); a root or a proof reads the O(log n) nodes
//! [`merkle`] plans, in one query. Nothing here ever scans the log.

use std::collections::{BTreeMap, HashMap};

use diesel::prelude::*;

use super::merkle::{self, Hash, NodeId};
use crate::error::{Error, Result};
use crate::store::DbConnection;
use crate::store::schema::{audit_entries, audit_log_head, audit_tree_nodes};

fn internal(e: merkle::MerkleError) -> Error {
    Error::Internal(format!("audit tree: {e}"))
}

fn to_hash(id: NodeId, bytes: Vec<u8>) -> Result<Hash> {
    Hash::try_from(bytes).map_err(|_| {
        Error::Internal(format!(
            "stored audit tree node at level {} index {} is not 32 bytes",
            id.level, id.index
        ))
    })
}

/// A condition that is always true and makes diesel plan the statement
/// afresh on every run instead of caching it as a prepared statement. The
/// log's reads need it on PostgreSQL: a cached statement gets a generic plan
/// after five runs, and one chosen while a table was small is a sequential
/// scan, which PostgreSQL keeps as the table grows until an ANALYZE
/// invalidates it (never, with autovacuum off). A fresh plan sees the
/// table's real size and uses the index: the log stays O(log n) per read.
/// (Appends do not read the tree: the writer keeps its right edge.)
pub(crate) fn planned_afresh() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql("TRUE")
}

fn db_index(index: u64) -> Result<i64> {
    i64::try_from(index).map_err(|_| Error::Internal(format!("audit index {index} is too large")))
}

/// The stored hashes of `ids` that exist, in one query (one `IN` list per
/// level).
pub(crate) fn fetch(conn: &mut DbConnection, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut by_level: BTreeMap<u8, Vec<i64>> = BTreeMap::new();
    for id in ids {
        by_level
            .entry(id.level)
            .or_default()
            .push(db_index(id.index)?);
    }
    let mut query = audit_tree_nodes::table
        .select((
            audit_tree_nodes::level,
            audit_tree_nodes::node_index,
            audit_tree_nodes::hash,
        ))
        .into_boxed();
    for (level, indexes) in by_level {
        query = query.or_filter(
            audit_tree_nodes::level
                .eq(i32::from(level))
                .and(audit_tree_nodes::node_index.eq_any(indexes)),
        );
    }
    // Added last, so that it is ANDed with the ORs above.
    let rows: Vec<(i32, i64, Vec<u8>)> = query.filter(planned_afresh()).load(conn)?;
    rows.into_iter()
        .map(|(level, index, hash)| {
            let id = NodeId {
                level: u8::try_from(level)
                    .map_err(|_| Error::Internal(format!("stored node level {level}")))?,
                index: u64::try_from(index)
                    .map_err(|_| Error::Internal(format!("stored node index {index}")))?,
            };
            Ok((id, to_hash(id, hash)?))
        })
        .collect()
}

/// The hashes of `plan`, in order, or which node is missing.
fn planned(conn: &mut DbConnection, plan: &[NodeId]) -> Result<Vec<Hash>> {
    let stored = fetch(conn, plan)?;
    plan.iter()
        .map(|id| {
            stored
                .get(id)
                .copied()
                .ok_or_else(|| internal(merkle::MerkleError::MissingNode(*id)))
        })
        .collect()
}

thread_local! {
    /// The right edge of the tree as this thread last wrote it: the hashes
    /// of `root_nodes(size)`. Appends run on the database's writer thread,
    /// one after another, so the next append and the next root need no
    /// read of the stored tree. It is only ever trusted for the size it
    /// names; put back as it was when a change that appended fails alone
    /// ([`restore_edge`]); and dropped whenever the writer rolls a
    /// transaction back
    /// ([`forget_edge`]): the leaves it holds may then be gone, and another
    /// instance may have appended as many others, leaving the log at the
    /// size it names with other leaves.
    static FRONTIER: std::cell::RefCell<Option<merkle::CompactRange>> =
        const { std::cell::RefCell::new(None) };
}

/// Forgets this thread's right edge of the tree; the next append reads it
/// from the stored nodes.
pub(crate) fn forget_edge() {
    FRONTIER.with(|f| f.borrow_mut().take());
}

/// This thread's right edge of the tree as it is now, to go back to with
/// [`restore_edge`] when a change that appends from here is rolled back
/// alone: its batch-mates' nodes are written only as the batch ends, so
/// the edge they left cannot be read back from the stored tree until then.
pub(crate) fn edge_mark() -> Option<merkle::CompactRange> {
    FRONTIER.with(|f| f.borrow().clone())
}

/// Puts back the right edge [`edge_mark`] took.
pub(crate) fn restore_edge(mark: Option<merkle::CompactRange>) {
    FRONTIER.with(|f| *f.borrow_mut() = mark);
}

/// The right edge of the tree of `size` leaves: this thread's, or read from
/// the stored nodes.
fn frontier_at(conn: &mut DbConnection, size: u64) -> Result<merkle::CompactRange> {
    if let Some(range) = FRONTIER
        .with(|f| f.borrow_mut().take())
        .filter(|r| r.size() == size)
    {
        return Ok(range);
    }
    let hashes = planned(conn, &merkle::root_nodes(size))?;
    merkle::CompactRange::from_root_nodes(size, hashes).map_err(internal)
}

/// The nodes completed by appending leaf `index` with hash `leaf`, from the
/// tree's right edge (this thread's, or read); the right edge moves on.
pub(crate) fn advance(
    conn: &mut DbConnection,
    index: u64,
    leaf: Hash,
) -> Result<Vec<(NodeId, Hash)>> {
    let mut range = frontier_at(conn, index)?;
    range.push(leaf).map_err(internal)?;
    let completed = range.last_completed();
    FRONTIER.with(|f| *f.borrow_mut() = Some(range));
    Ok(completed)
}

/// A tree node as its row stores it: (level, index, hash).
pub(crate) fn node_row(id: NodeId, hash: Hash) -> Result<(i32, i64, Vec<u8>)> {
    Ok((i32::from(id.level), db_index(id.index)?, hash.to_vec()))
}

/// Stores tree nodes (level, index, hash).
pub(crate) fn insert_nodes(conn: &mut DbConnection, nodes: &[(NodeId, Hash)]) -> Result<()> {
    let rows = nodes
        .iter()
        .map(|(id, hash)| {
            let (level, index, hash) = node_row(*id, *hash)?;
            Ok((
                audit_tree_nodes::level.eq(level),
                audit_tree_nodes::node_index.eq(index),
                audit_tree_nodes::hash.eq(hash),
            ))
        })
        .collect::<Result<Vec<_>>>()?;
    crate::store::insert_rows!(conn, audit_tree_nodes::table, rows);
    Ok(())
}

/// Stores the nodes completed by appending leaf `index` with hash `leaf`.
/// Runs inside the appending transaction, after the head row was taken.
pub(crate) fn append_leaf(conn: &mut DbConnection, index: u64, leaf: Hash) -> Result<()> {
    let nodes = advance(conn, index, leaf)?;
    insert_nodes(conn, &nodes)
}

/// The root of the tree of the first `size` leaves.
pub(crate) fn root_at(conn: &mut DbConnection, size: u64) -> Result<Hash> {
    if size == 0 {
        return Ok(merkle::empty_root());
    }
    let cached = FRONTIER.with(|f| {
        f.borrow()
            .as_ref()
            .filter(|r| r.size() == size)
            .map(merkle::CompactRange::root)
    });
    match cached {
        Some(root) => Ok(root),
        None => merkle::fold_range(&planned(conn, &merkle::root_nodes(size))?).map_err(internal),
    }
}

/// The proof made of the given leaf ranges' hashes, from one query.
pub(crate) fn proof(conn: &mut DbConnection, ranges: &[(u64, u64)]) -> Result<Vec<Hash>> {
    let stored = fetch(conn, &merkle::nodes_for_ranges(ranges))?;
    merkle::build_proof(ranges, |id| stored.get(&id).copied()).map_err(internal)
}

/// The log's size: the head row every append updates.
pub(crate) fn log_size(conn: &mut DbConnection) -> Result<u64> {
    let size: i64 = audit_log_head::table
        .filter(audit_log_head::id.eq(1))
        .select(audit_log_head::size)
        .first(conn)?;
    u64::try_from(size).map_err(|_| Error::Internal("audit log head is negative".into()))
}

/// Builds the tree nodes of entries appended before the tree existed (a log
/// written by a version without it), from their stored leaf hashes. Must run
/// in a write transaction; returns how many leaves it added. Cheap when
/// there is nothing to do: one indexed `MAX` and the head row.
pub(crate) fn backfill(conn: &mut DbConnection) -> Result<u64> {
    let stored: Option<i64> = audit_tree_nodes::table
        .filter(audit_tree_nodes::level.eq(0))
        .filter(planned_afresh())
        .select(diesel::dsl::max(audit_tree_nodes::node_index))
        .first(conn)?;
    let first = stored.map_or(0, |last| last + 1);
    let size = db_index(log_size(conn)?)?;
    if first >= size {
        return Ok(0);
    }
    // Take the head row, so that no other instance appends meanwhile.
    diesel::update(audit_log_head::table.filter(audit_log_head::id.eq(1)))
        .set(audit_log_head::size.eq(audit_log_head::size))
        .execute(conn)?;
    const BATCH: i64 = 10_000;
    let mut next = first;
    while next < size {
        let batch_end = size.min(next + BATCH);
        let leaves: Vec<(i64, Vec<u8>)> = audit_entries::table
            .filter(audit_entries::idx.ge(next))
            .filter(audit_entries::idx.lt(batch_end))
            .order(audit_entries::idx.asc())
            .select((audit_entries::idx, audit_entries::leaf_hash))
            .load(conn)?;
        for (idx, leaf) in leaves {
            if idx != next {
                return Err(Error::Internal(format!(
                    "audit entry {next} is missing; cannot build the tree"
                )));
            }
            let index = next as u64;
            append_leaf(conn, index, to_hash(NodeId::leaf(index), leaf)?)?;
            next += 1;
        }
        if next < batch_end {
            return Err(Error::Internal(format!(
                "audit entry {next} is missing; cannot build the tree"
            )));
        }
    }
    Ok((size - first) as u64)
}

#[cfg(test)]
pub(crate) mod tests {
    //! The stored tree against the transparency-dev vectors and against the
    //! in-memory fold, on a real SQLite database: what the log's SQL path
    //! writes and reads must be exactly what the plans ask for.

    use super::*;
    use crate::config::{Secret, Settings};
    use crate::store::Db;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::Value;

    const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/rfc6962");

    /// A migrated SQLite database in `dir`.
    pub(crate) fn db(dir: &std::path::Path) -> Db {
        let mut settings = Settings::defaults().unwrap().database;
        settings.url = Secret::new(format!("sqlite://{}", dir.join("t.db").display()));
        let db = Db::connect(&settings).unwrap();
        db.migrate().unwrap();
        db
    }

    fn json(path: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(format!("{DATA}/{path}")).unwrap()).unwrap()
    }

    fn b64(v: &Value) -> Hash {
        STANDARD
            .decode(v.as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap()
    }

    /// The root of the tree of `leaves`, folded in memory.
    pub(crate) fn root_of(leaves: impl IntoIterator<Item = Hash>) -> Hash {
        let mut tree = merkle::CompactRange::new();
        for leaf in leaves {
            tree.push(leaf).unwrap();
        }
        tree.root()
    }

    fn append_all(db: &Db, leaves: &[Hash]) {
        let leaves = leaves.to_vec();
        db.write_blocking(move |conn| {
            for (i, leaf) in leaves.iter().enumerate() {
                append_leaf(conn, i as u64, *leaf)?;
            }
            Ok(())
        })
        .unwrap();
    }

    /// A writer's batch appends and is rolled back; another instance (a
    /// second `Db` on the same file, with its own writer thread) then
    /// appends as many other leaves; the first writer's next append must
    /// build on the stored tree, not on the edge it kept from the rolled
    /// back leaves, which names the same size.
    #[test]
    fn a_rolled_back_append_leaves_no_stale_edge_behind() {
        let dir = tempfile::tempdir().unwrap();
        let mut one = db(dir.path());
        one.set_around_change(std::sync::Arc::new(crate::audit::around_change));
        let two = db(dir.path());
        let leaf = |b: &[u8]| merkle::leaf_hash(b);
        append_all(&one, &[leaf(b"a"), leaf(b"b")]);
        let refused = one.write_blocking(move |conn| {
            append_leaf(conn, 2, leaf(b"rolled back"))?;
            Err::<(), _>(Error::Internal("refused after appending".into()))
        });
        assert!(refused.is_err());
        two.write_blocking(move |conn| append_leaf(conn, 2, leaf(b"c")))
            .unwrap();
        one.write_blocking(move |conn| append_leaf(conn, 3, leaf(b"d")))
            .unwrap();
        let leaves = [leaf(b"a"), leaf(b"b"), leaf(b"c"), leaf(b"d")];
        let stored = two
            .write_blocking(|conn| {
                forget_edge();
                root_at(conn, 4)
            })
            .unwrap();
        assert_eq!(
            stored,
            root_of(leaves),
            "the stored tree holds the leaves that committed"
        );
    }

    #[test]
    fn stored_tree_reproduces_the_rfc6962_vectors() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let roots = json("roots.json");
        let leaves: Vec<Hash> = roots["leaf_inputs_hex"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| merkle::leaf_hash(&hex::decode(h.as_str().unwrap()).unwrap()))
            .collect();
        append_all(&db, &leaves);
        let mut conn = db.get().unwrap();
        for (size, want) in roots["root_by_tree_size_hex"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let root = root_at(&mut conn, size as u64).unwrap();
            assert_eq!(hex::encode(root), want.as_str().unwrap(), "size {size}");
        }
        for n in 0..=4 {
            let p = json(&format!("inclusion/{n}/happy-path.json"));
            let (index, size) = (
                p["leafIdx"].as_u64().unwrap(),
                p["treeSize"].as_u64().unwrap(),
            );
            let ranges = merkle::inclusion_proof_ranges(index, size).unwrap();
            let want: Vec<Hash> = p["proof"]
                .as_array()
                .map_or(vec![], |a| a.iter().map(b64).collect());
            assert_eq!(proof(&mut conn, &ranges).unwrap(), want, "inclusion {n}");
            assert_eq!(root_at(&mut conn, size).unwrap(), b64(&p["root"]));

            let p = json(&format!("consistency/{n}/happy-path.json"));
            let (first, second) = (p["size1"].as_u64().unwrap(), p["size2"].as_u64().unwrap());
            let ranges = merkle::consistency_proof_ranges(first, second).unwrap();
            let want: Vec<Hash> = p["proof"]
                .as_array()
                .map_or(vec![], |a| a.iter().map(b64).collect());
            assert_eq!(proof(&mut conn, &ranges).unwrap(), want, "consistency {n}");
        }
    }

    #[test]
    fn stored_proofs_verify_and_backfill_rebuilds_the_same_tree() {
        let dir = tempfile::tempdir().unwrap();
        let db = db(dir.path());
        let leaves: Vec<Hash> = (0..300u32)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        append_all(&db, &leaves);
        let mut conn = db.get().unwrap();
        let mut range = merkle::CompactRange::new();
        let mut roots = vec![merkle::empty_root()];
        for leaf in &leaves {
            range.push(*leaf).unwrap();
            roots.push(range.root());
        }
        for size in [1u64, 2, 7, 8, 9, 64, 255, 256, 257, 300] {
            assert_eq!(root_at(&mut conn, size).unwrap(), roots[size as usize]);
            for index in [0, size / 3, size / 2, size - 1] {
                let ranges = merkle::inclusion_proof_ranges(index, size).unwrap();
                let hashes = proof(&mut conn, &ranges).unwrap();
                let leaf = leaves[index as usize];
                assert_eq!(
                    merkle::verify_inclusion(index, size, &leaf, &hashes, &roots[size as usize]),
                    Ok(())
                );
            }
            for first in [1, size / 2 + 1, size] {
                let ranges = merkle::consistency_proof_ranges(first, size).unwrap();
                let hashes = proof(&mut conn, &ranges).unwrap();
                assert_eq!(
                    merkle::verify_consistency(
                        first,
                        size,
                        &hashes,
                        &roots[first as usize],
                        &roots[size as usize]
                    ),
                    Ok(())
                );
            }
        }
        let stored: Vec<(i32, i64, Vec<u8>)> = audit_tree_nodes::table
            .order((audit_tree_nodes::level, audit_tree_nodes::node_index))
            .load(&mut *conn)
            .unwrap();
        // Every complete subtree of 300 leaves, once: 300 + 150 + 75 + 37 + …
        assert_eq!(stored.len(), 300 + 150 + 75 + 37 + 18 + 9 + 4 + 2 + 1);
        drop(conn);

        // The same tree, built by the backfill from entries' leaf hashes
        // (as a log written before the tree existed would be).
        let dir = tempfile::tempdir().unwrap();
        let db = self::db(dir.path());
        let rows = leaves.clone();
        db.write_blocking(move |conn| {
            for (i, leaf) in rows.iter().enumerate() {
                diesel::insert_into(audit_entries::table)
                    .values((
                        audit_entries::idx.eq(i as i64),
                        audit_entries::created_at.eq(chrono::NaiveDateTime::default()),
                        audit_entries::action.eq("account.created"),
                        audit_entries::subject.eq("x"),
                        audit_entries::canonical.eq("{}"),
                        audit_entries::leaf_hash.eq(leaf.as_slice()),
                    ))
                    .execute(conn)?;
            }
            diesel::update(audit_log_head::table)
                .set(audit_log_head::size.eq(rows.len() as i64))
                .execute(conn)?;
            Ok(())
        })
        .unwrap();
        assert_eq!(db.write_blocking(backfill).unwrap(), 300);
        assert_eq!(
            db.write_blocking(backfill).unwrap(),
            0,
            "nothing left to do"
        );
        let rebuilt: Vec<(i32, i64, Vec<u8>)> = audit_tree_nodes::table
            .order((audit_tree_nodes::level, audit_tree_nodes::node_index))
            .load(&mut *db.get().unwrap())
            .unwrap();
        assert_eq!(rebuilt, stored);
    }
}
