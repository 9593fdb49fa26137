//! The cost of a grant-checked delivery of a 4 KiB payload, against the
//! owner's unchecked delivery of the same payload and a bare actix-web
//! handler returning the same bytes, all over real HTTP in the same run.
//! The grant path reads the grant, counts the download with a conditional
//! update and appends an audit entry in one transaction; the owner path
//! checks rights and streams; the bare handler does nothing but answer.
//!
//! Run: `cargo bench --bench delivery` (add DATABASE_URL=postgres://… for
//! PostgreSQL).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use actix_web::{App, HttpResponse, HttpServer, web};
use datamarket::Market;
use datamarket::config::{Secret, Settings};
use diesel::prelude::*;
use futures_util::StreamExt;
use serde_json::{Value, json};

const PAYLOAD: usize = 4096;
const REQUESTS: usize = 3000;
const CONCURRENCY: usize = 8;
const PASSWORD: &str = "bench-password-123";

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let bare = bare_server().await;
        println!("| backend | path | requests/s | mean latency | × bare handler time |");
        println!("| --- | --- | --- | --- | --- |");
        run("SQLite", None, &bare).await;
        if let Some(url) = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        {
            run("PostgreSQL", Some(url), &bare).await;
        }
    });
}

async fn bare_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let payload = web::Bytes::from(payload());
    let server = HttpServer::new(move || {
        let payload = payload.clone();
        App::new().route(
            "/payload",
            web::get().to(move || {
                let payload = payload.clone();
                async move { HttpResponse::Ok().content_type("text/csv").body(payload) }
            }),
        )
    })
    .workers(2)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://{addr}/payload")
}

fn payload() -> Vec<u8> {
    (0..PAYLOAD).map(|i| b"0123456789,\n"[i % 12]).collect()
}

async fn run(backend: &str, postgres: Option<String>, bare: &str) {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = Settings::defaults().unwrap();
    settings.server.bind = "127.0.0.1:0".into();
    settings.server.workers = 2;
    settings.storage.data_dir = dir.path().to_owned();
    settings.storage.objects_dir = dir.path().join("objects");
    settings.auth.keys_dir = dir.path().join("keys");
    let schema = format!("bench_delivery_{}", std::process::id());
    settings.database.url = Secret::new(match &postgres {
        None => format!("sqlite://{}", dir.path().join("bench.db").display()),
        Some(base) => {
            let mut conn = diesel::PgConnection::establish(base).unwrap();
            diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut conn)
                .unwrap();
            diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .unwrap();
            let sep = if base.contains('?') { '&' } else { '?' };
            format!("{base}{sep}options=-csearch_path%3D{schema}%2Cpublic")
        }
    });
    let market = tokio::task::spawn_blocking(move || Market::open(settings))
        .await
        .unwrap()
        .unwrap();
    let running = datamarket::gateway::start(market).unwrap();
    let handle = running.handle.clone();
    tokio::spawn(running.server);
    let api = format!("http://{}/api/v1", running.addr);
    let client = reqwest::Client::new();

    let owner = account(&client, &api, "bench-owner", "provider").await;
    let consumer = account(&client, &api, "bench-consumer", "consumer").await;
    let dataset: Value = client
        .post(format!("{api}/datasets"))
        .bearer_auth(&owner)
        .json(
            &json!({"title": "bench", "classification": "general", "personal_data": false,
                      "license": "CC0", "price": {"amount": 0, "currency": "CNY"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = dataset["id"].as_str().unwrap().to_owned();
    let status = client
        .post(format!("{api}/datasets/{id}/versions"))
        .bearer_auth(&owner)
        .header("content-type", "text/csv")
        .body(payload())
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 201);
    client
        .post(format!("{api}/datasets/{id}/publish"))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    let request: Value = client.post(format!("{api}/access-requests")).bearer_auth(&consumer)
        .json(&json!({"dataset": id, "purpose": "bench", "duration_days": 1, "max_downloads": 1_000_000,
                      "processing": false, "cross_border": false}))
        .send().await.unwrap().json().await.unwrap();
    let approved: Value = client
        .post(format!(
            "{api}/access-requests/{}/approve",
            request["id"].as_str().unwrap()
        ))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(approved["state"], "approved");

    let content = format!("{api}/datasets/{id}/versions/1/content");
    let bare_time = measure(&client, bare, None).await;
    let owner_time = measure(&client, &content, Some(&owner)).await;
    let grant_time = measure(&client, &content, Some(&consumer)).await;
    for (path, time) in [
        ("bare actix handler", bare_time),
        ("owner, unchecked", owner_time),
        ("licensee, grant-checked and counted", grant_time),
    ] {
        println!(
            "| {backend} | {path} | {:.0} | {:.2} ms | {:.1}× |",
            REQUESTS as f64 / time.as_secs_f64(),
            time.as_secs_f64() * 1e3 * CONCURRENCY as f64 / REQUESTS as f64,
            time.as_secs_f64() / bare_time.as_secs_f64()
        );
    }
    handle.stop(true).await;
    if let Some(base) = postgres {
        let mut conn = diesel::PgConnection::establish(&base).unwrap();
        diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&mut conn)
            .unwrap();
    }
}

async fn account(client: &reqwest::Client, api: &str, name: &str, role: &str) -> String {
    client
        .post(format!("{api}/accounts"))
        .json(&json!({"name": name, "password": PASSWORD, "roles": [role]}))
        .send()
        .await
        .unwrap();
    let token: Value = client
        .post(format!("{api}/auth/token"))
        .json(&json!({"name": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    token["access_token"].as_str().unwrap().to_owned()
}

/// Wall time for REQUESTS downloads, CONCURRENCY at a time, after a warm-up;
/// every answer is checked to be the 4 KiB payload.
async fn measure(client: &reqwest::Client, url: &str, token: Option<&str>) -> Duration {
    let fetch = |_| {
        let mut req = client.get(url);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        async move {
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.bytes().await.unwrap().len(), PAYLOAD);
        }
    };
    futures_util::stream::iter(0..100)
        .for_each_concurrent(CONCURRENCY, fetch)
        .await;
    let start = Instant::now();
    futures_util::stream::iter(0..REQUESTS)
        .for_each_concurrent(CONCURRENCY, fetch)
        .await;
    start.elapsed()
}
