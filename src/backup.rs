//! `datamarket backup DIR`: a consistent copy of a running market that can
//! be restored and started, taken while it serves.
//!
//! The database first, as one transactionally consistent snapshot
//! ([`Db::snapshot_into`]: SQLite's `VACUUM INTO`, or `pg_dump` under an
//! exported PostgreSQL snapshot); what the manifest says about the audit log
//! is read from that same snapshot. Then the platform keys and, for the
//! file payload store, the payloads. Payloads are immutable and written
//! before their version row commits, so copied after the snapshot they
//! include every payload the snapshot's versions name (the copy is checked
//! against them); payloads uploaded meanwhile come along as harmless
//! extras. `MANIFEST.json`, written last, marks a complete backup.
//!
//! Nothing here writes to the live market.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::audit::{self, LogState};
use crate::config::{self, DatabaseUrl, Settings, StorageBackend};
use crate::store::Db;
use crate::store::snapshot::{CopyKind, PgDump};
use crate::{catalog, domain};

/// The manifest's file name in a backup directory.
pub const MANIFEST: &str = "MANIFEST.json";
/// The SQLite copy's file name.
pub const SQLITE_FILE: &str = "datamarket.db";
/// The PostgreSQL dump's file name.
pub const POSTGRES_FILE: &str = "database.dump";
/// The platform keys' directory in a backup.
pub const KEYS_DIR: &str = "keys";
/// The payloads' directory in a backup (file store only).
pub const OBJECTS_DIR: &str = "objects";

/// Version of the manifest's format.
pub const MANIFEST_FORMAT: u32 = 1;

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BackupError(String);

fn fail(message: impl Into<String>) -> BackupError {
    BackupError(message.into())
}

/// What to back up into where.
#[derive(Clone, Debug)]
pub struct Options {
    /// The backup directory: new, or empty.
    pub dir: PathBuf,
    /// How to run pg_dump (PostgreSQL only).
    pub pg_dump: PgDump,
}

/// `MANIFEST.json`: what the backup holds and how to restore it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    pub format: u32,
    /// The version of datamarket that wrote the backup.
    pub datamarket_version: String,
    /// When the database snapshot was taken (just before it began).
    pub created_at: String,
    /// When the backup was complete.
    pub completed_at: String,
    pub database: DatabaseCopy,
    pub audit: AuditLog,
    pub keys: KeysCopy,
    pub payloads: PayloadsCopy,
    /// The restore procedure, step by step (see docs/operations.md).
    pub restore: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DatabaseCopy {
    /// `sqlite` or `postgresql`.
    pub backend: String,
    /// The copy's file, relative to the backup directory.
    pub file: String,
    pub bytes: u64,
    /// PostgreSQL: the schema the dump holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// PostgreSQL: `pg_dump --version`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pg_dump: Option<String>,
    /// PostgreSQL: the server's version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_version: Option<String>,
}

/// The audit log the copied database holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditLog {
    /// Entries in the copy's log.
    pub size: u64,
    /// The newest signed tree head in the copy: its size (equal to `size`:
    /// every commit that grows the log signs a head), RFC 6962 root hash
    /// (hex), signing time, key and C2SP checkpoint. An auditor can pass
    /// the checkpoint to `datamarket audit verify --trusted-head` against
    /// the restored market.
    pub tree_size: Option<u64>,
    pub root_hash: Option<String>,
    pub signed_at: Option<String>,
    pub kid: Option<String>,
    pub checkpoint: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeysCopy {
    /// Relative to the backup directory.
    pub directory: String,
    pub files: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PayloadsCopy {
    /// `file` or `s3`.
    pub backend: String,
    /// Whether the backup holds the payloads (only the file store's).
    pub copied: bool,
    /// Relative to the backup directory, when copied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub directory: Option<String>,
    /// Payload files copied, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Versions the copied database records (each names one payload).
    pub versions: u64,
    /// Payloads of those versions the copy lacks (missing or of another
    /// size in the live store too); empty in a good backup.
    pub missing: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Takes the backup. Blocking: run it off the async workers.
pub fn run(settings: &Settings, options: &Options) -> Result<Manifest, BackupError> {
    let dir = &options.dir;
    let created = prepare_dir(dir, settings)?;
    match write_backup(settings, options) {
        // Written, and as complete as the live store allows: kept, but not
        // a success.
        Ok(manifest) if !manifest.payloads.missing.is_empty() => Err(fail(format!(
            "{} payload(s) that the copied database's versions name are missing from {} (or \
             have another size there), so the backup in {} lacks them too: {}",
            manifest.payloads.missing.len(),
            settings.storage.objects_dir.display(),
            dir.display(),
            manifest.payloads.missing.join(", ")
        ))),
        Ok(manifest) => Ok(manifest),
        Err(e) if created => {
            // Everything in it is ours: leave nothing half-made behind.
            let _ = std::fs::remove_dir_all(dir);
            Err(e)
        }
        Err(e) => Err(fail(format!(
            "{e}\n{} holds an incomplete backup (no {MANIFEST}); empty it before trying again",
            dir.display()
        ))),
    }
}

/// Refuses a directory that exists and is not empty (or lies inside the
/// payload directory it would copy), and makes a new one 0700. True when
/// it created the directory.
fn prepare_dir(dir: &Path, settings: &Settings) -> Result<bool, BackupError> {
    let shown = dir.display();
    if settings.storage.backend == StorageBackend::File
        && is_within(dir, &settings.storage.objects_dir)
    {
        return Err(fail(format!(
            "{shown} lies inside the payload directory {}, which the backup copies",
            settings.storage.objects_dir.display()
        )));
    }
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(fail(format!(
                    "{shown} exists and is not empty: back up into a new or empty directory"
                )));
            }
            private_dir_mode(dir)?;
            Ok(false)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            config::create_private_dir(dir)
                .map_err(|e| fail(format!("cannot create {shown}: {e}")))?;
            Ok(true)
        }
        Err(e) => Err(fail(format!(
            "cannot use {shown} as the backup directory: {e}"
        ))),
    }
}

fn write_backup(settings: &Settings, options: &Options) -> Result<Manifest, BackupError> {
    let dir = &options.dir;
    let url = DatabaseUrl::parse(settings.database.url.expose())
        .map_err(|e| fail(format!("database.url: {e}")))?;
    if let DatabaseUrl::Sqlite(path) = &url
        && !path.is_file()
    {
        // Connecting would create an empty database there.
        return Err(fail(format!(
            "there is no SQLite database at {} (database.url): nothing to back up",
            path.display()
        )));
    }
    let mut database = settings.database.clone();
    database.pool_size = 1;
    let db = Db::connect(&database).map_err(|e| fail(format!("database: {e}")))?;

    // 1. The database, and what it holds, from one snapshot.
    let created_at = domain::format_time(domain::now());
    let file = match url {
        DatabaseUrl::Sqlite(_) => SQLITE_FILE,
        DatabaseUrl::Postgres(_) => POSTGRES_FILE,
    };
    let target = dir.join(file);
    let snapshot = db
        .snapshot_into(&target, &options.pg_dump, |conn| {
            Ok((audit::state(conn)?, catalog::payloads(conn)?))
        })
        .map_err(|e| fail(format!("database snapshot: {e}")))?;
    drop(db);
    let (log, versions) = snapshot.read;
    let database = DatabaseCopy {
        backend: match snapshot.copy {
            CopyKind::Sqlite => "sqlite",
            CopyKind::Postgres { .. } => "postgresql",
        }
        .to_owned(),
        file: file.to_owned(),
        bytes: std::fs::metadata(&target)
            .map_err(|e| fail(format!("{}: {e}", target.display())))?
            .len(),
        schema: match &snapshot.copy {
            CopyKind::Postgres { schema, .. } => Some(schema.clone()),
            CopyKind::Sqlite => None,
        },
        pg_dump: match &snapshot.copy {
            CopyKind::Postgres {
                pg_dump_version, ..
            } => Some(pg_dump_version.clone()),
            CopyKind::Sqlite => None,
        },
        server_version: match &snapshot.copy {
            CopyKind::Postgres { server_version, .. } => Some(server_version.clone()),
            CopyKind::Sqlite => None,
        },
    };

    // 2. The platform keys (never removed, so every key that signed what
    //    the snapshot holds is still there).
    let keys = copy_keys(&settings.auth.keys_dir, &dir.join(KEYS_DIR))?;

    // 3. The payloads, after the snapshot.
    let payloads = match settings.storage.backend {
        StorageBackend::File => copy_payloads(
            &settings.storage.objects_dir,
            &dir.join(OBJECTS_DIR),
            &versions,
        )?,
        StorageBackend::S3 => PayloadsCopy {
            backend: "s3".into(),
            copied: false,
            directory: None,
            files: 0,
            bytes: 0,
            versions: versions.len() as u64,
            missing: Vec::new(),
            note: Some(format!(
                "the payloads are in the S3 bucket {:?}, which this backup does not copy: back \
                 the bucket up with the store's own tools (replication, versioning, a sync) \
                 after this backup, so that it holds every payload the copied versions name",
                settings.storage.s3.bucket
            )),
        },
    };

    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
    let manifest = Manifest {
        format: MANIFEST_FORMAT,
        datamarket_version: env!("CARGO_PKG_VERSION").to_owned(),
        created_at,
        completed_at: domain::format_time(domain::now()),
        restore: restore_steps(&absolute, settings, &database),
        database,
        audit: audit_log(&log),
        keys,
        payloads,
    };
    write_manifest(&dir.join(MANIFEST), &manifest)?;
    Ok(manifest)
}

fn audit_log(log: &LogState) -> AuditLog {
    let head = log.head.as_ref();
    AuditLog {
        size: log.size,
        tree_size: head.map(|h| h.tree_size),
        root_hash: head.map(|h| h.root_hash.clone()),
        signed_at: head.map(|h| h.timestamp.clone()),
        kid: head.map(|h| h.kid.clone()),
        checkpoint: head.map(|h| h.checkpoint.clone()),
    }
}

fn write_manifest(path: &Path, manifest: &Manifest) -> Result<(), BackupError> {
    let mut text = serde_json::to_string_pretty(manifest)
        .map_err(|e| fail(format!("cannot write the manifest: {e}")))?;
    text.push('\n');
    // Written whole under another name, then renamed: a MANIFEST.json is
    // always complete, and its presence means the backup is.
    let partial = path.with_extension("json.partial");
    std::fs::write(&partial, text)
        .and_then(|()| std::fs::rename(&partial, path))
        .map_err(|e| fail(format!("cannot write {}: {e}", path.display())))
}

/// Copies every file of the keys directory, 0700 directory, 0600 files.
fn copy_keys(from: &Path, to: &Path) -> Result<KeysCopy, BackupError> {
    let entries = std::fs::read_dir(from).map_err(|e| {
        fail(format!(
            "cannot read the platform keys in {} (auth.keys_dir): {e}",
            from.display()
        ))
    })?;
    config::create_private_dir(to).map_err(|e| fail(format!("{}: {e}", to.display())))?;
    let mut files = 0;
    let mut pem = 0;
    for entry in entries {
        let entry = entry.map_err(|e| fail(format!("{}: {e}", from.display())))?;
        if !entry.file_type().is_ok_and(|t| t.is_file())
            || entry.file_name() == crate::keys::LOCK_FILE
        {
            continue;
        }
        let target = to.join(entry.file_name());
        std::fs::copy(entry.path(), &target)
            .and_then(|_| config::make_private_file(&target))
            .map_err(|e| fail(format!("cannot copy {}: {e}", entry.path().display())))?;
        files += 1;
        if target.extension().is_some_and(|e| e == "pem") {
            pem += 1;
        }
    }
    if pem == 0 {
        return Err(fail(format!(
            "{} (auth.keys_dir) holds no platform key: the copied database's signatures could \
             not be verified with this backup",
            from.display()
        )));
    }
    Ok(KeysCopy {
        directory: KEYS_DIR.into(),
        files,
    })
}

/// Copies the file store's payloads and checks the copy against the
/// versions the snapshot names (key and size).
fn copy_payloads(
    from: &Path,
    to: &Path,
    versions: &[(String, i64)],
) -> Result<PayloadsCopy, BackupError> {
    let mut copied = Copied::default();
    if from.is_dir() {
        copy_tree(from, to, &mut copied)?;
    } else {
        config::create_private_dir(to).map_err(|e| fail(format!("{}: {e}", to.display())))?;
    }
    let missing = versions
        .iter()
        .filter(|(key, size)| {
            let path = key
                .split('/')
                .fold(to.to_owned(), |path, part| path.join(part));
            !std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() as i64 == *size)
        })
        .map(|(key, _)| key.clone())
        .collect();
    Ok(PayloadsCopy {
        backend: "file".into(),
        copied: true,
        directory: Some(OBJECTS_DIR.into()),
        files: copied.files,
        bytes: copied.bytes,
        versions: versions.len() as u64,
        missing,
        note: None,
    })
}

#[derive(Default)]
struct Copied {
    files: u64,
    bytes: u64,
}

fn copy_tree(from: &Path, to: &Path, copied: &mut Copied) -> Result<(), BackupError> {
    config::create_private_dir(to).map_err(|e| fail(format!("{}: {e}", to.display())))?;
    let entries = std::fs::read_dir(from)
        .map_err(|e| fail(format!("cannot read {}: {e}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(|e| fail(format!("{}: {e}", from.display())))?;
        let name = entry.file_name();
        // The file store stages an upload in progress as `<key>#<n>` and
        // renames it when complete: only complete payloads are copied.
        if name.to_string_lossy().contains('#') {
            continue;
        }
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let target = to.join(&name);
        if kind.is_dir() {
            copy_tree(&entry.path(), &target, copied)?;
        } else if kind.is_file() {
            match std::fs::copy(entry.path(), &target) {
                Ok(bytes) => {
                    copied.files += 1;
                    copied.bytes += bytes;
                }
                // Removed since it was listed: the payload of an upload that
                // was refused, which no version names.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(fail(format!("cannot copy {}: {e}", entry.path().display())));
                }
            }
        }
    }
    Ok(())
}

/// The restore procedure for this backup, with its paths filled in.
fn restore_steps(dir: &Path, settings: &Settings, database: &DatabaseCopy) -> Vec<String> {
    let d = dir.display();
    let mut env =
        format!("DATAMARKET__STORAGE__DATA_DIR={d} DATAMARKET__AUTH__KEYS_DIR={d}/{KEYS_DIR}");
    if settings.storage.backend == StorageBackend::File {
        env.push_str(&format!(
            " DATAMARKET__STORAGE__OBJECTS_DIR={d}/{OBJECTS_DIR}"
        ));
    }
    let mut steps = vec![
        "Stop every instance that writes to the market being restored over (or restore next \
         to it on another address), and keep the configuration it ran with (the audit origin, \
         the S3 settings)."
            .to_owned(),
    ];
    match &database.schema {
        None => {
            steps.push(format!(
                "Serve from the backup directory (it becomes the live data: copy it first to \
                 keep the backup as it is): {env} \
                 DATAMARKET__DATABASE__URL=sqlite://{d}/{SQLITE_FILE} datamarket serve"
            ));
            steps.push(format!(
                "Or put it back in place: copy {SQLITE_FILE} to database.url's path (removing \
                 any -wal and -shm files beside the old one), {KEYS_DIR}/ to auth.keys_dir and \
                 {OBJECTS_DIR}/ to storage.objects_dir, and serve as before."
            ));
        }
        Some(schema) => {
            let quoted = format!("\"{}\"", schema.replace('"', "\"\""));
            let major = database
                .server_version
                .as_deref()
                .and_then(|v| v.split(['.', ' ']).next())
                .unwrap_or("the original");
            steps.push(format!(
                "Create an empty database on PostgreSQL {major} or newer: createdb NEWDB"
            ));
            steps.push(format!(
                "Create the extension the catalog's search index needs (a dump of one schema \
                 holds no extensions) and the schema: psql -d NEWDB -c 'CREATE EXTENSION IF NOT \
                 EXISTS pg_trgm WITH SCHEMA public' -c 'CREATE SCHEMA IF NOT EXISTS {quoted}'"
            ));
            steps.push(format!(
                "Restore the dump: pg_restore --no-owner --schema={schema} --dbname=NEWDB \
                 {d}/{POSTGRES_FILE}"
            ));
            let search_path = if schema == "public" {
                String::new()
            } else {
                format!("?options=-csearch_path%3D{schema}%2Cpublic")
            };
            steps.push(format!(
                "Serve it: {env} DATAMARKET__DATABASE__URL='postgres://USER@HOST:5432/NEWDB\
                 {search_path}' datamarket serve (or copy keys/ and objects/ to where \
                 auth.keys_dir and storage.objects_dir point)."
            ));
        }
    }
    if settings.storage.backend == StorageBackend::S3 {
        steps.push(format!(
            "The payloads stay in the S3 bucket {:?}: restore it with the store's own tools if \
             it was lost.",
            settings.storage.s3.bucket
        ));
    }
    steps.push(
        "Auditors check the restored log against the checkpoint they saved before, or this \
         manifest's (jq -r .audit.checkpoint MANIFEST.json > head.txt): datamarket audit verify \
         --server URL --token TOKEN --trusted-head head.txt; the restored log must extend it."
            .to_owned(),
    );
    steps
}

/// Whether `inner` is `outer` or lies below it (lexically, and through
/// symbolic links where both exist).
fn is_within(inner: &Path, outer: &Path) -> bool {
    let lexical = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_owned());
    if lexical(inner).starts_with(lexical(outer)) {
        return true;
    }
    let mut existing = lexical(inner);
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_owned());
                existing = parent.to_owned();
            }
            _ => return false,
        }
    }
    match (existing.canonicalize(), outer.canonicalize()) {
        (Ok(base), Ok(outer)) => rest
            .iter()
            .rev()
            .fold(base, |path, part| path.join(part))
            .starts_with(outer),
        _ => false,
    }
}

fn private_dir_mode(dir: &Path) -> Result<(), BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| fail(format!("cannot make {} private: {e}", dir.display())))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl fmt::Display for Manifest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let db = &self.database;
        write!(
            f,
            "database: {} copy in {} ({} bytes",
            db.backend, db.file, db.bytes
        )?;
        if let Some(schema) = &db.schema {
            write!(f, ", schema {schema}")?;
        }
        writeln!(f, "), snapshot taken {}", self.created_at)?;
        match (&self.audit.tree_size, &self.audit.root_hash) {
            (Some(size), Some(root)) => writeln!(
                f,
                "audit log: {} entries; newest signed head: size {size}, root {root}",
                self.audit.size
            )?,
            _ => writeln!(f, "audit log: {} entries; no signed head", self.audit.size)?,
        }
        writeln!(
            f,
            "keys: {} file(s) in {}",
            self.keys.files, self.keys.directory
        )?;
        let p = &self.payloads;
        if p.copied {
            writeln!(
                f,
                "payloads: {} file(s), {} bytes in {}; the copy's {} version(s) each have theirs",
                p.files,
                p.bytes,
                p.directory.as_deref().unwrap_or(OBJECTS_DIR),
                p.versions
            )?;
        } else if let Some(note) = &p.note {
            writeln!(f, "payloads: not copied: {note}")?;
        }
        write!(
            f,
            "restore: see {MANIFEST} (\"restore\") and docs/operations.md"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backup_inside_the_payloads_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let objects = dir.path().join("objects");
        std::fs::create_dir(&objects).unwrap();
        assert!(is_within(&objects.join("b/c"), &objects));
        assert!(is_within(&objects, &objects));
        assert!(!is_within(&dir.path().join("backup"), &objects));
        assert!(!is_within(&dir.path().join("objects-backup"), &objects));
    }
}
