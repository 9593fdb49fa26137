//! Listings, versions, payloads, review and search.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::*;

both_backends! {
    async fn provider_creates_and_edits_a_draft(app: TestApp) {
        let acme = app.provider("acme").await;
        let before = app.audit_size().await;
        let reply = app.post("/api/v1/datasets", Some(&acme.token), dataset_body("城市交通流量", "general")).await;
        reply.expect(201);
        let id = reply.id();
        assert_eq!(reply.body["status"], "draft");
        assert_eq!(reply.body["provider"], acme.id.to_string());
        assert_eq!(reply.body["tags"], json!(["traffic", "交通"]));
        assert_eq!(reply.body["latest_version"], serde_json::Value::Null);
        assert_eq!(reply.audit_indexes().len(), 4, "the dataset and its three rights");

        let patched = app
            .patch(&format!("/api/v1/datasets/{id}"), Some(&acme.token),
                   json!({"title": "城市交通流量 2026", "price": {"amount": 1, "currency": "CNY"}}))
            .await;
        patched.expect(200);
        assert_eq!(patched.body["title"], "城市交通流量 2026");
        assert_eq!(patched.body["price"]["amount"], 1);
        assert_eq!(patched.body["description"], "Hourly vehicle counts at major intersections");
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(
            &entries,
            &["dataset.created", "right.registered", "right.registered", "right.registered", "dataset.updated"],
        );
        assert_eq!(entries[4]["detail"]["changed"], json!(["title", "price"]));
        assert_eq!(entries[0]["dataset"], id.to_string());
        assert_eq!(entries[0]["actor"], acme.id.to_string());
    }

    async fn creation_refusals(app: TestApp) {
        let acme = app.provider("acme").await;
        let buyer = app.consumer("buyer").await;
        let before = app.audit_size().await;
        app.post("/api/v1/datasets", Some(&buyer.token), dataset_body("x", "general"))
            .await
            .problem(403, "wrong-role");
        app.post("/api/v1/datasets", None, dataset_body("x", "general"))
            .await
            .problem(401, "unauthenticated");
        let mut bad = dataset_body("", "general");
        app.post("/api/v1/datasets", Some(&acme.token), bad.clone()).await.problem(422, "validation-failed");
        bad["title"] = json!("ok");
        bad["price"] = json!({"amount": -1, "currency": "CNY"});
        app.post("/api/v1/datasets", Some(&acme.token), bad.clone()).await.problem(422, "validation-failed");
        bad["price"] = json!({"amount": 1, "currency": "yuan"});
        app.post("/api/v1/datasets", Some(&acme.token), bad.clone()).await.problem(422, "validation-failed");
        bad["price"] = json!({"amount": 1, "currency": "CNY"});
        bad["classification"] = json!("secret");
        app.post("/api/v1/datasets", Some(&acme.token), bad.clone()).await.problem(422, "invalid-body");
        bad["classification"] = json!("general");
        bad["owner"] = json!("someone else");
        app.post("/api/v1/datasets", Some(&acme.token), bad.clone()).await.problem(422, "invalid-body");
        bad.as_object_mut().unwrap().remove("owner");
        bad["tags"] = json!((0..30).map(|i| format!("t{i}")).collect::<Vec<_>>());
        app.post("/api/v1/datasets", Some(&acme.token), bad).await.problem(422, "validation-failed");
        let long = "长".repeat(201);
        app.post("/api/v1/datasets", Some(&acme.token), dataset_body(&long, "general"))
            .await
            .problem(422, "validation-failed");
        assert_eq!(app.audit_size().await, before);
    }

    async fn drafts_are_private_and_edits_are_the_owners(app: TestApp) {
        let acme = app.provider("acme").await;
        let rival = app.provider("rival").await;
        let regulator = app.regulator("reg").await;
        let id = app.dataset(&acme, "Private draft", "general").await;
        let path = format!("/api/v1/datasets/{id}");
        app.get(&path, None).await.problem(404, "not-found");
        app.get(&path, Some(&rival.token)).await.problem(404, "not-found");
        app.get(&format!("{path}/versions"), Some(&rival.token)).await.problem(404, "not-found");
        app.get(&path, Some(&acme.token)).await.expect(200);
        app.get(&path, Some(&regulator.token)).await.expect(200);
        // The owner's edit answers with the listing exactly as it is read
        // back afterwards.
        let edited = app
            .patch(&path, Some(&acme.token), json!({"title": "Private draft, edited", "tags": ["b", "a"],
                "price": {"amount": 1250, "currency": "EUR"}, "sector": "transport"}))
            .await;
        edited.expect(200);
        assert_eq!(edited.body["title"], "Private draft, edited");
        assert_eq!(edited.body["price"], json!({"amount": 1250, "currency": "EUR"}));
        assert_eq!(app.get(&path, Some(&acme.token)).await.body, edited.body);
        let before = app.audit_size().await;
        app.patch(&path, Some(&rival.token), json!({"title": "mine"})).await.problem(404, "not-found");
        app.upload(&rival, id, b"x").await.problem(404, "not-found");
        app.post(&format!("{path}/publish"), Some(&rival.token), json!({})).await.problem(404, "not-found");
        assert_eq!(app.audit_size().await, before);

        // once listed it is public, but still only the owner's to change
        app.upload(&acme, id, b"a,b\n").await.expect(201);
        app.post(&format!("{path}/publish"), Some(&acme.token), json!({})).await.expect(200);
        app.get(&path, None).await.expect(200);
        let before = app.audit_size().await;
        app.upload(&rival, id, b"x").await.problem(403, "not-permitted");
        app.post(&format!("{path}/delist"), Some(&rival.token), json!({})).await.problem(403, "not-permitted");
        app.patch(&path, Some(&acme.token), json!({"title": "too late"})).await.problem(409, "invalid-state");
        assert_eq!(app.audit_size().await, before);
        // a download without a grant is refused, and the refusal recorded
        app.get(&format!("{path}/versions/1/content"), Some(&rival.token)).await.problem(403, "no-grant");
        TestApp::assert_actions(&app.audit_since(before).await, &["delivery.refused"]);
        app.get("/api/v1/datasets/not-a-uuid", None).await.problem(400, "invalid-parameter");
        app.get(&format!("/api/v1/datasets/{}", uuid::Uuid::now_v7()), None).await.problem(404, "not-found");
    }

    async fn versions_are_immutable_and_served_with_their_hash(app: TestApp) {
        let acme = app.provider("acme").await;
        let id = app.dataset(&acme, "Versions", "general").await;
        let first = b"city,count\nbeijing,42\nshanghai,7\n".to_vec();
        let before = app.audit_size().await;
        let v1 = app.upload(&acme, id, &first).await;
        v1.expect(201);
        assert_eq!(v1.body["version"], 1);
        assert_eq!(v1.body["size"], first.len());
        assert_eq!(v1.body["media_type"], "text/csv");
        assert_eq!(v1.body["sha256"], hex::encode(Sha256::digest(&first)));
        let v2 = app
            .post_raw(&format!("/api/v1/datasets/{id}/versions"), Some(&acme.token), "application/json", b"{}".to_vec())
            .await;
        v2.expect(201);
        assert_eq!(v2.body["version"], 2);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["version.added", "version.added"]);
        assert_eq!(entries[0]["detail"]["sha256"], v1.body["sha256"]);
        assert_eq!(entries[0]["subject"], format!("{id}/1"));

        let list = app.get(&format!("/api/v1/datasets/{id}/versions"), Some(&acme.token)).await;
        list.expect(200);
        assert_eq!(list.body.as_array().unwrap().len(), 2);
        assert_eq!(list.body[0]["version"], 1);

        let content = app.get(&format!("/api/v1/datasets/{id}/versions/1/content"), Some(&acme.token)).await;
        content.expect(200);
        assert_eq!(content.bytes.as_ref(), first.as_slice());
        assert_eq!(content.header("content-type"), Some("text/csv"));
        assert_eq!(content.header("content-length"), Some(first.len().to_string().as_str()));
        assert_eq!(content.header("etag"), Some(format!("\"{}\"", v1.body["sha256"].as_str().unwrap()).as_str()));
        use base64::Engine;
        let digest = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(&first));
        assert_eq!(content.header("repr-digest"), Some(format!("sha-256=:{digest}:").as_str()));

        let ranged = app
            .client
            .get(app.url(&format!("/api/v1/datasets/{id}/versions/1/content")))
            .bearer_auth(&acme.token)
            .header("range", "bytes=5-9")
            .send()
            .await
            .unwrap();
        let ranged = TestApp::read(ranged).await;
        ranged.expect(206);
        assert_eq!(ranged.bytes.as_ref(), &first[5..10]);
        assert_eq!(ranged.header("content-range"), Some(format!("bytes 5-9/{}", first.len()).as_str()));
        let outside = app
            .client
            .get(app.url(&format!("/api/v1/datasets/{id}/versions/1/content")))
            .bearer_auth(&acme.token)
            .header("range", "bytes=1000-")
            .send()
            .await
            .unwrap();
        TestApp::read(outside).await.problem(416, "range-not-satisfiable");

        app.get(&format!("/api/v1/datasets/{id}/versions/3/content"), Some(&acme.token))
            .await
            .problem(404, "not-found");
        app.get(&format!("/api/v1/datasets/{id}/versions/1/content"), None)
            .await
            .problem(401, "unauthenticated");
        app.post_raw(&format!("/api/v1/datasets/{id}/versions"), Some(&acme.token), "not a type", b"x".to_vec())
            .await
            .problem(415, "unsupported-media-type");
        let before = app.audit_size().await;
        app.post_raw(&format!("/api/v1/datasets/{id}/versions"), Some(&acme.token), "text/csv", vec![])
            .await
            .problem(422, "validation-failed");
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(vec![])];
        let empty_stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let reply = app
            .client
            .post(app.url(&format!("/api/v1/datasets/{id}/versions")))
            .bearer_auth(&acme.token)
            .body(empty_stream)
            .send()
            .await
            .unwrap();
        TestApp::read(reply).await.problem(422, "validation-failed");
        assert_eq!(app.audit_size().await, before, "empty payloads are not versions");
    }

    async fn publishing_rules(app: TestApp) {
        let acme = app.provider("acme").await;
        let regulator = app.regulator("reg").await;
        let buyer = app.consumer("buyer").await;

        // no version yet
        let general = app.dataset(&acme, "General", "general").await;
        let before = app.audit_size().await;
        app.post(&format!("/api/v1/datasets/{general}/publish"), Some(&acme.token), json!({}))
            .await
            .problem(422, "no-version");
        // core data is never listed, version or not
        let core = app.dataset(&acme, "Core", "core").await;
        app.upload(&acme, core, b"secret").await.expect(201);
        let before_core = app.audit_size().await;
        let refused = app.post(&format!("/api/v1/datasets/{core}/publish"), Some(&acme.token), json!({})).await;
        refused.problem(422, "core-data-not-tradable");
        assert_eq!(app.audit_size().await, before_core);
        assert_eq!(before_core, before + 5, "only the core dataset's creation (with its rights) and upload were recorded");

        app.upload(&acme, general, b"a\n").await.expect(201);
        let listed = app.post(&format!("/api/v1/datasets/{general}/publish"), Some(&acme.token), json!({})).await;
        listed.expect(200);
        assert_eq!(listed.body["status"], "listed");
        assert!(listed.body["listed_at"].is_string());
        app.post(&format!("/api/v1/datasets/{general}/publish"), Some(&acme.token), json!({}))
            .await
            .problem(409, "invalid-state");

        // important data waits for a regulator
        let important = app.dataset(&acme, "Important", "important").await;
        app.upload(&acme, important, b"b\n").await.expect(201);
        // ... and is listed only by a participant a regulator verified
        app.post(&format!("/api/v1/datasets/{important}/publish"), Some(&acme.token), json!({}))
            .await
            .problem(403, "unverified-participant");
        app.verified(&acme).await;
        let pending = app.post(&format!("/api/v1/datasets/{important}/publish"), Some(&acme.token), json!({})).await;
        pending.expect(200);
        assert_eq!(pending.body["status"], "pending_review");
        app.get(&format!("/api/v1/datasets/{important}"), Some(&buyer.token)).await.problem(404, "not-found");
        let review = format!("/api/v1/datasets/{important}/review");
        app.post(&review, Some(&acme.token), json!({"decision": "approve"})).await.problem(403, "wrong-role");
        app.post(&review, Some(&regulator.token), json!({"decision": "reject"})).await.problem(422, "validation-failed");
        app.post(&review, Some(&regulator.token), json!({"decision": "maybe"})).await.problem(422, "invalid-body");
        let before = app.audit_size().await;
        let approved = app.post(&review, Some(&regulator.token), json!({"decision": "approve", "reason": "checked"})).await;
        approved.expect(200);
        assert_eq!(approved.body["status"], "listed");
        assert_eq!(approved.body["review"]["reviewer"], regulator.id.to_string());
        assert_eq!(approved.body["review"]["reason"], "checked");
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["dataset.reviewed"]);
        assert_eq!(entries[0]["detail"]["decision"], "approve");
        app.post(&review, Some(&regulator.token), json!({"decision": "approve"})).await.problem(409, "invalid-state");
        app.get(&format!("/api/v1/datasets/{important}"), Some(&buyer.token)).await.expect(200);

        // a rejection, then the owner edits it back to draft
        let second = app.dataset(&acme, "Important 2", "important").await;
        app.upload(&acme, second, b"c\n").await.expect(201);
        app.post(&format!("/api/v1/datasets/{second}/publish"), Some(&acme.token), json!({})).await.expect(200);
        let rejected = app
            .post(&format!("/api/v1/datasets/{second}/review"), Some(&regulator.token),
                  json!({"decision": "reject", "reason": "personal data not declared"}))
            .await;
        rejected.expect(200);
        assert_eq!(rejected.body["status"], "rejected");
        let edited = app.patch(&format!("/api/v1/datasets/{second}"), Some(&acme.token), json!({"personal_data": true})).await;
        edited.expect(200);
        assert_eq!(edited.body["status"], "draft");
    }

    async fn delisting(app: TestApp) {
        let acme = app.provider("acme").await;
        let regulator = app.regulator("reg").await;
        let buyer = app.consumer("buyer").await;
        let id = app.listed_dataset(&acme, "To delist").await;
        let path = format!("/api/v1/datasets/{id}");
        app.post(&format!("{path}/delist"), Some(&buyer.token), json!({})).await.problem(403, "not-permitted");
        let before = app.audit_size().await;
        let delisted = app.post(&format!("{path}/delist"), Some(&acme.token), json!({"reason": "stale"})).await;
        delisted.expect(200);
        assert_eq!(delisted.body["status"], "delisted");
        TestApp::assert_actions(&app.audit_since(before).await, &["dataset.delisted"]);
        app.get(&path, Some(&buyer.token)).await.problem(404, "not-found");
        app.post(&format!("{path}/delist"), Some(&acme.token), json!({})).await.problem(409, "invalid-state");
        // published again, then delisted by a regulator, with no body at all
        app.post(&format!("{path}/publish"), Some(&acme.token), json!({})).await.expect(200);
        let reply = app.client.post(app.url(&format!("{path}/delist"))).bearer_auth(&regulator.token).send().await.unwrap();
        TestApp::read(reply).await.expect(200);
        // a body that is present must be right
        app.post(&format!("{path}/delist"), Some(&acme.token), json!({"because": 1})).await.problem(422, "invalid-body");
    }

    async fn catalog_search(app: TestApp) {
        let acme = app.provider("acme").await;
        let other = app.provider("other").await;
        let traffic = app.listed_dataset(&acme, "城市交通流量").await;
        let weather = {
            let id = app.dataset(&other, "Weather stations hourly", "general").await;
            app.patch(&format!("/api/v1/datasets/{id}"), Some(&other.token),
                      json!({"tags": ["weather", "气象"], "description": "Temperature and 降水 by station"})).await.expect(200);
            app.upload(&other, id, b"t\n").await.expect(201);
            app.post(&format!("/api/v1/datasets/{id}/publish"), Some(&other.token), json!({})).await.expect(200);
            id
        };
        let _draft = app.dataset(&acme, "交通 draft never listed", "general").await;

        let ids = |reply: &Reply| -> Vec<String> {
            reply.body["items"].as_array().unwrap().iter().map(|d| d["id"].as_str().unwrap().to_owned()).collect()
        };
        let search = |q: &str| {
            let q = q.to_owned();
            let app = &app;
            async move {
                let reply = app.client.get(app.url("/api/v1/datasets")).query(&[("q", q.as_str())]).send().await.unwrap();
                TestApp::read(reply).await
            }
        };
        let r = search("交通").await;
        r.expect(200);
        assert_eq!(ids(&r), vec![traffic.to_string()], "two-character Chinese query");
        assert_eq!(ids(&search("交通流量").await), vec![traffic.to_string()]);
        assert_eq!(ids(&search("城市 流量").await), vec![traffic.to_string()], "every word must match");
        assert_eq!(ids(&search("WEATHER").await), vec![weather.to_string()], "case-insensitive");
        assert_eq!(ids(&search("降水").await), vec![weather.to_string()], "description");
        assert_eq!(ids(&search("气象").await), vec![weather.to_string()], "tags");
        assert!(ids(&search("100%_").await).is_empty(), "wildcards are literal");
        assert!(ids(&search("\"quoted").await).is_empty());
        assert_eq!(ids(&search("hourly").await).len(), 2);

        let r = app.get(&format!("/api/v1/datasets?provider={}", other.id), None).await;
        assert_eq!(ids(&r), vec![weather.to_string()]);
        let r = app.get("/api/v1/datasets?tag=traffic", None).await;
        assert_eq!(ids(&r), vec![traffic.to_string()]);
        let r = app.get("/api/v1/datasets?classification=important", None).await;
        assert!(ids(&r).is_empty());
        app.get("/api/v1/datasets?classification=secret", None).await.problem(400, "invalid-parameter");
        app.get("/api/v1/datasets?limit=0", None).await.problem(400, "invalid-parameter");
        app.get("/api/v1/datasets?limit=100000", None).await.problem(400, "invalid-parameter");
        app.get("/api/v1/datasets?cursor=garbage", None).await.problem(400, "invalid-cursor");
        let long = "字".repeat(201);
        let reply = app.client.get(app.url("/api/v1/datasets")).query(&[("q", long.as_str())]).send().await.unwrap();
        TestApp::read(reply).await.problem(400, "invalid-parameter");
        // Control characters (a NUL broke SQLite's full-text query) are refused.
        search("交\u{0}通").await.problem(400, "invalid-parameter");
        search("a\u{8}b").await.problem(400, "invalid-parameter");
        app.get("/api/v1/datasets?tag=traffic%00", None).await.problem(400, "invalid-parameter");
    }

    async fn catalog_pages_are_stable(app: TestApp) {
        let acme = app.provider("acme").await;
        let mut created = Vec::new();
        for i in 0..5 {
            created.push(app.listed_dataset(&acme, &format!("Set {i}")).await.to_string());
        }
        let mut seen = Vec::new();
        let mut path = "/api/v1/datasets?limit=2".to_owned();
        loop {
            let page = app.get(&path, None).await;
            page.expect(200);
            for item in page.body["items"].as_array().unwrap() {
                seen.push(item["id"].as_str().unwrap().to_owned());
            }
            match page.body["next_cursor"].as_str() {
                Some(cursor) => path = format!("/api/v1/datasets?limit=2&cursor={cursor}"),
                None => break,
            }
        }
        created.reverse();
        assert_eq!(seen, created, "newest first, each exactly once");
    }
}

mod upload_limit {
    use super::*;

    async fn case(app: TestApp) {
        let acme = app.provider("acme").await;
        let id = app.dataset(&acme, "Too big", "general").await;
        let before = app.audit_size().await;
        let path = format!("/api/v1/datasets/{id}/versions");
        // declared too large: refused before the body is read
        app.post_raw(&path, Some(&acme.token), "text/plain", vec![b'x'; 4096 + 1])
            .await
            .problem(413, "payload-too-large");
        // streamed without a length: refused once the limit is passed
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
            (0..10).map(|_| Ok(vec![b'y'; 1000])).collect();
        let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
        let reply = app
            .client
            .post(app.url(&path))
            .bearer_auth(&acme.token)
            .body(body)
            .send()
            .await
            .unwrap();
        TestApp::read(reply).await.problem(413, "payload-too-large");
        assert_eq!(app.audit_size().await, before, "nothing recorded");
        let versions = app.get(&path, Some(&acme.token)).await;
        assert_eq!(versions.body, json!([]));
        // A directory is walked whole (a half-written part is a file too);
        // an S3 store is asked for its keys, multipart uploads aborted.
        let kept: Vec<String> = match app.settings.storage.backend {
            datamarket::config::StorageBackend::File => walk(&app.settings.storage.objects_dir)
                .iter()
                .map(|p| p.display().to_string())
                .collect(),
            datamarket::config::StorageBackend::S3 => {
                app.market.objects.keys().await.expect("the store lists")
            }
        };
        assert!(
            kept.is_empty(),
            "nothing kept in the object store: {kept:?}"
        );
        // exactly at the limit is fine
        app.post_raw(&path, Some(&acme.token), "text/plain", vec![b'z'; 4096])
            .await
            .expect(201);
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    files.extend(walk(&path));
                } else {
                    files.push(path);
                }
            }
        }
        files
    }

    fn small() -> Tweak {
        Box::new(|s| s.limits.upload_bytes = 4096)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        case(TestApp::spawn_with(Backend::Sqlite, small()).await.unwrap()).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
    async fn postgres() {
        case(
            TestApp::spawn_with(Backend::Postgres, small())
                .await
                .expect(NO_POSTGRES),
        )
        .await
    }
}
