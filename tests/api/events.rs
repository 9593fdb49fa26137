//! Events: webhooks signed per Standard Webhooks, delivered at least once
//! with retries to a receiver that fails and recovers, through two gateways
//! each with its own dispatcher; the feed and the Server-Sent Events
//! stream; what a rolled-back change emits (nothing); and a kill -9 of the
//! real process that loses no committed event.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use futures_util::StreamExt;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    /// What the receiver answered.
    status: u16,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }

    /// Checks the signature as a receiver would, with the webhook's secret.
    fn verifies(&self, secret: &str) -> bool {
        let mut headers = http::HeaderMap::new();
        for (name, value) in &self.headers {
            headers.insert(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                http::HeaderValue::from_str(value).unwrap(),
            );
        }
        standardwebhooks::Webhook::new(secret)
            .unwrap()
            .verify(&self.body, &headers)
            .is_ok()
    }
}

/// A webhook receiver on a free port: it answers 500 to its first
/// `failing` requests (and to all while `down` is set), then 200, and
/// keeps everything it was sent.
#[derive(Clone)]
struct Receiver {
    base: String,
    got: Arc<Mutex<Vec<Received>>>,
    down: Arc<Mutex<bool>>,
}

impl Receiver {
    fn start(failing: usize) -> Receiver {
        let got: Arc<Mutex<Vec<Received>>> = Arc::default();
        let failing = Arc::new(Mutex::new(failing));
        let down = Arc::new(Mutex::new(false));
        let state = (got.clone(), failing.clone(), down.clone());
        let server = HttpServer::new(move || {
            let state = state.clone();
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (got, failing, down) = state.clone();
                async move {
                    let mut left = failing.lock().unwrap();
                    let status = if *down.lock().unwrap() || *left > 0 {
                        *left = left.saturating_sub(1);
                        500
                    } else {
                        200
                    };
                    got.lock().unwrap().push(Received {
                        status,
                        path: req.path().to_owned(),
                        headers: req
                            .headers()
                            .iter()
                            .map(|(n, v)| {
                                (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())
                            })
                            .collect(),
                        body: body.to_vec(),
                    });
                    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
                        .finish()
                }
            }))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let addr = server.addrs()[0];
        tokio::spawn(server.run());
        Receiver {
            base: format!("http://{addr}"),
            got,
            down,
        }
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// The event ids each path was sent, each once, after deduplication.
    fn ids_by_path(&self) -> BTreeMap<String, BTreeSet<String>> {
        let mut ids: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for r in self.got() {
            ids.entry(r.path.clone())
                .or_default()
                .insert(r.header("webhook-id").to_owned());
        }
        ids
    }

    /// How many times `path` was sent `id` and answered 2xx.
    fn accepted(&self, path: &str, id: &str) -> usize {
        self.got()
            .iter()
            .filter(|r| r.path == path && r.header("webhook-id") == id && r.status == 200)
            .count()
    }

    /// Waits until `path` has accepted every id in `ids` (answered 2xx).
    async fn wait_for(&self, path: &str, ids: &BTreeSet<String>) {
        for _ in 0..1200 {
            if ids.iter().all(|id| self.accepted(path, id) > 0) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{path} did not accept {ids:?}; it was sent {:?}",
            self.ids_by_path().get(path)
        );
    }
}

/// The test markets send to loopback, and retry quickly.
fn quick(settings: &mut datamarket::config::Settings) {
    settings.events.allow_private_targets = true;
    settings.events.dispatch_interval_ms = 50;
    settings.events.retry_base_ms = 50;
    settings.events.retry_max_ms = 200;
    settings.events.max_attempts = 30;
    settings.events.stream_poll_ms = 50;
    // Every 30-day grant is near its end.
    settings.grants.expiry_notice_secs = 40 * 86_400;
}

fn evt(index: u64) -> String {
    format!("evt_{index}")
}

fn ids(indexes: impl IntoIterator<Item = u64>) -> BTreeSet<String> {
    indexes.into_iter().map(evt).collect()
}

async fn subscribe(app: &TestApp, user: &User, url: String, types: &[&str]) -> (Uuid, String) {
    let reply = app
        .post(
            "/api/v1/webhooks",
            Some(&user.token),
            json!({"url": url, "event_types": types}),
        )
        .await;
    reply.expect(201);
    assert_eq!(reply.body["state"], "active");
    let secret = reply.body["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    (reply.id(), secret)
}

fn request_body(dataset: Uuid) -> Value {
    json!({
        "dataset": dataset,
        "purpose": "traffic model research",
        "duration_days": 30,
        "max_downloads": 5,
        "processing": false,
        "cross_border": false,
    })
}

both_backends! {
    async fn webhooks_deliver_every_event_signed_through_failures(app: TestApp, Box::new(quick)) {
        // A second gateway with its own dispatcher: the two share the work
        // and neither sends what the other claimed.
        let twin = app.twin().await;
        let receiver = Receiver::start(3);
        let provider = app.provider("acme").await;
        let consumer = app.consumer("lab").await;
        let other = app.consumer("other-lab").await;

        // Refusals first.
        app.post("/api/v1/webhooks", None, json!({"url": receiver.base, "event_types": ["grant.issued"]}))
            .await.problem(401, "unauthenticated");
        for (url, types) in [
            ("ftp://example.com/x", json!(["grant.issued"])),
            ("https://user:pw@example.com/x", json!(["grant.issued"])),
            ("https://example.com/x", json!([])),
        ] {
            app.post("/api/v1/webhooks", Some(&consumer.token), json!({"url": url, "event_types": types}))
                .await.problem(422, "validation-failed");
        }
        app.post("/api/v1/webhooks", Some(&consumer.token), json!({"url": "https://example.com/x", "event_types": ["grant.mangled"]}))
            .await.problem(422, "invalid-body");

        let (theirs, their_secret) = subscribe(&app, &consumer, format!("{}/lab?token=s3cr3t", receiver.base),
            &["listing.published", "request.decided", "grant.issued", "grant.revoked"]).await;
        let (mine, my_secret) = subscribe(&twin, &provider, format!("{}/acme", receiver.base),
            &["listing.published", "listing.changed"]).await;
        // Another account's webhook is not there for it.
        app.get(&format!("/api/v1/webhooks/{theirs}"), Some(&provider.token)).await.problem(404, "not-found");
        app.get(&format!("/api/v1/webhooks/{theirs}/deliveries"), Some(&other.token)).await.problem(404, "not-found");
        app.call(reqwest::Method::DELETE, &format!("/api/v1/webhooks/{theirs}"), Some(&other.token), None)
            .await.problem(404, "not-found");
        let listed = app.get("/api/v1/webhooks", Some(&consumer.token)).await;
        listed.expect(200);
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
        assert!(listed.body["items"][0].get("secret").is_none(), "the secret is shown once");
        // The log keeps where a webhook points only as far as its origin.
        let registered = app.audit_since(0).await;
        let entry = registered.iter().find(|e| e["action"] == "webhook.registered" && e["subject"] == theirs.to_string()).unwrap();
        assert_eq!(entry["detail"]["origin"], receiver.base.as_str());
        assert!(!entry.to_string().contains("s3cr3t"));

        // A draft's edit is its provider's news only; publishing is everyone's.
        let dataset = app.dataset(&provider, "traffic counts", "general").await;
        let draft_edit = app.patch(&format!("/api/v1/datasets/{dataset}"), Some(&provider.token), json!({"title": "traffic counts, hourly"})).await;
        draft_edit.expect(200);
        let uploaded = app.upload(&provider, dataset, b"city,count\nbeijing,42\n").await;
        uploaded.expect(201);
        let published = twin.post(&format!("/api/v1/datasets/{dataset}/publish"), Some(&provider.token), json!({})).await;
        published.expect(200);
        let published_at = published.audit_indexes()[0];

        // The consumer's request decided; another consumer's grant is not its news.
        let asked = app.post("/api/v1/access-requests", Some(&consumer.token), request_body(dataset)).await;
        asked.expect(201);
        let approved = twin.post(&format!("/api/v1/access-requests/{}/approve", asked.id()), Some(&provider.token), json!({})).await;
        approved.expect(200);
        let grant = approved.body["grant"].as_str().unwrap().to_owned();
        let decided = approved.audit_indexes();
        let others = app.post("/api/v1/access-requests", Some(&other.token), request_body(dataset)).await;
        others.expect(201);
        app.post(&format!("/api/v1/access-requests/{}/approve", others.id()), Some(&provider.token), json!({})).await.expect(200);

        // Rolled back: a second approval and a second revocation change
        // nothing, and so tell nothing.
        let size_before = app.audit_size().await;
        app.post(&format!("/api/v1/access-requests/{}/approve", asked.id()), Some(&provider.token), json!({})).await.problem(409, "invalid-state");
        assert_eq!(app.audit_size().await, size_before, "a refused change writes no entry");
        let revoked = app.post(&format!("/api/v1/grants/{grant}/revoke"), Some(&provider.token), json!({"reason": "terms breached"})).await;
        revoked.expect(200);
        app.post(&format!("/api/v1/grants/{grant}/revoke"), Some(&provider.token), json!({"reason": "again"})).await.problem(409, "invalid-state");
        let revoked_at = revoked.audit_indexes()[0];

        // What each should hear, from the log itself.
        let entries = app.audit_since(0).await;
        let index_of = |action: &str, subject: &str| -> u64 {
            entries.iter().find(|e| e["action"] == action && e["subject"] == subject)
                .unwrap_or_else(|| panic!("no {action} about {subject}"))["index"].as_u64().unwrap()
        };
        let granted_at = index_of("grant.created", &grant);
        assert!(decided.contains(&granted_at));
        let approved_at = index_of("access_request.approved", &asked.id().to_string());
        let expect_theirs = ids([published_at, approved_at, granted_at, revoked_at]);
        let edited_at = draft_edit.audit_indexes()[0];
        let added_at = uploaded.audit_indexes()[0];
        let expect_mine = ids([edited_at, added_at, published_at]);
        receiver.wait_for("/lab", &expect_theirs).await;
        receiver.wait_for("/acme", &expect_mine).await;
        // Give a stray duplicate or an extra event time to show, then look.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let by_path = receiver.ids_by_path();
        assert_eq!(by_path["/lab"], expect_theirs, "exactly the consumer's events, once each after deduplication");
        assert_eq!(by_path["/acme"], expect_mine, "exactly the provider's events");
        for (path, expected) in [("/lab", &expect_theirs), ("/acme", &expect_mine)] {
            for id in expected {
                assert_eq!(receiver.accepted(path, id), 1, "{path} accepted {id} once: two dispatchers never both send it");
            }
        }
        // Catalog news to someone who is no party comes without the entry's
        // actor and detail; a party's own events carry them.
        let news = receiver.got().into_iter().find(|r| r.path == "/lab" && r.header("webhook-id") == evt(published_at)).unwrap().json();
        assert_eq!(news["type"], "listing.published");
        assert_eq!(news["data"]["actor"], Value::Null);
        assert_eq!(news["data"]["detail"], json!({}));
        let own = receiver.got().into_iter().find(|r| r.path == "/acme" && r.header("webhook-id") == evt(published_at)).unwrap().json();
        assert_eq!(own["data"]["actor"], provider.id.to_string());
        assert_eq!(own["data"]["detail"]["status"], "listed");

        // Every request is signed with its webhook's secret; a forgery is not.
        let got = receiver.got();
        assert_eq!(got.len(), expect_theirs.len() + expect_mine.len() + 3, "the first three failed and were sent again; nothing else twice");
        for r in &got {
            let secret = if r.path == "/lab" { &their_secret } else { &my_secret };
            assert!(r.verifies(secret), "signature of {}", r.header("webhook-id"));
            assert_eq!(r.header("content-type"), "application/json");
            let event = r.json();
            assert_eq!(event["id"], r.header("webhook-id"));
            let index = event["data"]["audit_index"].as_u64().unwrap();
            assert_eq!(event["id"], evt(index));
            assert_eq!(entries[index as usize]["action"], event["data"]["action"], "the event is its log entry");
        }
        let sample = got.iter().find(|r| r.path == "/lab").unwrap();
        assert!(!sample.verifies(&my_secret), "another secret does not verify it");
        let mut forged = sample.clone();
        forged.body = forged.body.iter().map(|b| if *b == b'1' { b'2' } else { *b }).collect();
        assert!(!forged.verifies(&their_secret), "an altered body does not verify");
        let revoke_event = got.iter().find(|r| r.header("webhook-id") == evt(revoked_at)).unwrap().json();
        assert_eq!(revoke_event["type"], "grant.revoked");
        assert_eq!(revoke_event["data"]["subject"], grant.as_str());

        // The delivery log: the failures, then the success.
        let log = app.get(&format!("/api/v1/webhooks/{theirs}/deliveries?limit=200"), Some(&consumer.token)).await;
        log.expect(200);
        let deliveries = log.body["items"].as_array().unwrap().clone();
        assert_eq!(deliveries.len(), expect_theirs.len(), "one delivery per event, however many instances");
        assert!(deliveries.iter().all(|d| d["state"] == "delivered"));
        let failed_attempts: usize = app.get(&format!("/api/v1/webhooks/{mine}/deliveries?limit=200"), Some(&provider.token)).await
            .body["items"].as_array().unwrap().iter()
            .chain(deliveries.iter())
            .flat_map(|d| d["log"].as_array().unwrap().clone())
            .filter(|a| a["status"] == 500)
            .count();
        assert_eq!(failed_attempts, 3, "the three refusals are in the delivery logs");

        // Sent again by hand, with the same id.
        let first = deliveries.iter().find(|d| d["event_id"] == evt(granted_at)).unwrap();
        let again = app.post(&format!("/api/v1/webhooks/{theirs}/deliveries/{}/redeliver", first["id"].as_str().unwrap()), Some(&consumer.token), json!({})).await;
        again.expect(200);
        assert_eq!(again.body["state"], "pending");
        for _ in 0..200 {
            if receiver.accepted("/lab", &evt(granted_at)) > 1 { break; }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(receiver.accepted("/lab", &evt(granted_at)), 2, "sent once more, with the same id");
        app.post(&format!("/api/v1/webhooks/{theirs}/deliveries/{}/redeliver", first["id"].as_str().unwrap()), Some(&provider.token), json!({}))
            .await.problem(404, "not-found");

        // Removed: nothing more is sent, and it cannot be removed twice.
        let removed = app.call(reqwest::Method::DELETE, &format!("/api/v1/webhooks/{theirs}"), Some(&consumer.token), None).await;
        removed.expect(200);
        assert_eq!(removed.body["state"], "removed");
        app.call(reqwest::Method::DELETE, &format!("/api/v1/webhooks/{theirs}"), Some(&consumer.token), None)
            .await.problem(409, "invalid-state");
        app.post(&format!("/api/v1/webhooks/{theirs}/deliveries/{}/redeliver", first["id"].as_str().unwrap()), Some(&consumer.token), json!({}))
            .await.problem(409, "invalid-state");
        let second = app.listed_dataset(&provider, "air quality").await;
        let second_published = entries_about(&app, "dataset.published", &second.to_string()).await;
        receiver.wait_for("/acme", &ids([second_published])).await;
        assert!(!receiver.ids_by_path()["/lab"].contains(&evt(second_published)), "a removed webhook hears nothing");
        let tail = app.audit_since(0).await;
        assert!(tail.iter().any(|e| e["action"] == "webhook.removed" && e["subject"] == theirs.to_string()));
        assert!(tail.iter().any(|e| e["action"] == "webhook.redelivered" && e["subject"] == theirs.to_string()));
    }

    async fn the_feed_and_the_stream_tell_each_account_its_own(app: TestApp, Box::new(quick)) {
        let provider = app.provider("acme").await;
        let consumer = app.consumer("lab").await;
        let other = app.consumer("other-lab").await;
        let auditor = app.auditor("aud").await;
        let dataset = app.listed_dataset(&provider, "traffic counts").await;

        // The stream, opened before anything of the consumer's happens.
        let stream = app.client.get(app.url("/api/v1/events/stream?types=grant.issued,grant.revoked,request.decided"))
            .bearer_auth(&consumer.token).send().await.unwrap();
        assert_eq!(stream.status(), 200);
        assert_eq!(stream.headers()["content-type"], "text/event-stream");
        let mut chunks = stream.bytes_stream();

        let grant = app.grant_for(&provider, &other, request_body(dataset), json!({})).await;
        let mine = app.grant_for(&provider, &consumer, request_body(dataset), json!({})).await;
        let revoked = app.post(&format!("/api/v1/grants/{mine}/revoke"), Some(&provider.token), json!({"reason": "over"})).await;
        revoked.expect(200);

        let mut text = String::new();
        while !text.contains("event: grant.revoked") {
            let chunk = tokio::time::timeout(Duration::from_secs(20), chunks.next()).await
                .expect("the stream sends within 20 s").expect("the stream stays open").unwrap();
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        assert!(text.starts_with("retry: "));
        let events: Vec<(String, String, Value)> = text.split("\n\n").filter_map(|block| {
            let field = |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(str::to_owned);
            Some((field("id: ")?, field("event: ")?, serde_json::from_str(&field("data: ")?).unwrap()))
        }).collect();
        let kinds: Vec<&str> = events.iter().map(|(_, kind, _)| kind.as_str()).collect();
        assert_eq!(kinds, ["request.decided", "grant.issued", "grant.revoked"], "only its own, in log order");
        assert!(events.iter().all(|(id, _, data)| data["id"] == id.as_str()));
        assert!(!text.contains(&grant), "another consumer's grant is not its news");
        let issued_id = events[1].0.clone();

        // Reconnecting after an event gets what followed it.
        let again = app.client.get(app.url("/api/v1/events/stream?types=grant.issued,grant.revoked"))
            .bearer_auth(&consumer.token).header("Last-Event-ID", &issued_id).send().await.unwrap();
        let mut again = again.bytes_stream();
        let mut text = String::new();
        while !text.contains("event: grant.revoked") {
            let chunk = tokio::time::timeout(Duration::from_secs(20), again.next()).await.unwrap().unwrap().unwrap();
            text.push_str(std::str::from_utf8(&chunk).unwrap());
        }
        assert!(!text.contains("event: grant.issued"));
        app.get("/api/v1/events/stream", None).await.problem(401, "unauthenticated");
        let bad = app.client.get(app.url("/api/v1/events/stream")).bearer_auth(&consumer.token)
            .header("Last-Event-ID", "yesterday").send().await.unwrap();
        assert_eq!(bad.status(), 400);

        // The feed: the same events to catch up with, page by page.
        let feed = app.get("/api/v1/events?from=0&limit=200", Some(&consumer.token)).await;
        feed.expect(200);
        assert_eq!(feed.body["caught_up"], true);
        let types: Vec<&str> = feed.body["items"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
        assert_eq!(types, ["listing.published", "request.decided", "grant.issued", "grant.revoked"],
            "public news and its own, nothing of the other consumer's");
        let first = app.get("/api/v1/events?from=0&limit=1&types=grant.issued", Some(&consumer.token)).await;
        first.expect(200);
        assert_eq!(first.body["items"][0]["data"]["subject"], mine.as_str());
        assert_eq!(first.body["caught_up"], false);
        let next = first.body["next_from"].as_u64().unwrap();
        let rest = app.get(&format!("/api/v1/events?from={next}&types=grant.issued"), Some(&consumer.token)).await;
        assert_eq!(rest.body["items"].as_array().unwrap().len(), 0);
        // Oversight hears everything.
        let all = app.get("/api/v1/events?from=0&limit=200&types=grant.issued", Some(&auditor.token)).await;
        assert_eq!(all.body["items"].as_array().unwrap().len(), 2);
        app.get("/api/v1/events?types=grant.mangled", Some(&consumer.token)).await.problem(400, "invalid-parameter");
        app.get("/api/v1/events?limit=0", Some(&consumer.token)).await.problem(400, "invalid-parameter");
        app.get("/api/v1/events?from=9223372036854775808", Some(&consumer.token)).await.problem(400, "invalid-parameter");

        // A grant near its end is told once, to its parties: the other
        // consumer's (the consumer's own is revoked).
        assert_eq!(datamarket::grants::sweeper::notice_expiring(&app.market).await.unwrap(), 1);
        assert_eq!(datamarket::grants::sweeper::notice_expiring(&app.market).await.unwrap(), 0, "once");
        let expiring = app.get("/api/v1/events?from=0&types=grant.expiring", Some(&other.token)).await;
        expiring.expect(200);
        assert_eq!(expiring.body["items"].as_array().unwrap().len(), 1);
        assert_eq!(expiring.body["items"][0]["data"]["subject"], grant.as_str());
        let theirs = app.get("/api/v1/events?from=0&types=grant.expiring", Some(&consumer.token)).await;
        assert_eq!(theirs.body["items"].as_array().unwrap().len(), 0);

        // Suspended: the open stream ends with a last word, the feed refuses.
        let admin = app.operator_account("admin", &[datamarket::domain::Role::Admin]).await;
        app.post(&format!("/api/v1/accounts/{}/suspend", consumer.id), Some(&admin.token), json!({"reason": "abuse"})).await.expect(200);
        let mut text = String::new();
        while let Some(chunk) = tokio::time::timeout(Duration::from_secs(20), again.next()).await.expect("the stream ends") {
            text.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
        }
        assert!(text.contains("event: error"), "{text}");
        app.get("/api/v1/events", Some(&consumer.token)).await.problem(403, "account-suspended");
    }
}

async fn entries_about(app: &TestApp, action: &str, subject: &str) -> u64 {
    app.audit_since(0)
        .await
        .iter()
        .find(|e| e["action"] == action && e["subject"] == subject)
        .expect("the entry")["index"]
        .as_u64()
        .unwrap()
}

async fn kill_nine_loses_no_committed_event(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let (url, schema) = fresh_database(backend, dir.path()).expect(NO_POSTGRES);
    let _schema = SchemaGuard(schema);
    let settings = [
        ("DATAMARKET__EVENTS__ALLOW_PRIVATE_TARGETS", "true"),
        ("DATAMARKET__EVENTS__DISPATCH_INTERVAL_MS", "50"),
        ("DATAMARKET__EVENTS__RETRY_BASE_MS", "50"),
        ("DATAMARKET__EVENTS__RETRY_MAX_MS", "200"),
        ("DATAMARKET__EVENTS__MAX_ATTEMPTS", "1000"),
        // A delivery the killed process held waits out its lease (twice
        // this plus 5 s) before another sender takes it.
        ("DATAMARKET__EVENTS__TIMEOUT_MS", "1000"),
    ];
    let start = || ServerProcess::start_configured(&url, dir.path(), 4, "error", &settings);
    let mut server = start();
    server.ready().await;
    let client = reqwest::Client::new();
    let api = |server: &ServerProcess, path: &str| format!("{}/api/v1{path}", server.base);
    let made = client
        .post(api(&server, "/accounts"))
        .json(&json!({"name": "acme", "password": PASSWORD, "roles": ["provider"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let token = |server: &ServerProcess| {
        let (client, url) = (client.clone(), api(server, "/auth/token"));
        async move {
            let body: Value = client
                .post(url)
                .json(&json!({"name": "acme", "password": PASSWORD}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let acme = token(&server).await;
    // The receiver is down while the market changes and dies.
    let receiver = Receiver::start(0);
    *receiver.down.lock().unwrap() = true;
    let hook = client
        .post(api(&server, "/webhooks"))
        .bearer_auth(&acme)
        .json(
            &json!({"url": format!("{}/acme", receiver.base), "event_types": ["listing.changed"]}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 201);

    // Two rounds: killed while deliveries were failing, and killed at once
    // after the changes, before the dispatcher could have read them.
    let mut committed = BTreeSet::new();
    for round in 0..2 {
        let draft: Value = client
            .post(api(&server, "/datasets"))
            .bearer_auth(&acme)
            .json(&dataset_body(&format!("counts {round}"), "general"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let id = draft["id"].as_str().unwrap().to_owned();
        for n in 0..5 {
            let edited = client
                .patch(api(&server, &format!("/datasets/{id}")))
                .bearer_auth(&acme)
                .json(&json!({"title": format!("counts {round}.{n}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(edited.status(), 200);
            let index: u64 = edited.headers()["audit-index"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            committed.insert(evt(index));
        }
        if round == 0 {
            // Let the dispatcher fan out and fail a few times.
            for _ in 0..200 {
                if receiver.got().len() >= 5 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            assert!(!receiver.got().is_empty(), "the dispatcher tried");
        }
        server.child.kill().expect("SIGKILL");
        server.child.wait().expect("reaped");
        server = start();
        server.ready().await;
    }
    *receiver.down.lock().unwrap() = false;
    receiver.wait_for("/acme", &committed).await;
    assert_eq!(
        receiver.ids_by_path()["/acme"],
        committed,
        "every committed change's event arrived, and nothing else"
    );
    // And the market knows it: every delivery is delivered (the last
    // outcomes may still be on their way to the database).
    let hook: Value = hook.json().await.unwrap();
    let acme = token(&server).await;
    let deliveries = api(
        &server,
        &format!(
            "/webhooks/{}/deliveries?limit=200",
            hook["id"].as_str().unwrap()
        ),
    );
    let mut states = Vec::new();
    for _ in 0..100 {
        let log: Value = client
            .get(&deliveries)
            .bearer_auth(&acme)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        states = log["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["state"].as_str().unwrap().to_owned())
            .collect();
        if states.iter().all(|s| s == "delivered") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        states.len(),
        committed.len(),
        "one delivery per committed event"
    );
    assert!(states.iter().all(|s| s == "delivered"), "{states:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_loses_no_committed_event_sqlite() {
    kill_nine_loses_no_committed_event(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
async fn kill_nine_loses_no_committed_event_postgres() {
    kill_nine_loses_no_committed_event(Backend::Postgres).await;
}
