//! The test harness: a real server on a free port over a fresh database (a
//! temporary SQLite file, or a fresh PostgreSQL schema when DATABASE_URL
//! names PostgreSQL), driven over HTTP like any client.

#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};

use datamarket::Market;
use datamarket::accounts::{self, NewAccount, Registrar};
use datamarket::config::{Secret, Settings};
use datamarket::domain::Role;
use diesel::prelude::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

pub const PASSWORD: &str = "tangerine-orbit-42";

/// The secret the test market shares with its (simulated) payment provider.
pub const PAYMENT_SECRET: &str = "whsec-test-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs the body against SQLite and, when DATABASE_URL names PostgreSQL,
/// against PostgreSQL too: one test module per case, one test per backend.
/// Without PostgreSQL the `postgres` tests are compiled as ignored (see
/// build.rs), so a run shows them as ignored, never as passed; forced to run
/// anyway (`--include-ignored`), they fail.
macro_rules! both_backends {
    // With settings adjusted by `$tweak` (a `Tweak`).
    ($(async fn $name:ident($app:ident: TestApp, $tweak:expr) $body:block)+) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn case($app: TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    case(TestApp::spawn_with(Backend::Sqlite, $tweak).await.expect("SQLite is always available")).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
                async fn postgres() {
                    case(TestApp::spawn_with(Backend::Postgres, $tweak).await.expect(NO_POSTGRES)).await
                }
            }
        )+
    };
    ($(async fn $name:ident($app:ident: TestApp) $body:block)+) => {
        $(
            mod $name {
                #[allow(unused_imports)]
                use super::*;

                async fn case($app: TestApp) $body

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    case(TestApp::spawn(Backend::Sqlite).await.expect("SQLite is always available")).await
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                #[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
                async fn postgres() {
                    case(TestApp::spawn(Backend::Postgres).await.expect(NO_POSTGRES)).await
                }
            }
        )+
    };
}
pub(crate) use both_backends;

/// Why a PostgreSQL case cannot run.
pub const NO_POSTGRES: &str =
    "this case needs PostgreSQL: set DATABASE_URL=postgres://… when building and running the tests";

/// The PostgreSQL server to test against, if any.
pub fn postgres_url() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
}

static SERIAL: AtomicUsize = AtomicUsize::new(0);

pub struct TestApp {
    pub backend: Backend,
    pub base: String,
    pub client: reqwest::Client,
    pub market: Market,
    pub settings: Settings,
    pub dir: tempfile::TempDir,
    handle: actix_web::dev::ServerHandle,
    sweeper: tokio::task::JoinHandle<()>,
    watch: tokio::task::JoinHandle<()>,
    dispatcher: tokio::task::JoinHandle<()>,
    pg_schema: Option<(String, String)>,
    /// The regulator `verified` asks, made on first use.
    verifier: tokio::sync::OnceCell<User>,
}

/// An account the test acts as.
#[derive(Clone, Debug)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub token: String,
}

/// A response with its body read.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub bytes: bytes::Bytes,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the status and, for a problem document, its type.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected status; body: {}",
            String::from_utf8_lossy(&self.bytes)
        );
        self
    }

    /// Asserts a problem document of the given status and type slug.
    #[track_caller]
    pub fn problem(&self, status: u16, slug: &str) -> &Self {
        self.expect(status);
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "problem content type; body: {}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("/problems/{slug}"),
            "problem type; body: {}",
            self.body
        );
        assert_eq!(self.body["status"], status, "status member");
        assert!(
            self.body["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "problem detail"
        );
        self
    }

    /// The audit indexes the response reports.
    pub fn audit_indexes(&self) -> Vec<u64> {
        self.header("audit-index")
            .map(|v| {
                v.split(',')
                    .map(|i| i.trim().parse().expect("audit index"))
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn id(&self) -> Uuid {
        self.body["id"]
            .as_str()
            .and_then(|s| s.parse().ok())
            .expect("an id in the body")
    }
}

pub type Tweak = Box<dyn FnOnce(&mut Settings) + Send>;

/// A database URL nobody else uses: a SQLite file in `dir`, or a fresh
/// PostgreSQL schema (returned too, so it can be dropped). None when the
/// backend is not available here.
pub fn fresh_database(
    backend: Backend,
    dir: &std::path::Path,
) -> Option<(String, Option<(String, String)>)> {
    match backend {
        Backend::Sqlite => Some((format!("sqlite://{}", dir.join("test.db").display()), None)),
        Backend::Postgres => {
            let base = postgres_url()?;
            let schema = format!(
                "test_{}_{}",
                std::process::id(),
                SERIAL.fetch_add(1, Ordering::SeqCst)
            );
            let mut conn = diesel::PgConnection::establish(&base).expect("connect to DATABASE_URL");
            diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut conn)
                .expect("drop old schema");
            diesel::sql_query(format!("CREATE SCHEMA {schema}"))
                .execute(&mut conn)
                .expect("create schema");
            let separator = if base.contains('?') { '&' } else { '?' };
            let url = format!("{base}{separator}options=-csearch_path%3D{schema}%2Cpublic");
            Some((url, Some((base, schema))))
        }
    }
}

/// Drops a schema made by `fresh_database`.
pub fn drop_schema(base: String, schema: String) {
    let _ = std::thread::spawn(move || {
        if let Ok(mut conn) = diesel::PgConnection::establish(&base) {
            let _ = diesel::sql_query("SET lock_timeout = '5s'").execute(&mut conn);
            let _ = diesel::sql_query(format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                .execute(&mut conn);
        }
    })
    .join();
}

/// The S3-compatible server the payload store is to be, when
/// `DATAMARKET_TEST_S3` names one (`.ci/s3` starts one and sets it); else
/// payloads go to a directory, as by default.
pub fn s3_endpoint() -> Option<String> {
    std::env::var("DATAMARKET_TEST_S3")
        .ok()
        .filter(|e| !e.is_empty())
}

/// The bucket of a data directory: one per test market, shared by the
/// instances of a scale-out test, which share the directory.
fn s3_bucket(data_dir: &std::path::Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    data_dir.hash(&mut hasher);
    format!("dm-test-{:016x}", hasher.finish())
}

/// Makes the data directory's bucket on the S3 server (an S3 server needs
/// no signature to create one from this machine: the test server is local
/// and open), and the settings that point a market at it.
pub async fn use_s3(settings: &mut Settings, data_dir: &std::path::Path) {
    let Some(endpoint) = s3_endpoint() else {
        return;
    };
    let bucket = s3_bucket(data_dir);
    make_bucket(&endpoint, &bucket).await;
    settings.storage.backend = datamarket::config::StorageBackend::S3;
    settings.storage.s3.bucket = bucket;
    settings.storage.s3.endpoint = endpoint;
    settings.storage.s3.access_key_id = "test".into();
    settings.storage.s3.secret_access_key = Secret::new("test");
    settings.storage.s3.allow_http = true;
}

async fn make_bucket(endpoint: &str, bucket: &str) {
    let made = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(
        made.status().is_success() || made.status() == reqwest::StatusCode::CONFLICT,
        "bucket {bucket}: {}",
        made.status()
    );
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Option<TestApp> {
        Self::spawn_with(backend, Box::new(|_| {})).await
    }

    /// Starts a server with adjusted settings; None when the backend is not
    /// available here.
    pub async fn spawn_with(backend: Backend, tweak: Tweak) -> Option<TestApp> {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut settings = Settings::defaults().expect("default settings");
        settings.server.bind = "127.0.0.1:0".into();
        settings.server.workers = 2;
        settings.storage.data_dir = dir.path().to_owned();
        settings.storage.objects_dir = dir.path().join("objects");
        settings.auth.keys_dir = dir.path().join("keys");
        let (url, pg_schema) = fresh_database(backend, dir.path())?;
        settings.database.url = Secret::new(url);
        settings.trading.payment_secret = Secret::new(PAYMENT_SECRET);
        use_s3(&mut settings, dir.path()).await;
        tweak(&mut settings);
        let open_settings = settings.clone();
        let market = tokio::task::spawn_blocking(move || Market::open(open_settings))
            .await
            .expect("join")
            .expect("market opens");
        let sweeper = datamarket::grants::spawn_sweeper(market.clone());
        let watch = datamarket::supervision::spawn_watch(market.clone());
        let dispatcher = datamarket::events::dispatch::spawn_dispatcher(market.clone());
        let running = datamarket::gateway::start(market.clone()).expect("server starts");
        let handle = running.handle.clone();
        tokio::spawn(running.server);
        Some(TestApp {
            backend,
            base: format!("http://{}", running.addr),
            client: reqwest::Client::new(),
            market,
            settings,
            dir,
            handle,
            sweeper,
            watch,
            dispatcher,
            pg_schema,
            verifier: tokio::sync::OnceCell::new(),
        })
    }

    /// A second gateway, in this process, over the same database, platform
    /// keys and payload directory: another instance of one market, as in a
    /// scale-out deployment on PostgreSQL. Tokens and payloads made through
    /// either work on both. The twin leaves the database to this app, which
    /// drops its schema.
    pub async fn twin(&self) -> TestApp {
        let settings = self.settings.clone();
        let open_settings = settings.clone();
        let market = tokio::task::spawn_blocking(move || Market::open(open_settings))
            .await
            .expect("join")
            .expect("the twin's market opens");
        let sweeper = datamarket::grants::spawn_sweeper(market.clone());
        let watch = datamarket::supervision::spawn_watch(market.clone());
        let dispatcher = datamarket::events::dispatch::spawn_dispatcher(market.clone());
        let running = datamarket::gateway::start(market.clone()).expect("the twin starts");
        let handle = running.handle.clone();
        tokio::spawn(running.server);
        TestApp {
            backend: self.backend,
            base: format!("http://{}", running.addr),
            client: reqwest::Client::new(),
            market,
            settings,
            dir: tempfile::tempdir().expect("temp dir"),
            handle,
            sweeper,
            watch,
            dispatcher,
            pg_schema: None,
            verifier: tokio::sync::OnceCell::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends a request; `token` and a JSON `body` are optional.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    pub async fn read(resp: reqwest::Response) -> Reply {
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            bytes,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    /// Sends raw bytes with a content type.
    pub async fn post_raw(
        &self,
        path: &str,
        token: Option<&str>,
        content_type: &str,
        body: Vec<u8>,
    ) -> Reply {
        let mut req = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        Self::read(req.send().await.expect("request sent")).await
    }

    pub async fn token(&self, name: &str, password: &str) -> Reply {
        self.post(
            "/api/v1/auth/token",
            None,
            json!({"name": name, "password": password}),
        )
        .await
    }

    /// Registers through the public endpoint and logs in.
    pub async fn register(&self, name: &str, roles: &[&str]) -> User {
        let reply = self
            .post(
                "/api/v1/accounts",
                None,
                json!({"name": name, "password": PASSWORD, "roles": roles}),
            )
            .await;
        reply.expect(201);
        let id = reply.id();
        let token = self.token(name, PASSWORD).await;
        token.expect(200);
        User {
            id,
            name: name.to_owned(),
            token: token.body["access_token"]
                .as_str()
                .expect("token")
                .to_owned(),
        }
    }

    /// Creates an account as the operator does at the command line (the
    /// only way to the regulator, auditor and admin roles besides an admin).
    pub async fn operator_account(&self, name: &str, roles: &[Role]) -> User {
        let account = accounts::register(
            &self.market,
            Registrar::Operator,
            NewAccount {
                name: name.to_owned(),
                password: PASSWORD.to_owned(),
                roles: roles.to_vec(),
                display_name: None,
                organization: None,
                territory: None,
                entity_type: None,
                credit_code: None,
                region: None,
            },
        )
        .await
        .expect("operator creates account")
        .value;
        let token = self.token(name, PASSWORD).await;
        token.expect(200);
        User {
            id: account.id,
            name: name.to_owned(),
            token: token.body["access_token"]
                .as_str()
                .expect("token")
                .to_owned(),
        }
    }

    pub async fn provider(&self, name: &str) -> User {
        self.register(name, &["provider"]).await
    }

    pub async fn consumer(&self, name: &str) -> User {
        self.register(name, &["consumer"]).await
    }

    pub async fn regulator(&self, name: &str) -> User {
        self.operator_account(name, &[Role::Regulator]).await
    }

    pub async fn auditor(&self, name: &str) -> User {
        self.operator_account(name, &[Role::Auditor]).await
    }

    /// Has a regulator verify the participant over the API, as listing
    /// important data and requesting important or personal data need.
    pub async fn verified(&self, user: &User) {
        let regulator = self
            .verifier
            .get_or_init(|| self.regulator("participant-verifier"))
            .await;
        self.post(
            &format!("/api/v1/accounts/{}/verify", user.id),
            Some(&regulator.token),
            json!({"reference": "verified for the test"}),
        )
        .await
        .expect(200);
    }

    /// A listed dataset derived from `sources` (dataset, version), with one
    /// version; the owner must hold the processing right, or a processing
    /// licence, over each.
    pub async fn derived_dataset(
        &self,
        owner: &User,
        title: &str,
        sources: &[(Uuid, i32)],
    ) -> Uuid {
        let mut body = dataset_body(title, "general");
        body["derived_from"] = json!(
            sources
                .iter()
                .map(|(d, v)| json!({"dataset": d, "version": v}))
                .collect::<Vec<_>>()
        );
        body["activity"] =
            json!({"name": format!("make {title}"), "description": "join and aggregate"});
        let reply = self
            .post("/api/v1/datasets", Some(&owner.token), body)
            .await;
        reply.expect(201);
        let id = reply.id();
        self.upload(owner, id, title.as_bytes()).await.expect(201);
        self.post(
            &format!("/api/v1/datasets/{id}/publish"),
            Some(&owner.token),
            json!({}),
        )
        .await
        .expect(200);
        id
    }

    /// The consumer asks with `request`, the holder approves with
    /// `approval`: the grant's id.
    pub async fn grant_for(
        &self,
        holder: &User,
        consumer: &User,
        request: Value,
        approval: Value,
    ) -> String {
        let asked = self
            .post("/api/v1/access-requests", Some(&consumer.token), request)
            .await;
        asked.expect(201);
        let approved = self
            .post(
                &format!("/api/v1/access-requests/{}/approve", asked.id()),
                Some(&holder.token),
                approval,
            )
            .await;
        approved.expect(200);
        approved.body["grant"].as_str().expect("a grant").to_owned()
    }

    /// Creates a draft dataset and returns its id.
    pub async fn dataset(&self, owner: &User, title: &str, classification: &str) -> Uuid {
        let reply = self
            .post(
                "/api/v1/datasets",
                Some(&owner.token),
                dataset_body(title, classification),
            )
            .await;
        reply.expect(201);
        reply.id()
    }

    /// Uploads a version and returns the reply.
    pub async fn upload(&self, owner: &User, dataset: Uuid, bytes: &[u8]) -> Reply {
        self.post_raw(
            &format!("/api/v1/datasets/{dataset}/versions"),
            Some(&owner.token),
            "text/csv",
            bytes.to_vec(),
        )
        .await
    }

    /// A listed general dataset with one version.
    pub async fn listed_dataset(&self, owner: &User, title: &str) -> Uuid {
        let id = self.dataset(owner, title, "general").await;
        self.upload(owner, id, b"city,count\nbeijing,42\n")
            .await
            .expect(201);
        self.post(
            &format!("/api/v1/datasets/{id}/publish"),
            Some(&owner.token),
            json!({}),
        )
        .await
        .expect(200);
        id
    }

    /// The audit log's size, read straight from the database.
    pub async fn audit_size(&self) -> u64 {
        self.market
            .db
            .read(|conn| {
                use datamarket::store::schema::audit_log_head::dsl::*;
                let n: i64 = audit_log_head.select(size).first(conn)?;
                let rows: i64 = datamarket::store::schema::audit_entries::table
                    .count()
                    .get_result(conn)?;
                assert_eq!(n, rows, "head size and entry rows agree");
                Ok(n as u64)
            })
            .await
            .expect("audit size")
    }

    /// The canonical entries from `from` on, parsed.
    pub async fn audit_since(&self, from: u64) -> Vec<Value> {
        self.market
            .db
            .read(move |conn| {
                use datamarket::store::schema::audit_entries::dsl::*;
                let rows: Vec<String> = audit_entries
                    .filter(idx.ge(from as i64))
                    .order(idx.asc())
                    .select(canonical)
                    .load(conn)?;
                Ok(rows
                    .iter()
                    .map(|r| serde_json::from_str(r).expect("canonical JSON"))
                    .collect())
            })
            .await
            .expect("audit entries")
    }

    /// Asserts that exactly the given actions were appended since `from`.
    #[track_caller]
    pub fn assert_actions(entries: &[Value], actions: &[&str]) {
        let got: Vec<&str> = entries
            .iter()
            .map(|e| e["action"].as_str().unwrap_or("?"))
            .collect();
        assert_eq!(got, actions, "audit actions");
    }
}

/// A GET with `If-None-Match: etag`, and the bearer token when given.
pub async fn conditional(app: &TestApp, path: &str, token: Option<&str>, etag: &str) -> Reply {
    let mut req = app
        .client
        .request(Method::GET, app.url(path))
        .header("if-none-match", etag);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    TestApp::read(req.send().await.unwrap()).await
}

pub fn dataset_body(title: &str, classification: &str) -> Value {
    json!({
        "title": title,
        "description": "Hourly vehicle counts at major intersections",
        "tags": ["traffic", "交通"],
        "classification": classification,
        "personal_data": false,
        "license": "CC-BY-4.0",
        "price": {"amount": 9900, "currency": "CNY"}
    })
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.sweeper.abort();
        self.watch.abort();
        self.dispatcher.abort();
        let handle = self.handle.clone();
        // Stopping is asynchronous; the runtime may already be gone.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
        if let Some((base, schema)) = self.pg_schema.take() {
            drop_schema(base, schema);
        }
    }
}

/// A `datamarket serve` process of its own (the real binary), for tests
/// that measure the process or run several instances.
pub struct ServerProcess {
    pub child: std::process::Child,
    pub base: String,
}

impl ServerProcess {
    /// Starts the binary on a free port with this database and data
    /// directory; `ready` waits until it answers.
    pub fn start(database_url: &str, data_dir: &std::path::Path, pool_size: u32) -> ServerProcess {
        Self::start_logging(database_url, data_dir, pool_size, "warn")
    }

    /// [`ServerProcess::start`] with its own `RUST_LOG` (a load that is
    /// refused often logs a warning per refusal at `warn`).
    pub fn start_logging(
        database_url: &str,
        data_dir: &std::path::Path,
        pool_size: u32,
        log: &str,
    ) -> ServerProcess {
        Self::start_configured(database_url, data_dir, pool_size, log, &[])
    }

    /// [`ServerProcess::start_logging`] with more settings, as
    /// `DATAMARKET__…` environment variables.
    pub fn start_configured(
        database_url: &str,
        data_dir: &std::path::Path,
        pool_size: u32,
        log: &str,
        settings: &[(&str, &str)],
    ) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("its address")
            .port();
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_datamarket"));
        if let Some(endpoint) = s3_endpoint() {
            // The directory's bucket, made here (on a thread of its own:
            // this runs inside the test's runtime, which must not block).
            let (at, bucket) = (endpoint.clone(), s3_bucket(data_dir));
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime")
                    .block_on(make_bucket(&at, &bucket))
            })
            .join()
            .expect("the bucket is made");
            command
                .env("DATAMARKET__STORAGE__BACKEND", "s3")
                .env("DATAMARKET__STORAGE__S3__BUCKET", s3_bucket(data_dir))
                .env("DATAMARKET__STORAGE__S3__ENDPOINT", endpoint)
                .env("DATAMARKET__STORAGE__S3__ACCESS_KEY_ID", "test")
                .env("DATAMARKET__STORAGE__S3__SECRET_ACCESS_KEY", "test")
                .env("DATAMARKET__STORAGE__S3__ALLOW_HTTP", "true");
        }
        command.envs(settings.iter().copied());
        let child = command
            .arg("serve")
            .env("DATAMARKET__SERVER__BIND", format!("127.0.0.1:{port}"))
            .env("DATAMARKET__SERVER__WORKERS", "2")
            .env("DATAMARKET__DATABASE__URL", database_url)
            .env("DATAMARKET__DATABASE__POOL_SIZE", pool_size.to_string())
            .env("DATAMARKET__STORAGE__DATA_DIR", data_dir)
            .env("RUST_LOG", log)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("start datamarket serve");
        ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }

    pub async fn ready(&self) {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            let ready = client.get(format!("{}/ready", self.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("{} did not become ready", self.base);
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Drops a schema made by `fresh_database` when it goes out of scope,
/// however the test ends.
pub struct SchemaGuard(pub Option<(String, String)>);

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        if let Some((base, schema)) = self.0.take() {
            drop_schema(base, schema);
        }
    }
}
