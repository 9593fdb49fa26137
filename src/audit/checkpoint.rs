//! Signed tree heads as C2SP checkpoints (<https://c2sp.org/tlog-checkpoint>)
//! in the signed-note format (<https://c2sp.org/signed-note>), written by the
//! log and read back by the offline verifier. Pure: no storage, no I/O.
//!
//! A checkpoint of this log reads
//!
//! ```text
//! datamarket
//! 2
//! uweTWMgJpudtKlatQtpPmSUqqTjQQRzlPkkcmQSiMEI=
//! timestamp 2026-11-29T03:21:47.999895Z
//!
//! — datamarket +KgikIxhXk01zxGm5VcGHUQ0vOOj1KEVzKOlVRqc1ocjeofpa6nN5EpYfV0qo/PCT62ErBE0O05HZA9JvtzeGX7nYA4=
//! ```
//!
//! The note text is the origin, the tree size, the base64 root hash and one
//! extension line `timestamp <RFC 3339 UTC, six fractional digits>`, each
//! ending in a newline. The Ed25519 signature covers the whole note text, so
//! it signs `{tree_size, root_hash, timestamp}` together with the origin.
//! The key name is the origin and the key ID is the first four bytes of
//! `SHA-256(key name || 0x0A || 0x01 || 32-byte public key)`, as the
//! signed-note specification recommends for Ed25519.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::merkle::Hash;

/// The signature type byte the signed-note specification assigns to Ed25519.
pub const ED25519_SIGNATURE_TYPE: u8 = 0x01;

/// The extension line that carries the head's timestamp.
pub const TIMESTAMP_PREFIX: &str = "timestamp ";

/// Why a checkpoint or a key set was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error("the checkpoint is not a signed note: {0}")]
    Malformed(String),
    #[error("no signature in the checkpoint is from a key in the key set")]
    NoKnownSignature,
    #[error("the signature of key {key} does not verify")]
    BadSignature { key: String },
    #[error("the key set is not a JWK Set of Ed25519 keys: {0}")]
    BadKeys(String),
}

fn malformed(why: impl Into<String>) -> CheckpointError {
    CheckpointError::Malformed(why.into())
}

/// The signed-note key ID of an Ed25519 key under `name`.
pub fn note_key_id(name: &str, key: &VerifyingKey) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', ED25519_SIGNATURE_TYPE])
        .chain_update(key.as_bytes())
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

pub use crate::domain::is_note_key_name as is_valid_key_name;

/// The note text of a checkpoint: what the signature covers.
pub fn note_text(origin: &str, tree_size: u64, root: &Hash, timestamp: &str) -> String {
    format!(
        "{origin}\n{tree_size}\n{}\n{TIMESTAMP_PREFIX}{timestamp}\n",
        STANDARD.encode(root)
    )
}

/// A complete signed note from its text and one Ed25519 signature line.
pub fn signed_note(
    text: &str,
    key_name: &str,
    key: &VerifyingKey,
    signature: &Signature,
) -> String {
    let mut blob = Vec::with_capacity(4 + 64);
    blob.extend_from_slice(&note_key_id(key_name, key));
    blob.extend_from_slice(&signature.to_bytes());
    format!("{text}\n\u{2014} {key_name} {}\n", STANDARD.encode(blob))
}

/// One signature line of a note.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoteSignature {
    pub key_name: String,
    pub key_id: [u8; 4],
    /// The signature proper, without the key ID.
    pub signature: Vec<u8>,
}

/// A parsed checkpoint. Its contents mean nothing until
/// [`Checkpoint::verify`] has succeeded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The note text, exactly as signed.
    pub text: String,
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: Hash,
    /// The `timestamp` extension line's value, if the note has one.
    pub timestamp: Option<String>,
    /// Extension lines other than the timestamp, in order.
    pub extensions: Vec<String>,
    pub signatures: Vec<NoteSignature>,
}

impl Checkpoint {
    /// Parses a signed checkpoint note (strictly: the C2SP rules for the body
    /// and the signature lines, no control characters but newlines).
    pub fn parse(note: &str) -> Result<Checkpoint, CheckpointError> {
        if note.chars().any(|c| c.is_control() && c != '\n') {
            return Err(malformed("control characters other than newline"));
        }
        // The text ends at the last blank line; everything after it is
        // signature lines.
        let split = note
            .rfind("\n\n")
            .ok_or_else(|| malformed("no blank line before the signatures"))?;
        let text = &note[..=split];
        let signature_block = &note[split + 2..];
        let signature_block = signature_block
            .strip_suffix('\n')
            .ok_or_else(|| malformed("the last signature line does not end in a newline"))?;
        let signatures = signature_block
            .split('\n')
            .map(parse_signature_line)
            .collect::<Result<Vec<_>, _>>()?;
        if signatures.is_empty() {
            return Err(malformed("no signature lines"));
        }

        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(malformed("empty origin line"));
        }
        let size_line = lines.next().ok_or_else(|| malformed("no tree size line"))?;
        if size_line.is_empty()
            || !size_line.bytes().all(|b| b.is_ascii_digit())
            || (size_line.len() > 1 && size_line.starts_with('0'))
        {
            return Err(malformed(format!(
                "tree size {size_line:?} is not a decimal number without leading zeroes"
            )));
        }
        let tree_size = size_line
            .parse()
            .map_err(|_| malformed(format!("tree size {size_line} is too large")))?;
        let root_line = lines.next().ok_or_else(|| malformed("no root hash line"))?;
        let root_hash = STANDARD
            .decode(root_line)
            .ok()
            .and_then(|b| Hash::try_from(b).ok())
            .ok_or_else(|| malformed("the root hash line is not base64 of 32 bytes"))?;
        let mut timestamp = None;
        let mut extensions = Vec::new();
        for line in lines {
            if line.is_empty() {
                return Err(malformed("empty extension line"));
            }
            match line.strip_prefix(TIMESTAMP_PREFIX) {
                Some(value) if timestamp.is_none() => timestamp = Some(value.to_owned()),
                Some(_) => return Err(malformed("two timestamp lines")),
                None => extensions.push(line.to_owned()),
            }
        }
        Ok(Checkpoint {
            text: text.to_owned(),
            origin: origin.to_owned(),
            tree_size,
            root_hash,
            timestamp,
            extensions,
            signatures,
        })
    }

    /// Verifies the note as the signed-note specification requires:
    /// signatures from unknown keys are ignored, a signature from a known key
    /// must verify, and at least one must. Keys are known under the
    /// checkpoint's origin, the key name this log signs with. Returns the
    /// JWKS `kid` of the key that signed.
    pub fn verify<'k>(&self, keys: &'k TrustedKeys) -> Result<&'k str, CheckpointError> {
        let mut verified = None;
        for line in &self.signatures {
            if line.key_name != self.origin {
                continue;
            }
            for key in &keys.keys {
                if note_key_id(&line.key_name, &key.key) != line.key_id {
                    continue;
                }
                let signature = Signature::from_slice(&line.signature).map_err(|_| {
                    CheckpointError::BadSignature {
                        key: key.kid.clone(),
                    }
                })?;
                key.key
                    .verify(self.text.as_bytes(), &signature)
                    .map_err(|_| CheckpointError::BadSignature {
                        key: key.kid.clone(),
                    })?;
                verified.get_or_insert(key.kid.as_str());
            }
        }
        verified.ok_or(CheckpointError::NoKnownSignature)
    }
}

/// Parses one signature line (`— <key name> base64(key ID || signature)`,
/// without its newline).
pub fn parse_signature_line(line: &str) -> Result<NoteSignature, CheckpointError> {
    let rest = line
        .strip_prefix("\u{2014} ")
        .ok_or_else(|| malformed("a signature line does not start with an em dash and a space"))?;
    let (name, blob) = rest
        .split_once(' ')
        .ok_or_else(|| malformed("a signature line has no signature"))?;
    if !is_valid_key_name(name) {
        return Err(malformed(format!("invalid key name {name:?}")));
    }
    let blob = STANDARD
        .decode(blob)
        .map_err(|_| malformed("a signature is not base64"))?;
    if blob.len() < 5 {
        return Err(malformed("a signature is too short"));
    }
    Ok(NoteSignature {
        key_name: name.to_owned(),
        key_id: [blob[0], blob[1], blob[2], blob[3]],
        signature: blob[4..].to_vec(),
    })
}

/// A public key a verifier trusts, with its JWKS `kid`.
#[derive(Clone, Debug)]
pub struct TrustedKey {
    pub kid: String,
    pub key: VerifyingKey,
}

/// The keys a verifier trusts: the platform's JWK Set.
#[derive(Clone, Debug, Default)]
pub struct TrustedKeys {
    pub keys: Vec<TrustedKey>,
}

impl TrustedKeys {
    /// Reads the Ed25519 (`OKP`/`Ed25519`) keys of an RFC 7517 JWK Set;
    /// keys of other types are skipped, and a set with none is refused.
    pub fn from_jwks(jwks: &Value) -> Result<TrustedKeys, CheckpointError> {
        let bad = |why: &str| CheckpointError::BadKeys(why.to_owned());
        let list = jwks["keys"]
            .as_array()
            .ok_or_else(|| bad("no \"keys\" array"))?;
        let mut keys = Vec::new();
        for jwk in list {
            if jwk["kty"] != "OKP" || jwk["crv"] != "Ed25519" {
                continue;
            }
            let x = jwk["x"]
                .as_str()
                .ok_or_else(|| bad("an Ed25519 key has no \"x\""))?;
            let bytes: [u8; 32] = URL_SAFE_NO_PAD
                .decode(x)
                .ok()
                .and_then(|b| b.try_into().ok())
                .ok_or_else(|| bad("an Ed25519 key's \"x\" is not 32 bytes of base64url"))?;
            let key = VerifyingKey::from_bytes(&bytes)
                .map_err(|_| bad("an Ed25519 key is not a curve point"))?;
            let kid = jwk["kid"].as_str().unwrap_or_default().to_owned();
            keys.push(TrustedKey { kid, key });
        }
        if keys.is_empty() {
            return Err(bad("no Ed25519 key"));
        }
        Ok(TrustedKeys { keys })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn trusted(key: &SigningKey) -> TrustedKeys {
        TrustedKeys {
            keys: vec![TrustedKey {
                kid: "k1".into(),
                key: key.verifying_key(),
            }],
        }
    }

    fn note(origin: &str, size: u64) -> String {
        let key = key();
        let text = note_text(origin, size, &[9u8; 32], "2026-11-29T02:17:25.898882Z");
        signed_note(
            &text,
            origin,
            &key.verifying_key(),
            &key.sign(text.as_bytes()),
        )
    }

    #[test]
    fn round_trip_and_verify() {
        let note = note("example.com/log", 42);
        let cp = Checkpoint::parse(&note).unwrap();
        assert_eq!(cp.origin, "example.com/log");
        assert_eq!(cp.tree_size, 42);
        assert_eq!(cp.root_hash, [9u8; 32]);
        assert_eq!(cp.timestamp.as_deref(), Some("2026-11-29T02:17:25.898882Z"));
        assert!(cp.extensions.is_empty());
        assert!(cp.text.ends_with("Z\n"));
        assert_eq!(cp.verify(&trusted(&key())).unwrap(), "k1");
        // The signed text is the whole body, timestamp included.
        let tampered = note.replace("25.898882Z", "25.898883Z");
        assert_eq!(
            Checkpoint::parse(&tampered)
                .unwrap()
                .verify(&trusted(&key())),
            Err(CheckpointError::BadSignature { key: "k1".into() })
        );
        let other = SigningKey::from_bytes(&[8u8; 32]);
        assert_eq!(
            cp.verify(&trusted(&other)),
            Err(CheckpointError::NoKnownSignature)
        );
    }

    #[test]
    fn key_id_follows_signed_note() {
        // SHA-256("name" || 0x0A || 0x01 || key)[:4], computed independently.
        let key = key().verifying_key();
        let mut input = b"example.com/log\n\x01".to_vec();
        input.extend_from_slice(key.as_bytes());
        let digest = Sha256::digest(&input);
        assert_eq!(note_key_id("example.com/log", &key), digest[..4]);
    }

    #[test]
    fn the_c2sp_example_parses() {
        let example = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let cp = Checkpoint::parse(example).unwrap();
        assert_eq!(cp.tree_size, 20852163);
        assert_eq!(cp.timestamp, None);
        assert_eq!(cp.signatures.len(), 1);
        assert_eq!(cp.signatures[0].signature.len(), 64);
    }

    #[test]
    fn malformed_notes_are_refused() {
        let good = note("log", 3);
        for bad in [
            good.replace("\n3\n", "\n03\n"),
            good.replace("\n3\n", "\n-3\n"),
            good.replace("\n3\n", "\n\n"),
            good.replace("\u{2014}", "-"),
            good.trim_end().to_owned(),
            good.replace("log\n", "\nlog\n"),
            good.replacen("log", "lo\tg", 1),
            good.replace("timestamp", "\ntimestamp"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
        assert!(!is_valid_key_name("a b"));
        assert!(!is_valid_key_name("a+b"));
        assert!(!is_valid_key_name(""));
        assert!(is_valid_key_name("example.com/audit"));
    }

    #[test]
    fn jwks_keys() {
        let key = key().verifying_key();
        let jwks = serde_json::json!({"keys": [
            {"kty": "RSA", "n": "x"},
            {"kty": "OKP", "crv": "Ed25519", "kid": "a", "x": URL_SAFE_NO_PAD.encode(key.as_bytes())},
        ]});
        let keys = TrustedKeys::from_jwks(&jwks).unwrap();
        assert_eq!(keys.keys.len(), 1);
        assert_eq!(keys.keys[0].kid, "a");
        assert!(TrustedKeys::from_jwks(&serde_json::json!({"keys": []})).is_err());
        assert!(TrustedKeys::from_jwks(&serde_json::json!({})).is_err());
    }
}
