//! Witness cosignatures of checkpoints (<https://c2sp.org/tlog-cosignature>,
//! the Ed25519 `cosignature/v1` type), verifier keys
//! (<https://c2sp.org/signed-note>, "vkeys") and the request body of the
//! witness protocol's `add-checkpoint` (<https://c2sp.org/tlog-witness>).
//! Pure: no storage, no I/O.
//!
//! A cosignature is one more signature line under a checkpoint:
//!
//! ```text
//! — <witness name> base64(key ID || 8-byte big-endian timestamp || Ed25519 signature)
//! ```
//!
//! where the key ID is `SHA-256(name || 0x0A || 0x04 || public key)[:4]` and
//! the signature covers `cosignature/v1\ntime <timestamp>\n` followed by the
//! checkpoint's note body (with its final newline, without signatures).

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use sha2::{Digest, Sha256};

use super::checkpoint::{
    Checkpoint, ED25519_SIGNATURE_TYPE, NoteSignature, TrustedKey, TrustedKeys, is_valid_key_name,
};
use super::merkle::Hash;

/// The signature type of timestamped Ed25519 checkpoint cosignatures.
pub const COSIGNATURE_TYPE: u8 = 0x04;

/// The most consistency proof lines an `add-checkpoint` request may carry.
pub const MAX_PROOF_LINES: usize = 63;

/// The media type of a witness's 409 answer: its size and a newline.
pub const SIZE_MEDIA_TYPE: &str = "text/x.tlog.size";

/// Why a key, a cosignature or a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    #[error("not a verifier key ({0})")]
    BadVkey(String),
    #[error("malformed add-checkpoint request: {0}")]
    Malformed(String),
    #[error("the cosignature of {0} does not verify")]
    BadCosignature(String),
}

/// The signed-note key ID of an Ed25519 key of `signature_type` under `name`.
pub fn key_id(name: &str, signature_type: u8, key: &VerifyingKey) -> [u8; 4] {
    let digest = Sha256::new()
        .chain_update(name.as_bytes())
        .chain_update([b'\n', signature_type])
        .chain_update(key.as_bytes())
        .finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// A verifier key: `<name>+<hex key ID>+<base64(type || public key)>`,
/// either a log's (type 0x01, a checkpoint signer) or a witness's (type
/// 0x04, a cosigner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vkey {
    pub name: String,
    pub signature_type: u8,
    pub key: VerifyingKey,
}

impl Vkey {
    /// A witness's cosigning key.
    pub fn cosigner(name: &str, key: VerifyingKey) -> Vkey {
        Vkey {
            name: name.to_owned(),
            signature_type: COSIGNATURE_TYPE,
            key,
        }
    }

    /// A log's checkpoint key (the platform key under the log's origin).
    pub fn log(origin: &str, key: VerifyingKey) -> Vkey {
        Vkey {
            name: origin.to_owned(),
            signature_type: ED25519_SIGNATURE_TYPE,
            key,
        }
    }

    /// Parses a vkey of type 0x01 or 0x04, checking that its key ID is the
    /// one its name, type and key give.
    pub fn parse(text: &str) -> Result<Vkey, CosignatureError> {
        let bad = |why: &str| CosignatureError::BadVkey(why.to_owned());
        // The name holds no "+", the key ID is hex; the base64 key may
        // hold "+" itself.
        let mut parts = text.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(key)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("expected <name>+<hex key ID>+<base64 key>"));
        };
        if !is_valid_key_name(name) {
            return Err(bad("invalid key name"));
        }
        let id: [u8; 4] = hex::decode(id)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| bad("the key ID is not 8 hex digits"))?;
        let material = STANDARD
            .decode(key)
            .map_err(|_| bad("the key is not base64"))?;
        let (&signature_type, key) = material
            .split_first()
            .ok_or_else(|| bad("the key is empty"))?;
        if signature_type != ED25519_SIGNATURE_TYPE && signature_type != COSIGNATURE_TYPE {
            return Err(bad(
                "only Ed25519 keys (type 0x01) and Ed25519 cosigners (type 0x04) are supported",
            ));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| bad("an Ed25519 key is 32 bytes"))?;
        let key =
            VerifyingKey::from_bytes(&key).map_err(|_| bad("the key is not a curve point"))?;
        let vkey = Vkey {
            name: name.to_owned(),
            signature_type,
            key,
        };
        if vkey.key_id() != id {
            return Err(bad("the key ID does not match the name and key"));
        }
        Ok(vkey)
    }

    /// A witness's cosigning key (type 0x04).
    pub fn parse_cosigner(text: &str) -> Result<Vkey, CosignatureError> {
        Self::parse_of_type(text, COSIGNATURE_TYPE, "a witness's cosigning key")
    }

    /// A log's checkpoint key (type 0x01).
    pub fn parse_log(text: &str) -> Result<Vkey, CosignatureError> {
        Self::parse_of_type(text, ED25519_SIGNATURE_TYPE, "a log's checkpoint key")
    }

    fn parse_of_type(text: &str, signature_type: u8, what: &str) -> Result<Vkey, CosignatureError> {
        let vkey = Self::parse(text)?;
        if vkey.signature_type != signature_type {
            return Err(CosignatureError::BadVkey(format!(
                "{what} has signature type {signature_type:#04x}, this one {:#04x}",
                vkey.signature_type
            )));
        }
        Ok(vkey)
    }

    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, self.signature_type, &self.key)
    }

    /// `<name>+<hex key ID>`: how the market names a witness in its store.
    pub fn identity(&self) -> String {
        format!("{}+{}", self.name, hex::encode(self.key_id()))
    }

    /// Whether a signature line claims to be from this key.
    pub fn matches(&self, line: &NoteSignature) -> bool {
        line.key_name == self.name && line.key_id == self.key_id()
    }

    /// This key as a trusted key of a checkpoint verification (log keys),
    /// its `kid` the vkey itself.
    pub fn trusted(keys: &[Vkey]) -> TrustedKeys {
        TrustedKeys {
            keys: keys
                .iter()
                .map(|k| TrustedKey {
                    kid: k.to_string(),
                    key: k.key,
                })
                .collect(),
        }
    }
}

impl fmt::Display for Vkey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = vec![self.signature_type];
        material.extend_from_slice(self.key.as_bytes());
        write!(
            f,
            "{}+{}+{}",
            self.name,
            hex::encode(self.key_id()),
            STANDARD.encode(material)
        )
    }
}

/// What a `cosignature/v1` signature covers: the header line, the time
/// line and the checkpoint's note body.
pub fn signed_message(timestamp: u64, body: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{body}")
}

/// The cosignature line (with its newline) of `key` under `name` over the
/// checkpoint note body `body` at `timestamp` (POSIX seconds).
pub fn cosign(name: &str, key: &SigningKey, timestamp: u64, body: &str) -> String {
    let signature = key.sign(signed_message(timestamp, body).as_bytes());
    let mut blob = Vec::with_capacity(4 + 8 + 64);
    blob.extend_from_slice(&key_id(name, COSIGNATURE_TYPE, &key.verifying_key()));
    blob.extend_from_slice(&timestamp.to_be_bytes());
    blob.extend_from_slice(&signature.to_bytes());
    format!("\u{2014} {name} {}\n", STANDARD.encode(blob))
}

/// The timestamp a cosignature line carries (a `timestamped_signature` is
/// the 8-byte big-endian timestamp and the 64-byte Ed25519 signature).
pub fn timestamp_of(line: &NoteSignature) -> Option<u64> {
    if line.signature.len() != 8 + 64 {
        return None;
    }
    let timestamp = u64::from_be_bytes(line.signature[..8].try_into().ok()?);
    (timestamp <= i64::MAX as u64).then_some(timestamp)
}

/// Verifies one cosignature line of `witness` (a type 0x04 vkey the line
/// matches) over the note body `body`; returns its timestamp.
pub fn verify_cosignature(
    witness: &Vkey,
    line: &NoteSignature,
    body: &str,
) -> Result<u64, CosignatureError> {
    let bad = || CosignatureError::BadCosignature(witness.identity());
    if witness.signature_type != COSIGNATURE_TYPE || !witness.matches(line) {
        return Err(bad());
    }
    let timestamp = timestamp_of(line).ok_or_else(bad)?;
    let signature = Signature::from_slice(&line.signature[8..]).map_err(|_| bad())?;
    witness
        .key
        .verify(signed_message(timestamp, body).as_bytes(), &signature)
        .map_err(|_| bad())?;
    Ok(timestamp)
}

/// The witnesses among `witnesses` whose cosignature of `checkpoint`
/// verifies, each once, with their timestamps. Lines of other keys are
/// ignored; a line that claims to be from one of `witnesses` and does not
/// verify makes the note malformed, and is an error.
pub fn cosigners(
    checkpoint: &Checkpoint,
    witnesses: &[Vkey],
) -> Result<Vec<(Vkey, u64)>, CosignatureError> {
    let mut found: Vec<(Vkey, u64)> = Vec::new();
    for line in &checkpoint.signatures {
        for witness in witnesses.iter().filter(|w| w.matches(line)) {
            let timestamp = verify_cosignature(witness, line, &checkpoint.text)?;
            if !found.iter().any(|(w, _)| w == witness) {
                found.push((witness.clone(), timestamp));
            }
        }
    }
    Ok(found)
}

/// An `add-checkpoint` request: the size of the checkpoint the witness
/// last cosigned, a consistency proof from it, and the new checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The signed note, as sent.
    pub checkpoint: String,
}

/// A decimal without leading zeroes (`0` itself allowed).
pub fn parse_size(text: &str) -> Option<u64> {
    if text.is_empty()
        || !text.bytes().all(|b| b.is_ascii_digit())
        || (text.len() > 1 && text.starts_with('0'))
    {
        return None;
    }
    text.parse().ok()
}

impl AddCheckpoint {
    pub fn parse(body: &str) -> Result<AddCheckpoint, CosignatureError> {
        let bad = |why: &str| CosignatureError::Malformed(why.to_owned());
        let (old_line, mut rest) = body
            .split_once('\n')
            .ok_or_else(|| bad("no old size line"))?;
        let old_size = old_line
            .strip_prefix("old ")
            .and_then(parse_size)
            .ok_or_else(|| bad("the first line is not `old <size>`"))?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest
                .split_once('\n')
                .ok_or_else(|| bad("no empty line before the checkpoint"))?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(bad("more than 63 consistency proof lines"));
            }
            let hash = STANDARD
                .decode(line)
                .ok()
                .and_then(|b| Hash::try_from(b).ok())
                .ok_or_else(|| bad("a consistency proof line is not base64 of 32 bytes"))?;
            proof.push(hash);
        }
        Ok(AddCheckpoint {
            old_size,
            proof,
            checkpoint: rest.to_owned(),
        })
    }

    pub fn to_body(&self) -> String {
        let mut body = format!("old {}\n", self.old_size);
        for hash in &self.proof {
            body.push_str(&STANDARD.encode(hash));
            body.push('\n');
        }
        body.push('\n');
        body.push_str(&self.checkpoint);
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOFA: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    fn witness_key() -> SigningKey {
        SigningKey::from_bytes(&[4u8; 32])
    }

    #[test]
    fn the_signed_message_is_the_specifications() {
        // c2sp.org/tlog-cosignature, "Ed25519 signed message".
        assert_eq!(
            signed_message(1679315147, SOFA),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn the_specifications_cosignature_line_parses() {
        // c2sp.org/tlog-cosignature's example: its timestamp is the one of
        // the example's signed message.
        let note = format!(
            "{SOFA}\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
        );
        let cp = Checkpoint::parse(&note).unwrap();
        let line = &cp.signatures[1];
        assert_eq!(line.key_name, "witness.example.com/w1");
        assert_eq!(line.key_id, [0x8d, 0x66, 0xcf, 0x3f]);
        assert_eq!(timestamp_of(line), Some(1679315147));
        // A log signature is not a timestamped signature.
        assert_eq!(timestamp_of(&cp.signatures[0]), None);
    }

    #[test]
    fn the_specifications_vkey_verifies_its_note() {
        // c2sp.org/signed-note, "Verifier keys": the example key and note.
        let vkey =
            Vkey::parse("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k")
                .unwrap();
        assert_eq!(vkey.signature_type, ED25519_SIGNATURE_TYPE);
        assert_eq!(vkey.identity(), "example.com/foo+530d903a");
        assert_eq!(
            vkey.to_string(),
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
        );
        let line = super::super::checkpoint::parse_signature_line(
            "\u{2014} example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=",
        )
        .unwrap();
        assert!(vkey.matches(&line));
        let signature = Signature::from_slice(&line.signature).unwrap();
        assert!(
            vkey.key
                .verify(b"This is an example message.\n", &signature)
                .is_ok()
        );
        // The same key as a cosigner has another key ID.
        let cosigner = Vkey::cosigner("example.com/foo", vkey.key);
        assert_ne!(cosigner.key_id(), vkey.key_id());
    }

    #[test]
    fn cosigner_key_id_follows_the_specification() {
        // SHA-256(name || 0x0A || 0x04 || key)[:4], computed independently.
        let key = witness_key().verifying_key();
        let mut input = b"witness.example/w1\n\x04".to_vec();
        input.extend_from_slice(key.as_bytes());
        let digest = Sha256::digest(&input);
        assert_eq!(
            Vkey::cosigner("witness.example/w1", key).key_id(),
            digest[..4]
        );
    }

    #[test]
    fn vkeys_round_trip_and_bad_ones_are_refused() {
        let vkey = Vkey::cosigner("witness.example/w1", witness_key().verifying_key());
        let text = vkey.to_string();
        assert!(text.starts_with("witness.example/w1+"));
        assert_eq!(Vkey::parse(&text).unwrap(), vkey);
        assert_eq!(Vkey::parse_cosigner(&text).unwrap(), vkey);
        assert!(Vkey::parse_log(&text).is_err());
        // A key whose base64 holds "+".
        let plus = (0u8..=255)
            .map(|seed| Vkey::cosigner("w", SigningKey::from_bytes(&[seed; 32]).verifying_key()))
            .find(|v| v.to_string().matches('+').count() > 2)
            .unwrap();
        assert_eq!(Vkey::parse(&plus.to_string()).unwrap(), plus);
        let (head, _) = text.split_at(text.find('+').unwrap() + 9);
        let head = head.trim_end_matches('+');
        for bad in [
            String::new(),
            "witness.example/w1".to_owned(),
            text.replacen("witness.example/w1", "witness.example/w2", 1),
            format!("{head}+AQ=="),
            format!("{text}+x"),
            format!("{head}+{}", STANDARD.encode([0x02; 33])),
        ] {
            assert!(Vkey::parse(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_cosignature_verifies_over_the_body_and_its_time() {
        let key = witness_key();
        let vkey = Vkey::cosigner("witness.example/w1", key.verifying_key());
        let line = cosign("witness.example/w1", &key, 1700000000, SOFA);
        assert!(line.ends_with('\n'));
        let parsed =
            super::super::checkpoint::parse_signature_line(line.trim_end_matches('\n')).unwrap();
        assert_eq!(parsed.signature.len(), 72);
        assert_eq!(verify_cosignature(&vkey, &parsed, SOFA), Ok(1700000000));
        // Another body, or another time, does not verify.
        let other = SOFA.replace("20852163", "20852164");
        assert!(verify_cosignature(&vkey, &parsed, &other).is_err());
        let mut later = parsed.clone();
        later.signature[7] ^= 1;
        assert!(verify_cosignature(&vkey, &later, SOFA).is_err());

        let note = format!("{SOFA}\n\u{2014} example.com/behind-the-sofa AAAAAAAA\n{line}");
        let cp = Checkpoint::parse(&note).unwrap();
        let stranger = Vkey::cosigner(
            "witness.example/w2",
            SigningKey::from_bytes(&[5u8; 32]).verifying_key(),
        );
        assert_eq!(
            cosigners(&cp, &[vkey.clone(), stranger.clone()]).unwrap(),
            vec![(vkey.clone(), 1700000000)]
        );
        assert!(cosigners(&cp, &[stranger]).unwrap().is_empty());
        let forged = note.replace("20852163", "20852164");
        assert!(cosigners(&Checkpoint::parse(&forged).unwrap(), &[vkey]).is_err());
    }

    #[test]
    fn the_specifications_request_body_parses() {
        // c2sp.org/tlog-witness, add-checkpoint's example request.
        let body = format!(
            "old 20852014\nPlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\njrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=\n5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=\n/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=\n\n{SOFA}\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        );
        let request = AddCheckpoint::parse(&body).unwrap();
        assert_eq!(request.old_size, 20852014);
        assert_eq!(request.proof.len(), 4);
        assert!(
            request
                .checkpoint
                .starts_with("example.com/behind-the-sofa\n")
        );
        assert_eq!(request.to_body(), body);
        let empty = AddCheckpoint {
            old_size: 0,
            proof: vec![],
            checkpoint: "x".into(),
        };
        assert_eq!(empty.to_body(), "old 0\n\nx");
        for bad in [
            "old 01\n\nx".to_owned(),
            "old -1\n\nx".to_owned(),
            "new 1\n\nx".to_owned(),
            "old 1\nnot base64\n\nx".to_owned(),
            "old 1\nAQ==\n\nx".to_owned(),
            "old 1\n".to_owned(),
            format!(
                "old 1\n{}\nx",
                "PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=\n".repeat(64)
            ),
        ] {
            assert!(AddCheckpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
