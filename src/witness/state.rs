//! What a witness remembers of each log: the size and root hash of the
//! newest checkpoint it cosigned, and that checkpoint with its
//! cosignature. One small JSON file per log (named by the SHA-256 of its
//! origin), replaced atomically: written to a temporary file, synced,
//! renamed over the old one, and the directory synced. A crash leaves the
//! old record or the new one, never a mix.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{WitnessError, io_error};

/// A log's record; the default (size 0) is a log never cosigned.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogRecord {
    pub origin: String,
    pub size: u64,
    /// Hex root hash at `size` (empty at size 0).
    pub root: String,
    /// The cosigned checkpoint: the log's signed note with the witness's
    /// cosignature line appended.
    pub checkpoint: Option<String>,
}

/// The hex SHA-256 of a log's origin, as the monitoring path names it.
pub fn origin_hash(origin: &str) -> String {
    hex::encode(Sha256::digest(origin.as_bytes()))
}

fn path_of(dir: &Path, origin: &str) -> PathBuf {
    dir.join(format!("{}.json", origin_hash(origin)))
}

/// The record of `origin` in `dir`, or a fresh one.
pub fn load(dir: &Path, origin: &str) -> Result<LogRecord, WitnessError> {
    let path = path_of(dir, origin);
    match fs::read(&path) {
        Ok(bytes) => {
            let record: LogRecord = serde_json::from_slice(&bytes)
                .map_err(|e| WitnessError::Config(format!("{}: {e}", path.display())))?;
            if record.origin != origin {
                return Err(WitnessError::Config(format!(
                    "{} holds the record of {:?}, not of {origin:?}",
                    path.display(),
                    record.origin
                )));
            }
            Ok(record)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(LogRecord {
            origin: origin.to_owned(),
            ..LogRecord::default()
        }),
        Err(e) => Err(io_error(&path)(e)),
    }
}

/// Replaces the record of its origin in `dir`, durably.
pub fn store(dir: &Path, record: &LogRecord) -> Result<(), WitnessError> {
    let path = path_of(dir, &record.origin);
    let temporary = path.with_extension("json.tmp");
    let bytes = serde_json::to_vec_pretty(record)
        .map_err(|e| WitnessError::Config(format!("cannot encode the record: {e}")))?;
    let mut file = fs::File::create(&temporary).map_err(io_error(&temporary))?;
    file.write_all(&bytes).map_err(io_error(&temporary))?;
    file.sync_all().map_err(io_error(&temporary))?;
    drop(file);
    fs::rename(&temporary, &path).map_err(io_error(&path))?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_being_read_again() {
        let dir = tempfile::tempdir().unwrap();
        let fresh = load(dir.path(), "example.com/log").unwrap();
        assert_eq!(fresh.size, 0);
        assert_eq!(fresh.origin, "example.com/log");
        let record = LogRecord {
            origin: "example.com/log".into(),
            size: 7,
            root: "ab".repeat(32),
            checkpoint: Some("note".into()),
        };
        store(dir.path(), &record).unwrap();
        store(dir.path(), &record).unwrap();
        assert_eq!(load(dir.path(), "example.com/log").unwrap(), record);
        assert_eq!(load(dir.path(), "example.com/other").unwrap().size, 0);
        // Nothing but the record is left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
