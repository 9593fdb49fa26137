//! Crash safety: the real binary under a mixed write load from 64 clients,
//! killed with SIGKILL at a random moment ten times and restarted on the
//! same database and data directory. After each kill:
//!
//! - (b) while it is down, and again after the restart, the database holds
//!   no change without its audit entry and no entry without its change
//!   (read in one transaction: PostgreSQL still completes a COMMIT it
//!   received from the server it outlived, a moment after the kill);
//! - (a) after the restart, every write a client saw acknowledged (2xx with
//!   `Audit-Index`, the whole answer read) is there: its entry at its
//!   index, with its action and subject, in the database and as the
//!   auditor reads the log over the API, and the resource in the database;
//! - (c) every acknowledged version downloads with the SHA-256 and size its
//!   upload reported, every recorded version's payload file is whole, and
//!   payload files no version refers to (uploads cut off before their
//!   record committed) are counted — they are never served;
//! - (d) `audit verify` accepts the whole log from the server.
//!
//! The figures go to stderr and to `target/crash-report-<backend>.txt`.
//! `CRASH_SEED=<n>` replays the kill times and the clients' dice (not the
//! interleaving, which is the scheduler's).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use datamarket::Market;
use datamarket::accounts::{self, NewAccount, Registrar};
use datamarket::audit::verify::Options;
use datamarket::client::audit::{Server, verify_server};
use datamarket::domain::Role;
use diesel::prelude::*;
use futures_util::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::support::*;

const CLIENTS: usize = 64;
const PROVIDERS: usize = 24;
const KILLS: usize = 10;
/// The load runs this long (ms) before each kill, drawn at random.
const KILL_AFTER_MS: std::ops::Range<u64> = 300..1500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite() {
    crash_case(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
async fn postgres() {
    crash_case(Backend::Postgres).await;
}

/// One audit entry an acknowledged request reported, and what it must say.
#[derive(Clone, Debug)]
struct Ack {
    index: i64,
    action: &'static str,
    /// None where the client cannot know it (the rights a new dataset
    /// registers; the grant a download counted against).
    subject: Option<String>,
    dataset: Option<String>,
}

/// A version whose upload was acknowledged.
#[derive(Clone, Debug)]
struct Uploaded {
    dataset: Uuid,
    number: i64,
    sha256: String,
    size: usize,
    owner_token: String,
}

/// What the clients saw, shared by all of them.
#[derive(Default)]
struct Ledger {
    /// Requests answered 2xx with `Audit-Index`.
    acknowledged: usize,
    entries: Vec<Ack>,
    versions: Vec<Uploaded>,
    /// Datasets whose publication was acknowledged: consumers ask for these.
    listed: Vec<Uuid>,
    server_errors: usize,
    transport_errors: usize,
}

type Shared = Arc<Mutex<Ledger>>;

impl Ledger {
    fn record(&mut self, indexes: &[u64], expected: Vec<(&'static str, Option<String>)>) {
        assert_eq!(
            indexes.len(),
            expected.len(),
            "indexes {indexes:?} for {expected:?}"
        );
        self.acknowledged += 1;
        for (index, (action, subject)) in indexes.iter().zip(expected) {
            self.entries.push(Ack {
                index: *index as i64,
                action,
                subject,
                dataset: None,
            });
        }
    }
}

/// A provider's own listing, as far as its client knows.
struct Own {
    id: Uuid,
    versions: i64,
    listed: bool,
}

/// One of the 64 clients: an account, what it knows, its own dice.
struct Client {
    id: Uuid,
    token: String,
    provider: bool,
    own: Vec<Own>,
    rng: StdRng,
    steps: u64,
}

/// An answer, read whole.
struct Answer {
    status: u16,
    indexes: Vec<u64>,
    body: Value,
    bytes: bytes::Bytes,
}

async fn send(req: reqwest::RequestBuilder, ledger: &Shared) -> Result<Answer, reqwest::Error> {
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    let indexes = resp
        .headers()
        .get("audit-index")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(',').map(|i| i.trim().parse().unwrap()).collect())
        .unwrap_or_default();
    let bytes = resp.bytes().await?;
    if status >= 500 {
        ledger.lock().unwrap().server_errors += 1;
        eprintln!(
            "crash: the server answered {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
    }
    Ok(Answer {
        status,
        indexes,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        bytes,
    })
}

fn id_of(value: &Value) -> Uuid {
    value.as_str().and_then(|s| s.parse().ok()).expect("an id")
}

impl Client {
    /// Runs the load until told to stop; connection errors (the server is
    /// gone) only slow it down.
    async fn run(
        mut self,
        http: reqwest::Client,
        api: String,
        stop: Arc<AtomicBool>,
        ledger: Shared,
    ) -> Client {
        while !stop.load(Ordering::SeqCst) {
            self.steps += 1;
            let step = if self.provider {
                self.provider_step(&http, &api, &ledger).await
            } else {
                self.consumer_step(&http, &api, &ledger).await
            };
            if step.is_err() {
                ledger.lock().unwrap().transport_errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        self
    }

    async fn provider_step(
        &mut self,
        http: &reqwest::Client,
        api: &str,
        ledger: &Shared,
    ) -> Result<(), reqwest::Error> {
        let roll = self.rng.gen_range(0..10);
        let drafts: Vec<usize> = (0..self.own.len())
            .filter(|i| !self.own[*i].listed && self.own[*i].versions > 0)
            .collect();
        match roll {
            _ if self.own.is_empty() || roll < 2 => {
                let title = format!("Load {} {}", self.id, self.steps);
                let a = send(
                    http.post(format!("{api}/datasets"))
                        .bearer_auth(&self.token)
                        .json(&dataset_body(&title, "general")),
                    ledger,
                )
                .await?;
                if a.status == 201 {
                    let id = id_of(&a.body["id"]);
                    self.own.push(Own {
                        id,
                        versions: 0,
                        listed: false,
                    });
                    ledger.lock().unwrap().record(
                        &a.indexes,
                        vec![
                            ("dataset.created", Some(id.to_string())),
                            ("right.registered", None),
                            ("right.registered", None),
                            ("right.registered", None),
                        ],
                    );
                }
            }
            2..=4 => {
                let pick = self.rng.gen_range(0..self.own.len());
                let mut payload = format!("client,step\n{},{}\n", self.id, self.steps).into_bytes();
                let pad = self.rng.gen_range(16..2048);
                payload.extend((0..pad).map(|_| self.rng.gen_range(b'a'..=b'z')));
                let sha256 = hex::encode(Sha256::digest(&payload));
                let size = payload.len();
                let dataset = self.own[pick].id;
                let a = send(
                    http.post(format!("{api}/datasets/{dataset}/versions"))
                        .bearer_auth(&self.token)
                        .header("content-type", "text/csv")
                        .body(payload),
                    ledger,
                )
                .await?;
                if a.status == 201 {
                    assert_eq!(a.body["sha256"], sha256, "the upload's reported digest");
                    assert_eq!(a.body["size"], size, "the upload's reported size");
                    let number = a.body["version"].as_i64().expect("version number");
                    self.own[pick].versions = self.own[pick].versions.max(number);
                    let mut ledger = ledger.lock().unwrap();
                    ledger.record(
                        &a.indexes,
                        vec![("version.added", Some(format!("{dataset}/{number}")))],
                    );
                    ledger.versions.push(Uploaded {
                        dataset,
                        number,
                        sha256,
                        size,
                        owner_token: self.token.clone(),
                    });
                }
            }
            5..=6 if !drafts.is_empty() => {
                let pick = drafts[self.rng.gen_range(0..drafts.len())];
                let dataset = self.own[pick].id;
                let a = send(
                    http.post(format!("{api}/datasets/{dataset}/publish"))
                        .bearer_auth(&self.token)
                        .json(&json!({})),
                    ledger,
                )
                .await?;
                if a.status == 200 {
                    self.own[pick].listed = true;
                    let mut ledger = ledger.lock().unwrap();
                    ledger.record(
                        &a.indexes,
                        vec![("dataset.published", Some(dataset.to_string()))],
                    );
                    ledger.listed.push(dataset);
                } else if a.status == 409 {
                    // published by a request whose answer the kill cut off
                    self.own[pick].listed = true;
                }
            }
            5..=8 => {
                let pending = send(
                    http.get(format!(
                        "{api}/access-requests?role=incoming&state=pending&limit=3"
                    ))
                    .bearer_auth(&self.token),
                    ledger,
                )
                .await?;
                for item in pending.body["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let request = id_of(&item["id"]);
                    let a = send(
                        http.post(format!("{api}/access-requests/{request}/approve"))
                            .bearer_auth(&self.token)
                            .json(&json!({})),
                        ledger,
                    )
                    .await?;
                    if a.status == 200 {
                        let grant = id_of(&a.body["grant"]);
                        ledger.lock().unwrap().record(
                            &a.indexes,
                            vec![
                                ("access_request.approved", Some(request.to_string())),
                                ("grant.created", Some(grant.to_string())),
                            ],
                        );
                    }
                }
            }
            _ => {
                let given = send(
                    http.get(format!("{api}/grants?role=licensor&limit=50"))
                        .bearer_auth(&self.token),
                    ledger,
                )
                .await?;
                let used: Vec<Uuid> = given.body["items"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .filter(|g| g["status"] == "active" && g["downloads_used"].as_u64() >= Some(1))
                    .map(|g| id_of(&g["id"]))
                    .collect();
                if !used.is_empty() {
                    let grant = used[self.rng.gen_range(0..used.len())];
                    let a = send(
                        http.post(format!("{api}/grants/{grant}/revoke"))
                            .bearer_auth(&self.token)
                            .json(&json!({"reason": "licence rotation"})),
                        ledger,
                    )
                    .await?;
                    if a.status == 200 {
                        ledger
                            .lock()
                            .unwrap()
                            .record(&a.indexes, vec![("grant.revoked", Some(grant.to_string()))]);
                    }
                }
            }
        }
        Ok(())
    }

    async fn consumer_step(
        &mut self,
        http: &reqwest::Client,
        api: &str,
        ledger: &Shared,
    ) -> Result<(), reqwest::Error> {
        if self.rng.gen_range(0..10) < 4 {
            let listed = {
                let ledger = ledger.lock().unwrap();
                (!ledger.listed.is_empty())
                    .then(|| ledger.listed[self.rng.gen_range(0..ledger.listed.len())])
            };
            let Some(dataset) = listed else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Ok(());
            };
            let body = json!({
                "dataset": dataset,
                "purpose": "load under crashes",
                "duration_days": 30,
                "max_downloads": 3,
                "processing": false,
                "cross_border": false,
            });
            let a = send(
                http.post(format!("{api}/access-requests"))
                    .bearer_auth(&self.token)
                    .json(&body),
                ledger,
            )
            .await?;
            if a.status == 201 {
                ledger.lock().unwrap().record(
                    &a.indexes,
                    vec![(
                        "access_request.created",
                        Some(id_of(&a.body["id"]).to_string()),
                    )],
                );
            }
        } else {
            let held = send(
                http.get(format!("{api}/grants?limit=50"))
                    .bearer_auth(&self.token),
                ledger,
            )
            .await?;
            let usable: Vec<Uuid> = held.body["items"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .iter()
                .filter(|g| g["status"] == "active" && g["downloads_remaining"].as_u64() > Some(0))
                .map(|g| id_of(&g["dataset"]))
                .collect();
            if usable.is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
                return Ok(());
            }
            let dataset = usable[self.rng.gen_range(0..usable.len())];
            let a = send(
                http.get(format!("{api}/datasets/{dataset}/versions/1/content"))
                    .bearer_auth(&self.token),
                ledger,
            )
            .await?;
            if a.status == 200 {
                let mut ledger = ledger.lock().unwrap();
                let known = ledger
                    .versions
                    .iter()
                    .find(|v| v.dataset == dataset && v.number == 1)
                    .map(|v| v.sha256.clone());
                if let Some(sha256) = known {
                    assert_eq!(
                        hex::encode(Sha256::digest(&a.bytes)),
                        sha256,
                        "a licensed download delivers the version uploaded"
                    );
                }
                ledger.record(&a.indexes, vec![("delivery.completed", None)]);
                ledger.entries.last_mut().unwrap().dataset = Some(dataset.to_string());
            }
        }
        Ok(())
    }
}

/// A Market of the test's own on the database and data directory the
/// server uses: it creates the auditor and reads the database directly.
async fn open_market(url: &str, dir: &Path) -> Market {
    let mut settings = datamarket::config::Settings::defaults().unwrap();
    settings.database.url = datamarket::config::Secret::new(url.to_owned());
    settings.storage.data_dir = dir.to_owned();
    settings.storage.objects_dir = dir.join("objects");
    settings.auth.keys_dir = dir.join("keys");
    tokio::task::spawn_blocking(move || Market::open(settings))
        .await
        .unwrap()
        .expect("the test's market opens")
}

async fn token(http: &reqwest::Client, api: &str, name: &str) -> String {
    let resp = http
        .post(format!("{api}/auth/token"))
        .json(&json!({"name": name, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "login {name}");
    let body: Value = resp.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

/// Registers and logs in the clients, before the first kill.
async fn register_clients(
    http: &reqwest::Client,
    api: &str,
    ledger: &Shared,
    seed: u64,
) -> Vec<Client> {
    let joins = (0..CLIENTS).map(|i| {
        let (http, api, ledger) = (http.clone(), api.to_owned(), ledger.clone());
        tokio::spawn(async move {
            let provider = i < PROVIDERS;
            let name = format!("{}-{i}", if provider { "provider" } else { "consumer" });
            let role = if provider { "provider" } else { "consumer" };
            let a = send(
                http.post(format!("{api}/accounts"))
                    .json(&json!({"name": name, "password": PASSWORD, "roles": [role]})),
                &ledger,
            )
            .await
            .unwrap();
            assert_eq!(a.status, 201, "register {name}: {}", a.body);
            let id = id_of(&a.body["id"]);
            ledger
                .lock()
                .unwrap()
                .record(&a.indexes, vec![("account.created", Some(id.to_string()))]);
            Client {
                id,
                token: token(&http, &api, &name).await,
                provider,
                own: Vec::new(),
                rng: StdRng::seed_from_u64(
                    seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
                ),
                steps: 0,
            }
        })
    });
    let mut clients = Vec::new();
    for join in joins {
        clients.push(join.await.expect("a client registers"));
    }
    clients
}

/// The database as one snapshot of what the checks compare.
#[derive(Default)]
struct Snapshot {
    /// idx → (action, subject, dataset)
    entries: BTreeMap<i64, (String, String, Option<String>)>,
    head_size: i64,
    accounts: BTreeSet<String>,
    datasets: BTreeMap<String, String>,
    /// "{dataset}/{n}" → (size, sha256, object key)
    versions: BTreeMap<String, (i64, String, String)>,
    rights: BTreeSet<String>,
    requests: BTreeMap<String, String>,
    /// id → (status, downloads used)
    grants: BTreeMap<String, (String, i32)>,
}

impl Snapshot {
    /// Reads every table in one transaction, so that a commit landing
    /// meanwhile (PostgreSQL finishes a COMMIT it has received even when the
    /// server that sent it is already dead) is wholly inside or outside.
    async fn take(market: &Market, backend: Backend) -> Snapshot {
        market
            .db
            .read(move |conn| {
                Ok(conn.transaction::<_, diesel::result::Error, _>(|conn| {
                    if backend == Backend::Postgres {
                        diesel::sql_query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                            .execute(conn)?;
                    }
                    Snapshot::load(conn)
                })?)
            })
            .await
            .expect("read the database")
    }

    fn load(conn: &mut datamarket::store::DbConnection) -> QueryResult<Snapshot> {
        use datamarket::store::schema::*;
        let mut s = Snapshot::default();
        let rows: Vec<(i64, String, String, Option<String>)> = audit_entries::table
            .select((
                audit_entries::idx,
                audit_entries::action,
                audit_entries::subject,
                audit_entries::dataset_id,
            ))
            .load(conn)?;
        s.entries = rows
            .into_iter()
            .map(|(i, a, sub, d)| (i, (a, sub, d)))
            .collect();
        s.head_size = audit_log_head::table
            .select(audit_log_head::size)
            .first(conn)?;
        s.accounts = accounts::table
            .select(accounts::id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        s.datasets = datasets::table
            .select((datasets::id, datasets::status))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        s.versions = dataset_versions::table
            .select((
                dataset_versions::dataset_id,
                dataset_versions::number,
                dataset_versions::size,
                dataset_versions::sha256,
                dataset_versions::object_key,
            ))
            .load::<(String, i32, i64, String, String)>(conn)?
            .into_iter()
            .map(|(d, n, size, sha, key)| (format!("{d}/{n}"), (size, sha, key)))
            .collect();
        s.rights = rights::table
            .select(rights::id)
            .load::<String>(conn)?
            .into_iter()
            .collect();
        s.requests = access_requests::table
            .select((access_requests::id, access_requests::state))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect();
        s.grants = grants::table
            .select((grants::id, grants::status, grants::downloads_used))
            .load::<(String, String, i32)>(conn)?
            .into_iter()
            .map(|(id, status, used)| (id, (status, used)))
            .collect();
        Ok(s)
    }

    /// Subjects of the entries with this action, each with its count.
    fn subjects(&self, action: &str) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for (a, subject, _) in self.entries.values() {
            if a == action {
                *out.entry(subject.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    fn once(&self, action: &str) -> BTreeSet<String> {
        let subjects = self.subjects(action);
        let twice: Vec<_> = subjects.iter().filter(|(_, n)| **n > 1).collect();
        assert!(
            twice.is_empty(),
            "{action} recorded more than once for {twice:?}"
        );
        subjects.into_keys().collect()
    }

    /// (b) No change without its entry, no entry without its change.
    fn check_consistent(&self) {
        let n = self.entries.len() as i64;
        assert_eq!(self.head_size, n, "the log head counts every entry");
        assert_eq!(
            self.entries.keys().next().copied().unwrap_or(0),
            0,
            "the log starts at 0"
        );
        assert_eq!(
            self.entries.keys().last().copied().unwrap_or(-1),
            n - 1,
            "no gap in the log"
        );
        same("account", &self.accounts, &self.once("account.created"));
        same(
            "dataset",
            &self.datasets.keys().cloned().collect(),
            &self.once("dataset.created"),
        );
        same(
            "version",
            &self.versions.keys().cloned().collect(),
            &self.once("version.added"),
        );
        same("right", &self.rights, &self.once("right.registered"));
        same(
            "access request",
            &self.requests.keys().cloned().collect(),
            &self.once("access_request.created"),
        );
        same(
            "grant",
            &self.grants.keys().cloned().collect(),
            &self.once("grant.created"),
        );
        let with = |map: &BTreeMap<String, String>, state: &str| -> BTreeSet<String> {
            map.iter()
                .filter(|(_, s)| *s == state)
                .map(|(id, _)| id.clone())
                .collect()
        };
        same(
            "listed dataset",
            &with(&self.datasets, "listed"),
            &self.once("dataset.published"),
        );
        same(
            "approved request",
            &with(&self.requests, "approved"),
            &self.once("access_request.approved"),
        );
        let revoked = self
            .grants
            .iter()
            .filter(|(_, (s, _))| s == "revoked")
            .map(|(id, _)| id.clone())
            .collect();
        same("revoked grant", &revoked, &self.once("grant.revoked"));
        let delivered = self.subjects("delivery.completed");
        for (grant, (_, used)) in &self.grants {
            assert_eq!(
                delivered.get(grant).copied().unwrap_or(0),
                *used as usize,
                "grant {grant}: one delivery.completed per download counted"
            );
        }
        // A holder's own download names "{dataset}/{version}"; one under a
        // grant names the grant.
        assert!(
            delivered
                .keys()
                .filter(|g| !g.contains('/'))
                .all(|g| self.grants.contains_key(g)),
            "every delivery under a grant names a grant that exists"
        );
    }

    /// (a) Every acknowledged write is there; returns how many entries.
    fn check_acknowledged(&self, acks: &[Ack]) -> usize {
        let mut deliveries: HashMap<&str, usize> = HashMap::new();
        for ack in acks {
            let Some((action, subject, dataset)) = self.entries.get(&ack.index) else {
                panic!(
                    "acknowledged entry {} ({}) is missing from the log",
                    ack.index, ack.action
                );
            };
            assert_eq!(
                action, ack.action,
                "acknowledged entry {}: {ack:?}",
                ack.index
            );
            if let Some(expected) = &ack.subject {
                assert_eq!(
                    subject, expected,
                    "acknowledged entry {}: {ack:?}",
                    ack.index
                );
            }
            if let Some(expected) = &ack.dataset {
                assert_eq!(
                    dataset.as_ref(),
                    Some(expected),
                    "acknowledged entry {}: {ack:?}",
                    ack.index
                );
            }
            let present = match ack.action {
                "account.created" => self.accounts.contains(subject),
                "dataset.created" => self.datasets.contains_key(subject),
                "right.registered" => self.rights.contains(subject),
                "version.added" => self.versions.contains_key(subject),
                "dataset.published" => self.datasets.get(subject).is_some_and(|s| s == "listed"),
                "access_request.created" => self.requests.contains_key(subject),
                "access_request.approved" => {
                    self.requests.get(subject).is_some_and(|s| s == "approved")
                }
                "grant.created" => self.grants.contains_key(subject),
                "grant.revoked" => self
                    .grants
                    .get(subject)
                    .is_some_and(|(s, _)| s == "revoked"),
                "delivery.completed" => {
                    let n = deliveries.entry(subject.as_str()).or_insert(0);
                    *n += 1;
                    self.grants
                        .get(subject)
                        .is_some_and(|(_, used)| *used as usize >= *n)
                }
                other => panic!("no check for {other}"),
            };
            assert!(
                present,
                "the change acknowledged with entry {} is in the database: {ack:?}",
                ack.index
            );
        }
        acks.len()
    }
}

#[track_caller]
fn same(what: &str, rows: &BTreeSet<String>, entries: &BTreeSet<String>) {
    let unrecorded: Vec<_> = rows.difference(entries).collect();
    let phantom: Vec<_> = entries.difference(rows).collect();
    assert!(
        unrecorded.is_empty(),
        "{what} rows without their entry: {unrecorded:?}"
    );
    assert!(
        phantom.is_empty(),
        "{what} entries without their row: {phantom:?}"
    );
}

/// Payload files under the objects directory: (path relative to it, bytes).
fn payload_files(objects: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(objects, objects, &mut out);
    out
}

/// (c) Payloads: every recorded version's file is whole; the files no
/// version refers to are counted. Returns (complete orphans, partial ones).
fn check_payloads(snapshot: &Snapshot, objects: &Path) -> (usize, usize) {
    let files: HashMap<String, Vec<u8>> = payload_files(objects).into_iter().collect();
    let mut referenced = BTreeSet::new();
    for (version, (size, sha256, key)) in &snapshot.versions {
        let bytes = files
            .get(key)
            .unwrap_or_else(|| panic!("version {version}: its payload {key} is missing"));
        assert_eq!(
            bytes.len() as i64,
            *size,
            "version {version}: its payload file is whole"
        );
        assert_eq!(
            &hex::encode(Sha256::digest(bytes)),
            sha256,
            "version {version}: its payload file is whole"
        );
        referenced.insert(key.clone());
    }
    let orphans: Vec<&String> = files.keys().filter(|k| !referenced.contains(*k)).collect();
    // object_store writes an upload to "<key>#<n>" and renames it on completion
    let partial = orphans.iter().filter(|k| k.contains('#')).count();
    (orphans.len() - partial, partial)
}

/// The log as the auditor reads it over the API (the JSON Lines export):
/// index → (action, subject).
async fn auditor_view(
    http: &reqwest::Client,
    api: &str,
    auditor: &str,
) -> BTreeMap<i64, (String, String)> {
    let resp = http
        .get(format!("{api}/audit/entries?format=jsonl"))
        .bearer_auth(auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "the auditor reads the log");
    let text = resp.text().await.unwrap();
    text.lines()
        .map(|line| {
            let entry: Value = serde_json::from_str(line).expect("an entry per line");
            let field = |name: &str| {
                entry[name]
                    .as_str()
                    .unwrap_or_else(|| panic!("{name} in {line}"))
                    .to_owned()
            };
            (
                entry["index"].as_i64().expect("index"),
                (field("action"), field("subject")),
            )
        })
        .collect()
}

/// (c) Every acknowledged version downloads, as its owner, as uploaded.
async fn check_downloads(http: &reqwest::Client, api: &str, versions: Vec<Uploaded>) -> usize {
    futures_util::stream::iter(versions)
        .map(|v| {
            let (http, api) = (http.clone(), api.to_owned());
            async move {
                let resp = http
                    .get(format!(
                        "{api}/datasets/{}/versions/{}/content",
                        v.dataset, v.number
                    ))
                    .bearer_auth(&v.owner_token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    resp.status(),
                    200,
                    "version {}/{} downloads",
                    v.dataset,
                    v.number
                );
                let bytes = resp.bytes().await.unwrap();
                assert_eq!(
                    bytes.len(),
                    v.size,
                    "version {}/{}: size",
                    v.dataset,
                    v.number
                );
                assert_eq!(
                    hex::encode(Sha256::digest(&bytes)),
                    v.sha256,
                    "version {}/{}: SHA-256",
                    v.dataset,
                    v.number
                );
            }
        })
        .buffer_unordered(8)
        .count()
        .await
}

async fn crash_case(backend: Backend) {
    let started = Instant::now();
    let name = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    let seed: u64 = std::env::var("CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    eprintln!(
        "crash [{name}]: seed {seed} (CRASH_SEED={seed} replays the kill times and the clients' dice)"
    );
    let mut dice = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let (url, schema) = fresh_database(backend, dir.path()).expect(NO_POSTGRES);
    let _schema = SchemaGuard(schema);
    let objects = dir.path().join("objects");

    // The auditor, made by the operator before the server first starts.
    let market = open_market(&url, dir.path()).await;
    accounts::register(
        &market,
        Registrar::Operator,
        NewAccount {
            name: "aud".into(),
            password: PASSWORD.into(),
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
    .expect("the operator creates the auditor");

    let start = || ServerProcess::start_logging(&url, dir.path(), 8, "error");
    let mut server = start();
    server.ready().await;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let ledger: Shared = Arc::default();
    let mut clients =
        register_clients(&http, &format!("{}/api/v1", server.base), &ledger, seed).await;
    let auditor = token(&http, &format!("{}/api/v1", server.base), "aud").await;
    eprintln!(
        "crash [{name}]: {CLIENTS} clients registered in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let (mut survivors, mut orphans, mut downloads, mut log_size) = (0, (0, 0), 0, 0);
    for round in 1..=KILLS {
        let api = format!("{}/api/v1", server.base);
        let stop = Arc::new(AtomicBool::new(false));
        let running: Vec<_> = clients
            .drain(..)
            .map(|c| tokio::spawn(c.run(http.clone(), api.clone(), stop.clone(), ledger.clone())))
            .collect();
        let after = dice.gen_range(KILL_AFTER_MS);
        tokio::time::sleep(Duration::from_millis(after)).await;
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("the killed server is reaped");
        stop.store(true, Ordering::SeqCst);
        for task in running {
            clients.push(task.await.expect("a client survives the server's death"));
        }

        // (b), while the server is down
        let down = Snapshot::take(&market, backend).await;
        down.check_consistent();
        check_payloads(&down, &objects);

        // (a), (c), (d) after the restart
        server = start();
        server.ready().await;
        let api = format!("{}/api/v1", server.base);
        let up = Snapshot::take(&market, backend).await;
        up.check_consistent();
        let (acks, versions) = {
            let ledger = ledger.lock().unwrap();
            (ledger.entries.clone(), ledger.versions.clone())
        };
        survivors = up.check_acknowledged(&acks);
        let read_by_auditor = auditor_view(&http, &api, &auditor).await;
        let stored: BTreeMap<i64, (String, String)> = up
            .entries
            .iter()
            .map(|(i, (a, s, _))| (*i, (a.clone(), s.clone())))
            .collect();
        assert!(
            read_by_auditor == stored,
            "the auditor reads over the API the log the database holds"
        );
        orphans = check_payloads(&up, &objects);
        downloads = check_downloads(&http, &api, versions).await;
        assert_eq!(downloads, ledger.lock().unwrap().versions.len());
        let report = verify_server(
            &Server {
                url: server.base.clone(),
                token: Some(auditor.clone()),
            },
            None,
            None,
            Options::default(),
        )
        .await
        .expect("the log verifies after the crash");
        // The owners' downloads above are on the record too: the log has
        // grown since the snapshot by exactly one entry per download.
        let now = Snapshot::take(&market, backend).await;
        now.check_consistent();
        assert_eq!(
            now.entries.len(),
            up.entries.len() + downloads,
            "one delivery entry per owner's download"
        );
        assert_eq!(
            report.entries,
            now.entries.len() as u64,
            "the verifier read every entry"
        );
        assert_eq!(
            report.head.tree_size, report.entries,
            "the newest signed head covers every entry"
        );
        log_size = report.entries;
        eprintln!(
            "crash [{name}]: round {round}: killed after {after} ms; {} entries acknowledged so far, all present; log {log_size} entries verified; {} versions downloaded; orphan payload files {} complete + {} partial",
            acks.len(),
            downloads,
            orphans.0,
            orphans.1
        );
    }

    let ledger = ledger.lock().unwrap();
    let summary = format!(
        "crash [{name}]: rounds {KILLS}, kills {KILLS}, clients {CLIENTS}, acknowledged writes {} ({} audit entries), survivors {survivors}/{}, \
         versions downloaded intact {downloads}, orphan payload files {} ({} complete, {} partial uploads; never served), \
         log {log_size} entries verified, 5xx answers {}, connection errors {}, seed {seed}, {:.1}s",
        ledger.acknowledged,
        ledger.entries.len(),
        ledger.entries.len(),
        orphans.0 + orphans.1,
        orphans.0,
        orphans.1,
        ledger.server_errors,
        ledger.transport_errors,
        started.elapsed().as_secs_f64()
    );
    eprintln!("{summary}");
    let report = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target directory")
        .join(format!("crash-report-{name}.txt"));
    std::fs::write(&report, format!("{summary}\n")).expect("write the crash report");
    assert_eq!(survivors, ledger.entries.len());
    assert!(ledger.acknowledged > KILLS * 10, "the load did something");
}
