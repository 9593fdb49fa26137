//! `datamarket backup DIR` against a serving market (the real binary) while
//! a client keeps writing, then a restore of DIR started as a market of its
//! own: its audit log verifies and extends the head the manifest records,
//! its size is the manifest's, its payloads are the ones recorded, and it
//! takes new writes. On SQLite the backup directory is served as it is; on
//! PostgreSQL the dump goes into a fresh database by the documented
//! procedure (createdb, pg_trgm and the schema, pg_restore).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use datamarket::audit::verify::Options;
use datamarket::backup::Manifest;
use datamarket::client::audit::{Server, verify_server};
use datamarket::config::{DatabaseSettings, Secret, Settings};
use diesel::prelude::*;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    backup_and_restore(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
async fn postgres() {
    backup_and_restore(Backend::Postgres).await;
}

/// Runs the `datamarket` command against this database and data directory.
async fn datamarket(
    args: &[&str],
    database_url: &str,
    data_dir: &Path,
    stdin: Option<&str>,
) -> std::process::Output {
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (url, dir, stdin) = (
        database_url.to_owned(),
        data_dir.to_owned(),
        stdin.map(str::to_owned),
    );
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_datamarket"))
            .args(&args)
            .env("DATAMARKET__DATABASE__URL", &url)
            .env("DATAMARKET__STORAGE__DATA_DIR", &dir)
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run datamarket");
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// A client of one server.
#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    fn new(server: &ServerProcess) -> Api {
        Api {
            client: reqwest::Client::new(),
            base: server.base.clone(),
        }
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/api/v1{path}", self.base))
            .json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(format!("{}/api/v1{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, name: &str) -> String {
        let (status, body) = self
            .post(
                "/auth/token",
                None,
                json!({"name": name, "password": PASSWORD}),
            )
            .await;
        assert_eq!(status, 200, "login {name}: {body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn dataset(&self, token: &str, title: &str) -> String {
        let (status, body) = self
            .post("/datasets", Some(token), dataset_body(title, "general"))
            .await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn upload(&self, token: &str, dataset: &str, payload: Vec<u8>) -> Value {
        let resp = self
            .client
            .post(format!("{}/api/v1/datasets/{dataset}/versions", self.base))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(payload)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        resp.json().await.unwrap()
    }
}

/// The audit log's state read straight from a database.
async fn log_state(database_url: &str) -> datamarket::audit::LogState {
    let mut settings: DatabaseSettings = Settings::defaults().unwrap().database;
    settings.url = Secret::new(database_url);
    settings.pool_size = 1;
    let db = datamarket::store::Db::connect(&settings).unwrap();
    db.read(datamarket::audit::state).await.unwrap()
}

/// A database of its own on the test's PostgreSQL server, dropped at the end.
struct ScratchDatabase {
    admin_url: String,
    name: String,
}

impl ScratchDatabase {
    fn create() -> ScratchDatabase {
        static SERIAL: AtomicUsize = AtomicUsize::new(0);
        let admin_url = postgres_url().expect(NO_POSTGRES);
        let name = format!(
            "backup_restore_{}_{}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::SeqCst)
        );
        let mut conn = diesel::PgConnection::establish(&admin_url).unwrap();
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .unwrap();
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .unwrap();
        ScratchDatabase { admin_url, name }
    }

    /// The URL of this database on the same server as `admin_url`.
    fn url(&self) -> String {
        let (base, query) = match self.admin_url.split_once('?') {
            Some((base, query)) => (base, format!("?{query}")),
            None => (self.admin_url.as_str(), String::new()),
        };
        let server = base.rsplit_once('/').map_or(base, |(server, _)| server);
        format!("{server}/{}{query}", self.name)
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Ok(mut conn) = diesel::PgConnection::establish(&self.admin_url) {
            let _ = diesel::sql_query(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .execute(&mut conn);
        }
    }
}

/// The documented PostgreSQL restore into the empty database at `url`:
/// the pg_trgm extension and the schema, then pg_restore. Returns the URL
/// to serve it with.
fn restore_postgres(url: String, schema: String, dump: std::path::PathBuf) -> String {
    let mut conn = diesel::PgConnection::establish(&url).unwrap();
    diesel::sql_query("CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public")
        .execute(&mut conn)
        .unwrap();
    diesel::sql_query(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))
        .execute(&mut conn)
        .unwrap();
    drop(conn);
    let output = std::process::Command::new("pg_restore")
        .arg("--no-owner")
        .arg(format!("--schema={schema}"))
        .arg(format!("--dbname={url}"))
        .arg(dump)
        .output()
        .expect("pg_restore runs (the PostgreSQL client tools are installed)");
    assert!(
        output.status.success(),
        "pg_restore: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}options=-csearch_path%3D{schema}%2Cpublic")
}

async fn backup_and_restore(backend: Backend) {
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let (url, schema) = fresh_database(backend, &data).expect(NO_POSTGRES);
    let _schema = SchemaGuard(schema);

    // The operator's auditor, made at the command line, then the server.
    let made = datamarket(
        &[
            "admin",
            "create-account",
            "--name",
            "aud",
            "--role",
            "auditor",
            "--password-stdin",
        ],
        &url,
        &data,
        Some(PASSWORD),
    )
    .await;
    assert!(
        made.status.success(),
        "create-account: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let live = ServerProcess::start(&url, &data, 4);
    live.ready().await;
    let api = Api::new(&live);

    // A provider lists a dataset with a payload.
    let (status, body) = api
        .post(
            "/accounts",
            None,
            json!({"name": "acme", "password": PASSWORD, "roles": ["provider"]}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let acme = api.login("acme").await;
    let dataset = api.dataset(&acme, "Backed up").await;
    let payload: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("{i},{}\n", i % 97).into_bytes())
        .collect();
    let version = api.upload(&acme, &dataset, payload.clone()).await;
    let sha256 = version["sha256"].as_str().unwrap().to_owned();
    assert_eq!(sha256, hex::encode(Sha256::digest(&payload)));
    let (status, body) = api
        .post(
            &format!("/datasets/{dataset}/publish"),
            Some(&acme),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    // A writer keeps creating datasets while the backup runs.
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(AtomicUsize::new(0));
    let writer = {
        let (api, acme, stop, written) = (api.clone(), acme.clone(), stop.clone(), written.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                let n = written.load(Ordering::SeqCst);
                api.dataset(&acme, &format!("Written meanwhile {n}")).await;
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    let wait_for = |target: usize| {
        let written = written.clone();
        async move {
            while written.load(Ordering::SeqCst) < target {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    };
    wait_for(2).await;
    let backup_dir = dir.path().join("backup");
    let before = written.load(Ordering::SeqCst);
    let backup_started = Instant::now();
    let output = datamarket(&["backup", backup_dir.to_str().unwrap()], &url, &data, None).await;
    let backup_took = backup_started.elapsed();
    let during = written.load(Ordering::SeqCst) - before;
    assert!(
        output.status.success(),
        "backup: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("backup written to"), "{summary}");
    // At least one more write after the backup: the copy is a snapshot of a
    // moment, not of the end.
    wait_for(written.load(Ordering::SeqCst) + 1).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    eprintln!(
        "{backend:?}: backup took {backup_took:?} while {during} datasets were created; {} in all",
        written.load(Ordering::SeqCst)
    );

    // What the backup holds.
    let manifest: Manifest =
        serde_json::from_slice(&std::fs::read(backup_dir.join("MANIFEST.json")).unwrap()).unwrap();
    assert_eq!(manifest.format, 1);
    assert_eq!(
        manifest.database.backend,
        match backend {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgresql",
        }
    );
    assert_eq!(manifest.audit.tree_size, Some(manifest.audit.size));
    let checkpoint = manifest.audit.checkpoint.clone().expect("a signed head");
    assert!(checkpoint.contains(&format!("\n{}\n", manifest.audit.size)));
    assert!(manifest.payloads.copied);
    assert_eq!(manifest.payloads.versions, 1);
    assert!(manifest.payloads.missing.is_empty());
    assert!(manifest.payloads.files >= 1);
    assert!(manifest.payloads.bytes >= payload.len() as u64);
    assert!(manifest.keys.files >= 1);
    assert!(!manifest.restore.is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&backup_dir), 0o700);
        assert_eq!(mode(&backup_dir.join("keys")), 0o700);
        assert_eq!(mode(&backup_dir.join(&manifest.database.file)), 0o600);
        for key in std::fs::read_dir(backup_dir.join("keys")).unwrap() {
            assert_eq!(mode(&key.unwrap().path()), 0o600);
        }
    }

    // The live log went on past the copy, and extends the copy's head.
    let auditor_live = api.login("aud").await;
    let live_report = verify_server(
        &Server {
            url: live.base.clone(),
            token: Some(auditor_live),
        },
        None,
        Some(&checkpoint),
        Options::default(),
    )
    .await
    .expect("the live log verifies and extends the backup's head");
    assert!(
        live_report.entries > manifest.audit.size,
        "writes after the backup are not in it"
    );

    // A second backup into the same directory is refused.
    let again = datamarket(&["backup", backup_dir.to_str().unwrap()], &url, &data, None).await;
    assert!(!again.status.success());
    let message = String::from_utf8_lossy(&again.stderr);
    assert!(
        message.contains("exists and is not empty"),
        "a clear refusal: {message}"
    );
    drop(live);

    // Restore, and check the restored database before anything writes.
    let scratch = (backend == Backend::Postgres).then(ScratchDatabase::create);
    let restored_url = match &scratch {
        None => format!(
            "sqlite://{}",
            backup_dir.join(&manifest.database.file).display()
        ),
        Some(target) => {
            let dump = backup_dir.join(&manifest.database.file);
            let schema = manifest.database.schema.clone().expect("the dump's schema");
            let url = target.url();
            tokio::task::spawn_blocking(move || restore_postgres(url, schema, dump))
                .await
                .unwrap()
        }
    };
    let state = log_state(&restored_url).await;
    assert_eq!(state.size, manifest.audit.size, "the manifest's log size");
    let head = state.head.expect("a signed head");
    assert_eq!(Some(head.root_hash), manifest.audit.root_hash);
    assert_eq!(head.checkpoint, checkpoint);

    let restored = ServerProcess::start(&restored_url, &backup_dir, 4);
    restored.ready().await;
    let api = Api::new(&restored);

    // The auditor verifies the restored log: it is the backup's log, plus
    // the auditor's own login.
    let auditor = api.login("aud").await;
    let report = verify_server(
        &Server {
            url: restored.base.clone(),
            token: Some(auditor),
        },
        None,
        Some(&checkpoint),
        Options::default(),
    )
    .await
    .expect("the restored log verifies and extends the backup's head");
    assert_eq!(report.trusted_size, Some(manifest.audit.size));
    assert_eq!(report.entries, manifest.audit.size + 1);

    // The provider downloads its payload: the recorded SHA-256.
    let acme = api.login("acme").await;
    let versions: Value = api
        .get(&format!("/datasets/{dataset}/versions"), &acme)
        .await
        .json()
        .await
        .unwrap();
    let recorded = versions[0]["sha256"]
        .as_str()
        .unwrap_or_else(|| panic!("a recorded version: {versions}"))
        .to_owned();
    assert_eq!(recorded, sha256);
    let content = api
        .get(&format!("/datasets/{dataset}/versions/1/content"), &acme)
        .await;
    assert_eq!(content.status(), 200);
    let bytes = content.bytes().await.unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), recorded);

    // And the restored market takes new writes.
    let fresh = api.dataset(&acme, "After the restore").await;
    let added = api.upload(&acme, &fresh, b"a,b\n1,2\n".to_vec()).await;
    assert_eq!(added["version"], 1);
    drop(restored);
    drop(scratch);
    eprintln!(
        "{backend:?}: backup and restore test took {:?}",
        started.elapsed()
    );
}
