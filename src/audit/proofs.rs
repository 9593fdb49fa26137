//! Inclusion and consistency proofs, built from O(log n) stored nodes.

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::merkle::{self, Hash};
use super::{heads, require_oversight, tree};
use crate::domain::Actor;
use crate::error::{Code, Error, Result};
use crate::store::Db;
use crate::store::schema::audit_entry_parties;

/// Proof that an entry is in the log of a given size.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct InclusionProof {
    pub index: u64,
    pub tree_size: u64,
    /// Hex leaf hash of the entry, as the stored tree has it.
    pub leaf_hash: String,
    /// Hex root of the first `tree_size` entries.
    pub root_hash: String,
    /// Hex hashes, RFC 9162 order (bottom to top).
    pub proof: Vec<String>,
}

/// Proof that the log of size `second` extends the log of size `first`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ConsistencyProof {
    pub first: u64,
    pub second: u64,
    /// Hex root of the first `first` entries.
    pub first_root: String,
    /// Hex root of the first `second` entries.
    pub second_root: String,
    /// Hex hashes, RFC 9162 order.
    pub proof: Vec<String>,
}

fn refused(detail: String) -> Error {
    Error::refused(Code::InvalidProofRequest, detail)
}

fn hex_all(hashes: &[Hash]) -> Vec<String> {
    hashes.iter().map(hex::encode).collect()
}

/// The signed log's size: proofs are only given within it.
fn signed_size(conn: &mut crate::store::DbConnection) -> Result<u64> {
    heads::latest_size(conn)?.ok_or_else(|| Error::not_found("signed tree head"))
}

/// The inclusion proof of entry `index` in the log of `tree_size` entries
/// (default: the newest signed head's). Auditors and regulators may prove
/// any entry, other accounts only entries they are a party to; to anyone
/// else an entry looks as if it did not exist.
pub async fn inclusion_proof(
    db: &Db,
    actor: &Actor,
    index: u64,
    tree_size: Option<u64>,
) -> Result<InclusionProof> {
    let actor = actor.clone();
    db.read(move |conn| {
        let signed = signed_size(conn)?;
        let size = tree_size.unwrap_or(signed);
        if size == 0 {
            return Err(refused(
                "tree_size must be at least 1: the empty log includes nothing".into(),
            ));
        }
        if size > signed {
            return Err(refused(format!(
                "tree_size {size} is beyond the signed log's size {signed}"
            ))
            .with("signed_size", signed));
        }
        if index >= size {
            return Err(refused(format!(
                "index {index} is not below tree_size {size}"
            )));
        }
        if require_oversight(&actor).is_err() {
            let is_party: i64 = audit_entry_parties::table
                .filter(audit_entry_parties::account_id.eq(actor.id.to_string()))
                .filter(audit_entry_parties::idx.eq(index as i64))
                .filter(tree::planned_afresh())
                .count()
                .get_result(conn)?;
            if is_party == 0 {
                return Err(Error::not_found(&format!("audit entry {index}")));
            }
        }
        let ranges = merkle::inclusion_proof_ranges(index, size)
            .map_err(|e| Error::Internal(format!("audit tree: {e}")))?;
        let proof = tree::proof(conn, &ranges)?;
        let leaf = tree::fetch(conn, &[merkle::NodeId::leaf(index)])?
            .remove(&merkle::NodeId::leaf(index))
            .ok_or_else(|| Error::Internal(format!("audit tree lacks leaf {index}")))?;
        Ok(InclusionProof {
            index,
            tree_size: size,
            leaf_hash: hex::encode(leaf),
            root_hash: hex::encode(tree::root_at(conn, size)?),
            proof: hex_all(&proof),
        })
    })
    .await
}

/// The consistency proof from the log of `first` entries to the log of
/// `second` entries (default: the newest signed head's). It reveals only
/// hashes, so any account may have it.
pub async fn consistency_proof(
    db: &Db,
    first: u64,
    second: Option<u64>,
) -> Result<ConsistencyProof> {
    db.read(move |conn| {
        let signed = signed_size(conn)?;
        let second = second.unwrap_or(signed);
        if first == 0 {
            return Err(refused(
                "first must be at least 1: every log extends the empty one, so there is nothing to prove".into(),
            ));
        }
        if first > second {
            return Err(refused(format!("first {first} exceeds second {second}")));
        }
        if second > signed {
            return Err(refused(format!("second {second} is beyond the signed log's size {signed}"))
                .with("signed_size", signed));
        }
        let ranges = merkle::consistency_proof_ranges(first, second)
            .map_err(|e| Error::Internal(format!("audit tree: {e}")))?;
        let proof = tree::proof(conn, &ranges)?;
        Ok(ConsistencyProof {
            first,
            second,
            first_root: hex::encode(tree::root_at(conn, first)?),
            second_root: hex::encode(tree::root_at(conn, second)?),
            proof: hex_all(&proof),
        })
    })
    .await
}
