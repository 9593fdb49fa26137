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
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

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

/// The keys loaded at one moment, sorted by file name, i.e. by creation
/// time; the last one signs.
struct KeySet {
    keys: Vec<Arc<PlatformKey>>,
    by_kid: BTreeMap<String, usize>,
}

impl KeySet {
    fn read(dir: &Path) -> Result<KeySet, KeyError> {
        let mut keys = Vec::new();
        for path in key_files(dir)? {
            let pem = fs::read_to_string(&path).map_err(io_error(&path))?;
            let invalid = |reason: String| KeyError::Invalid {
                path: path.clone(),
                reason,
            };
            let signing = SigningKey::from_pkcs8_pem(&pem).map_err(|e| invalid(e.to_string()))?;
            keys.push(Arc::new(
                PlatformKey::from_signing(signing).map_err(invalid)?,
            ));
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
        Ok(KeySet { keys, by_kid })
    }
}

/// Every platform key, the newest active. When asked for a key it does not
/// know, it re-reads the keys directory (at most once a second): after
/// `datamarket keys rotate` on a shared keys directory, every instance
/// accepts what the new key signs as soon as it sees it, and signs with it
/// from then on.
pub struct PlatformKeys {
    dir: PathBuf,
    set: RwLock<Arc<KeySet>>,
    last_reload: Mutex<Instant>,
}

/// Fewest seconds between two re-reads of the keys directory.
const RELOAD_INTERVAL: Duration = Duration::from_secs(1);

impl PlatformKeys {
    /// Loads the keys in `dir`, creating the directory and a first key when
    /// there are none.
    ///
    /// Instances that share the directory and start at once must agree on
    /// one first key: each would otherwise make its own and sign with it,
    /// and for up to a second (until it re-reads the directory) refuse the
    /// other's tokens. So the look and the making happen under an exclusive
    /// lock on a file in the directory.
    pub fn load_or_create(dir: &Path) -> Result<PlatformKeys, KeyError> {
        create_private_dir(dir)?;
        {
            let _lock = lock_dir(dir)?;
            if key_files(dir)?.is_empty() {
                generate_key_file(dir)?;
            }
        }
        Self::load(dir)
    }

    /// Loads the keys in `dir`; none is an error.
    pub fn load(dir: &Path) -> Result<PlatformKeys, KeyError> {
        Ok(PlatformKeys {
            dir: dir.to_owned(),
            set: RwLock::new(Arc::new(KeySet::read(dir)?)),
            last_reload: Mutex::new(Instant::now()),
        })
    }

    /// Creates a new key in `dir`; returns its kid.
    pub fn rotate(dir: &Path) -> Result<String, KeyError> {
        create_private_dir(dir)?;
        let _lock = lock_dir(dir)?;
        generate_key_file(dir)
    }

    fn current(&self) -> Arc<KeySet> {
        self.set.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Re-reads the keys directory now; true when it found new keys.
    pub fn reload(&self) -> Result<bool, KeyError> {
        *self.last_reload.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        let fresh = KeySet::read(&self.dir)?;
        let mut set = self.set.write().unwrap_or_else(|e| e.into_inner());
        let grew = fresh.keys.len() != set.keys.len();
        *set = Arc::new(fresh);
        Ok(grew)
    }

    pub fn active(&self) -> Arc<PlatformKey> {
        let set = self.current();
        // `KeySet::read` refuses an empty directory, so there is a last key.
        set.keys[set.keys.len() - 1].clone()
    }

    /// The key with this kid, re-reading the directory once if it is unknown.
    pub fn get(&self, kid: &str) -> Option<Arc<PlatformKey>> {
        let find = |set: &KeySet| set.by_kid.get(kid).map(|&i| set.keys[i].clone());
        if let Some(key) = find(&self.current()) {
            return Some(key);
        }
        let due = self
            .last_reload
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
            >= RELOAD_INTERVAL;
        if due {
            if let Err(e) = self.reload() {
                tracing::warn!(error = %e, "could not re-read the platform keys");
            }
            return find(&self.current());
        }
        None
    }

    pub fn all(&self) -> Vec<Arc<PlatformKey>> {
        self.current().keys.clone()
    }

    /// The JSON Web Key Set: every key, newest first.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.current().keys.iter().rev().map(|k| k.jwk()).collect::<Vec<_>>() })
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

/// The file in the keys directory that instances lock to make a key; not a
/// key, and not worth a backup.
pub const LOCK_FILE: &str = ".lock";

/// An exclusive advisory lock on the directory's [`LOCK_FILE`], held until
/// the file is dropped; other processes asking for it wait.
fn lock_dir(dir: &Path) -> Result<fs::File, KeyError> {
    let path = dir.join(LOCK_FILE);
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(io_error(&path))?;
    file.lock().map_err(io_error(&path))?;
    Ok(file)
}

/// Writes a new key under a name that is not read as a key (`.pem.part`),
/// then renames it into place: a reader in another process sees the whole
/// key or none.
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
    let part = dir.join(format!("{stamp}-{kid}.pem.part"));
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&part).map_err(io_error(&part))?;
    file.write_all(pem.as_bytes()).map_err(io_error(&part))?;
    file.sync_all().map_err(io_error(&part))?;
    fs::rename(&part, &path).map_err(io_error(&path))?;
    // The rename is durable once the directory is.
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instances_starting_at_once_agree_on_one_first_key() {
        let dir = tempfile::tempdir().unwrap();
        let starts: Vec<_> = (0..8)
            .map(|_| {
                let dir = dir.path().to_owned();
                std::thread::spawn(move || {
                    PlatformKeys::load_or_create(&dir)
                        .unwrap()
                        .active()
                        .kid()
                        .to_owned()
                })
            })
            .collect();
        let kids: Vec<String> = starts.into_iter().map(|s| s.join().unwrap()).collect();
        assert!(kids.iter().all(|kid| *kid == kids[0]), "{kids:?}");
        assert_eq!(key_files(dir.path()).unwrap().len(), 1);
    }

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
        // an instance running since before the rotation finds the new key
        // the first time it is asked for it
        assert_eq!(again.active().kid(), first);
        std::thread::sleep(RELOAD_INTERVAL);
        assert!(again.get(&second).is_some());
        assert_eq!(
            again.active().kid(),
            second,
            "and signs with it from then on"
        );
        assert!(again.get("no-such-kid").is_none());
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
