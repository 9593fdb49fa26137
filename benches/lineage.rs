//! Lineage query time for the two shapes that stress it: a chain 1,000
//! datasets deep and one dataset with 10,000 derived children, on SQLite
//! and (when DATABASE_URL names PostgreSQL) PostgreSQL, through the same
//! service call the API makes. A one-row dataset read in the same run is the
//! yardstick the ratios are taken against.
//!
//! Run: `cargo bench --bench lineage` (add DATABASE_URL=postgres://… for
//! PostgreSQL).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use datamarket::Market;
use datamarket::accounts::{self, NewAccount, Registrar};
use datamarket::catalog::lineage::{self as provenance, Direction};
use datamarket::config::{Secret, Settings};
use datamarket::domain::{self, Role};
use datamarket::store::schema::{dataset_sources, datasets, derivations};
use diesel::prelude::*;
use uuid::Uuid;

const CHAIN: usize = 1_000;
const FAN_OUT: usize = 10_000;
const RUNS: usize = 10;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("| backend | shape | query | median | min | × one-row read |");
    println!("| --- | --- | --- | --- | --- | --- |");
    runtime.block_on(bench("SQLite", None));
    if let Some(url) = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres"))
    {
        runtime.block_on(bench("PostgreSQL", Some(url)));
    }
}

async fn bench(backend: &str, postgres: Option<String>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut settings = Settings::defaults().expect("settings");
    settings.storage.data_dir = dir.path().to_owned();
    settings.storage.objects_dir = dir.path().join("objects");
    settings.auth.keys_dir = dir.path().join("keys");
    let schema = format!("bench_lineage_{}", std::process::id());
    settings.database.url = Secret::new(match &postgres {
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
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
    let market = tokio::task::spawn_blocking(move || Market::open(settings))
        .await
        .expect("join")
        .expect("open");
    let provider = accounts::register(
        &market,
        Registrar::Operator,
        NewAccount {
            name: "bench-provider".into(),
            password: "bench-password-123".into(),
            roles: vec![Role::Provider],
            display_name: None,
            organization: None,
            territory: None,
            entity_type: None,
            credit_code: None,
            region: None,
        },
    )
    .await
    .expect("account")
    .value
    .id;

    let seed = Instant::now();
    let db = market.db.clone();
    let (chain_end, fan_root) = tokio::task::spawn_blocking(move || {
        db.write_blocking(move |conn| {
            let chain: Vec<Uuid> = (0..=CHAIN)
                .map(|_| insert_dataset(conn, provider))
                .collect();
            for pair in chain.windows(2) {
                derive(conn, provider, pair[1], pair[0]);
            }
            let root = insert_dataset(conn, provider);
            for _ in 0..FAN_OUT {
                let child = insert_dataset(conn, provider);
                derive(conn, provider, child, root);
            }
            Ok((chain[CHAIN], root))
        })
    })
    .await
    .expect("join")
    .expect("seed");
    eprintln!(
        "{backend}: seeded {} datasets in {:?}",
        CHAIN + 2 + FAN_OUT,
        seed.elapsed()
    );
    // Statistics as autovacuum (PostgreSQL) or an operator's ANALYZE
    // (SQLite) would leave them; a planner that thinks the tables are empty
    // picks sequential scans for the recursive join.
    let db = market.db.clone();
    tokio::task::spawn_blocking(move || {
        use diesel::connection::SimpleConnection;
        db.get()
            .expect("conn")
            .batch_execute("ANALYZE")
            .expect("analyze")
    })
    .await
    .expect("join");

    let baseline = time(|| async {
        datamarket::catalog::get(&market, None, chain_end)
            .await
            .expect("get");
    })
    .await;
    let depth = market.settings.lineage.max_depth;
    let cases: Vec<(&str, &str, Uuid, Direction, u32)> = vec![
        (
            "chain of 1,000",
            "upstream, unbounded",
            chain_end,
            Direction::Upstream,
            depth,
        ),
        (
            "chain of 1,000",
            "upstream, depth 10",
            chain_end,
            Direction::Upstream,
            10,
        ),
        (
            "fan-out of 10,000",
            "downstream, depth 1",
            fan_root,
            Direction::Downstream,
            1,
        ),
    ];
    for (shape, query, id, direction, depth) in cases {
        let stats = time(|| async {
            let lineage = provenance::lineage(&market, None, id, direction, Some(depth))
                .await
                .expect("lineage");
            assert!(!lineage.truncated);
        })
        .await;
        row(backend, shape, query, stats, baseline);
    }
    let stats = time(|| async {
        provenance::provenance(&market, None, chain_end)
            .await
            .expect("provenance");
    })
    .await;
    row(
        backend,
        "chain of 1,000",
        "PROV-JSON document",
        stats,
        baseline,
    );
    row(backend, "—", "one-row dataset read", baseline, baseline);

    if let Some(base) = postgres {
        let mut conn = diesel::PgConnection::establish(&base).expect("connect");
        diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut conn)
            .expect("drop");
    }
}

fn insert_dataset(conn: &mut datamarket::store::DbConnection, provider: Uuid) -> Uuid {
    let id = domain::new_id();
    let now = domain::to_db_time(domain::now());
    diesel::insert_into(datasets::table)
        .values((
            datasets::id.eq(id.to_string()),
            datasets::provider_id.eq(provider.to_string()),
            datasets::title.eq(format!("dataset {id}")),
            datasets::description.eq(""),
            datasets::tags.eq("[]"),
            datasets::classification.eq("general"),
            datasets::personal_data.eq(false),
            datasets::license.eq("CC0"),
            datasets::price_amount.eq(0i64),
            datasets::price_currency.eq("CNY"),
            datasets::status.eq("listed"),
            datasets::latest_version.eq(1),
            datasets::search_text.eq(""),
            datasets::created_at.eq(now),
            datasets::updated_at.eq(now),
            datasets::listed_at.eq(Some(now)),
        ))
        .execute(conn)
        .expect("insert dataset");
    id
}

fn derive(conn: &mut datamarket::store::DbConnection, agent: Uuid, derived: Uuid, source: Uuid) {
    let derivation = domain::new_id().to_string();
    diesel::insert_into(derivations::table)
        .values((
            derivations::id.eq(&derivation),
            derivations::dataset_id.eq(derived.to_string()),
            derivations::name.eq("bench"),
            derivations::description.eq(""),
            derivations::agent_id.eq(agent.to_string()),
            derivations::created_at.eq(domain::to_db_time(domain::now())),
        ))
        .execute(conn)
        .expect("insert derivation");
    diesel::insert_into(dataset_sources::table)
        .values((
            dataset_sources::derivation_id.eq(&derivation),
            dataset_sources::dataset_id.eq(derived.to_string()),
            dataset_sources::source_id.eq(source.to_string()),
            dataset_sources::source_version.eq(1),
        ))
        .execute(conn)
        .expect("insert source");
}

#[derive(Clone, Copy)]
struct Stats {
    median: Duration,
    min: Duration,
}

async fn time<F, Fut>(mut run: F) -> Stats
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    run().await; // warm caches and the pool
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let start = Instant::now();
        run().await;
        samples.push(start.elapsed());
    }
    samples.sort();
    Stats {
        median: samples[RUNS / 2],
        min: samples[0],
    }
}

fn row(backend: &str, shape: &str, query: &str, stats: Stats, baseline: Stats) {
    println!(
        "| {backend} | {shape} | {query} | {:.2} ms | {:.2} ms | {:.0}× |",
        stats.median.as_secs_f64() * 1e3,
        stats.min.as_secs_f64() * 1e3,
        stats.median.as_secs_f64() / baseline.median.as_secs_f64()
    );
}
