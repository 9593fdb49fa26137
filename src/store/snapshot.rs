//! Consistent copies of the database while it serves: SQLite writes one
//! with `VACUUM INTO`; PostgreSQL's is `pg_dump` of the connection's schema
//! under a snapshot this module exports and holds, so that what it reads
//! about the copy (the audit log's size and head, say) is exactly what the
//! copy holds, however many writers commit meanwhile.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::sql_types::Text;

use super::{Db, DbConnection};
use crate::config::DatabaseUrl;
use crate::error::{Error, Result};

/// How a PostgreSQL copy is made.
#[derive(Clone, Debug)]
pub struct PgDump {
    /// The `pg_dump` program (found on PATH when it is a bare name).
    pub program: PathBuf,
}

impl Default for PgDump {
    fn default() -> Self {
        PgDump {
            program: PathBuf::from("pg_dump"),
        }
    }
}

/// What a copy holds, and what `read` found in it.
#[derive(Clone, Debug)]
pub struct Snapshot<T> {
    pub copy: CopyKind,
    pub read: T,
}

/// The kind of copy written.
#[derive(Clone, Debug)]
pub enum CopyKind {
    /// A SQLite database file, ready to be opened.
    Sqlite,
    /// A `pg_dump --format=custom` archive of one schema.
    Postgres {
        /// The schema the dump holds (the connection's `current_schema()`).
        schema: String,
        /// `pg_dump --version`.
        pg_dump_version: String,
        /// `SHOW server_version`.
        server_version: String,
    },
}

impl Db {
    /// Writes a transactionally consistent copy of the database to
    /// `target` (which must not exist, or be an empty file) while writers
    /// go on, and runs `read` on exactly the state the copy holds.
    ///
    /// SQLite: `VACUUM INTO target`, then `read` on the copy itself.
    /// PostgreSQL: a `REPEATABLE READ` transaction exports its snapshot,
    /// `read` runs in it, and `pg_dump --format=custom --no-owner
    /// --schema=<current_schema()> --snapshot=<it>` writes the schema's
    /// tables as that snapshot sees them. The file is made 0600 before any
    /// data goes in: it holds password hashes.
    pub fn snapshot_into<T>(
        &self,
        target: &Path,
        pg_dump: &PgDump,
        read: impl FnOnce(&mut DbConnection) -> Result<T>,
    ) -> Result<Snapshot<T>> {
        match self.url() {
            DatabaseUrl::Sqlite(_) => self.sqlite_snapshot(target, read),
            DatabaseUrl::Postgres(url) => self.postgres_snapshot(url, target, pg_dump, read),
        }
    }

    fn sqlite_snapshot<T>(
        &self,
        target: &Path,
        read: impl FnOnce(&mut DbConnection) -> Result<T>,
    ) -> Result<Snapshot<T>> {
        let target_text = target
            .to_str()
            .ok_or_else(|| Error::Internal(format!("{} is not a UTF-8 path", target.display())))?;
        private_empty_file(target)?;
        {
            let mut conn = self.get()?;
            // One read transaction on the live file: a consistent state of
            // the database, while writers in WAL mode go on committing.
            diesel::sql_query("VACUUM INTO ?")
                .bind::<Text, _>(target_text)
                .execute(&mut *conn)
                .map_err(|e| Error::Internal(format!("VACUUM INTO {target_text}: {e}")))?;
        }
        let mut copy = DbConnection::Sqlite(
            diesel::SqliteConnection::establish(target_text)
                .map_err(|e| Error::Internal(format!("cannot open the copy {target_text}: {e}")))?,
        );
        Ok(Snapshot {
            copy: CopyKind::Sqlite,
            read: read(&mut copy)?,
        })
    }

    fn postgres_snapshot<T>(
        &self,
        url: &str,
        target: &Path,
        pg_dump: &PgDump,
        read: impl FnOnce(&mut DbConnection) -> Result<T>,
    ) -> Result<Snapshot<T>> {
        let pg_dump_version = pg_dump_version(pg_dump)?;
        private_empty_file(target)?;
        let mut conn = self.get()?;
        let DbConnection::Postgres(pg) = &mut *conn else {
            return Err(Error::Internal(
                "a PostgreSQL URL gave a SQLite connection".into(),
            ));
        };
        AnsiTransactionManager::begin_transaction_sql(
            pg,
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
        )?;
        let outcome = (|| {
            let pg = match &mut *conn {
                DbConnection::Postgres(pg) => pg,
                DbConnection::Sqlite(_) => unreachable!("matched above"),
            };
            // The transaction must outlive pg_dump's start, however slow
            // the dump; a server-wide idle timeout would end it.
            pg.batch_execute("SET LOCAL idle_in_transaction_session_timeout = 0")?;
            let snapshot: String =
                diesel::select(diesel::dsl::sql::<Text>("pg_export_snapshot()")).get_result(pg)?;
            let schema: Option<String> = diesel::select(diesel::dsl::sql::<
                diesel::sql_types::Nullable<Text>,
            >("current_schema()"))
            .get_result(pg)?;
            let schema = schema.ok_or_else(|| {
                Error::Internal(
                    "the connection has no current schema (no schema of its search_path exists)"
                        .into(),
                )
            })?;
            let server_version: String = diesel::select(diesel::dsl::sql::<Text>(
                "current_setting('server_version')",
            ))
            .get_result(pg)?;
            let value = read(&mut conn)?;
            run_pg_dump(pg_dump, url, &snapshot, &schema, target)?;
            Ok(Snapshot {
                copy: CopyKind::Postgres {
                    schema,
                    pg_dump_version: pg_dump_version.clone(),
                    server_version,
                },
                read: value,
            })
        })();
        // Read only: committing or rolling back changes nothing; it ends
        // the snapshot.
        let _ = <DbConnection as Connection>::TransactionManager::rollback_transaction(&mut conn);
        outcome
    }
}

/// Creates `path` empty with mode 0600 (SQLite's `VACUUM INTO` accepts an
/// empty file; pg_dump truncates it and keeps its mode).
fn private_empty_file(path: &Path) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
        .open(path)
        .map(drop)
        .map_err(|e| Error::Internal(format!("cannot create {}: {e}", path.display())))
}

fn pg_dump_missing(program: &Path, why: impl std::fmt::Display) -> Error {
    Error::Internal(format!(
        "cannot run {} ({why}): a PostgreSQL backup needs pg_dump from the PostgreSQL client \
         tools, of the server's major version or newer (e.g. apt-get install postgresql-client); \
         name it with --pg-dump PATH, or back up by hand as docs/operations.md \
         (\"Backups and restore\") describes",
        program.display()
    ))
}

fn pg_dump_version(pg_dump: &PgDump) -> Result<String> {
    let output = Command::new(&pg_dump.program)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| pg_dump_missing(&pg_dump.program, e))?;
    if !output.status.success() {
        return Err(pg_dump_missing(
            &pg_dump.program,
            format!("--version answered {}", output.status),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Runs pg_dump on `url` under the exported `snapshot`. The password, if
/// the URL holds one, goes to pg_dump in its environment, not on its
/// command line, where every user of the machine could read it.
fn run_pg_dump(
    pg_dump: &PgDump,
    url: &str,
    snapshot: &str,
    schema: &str,
    target: &Path,
) -> Result<()> {
    let (url, password) = split_password(url);
    // A double-quoted pattern names the schema exactly (case, wildcards).
    let pattern = format!("\"{}\"", schema.replace('"', "\"\""));
    let mut command = Command::new(&pg_dump.program);
    command
        .arg("--format=custom")
        .arg("--no-owner")
        .arg(format!("--schema={pattern}"))
        .arg(format!("--snapshot={snapshot}"))
        .arg("--file")
        .arg(target)
        .arg("--dbname")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    if let Some(password) = password {
        command.env("PGPASSWORD", password);
    }
    let output = command
        .output()
        .map_err(|e| pg_dump_missing(&pg_dump.program, e))?;
    if !output.status.success() {
        return Err(Error::Internal(format!(
            "pg_dump failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    Ok(())
}

/// The URL without its password, and the password (percent-decoded).
fn split_password(url: &str) -> (String, Option<String>) {
    let unchanged = || (url.to_owned(), None);
    let Some((scheme, rest)) = url.split_once("://") else {
        return unchanged();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some(at) = authority.rfind('@') else {
        return unchanged();
    };
    let (userinfo, host) = authority.split_at(at);
    let Some((user, password)) = userinfo.split_once(':') else {
        return unchanged();
    };
    (
        format!("{scheme}://{user}{host}{tail}"),
        Some(percent_decode(password)),
    )
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let decoded = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match decoded {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_leave_the_url() {
        assert_eq!(
            split_password("postgres://app:s%40cret:x@db.internal:5432/market?sslmode=require"),
            (
                "postgres://app@db.internal:5432/market?sslmode=require".to_owned(),
                Some("s@cret:x".to_owned())
            )
        );
        assert_eq!(
            split_password("postgres://postgres@127.0.0.1/db?options=-csearch_path%3Da"),
            (
                "postgres://postgres@127.0.0.1/db?options=-csearch_path%3Da".to_owned(),
                None
            )
        );
        assert_eq!(
            split_password("postgresql://h/db"),
            ("postgresql://h/db".to_owned(), None)
        );
        assert_eq!(percent_decode("a%2"), "a%2");
    }
}
