//! The audit log at 10^3, 10^5 and 10^6 entries, on SQLite and (when
//! DATABASE_URL names PostgreSQL) PostgreSQL, through the real code paths:
//!
//! - append: a single-entry write transaction (`audit::append` plus the
//!   before-commit sealer that signs the new tree head), which must cost the
//!   same at every size (O(log n) rows read and written);
//! - proofs: `audit::inclusion_proof` and `audit::consistency_proof`, the
//!   service calls the API makes, at random indexes and sizes;
//! - the verifier, in entries per second, against the raw SHA-256
//!   throughput of this machine measured in the same run: `audit verify`
//!   end to end (`verify::verify_server` against the running gateway over
//!   HTTP on this machine, server work included); the verifier's own share
//!   (parsing each JSON line and checking it in the `LogVerifier` that
//!   `audit verify` runs) over the entries `audit::export` streams; and the
//!   same on a synthetic log with a signed head on every entry, as a log of
//!   single-change transactions has.
//!
//! The log is filled between sizes with 10,000 appends per transaction.
//!
//! Run: `cargo bench --bench audit_log` (add DATABASE_URL=postgres://… for
//! PostgreSQL). `AUDIT_BENCH_SIZES=1000,100000` chooses other sizes;
//! `AUDIT_BENCH_PG_SIZES` those of PostgreSQL (default: the SQLite sizes up
//! to 10^5; `AUDIT_BENCH_PG_SIZES=1000,100000,1000000` for all three, which
//! takes some twenty minutes more); `AUDIT_BENCH_SYNTHETIC` the size of the
//! synthetic log (default 100000).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use datamarket::Market;
use datamarket::accounts::{self, Credentials, NewAccount, Registrar};
use datamarket::audit::checkpoint::{self, TrustedKeys};
use datamarket::audit::verify::{LogVerifier, Options, ServedEntry};

/// The offline verifier and its HTTP client, under one name.
mod verify {
    pub use datamarket::client::audit::{Server, verify_server};
}
use datamarket::audit::{self, Action, Entry, EntryView, NodeView, TreeHead};
use datamarket::config::{Secret, Settings};
use datamarket::domain::{Actor, Role, Roles};
use datamarket::keys::PlatformKeys;
use diesel::prelude::*;
use futures_util::StreamExt;
use rand::Rng;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const FILL_BATCH: u64 = 10_000;
const APPENDS: usize = 200;
const PROOFS: usize = 200;

fn sizes(var: &str, default: &[u64]) -> Vec<u64> {
    std::env::var(var)
        .ok()
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().parse().expect("a size"))
                .collect()
        })
        .unwrap_or_else(|| default.to_vec())
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let sqlite_sizes = sizes("AUDIT_BENCH_SIZES", &[1_000, 100_000, 1_000_000]);
    let sha = sha256_throughput();
    println!(
        "raw SHA-256 on this machine: {:.0} MB/s over 64 MiB in 512-byte messages; {:.0} hashes/s of 2 × 32 bytes (a tree node)",
        sha.0 / 1e6,
        sha.1
    );
    let mut rows = Vec::new();
    runtime.block_on(bench("SQLite", None, &sqlite_sizes, sha.0, &mut rows));
    if let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    {
        // Appends cost about a millisecond on PostgreSQL here (eight round
        // trips), so a 10^6 fill takes some twenty minutes: opt in to it.
        let up_to_1e5: Vec<u64> = sqlite_sizes
            .iter()
            .copied()
            .filter(|&n| n <= 100_000)
            .collect();
        let pg_sizes = sizes("AUDIT_BENCH_PG_SIZES", &up_to_1e5);
        runtime.block_on(bench("PostgreSQL", Some(url), &pg_sizes, sha.0, &mut rows));
    }
    println!();
    println!(
        "| backend | entries | fill, 10k per tx (entries/s) | append tx p50 | append tx p99 | inclusion p50 | inclusion p99 | consistency p50 | consistency p99 |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    for row in &rows {
        println!("{}", row.0);
    }
    println!();
    println!(
        "| backend | entries | `audit verify` over HTTP (entries/s) | verifier alone (entries/s) | verifier alone (MB/s of JSON lines) | SHA-256 MB/s ÷ verifier MB/s |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for row in &rows {
        println!("{}", row.1);
    }
    let n = sizes("AUDIT_BENCH_SYNTHETIC", &[100_000])[0];
    let (rate, bytes_rate) = synthetic_verify(n);
    println!();
    println!(
        "verifier alone on {n} synthetic entries, each with its signed head: {rate:.0} entries/s, {:.1} MB/s of JSON lines (SHA-256 is {:.0}× faster per byte)",
        bytes_rate / 1e6,
        sha.0 / bytes_rate
    );
}

/// (bytes/s hashing 512-byte messages, node hashes/s).
fn sha256_throughput() -> (f64, f64) {
    let data = vec![0x5au8; 64 << 20];
    let start = Instant::now();
    let mut acc = 0u8;
    for chunk in data.chunks(512) {
        acc ^= Sha256::digest(chunk)[0];
    }
    let bytes = data.len() as f64 / start.elapsed().as_secs_f64();
    let (a, b) = ([1u8; 32], [2u8; 32]);
    let n = 1_000_000;
    let start = Instant::now();
    for _ in 0..n {
        acc ^= audit::merkle::node_hash(&a, &b)[0];
    }
    let nodes = n as f64 / start.elapsed().as_secs_f64();
    std::hint::black_box(acc);
    (bytes, nodes)
}

fn entry(i: u64, actor: Uuid, party: Uuid) -> Entry {
    Entry {
        actor: Some(actor),
        action: Action::DatasetUpdated,
        dataset: Some(party),
        subject: party.to_string(),
        parties: vec![party],
        detail: serde_json::json!({"changed": ["title", "price"], "n": i}),
    }
}

async fn open(postgres: Option<&str>, dir: &std::path::Path) -> Market {
    let mut settings = Settings::defaults().expect("settings");
    settings.storage.data_dir = dir.to_owned();
    settings.storage.objects_dir = dir.join("objects");
    settings.auth.keys_dir = dir.join("keys");
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.workers = 2;
    let schema = format!("bench_audit_{}", std::process::id());
    settings.database.url = Secret::new(match postgres {
        None => format!("sqlite://{}", dir.join("bench.db").display()),
        Some(base) => {
            let mut conn = diesel::PgConnection::establish(base).expect("connect");
            diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut conn)
                .expect("drop");
            diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .expect("create");
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-csearch_path%3D{schema}%2Cpublic")
        }
    });
    tokio::task::spawn_blocking(move || Market::open(settings))
        .await
        .unwrap()
        .expect("market opens")
}

fn drop_schema(postgres: Option<&str>) {
    if let Some(base) = postgres {
        let mut conn = diesel::PgConnection::establish(base).expect("connect");
        let schema = format!("bench_audit_{}", std::process::id());
        diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut conn)
            .expect("drop");
    }
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort();
    samples[((samples.len() - 1) as f64 * p).round() as usize]
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        format!("{:.2} ms", us / 1000.0)
    }
}

async fn bench(
    backend: &str,
    postgres: Option<String>,
    sizes: &[u64],
    sha_bytes_per_sec: f64,
    rows: &mut Vec<(String, String)>,
) {
    let dir = tempfile::tempdir().expect("temp dir");
    let market = open(postgres.as_deref(), dir.path()).await;
    // A real auditor account and token for `audit verify` over HTTP; its
    // registration is entry 0.
    let password = "tangerine-orbit-42".to_owned();
    let account = accounts::register(
        &market,
        Registrar::Operator,
        NewAccount {
            name: "bench-auditor".into(),
            password: password.clone(),
            roles: vec![Role::Auditor],
            display_name: None,
            organization: None,
            territory: None,
            entity_type: None,
            credit_code: None,
            region: None,
        },
    )
    .await
    .expect("auditor")
    .value;
    let token = accounts::login::issue_token(
        &market,
        Credentials {
            name: "bench-auditor".into(),
            password,
        },
        None,
    )
    .await
    .expect("token")
    .access_token;
    let auditor = Actor {
        id: account.id,
        roles: Roles::new(account.roles.clone()),
    };
    let running = datamarket::gateway::start(market.clone()).expect("gateway");
    let server = verify::Server {
        url: format!("http://{}", running.addr),
        token: Some(token),
    };
    let handle = running.handle.clone();
    tokio::spawn(running.server);
    let (actor_id, party) = (Uuid::now_v7(), Uuid::now_v7());
    // The auditor's account and its login are already in the log.
    let mut size = audit::size(&market.db).await.expect("log size");
    let mut rng = rand::thread_rng();
    for &target in sizes {
        // Fill up to the size in large transactions.
        let fill_start = Instant::now();
        let filled = target.saturating_sub(size);
        while size < target {
            let batch = FILL_BATCH.min(target - size);
            let first = size;
            market
                .db
                .write(move |conn| {
                    for i in first..first + batch {
                        audit::append(conn, entry(i, actor_id, party))?;
                    }
                    Ok(())
                })
                .await
                .expect("fill");
            size += batch;
        }
        let fill_rate = filled as f64 / fill_start.elapsed().as_secs_f64();

        // Single-entry transactions, sealer included.
        let mut appends = Vec::with_capacity(APPENDS);
        for _ in 0..APPENDS {
            let start = Instant::now();
            let i = size;
            market
                .db
                .write(move |conn| audit::append(conn, entry(i, actor_id, party)))
                .await
                .expect("append");
            appends.push(start.elapsed());
            size += 1;
        }

        let mut inclusion = Vec::with_capacity(PROOFS);
        let mut consistency = Vec::with_capacity(PROOFS);
        for _ in 0..PROOFS {
            let index = rng.gen_range(0..size);
            let start = Instant::now();
            audit::inclusion_proof(&market.db, &auditor, index, None)
                .await
                .expect("inclusion proof");
            inclusion.push(start.elapsed());
            let first = rng.gen_range(1..=size);
            let start = Instant::now();
            audit::consistency_proof(&market.db, first, None)
                .await
                .expect("consistency proof");
            consistency.push(start.elapsed());
        }

        let start = Instant::now();
        let report = verify::verify_server(&server, None, None, Options::default())
            .await
            .expect("audit verify");
        let http_rate = report.entries as f64 / start.elapsed().as_secs_f64();
        assert_eq!(report.entries, size);
        let (verified, rate, bytes_rate) = verify_throughput(&market, &auditor).await;
        assert_eq!(verified, size);
        rows.push((
            format!(
                "| {backend} | {target} | {fill_rate:.0} | {} | {} | {} | {} | {} | {} |",
                fmt(percentile(&mut appends, 0.5)),
                fmt(percentile(&mut appends, 0.99)),
                fmt(percentile(&mut inclusion, 0.5)),
                fmt(percentile(&mut inclusion, 0.99)),
                fmt(percentile(&mut consistency, 0.5)),
                fmt(percentile(&mut consistency, 0.99)),
            ),
            format!(
                "| {backend} | {size} | {http_rate:.0} | {rate:.0} | {:.1} | {:.0}× |",
                bytes_rate / 1e6,
                sha_bytes_per_sec / bytes_rate,
            ),
        ));
        eprintln!("{backend}: {target} entries done");
    }
    handle.stop(true).await;
    drop(market);
    drop_schema(postgres.as_deref());
}

/// The verifier's share on `n` entries that each carry a signed head.
/// Returns (entries/s, bytes of JSON lines/s).
fn synthetic_verify(n: u64) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("temp dir");
    let keys = PlatformKeys::load_or_create(dir.path()).expect("key");
    let key = keys.active();
    let origin = "bench.example/audit";
    let mut range = audit::merkle::CompactRange::new();
    let party = Uuid::now_v7().to_string();
    let lines: Vec<String> = (0..n)
        .map(|index| {
            let time = "2026-11-29T02:17:25.898882Z";
            let canonical = audit::canonical_json(&serde_json::json!({
                "v": 1, "index": index, "time": time, "actor": party,
                "action": "dataset.updated", "dataset": party, "subject": party,
                "parties": [party], "detail": {"changed": ["title", "price"], "n": index},
            }));
            let leaf = audit::leaf_hash(canonical.as_bytes());
            range.push(leaf).expect("push");
            let text = checkpoint::note_text(origin, index + 1, &range.root(), time);
            let signature = key.sign(text.as_bytes());
            let view = EntryView {
                index,
                fields: None,
                canonical,
                leaf_hash: hex::encode(leaf),
                nodes: range
                    .last_completed()
                    .into_iter()
                    .map(|(id, hash)| NodeView {
                        level: id.level,
                        hash: hex::encode(hash),
                    })
                    .collect(),
                tree_head: Some(TreeHead {
                    tree_size: index + 1,
                    root_hash: hex::encode(range.root()),
                    timestamp: time.into(),
                    kid: key.kid().into(),
                    signature: String::new(),
                    checkpoint: checkpoint::signed_note(
                        &text,
                        origin,
                        &key.verifying_key(),
                        &signature,
                    ),
                }),
            };
            serde_json::to_string(&view).expect("json")
        })
        .collect();
    let trusted = TrustedKeys::from_jwks(&keys.jwks()).expect("keys");
    let mut verifier = LogVerifier::new(&trusted, Options::default());
    let start = Instant::now();
    for line in &lines {
        let entry: ServedEntry = serde_json::from_str(line).expect("entry");
        verifier.push(entry).expect("verifies");
    }
    let head = verifier.newest_head().cloned().expect("head");
    verifier.finish(&head).expect("verdict");
    let secs = start.elapsed().as_secs_f64();
    let bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    (n as f64 / secs, bytes as f64 / secs)
}

/// Streams the whole log out of the database as the API does and times
/// only the verifier's share: parsing each JSON line and checking it.
/// Returns (entries, entries/s, bytes of JSON lines/s).
async fn verify_throughput(market: &Market, auditor: &Actor) -> (u64, f64, f64) {
    let jwks = market.keys.jwks();
    let keys = TrustedKeys::from_jwks(&jwks).expect("keys");
    let mut verifier = LogVerifier::new(&keys, Options::default());
    let mut stream = audit::export(&market.db, auditor, audit::EntryFilter::default())
        .await
        .expect("export");
    let mut busy = Duration::ZERO;
    let mut bytes = 0usize;
    while let Some(view) = stream.next().await {
        let line = serde_json::to_string(&view.expect("entry")).expect("json");
        let start = Instant::now();
        let entry: ServedEntry = serde_json::from_str(&line).expect("served entry");
        verifier.push(entry).expect("the log verifies");
        busy += start.elapsed();
        bytes += line.len() + 1;
    }
    let head = verifier.newest_head().cloned().expect("a head");
    let start = Instant::now();
    verifier.finish(&head).expect("verdict");
    busy += start.elapsed();
    let n = verifier.size();
    (
        n,
        n as f64 / busy.as_secs_f64(),
        bytes as f64 / busy.as_secs_f64(),
    )
}
