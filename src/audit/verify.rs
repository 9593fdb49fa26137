//! The offline verifier: what `datamarket audit verify` and `audit prove`
//! run. It trusts nothing the server says except what the platform key
//! signed: it recomputes every leaf hash from the canonical bytes, every
//! stored subtree hash and every signed root from the leaves, checks the
//! newest signed head against the JWKS, and checks that a head the user
//! saved earlier is a prefix of today's log.
//!
//! [`LogVerifier`] is the pure part (entries in, verdict out) and works the
//! same on a server's stream and on a JSON Lines export; [`verify_export`]
//! feeds it from a file, and the HTTP client (`crate::client::audit`) from a
//! server. Nothing here speaks HTTP.

use std::fmt;
use std::io::BufRead;

use serde::Deserialize;

use super::checkpoint::{Checkpoint, TrustedKeys};
use super::entries::NodeView;
use super::heads::TreeHead;
use super::merkle::{self, CompactRange, Hash};

use super::{EntryRecord, leaf_hash};

/// An entry as a verifier reads it from the entries endpoint or an export
/// (other members are ignored).
#[derive(Clone, Debug, Deserialize)]
pub struct ServedEntry {
    pub index: u64,
    pub canonical: String,
    pub leaf_hash: String,
    #[serde(default)]
    pub nodes: Vec<NodeView>,
    #[serde(default)]
    pub tree_head: Option<TreeHead>,
}

/// The log does not verify: the first entry that does not match (when the
/// failure can be pinned to one) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub index: Option<u64>,
    pub reason: String,
}

impl Failure {
    pub fn at(index: u64, reason: impl Into<String>) -> Failure {
        Failure {
            index: Some(index),
            reason: reason.into(),
        }
    }

    pub fn log(reason: impl Into<String>) -> Failure {
        Failure {
            index: None,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(index) => write!(f, "FAIL at entry {index}: {}", self.reason),
            None => write!(f, "FAIL: {}", self.reason),
        }
    }
}

/// Why a verification did not produce a verdict on the log, or the verdict
/// that it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The log (or the proof) does not verify.
    Failed(Failure),
    /// The verification could not be carried out (network, files, access).
    Error(String),
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Failed(failure) => failure.fmt(f),
            Problem::Error(message) => f.write_str(message),
        }
    }
}

impl From<Failure> for Problem {
    fn from(f: Failure) -> Self {
        Problem::Failed(f)
    }
}

/// A log that verified.
#[derive(Clone, Debug)]
pub struct Report {
    /// Entries checked.
    pub entries: u64,
    /// Root of all entries checked.
    pub root: Hash,
    /// The newest signed head, whose signature verified.
    pub head: TreeHead,
    /// JWKS `kid` of the key that signed it.
    pub kid: String,
    /// Signed heads whose roots were checked against the recomputed ones.
    pub heads_checked: u64,
    /// Size of the trusted head the log was found consistent with.
    pub trusted_size: Option<u64>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok: {} entries, root {}, signed head verified",
            self.entries,
            hex::encode(self.root)
        )?;
        if self.head.tree_size < self.entries {
            write!(
                f,
                " (it covers the first {}; the last {} are not yet signed)",
                self.head.tree_size,
                self.entries - self.head.tree_size
            )?;
        }
        if let Some(size) = self.trusted_size {
            write!(f, ", consistent with trusted head of size {size}")?;
        }
        Ok(())
    }
}

/// Options of a verification.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Verify the signature of every signed head the entries carry, not
    /// only the newest one's. Much slower (one Ed25519 verification per
    /// head), and it adds nothing while the platform key is safe: an older
    /// head's root is compared with the recomputed root anyway.
    pub every_signature: bool,
}

pub fn hash_from_hex(text: &str) -> Option<Hash> {
    hex::decode(text).ok()?.try_into().ok()
}

/// Recomputes the log from its entries, in order, and compares everything
/// the server stored with the recomputation.
pub struct LogVerifier<'k> {
    keys: &'k TrustedKeys,
    options: Options,
    range: CompactRange,
    /// Size of the newest signed head whose root matched.
    vouched: u64,
    heads_checked: u64,
    newest_head: Option<TreeHead>,
    remember_at: Option<u64>,
    remembered: Option<Hash>,
}

impl<'k> LogVerifier<'k> {
    pub fn new(keys: &'k TrustedKeys, options: Options) -> LogVerifier<'k> {
        LogVerifier {
            keys,
            options,
            range: CompactRange::new(),
            vouched: 0,
            heads_checked: 0,
            newest_head: None,
            remember_at: None,
            remembered: None,
        }
    }

    /// Keeps the recomputed root at `size` (to compare with a trusted head).
    pub fn remember_root_at(&mut self, size: u64) {
        self.remember_at = Some(size);
        if size == 0 {
            self.remembered = Some(merkle::empty_root());
        }
    }

    /// The root recomputed at the size given to [`Self::remember_root_at`],
    /// once the entries reached it.
    pub fn remembered_root(&self) -> Option<Hash> {
        self.remembered
    }

    /// Entries checked so far.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    pub fn root(&self) -> Hash {
        self.range.root()
    }

    /// The newest signed head seen among the entries.
    pub fn newest_head(&self) -> Option<&TreeHead> {
        self.newest_head.as_ref()
    }

    /// Checks the next entry, in this order: it is the next index; its
    /// canonical bytes are an entry that names that index; they hash to the
    /// stored leaf hash; the stored nodes its append completed equal the
    /// recomputed ones; and a head signed at its size has the recomputed
    /// root.
    pub fn push(&mut self, entry: ServedEntry) -> Result<(), Failure> {
        let index = self.range.size();
        if entry.index != index {
            return Err(if entry.index > index {
                Failure::at(
                    index,
                    format!(
                        "the entry is missing (the next entry served is {})",
                        entry.index
                    ),
                )
            } else {
                Failure::at(
                    index,
                    format!(
                        "entry {} was served again where entry {index} belongs",
                        entry.index
                    ),
                )
            });
        }
        let (_, leaf) = check_entry(index, &entry)?;
        self.range
            .push(leaf)
            .map_err(|e| Failure::at(index, e.to_string()))?;
        let completed = self.range.last_completed();
        for node in &entry.nodes {
            if !completed.iter().any(|(id, _)| id.level == node.level) {
                return Err(Failure::at(
                    index,
                    format!(
                        "the server sent a node at level {} that this entry's append cannot have completed",
                        node.level
                    ),
                ));
            }
        }
        for (id, hash) in &completed {
            let covers = format!(
                "level {} index {}, over entries {}..={}",
                id.level,
                id.index,
                id.first_leaf(),
                id.end_leaf() - 1
            );
            match entry.nodes.iter().find(|n| n.level == id.level) {
                None => {
                    return Err(Failure::at(
                        id.first_leaf(),
                        format!("the stored tree lacks the subtree hash at {covers}"),
                    ));
                }
                Some(node) if hash_from_hex(&node.hash) != Some(*hash) => {
                    return Err(Failure::at(
                        id.first_leaf(),
                        format!(
                            "the stored subtree hash at {covers} is {}, but the entries give {}",
                            node.hash,
                            hex::encode(hash)
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if self.remember_at == Some(self.range.size()) {
            self.remembered = Some(self.range.root());
        }
        if let Some(head) = entry.tree_head {
            self.check_head(index, head)?;
        }
        Ok(())
    }

    fn check_head(&mut self, index: u64, head: TreeHead) -> Result<(), Failure> {
        let size = self.range.size();
        if head.tree_size != size {
            return Err(Failure::at(
                index,
                format!(
                    "the entry carries a signed head of size {} instead of {size}",
                    head.tree_size
                ),
            ));
        }
        let root = self.range.root();
        if hash_from_hex(&head.root_hash) != Some(root) {
            return Err(Failure::at(
                self.vouched,
                format!(
                    "entries {}..={index} differ from what the signed tree head of size {size} committed to (its root is {}, the entries give {})",
                    self.vouched,
                    head.root_hash,
                    hex::encode(root)
                ),
            ));
        }
        let checkpoint = head_checkpoint(&head).map_err(|reason| Failure::at(index, reason))?;
        if self.options.every_signature {
            checkpoint.verify(self.keys).map_err(|e| {
                Failure::at(index, format!("the signed tree head of size {size}: {e}"))
            })?;
        }
        self.vouched = size;
        self.heads_checked += 1;
        self.newest_head = Some(head);
        Ok(())
    }

    /// The verdict against `head`, the newest signed head (the server's, or
    /// the newest the export carries): every entry it covers was checked,
    /// the recomputed root is its root, and its signature verifies.
    pub fn finish(&self, head: &TreeHead) -> Result<Report, Failure> {
        let size = self.range.size();
        if size < head.tree_size {
            return Err(Failure::at(
                size,
                format!(
                    "the entry is missing: the signed head covers {} entries, {size} were served",
                    head.tree_size
                ),
            ));
        }
        let checkpoint = head_checkpoint(head).map_err(Failure::log)?;
        let kid = checkpoint.verify(self.keys).map_err(|e| {
            Failure::log(format!(
                "the newest signed tree head (size {}) does not verify against the JWKS: {e}",
                head.tree_size
            ))
        })?;
        // The head was compared with the recomputed root when its entry came
        // by; a head of size 0 has no entry.
        if head.tree_size == 0 && checkpoint.root_hash != merkle::empty_root() {
            return Err(Failure::log(
                "the signed head of the empty log has a root other than the empty root",
            ));
        }
        let carried = self
            .newest_head
            .as_ref()
            .is_some_and(|h| h.tree_size == head.tree_size && h.root_hash == head.root_hash);
        if head.tree_size > 0 && !carried {
            return Err(Failure::at(
                head.tree_size - 1,
                format!(
                    "the entries do not carry the signed head of size {} the server presents",
                    head.tree_size
                ),
            ));
        }
        Ok(Report {
            entries: size,
            root: self.range.root(),
            head: head.clone(),
            kid: kid.to_owned(),
            heads_checked: self.heads_checked,
            trusted_size: None,
        })
    }

    /// Checks that the log begins with the log `trusted` describes: it is
    /// no longer than the entries checked, and the root recomputed at its
    /// size is its root. Needs [`Self::remember_root_at`] with its size
    /// before the entries.
    pub fn check_trusted(&self, trusted: &Checkpoint) -> Result<(), Failure> {
        let size = trusted.tree_size;
        let remembered = self.remembered.ok_or_else(|| {
            Failure::log(format!(
                "the log has {} entries, fewer than the {size} of the trusted head: it lost entries",
                self.range.size()
            ))
        })?;
        if remembered != trusted.root_hash {
            return Err(Failure::log(format!(
                "the log is not consistent with the trusted head: its first {size} entries hash to {}, the trusted head says {}; the history before entry {size} was rewritten",
                hex::encode(remembered),
                hex::encode(trusted.root_hash)
            )));
        }
        Ok(())
    }
}

/// Checks that a served entry's canonical bytes are a valid entry that
/// names `index` and hash to its stored leaf hash; returns the entry and
/// its recomputed leaf hash.
pub fn check_entry(index: u64, entry: &ServedEntry) -> Result<(EntryRecord, Hash), Failure> {
    let record: EntryRecord = serde_json::from_str(&entry.canonical).map_err(|e| {
        Failure::at(
            index,
            format!("the canonical bytes are not a valid entry ({e})"),
        )
    })?;
    if record.index != index {
        return Err(Failure::at(
            index,
            format!(
                "the canonical bytes are those of entry {}: entries were moved or swapped",
                record.index
            ),
        ));
    }
    let leaf = leaf_hash(entry.canonical.as_bytes());
    if hash_from_hex(&entry.leaf_hash) != Some(leaf) {
        return Err(Failure::at(
            index,
            format!(
                "the canonical bytes hash to {}, but the stored leaf hash is {}: the entry was altered",
                hex::encode(leaf),
                entry.leaf_hash
            ),
        ));
    }
    Ok((record, leaf))
}

/// The head's checkpoint, parsed, after checking that it says what the
/// head's JSON members say.
pub fn head_checkpoint(head: &TreeHead) -> Result<Checkpoint, String> {
    let checkpoint = Checkpoint::parse(&head.checkpoint)
        .map_err(|e| format!("the signed head of size {}: {e}", head.tree_size))?;
    if checkpoint.tree_size != head.tree_size
        || Some(checkpoint.root_hash) != hash_from_hex(&head.root_hash)
        || checkpoint.timestamp.as_deref() != Some(head.timestamp.as_str())
    {
        return Err(format!(
            "the signed head of size {} says something else than its checkpoint",
            head.tree_size
        ));
    }
    Ok(checkpoint)
}

/// Parses and verifies a checkpoint saved earlier with `--save-head`.
pub fn trusted_checkpoint(text: &str, keys: &TrustedKeys) -> Result<Checkpoint, Problem> {
    let checkpoint =
        Checkpoint::parse(text).map_err(|e| Problem::Error(format!("the trusted head: {e}")))?;
    checkpoint.verify(keys).map_err(|e| {
        Problem::Failed(Failure::log(format!(
            "the trusted head does not verify: {e}"
        )))
    })?;
    Ok(checkpoint)
}

/// Verifies a JSON Lines export (`GET /api/v1/audit/entries?format=jsonl`
/// from index 0): the entries carry the signed heads, so the export is
/// self-contained but for the JWKS.
pub fn verify_export(
    reader: impl BufRead,
    keys: &TrustedKeys,
    trusted: Option<&Checkpoint>,
    options: Options,
) -> Result<Report, Problem> {
    let mut verifier = LogVerifier::new(keys, options);
    if let Some(trusted) = trusted {
        verifier.remember_root_at(trusted.tree_size);
    }
    for (number, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| Problem::Error(format!("cannot read the export: {e}")))?;
        if line.trim().is_empty() {
            continue;
        }
        let entry: ServedEntry = serde_json::from_str(&line).map_err(|e| {
            Failure::at(
                verifier.size(),
                format!("line {} of the export is not an entry ({e})", number + 1),
            )
        })?;
        verifier.push(entry)?;
    }
    let head = verifier
        .newest_head()
        .cloned()
        .ok_or_else(|| Failure::log("the export carries no signed tree head"))?;
    let mut report = verifier.finish(&head)?;
    if let Some(trusted) = trusted {
        verifier.check_trusted(trusted)?;
        report.trusted_size = Some(trusted.tree_size);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::{self, TrustedKey};
    use ed25519_dalek::{Signer, SigningKey};

    const ORIGIN: &str = "test.example/log";

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[3u8; 32])
    }

    fn keys() -> TrustedKeys {
        TrustedKeys {
            keys: vec![TrustedKey {
                kid: "k".into(),
                key: key().verifying_key(),
            }],
        }
    }

    fn head(size: u64, root: Hash) -> TreeHead {
        let time = "2026-11-29T00:00:00.000000Z";
        let text = checkpoint::note_text(ORIGIN, size, &root, time);
        let signature = key().sign(text.as_bytes());
        TreeHead {
            tree_size: size,
            root_hash: hex::encode(root),
            timestamp: time.into(),
            kid: "k".into(),
            signature: String::new(),
            checkpoint: checkpoint::signed_note(&text, ORIGIN, &key().verifying_key(), &signature),
        }
    }

    /// A log of `n` entries as a server serves it, a head at every size.
    fn log(n: u64) -> Vec<ServedEntry> {
        let mut range = CompactRange::new();
        (0..n)
            .map(|index| {
                let canonical = crate::audit::canonical_json(&serde_json::json!({
                    "v": 1, "index": index, "time": "2026-11-29T00:00:00.000000Z",
                    "actor": null, "action": "account.created", "dataset": null,
                    "subject": format!("s{index}"), "parties": [], "detail": {},
                }));
                let leaf = leaf_hash(canonical.as_bytes());
                range.push(leaf).unwrap();
                ServedEntry {
                    index,
                    canonical,
                    leaf_hash: hex::encode(leaf),
                    nodes: range
                        .last_completed()
                        .into_iter()
                        .map(|(id, hash)| NodeView {
                            level: id.level,
                            hash: hex::encode(hash),
                        })
                        .collect(),
                    tree_head: Some(head(index + 1, range.root())),
                }
            })
            .collect()
    }

    fn run(entries: Vec<ServedEntry>) -> Result<Report, Failure> {
        let keys = keys();
        let mut verifier = LogVerifier::new(
            &keys,
            Options {
                every_signature: true,
            },
        );
        for entry in entries {
            verifier.push(entry)?;
        }
        let head = verifier.newest_head().cloned().unwrap();
        verifier.finish(&head)
    }

    #[test]
    fn an_honest_log_verifies() {
        let report = run(log(13)).unwrap();
        assert_eq!((report.entries, report.heads_checked), (13, 13));
        assert_eq!(report.kid, "k");
    }

    #[test]
    fn each_kind_of_damage_is_named() {
        let mut entries = log(10);
        entries.insert(4, entries[3].clone());
        let failure = run(entries).unwrap_err();
        assert_eq!(failure.index, Some(4));
        assert!(failure.reason.contains("served again"), "{failure}");

        let mut entries = log(10);
        entries[6].nodes.push(NodeView {
            level: 5,
            hash: "00".into(),
        });
        let failure = run(entries).unwrap_err();
        assert_eq!(failure.index, Some(6));
        assert!(
            failure.reason.contains("cannot have completed"),
            "{failure}"
        );

        let mut entries = log(10);
        entries[7].nodes.retain(|n| n.level != 3);
        let failure = run(entries).unwrap_err();
        assert_eq!(failure.index, Some(0), "the node over 0..=7 starts at 0");
        assert!(
            failure.reason.contains("lacks the subtree hash at level 3"),
            "{failure}"
        );

        let mut entries = log(10);
        entries[5].tree_head = Some(head(5, [0u8; 32]));
        let failure = run(entries).unwrap_err();
        assert_eq!(failure.index, Some(5));
        assert!(failure.reason.contains("instead of 6"), "{failure}");

        // A head whose signature is not the key's, found with every_signature.
        let mut entries = log(10);
        let mut forged = entries[2].tree_head.clone().unwrap();
        forged.checkpoint = forged.checkpoint.replacen(
            "\u{2014} test.example/log ",
            "\u{2014} test.example/log AAAA",
            1,
        );
        entries[2].tree_head = Some(forged);
        assert!(run(entries).is_err());
    }

    #[test]
    fn the_newest_head_must_verify_and_be_carried() {
        let entries = log(4);
        let keys = keys();
        let mut verifier = LogVerifier::new(&keys, Options::default());
        for entry in entries {
            verifier.push(entry).unwrap();
        }
        let good = verifier.newest_head().cloned().unwrap();
        assert!(verifier.finish(&good).is_ok());
        let other = SigningKey::from_bytes(&[4u8; 32]);
        let strangers = TrustedKeys {
            keys: vec![TrustedKey {
                kid: "x".into(),
                key: other.verifying_key(),
            }],
        };
        let mut verifier = LogVerifier::new(&strangers, Options::default());
        for entry in log(4) {
            verifier.push(entry).unwrap();
        }
        let failure = verifier.finish(&good).unwrap_err();
        assert_eq!(failure.index, None);
        assert!(
            failure.reason.contains("does not verify against the JWKS"),
            "{failure}"
        );
        // A head beyond the entries served names the first missing one.
        let keys = self::keys();
        let mut verifier = LogVerifier::new(&keys, Options::default());
        for entry in log(4).into_iter().take(3) {
            verifier.push(entry).unwrap();
        }
        assert_eq!(verifier.finish(&good).unwrap_err().index, Some(3));
    }
}
