//! Conditional requests: a client that holds the current bytes gets 304,
//! and for payloads only after its access was checked — a 304 is never a
//! way around a grant, and never counts as a download.

use serde_json::json;

use crate::support::*;

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

/// The twin's answers to a search and to each dataset, and what the
/// database holds now, read through the catalog service.
async fn twin_agrees(app: &TestApp, twin: &TestApp, datasets: &[uuid::Uuid], step: &str) {
    let search = "/api/v1/datasets?q=Harbour&limit=10";
    let page = twin.get(search, None).await;
    page.expect(200);
    let now = datamarket::catalog::search(
        &app.market,
        datamarket::catalog::SearchQuery {
            q: Some("Harbour".into()),
            limit: Some(10),
            ..Default::default()
        },
    )
    .await
    .expect("the search reads");
    assert_eq!(
        page.body,
        serde_json::to_value(now).unwrap(),
        "search after {step}"
    );
    for id in datasets {
        let path = format!("/api/v1/datasets/{id}");
        let answer = twin.get(&path, None).await;
        match datamarket::catalog::get(&app.market, None, *id).await {
            Ok(dataset) => {
                answer.expect(200);
                assert_eq!(
                    answer.body,
                    serde_json::to_value(dataset).unwrap(),
                    "{id} after {step}"
                );
            }
            Err(_) => {
                answer.expect(404);
            }
        }
    }
}

both_backends! {
    // Public answers are kept between requests (server.public_answers_bytes):
    // after every change, made through the other instance, each answer is
    // what the database holds at once, never the kept one.
    async fn kept_answers_follow_every_instance(app: TestApp) {
        let twin = app.twin().await;
        let acme = app.provider("acme").await;
        let first = app.listed_dataset(&acme, "Harbour traffic").await;
        let mut datasets = vec![first];
        twin_agrees(&app, &twin, &datasets, "the first listing").await;
        // Read again: the same bytes and ETag, and 304 for whoever has them.
        let search = "/api/v1/datasets?q=Harbour&limit=10";
        let (one, two) = (twin.get(search, None).await, twin.get(search, None).await);
        assert_eq!(one.bytes, two.bytes);
        let etag = one.header("etag").expect("a search page has an ETag").to_owned();
        assert_eq!(two.header("etag"), Some(etag.as_str()));
        conditional(&twin, search, None, &etag).await.expect(304);

        // Changes that leave the catalog: a consumer, a request, a login.
        let lab = app.consumer("lab").await;
        app.post(
            "/api/v1/access-requests",
            Some(&lab.token),
            json!({"dataset": first, "purpose": "port study", "duration_days": 7,
                   "max_downloads": 3, "processing": false, "cross_border": false}),
        )
        .await
        .expect(201);
        twin_agrees(&app, &twin, &datasets, "a request").await;
        conditional(&twin, search, None, &etag).await.expect(304);

        // A second listing, through the other instance.
        let second = app.listed_dataset(&acme, "Harbour cranes").await;
        datasets.push(second);
        twin_agrees(&app, &twin, &datasets, "a second listing").await;
        conditional(&twin, search, None, &etag).await.expect(200);

        // A draft is its owner's: read by the owner through the twin, it is
        // not kept for anyone else.
        let draft = app.dataset(&acme, "Harbour plans", "general").await;
        twin.get(&format!("/api/v1/datasets/{draft}"), Some(&acme.token)).await.expect(200);
        twin.get(&format!("/api/v1/datasets/{draft}"), None).await.expect(404);
        datasets.push(draft);
        twin_agrees(&app, &twin, &datasets, "a draft").await;

        // A new version of a listed dataset.
        app.upload(&acme, first, b"city,count\nshanghai,7\n").await.expect(201);
        twin_agrees(&app, &twin, &datasets, "a new version").await;

        // Delisting: gone from search and from the public at once.
        app.post(&format!("/api/v1/datasets/{first}/delist"), Some(&acme.token), json!({}))
            .await
            .expect(200);
        twin_agrees(&app, &twin, &datasets, "delisting").await;
        twin.get(&format!("/api/v1/datasets/{first}"), None).await.expect(404);

        // A token that is sent must still be valid, kept answer or not.
        twin.get(search, Some("not-a-token")).await.expect(401);
        twin.get(&format!("/api/v1/datasets/{second}"), Some("not-a-token")).await.expect(401);
    }
}
