//! The platform's Ed25519 signing keys. The newest key signs access tokens,
//! data tokens, rights certificates and audit tree heads; every key ever
//! created stays in the JWKS so that what an older key signed stays
//! verifiable after a rotation.
//!
//! Keys live as PKCS#8 PEM files (mode 0600) in the keys directory, named so
//! that they sort by creation time: `<UTC yyyymmddThhmmss>-<kid>.pem`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key directory {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key file {path} is not an Ed25519 PKCS#8 PEM key: {reason}")]
    Invalid { path: PathBuf, reason: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One platform key pair and the forms the JWT library wants.
pub struct PlatformKey {
    kid: String,
    signing: SigningKey,
    encoding: jsonwebtoken::EncodingKey,
    decoding: jsonwebtoken::DecodingKey,
}

impl PlatformKey {
    fn from_signing(signing: SigningKey) -> Result<Self, String> {
        let der = signing.to_pkcs8_der().map_err(|e| e.to_string())?;
        let x = URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes());
        let decoding =
            jsonwebtoken::DecodingKey::from_ed_components(&x).map_err(|e| e.to_string())?;
        Ok(PlatformKey {
            kid: thumbprint(signing.verifying_key()),
            encoding: jsonwebtoken::EncodingKey::from_ed_der(der.as_bytes()),
            decoding,
            signing,
        })
    }

    /// RFC 7638 thumbprint of the public key.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub fn sign(&self, message: &[u8]) -> ed25519_dalek::Signature {
        self.signing.sign(message)
    }

    pub fn encoding_key(&self) -> &jsonwebtoken::EncodingKey {
        &self.encoding
    }

    pub fn decoding_key(&self) -> &jsonwebtoken::DecodingKey {
        &self.decoding
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> Value {
        json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(self.verifying_key().as_bytes()),
            "kid": self.kid,
            "alg": "EdDSA",
            "use": "sig",
        })
    }
}

/// RFC 7638 JWK thumbprint of an Ed25519 public key, base64url.
pub fn thumbprint(key: VerifyingKey) -> String {
    // Members in lexicographic order, no whitespace, as RFC 7638 requires.
    let canonical = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(key.as_bytes())
    );
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// Every platform key, the newest active.
pub struct PlatformKeys {
    /// Sorted by file name, i.e. by creation time; the last one signs.
    keys: Vec<PlatformKey>,
    by_kid: BTreeMap<String, usize>,
}

impl PlatformKeys {
    /// Loads the keys in `dir`, creating the directory and a first key when
    /// there are none.
    pub fn load_or_create(dir: &Path) -> Result<PlatformKeys, KeyError> {
        create_private_dir(dir)?;
        if key_files(dir)?.is_empty() {
            generate_key_file(dir)?;
        }
        Self::load(dir)
    }

    /// Loads the keys in `dir`; none is an error.
    pub fn load(dir: &Path) -> Result<PlatformKeys, KeyError> {
        let mut keys = Vec::new();
        for path in key_files(dir)? {
            let pem = fs::read_to_string(&path).map_err(io_error(&path))?;
            let invalid = |reason: String| KeyError::Invalid {
                path: path.clone(),
                reason,
            };
            let signing = SigningKey::from_pkcs8_pem(&pem).map_err(|e| invalid(e.to_string()))?;
            keys.push(PlatformKey::from_signing(signing).map_err(invalid)?);
        }
        if keys.is_empty() {
            return Err(KeyError::Io {
                path: dir.to_owned(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no platform key"),
            });
        }
        let by_kid = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.kid.clone(), i))
            .collect();
        Ok(PlatformKeys { keys, by_kid })
    }

    /// Creates a new key that becomes the active one at the next start;
    /// returns its kid.
    pub fn rotate(dir: &Path) -> Result<String, KeyError> {
        create_private_dir(dir)?;
        generate_key_file(dir)
    }

    pub fn active(&self) -> &PlatformKey {
        // `load` refuses an empty directory, so there is always a last key.
        &self.keys[self.keys.len() - 1]
    }

    pub fn get(&self, kid: &str) -> Option<&PlatformKey> {
        self.by_kid.get(kid).map(|&i| &self.keys[i])
    }

    pub fn all(&self) -> impl Iterator<Item = &PlatformKey> {
        self.keys.iter()
    }

    /// The JSON Web Key Set: every key, newest first.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().rev().map(PlatformKey::jwk).collect::<Vec<_>>() })
    }
}

fn key_files(dir: &Path) -> Result<Vec<PathBuf>, KeyError> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        if path.extension().is_some_and(|e| e == "pem") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn create_private_dir(dir: &Path) -> Result<(), KeyError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io_error(dir))?;
    }
    Ok(())
}

fn generate_key_file(dir: &Path) -> Result<String, KeyError> {
    let signing = SigningKey::generate(&mut rand::rngs::OsRng);
    let kid = thumbprint(signing.verifying_key());
    let pem = signing
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|e| KeyError::Invalid {
            path: dir.to_owned(),
            reason: e.to_string(),
        })?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%6f");
    let path = dir.join(format!("{stamp}-{kid}.pem"));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path).map_err(io_error(&path))?;
    file.write_all(pem.as_bytes()).map_err(io_error(&path))?;
    file.sync_all().map_err(io_error(&path))?;
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_creates_a_private_key_and_rotation_keeps_old_ones() {
        let dir = tempfile::tempdir().unwrap();
        let keys = PlatformKeys::load_or_create(dir.path()).unwrap();
        let first = keys.active().kid().to_owned();
        let files = key_files(dir.path()).unwrap();
        assert_eq!(files.len(), 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&files[0]).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // a second start loads the same key
        let again = PlatformKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(again.active().kid(), first);

        let second = PlatformKeys::rotate(dir.path()).unwrap();
        let rotated = PlatformKeys::load(dir.path()).unwrap();
        assert_eq!(rotated.active().kid(), second);
        assert!(rotated.get(&first).is_some());
        assert_eq!(rotated.jwks()["keys"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn thumbprint_matches_rfc_8037_example() {
        // RFC 8037 appendix A.3: the thumbprint of the example public key.
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
            .unwrap();
        let key = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        assert_eq!(
            thumbprint(key),
            "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
        );
    }
}
