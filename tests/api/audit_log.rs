//! The verifiable audit log over HTTP: signed checkpoints and tree heads,
//! inclusion and consistency proofs, exports, and the offline verifier
//! against a log tampered with directly in the database.

use datamarket::audit::checkpoint::{Checkpoint, TrustedKeys};
use datamarket::audit::merkle::{self, Hash};
use datamarket::audit::verify::{Options, Problem, Report};
use datamarket::client::audit::Server;

/// The offline verifier and its HTTP client, under the one name the cases use.
mod verify {
    pub use datamarket::audit::verify::*;
    pub use datamarket::client::audit::{prove, verify_server};
}
use datamarket::audit::{self, Action, Entry};
use datamarket::store::schema::{
    audit_entries, audit_entry_parties, audit_tree_heads, audit_tree_nodes,
};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::support::*;

/// The accounts and datasets of the scripted marketplace story.
struct Story {
    acme: User,
    buyer: User,
    auditor: User,
    /// The Audit-Index of the general dataset's creation (acme is a party).
    created_index: u64,
    /// The last index its transaction wrote.
    created_last: u64,
}

/// A provider lists general data, has important data reviewed and approved
/// by a regulator, and delists the first; a consumer and an auditor join.
async fn story(app: &TestApp) -> Story {
    let acme = app.provider("acme").await;
    let buyer = app.consumer("buyer").await;
    let regulator = app.regulator("reg").await;
    let auditor = app.auditor("aud").await;
    app.verified(&acme).await;
    let created = app
        .post(
            "/api/v1/datasets",
            Some(&acme.token),
            dataset_body("Traffic", "general"),
        )
        .await;
    created.expect(201);
    let created_index = created.audit_indexes()[0];
    let created_last = *created.audit_indexes().last().unwrap();
    let general = created.id();
    app.upload(&acme, general, b"a,b\n1,2\n").await.expect(201);
    app.post(
        &format!("/api/v1/datasets/{general}/publish"),
        Some(&acme.token),
        json!({}),
    )
    .await
    .expect(200);
    let important = app.dataset(&acme, "Grid load", "important").await;
    app.upload(&acme, important, b"x\n1\n").await.expect(201);
    app.post(
        &format!("/api/v1/datasets/{important}/publish"),
        Some(&acme.token),
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/datasets/{important}/review"),
        Some(&regulator.token),
        json!({"decision": "approve", "reason": "checked"}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/datasets/{general}/delist"),
        Some(&acme.token),
        json!({"reason": "stale"}),
    )
    .await
    .expect(200);
    Story {
        acme,
        buyer,
        auditor,
        created_index,
        created_last,
    }
}

/// The index of the first entry recording `action`.
async fn index_of(app: &TestApp, user: &User, action: &str) -> u64 {
    let page = app
        .get(
            &format!("/api/v1/audit/entries?action={action}&limit=1"),
            Some(&user.token),
        )
        .await;
    page.body["entries"][0]["index"].as_u64().expect("an entry")
}

async fn keys(app: &TestApp) -> TrustedKeys {
    let jwks = app.get("/.well-known/jwks.json", None).await;
    TrustedKeys::from_jwks(&jwks.body).unwrap()
}

fn server(app: &TestApp, token: &User) -> Server {
    Server {
        url: app.base.clone(),
        token: Some(token.token.clone()),
    }
}

async fn verify_log(app: &TestApp, user: &User, trusted: Option<&str>) -> Result<Report, Problem> {
    verify::verify_server(&server(app, user), None, trusted, Options::default()).await
}

/// Asserts that verification fails naming `index`.
#[track_caller]
fn assert_fails_at(outcome: Result<Report, Problem>, index: u64, why: &str) {
    match outcome {
        Err(Problem::Failed(failure)) => {
            assert_eq!(failure.index, Some(index), "{failure}");
            assert!(failure.reason.contains(why), "{failure}");
        }
        other => panic!("expected a failure at entry {index}, got {other:?}"),
    }
}

/// Runs the real `datamarket audit verify` and returns (success, stdout).
async fn verify_binary(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_datamarket"))
            .args(["audit", "verify"])
            .args(&args)
            .env_remove("DATAMARKET_TOKEN")
            .output()
            .expect("run datamarket");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// Runs SQL-level tampering on the app's database, as one write
/// transaction: the app's own background writers (sweeper, watch) take the
/// writer too, and one of them committing between two tampering statements
/// would sign a head over a half-tampered log.
async fn tamper<F>(app: &TestApp, work: F)
where
    F: Fn(&mut datamarket::store::DbConnection) -> diesel::QueryResult<()> + Send + 'static,
{
    app.market
        .db
        .write(move |conn| work(conn).map_err(Into::into))
        .await
        .expect("tampering");
}

/// Tampers and then rebuilds the tree in the same transaction, whose commit
/// signs a head if the tampering left none, as an insider with the platform
/// key would: a head signed in between (by any write that finds the log
/// without one) would cover the entries as they were. Returns how many
/// leaves were rebuilt.
async fn tamper_and_rebuild<F>(app: &TestApp, work: F) -> u64
where
    F: Fn(&mut datamarket::store::DbConnection) -> diesel::QueryResult<()> + Send + 'static,
{
    app.market
        .db
        .write(move |conn| {
            work(conn)?;
            audit::catch_up_in(conn)
        })
        .await
        .expect("tampering")
}

fn hash_of(hex_text: &str) -> Hash {
    hex::decode(hex_text).unwrap().try_into().unwrap()
}

fn proof_of(body: &Value) -> Vec<Hash> {
    body["proof"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| hash_of(h.as_str().unwrap()))
        .collect()
}

/// The party every bulk entry names besides its (absent) actor.
const BULK_PARTY: uuid::Uuid = uuid::Uuid::from_u128(0x0b01_0b01_0b01_4b01_8b01_0b01_0b01_0b01);

/// Appends `count` entries through the real append path, one transaction
/// (on PostgreSQL, more than `store::COPY_ABOVE` rows go in with `COPY`).
async fn bulk_entries(app: &TestApp, count: usize) {
    app.market
        .db
        .write(move |conn| {
            for i in 0..count {
                audit::append(
                    conn,
                    Entry {
                        actor: None,
                        action: Action::DatasetUpdated,
                        dataset: None,
                        subject: format!("bulk/{i}"),
                        parties: vec![BULK_PARTY],
                        detail: json!({"n": i}),
                    },
                )?;
            }
            Ok(())
        })
        .await
        .unwrap();
}

both_backends! {
    async fn every_state_change_names_its_entries(app: TestApp) {
        let acme = app.provider("acme").await;
        let regulator = app.regulator("reg").await;
        app.verified(&acme).await;
        let id = app.dataset(&acme, "Grid load", "important").await;
        let path = format!("/api/v1/datasets/{id}");
        let replies = vec![
            ("account.created", app.post("/api/v1/accounts", None, json!({"name": "buyer", "password": PASSWORD, "roles": ["consumer"]})).await),
            ("dataset.created", app.post("/api/v1/datasets", Some(&acme.token), dataset_body("Other", "general")).await),
            ("dataset.updated", app.patch(&path, Some(&acme.token), json!({"title": "Grid load, hourly"})).await),
            ("version.added", app.upload(&acme, id, b"x\n1\n").await),
            ("dataset.published", app.post(&format!("{path}/publish"), Some(&acme.token), json!({})).await),
            ("dataset.reviewed", app.post(&format!("{path}/review"), Some(&regulator.token), json!({"decision": "approve"})).await),
            ("dataset.delisted", app.post(&format!("{path}/delist"), Some(&acme.token), json!({})).await),
        ];
        for (action, reply) in replies {
            assert!(reply.status.is_success(), "{action}: {}", reply.body);
            let indexes = reply.audit_indexes();
            assert!(!indexes.is_empty(), "{action} reports its entries");
            let (first, last) = (indexes[0], *indexes.last().unwrap());
            let entries = app.get(&format!("/api/v1/audit/entries?start={first}&end={}", last + 1), Some(&regulator.token)).await;
            let actions: Vec<&str> = entries.body["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
            assert_eq!(actions.len(), indexes.len());
            assert_eq!(actions[0], action);
            // The transaction that wrote them signed the head at its end.
            app.get(&format!("/api/v1/audit/tree-heads?size={}", last + 1), Some(&regulator.token)).await.expect(200);
        }
    }

    async fn checkpoints_are_signed_c2sp_notes(app: TestApp) {
        let s = story(&app).await;
        app.get("/api/v1/audit/checkpoint", None).await.problem(401, "unauthenticated");
        let reply = app.get("/api/v1/audit/checkpoint", Some(&s.buyer.token)).await;
        reply.expect(200);
        assert_eq!(reply.header("content-type"), Some("text/plain; charset=utf-8"));
        let text = String::from_utf8(reply.bytes.to_vec()).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        let size = app.audit_size().await;
        assert_eq!(lines[0], app.settings.audit.origin);
        assert_eq!(lines[1], size.to_string());
        assert_eq!(lines[2].len(), 44, "base64 of 32 bytes");
        assert!(lines[3].starts_with("timestamp 20") && lines[3].ends_with('Z'), "{text}");
        assert_eq!(lines[4], "");
        assert!(lines[5].starts_with(&format!("\u{2014} {} ", app.settings.audit.origin)), "{text}");
        let checkpoint = Checkpoint::parse(&text).unwrap();
        assert_eq!(checkpoint.tree_size, size);
        let kid = checkpoint.verify(&keys(&app).await).unwrap().to_owned();
        assert_eq!(kid, app.market.keys.active().kid());

        // The JSON head says the same and carries the same note.
        let head = app.get("/api/v1/audit/tree-heads", Some(&s.buyer.token)).await;
        head.expect(200);
        assert_eq!(head.body["tree_size"], size);
        assert_eq!(head.body["checkpoint"], text);
        assert_eq!(head.body["kid"], kid);
        assert_eq!(hash_of(head.body["root_hash"].as_str().unwrap()), checkpoint.root_hash);
        assert_eq!(Some(head.body["timestamp"].as_str().unwrap()), checkpoint.timestamp.as_deref());
        let signature = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, head.body["signature"].as_str().unwrap()).unwrap();
        assert_eq!(signature, checkpoint.signatures[0].signature);
    }

    async fn every_committed_change_has_a_signed_head(app: TestApp) {
        let s = story(&app).await;
        let token = Some(s.auditor.token.as_str());
        // The empty log got its head at the first start.
        let empty = app.get("/api/v1/audit/tree-heads?size=0", token).await;
        empty.expect(200);
        assert_eq!(empty.body["root_hash"], hex::encode(merkle::empty_root()));
        // Every transaction signed a head at the size it committed, with the
        // root of the entries up to it; the entry at that size carries it.
        let entries = app.get("/api/v1/audit/entries?limit=200", token).await;
        let mut range = merkle::CompactRange::new();
        let mut heads = 0;
        for entry in entries.body["entries"].as_array().unwrap() {
            range.push(audit::leaf_hash(entry["canonical"].as_str().unwrap().as_bytes())).unwrap();
            let head = app.get(&format!("/api/v1/audit/tree-heads?size={}", range.size()), token).await;
            if head.status == 404 {
                assert_eq!(entry["tree_head"], Value::Null);
                continue;
            }
            head.expect(200);
            heads += 1;
            assert_eq!(head.body["root_hash"], hex::encode(range.root()));
            assert_eq!(entry["tree_head"], head.body, "the entry carries its head");
        }
        assert!(heads >= 12, "registrations and dataset changes commit one by one");
        let created = app.get(&format!("/api/v1/audit/tree-heads?size={}", s.created_last + 1), token).await;
        created.expect(200);
        let stored: i64 = app.market.db.read(|c| Ok(audit_tree_heads::table.count().get_result(c)?)).await.unwrap();
        assert_eq!(stored, heads + 1, "the heads above, and the empty log's");

        app.get("/api/v1/audit/tree-heads?size=100000", token).await.problem(404, "not-found");
        app.get("/api/v1/audit/tree-heads?size=abc", token).await.problem(400, "invalid-parameter");
        app.get("/api/v1/audit/tree-heads?size=-1", token).await.problem(400, "invalid-parameter");
        app.get("/api/v1/audit/tree-heads", None).await.problem(401, "unauthenticated");
        // Several changes in one transaction get one head, at the end.
        let before = app.audit_size().await;
        bulk_entries(&app, 3).await;
        app.get(&format!("/api/v1/audit/tree-heads?size={}", before + 1), token).await.problem(404, "not-found");
        app.get(&format!("/api/v1/audit/tree-heads?size={}", before + 3), token).await.expect(200);
    }

    async fn proofs_verify_client_side(app: TestApp) {
        let s = story(&app).await;
        bulk_entries(&app, 20).await;
        let token = Some(s.auditor.token.as_str());
        let size = app.audit_size().await;
        let entries = app.get("/api/v1/audit/entries?limit=200", token).await;
        let leaves: Vec<Hash> = entries.body["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| audit::leaf_hash(e["canonical"].as_str().unwrap().as_bytes()))
            .collect();
        let root_at = |n: u64| {
            let mut range = merkle::CompactRange::new();
            for leaf in &leaves[..n as usize] {
                range.push(*leaf).unwrap();
            }
            range.root()
        };
        // Default size: the newest signed head's.
        let proof = app.get("/api/v1/audit/proofs/inclusion?index=3", token).await;
        proof.expect(200);
        assert_eq!(proof.body["tree_size"], size);
        for (index, tree_size) in [(0, 1), (0, size), (5, 8), (7, 8), (8, 9), (13, size), (size - 1, size), (10, 17)] {
            let reply = app
                .get(&format!("/api/v1/audit/proofs/inclusion?index={index}&tree_size={tree_size}"), token)
                .await;
            reply.expect(200);
            let root = root_at(tree_size);
            assert_eq!(reply.body["root_hash"], hex::encode(root));
            assert_eq!(reply.body["leaf_hash"], hex::encode(leaves[index as usize]));
            let hashes = proof_of(&reply.body);
            assert_eq!(merkle::verify_inclusion(index, tree_size, &leaves[index as usize], &hashes, &root), Ok(()));
            // and not for a neighbour
            let other = leaves[((index + 1) % tree_size) as usize];
            if tree_size > 1 {
                assert!(merkle::verify_inclusion(index, tree_size, &other, &hashes, &root).is_err());
            }
        }
        for (first, second) in [(1, 2), (1, size), (3, 7), (4, 8), (8, size), (size, size), (5, 17)] {
            let reply = app
                .get(&format!("/api/v1/audit/proofs/consistency?first={first}&second={second}"), token)
                .await;
            reply.expect(200);
            let (r1, r2) = (root_at(first), root_at(second));
            assert_eq!(reply.body["first_root"], hex::encode(r1));
            assert_eq!(reply.body["second_root"], hex::encode(r2));
            assert_eq!(merkle::verify_consistency(first, second, &proof_of(&reply.body), &r1, &r2), Ok(()));
        }
        // Any account may ask for consistency proofs; they reveal only hashes.
        let reply = app.get("/api/v1/audit/proofs/consistency?first=2", Some(&s.buyer.token)).await;
        reply.expect(200);
        assert_eq!(reply.body["second"], size);
    }

    async fn bad_proof_requests_are_400(app: TestApp) {
        let s = story(&app).await;
        let token = Some(s.auditor.token.as_str());
        let size = app.audit_size().await;
        for query in [
            format!("inclusion?index={size}&tree_size={size}"),
            format!("inclusion?index={size}"),
            "inclusion?index=0&tree_size=0".to_owned(),
            format!("inclusion?index=0&tree_size={}", size + 1),
            "consistency?first=0".to_owned(),
            "consistency?first=0&second=0".to_owned(),
            "consistency?first=5&second=4".to_owned(),
            format!("consistency?first=1&second={}", size + 1),
            format!("consistency?first={}", size + 1),
        ] {
            let reply = app.get(&format!("/api/v1/audit/proofs/{query}"), token).await;
            reply.problem(400, "invalid-proof-request");
        }
        for query in [
            "inclusion?index=abc",
            "inclusion?index=-1",
            "inclusion",
            "inclusion?index=1&tree_size=x",
            "consistency?first=1.5",
            "consistency",
            "consistency?first=1&second=99999999999999999999999",
        ] {
            app.get(&format!("/api/v1/audit/proofs/{query}"), token).await.problem(400, "invalid-parameter");
        }
        app.get("/api/v1/audit/proofs/inclusion?index=0", None).await.problem(401, "unauthenticated");
        app.get("/api/v1/audit/proofs/consistency?first=1", None).await.problem(401, "unauthenticated");
    }

    async fn parties_prove_their_own_entries(app: TestApp) {
        let s = story(&app).await;
        // acme is a party to its dataset's creation; the buyer is not.
        let path = format!("/api/v1/audit/proofs/inclusion?index={}", s.created_index);
        app.get(&path, Some(&s.acme.token)).await.expect(200);
        let hidden = app.get(&path, Some(&s.buyer.token)).await;
        hidden.problem(404, "not-found");
        // The buyer can prove its own registration.
        let mine = app.get(&format!("/api/v1/audit/entries?account={}", s.buyer.id), Some(&s.buyer.token)).await;
        mine.expect(200);
        let own = mine.body["entries"].as_array().unwrap();
        assert_eq!(own.len(), 2, "its registration and its login");
        assert_eq!(own[0]["action"], "account.created");
        assert_eq!(own[1]["action"], "account.login");
        let index = own[0]["index"].as_u64().unwrap();
        app.get(&format!("/api/v1/audit/proofs/inclusion?index={index}"), Some(&s.buyer.token)).await.expect(200);
        // ... and the CLI does the same with the party's token.
        let proven = verify::prove(&server(&app, &s.acme), None, s.created_index).await.unwrap();
        assert_eq!(proven.index, s.created_index);
        assert_eq!(proven.action, "dataset.created");
        assert!(proven.to_string().starts_with(&format!("ok: entry {} (dataset.created", s.created_index)));
        assert!(verify::prove(&server(&app, &s.buyer), None, s.created_index).await.is_err());
        // Whole-trail reads stay with oversight; others only name themselves.
        app.get("/api/v1/audit/entries", Some(&s.buyer.token)).await.problem(403, "wrong-role");
        app.get(&format!("/api/v1/audit/entries?account={}", s.acme.id), Some(&s.buyer.token)).await.problem(403, "wrong-role");
        app.get("/api/v1/audit/entries?format=jsonl", Some(&s.acme.token)).await.problem(403, "wrong-role");
        app.get(&path, None).await.problem(401, "unauthenticated");
    }

    async fn exports_stream_jsonl_and_csv(app: TestApp) {
        let s = story(&app).await;
        // More than one export batch (500 rows) and more than a page.
        bulk_entries(&app, 620).await;
        let token = s.auditor.token.clone();
        let size = app.audit_size().await;
        let page = app.get("/api/v1/audit/entries?limit=200", Some(&token)).await;
        let first_page = page.body["entries"].as_array().unwrap().clone();
        assert_eq!(first_page.len(), 200);

        for (query, accept, media) in [
            ("?format=jsonl", None, "application/jsonl"),
            ("", Some("application/jsonl"), "application/jsonl"),
            ("", Some("application/x-ndjson"), "application/x-ndjson"),
        ] {
            let mut req = app.client.get(app.url(&format!("/api/v1/audit/entries{query}"))).bearer_auth(&token);
            if let Some(accept) = accept {
                req = req.header("accept", accept);
            }
            let resp = req.send().await.unwrap();
            assert_eq!(resp.status(), 200);
            assert_eq!(resp.headers()["content-type"], media);
            assert!(resp.headers().get("content-length").is_none(), "streamed, not buffered");
            let text = resp.text().await.unwrap();
            let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
            assert_eq!(lines.len() as u64, size, "every entry, not a page");
            assert_eq!(&lines[..200], &first_page[..], "the same entries as the JSON page");
            assert!(lines.iter().enumerate().all(|(i, e)| e["index"] == i));
        }
        // An export verifies offline.
        let text = app.client.get(app.url("/api/v1/audit/entries?format=jsonl")).bearer_auth(&token)
            .send().await.unwrap().text().await.unwrap();
        let report = verify::verify_export(text.as_bytes(), &keys(&app).await, None, Options { every_signature: true }).unwrap();
        assert_eq!(report.entries, size);

        // CSV: a header, then one record per entry.
        let resp = app.client.get(app.url("/api/v1/audit/entries?start=2&end=12")).bearer_auth(&token)
            .header("accept", "text/csv").send().await.unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
        let csv = resp.text().await.unwrap();
        let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(rows[0], "index,time,actor,action,dataset,subject,parties,leaf_hash,canonical");
        assert_eq!(rows.len(), 11);
        assert!(rows[1].starts_with("2,"));
        assert!(rows[1].contains(first_page[2]["leaf_hash"].as_str().unwrap()));
        // The canonical bytes survive CSV quoting.
        let quoted = rows[1].split_once(",\"").unwrap().1;
        assert_eq!(quoted.trim_end_matches('"').replace("\"\"", "\""), first_page[2]["canonical"].as_str().unwrap());

        // The bulk's parties were stored with it: each entry is found by its
        // party.
        let text = app.client.get(app.url(&format!("/api/v1/audit/entries?format=jsonl&account={BULK_PARTY}")))
            .bearer_auth(&token).send().await.unwrap().text().await.unwrap();
        let subjects: Vec<String> = text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["subject"].as_str().unwrap().to_owned()).collect();
        assert_eq!(subjects, (0..620).map(|i| format!("bulk/{i}")).collect::<Vec<_>>());

        // Filters apply to exports; limit does not.
        let text = app.client.get(app.url(&format!("/api/v1/audit/entries?format=jsonl&account={}&limit=1", s.acme.id)))
            .bearer_auth(&token).send().await.unwrap().text().await.unwrap();
        let actions: Vec<String> = text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["action"].as_str().unwrap().to_owned()).collect();
        assert_eq!(actions[0], "account.created");
        assert!(actions.len() > 5);
        let time = first_page[3]["time"].as_str().unwrap();
        let since = app.get(&format!("/api/v1/audit/entries?since={time}&end=6&limit=200"), Some(&token)).await;
        assert_eq!(since.body["entries"][0]["index"], 3, "{}", since.body);
        let until = app.get(&format!("/api/v1/audit/entries?until={time}&limit=200"), Some(&token)).await;
        assert_eq!(until.body["entries"].as_array().unwrap().len(), 3);

        app.get("/api/v1/audit/entries?format=xml", Some(&token)).await.problem(406, "not-acceptable");
        let resp = app.client.get(app.url("/api/v1/audit/entries")).bearer_auth(&token)
            .header("accept", "text/html").send().await.unwrap();
        TestApp::read(resp).await.problem(406, "not-acceptable");
        app.get("/api/v1/audit/entries?start=5&end=2", Some(&token)).await.problem(400, "invalid-parameter");
        app.get("/api/v1/audit/entries?since=yesterday", Some(&token)).await.problem(400, "invalid-parameter");
    }

    async fn untouched_log_verifies(app: TestApp) {
        let s = story(&app).await;
        let size = app.audit_size().await;
        let report = verify_log(&app, &s.auditor, None).await.unwrap();
        assert_eq!(report.entries, size);
        assert_eq!(report.head.tree_size, size);
        assert!(report.heads_checked >= 12 && report.heads_checked <= size);
        let line = report.to_string();
        assert!(line.starts_with(&format!("ok: {size} entries, root {}", report.head.root_hash)), "{line}");
        let every = verify::verify_server(&server(&app, &s.auditor), None, None, Options { every_signature: true }).await.unwrap();
        assert_eq!(every.entries, size);
        // The real binary agrees, and saves the head.
        let head_file = app.dir.path().join("head.txt");
        let (ok, out) = verify_binary(vec![
            "--server".into(), app.base.clone(), "--token".into(), s.auditor.token.clone(),
            "--save-head".into(), head_file.display().to_string(),
        ]).await;
        assert!(ok, "{out}");
        assert!(out.starts_with(&format!("ok: {size} entries")), "{out}");
        assert_eq!(std::fs::read_to_string(&head_file).unwrap(), report.head.checkpoint);
        // A token without the oversight role cannot read the whole log.
        assert!(matches!(verify_log(&app, &s.buyer, None).await, Err(Problem::Error(e)) if e.contains("403")));
    }

    async fn one_changed_byte_is_named(app: TestApp) {
        let s = story(&app).await;
        // A change that keeps the JSON valid: one letter of the action.
        let published = index_of(&app, &s.auditor, "dataset.published").await;
        tamper(&app, move |c| {
            diesel::sql_query(format!("UPDATE audit_entries SET canonical = replace(canonical, '\"dataset.published\"', '\"dataset.publishex\"') WHERE idx = {published}"))
                .execute(c).map(drop)
        }).await;
        assert_fails_at(verify_log(&app, &s.auditor, None).await, published, "altered");
        let (ok, out) = verify_binary(vec!["--server".into(), app.base.clone(), "--token".into(), s.auditor.token.clone()]).await;
        assert!(!ok);
        assert!(out.starts_with(&format!("FAIL at entry {published}: ")), "{out}");
        // A change that breaks the JSON: the server still serves the bytes.
        tamper(&app, |c| {
            diesel::sql_query("UPDATE audit_entries SET canonical = '[' || substr(canonical, 2) WHERE idx = 2")
                .execute(c).map(drop)
        }).await;
        assert_fails_at(verify_log(&app, &s.auditor, None).await, 2, "not a valid entry");
        let page = app.get("/api/v1/audit/entries?start=2&end=3", Some(&s.auditor.token)).await;
        page.expect(200);
        assert!(page.body["entries"][0]["canonical"].as_str().unwrap().starts_with('['));
        assert!(page.body["entries"][0].get("action").is_none());
    }

    async fn a_deleted_row_is_named(app: TestApp) {
        let s = story(&app).await;
        tamper(&app, |c| {
            diesel::delete(audit_entry_parties::table.filter(audit_entry_parties::idx.eq(5))).execute(c)?;
            diesel::delete(audit_entries::table.filter(audit_entries::idx.eq(5))).execute(c).map(drop)
        }).await;
        assert_fails_at(verify_log(&app, &s.auditor, None).await, 5, "missing");
    }

    async fn the_last_deleted_row_is_named(app: TestApp) {
        let s = story(&app).await;
        let (ok, out) = verify_binary(vec!["--server".into(), app.base.clone(), "--token".into(), s.auditor.token.clone()]).await;
        assert!(ok, "{out}");
        let last = app.audit_size().await - 1;
        tamper(&app, move |c| {
            diesel::delete(audit_entry_parties::table.filter(audit_entry_parties::idx.eq(last as i64))).execute(c)?;
            diesel::delete(audit_entries::table.filter(audit_entries::idx.eq(last as i64))).execute(c).map(drop)
        }).await;
        assert_fails_at(verify_log(&app, &s.auditor, None).await, last, "missing");
        let (ok, out) = verify_binary(vec!["--server".into(), app.base.clone(), "--token".into(), s.auditor.token.clone()]).await;
        assert!(!ok);
        assert!(out.starts_with(&format!("FAIL at entry {last}: ")), "{out}");
    }

    async fn swapped_rows_are_named(app: TestApp) {
        let s = story(&app).await;
        // Swap everything two rows hold but their index.
        tamper(&app, |c| {
            let rows: Vec<(i64, String, Vec<u8>)> = audit_entries::table
                .filter(audit_entries::idx.eq_any([4i64, 9]))
                .order(audit_entries::idx.asc())
                .select((audit_entries::idx, audit_entries::canonical, audit_entries::leaf_hash))
                .load(c)?;
            for ((idx, _, _), (_, canonical, leaf)) in rows.iter().zip(rows.iter().rev()) {
                diesel::update(audit_entries::table.filter(audit_entries::idx.eq(idx)))
                    .set((audit_entries::canonical.eq(canonical), audit_entries::leaf_hash.eq(leaf)))
                    .execute(c)?;
            }
            Ok(())
        }).await;
        assert_fails_at(verify_log(&app, &s.auditor, None).await, 4, "moved or swapped");
    }

    async fn a_rewritten_subtree_hash_is_named(app: TestApp) {
        let s = story(&app).await;
        assert!(app.audit_size().await >= 8);
        // The node over entries 4..=7.
        tamper(&app, |c| {
            diesel::update(audit_tree_nodes::table.filter(audit_tree_nodes::level.eq(2)).filter(audit_tree_nodes::node_index.eq(1)))
                .set(audit_tree_nodes::hash.eq(vec![0xabu8; 32]))
                .execute(c).map(drop)
        }).await;
        assert_fails_at(verify_log(&app, &s.auditor, None).await, 4, "level 2 index 1, over entries 4..=7");
        // A rewritten leaf node is named at its entry.
        tamper(&app, |c| {
            diesel::update(audit_tree_nodes::table.filter(audit_tree_nodes::level.eq(0)).filter(audit_tree_nodes::node_index.eq(2)))
                .set(audit_tree_nodes::hash.eq(vec![0xcdu8; 32]))
                .execute(c).map(drop)
        }).await;
        assert_fails_at(verify_log(&app, &s.auditor, None).await, 2, "level 0 index 2");
    }

    async fn a_consistent_rewrite_is_caught_by_the_heads(app: TestApp) {
        let s = story(&app).await;
        // Rewrite entry 1 (the buyer's registration, a transaction of its
        // own) and every hash that depends on it, but not the signed heads,
        // which need the platform key.
        let built = tamper_and_rebuild(&app, |c| {
            let canonical: String = audit_entries::table.filter(audit_entries::idx.eq(1)).select(audit_entries::canonical).first(c)?;
            let forged = canonical.replace("\"v\":1", "\"v\":2");
            diesel::update(audit_entries::table.filter(audit_entries::idx.eq(1)))
                .set((audit_entries::canonical.eq(&forged), audit_entries::leaf_hash.eq(audit::leaf_hash(forged.as_bytes()).to_vec())))
                .execute(c)?;
            diesel::delete(audit_tree_nodes::table).execute(c).map(drop)
        }).await;
        // Rebuilding the nodes makes the tree agree with the entries again...
        assert_eq!(built, app.audit_size().await);
        // ...but the head signed at size 2 committed to the old entry 1.
        assert_fails_at(verify_log(&app, &s.auditor, None).await, 1, "entries 1..=1 differ from what the signed tree head of size 2");
    }

    async fn a_trusted_head_proves_the_log_only_grew(app: TestApp) {
        let s = story(&app).await;
        let saved = verify_log(&app, &s.auditor, None).await.unwrap().head;
        let trusted = saved.checkpoint.clone();
        // Honest growth passes, by recomputation and by the server's proof.
        let buyer_dataset = app.provider("later").await;
        app.listed_dataset(&buyer_dataset, "Later").await;
        let report = verify_log(&app, &s.auditor, Some(&trusted)).await.unwrap();
        assert_eq!(report.trusted_size, Some(saved.tree_size));
        assert!(report.to_string().ends_with(&format!("consistent with trusted head of size {}", saved.tree_size)));
        let head_file = app.dir.path().join("trusted.txt");
        std::fs::write(&head_file, &trusted).unwrap();
        let (ok, out) = verify_binary(vec![
            "--server".into(), app.base.clone(), "--token".into(), s.auditor.token.clone(),
            "--trusted-head".into(), head_file.display().to_string(),
        ]).await;
        assert!(ok, "{out}");
        assert!(out.contains(&format!("consistent with trusted head of size {}", saved.tree_size)), "{out}");

        // An insider with the platform key rewrites entry 3 and re-signs
        // everything: the log is consistent in itself, so only the head
        // saved earlier can tell.
        tamper_and_rebuild(&app, |c| {
            let canonical: String = audit_entries::table.filter(audit_entries::idx.eq(3)).select(audit_entries::canonical).first(c)?;
            let forged = canonical.replace("\"v\":1", "\"v\":3");
            diesel::update(audit_entries::table.filter(audit_entries::idx.eq(3)))
                .set((audit_entries::canonical.eq(&forged), audit_entries::leaf_hash.eq(audit::leaf_hash(forged.as_bytes()).to_vec())))
                .execute(c)?;
            diesel::delete(audit_tree_nodes::table).execute(c)?;
            diesel::delete(audit_tree_heads::table).execute(c).map(drop)
        }).await;
        verify_log(&app, &s.auditor, None).await.expect("a re-signed log is consistent in itself");
        match verify_log(&app, &s.auditor, Some(&trusted)).await {
            Err(Problem::Failed(failure)) => {
                assert_eq!(failure.index, None);
                assert!(failure.reason.contains("not consistent with the trusted head"), "{failure}");
            }
            other => panic!("expected an inconsistency, got {other:?}"),
        }
        let (ok, out) = verify_binary(vec![
            "--server".into(), app.base.clone(), "--token".into(), s.auditor.token.clone(),
            "--trusted-head".into(), head_file.display().to_string(),
        ]).await;
        assert!(!ok);
        assert!(out.starts_with("FAIL: the log is not consistent with the trusted head"), "{out}");
        // A head that is not the platform's is refused outright.
        let forged = trusted.replace(&format!("\n{}\n", saved.tree_size), &format!("\n{}\n", saved.tree_size + 1));
        assert!(matches!(verify_log(&app, &s.auditor, Some(&forged)).await, Err(Problem::Failed(_))));
    }

    async fn exports_verify_offline_with_a_pinned_jwks(app: TestApp) {
        let s = story(&app).await;
        let jwks_file = app.dir.path().join("jwks.json");
        let jwks = app.get("/.well-known/jwks.json", None).await;
        std::fs::write(&jwks_file, &jwks.bytes).unwrap();
        let export_file = app.dir.path().join("log.jsonl");
        let text = app.client.get(app.url("/api/v1/audit/entries?format=jsonl")).bearer_auth(&s.auditor.token)
            .send().await.unwrap().text().await.unwrap();
        std::fs::write(&export_file, &text).unwrap();
        let (ok, out) = verify_binary(vec![
            "--export".into(), export_file.display().to_string(), "--jwks".into(), jwks_file.display().to_string(),
        ]).await;
        assert!(ok, "{out}");
        assert!(out.starts_with(&format!("ok: {} entries", app.audit_size().await)), "{out}");
        // One byte changed in the file is named.
        // (in the canonical bytes, where the quotes are escaped)
        let tampered = text.replacen(r#"\"dataset.created\""#, r#"\"dataset.createx\""#, 1);
        assert_ne!(tampered, text);
        let index = text.lines().position(|l| l.contains("dataset.created")).unwrap() as u64;
        std::fs::write(&export_file, &tampered).unwrap();
        let (ok, out) = verify_binary(vec![
            "--export".into(), export_file.display().to_string(), "--jwks".into(), jwks_file.display().to_string(),
        ]).await;
        assert!(!ok);
        assert!(out.starts_with(&format!("FAIL at entry {index}: ")), "{out}");
        // An export cut short of its last head still verifies what it holds.
        let lines: Vec<&str> = text.lines().collect();
        let report = verify::verify_export(lines[..5].join("\n").as_bytes(), &keys(&app).await, None, Options::default()).unwrap();
        assert_eq!(report.entries, 5);
        // Another key set does not vouch for it.
        let other = serde_json::json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "x",
            "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]});
        let other = TrustedKeys::from_jwks(&other).unwrap();
        assert!(matches!(verify::verify_export(text.as_bytes(), &other, None, Options::default()), Err(Problem::Failed(_))));
    }
}
