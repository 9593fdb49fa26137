//! Group commit: every state change of this instance goes through one
//! writer, which gathers the changes that arrive while it is busy into one
//! database transaction — one `BEGIN`, one signed audit tree head, one
//! `COMMIT` for the lot — as PostgreSQL's own WAL and Trillian's sequencer
//! do. A batch first runs with no savepoints; if one of its changes fails
//! (a refusal, a lost race), the batch is rolled back and run again with
//! each change in its own savepoint, so the failed one is rolled back alone
//! and its batch-mates commit. Each caller is answered only after its batch
//! committed, so a 2xx still means committed and in the log.
//!
//! On SQLite this is also the single writer SQLite wants: one connection
//! writes, instead of many racing for the database lock and sleeping in
//! the busy handler. On PostgreSQL several instances each have their own
//! writer; the audit log's head row is where they serialise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::prelude::*;
use tokio::sync::{mpsc, oneshot};

use super::{AroundChange, AroundChangeFn, BeforeCommit, Change, DbConnection, Manager};
use crate::error::{Error, Result};

/// The most changes one transaction takes: enough to amortise the commit
/// and the signature, few enough that one batch's latency stays small.
const MAX_BATCH: usize = 256;

/// How many changes may wait for the writer before callers wait to queue.
const QUEUE: usize = 4096;

/// How often, on SQLite, the checkpointer copies what the writer committed
/// from the WAL into the database file. Each checkpoint `fsync`s the WAL
/// and the database file; at this pace a busy writer's checkpoints copy a
/// few hundred pages each, about as many as SQLite's own threshold would.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// WAL pages past which the SQLite writer checkpoints at its own commit
/// after all (SQLite's default is 1,000). SQLite starts the WAL over from
/// its beginning only when the writer next writes to it with all of it
/// copied, which a checkpointer on another thread rarely leaves it under
/// steady writes: so the WAL grows to this size, the writer's checkpoint
/// copies the little the checkpointer had not, and the WAL starts over.
/// The WAL file so grows to about 40 MiB.
const WRITER_CHECKPOINT_PAGES: u32 = 10_000;

/// What `PRAGMA wal_checkpoint` answers.
#[derive(diesel::QueryableByName)]
struct Checkpointed {
    /// 1 when the checkpoint could not run at all.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    busy: i32,
    /// Frames in the WAL.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    /// Frames of it now in the database file.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

/// A change waiting for the writer, with the caller's reply.
trait Job: Send {
    /// Runs the change in its savepoint of the open transaction. Returns
    /// whether it is kept.
    fn run(
        &mut self,
        conn: &mut DbConnection,
        retries: u32,
        around: Option<&AroundChangeFn>,
    ) -> bool;
    /// Runs the change straight in the open transaction, without a
    /// savepoint. A failure leaves the transaction fit only to be rolled
    /// back; its outcome is kept only when `alone` (the batch's only change)
    /// and it is not worth a retry, as it then stands as the answer.
    fn run_bare(
        &mut self,
        conn: &mut DbConnection,
        around: Option<&AroundChangeFn>,
        alone: bool,
    ) -> Ran;
    /// Answers the caller once the transaction's fate is known.
    fn finish(self: Box<Self>, committed: std::result::Result<(), String>);
}

/// How a change run without a savepoint went.
enum Ran {
    Succeeded,
    /// Failed, with its outcome kept as the answer.
    Refused,
    /// Failed; the batch must be run again with savepoints.
    Failed,
}

struct TypedJob<T, F> {
    work: F,
    outcome: Option<Result<T>>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for TypedJob<T, F>
where
    T: Send + 'static,
    F: FnMut(&mut DbConnection) -> Result<T> + Send + 'static,
{
    fn run(
        &mut self,
        conn: &mut DbConnection,
        retries: u32,
        around: Option<&AroundChangeFn>,
    ) -> bool {
        let mut attempt = 0;
        loop {
            let outcome = in_savepoint(conn, &mut self.work, around);
            match outcome {
                Err(e) if e.is_retryable() && attempt < retries => {
                    attempt += 1;
                    tracing::debug!(attempt, error = %e, "retrying a change");
                    std::thread::sleep(Duration::from_millis(5 * u64::from(attempt)));
                }
                outcome => {
                    let kept = outcome.is_ok();
                    self.outcome = Some(outcome);
                    return kept;
                }
            }
        }
    }

    fn run_bare(
        &mut self,
        conn: &mut DbConnection,
        around: Option<&AroundChangeFn>,
        alone: bool,
    ) -> Ran {
        match with_hooks(conn, &mut self.work, around) {
            Ok(value) => {
                self.outcome = Some(Ok(value));
                Ran::Succeeded
            }
            Err(e) if alone && !e.is_retryable() => {
                self.outcome = Some(Err(e));
                Ran::Refused
            }
            Err(e) => {
                tracing::debug!(error = %e, "a change failed; its batch runs again with savepoints");
                self.outcome = None;
                Ran::Failed
            }
        }
    }

    fn finish(self: Box<Self>, committed: std::result::Result<(), String>) {
        let outcome = match (committed, self.outcome) {
            (Ok(()), Some(outcome)) => outcome,
            // A refusal stands whatever became of its batch-mates.
            (Err(_), Some(Err(refusal))) => Err(refusal),
            (Err(why), _) => Err(Error::Unavailable(format!(
                "the transaction did not commit: {why}"
            ))),
            (Ok(()), None) => Err(Error::Internal("a change was never run".into())),
        };
        // The caller may have gone (a closed connection); nothing to answer.
        let _ = self.reply.send(outcome);
    }
}

/// Runs `work` with the work `around` it (`Started` before, `Succeeded`
/// after, `Failed` when either fails), in whatever transaction or savepoint
/// is open.
fn with_hooks<T>(
    conn: &mut DbConnection,
    work: &mut impl FnMut(&mut DbConnection) -> Result<T>,
    around: Option<&AroundChangeFn>,
) -> Result<T> {
    let outcome = (|| {
        if let Some(around) = around {
            around(conn, Change::Started)?;
        }
        let value = work(conn)?;
        if let Some(around) = around {
            around(conn, Change::Succeeded)?;
        }
        Ok(value)
    })();
    if outcome.is_err()
        && let Some(around) = around
    {
        let _ = around(conn, Change::Failed);
    }
    outcome
}

/// Runs `work` (with its hooks) between `SAVEPOINT` and `RELEASE`, or rolls
/// back to the savepoint when it fails.
fn in_savepoint<T>(
    conn: &mut DbConnection,
    work: &mut impl FnMut(&mut DbConnection) -> Result<T>,
    around: Option<&AroundChangeFn>,
) -> Result<T> {
    type Transactions = <DbConnection as Connection>::TransactionManager;
    Transactions::begin_transaction(conn)?;
    match with_hooks(conn, work, around) {
        Ok(value) => {
            Transactions::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => {
            Transactions::rollback_transaction(conn)?;
            Err(e)
        }
    }
}

/// The handle services hand their changes to.
#[derive(Clone)]
pub(super) struct Writer {
    queue: mpsc::Sender<Box<dyn Job>>,
}

/// What the writer thread needs.
pub(super) struct WriterConfig {
    pub manager: Manager,
    pub retries: u32,
    pub before_commit: Arc<RwLock<Option<BeforeCommit>>>,
    pub around_change: Arc<RwLock<Option<AroundChange>>>,
    /// Batches committed so far, which the checkpointer watches.
    pub commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts `threads` writer threads taking from one queue, and on SQLite
    /// the checkpointer; they end when the last handle is dropped.
    pub(super) fn start(config: WriterConfig, threads: u32) -> std::io::Result<Writer> {
        let (queue, receiver) = mpsc::channel(QUEUE);
        let receiver = Arc::new(std::sync::Mutex::new(receiver));
        if config.manager.is_sqlite() {
            let (manager, commits) = (config.manager.clone(), Arc::downgrade(&config.commits));
            std::thread::Builder::new()
                .name("datamarket-checkpointer".into())
                .spawn(move || checkpoint(&manager, &commits))?;
        }
        let config = Arc::new(config);
        for n in 0..threads.max(1) {
            let (config, receiver) = (config.clone(), receiver.clone());
            std::thread::Builder::new()
                .name(format!("datamarket-writer-{n}"))
                .spawn(move || run(&config, &receiver))?;
        }
        Ok(Writer { queue })
    }

    fn job<T, F>(work: F) -> (Box<dyn Job>, oneshot::Receiver<Result<T>>)
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job = Box::new(TypedJob {
            work,
            outcome: None,
            reply,
        });
        (job, answer)
    }

    pub(super) async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T> + Send + 'static,
    {
        let (job, answer) = Self::job(work);
        self.queue
            .send(job)
            .await
            .map_err(|_| Error::Unavailable("the database writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| Error::Unavailable("the database writer has stopped".into()))?
    }

    /// [`Writer::write`] for callers on a thread that may block (never the
    /// writer's own).
    pub(super) fn write_blocking<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnMut(&mut DbConnection) -> Result<T> + Send + 'static,
    {
        let (job, answer) = Self::job(work);
        self.queue
            .blocking_send(job)
            .map_err(|_| Error::Unavailable("the database writer has stopped".into()))?;
        answer
            .blocking_recv()
            .map_err(|_| Error::Unavailable("the database writer has stopped".into()))?
    }
}

/// Under load, a batch smaller than this waits [`GATHER_WAIT`] once for more.
const GATHER_UP_TO: usize = 16;

/// How long a small batch waits for more changes when others are writing:
/// as PostgreSQL's `commit_delay`, a little latency for fewer commits and
/// signed heads, whose cost is per batch. Without it, a writer that runs
/// changes quickly commits batches of two or three while the gateway's
/// workers, on the same cores, wait for the CPU it spends committing.
const GATHER_WAIT: Duration = Duration::from_micros(100);

/// Takes the next batch: waits for one change, then takes whatever else is
/// waiting; when `busy` (the last batch had company) and few are waiting,
/// once more after [`GATHER_WAIT`]. `None` once every handle is gone.
fn next_batch(
    receiver: &std::sync::Mutex<mpsc::Receiver<Box<dyn Job>>>,
    busy: bool,
) -> Option<Vec<Box<dyn Job>>> {
    let mut receiver = receiver.lock().unwrap_or_else(|e| e.into_inner());
    let first = receiver.blocking_recv()?;
    let mut batch = vec![first];
    let mut take_waiting = |batch: &mut Vec<Box<dyn Job>>| {
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
    };
    take_waiting(&mut batch);
    if busy && batch.len() < GATHER_UP_TO {
        std::thread::sleep(GATHER_WAIT);
        take_waiting(&mut batch);
    }
    Some(batch)
}

/// On SQLite, copies what the writer committed from the WAL into the
/// database file every [`CHECKPOINT_EVERY`], on a connection of its own.
/// SQLite would otherwise do it at the commit that takes the WAL past its
/// threshold, on the writer — the one thread every change waits for —
/// where, with its `fsync`s, it took 6–9% of the writer's time under load
/// (docs/performance.md). A passive checkpoint waits for no one: readers
/// and the writer go on while it copies, and what a reader still needs
/// stays in the WAL until a later round. Ends when the writer has.
fn checkpoint(manager: &Manager, commits: &Weak<AtomicU64>) {
    let mut conn: Option<DbConnection> = None;
    let mut copied = 0;
    let mut failing = false;
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        let Some(committed) = commits.upgrade().map(|c| c.load(Ordering::Relaxed)) else {
            return;
        };
        if committed == copied {
            continue;
        }
        let outcome = match conn.as_mut() {
            Some(c) => Ok(c),
            None => manager
                .establish()
                .map(|c| conn.insert(c))
                .map_err(|e| e.to_string()),
        }
        .and_then(|connection| match connection {
            DbConnection::Sqlite(c) => diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)")
                .get_result::<Checkpointed>(c)
                .map_err(|e| e.to_string()),
            DbConnection::Postgres(_) => Err("not a SQLite database".to_owned()),
        });
        match outcome {
            Ok(done) => {
                failing = false;
                // Until all of it is in the file, look again next round
                // even if nothing more is committed.
                if done.busy == 0 && done.checkpointed == done.log {
                    copied = committed;
                }
            }
            Err(error) => {
                // Once per spell of failures, not every round.
                if !failing {
                    tracing::warn!(%error, "WAL checkpoints are failing");
                }
                failing = true;
                conn = None;
            }
        }
    }
}

/// A writer thread: connect, then take batches until every handle is gone.
fn run(config: &WriterConfig, receiver: &std::sync::Mutex<mpsc::Receiver<Box<dyn Job>>>) {
    let mut conn: Option<DbConnection> = None;
    let mut busy = false;
    while let Some(mut batch) = next_batch(receiver, busy) {
        busy = batch.len() > 1;
        let connection = match conn.take() {
            Some(c) => Ok(c),
            None => config
                .manager
                .establish()
                .and_then(|mut c| {
                    // Not at SQLite's 1,000 pages: the checkpointer copies
                    // the WAL (see `checkpoint`).
                    if config.manager.is_sqlite() {
                        c.batch_execute(&format!(
                            "PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES}"
                        ))
                        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                    }
                    Ok(c)
                })
                .map_err(|e| format!("cannot connect: {e}")),
        };
        let mut connection = match connection {
            Ok(c) => c,
            Err(why) => {
                tracing::warn!(%why, "the writer has no database connection");
                for job in batch {
                    job.finish(Err(why.clone()));
                }
                // Do not spin against a database that is down.
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        };
        let committed = commit_batch(&mut connection, &mut batch, config);
        if committed.is_ok() {
            config.commits.fetch_add(1, Ordering::Relaxed);
        }
        let healthy =
            !<DbConnection as Connection>::TransactionManager::is_broken_transaction_manager(
                &mut connection,
            );
        if healthy {
            conn = Some(connection);
        }
        for job in batch {
            job.finish(committed.clone());
        }
    }
}

/// One transaction for the whole batch; each job in its savepoint.
fn commit_batch(
    conn: &mut DbConnection,
    batch: &mut [Box<dyn Job>],
    config: &WriterConfig,
) -> std::result::Result<(), String> {
    let hook = config
        .before_commit
        .read()
        .map(|h| h.clone())
        .unwrap_or_default();
    let around = config
        .around_change
        .read()
        .map(|h| h.clone())
        .unwrap_or_default();
    let mut attempt = 0;
    let mut guarded = false;
    loop {
        let pass = try_batch(
            conn,
            batch,
            config.retries,
            hook.as_deref(),
            around.as_deref(),
            guarded,
        );
        if !matches!(pass, Ok(Pass::Committed))
            && let Some(around) = around.as_deref()
        {
            let _ = around(conn, Change::BatchRolledBack);
        }
        match pass {
            Ok(Pass::Committed) => return Ok(()),
            Ok(Pass::Refused) => return Err("its only change was refused".into()),
            Ok(Pass::Redo) => guarded = true,
            Err(e) if e.is_retryable() && attempt < config.retries => {
                attempt += 1;
                tracing::debug!(attempt, error = %e, "retrying a batch");
                std::thread::sleep(Duration::from_millis(5 * u64::from(attempt)));
            }
            Err(e) => {
                tracing::warn!(error = %e, jobs = batch.len(), "a batch did not commit");
                return Err(e.to_string());
            }
        }
    }
}

/// How one run of a batch ended, short of a database error.
enum Pass {
    Committed,
    /// Rolled back: the batch's only change failed, and that is its answer.
    Refused,
    /// Rolled back: a change failed without a savepoint; run it again with.
    Redo,
}

/// Runs the batch in one transaction. A first run goes without savepoints
/// (`guarded` false): most changes succeed, and a savepoint and its release
/// are two more statements per change — two more round trips on
/// PostgreSQL. When a change fails, the whole batch is rolled back and run
/// again with each change in its savepoint, which is why a change's work
/// may run more than once.
fn try_batch(
    conn: &mut DbConnection,
    batch: &mut [Box<dyn Job>],
    retries: u32,
    hook: Option<&super::BeforeCommitFn>,
    around: Option<&AroundChangeFn>,
    guarded: bool,
) -> Result<Pass> {
    type Transactions = <DbConnection as Connection>::TransactionManager;
    super::begin_write(conn)?;
    if let Some(around) = around
        && let Err(e) = around(conn, Change::BatchBegun)
    {
        let _ = Transactions::rollback_transaction(conn);
        return Err(e);
    }
    let alone = batch.len() == 1;
    for job in batch.iter_mut() {
        if guarded {
            job.run(conn, retries, around);
            continue;
        }
        let failed = match job.run_bare(conn, around, alone) {
            Ran::Succeeded => continue,
            Ran::Refused => Pass::Refused,
            Ran::Failed => Pass::Redo,
        };
        Transactions::rollback_transaction(conn)?;
        return Ok(failed);
    }
    let ended = match around {
        Some(around) => around(conn, Change::BatchEnding),
        None => Ok(()),
    };
    let sealed = ended.and_then(|()| match hook {
        Some(hook) => hook(conn),
        None => Ok(()),
    });
    let outcome = sealed.and_then(|()| {
        <DbConnection as Connection>::TransactionManager::commit_transaction(conn)
            .map_err(Error::from)
    });
    if outcome.is_err() {
        let _ = Transactions::rollback_transaction(conn);
    }
    outcome.map(|()| Pass::Committed)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use diesel::RunQueryDsl;

    use crate::config::{Secret, Settings};
    use crate::store::Db;

    /// What the writer commits reaches the database file without waiting
    /// for a checkpoint at a commit of the writer (at 10,000 WAL pages now,
    /// SQLite's default being 1,000): 500 pages are copied by the
    /// checkpointer.
    #[test]
    fn the_checkpointer_copies_the_writers_commits_into_the_database_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.db");
        let mut settings = Settings::defaults().unwrap().database;
        settings.url = Secret::new(format!("sqlite://{}", file.display()));
        let db = Db::connect(&settings).unwrap();
        db.write_blocking(|conn| {
            diesel::sql_query("CREATE TABLE filler (bytes BLOB NOT NULL)").execute(conn)?;
            for _ in 0..500 {
                diesel::sql_query("INSERT INTO filler (bytes) VALUES (zeroblob(4000))")
                    .execute(conn)?;
            }
            Ok(())
        })
        .unwrap();
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let size = std::fs::metadata(&file).unwrap().len();
            if size >= 500 * 4000 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the database file holds {size} bytes 10 s after the commit"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}
