//! Conditional requests: a client that holds the current bytes gets 304,
//! and for payloads only after its access was checked — a 304 is never a
//! way around a grant, and never counts as a download.

use reqwest::Method;
use serde_json::json;

use crate::support::*;

async fn conditional(app: &TestApp, path: &str, token: Option<&str>, etag: &str) -> Reply {
    let mut req = app
        .client
        .request(Method::GET, app.url(path))
        .header("if-none-match", etag);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    TestApp::read(req.send().await.unwrap()).await
}

both_backends! {
    async fn dataset_documents_revalidate(app: TestApp) {
        let acme = app.provider("acme").await;
        let id = app.listed_dataset(&acme, "Traffic").await;
        let path = format!("/api/v1/datasets/{id}");
        let first = app.get(&path, None).await;
        first.expect(200);
        let etag = first.header("etag").expect("an ETag").to_owned();
        let again = conditional(&app, &path, None, &etag).await;
        again.expect(304);
        assert!(again.bytes.is_empty());
        assert_eq!(again.header("etag"), Some(etag.as_str()));
        conditional(&app, &path, None, "\"something-else\"").await.expect(200);
        // A change makes a new ETag.
        app.post(&format!("{path}/delist"), Some(&acme.token), json!({})).await.expect(200);
        let changed = conditional(&app, &path, Some(&acme.token), &etag).await;
        changed.expect(200);
        assert_ne!(changed.header("etag"), Some(etag.as_str()));
    }

    async fn payloads_revalidate_after_access_is_checked(app: TestApp) {
        let acme = app.provider("acme").await;
        let consumer = app.consumer("consumer").await;
        let stranger = app.consumer("stranger").await;
        let id = app.listed_dataset(&acme, "Traffic").await;
        let content = format!("/api/v1/datasets/{id}/versions/1/content");
        let sha = app.get(&format!("/api/v1/datasets/{id}/versions"), None).await.body[0]["sha256"]
            .as_str()
            .unwrap()
            .to_owned();
        let etag = format!("\"{sha}\"");
        let request = app.post("/api/v1/access-requests", Some(&consumer.token), json!({
            "dataset": id, "purpose": "p", "duration_days": 5, "max_downloads": 2,
            "processing": false, "cross_border": false})).await;
        let grant = app.post(&format!("/api/v1/access-requests/{}/approve", request.id()), Some(&acme.token), json!({}))
            .await.body["grant"].as_str().unwrap().to_owned();

        let before = app.audit_size().await;
        conditional(&app, &content, Some(&acme.token), &etag).await.expect(304);
        let unchanged = conditional(&app, &content, Some(&consumer.token), &etag).await;
        unchanged.expect(304);
        assert!(unchanged.bytes.is_empty());
        assert_eq!(app.audit_size().await, before, "a 304 delivers nothing and records nothing");
        let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&consumer.token)).await;
        assert_eq!(g.body["downloads_used"], 0, "a 304 is not a download");
        // Access is checked first: no grant, no 304.
        conditional(&app, &content, Some(&stranger.token), &etag).await.problem(403, "no-grant");
        conditional(&app, &content, None, &etag).await.problem(401, "unauthenticated");
        // A stale ETag gets the payload, counted.
        let fresh = conditional(&app, &content, Some(&consumer.token), "\"0000\"").await;
        fresh.expect(200);
        let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&consumer.token)).await;
        assert_eq!(g.body["downloads_used"], 1);
    }
}
