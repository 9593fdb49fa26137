//! The database yardstick for `bench/ratios`: write transactions as fast as
//! the database takes them, each one `UPDATE` of a counter row and one
//! `INSERT` of a 200-byte row — what one audited change needs at the least.
//!
//! * SQLite: one writer (WAL, `synchronous = NORMAL`), as SQLite has one.
//! * PostgreSQL: `CLIENTS` connections writing at once (default 32), as the
//!   market's clients do.
//!
//! Prints `transactions/s`. Run:
//! `cargo run --release --example raw_writer -- sqlite /tmp/raw.db 8`
//! `cargo run --release --example raw_writer -- postgres postgres://… 8 32`

#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: raw_writer sqlite PATH SECONDS | postgres URL SECONDS [CLIENTS]";
    let (kind, target) = match (args.get(1), args.get(2)) {
        (Some(k), Some(t)) => (k.clone(), t.clone()),
        _ => panic!("{usage}"),
    };
    let seconds: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(8);
    let clients: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(32);
    let rate = match kind.as_str() {
        "sqlite" => sqlite(&target, seconds),
        "postgres" => postgres(&target, seconds, clients),
        _ => panic!("{usage}"),
    };
    println!("{rate:.0} transactions/s");
}

const ROW: &str = "an audit entry's canonical bytes are about this long, give or take; \
an audit entry's canonical bytes are about this long, give or take; \
an audit entry's canonical bytes are about this long.";

fn sqlite(path: &str, seconds: u64) -> f64 {
    let _ = std::fs::remove_file(path);
    let mut conn = SqliteConnection::establish(path).expect("open");
    conn.batch_execute(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE head (id INTEGER PRIMARY KEY, size INTEGER NOT NULL);
         INSERT INTO head VALUES (1, 0);
         CREATE TABLE entries (idx INTEGER PRIMARY KEY, body TEXT NOT NULL);",
    )
    .expect("schema");
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut done = 0u64;
    while Instant::now() < deadline {
        conn.immediate_transaction::<_, diesel::result::Error, _>(|conn| {
            diesel::sql_query("UPDATE head SET size = size + 1 WHERE id = 1").execute(conn)?;
            diesel::sql_query("INSERT INTO entries (idx, body) VALUES (?, ?)")
                .bind::<BigInt, _>(done as i64)
                .bind::<Text, _>(ROW)
                .execute(conn)?;
            Ok(())
        })
        .expect("transaction");
        done += 1;
    }
    done as f64 / start.elapsed().as_secs_f64()
}

fn postgres(url: &str, seconds: u64, clients: usize) -> f64 {
    let mut conn = PgConnection::establish(url).expect("connect");
    conn.batch_execute(
        "DROP TABLE IF EXISTS raw_head, raw_entries;
         CREATE TABLE raw_head (id INTEGER PRIMARY KEY, size BIGINT NOT NULL);
         INSERT INTO raw_head SELECT g, 0 FROM generate_series(1, 1024) g;
         CREATE TABLE raw_entries (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL);",
    )
    .expect("schema");
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..clients)
        .map(|i| {
            let (stop, count, url) = (stop.clone(), count.clone(), url.to_owned());
            std::thread::spawn(move || {
                let mut conn = PgConnection::establish(&url).expect("connect");
                // Each client its own counter row: single-row write
                // transactions that do not wait on each other's locks.
                let row = (i % 1024 + 1) as i64;
                while !stop.load(Ordering::Relaxed) {
                    conn.transaction::<_, diesel::result::Error, _>(|conn| {
                        diesel::sql_query("UPDATE raw_head SET size = size + 1 WHERE id = $1")
                            .bind::<BigInt, _>(row)
                            .execute(conn)?;
                        diesel::sql_query("INSERT INTO raw_entries (body) VALUES ($1)")
                            .bind::<Text, _>(ROW)
                            .execute(conn)?;
                        Ok(())
                    })
                    .expect("transaction");
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.join().expect("worker");
    }
    let rate = count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64();
    let _ = conn.batch_execute("DROP TABLE IF EXISTS raw_head, raw_entries");
    rate
}
