//! Witnessed checkpoints: the cosignatures the market's witnesses returned
//! for its signed tree heads (kept in `audit_cosignatures`), and the newest
//! head a quorum of them cosigned, served with their lines appended.
//! Cosignatures are not market state: they are stored without an audit
//! entry.

use chrono::Utc;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text, Timestamp};

use super::cosignature::Vkey;
use super::heads;
use crate::config::AuditSettings;
use crate::error::{Error, Result};
use crate::store::schema::audit_cosignatures;
use crate::store::{Db, dialect};

/// The witnesses of `audit.witnesses`, their vkeys parsed; each must be a
/// cosigner's (type 0x04).
pub fn configured_witnesses(settings: &AuditSettings) -> Result<Vec<Vkey>> {
    settings
        .witnesses
        .iter()
        .map(|w| {
            Vkey::parse_cosigner(&w.vkey)
                .map_err(|e| Error::Internal(format!("audit.witnesses {}: {e}", w.url)))
        })
        .collect()
}

/// Keeps a verified cosignature of `witness` on the head of `tree_size`;
/// false when one was kept already (another instance, or an earlier round,
/// collected it first).
pub async fn record_cosignature(
    db: &Db,
    witness: &Vkey,
    tree_size: u64,
    timestamp: u64,
    line: &str,
) -> Result<bool> {
    let witness = witness.identity();
    let line = line.trim_end_matches('\n').to_owned();
    let size = i64::try_from(tree_size).map_err(|_| Error::Internal("tree size".into()))?;
    let time = i64::try_from(timestamp).map_err(|_| Error::Internal("timestamp".into()))?;
    db.write(move |conn| {
        let inserted = diesel::sql_query(dialect::numbered(
            conn,
            "INSERT INTO audit_cosignatures (witness, tree_size, cosigned_at, line, received_at)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (witness, tree_size) DO NOTHING",
        ))
        .bind::<Text, _>(&witness)
        .bind::<BigInt, _>(size)
        .bind::<BigInt, _>(time)
        .bind::<Text, _>(&line)
        .bind::<Timestamp, _>(Utc::now().naive_utc())
        .execute(conn)?;
        Ok(inserted == 1)
    })
    .await
}

/// The size of the newest head `witness` cosigned for this market.
pub async fn last_cosigned(db: &Db, witness: &Vkey) -> Result<Option<u64>> {
    let witness = witness.identity();
    db.read_short(move |conn| {
        let size: Option<i64> = audit_cosignatures::table
            .filter(audit_cosignatures::witness.eq(witness))
            .select(diesel::dsl::max(audit_cosignatures::tree_size))
            .first(conn)?;
        Ok(size.and_then(|s| u64::try_from(s).ok()))
    })
    .await
}

/// How many of the newest cosignatures a witnessed checkpoint is looked
/// for among, per witness.
const LOOK_BACK: i64 = 64;

/// The newest signed head that at least `quorum` of `witnesses` cosigned,
/// as its checkpoint with their cosignature lines appended (in the order of
/// `witnesses`). Not found when no head has a quorum yet.
pub async fn witnessed_checkpoint(db: &Db, witnesses: &[Vkey], quorum: usize) -> Result<String> {
    let ids: Vec<String> = witnesses.iter().map(Vkey::identity).collect();
    let quorum = quorum.max(1);
    db.read(move |conn| {
        let rows: Vec<(String, i64, String)> = audit_cosignatures::table
            .filter(audit_cosignatures::witness.eq_any(&ids))
            .order((
                audit_cosignatures::tree_size.desc(),
                audit_cosignatures::witness.asc(),
            ))
            .limit(LOOK_BACK * ids.len().max(1) as i64)
            .select((
                audit_cosignatures::witness,
                audit_cosignatures::tree_size,
                audit_cosignatures::line,
            ))
            .load(conn)?;
        let Some(size) = rows
            .chunk_by(|a, b| a.1 == b.1)
            .find(|same| same.len() >= quorum)
            .map(|same| same[0].1)
        else {
            return Err(Error::not_found(&format!(
                "checkpoint cosigned by {quorum} of the market's witnesses"
            )));
        };
        let head = heads::at_sizes(conn, vec![size])?
            .remove(&(size as u64))
            .ok_or_else(|| Error::Internal(format!("cosigned head {size} is not stored")))?;
        let mut note = head.checkpoint;
        for id in &ids {
            if let Some((_, _, line)) = rows.iter().find(|r| r.1 == size && &r.0 == id) {
                note.push_str(line);
                note.push('\n');
            }
        }
        Ok(note)
    })
    .await
}
