//! Signed tree heads. Every write transaction that grew the log signs a head
//! for its new size just before it commits ([`Sealer`], installed as the
//! database's before-commit hook), while it still holds the log's head row:
//! so every committed state of the log has a signed head, heads of several
//! gateway instances on one PostgreSQL form one consistent sequence, and
//! reading the latest head is a plain read. Every head is kept.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::checkpoint as note;
use super::tree;
use crate::domain;
use crate::error::{Error, Result};
use crate::keys::PlatformKeys;
use crate::store::schema::{audit_log_head, audit_tree_heads};
use crate::store::{Db, DbConnection, on_backend};

/// A signed tree head, as JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TreeHead {
    /// Number of entries the head covers.
    pub tree_size: u64,
    /// Hex RFC 6962 root hash of the first `tree_size` entries.
    pub root_hash: String,
    /// When the head was signed (RFC 3339 UTC, six fractional digits).
    pub timestamp: String,
    /// JWKS `kid` of the platform key that signed.
    pub kid: String,
    /// Base64 Ed25519 signature over the checkpoint's note text (which holds
    /// the origin, `tree_size`, the root hash and the timestamp).
    pub signature: String,
    /// The same head as a C2SP signed-note checkpoint.
    pub checkpoint: String,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = audit_tree_heads)]
struct HeadRow {
    tree_size: i64,
    root_hash: Vec<u8>,
    signed_at: NaiveDateTime,
    kid: String,
    signature: Vec<u8>,
    checkpoint: String,
}

impl HeadRow {
    fn into_head(self) -> Result<TreeHead> {
        Ok(TreeHead {
            tree_size: u64::try_from(self.tree_size).map_err(|_| {
                Error::Internal(format!("stored tree head size {}", self.tree_size))
            })?,
            root_hash: hex::encode(self.root_hash),
            timestamp: domain::format_time(domain::from_db_time(self.signed_at)),
            kid: self.kid,
            signature: STANDARD.encode(self.signature),
            checkpoint: self.checkpoint,
        })
    }
}

/// The newest head, if any.
pub(crate) fn latest(conn: &mut DbConnection) -> Result<Option<TreeHead>> {
    audit_tree_heads::table
        .filter(tree::planned_afresh())
        .order(audit_tree_heads::tree_size.desc())
        .select(HeadRow::as_select())
        .first(conn)
        .optional()?
        .map(HeadRow::into_head)
        .transpose()
}

/// The newest `count` signed heads, newest first: the checkpoint history.
pub async fn recent_heads(db: &Db, count: i64) -> Result<Vec<TreeHead>> {
    db.read(move |conn| {
        audit_tree_heads::table
            .filter(tree::planned_afresh())
            .order(audit_tree_heads::tree_size.desc())
            .limit(count)
            .select(HeadRow::as_select())
            .load::<HeadRow>(conn)?
            .into_iter()
            .map(HeadRow::into_head)
            .collect()
    })
    .await
}

pub(crate) fn latest_size(conn: &mut DbConnection) -> Result<Option<u64>> {
    let size: Option<i64> = audit_tree_heads::table
        .filter(tree::planned_afresh())
        .select(diesel::dsl::max(audit_tree_heads::tree_size))
        .first(conn)?;
    Ok(size.map(|s| s.max(0) as u64))
}

/// The heads of the given sizes that exist, by size.
pub(crate) fn at_sizes(conn: &mut DbConnection, sizes: Vec<i64>) -> Result<HashMap<u64, TreeHead>> {
    if sizes.is_empty() {
        return Ok(HashMap::new());
    }
    audit_tree_heads::table
        .filter(audit_tree_heads::tree_size.eq_any(sizes))
        .filter(tree::planned_afresh())
        .select(HeadRow::as_select())
        .load(conn)?
        .into_iter()
        .map(|row| row.into_head().map(|head| (head.tree_size, head)))
        .collect()
}

/// Signs a tree head when the transaction it runs in leaves the log larger
/// than the newest head (or when there is no head at all yet).
pub struct Sealer {
    keys: Arc<PlatformKeys>,
    origin: String,
}

impl Sealer {
    /// `origin` names the log in its checkpoints and is their key name.
    pub fn new(keys: Arc<PlatformKeys>, origin: String) -> Sealer {
        Sealer { keys, origin }
    }

    /// Runs before every commit. The log size is read before the newest
    /// head so that a transaction that did not append cannot see a size
    /// that another transaction committed together with its head, and then
    /// miss that head: what it reads can only make it do nothing.
    pub fn seal(&self, conn: &mut DbConnection) -> Result<()> {
        if let Some(size) = super::take_batch_growth() {
            // This transaction has held the head row since before it
            // appended, and grew the log to `size`: no other can sign in
            // the meantime. Only a head already at `size` (a log cut back
            // under the server) can be there, and it stays (`sign` inserts
            // nothing over it).
            return self.sign(conn, size);
        }
        if !self.needs_head(conn)? {
            return Ok(());
        }
        // Take the head row (a transaction that appended holds it already)
        // and look again: only the holder may sign the next head.
        diesel::update(audit_log_head::table.filter(audit_log_head::id.eq(1)))
            .set(audit_log_head::size.eq(audit_log_head::size))
            .execute(conn)?;
        if !self.needs_head(conn)? {
            return Ok(());
        }
        let size = tree::log_size(conn)?;
        self.sign(conn, size)
    }

    /// Signs and stores the head of the log at `size`, unless a head of
    /// that size is stored already: one statement, where a look for it
    /// first would be another round trip per batch on PostgreSQL.
    fn sign(&self, conn: &mut DbConnection, size: u64) -> Result<()> {
        let root = tree::root_at(conn, size)?;
        let signed_at = domain::now();
        let key = self.keys.active();
        let text = note::note_text(&self.origin, size, &root, &domain::format_time(signed_at));
        let signature = key.sign(text.as_bytes());
        let signed = note::signed_note(&text, &self.origin, &key.verifying_key(), &signature);
        on_backend!(conn, c => diesel::insert_into(audit_tree_heads::table)
            .values((
                audit_tree_heads::tree_size.eq(size as i64),
                audit_tree_heads::root_hash.eq(root.to_vec()),
                audit_tree_heads::signed_at.eq(domain::to_db_time(signed_at)),
                audit_tree_heads::kid.eq(key.kid()),
                audit_tree_heads::signature.eq(signature.to_bytes().to_vec()),
                audit_tree_heads::checkpoint.eq(&signed),
            ))
            .on_conflict(audit_tree_heads::tree_size)
            .do_nothing()
            .execute(c))?;
        Ok(())
    }

    fn needs_head(&self, conn: &mut DbConnection) -> Result<bool> {
        let size = tree::log_size(conn)?;
        Ok(latest_size(conn)?.is_none_or(|head| head < size))
    }
}

/// Brings the tree and the heads up to date with the entries: builds the
/// nodes of entries a version without the tree appended, and (through the
/// sealer) signs a head for the current size if there is none, e.g. the
/// empty log's on first start. Returns how many entries it added to the
/// tree. Blocking; run at start before serving.
pub fn catch_up(db: &Db) -> Result<u64> {
    db.write_blocking(tree::backfill)
}

/// [`catch_up`] inside a write transaction the caller holds, so that what
/// the caller changed and the rebuilt tree commit together. It builds the
/// tree up to the size the log head row holds, which a batch moves only as
/// it ends: for tools and tests that rewrite the tree, not for changes
/// that append.
pub fn catch_up_in(conn: &mut DbConnection) -> Result<u64> {
    tree::backfill(conn)
}

/// The newest signed head as a C2SP checkpoint.
pub async fn checkpoint(db: &Db) -> Result<String> {
    Ok(tree_head(db, None).await?.checkpoint)
}

/// The signed head of `size`, or the newest one.
pub async fn tree_head(db: &Db, size: Option<u64>) -> Result<TreeHead> {
    db.read(move |conn| match size {
        None => latest(conn)?.ok_or_else(|| Error::not_found("signed tree head")),
        Some(size) => {
            let Ok(key) = i64::try_from(size) else {
                return Err(Error::not_found("signed tree head of that size"));
            };
            at_sizes(conn, vec![key])?
                .remove(&size)
                .ok_or_else(|| Error::not_found(&format!("signed tree head of size {size}")))
        }
    })
    .await
}
