//! `datamarket witness`: a C2SP tlog-witness for the logs it is given.
//!
//! `POST /add-checkpoint` takes `old <size>`, a consistency proof and a
//! checkpoint, and answers a `cosignature/v1` line, or refuses: 400 for a
//! malformed request (or an old size beyond the checkpoint's), 404 for an
//! origin it does not witness, 403 when no signature of the log's keys
//! verifies, 409 (`text/x.tlog.size`, its size) when the old size is not
//! the size it last cosigned, 422 when the proof does not show that the
//! checkpoint extends what it cosigned: a fork, or a rewrite of the log.
//! `GET /<hex SHA-256 of the origin>/checkpoint` serves the newest
//! checkpoint it cosigned, with its cosignature.
//!
//! Requests for one log are taken one at a time (a lock per log, held from
//! reading the stored size until the new one is durable), so that two
//! requests cannot both pass the check against one size and then roll
//! each other back.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use tokio::sync::Mutex;

use super::state::{self, LogRecord};
use super::{WitnessError, io_error};
use crate::audit::checkpoint::{Checkpoint, CheckpointError, TrustedKeys};
use crate::audit::cosignature::{self, AddCheckpoint, SIZE_MEDIA_TYPE, Vkey};
use crate::audit::merkle;
use crate::audit::verify::hash_from_hex;

/// How a witness is set up.
#[derive(Clone, Debug)]
pub struct WitnessOptions {
    /// The witness's key name (a schema-less URL, e.g. `witness.example/w1`).
    pub name: String,
    /// Where its records (and, without `key`, its key) are kept.
    pub state_dir: PathBuf,
    /// A PKCS#8 PEM Ed25519 key; default `<state_dir>/witness-key.pem`,
    /// made on first start.
    pub key: Option<PathBuf>,
    /// The logs it witnesses, as their checkpoint vkeys (the key name is
    /// the origin); several keys of one origin are all trusted.
    pub logs: Vec<String>,
}

struct Log {
    keys: TrustedKeys,
    record: Mutex<LogRecord>,
}

/// A witness, ready to answer.
pub struct Witness {
    name: String,
    key: SigningKey,
    dir: PathBuf,
    logs: HashMap<String, Log>,
}

/// Why a checkpoint was not cosigned, with the status the specification
/// gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 400: the request is malformed.
    Malformed(String),
    /// 404: the witness does not witness this origin.
    UnknownOrigin(String),
    /// 403: no signature of the log's keys verifies.
    Forbidden(String),
    /// 409: the old size is not the size the witness last cosigned.
    Conflict(u64),
    /// 422: the checkpoint is not an extension of what the witness cosigned.
    Inconsistent(String),
    /// 500: the witness could not keep its record.
    Failed(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) => 400,
            Refusal::Forbidden(_) => 403,
            Refusal::UnknownOrigin(_) => 404,
            Refusal::Conflict(_) => 409,
            Refusal::Inconsistent(_) => 422,
            Refusal::Failed(_) => 500,
        }
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Malformed(why) => write!(f, "malformed request: {why}"),
            Refusal::UnknownOrigin(origin) => write!(f, "unknown log origin {origin:?}"),
            Refusal::Forbidden(why) => write!(f, "the log signature does not verify: {why}"),
            Refusal::Conflict(size) => write!(f, "{size}"),
            Refusal::Inconsistent(why) => write!(f, "not consistent with what I cosigned: {why}"),
            Refusal::Failed(why) => write!(f, "cannot keep the record: {why}"),
        }
    }
}

/// Reads the witness's key, or makes it (mode 0600) when the default file
/// does not exist yet.
fn load_key(options: &WitnessOptions) -> Result<SigningKey, WitnessError> {
    let invalid = |path: &Path, reason: String| WitnessError::Key {
        path: path.to_owned(),
        reason,
    };
    if let Some(path) = &options.key {
        let pem = fs::read_to_string(path).map_err(io_error(path))?;
        return SigningKey::from_pkcs8_pem(&pem).map_err(|e| invalid(path, e.to_string()));
    }
    let path = options.state_dir.join("witness-key.pem");
    match fs::read_to_string(&path) {
        Ok(pem) => SigningKey::from_pkcs8_pem(&pem).map_err(|e| invalid(&path, e.to_string())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SigningKey::generate(&mut rand::rngs::OsRng);
            let pem = key
                .to_pkcs8_pem(Default::default())
                .map_err(|e| invalid(&path, e.to_string()))?;
            let mut open = fs::OpenOptions::new();
            open.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                open.mode(0o600);
            }
            let mut file = open.open(&path).map_err(io_error(&path))?;
            file.write_all(pem.as_bytes()).map_err(io_error(&path))?;
            file.sync_all().map_err(io_error(&path))?;
            tracing::info!(path = %path.display(), "made a new witness key");
            Ok(key)
        }
        Err(e) => Err(io_error(&path)(e)),
    }
}

impl Witness {
    /// Reads (or makes) the key and the records of every log.
    pub fn open(options: WitnessOptions) -> Result<Witness, WitnessError> {
        if !crate::audit::checkpoint::is_valid_key_name(&options.name) {
            return Err(WitnessError::Config(format!(
                "{:?} is not a key name (one word, no spaces or \"+\")",
                options.name
            )));
        }
        if options.logs.is_empty() {
            return Err(WitnessError::Config(
                "give at least one --log <the log's checkpoint vkey>".into(),
            ));
        }
        fs::create_dir_all(&options.state_dir).map_err(io_error(&options.state_dir))?;
        let key = load_key(&options)?;
        let mut keys: HashMap<String, Vec<Vkey>> = HashMap::new();
        for text in &options.logs {
            let vkey = Vkey::parse_log(text)
                .map_err(|e| WitnessError::Config(format!("--log {text}: {e}")))?;
            keys.entry(vkey.name.clone()).or_default().push(vkey);
        }
        let mut logs = HashMap::new();
        for (origin, vkeys) in keys {
            let record = state::load(&options.state_dir, &origin)?;
            logs.insert(
                origin,
                Log {
                    keys: Vkey::trusted(&vkeys),
                    record: Mutex::new(record),
                },
            );
        }
        Ok(Witness {
            name: options.name,
            key,
            dir: options.state_dir,
            logs,
        })
    }

    /// The witness's cosigning key, as a vkey.
    pub fn vkey(&self) -> Vkey {
        Vkey::cosigner(&self.name, self.key.verifying_key())
    }

    /// Handles one `add-checkpoint` request body: the cosignature line(s)
    /// to answer, or why not.
    pub async fn add_checkpoint(&self, body: &str) -> Result<String, Refusal> {
        let request = AddCheckpoint::parse(body).map_err(|e| Refusal::Malformed(e.to_string()))?;
        let checkpoint = Checkpoint::parse(&request.checkpoint)
            .map_err(|e| Refusal::Malformed(e.to_string()))?;
        let log = self
            .logs
            .get(&checkpoint.origin)
            .ok_or_else(|| Refusal::UnknownOrigin(checkpoint.origin.clone()))?;
        checkpoint.verify(&log.keys).map_err(|e| match e {
            CheckpointError::Malformed(why) => Refusal::Malformed(why),
            other => Refusal::Forbidden(other.to_string()),
        })?;
        let size = checkpoint.tree_size;
        if request.old_size > size {
            return Err(Refusal::Malformed(format!(
                "old size {} is beyond the checkpoint's size {size}",
                request.old_size
            )));
        }
        if size == 0 && checkpoint.root_hash != merkle::empty_root() {
            return Err(Refusal::Inconsistent(
                "a checkpoint of size 0 must have the empty tree's root".into(),
            ));
        }
        let mut record = log.record.lock().await;
        if request.old_size != record.size {
            tracing::info!(origin = %checkpoint.origin, old = request.old_size, mine = record.size, "old size is not mine");
            return Err(Refusal::Conflict(record.size));
        }
        if request.old_size == 0 {
            if !request.proof.is_empty() {
                return Err(Refusal::Inconsistent(
                    "from size 0 the consistency proof must be empty".into(),
                ));
            }
        } else {
            let old_root = hash_from_hex(&record.root)
                .ok_or_else(|| Refusal::Failed("the stored root is not a hash".into()))?;
            merkle::verify_consistency(
                request.old_size,
                size,
                &request.proof,
                &old_root,
                &checkpoint.root_hash,
            )
            .map_err(|e| {
                tracing::warn!(
                    origin = %checkpoint.origin,
                    old = request.old_size,
                    size,
                    error = %e,
                    "refused a checkpoint that does not extend the one I cosigned: a fork?"
                );
                Refusal::Inconsistent(format!(
                    "the consistency proof from size {} to {size} does not verify against the root I cosigned: {e}",
                    request.old_size
                ))
            })?;
        }
        let timestamp = chrono::Utc::now().timestamp().max(1) as u64;
        let line = cosignature::cosign(&self.name, &self.key, timestamp, &checkpoint.text);
        let updated = LogRecord {
            origin: checkpoint.origin.clone(),
            size,
            root: hex::encode(checkpoint.root_hash),
            checkpoint: Some(format!("{}{line}", request.checkpoint)),
        };
        let dir = self.dir.clone();
        let to_store = updated.clone();
        tokio::task::spawn_blocking(move || state::store(&dir, &to_store))
            .await
            .map_err(|e| Refusal::Failed(e.to_string()))?
            .map_err(|e| Refusal::Failed(e.to_string()))?;
        *record = updated;
        tracing::info!(origin = %checkpoint.origin, size, "cosigned");
        Ok(line)
    }

    /// The newest checkpoint cosigned for the log whose origin hashes to
    /// `origin_hash`, with the cosignature.
    pub async fn cosigned(&self, origin_hash: &str) -> Option<String> {
        for (origin, log) in &self.logs {
            if state::origin_hash(origin) == origin_hash {
                return log.record.lock().await.checkpoint.clone();
            }
        }
        None
    }
}

async fn add_checkpoint(witness: web::Data<Witness>, body: web::Bytes) -> HttpResponse {
    let Ok(body) = std::str::from_utf8(&body) else {
        return HttpResponse::BadRequest()
            .content_type("text/plain; charset=utf-8")
            .body("the request is not UTF-8\n");
    };
    match witness.add_checkpoint(body).await {
        Ok(lines) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(lines),
        Err(Refusal::Conflict(size)) => HttpResponse::Conflict()
            .content_type(SIZE_MEDIA_TYPE)
            .body(format!("{size}\n")),
        Err(refusal) => {
            let status = actix_web::http::StatusCode::from_u16(refusal.status())
                .unwrap_or(actix_web::http::StatusCode::INTERNAL_SERVER_ERROR);
            HttpResponse::build(status)
                .content_type("text/plain; charset=utf-8")
                .body(format!("{refusal}\n"))
        }
    }
}

async fn checkpoint(witness: web::Data<Witness>, path: web::Path<String>) -> HttpResponse {
    match witness.cosigned(&path.into_inner()).await {
        Some(note) => HttpResponse::Ok()
            .content_type("text/plain; charset=utf-8")
            .body(note),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body("no checkpoint cosigned for that log\n"),
    }
}

/// The largest request body taken: 63 proof lines and a checkpoint with
/// many signatures fit many times over.
const BODY_LIMIT: usize = 64 * 1024;

/// Starts serving on `listen`; the server runs until stopped.
pub fn start(
    witness: Arc<Witness>,
    listen: &str,
) -> std::io::Result<(actix_web::dev::Server, SocketAddr)> {
    let data = web::Data::from(witness);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(BODY_LIMIT))
            .wrap(tracing_actix_web::TracingLogger::default())
            .route("/add-checkpoint", web::post().to(add_checkpoint))
            .route("/{origin_hash}/checkpoint", web::get().to(checkpoint))
    })
    .workers(2)
    .bind(listen)?;
    let addr = server
        .addrs()
        .first()
        .copied()
        .ok_or_else(|| std::io::Error::other("bound to no address"))?;
    Ok((server.run(), addr))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::checkpoint::{note_text, signed_note};
    use ed25519_dalek::Signer;

    const ORIGIN: &str = "example.com/audit";

    fn log_key() -> SigningKey {
        SigningKey::from_bytes(&[1u8; 32])
    }

    /// A log of `leaves` leaves `0..n` (leaf data `[i]`), for proofs.
    fn tree(n: u64) -> Vec<merkle::Hash> {
        (0..n).map(|i| merkle::leaf_hash(&[i as u8])).collect()
    }

    fn root(leaves: &[merkle::Hash]) -> merkle::Hash {
        let mut range = merkle::CompactRange::new();
        for leaf in leaves {
            range.push(*leaf).unwrap();
        }
        range.root()
    }

    fn signed(size: u64, root: &merkle::Hash, key: &SigningKey) -> String {
        let text = note_text(ORIGIN, size, root, "2026-12-02T00:00:00.000000Z");
        signed_note(
            &text,
            ORIGIN,
            &key.verifying_key(),
            &key.sign(text.as_bytes()),
        )
    }

    fn proof(leaves: &[merkle::Hash], old: u64, new: u64) -> Vec<merkle::Hash> {
        let ranges = merkle::consistency_proof_ranges(old, new).unwrap();
        ranges
            .iter()
            .map(|(start, end)| root(&leaves[*start as usize..*end as usize]))
            .collect()
    }

    fn witness(dir: &Path) -> Witness {
        Witness::open(WitnessOptions {
            name: "witness.example/w1".into(),
            state_dir: dir.to_owned(),
            key: None,
            logs: vec![Vkey::log(ORIGIN, log_key().verifying_key()).to_string()],
        })
        .unwrap()
    }

    fn request(old: u64, proof: Vec<merkle::Hash>, checkpoint: String) -> String {
        AddCheckpoint {
            old_size: old,
            proof,
            checkpoint,
        }
        .to_body()
    }

    #[tokio::test]
    async fn it_cosigns_extensions_and_refuses_forks() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let leaves = tree(9);
        let first = signed(5, &root(&leaves[..5]), &log_key());
        let line = w
            .add_checkpoint(&request(0, vec![], first.clone()))
            .await
            .unwrap();
        let cosigned = Checkpoint::parse(&format!("{first}{line}")).unwrap();
        let found = cosignature::cosigners(&cosigned, &[w.vkey()]).unwrap();
        assert_eq!(found.len(), 1);

        // A stale old size: 409 with the size the witness holds.
        let next = signed(9, &root(&leaves), &log_key());
        assert_eq!(
            w.add_checkpoint(&request(0, vec![], next.clone())).await,
            Err(Refusal::Conflict(5))
        );
        // A forged log signature: 403.
        let forged = signed(9, &root(&leaves), &SigningKey::from_bytes(&[2u8; 32]));
        assert_eq!(
            w.add_checkpoint(&request(5, proof(&leaves, 5, 9), forged))
                .await
                .map_err(|r| r.status()),
            Err(403)
        );
        // A fork: another history of 9 leaves whose proof cannot lead back
        // to the root cosigned at 5.
        let mut other = leaves.clone();
        other[2] = merkle::leaf_hash(b"rewritten");
        let fork = signed(9, &root(&other), &log_key());
        assert_eq!(
            w.add_checkpoint(&request(5, proof(&other, 5, 9), fork))
                .await
                .map_err(|r| r.status()),
            Err(422)
        );
        // Unknown origin, old size beyond the checkpoint, garbage.
        let stranger = {
            let text = note_text("other.example/log", 1, &leaves[0], "t");
            let key = log_key();
            signed_note(
                &text,
                "other.example/log",
                &key.verifying_key(),
                &key.sign(text.as_bytes()),
            )
        };
        assert_eq!(
            w.add_checkpoint(&request(0, vec![], stranger))
                .await
                .map_err(|r| r.status()),
            Err(404)
        );
        assert_eq!(
            w.add_checkpoint(&request(10, vec![], next.clone()))
                .await
                .map_err(|r| r.status()),
            Err(400)
        );
        assert_eq!(
            w.add_checkpoint("old 5\n").await.map_err(|r| r.status()),
            Err(400)
        );
        // The honest extension is cosigned.
        w.add_checkpoint(&request(5, proof(&leaves, 5, 9), next.clone()))
            .await
            .unwrap();
        // Same size again: cosigned when the root is the same, 422 if not.
        w.add_checkpoint(&request(9, vec![], next)).await.unwrap();
        let same_size_fork = signed(9, &root(&other), &log_key());
        assert_eq!(
            w.add_checkpoint(&request(9, vec![], same_size_fork))
                .await
                .map_err(|r| r.status()),
            Err(422)
        );

        // A restarted witness remembers its size, and its key.
        let vkey = w.vkey();
        drop(w);
        let again = witness(dir.path());
        assert_eq!(again.vkey(), vkey);
        let next = signed(9, &root(&leaves), &log_key());
        assert_eq!(
            again
                .add_checkpoint(&request(5, proof(&leaves, 5, 9), next))
                .await,
            Err(Refusal::Conflict(9))
        );
        assert!(
            again
                .cosigned(&state::origin_hash(ORIGIN))
                .await
                .unwrap()
                .contains("\n9\n")
        );
    }
}
