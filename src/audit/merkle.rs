//! RFC 6962 / RFC 9162 Merkle tree hashing for the transparency log.
//!
//! Pure computation, no storage and no I/O: the log (`audit::tree`) stores
//! what these plans name, and the offline verifier (`audit::verify`) runs the
//! folds and verifiers on what a server sends.
//!
//! The hashing is the one fixed by RFC 6962 (and kept by RFC 9162) over
//! SHA-256: a leaf is `SHA-256(0x00 || data)`, an interior node is
//! `SHA-256(0x01 || left || right)`, the empty tree is `SHA-256("")`, and a
//! tree of `n > 1` leaves splits at the largest power of two strictly below
//! `n`. The distinct prefixes keep a leaf from ever being passed off as an
//! interior node (second-preimage resistance).
//!
//! # Storage model
//!
//! The log never stores the tree's ephemeral (incomplete) nodes. It stores
//! only hashes of *complete, aligned* subtrees, each named by a [`NodeId`].
//! Such a node never changes once written, so rows are insert-only, and any
//! root, inclusion proof or consistency proof can be assembled from
//! `O(log n)` of them.
//!
//! The API is therefore split in two halves so that the caller can fetch
//! everything with one query between them:
//!
//! * *plans* say which nodes are needed: [`append_siblings`],
//!   [`range_nodes`], [`root_nodes`], [`inclusion_proof_ranges`],
//!   [`consistency_proof_ranges`] and [`nodes_for_ranges`];
//! * *folds* combine fetched hashes: [`append_nodes`], [`fold_range`] and
//!   [`build_proof`].
//!
//! The verifiers ([`verify_inclusion`], [`verify_consistency`]) and
//! [`CompactRange`] need no storage at all and are what an external auditor
//! runs.
//!
//! Every function here is total: malformed input (impossible sizes, wrong
//! proof lengths, missing nodes) yields an error, never a panic, and every
//! loop is bounded by the 64 bits of a tree size.

use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest: a leaf hash, a node hash or a tree root.
pub type Hash = [u8; 32];

/// Length in bytes of a `Hash`.
pub const HASH_LEN: usize = 32;

/// Domain-separation prefix for leaf hashes (RFC 6962 section 2.1).
const LEAF_PREFIX: u8 = 0x00;
/// Domain-separation prefix for interior node hashes (RFC 6962 section 2.1).
const NODE_PREFIX: u8 = 0x01;

/// The Merkle tree hash of a single leaf: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    Sha256::new()
        .chain_update([LEAF_PREFIX])
        .chain_update(data)
        .finalize()
        .into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    Sha256::new()
        .chain_update([NODE_PREFIX])
        .chain_update(left)
        .chain_update(right)
        .finalize()
        .into()
}

/// The root of the empty tree: `SHA-256("")`, with no prefix byte.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// A complete, aligned subtree: the node at `level` (0 = leaves) and
/// position `index` within that level. It covers the leaves
/// `[index << level, (index + 1) << level)`.
///
/// The derived order (level first, then index) is only there to give
/// [`nodes_for_ranges`] a deterministic, deduplicable output; it carries no
/// tree meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Height above the leaves; the subtree holds `2^level` leaves.
    pub level: u8,
    /// Position among the nodes of the same level, counted from the left.
    pub index: u64,
}

impl NodeId {
    /// The node of the leaf at `index`.
    pub fn leaf(index: u64) -> Self {
        NodeId { level: 0, index }
    }

    /// The first leaf the node covers.
    ///
    /// Saturates at `u64::MAX` for a node lying beyond the `u64` leaf space
    /// (possible only for a hand-made `NodeId`; none of this module's plans
    /// produce one), so that arithmetic on untrusted ids cannot panic.
    pub fn first_leaf(&self) -> u64 {
        shl_saturating(self.index, self.level)
    }

    /// One past the last leaf the node covers.
    ///
    /// Saturates at `u64::MAX` like [`NodeId::first_leaf`].
    pub fn end_leaf(&self) -> u64 {
        shl_saturating(self.index.saturating_add(1), self.level)
    }
}

/// `x << shift`, or `u64::MAX` if any bit would be shifted out.
fn shl_saturating(x: u64, shift: u8) -> u64 {
    if x == 0 {
        0
    } else if u32::from(shift) > x.leading_zeros() {
        u64::MAX
    } else {
        x << shift
    }
}

/// Errors from planning and folding (server-side tree maintenance and proof
/// construction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MerkleError {
    /// A leaf index is not inside a tree of the given size. Also used for
    /// appending at `u64::MAX`, because a tree cannot grow past `u64::MAX`
    /// leaves.
    IndexOutOfRange {
        /// The requested leaf index.
        index: u64,
        /// The tree size it was checked against.
        size: u64,
    },
    /// A consistency proof was requested for sizes that do not satisfy
    /// `0 < first <= second`.
    BadSizes {
        /// The older tree size.
        first: u64,
        /// The newer tree size.
        second: u64,
    },
    /// The node lookup had no hash for a node that the plan needs.
    MissingNode(NodeId),
    /// [`append_nodes`] got a different number of sibling hashes than
    /// [`append_siblings`] asks for.
    SiblingCount {
        /// What [`append_siblings`] returns for this leaf index.
        expected: usize,
        /// What the caller passed.
        got: usize,
    },
    /// A leaf range `[start, end)` with `start >= end`, or an empty list of
    /// hashes to fold: neither has a Merkle tree hash.
    EmptyRange,
}

impl fmt::Display for MerkleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MerkleError::IndexOutOfRange { index, size } => {
                write!(f, "leaf index {index} is out of range for tree size {size}")
            }
            MerkleError::BadSizes { first, second } => write!(
                f,
                "no consistency proof between tree sizes {first} and {second} \
                 (need 0 < first <= second)"
            ),
            MerkleError::MissingNode(id) => write!(
                f,
                "tree node at level {} index {} is not stored",
                id.level, id.index
            ),
            MerkleError::SiblingCount { expected, got } => {
                write!(f, "expected {expected} sibling hashes, got {got}")
            }
            MerkleError::EmptyRange => f.write_str("empty leaf range has no Merkle tree hash"),
        }
    }
}

impl std::error::Error for MerkleError {}

/// Why a proof was rejected.
///
/// The variants exist for diagnostics only; every one of them means the
/// proof must not be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// The leaf index is not below the tree size (this includes any index
    /// in an empty tree).
    IndexOutOfRange,
    /// The tree sizes do not satisfy `0 < first <= second`.
    BadSizes,
    /// The proof does not have the one length that the sizes (and index)
    /// dictate.
    WrongProofLength {
        /// The only acceptable length.
        expected: usize,
        /// The length received.
        got: usize,
    },
    /// The proof has the right shape but does not lead to the given root(s).
    RootMismatch,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::IndexOutOfRange => f.write_str("leaf index is not below the tree size"),
            VerifyError::BadSizes => f.write_str("tree sizes do not satisfy 0 < first <= second"),
            VerifyError::WrongProofLength { expected, got } => {
                write!(f, "proof has {got} hashes, expected {expected}")
            }
            VerifyError::RootMismatch => f.write_str("proof does not match the root hash"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// The left siblings that must be read to append the leaf at index `n`
/// (growing the tree from `n` to `n + 1` leaves), bottom-up.
///
/// Appending leaf `n` completes one new node per trailing one bit of `n`:
/// each of those bits marks a complete left sibling waiting for a right
/// half, and the new leaf supplies it. The siblings are
/// `(0, n - 1), (1, (n >> 1) - 1), ...`.
///
/// Leaf `u64::MAX` can never be appended (the size would not fit in a
/// `u64`), so it needs nothing; [`append_nodes`] rejects it.
pub fn append_siblings(n: u64) -> Vec<NodeId> {
    if n == u64::MAX {
        return Vec::new();
    }
    (0..n.trailing_ones())
        .map(|level| NodeId {
            level: level as u8,
            // Bit `level` of n is set (level < trailing_ones), so n >> level
            // is odd and the subtraction cannot underflow.
            index: (n >> level) - 1,
        })
        .collect()
}

/// The nodes completed by appending leaf `n` with leaf hash `leaf`,
/// bottom-up, starting with `NodeId::leaf(n)`.
///
/// `siblings` are the stored hashes of [`append_siblings`]`(n)`, in the same
/// order. Each completed node's hash is `node_hash(sibling[i], previous)`,
/// since the new leaf is always on the right.
///
/// # Errors
///
/// [`MerkleError::SiblingCount`] if `siblings` has the wrong length, and
/// [`MerkleError::IndexOutOfRange`] for `n == u64::MAX`.
pub fn append_nodes(
    n: u64,
    leaf: Hash,
    siblings: &[Hash],
) -> Result<Vec<(NodeId, Hash)>, MerkleError> {
    if n == u64::MAX {
        return Err(MerkleError::IndexOutOfRange {
            index: n,
            size: u64::MAX,
        });
    }
    let expected = n.trailing_ones() as usize;
    if siblings.len() != expected {
        return Err(MerkleError::SiblingCount {
            expected,
            got: siblings.len(),
        });
    }
    let mut out = Vec::with_capacity(expected + 1);
    out.push((NodeId::leaf(n), leaf));
    let mut hash = leaf;
    for (level, sibling) in (1u8..).zip(siblings) {
        hash = node_hash(sibling, &hash);
        out.push((
            NodeId {
                level,
                index: n >> level,
            },
            hash,
        ));
    }
    Ok(out)
}

/// Decomposes the leaf range `[start, end)` into maximal complete aligned
/// subtrees, left to right (empty if `start >= end`).
///
/// Greedy from the left: each step takes the largest subtree that starts at
/// the current position (limited by its alignment) and does not pass `end`.
/// For the ranges that RFC 6962 roots and proofs use (an aligned block of
/// `2^k` leaves, possibly cut short by the tree size) this yields subtrees
/// of strictly decreasing size, which [`fold_range`] turns into exactly the
/// range's Merkle tree hash. At most 128 nodes are ever returned.
pub fn range_nodes(start: u64, end: u64) -> Vec<NodeId> {
    let mut out = Vec::new();
    let mut pos = start;
    while pos < end {
        // trailing_zeros(0) is 64, so position 0 is limited only by the length.
        let aligned = pos.trailing_zeros();
        let fits = (end - pos).ilog2();
        let level = aligned.min(fits);
        out.push(NodeId {
            level: level as u8,
            index: pos >> level,
        });
        // pos + 2^level <= end by the choice of `fits`, so this cannot overflow.
        pos += 1 << level;
    }
    out
}

/// The Merkle tree hash of a range, given the hashes of its
/// [`range_nodes`] in the same order.
///
/// Folds right to left (`h = last; h = node_hash(x, h)` for each earlier
/// `x`), because RFC 6962 splits at the largest power of two: the leftmost,
/// largest subtree is the left child of the root, and everything after it
/// forms the right child.
///
/// # Errors
///
/// [`MerkleError::EmptyRange`] if `hashes` is empty.
pub fn fold_range(hashes: &[Hash]) -> Result<Hash, MerkleError> {
    let (last, rest) = hashes.split_last().ok_or(MerkleError::EmptyRange)?;
    Ok(rest.iter().rev().fold(*last, |acc, x| node_hash(x, &acc)))
}

/// The stored nodes whose hashes fold into the root of a tree of `size`
/// leaves; the same as `range_nodes(0, size)`, one node per set bit of
/// `size`. The root of the empty tree is [`empty_root`], not a fold.
pub fn root_nodes(size: u64) -> Vec<NodeId> {
    range_nodes(0, size)
}

/// The largest power of two strictly below `n`; requires `n >= 2`.
fn split_point(n: u64) -> u64 {
    1 << (n - 1).ilog2()
}

/// Walks RFC 9162's `PATH(index, D[0:size])` from the root down, reporting
/// each proof element's leaf range. Requires `index < size`. The RFC lists
/// the elements bottom-up, i.e. in the reverse order of this walk.
fn walk_inclusion(index: u64, size: u64, mut visit: impl FnMut(u64, u64)) {
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            visit(mid, hi);
            hi = mid;
        } else {
            visit(lo, mid);
            lo = mid;
        }
    }
}

/// Walks RFC 9162's `SUBPROOF(first, D[0:second], true)` from the root down,
/// reporting each proof element's leaf range. Requires
/// `0 < first < second`; the RFC's order is the reverse of this walk.
fn walk_consistency(first: u64, second: u64, mut visit: impl FnMut(u64, u64)) {
    let (mut lo, mut hi) = (0, second);
    // RFC 9162's flag `b`: whether the subtree ending at `first` is the old
    // tree itself (whose root the verifier already has) or an inner node
    // that the proof has to supply.
    let mut is_old_root = true;
    // Invariant: lo < first <= hi, so the range never shrinks below 2 leaves
    // before first == hi ends the walk.
    while first != hi {
        let mid = lo + split_point(hi - lo);
        if first <= mid {
            visit(mid, hi);
            hi = mid;
        } else {
            visit(lo, mid);
            lo = mid;
            is_old_root = false;
        }
    }
    if !is_old_root {
        visit(lo, hi);
    }
}

/// The inclusion proof for leaf `index` in a tree of `size` leaves, as the
/// leaf ranges whose Merkle tree hashes form the proof, in RFC 9162 order
/// (bottom to top).
///
/// # Errors
///
/// [`MerkleError::IndexOutOfRange`] unless `index < size`.
pub fn inclusion_proof_ranges(index: u64, size: u64) -> Result<Vec<(u64, u64)>, MerkleError> {
    if index >= size {
        return Err(MerkleError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::new();
    walk_inclusion(index, size, |start, end| out.push((start, end)));
    out.reverse();
    Ok(out)
}

/// The consistency proof from tree size `first` to tree size `second`, as
/// leaf ranges in RFC 9162 order (as `SUBPROOF` produces them).
///
/// Requires `0 < first <= second`; `first == second` has the empty proof.
/// RFC 9162 defines no proof from the empty tree: every tree extends it, so
/// such a "proof" would prove nothing, and [`verify_consistency`] rejects it.
///
/// # Errors
///
/// [`MerkleError::BadSizes`] unless `0 < first <= second`.
pub fn consistency_proof_ranges(first: u64, second: u64) -> Result<Vec<(u64, u64)>, MerkleError> {
    if first == 0 || first > second {
        return Err(MerkleError::BadSizes { first, second });
    }
    let mut out = Vec::new();
    if first < second {
        walk_consistency(first, second, |start, end| out.push((start, end)));
        out.reverse();
    }
    Ok(out)
}

/// Every stored node needed to build the given ranges, sorted and
/// deduplicated, so that a proof costs a single `WHERE (level, index) IN
/// (...)` query.
pub fn nodes_for_ranges(ranges: &[(u64, u64)]) -> Vec<NodeId> {
    let mut nodes: Vec<NodeId> = ranges
        .iter()
        .flat_map(|&(start, end)| range_nodes(start, end))
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

/// Builds a proof (one hash per range, in the given order) from the fetched
/// nodes.
///
/// # Errors
///
/// [`MerkleError::MissingNode`] if `lookup` lacks a needed node, and
/// [`MerkleError::EmptyRange`] for a range with `start >= end`.
pub fn build_proof(
    ranges: &[(u64, u64)],
    lookup: impl Fn(NodeId) -> Option<Hash>,
) -> Result<Vec<Hash>, MerkleError> {
    ranges
        .iter()
        .map(|&(start, end)| {
            let hashes = range_nodes(start, end)
                .into_iter()
                .map(|id| lookup(id).ok_or(MerkleError::MissingNode(id)))
                .collect::<Result<Vec<_>, _>>()?;
            fold_range(&hashes)
        })
        .collect()
}

/// The only valid length of an inclusion proof; requires `index < size`.
fn inclusion_proof_len(index: u64, size: u64) -> usize {
    let mut len = 0;
    walk_inclusion(index, size, |_, _| len += 1);
    len
}

/// The only valid length of a consistency proof; requires
/// `0 < first < second`.
fn consistency_proof_len(first: u64, second: u64) -> usize {
    let mut len = 0;
    walk_consistency(first, second, |_, _| len += 1);
    len
}

/// Verifies that `leaf` (a leaf hash) is at `index` in the tree of `size`
/// leaves whose root is `root`, following RFC 9162 section 2.1.3.2.
///
/// The proof length is checked up front against the one length the index
/// and size allow, which both rejects padded or truncated proofs and bounds
/// the work done on hostile input.
///
/// # Errors
///
/// Any [`VerifyError`] means the proof must not be trusted.
pub fn verify_inclusion(
    index: u64,
    size: u64,
    leaf: &Hash,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), VerifyError> {
    if index >= size {
        return Err(VerifyError::IndexOutOfRange);
    }
    let expected = inclusion_proof_len(index, size);
    let wrong_length = VerifyError::WrongProofLength {
        expected,
        got: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }

    // `node` is the position of the running hash on its level and `last`
    // that of the tree's last node on the same level.
    let (mut node, mut last) = (index, size - 1);
    let mut hash = *leaf;
    for p in proof {
        if last == 0 {
            // Already at the root: the RFC's step 4.a. The length check makes
            // this unreachable, but the algorithm is kept whole on purpose.
            return Err(wrong_length);
        }
        if node & 1 == 1 || node == last {
            hash = node_hash(p, &hash);
            // A rightmost node without a right sibling is carried up
            // unchanged until it becomes a right child: skip those levels.
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        } else {
            hash = node_hash(&hash, p);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(wrong_length);
    }
    if hash != *root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `second` leaves with root `second_root` extends
/// the tree of `first` leaves with root `first_root`, following RFC 9162
/// section 2.1.4.2.
///
/// Requires `0 < first <= second`. For `first == second` the proof must be
/// empty and the roots equal. A proof from the empty tree is rejected
/// ([`VerifyError::BadSizes`]): it would prove nothing, and accepting one
/// would let a client mistake "no check" for "checked".
///
/// # Errors
///
/// Any [`VerifyError`] means the proof must not be trusted.
pub fn verify_consistency(
    first: u64,
    second: u64,
    proof: &[Hash],
    first_root: &Hash,
    second_root: &Hash,
) -> Result<(), VerifyError> {
    if first == 0 || first > second {
        return Err(VerifyError::BadSizes);
    }
    if first == second {
        if !proof.is_empty() {
            return Err(VerifyError::WrongProofLength {
                expected: 0,
                got: proof.len(),
            });
        }
        if first_root != second_root {
            return Err(VerifyError::RootMismatch);
        }
        return Ok(());
    }

    let expected = consistency_proof_len(first, second);
    let wrong_length = VerifyError::WrongProofLength {
        expected,
        got: proof.len(),
    };
    if proof.len() != expected {
        return Err(wrong_length);
    }

    // When `first` is a power of two the old tree is itself a node of the new
    // one, so the proof omits it and the verifier starts from its root
    // (RFC step 2).
    let (seed, rest) = if first.is_power_of_two() {
        (first_root, proof)
    } else {
        proof.split_first().ok_or(wrong_length)?
    };

    let (mut node, mut last) = (first - 1, second - 1);
    // Start from the largest complete subtree ending at the old tree's last
    // leaf: its hash is `seed` (RFC step 4).
    while node & 1 == 1 {
        node >>= 1;
        last >>= 1;
    }
    // Rebuild both roots at once: the old one only from the nodes left of the
    // path, the new one from all of them.
    let (mut old_hash, mut new_hash) = (*seed, *seed);
    for c in rest {
        if last == 0 {
            return Err(wrong_length);
        }
        if node & 1 == 1 || node == last {
            old_hash = node_hash(c, &old_hash);
            new_hash = node_hash(c, &new_hash);
            // Same carrying-up of a rightmost node as in `verify_inclusion`.
            while node & 1 == 0 && node != 0 {
                node >>= 1;
                last >>= 1;
            }
        } else {
            new_hash = node_hash(&new_hash, c);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(wrong_length);
    }
    if old_hash != *first_root || new_hash != *second_root {
        return Err(VerifyError::RootMismatch);
    }
    Ok(())
}

/// A streaming Merkle tree over leaves `[0, size)`, holding only the hashes
/// of the tree's [`root_nodes`]: `O(log n)` memory however many leaves are
/// pushed. This is what an offline verifier uses to recompute a root from
/// millions of leaves (like transparency-dev's `compact.Range` starting at
/// 0).
#[derive(Clone, Debug, Default)]
pub struct CompactRange {
    /// Number of leaves pushed so far.
    size: u64,
    /// Hashes of `root_nodes(size)`, left to right (largest subtree first).
    hashes: Vec<Hash>,
    /// Hashes of the nodes completed by the last push, bottom-up. Kept so
    /// that [`CompactRange::last_completed`] can report the intermediate
    /// nodes that merging folds away; the buffer is reused across pushes.
    last: Vec<Hash>,
}

impl CompactRange {
    /// An empty range (tree size 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// The range of a tree of `size` leaves from the hashes of its
    /// [`root_nodes`], left to right, as the log stores them: where a writer
    /// picks up the tree.
    ///
    /// # Errors
    ///
    /// [`MerkleError::SiblingCount`] if `hashes` is not one hash per node of
    /// `root_nodes(size)`.
    pub fn from_root_nodes(size: u64, hashes: Vec<Hash>) -> Result<Self, MerkleError> {
        let expected = size.count_ones() as usize;
        if hashes.len() != expected {
            return Err(MerkleError::SiblingCount {
                expected,
                got: hashes.len(),
            });
        }
        Ok(CompactRange {
            size,
            hashes,
            last: Vec::new(),
        })
    }

    /// Appends the leaf hash `leaf` as leaf number [`CompactRange::size`].
    ///
    /// # Errors
    ///
    /// [`MerkleError::IndexOutOfRange`] if the range already holds
    /// `u64::MAX` leaves (as [`append_nodes`] refuses leaf `u64::MAX`), which
    /// no real input can reach; the range is left unchanged.
    pub fn push(&mut self, leaf: Hash) -> Result<(), MerkleError> {
        let n = self.size;
        let size = n
            .checked_add(1)
            .ok_or(MerkleError::IndexOutOfRange { index: n, size: n })?;
        // The subtrees merged by this leaf are the last `trailing_ones(n)`
        // stored ones, i.e. those of `append_siblings(n)`; walk them from the
        // right (smallest) end. Since `hashes.len() == n.count_ones()` there
        // are always enough; the saturation merely guards that invariant.
        let merged = n.trailing_ones() as usize;
        let keep = self.hashes.len().saturating_sub(merged);
        self.last.clear();
        self.last.push(leaf);
        let mut hash = leaf;
        for left in self.hashes.drain(keep..).rev() {
            hash = node_hash(&left, &hash);
            self.last.push(hash);
        }
        self.hashes.push(hash);
        self.size = size;
        Ok(())
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The Merkle tree hash of all leaves pushed so far ([`empty_root`] if
    /// none).
    pub fn root(&self) -> Hash {
        fold_range(&self.hashes).unwrap_or_else(|_| empty_root())
    }

    /// The complete subtrees finished by the last push, bottom-up, exactly
    /// as [`append_nodes`] returned them for that leaf, so that a verifier
    /// can compare them with the server's stored nodes. Empty before the
    /// first push.
    pub fn last_completed(&self) -> Vec<(NodeId, Hash)> {
        let Some(n) = self.size.checked_sub(1) else {
            return Vec::new();
        };
        (0u8..)
            .zip(&self.last)
            .map(|(level, hash)| {
                (
                    NodeId {
                        level,
                        index: n >> level,
                    },
                    *hash,
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The private length helpers must agree with the public range plans,
    /// since the verifiers trust them to reject padded or truncated proofs.
    #[test]
    fn proof_lengths_match_range_plans() {
        for size in 1..=70u64 {
            for index in 0..size {
                let ranges = inclusion_proof_ranges(index, size).expect("valid index");
                assert_eq!(inclusion_proof_len(index, size), ranges.len());
            }
            for first in 1..size {
                let ranges = consistency_proof_ranges(first, size).expect("valid sizes");
                assert_eq!(consistency_proof_len(first, size), ranges.len());
            }
        }
    }

    #[test]
    fn shl_saturating_edges() {
        assert_eq!(shl_saturating(0, 200), 0);
        assert_eq!(shl_saturating(1, 63), 1 << 63);
        assert_eq!(shl_saturating(1, 64), u64::MAX);
        assert_eq!(shl_saturating(2, 63), u64::MAX);
        assert_eq!(shl_saturating(u64::MAX, 0), u64::MAX);
    }

    #[test]
    fn split_point_is_largest_power_of_two_below() {
        assert_eq!(split_point(2), 1);
        assert_eq!(split_point(3), 2);
        assert_eq!(split_point(4), 2);
        assert_eq!(split_point(5), 4);
        assert_eq!(split_point(u64::MAX), 1 << 63);
    }
}
