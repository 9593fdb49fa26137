//! The relational store: one portable schema over SQLite (embedded default)
//! and PostgreSQL (scale-out), chosen by the URL scheme. Services get
//! connections through [`Db`], which keeps blocking diesel work off the async
//! workers and gives every state change a write transaction.

pub mod dialect;
pub(crate) mod kept;
pub mod schema;
pub mod snapshot;
pub mod tally;
mod writer;

use std::sync::{Arc, RwLock};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::config::{DatabaseSettings, DatabaseUrl};
use crate::error::{Error, Result};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Arbitrary constant naming the advisory lock that lets exactly one
/// instance apply migrations while the others wait.
const MIGRATION_LOCK_KEY: i64 = 0x6461_7461_6d6b_7431;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

/// The backend type diesel generates for [`DbConnection`].
pub type Backend = MultiBackend;

impl DbConnection {
    pub fn is_postgres(&self) -> bool {
        matches!(self, DbConnection::Postgres(_))
    }
}

/// Runs `$body` with `$c` bound to the backend's own connection, for the
/// statements on the hot paths. diesel's multi-connection wraps every
/// statement so that it can serve either backend, and that wrapper writes
/// the statement's whole SQL text on every run, before it even looks in the
/// statement cache — twice for a statement whose type does not fix its
/// text. On `PATCH` that was a fifth of the writer's time
/// (docs/performance.md, sixth round). On the backend's own connection the
/// cache finds a statement whose type fixes its text by that type, and the
/// text is written only when it is first prepared (a kept update,
/// [`kept::update`], is found by its text, written once per run). The body
/// is compiled once per backend.
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            $crate::store::DbConnection::Postgres($c) => $body,
            $crate::store::DbConnection::Sqlite($c) => $body,
        }
    };
}
pub(crate) use on_backend;

/// Opens connections of the configured kind and prepares each session.
#[derive(Clone, Debug)]
pub struct Manager {
    url: DatabaseUrl,
    busy_timeout_ms: u64,
    statement_timeout_ms: u64,
}

impl Manager {
    fn is_sqlite(&self) -> bool {
        matches!(self.url, DatabaseUrl::Sqlite(_))
    }

    fn establish(&self) -> std::result::Result<DbConnection, diesel::ConnectionError> {
        let mut conn = match &self.url {
            DatabaseUrl::Postgres(url) => {
                DbConnection::Postgres(diesel::PgConnection::establish(url)?)
            }
            DatabaseUrl::Sqlite(path) => {
                let path = path.to_str().ok_or_else(|| {
                    diesel::ConnectionError::InvalidConnectionUrl("non UTF-8 SQLite path".into())
                })?;
                DbConnection::Sqlite(diesel::SqliteConnection::establish(path)?)
            }
        };
        let setup = match &conn {
            // NORMAL synchronous is durable across application crashes in
            // WAL mode (which `Db::connect` sets once, for the file).
            DbConnection::Sqlite(_) => format!(
                "PRAGMA busy_timeout = {}; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                self.busy_timeout_ms
            ),
            // JIT compilation pays off for long analytic queries, not for
            // these short ones; the recursive lineage query's row estimates
            // would otherwise trigger it and spend most of its time compiling.
            DbConnection::Postgres(_) => {
                format!(
                    "SET statement_timeout = {}; SET jit = off",
                    self.statement_timeout_ms
                )
            }
        };
        conn.batch_execute(&setup)
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
        Ok(conn)
    }
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> std::result::Result<DbConnection, Self::Error> {
        self.establish()
            .map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> std::result::Result<(), Self::Error> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        <DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(conn)
    }
}

type Pool = diesel::r2d2::Pool<Manager>;
pub type PooledConnection = diesel::r2d2::PooledConnection<Manager>;

/// Work a write transaction runs after its own work succeeded and before it
/// commits, on the same connection; an error rolls the transaction back.
pub type BeforeCommitFn = dyn Fn(&mut DbConnection) -> Result<()> + Send + Sync;
pub type BeforeCommit = Arc<BeforeCommitFn>;

/// Where a change stands, for work the writer runs around each one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// A batch's transaction has begun, before any of its changes runs.
    BatchBegun,
    /// Its work is about to run (inside its savepoint when the batch runs
    /// with savepoints).
    Started,
    /// Its work succeeded; an error here fails the change as its work's
    /// error would.
    Succeeded,
    /// It failed; it is rolled back (alone, or with its batch).
    Failed,
    /// Every change of the batch has run; the transaction is about to be
    /// sealed and committed.
    BatchEnding,
    /// The batch's transaction was rolled back (to be run again, or given
    /// up): whatever was kept of it outside the database is stale.
    BatchRolledBack,
}

pub type AroundChangeFn = dyn Fn(&mut DbConnection, Change) -> Result<()> + Send + Sync;
pub type AroundChange = Arc<AroundChangeFn>;

/// Rows of one table above which PostgreSQL is sent them with `COPY … FROM
/// STDIN (FORMAT binary)` rather than multi-row `INSERT`s. Audit rows of 64
/// entries went in as fast either way, of 256 entries 30% faster with
/// `COPY`, and a filled log's about half again as fast (docs/performance.md,
/// eighth round).
pub(crate) const COPY_ABOVE: usize = 64;

/// Inserts rows of one table: on PostgreSQL as one multi-row statement (one
/// round trip), or with `COPY` above [`COPY_ABOVE`] rows; on SQLite one
/// cached single-row statement each (in-process, where a statement parsed
/// for every row count would cost more). `$rows` is a `Vec` of
/// `(column.eq(value), …)` tuples.
macro_rules! insert_rows {
    ($conn:expr, $table:path, $rows:expr) => {{
        use ::diesel::prelude::*;
        let rows = $rows;
        match $conn {
            _ if rows.is_empty() => 0usize,
            $crate::store::DbConnection::Postgres(c) if rows.len() > $crate::store::COPY_ABOVE => {
                ::diesel::copy_from($table)
                    .from_insertable(rows)
                    .execute(c)?
            }
            // At most COPY_ABOVE rows: far within PostgreSQL's 65,535 bind
            // parameters per statement.
            $crate::store::DbConnection::Postgres(c) => {
                ::diesel::insert_into($table).values(&rows).execute(c)?
            }
            $crate::store::DbConnection::Sqlite(c) => {
                let mut inserted = 0;
                for row in rows {
                    inserted += ::diesel::insert_into($table).values(row).execute(c)?;
                }
                inserted
            }
        }
    }};
}
pub(crate) use insert_rows;

/// The shared handle on the database: a pool of connections for reads,
/// and the writer every state change goes through ([`writer`]).
#[derive(Clone)]
pub struct Db {
    pool: Pool,
    url: Arc<DatabaseUrl>,
    writer: writer::Writer,
    before_commit: Arc<RwLock<Option<BeforeCommit>>>,
    around_change: Arc<RwLock<Option<AroundChange>>>,
}

impl Db {
    /// Connects, creating the SQLite file's directory when needed.
    pub fn connect(settings: &DatabaseSettings) -> Result<Db> {
        let url = DatabaseUrl::parse(settings.url.expose())
            .map_err(|e| Error::Internal(format!("database.url: {e}")))?;
        if let DatabaseUrl::Sqlite(path) = &url
            && let Some(dir) = path.parent()
        {
            crate::config::create_private_dir(dir)?;
        }
        let manager = Manager {
            url: url.clone(),
            busy_timeout_ms: settings.sqlite_busy_timeout_ms,
            statement_timeout_ms: settings.statement_timeout_ms,
        };
        if let DatabaseUrl::Sqlite(_) = &url {
            // WAL lets readers proceed while one writer commits. The mode is
            // kept in the file, so it is set here once: set by every pooled
            // connection, the pool's concurrent first connections raced for
            // the switch and SQLite answered some with "database is locked"
            // without waiting out the busy timeout.
            let mut conn = manager
                .establish()
                .map_err(|e| Error::Unavailable(format!("cannot open the database: {e}")))?;
            conn.batch_execute("PRAGMA journal_mode = WAL")?;
            // The file holds password hashes; SQLite gives its -wal and -shm
            // files the same mode.
            if let DatabaseUrl::Sqlite(path) = &url {
                crate::config::make_private_file(path)?;
            }
        }
        let pool = diesel::r2d2::Pool::builder()
            .max_size(settings.pool_size)
            .connection_timeout(Duration::from_secs(settings.connection_timeout_secs))
            .test_on_check_out(false)
            .build(manager.clone())
            .map_err(|e| Error::Unavailable(format!("cannot connect to the database: {e}")))?;
        let before_commit = Arc::new(RwLock::new(None));
        let around_change = Arc::new(RwLock::new(None));
        // One writer per instance: SQLite has one writer at a time anyway,
        // and on PostgreSQL every batch takes the audit log's head first
        // (see `Change::BatchBegun`), so a second writer would only wait.
        let writer = writer::Writer::start(
            writer::WriterConfig {
                manager,
                retries: settings.retries,
                before_commit: before_commit.clone(),
                around_change: around_change.clone(),
                commits: Arc::default(),
            },
            1,
        )?;
        Ok(Db {
            pool,
            url: Arc::new(url),
            writer,
            before_commit,
            around_change,
        })
    }

    /// Installs the hook every write transaction runs just before COMMIT
    /// (the audit log signs its new tree head there, so that the head
    /// commits with the entries it covers). Every handle on this database
    /// shares it.
    pub fn set_before_commit(&mut self, hook: BeforeCommit) {
        if let Ok(mut slot) = self.before_commit.write() {
            *slot = Some(hook);
        }
    }

    /// Installs the work the writer runs around each change (the audit log
    /// gathers a change's entries and writes them in a few statements when
    /// the change succeeded). Every handle on this database shares it.
    pub fn set_around_change(&mut self, hook: AroundChange) {
        if let Ok(mut slot) = self.around_change.write() {
            *slot = Some(hook);
        }
    }

    pub fn url(&self) -> &DatabaseUrl {
        &self.url
    }

    pub fn is_postgres(&self) -> bool {
        matches!(*self.url, DatabaseUrl::Postgres(_))
    }

    /// A connection for work already off the async workers (CLI, sweeps).
    pub fn get(&self) -> Result<PooledConnection> {
        self.pool
            .get()
            .map_err(|e| Error::Unavailable(format!("no database connection available: {e}")))
    }

    /// Pool figures for metrics: (connections open, connections idle).
    pub fn pool_state(&self) -> (u32, u32) {
        let state = self.pool.state();
        (state.connections, state.idle_connections)
    }

    /// Runs read-only work on a blocking thread.
    pub async fn read<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        blocking(move || {
            let mut conn = db.get()?;
            work(&mut conn)
        })
        .await
    }

    /// Runs a short read — a few rows by key — where it costs least: on
    /// SQLite in place, on the calling thread (an in-process read of a page
    /// that is almost always cached takes microseconds, less than handing
    /// it to another thread and back); on PostgreSQL, whose every statement
    /// is a network round trip, on a blocking thread as [`Db::read`] does.
    /// Not for anything that scans.
    pub async fn read_short<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
    {
        if self.is_postgres() {
            return self.read(work).await;
        }
        let mut conn = self.get()?;
        work(&mut conn)
    }

    /// [`Db::read_short`] for work of several statements: on SQLite they
    /// share one read transaction, so they see one snapshot and start a
    /// read once (its shared-memory locks, and the page cache dropped when
    /// a write committed since) where each on its own would start one. On
    /// PostgreSQL, where a `BEGIN` and a `COMMIT` would be two more round
    /// trips, each statement reads its own snapshot as in [`Db::read`].
    pub async fn read_short_many<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T> + Send + 'static,
    {
        if self.is_postgres() {
            return self.read(work).await;
        }
        self.read_short(|conn| conn.transaction(work)).await
    }

    /// Runs a state change in a write transaction, through the writer: it
    /// may share its transaction with other changes (group commit), and is
    /// answered once that transaction committed. `work` may run more than
    /// once (a lost race is retried, and a batch in which a change failed is
    /// run again with a savepoint per change), so it must not have effects
    /// outside the transaction.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T> + Send + 'static,
    {
        self.writer.write(work).await
    }

    /// [`Db::write`] for callers already on a blocking thread.
    pub fn write_blocking<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T> + Send + 'static,
    {
        self.writer.write_blocking(work)
    }

    /// Applies pending migrations. On PostgreSQL an advisory lock makes one
    /// instance apply them while any other starting instance waits.
    pub fn migrate(&self) -> Result<Vec<String>> {
        let mut conn = self.get()?;
        let applied = match &mut *conn {
            DbConnection::Sqlite(c) => {
                let result = c
                    .run_pending_migrations(SQLITE_MIGRATIONS)
                    .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>());
                if result.is_err() {
                    // A migration that runs outside diesel's transaction
                    // (one that rebuilds a table with foreign keys off) may
                    // stop midway: the pooled connection must not keep its
                    // transaction, and its write lock, or foreign keys off.
                    let _ = c.batch_execute("ROLLBACK");
                    let _ = c.batch_execute("PRAGMA foreign_keys = ON");
                }
                result
            }
            DbConnection::Postgres(c) => {
                c.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))?;
                let result = c
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.iter().map(|m| m.to_string()).collect::<Vec<_>>());
                c.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))?;
                result
            }
        };
        applied.map_err(|e| Error::Internal(format!("migration failed: {e}")))
    }

    /// Whether the database answers, for readiness checks.
    pub async fn ping(&self) -> Result<()> {
        self.read(|conn| conn.batch_execute("SELECT 1").map_err(Error::from))
            .await
    }
}

/// The outcome of a conditional state change ([`transition!`]).
#[must_use = "a lost transition must be answered, not ignored"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transition {
    /// The row was in an expected state and now is in the new one.
    Made,
    /// The row was no longer in an expected state (another request, another
    /// instance or the sweeper changed it first): nothing was written.
    Lost,
}

impl Transition {
    pub fn from_count(changed: usize) -> Transition {
        if changed == 1 {
            Transition::Made
        } else {
            Transition::Lost
        }
    }

    pub fn made(self) -> bool {
        self == Transition::Made
    }
}

/// Moves one row from one of the expected states to a new one, as a single
/// conditional statement — `UPDATE t SET state = $to, … WHERE id = $id AND
/// state IN ($from…)` — and reports whether it did. Every state change of
/// the market goes through it: a read-check-write would let two requests (or
/// two gateways on one PostgreSQL database) both pass the check, while the
/// database re-checks this condition on the row it is about to change.
///
/// ```text
/// let made = transition!(conn, grants, &row.id, status: [GrantStatus::Active] => GrantStatus::Revoked,
///     revoked_at = now, revoked_by = actor.id.to_string());
/// ```
macro_rules! transition {
    // The states written out: one comparison each, joined by OR, so that
    // the text depends only on how many are written (the update is kept
    // prepared, see store::kept).
    ($conn:expr, $table:ident, $id:expr, $state:ident : [$first:expr $(, $from:expr)* $(,)?] => $to:expr $(, $column:ident = $value:expr)* $(,)?) => {{
        let state = $crate::store::schema::$table::$state;
        $crate::store::transition!(@update $conn, $table, $id,
            state.eq($first)$(.or(state.eq($from)))*, $state => $to $(, $column = $value)*)
    }};
    (@update $conn:expr, $table:ident, $id:expr, $expected:expr, $state:ident => $to:expr $(, $column:ident = $value:expr)*) => {{
        use ::diesel::prelude::*;
        // Every value is bound, none skipped: the text never varies, and
        // the statement is kept prepared (not the `eq_any` form on SQLite,
        // whose list diesel marks unsafe to keep).
        let changed = $crate::store::on_backend!($conn, c => $crate::store::kept::update(
            $crate::store::schema::$table::table,
            $crate::store::schema::$table::id.eq($id).and($expected),
            (
                $crate::store::schema::$table::$state.eq($to),
                $($crate::store::schema::$table::$column.eq($value),)*
            ),
        )
        .execute(c))?;
        $crate::store::Transition::from_count(changed)
    }};
    ($conn:expr, $table:ident, $id:expr, $state:ident : $from:expr => $to:expr $(, $column:ident = $value:expr)* $(,)?) => {{
        $crate::store::transition!(@update $conn, $table, $id,
            $crate::store::schema::$table::$state.eq_any($from), $state => $to $(, $column = $value)*)
    }};
}
pub(crate) use transition;

/// Locks one row for the rest of the write transaction, before anything is
/// decided from it: the portable `SELECT … FOR UPDATE`. On PostgreSQL a
/// second transaction that locks the same row waits until the first commits
/// and then reads what it wrote, so a decision that rests on more than the
/// row's state (a publish on the classification, an edit on every other
/// field) is made on current data. On SQLite the writer's transaction holds
/// the whole database already, and nothing is done.
macro_rules! lock_row {
    ($conn:expr, $table:ident, $id:expr) => {{
        $crate::store::lock_for_update($conn, stringify!($table), &$id)?;
    }};
}
pub(crate) use lock_row;

/// See [`lock_row!`]; `table` is one of the schema's tables.
pub fn lock_for_update(conn: &mut DbConnection, table: &str, id: &str) -> Result<()> {
    if let DbConnection::Postgres(pg) = conn {
        diesel::sql_query(format!("SELECT 1 FROM {table} WHERE id = $1 FOR UPDATE"))
            .bind::<diesel::sql_types::Text, _>(id)
            .execute(pg)?;
    }
    Ok(())
}

/// Runs blocking work on tokio's blocking pool.
pub async fn blocking<T, F>(work: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
}

/// Opens a write transaction. SQLite transactions begin IMMEDIATE: a
/// deferred transaction that reads before it writes can find its snapshot
/// stale once it wants the write lock, and SQLite then fails it at once
/// instead of waiting out the busy timeout.
fn begin_write(conn: &mut DbConnection) -> Result<()> {
    match conn {
        DbConnection::Sqlite(c) => {
            AnsiTransactionManager::begin_transaction_sql(c, "BEGIN IMMEDIATE")?
        }
        DbConnection::Postgres(c) => AnsiTransactionManager::begin_transaction(c)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use diesel::RunQueryDsl;
    use diesel::sql_types::BigInt;

    use super::{Db, DbConnection};
    use crate::config::{Secret, Settings};
    use crate::error::Result;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }

    fn notes(conn: &mut DbConnection) -> Result<i64> {
        Ok(diesel::sql_query("SELECT count(*) AS n FROM notes")
            .get_result::<Count>(conn)?
            .n)
    }

    /// Commits a note through the writer, from a thread of its own (the
    /// reads run in place, on the test's runtime, which may not block).
    fn add_note(db: &Db) {
        let db = db.clone();
        std::thread::spawn(move || {
            db.write_blocking(|conn| {
                diesel::sql_query("INSERT INTO notes DEFAULT VALUES").execute(conn)?;
                Ok(())
            })
            .unwrap()
        })
        .join()
        .unwrap();
    }

    /// Counts the notes, commits one more, and counts again.
    fn across_a_commit(conn: &mut DbConnection, db: &Db) -> Result<(i64, i64)> {
        let first = notes(conn)?;
        add_note(db);
        Ok((first, notes(conn)?))
    }

    /// On SQLite the statements of one `read_short_many` read one snapshot:
    /// a change committed between two of them is not seen by the second,
    /// where `read_short`'s statements, each its own read, do see it.
    #[test]
    fn a_short_read_of_many_statements_reads_one_snapshot() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut settings = Settings::defaults().unwrap().database;
        settings.url = Secret::new(format!("sqlite://{}", dir.path().join("t.db").display()));
        let db = Db::connect(&settings).unwrap();
        db.write_blocking(|conn| {
            diesel::sql_query("CREATE TABLE notes (id INTEGER PRIMARY KEY)").execute(conn)?;
            Ok(())
        })
        .unwrap();
        add_note(&db);

        let writer = db.clone();
        let counts = runtime
            .block_on(db.read_short_many(move |conn| across_a_commit(conn, &writer)))
            .unwrap();
        assert_eq!(counts, (1, 1), "one snapshot");
        // Work that fails ends its read too, with its error.
        let failed = runtime.block_on(db.read_short_many(|conn| {
            notes(conn)?;
            Err::<(), _>(crate::error::Error::Internal("refused".into()))
        }));
        assert!(matches!(failed, Err(crate::error::Error::Internal(_))));

        let writer = db.clone();
        let counts = runtime
            .block_on(db.read_short(move |conn| across_a_commit(conn, &writer)))
            .unwrap();
        assert_eq!(counts, (2, 3), "a snapshot per statement");
        // The read transaction ended with the work: later reads see every
        // commit.
        assert_eq!(runtime.block_on(db.read_short_many(notes)).unwrap(), 3);
    }
}
