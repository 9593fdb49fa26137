//! A payload of several hundred MiB through the real `datamarket serve`
//! process: stored intact, and streamed, so the server's memory stays flat.

use futures_util::StreamExt;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::*;

const PAYLOAD_MIB: usize = 256;
const CHUNK: usize = 256 * 1024;
/// What the server may grow by while receiving the payload.
const ALLOWED_GROWTH_KIB: u64 = 48 * 1024;

struct Server {
    process: ServerProcess,
    _schema: SchemaGuard,
    _dir: tempfile::TempDir,
}

fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
}

async fn start(backend: Backend) -> Option<Server> {
    let dir = tempfile::tempdir().unwrap();
    let (url, schema) = fresh_database(backend, dir.path())?;
    let process = ServerProcess::start(&url, dir.path(), 8);
    process.ready().await;
    Some(Server {
        process,
        _schema: SchemaGuard(schema),
        _dir: dir,
    })
}

fn payload_chunk(i: usize) -> Vec<u8> {
    (0..CHUNK).map(|j| ((i * 31 + j * 7) % 251) as u8).collect()
}

async fn case(backend: Backend) {
    let server = start(backend).await.expect(NO_POSTGRES);
    let pid = server.process.child.id();
    let client = reqwest::Client::new();
    let url = |p: &str| format!("{}{p}", server.process.base);
    client
        .post(url("/api/v1/accounts"))
        .json(&json!({"name": "bulk", "password": PASSWORD, "roles": ["provider"]}))
        .send()
        .await
        .unwrap();
    let token: serde_json::Value = client
        .post(url("/api/v1/auth/token"))
        .json(&json!({"name": "bulk", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let created: serde_json::Value = client
        .post(url("/api/v1/datasets"))
        .bearer_auth(&token)
        .json(&dataset_body("Bulk", "general"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let versions = url(&format!("/api/v1/datasets/{id}/versions"));
    // warm up the upload path, then measure from here
    let warm = client
        .post(&versions)
        .bearer_auth(&token)
        .body(vec![1u8; CHUNK])
        .send()
        .await
        .unwrap();
    assert_eq!(warm.status(), 201);
    let baseline = status_kib(pid, "VmRSS:");
    // Resetting the peak makes VmHWM the peak of the upload alone.
    let peak_reset = std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok();

    let chunks = PAYLOAD_MIB * 1024 * 1024 / CHUNK;
    let mut expected = Sha256::new();
    for i in 0..chunks {
        expected.update(payload_chunk(i));
    }
    let expected = hex::encode(expected.finalize());
    let body =
        futures_util::stream::iter(0..chunks).map(|i| Ok::<_, std::io::Error>(payload_chunk(i)));
    let reply = client
        .post(&versions)
        .bearer_auth(&token)
        .header("content-type", "application/octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 201);
    let version: serde_json::Value = reply.json().await.unwrap();
    let peak = if peak_reset {
        status_kib(pid, "VmHWM:")
    } else {
        status_kib(pid, "VmRSS:")
    };
    let growth = peak.saturating_sub(baseline);
    eprintln!(
        "{backend:?}: {PAYLOAD_MIB} MiB upload: RSS {baseline} KiB before, peak {peak} KiB, growth {growth} KiB"
    );
    assert_eq!(version["size"], (chunks * CHUNK) as u64);
    assert_eq!(version["sha256"], expected, "stored hash is the payload's");
    assert!(
        growth < ALLOWED_GROWTH_KIB,
        "server grew by {growth} KiB while receiving {PAYLOAD_MIB} MiB"
    );

    // and it streams back out the same, hashed by the client
    let download = client
        .get(url(&format!("/api/v1/datasets/{id}/versions/2/content")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(download.status(), 200);
    let mut hasher = Sha256::new();
    let mut stream = download.bytes_stream();
    while let Some(chunk) = stream.next().await {
        hasher.update(chunk.unwrap());
    }
    assert_eq!(hex::encode(hasher.finalize()), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    case(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
async fn postgres() {
    case(Backend::Postgres).await
}
