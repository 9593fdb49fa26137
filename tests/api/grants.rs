//! Access requests, grants, delivery under policy, data tokens, revocation.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

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

async fn request(app: &TestApp, consumer: &User, body: Value) -> Uuid {
    let reply = app
        .post("/api/v1/access-requests", Some(&consumer.token), body)
        .await;
    reply.expect(201);
    assert_eq!(reply.body["state"], "pending");
    reply.id()
}

/// Approves with an optional narrowing policy; returns the grant id.
async fn approve(app: &TestApp, holder: &User, request: Uuid, policy: Option<Value>) -> Uuid {
    let body = policy.map(|p| json!({"policy": p})).unwrap_or(json!({}));
    let reply = app
        .post(
            &format!("/api/v1/access-requests/{request}/approve"),
            Some(&holder.token),
            body,
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.body["state"], "approved");
    reply.body["grant"].as_str().unwrap().parse().unwrap()
}

async fn download(app: &TestApp, token: &str, dataset: Uuid, version: i32) -> Reply {
    app.get(
        &format!("/api/v1/datasets/{dataset}/versions/{version}/content"),
        Some(token),
    )
    .await
}

/// A listed dataset with a granted consumer: (holder, consumer, dataset, grant).
async fn granted(
    app: &TestApp,
    max_downloads: u32,
    policy: Option<Value>,
) -> (User, User, Uuid, Uuid) {
    let holder = app.provider("holder").await;
    let consumer = app.consumer("consumer").await;
    let dataset = app.listed_dataset(&holder, "Licensed").await;
    let mut body = request_body(dataset);
    body["max_downloads"] = json!(max_downloads);
    let id = request(app, &consumer, body).await;
    let grant = approve(app, &holder, id, policy).await;
    (holder, consumer, dataset, grant)
}

both_backends! {
    async fn request_to_grant_to_delivery(app: TestApp) {
        let holder = app.provider("holder").await;
        let consumer = app.consumer("consumer").await;
        let dataset = app.listed_dataset(&holder, "Traffic").await;
        let before = app.audit_size().await;
        let id = request(&app, &consumer, request_body(dataset)).await;
        let incoming = app.get("/api/v1/access-requests?role=incoming", Some(&holder.token)).await;
        incoming.expect(200);
        assert_eq!(incoming.body["items"][0]["id"], id.to_string());
        let outgoing = app.get("/api/v1/access-requests", Some(&consumer.token)).await;
        assert_eq!(outgoing.body["items"][0]["id"], id.to_string());
        assert_eq!(app.get("/api/v1/access-requests?role=incoming", Some(&consumer.token)).await.body["items"], json!([]));

        let approved = app.post(&format!("/api/v1/access-requests/{id}/approve"), Some(&holder.token), json!({})).await;
        approved.expect(200);
        assert_eq!(approved.audit_indexes().len(), 2, "approval and grant");
        let grant: Uuid = approved.body["grant"].as_str().unwrap().parse().unwrap();
        let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&consumer.token)).await;
        g.expect(200);
        assert_eq!(g.body["status"], "active");
        assert_eq!(g.body["licensor"], holder.id.to_string());
        assert_eq!(g.body["licensee"], consumer.id.to_string());
        assert_eq!(g.body["policy"]["max_downloads"], 5);
        assert_eq!(g.body["policy"]["territory"], json!(["CN"]));
        assert_eq!(g.body["policy"]["purposes"], json!(["traffic model research"]));
        assert_eq!(g.body["policy"]["redistribution"], false);
        assert_eq!(g.body["downloads_remaining"], 5);

        let delivered = download(&app, &consumer.token, dataset, 1).await;
        delivered.expect(200);
        assert_eq!(delivered.bytes.as_ref(), b"city,count\nbeijing,42\n");
        let index = delivered.audit_indexes()[0];
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(
            &entries,
            &["access_request.created", "access_request.approved", "grant.created", "delivery.completed"],
        );
        let delivery = &entries[3];
        assert_eq!(delivery["index"], index);
        assert_eq!(delivery["detail"]["grant"], grant.to_string());
        assert_eq!(delivery["detail"]["version"], 1);
        assert_eq!(delivery["detail"]["bytes"], 22);
        assert_eq!(delivery["detail"]["sha256"], delivered.header("etag").unwrap().trim_matches('"'));
        assert!(delivery["parties"].as_array().unwrap().contains(&json!(holder.id.to_string())));
        let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&holder.token)).await;
        assert_eq!(g.body["downloads_used"], 1);

        let mine = app.get("/api/v1/grants", Some(&consumer.token)).await;
        assert_eq!(mine.body["items"][0]["id"], grant.to_string());
        let given = app.get("/api/v1/grants?role=licensor", Some(&holder.token)).await;
        assert_eq!(given.body["items"][0]["id"], grant.to_string());

        let odrl = app.get(&format!("/api/v1/grants/{grant}/policy"), Some(&consumer.token)).await;
        odrl.expect(200);
        assert_eq!(odrl.header("content-type"), Some("application/ld+json"));
        assert_eq!(odrl.body["@type"], "Agreement");
        assert_eq!(odrl.body["@context"], "http://www.w3.org/ns/odrl.jsonld");
        assert_eq!(odrl.body["assignee"], format!("urn:datamarket:account:{}", consumer.id));
        assert_eq!(odrl.body["permission"].as_array().unwrap().len(), 1, "use only: processing not granted");
        assert_eq!(odrl.body["permission"][0]["action"], "use");
        assert_eq!(odrl.body["prohibition"][0]["action"], "distribute");
        let operands: Vec<&str> = odrl.body["permission"][0]["constraint"].as_array().unwrap().iter().map(|c| c["leftOperand"].as_str().unwrap()).collect();
        assert_eq!(operands, vec!["purpose", "dateTime", "dateTime", "count", "spatial"]);
        let stranger = app.consumer("stranger").await;
        app.get(&format!("/api/v1/grants/{grant}"), Some(&stranger.token)).await.problem(404, "not-found");
        app.get(&format!("/api/v1/grants/{grant}/policy"), Some(&stranger.token)).await.problem(404, "not-found");
    }

    async fn request_refusals(app: TestApp) {
        let holder = app.provider("holder").await;
        let consumer = app.consumer("consumer").await;
        let listed = app.listed_dataset(&holder, "Listed").await;
        let draft = app.dataset(&holder, "Draft", "general").await;
        let personal = {
            let id = app.dataset(&holder, "Personal", "general").await;
            app.patch(&format!("/api/v1/datasets/{id}"), Some(&holder.token), json!({"personal_data": true})).await.expect(200);
            app.upload(&holder, id, b"p").await.expect(201);
            app.post(&format!("/api/v1/datasets/{id}/publish"), Some(&holder.token), json!({})).await.expect(200);
            id
        };
        let before = app.audit_size().await;
        let post = |token: String, body: Value| {
            let app = &app;
            async move { app.post("/api/v1/access-requests", Some(&token), body).await }
        };
        post(holder.token.clone(), request_body(listed)).await.problem(403, "wrong-role");
        post(consumer.token.clone(), request_body(draft)).await.problem(404, "not-found");
        post(consumer.token.clone(), request_body(Uuid::now_v7())).await.problem(404, "not-found");
        let mut b = request_body(personal);
        b["purpose"] = json!("  ");
        post(consumer.token.clone(), b).await.problem(422, "purpose-required");
        // personal data goes only to a verified participant
        post(consumer.token.clone(), request_body(personal)).await.problem(403, "unverified-participant");
        let mut b = request_body(listed);
        b["cross_border"] = json!(true);
        post(consumer.token.clone(), b.clone()).await.problem(422, "validation-failed");
        b["destination_country"] = json!("CN");
        post(consumer.token.clone(), b.clone()).await.problem(422, "validation-failed");
        b["destination_country"] = json!("singapore");
        post(consumer.token.clone(), b).await.problem(422, "validation-failed");
        let mut b = request_body(listed);
        b["destination_country"] = json!("SG");
        post(consumer.token.clone(), b).await.problem(422, "validation-failed");
        let mut b = request_body(listed);
        b["duration_days"] = json!(0);
        post(consumer.token.clone(), b).await.problem(422, "validation-failed");
        let mut b = request_body(listed);
        b["max_downloads"] = json!(10_000_000);
        post(consumer.token.clone(), b).await.problem(422, "validation-failed");
        let mut b = request_body(listed);
        b.as_object_mut().unwrap().remove("cross_border");
        post(consumer.token.clone(), b).await.problem(422, "invalid-body");
        app.post("/api/v1/access-requests", None, request_body(listed)).await.problem(401, "unauthenticated");
        assert_eq!(app.audit_size().await, before, "nothing recorded");
        // a holder cannot license its own dataset to itself
        let both = app.register("both", &["provider", "consumer"]).await;
        let own = app.listed_dataset(&both, "Own").await;
        post(both.token.clone(), request_body(own)).await.problem(422, "validation-failed");
        // one open request per consumer and dataset
        request(&app, &consumer, request_body(listed)).await;
        post(consumer.token.clone(), request_body(listed)).await.problem(409, "already-exists");
    }

    async fn who_decides_and_in_which_state(app: TestApp) {
        let holder = app.provider("holder").await;
        let other = app.provider("other-provider").await;
        let consumer = app.consumer("consumer").await;
        let regulator = app.regulator("reg").await;
        let a = app.listed_dataset(&other, "Dataset A").await;
        let b = app.listed_dataset(&holder, "Dataset B").await;
        let _ = a;
        let id = request(&app, &consumer, request_body(b)).await;
        let path = format!("/api/v1/access-requests/{id}");
        let before = app.audit_size().await;
        app.post(&format!("{path}/approve"), Some(&consumer.token), json!({})).await.problem(403, "not-permitted");
        app.post(&format!("{path}/approve"), Some(&other.token), json!({})).await.problem(404, "not-found");
        app.get(&path, Some(&other.token)).await.problem(404, "not-found");
        app.post(&format!("{path}/reject"), Some(&holder.token), json!({"reason": ""})).await.problem(422, "validation-failed");
        app.post(&format!("{path}/withdraw"), Some(&holder.token), json!({})).await.problem(403, "not-permitted");
        let lapses = chrono::Utc::now() + chrono::Duration::days(365);
        app.post(&format!("{path}/review"), Some(&regulator.token),
                 json!({"decision": "approve", "assessment_reference": "SA-1", "assessment_expires_at": lapses}))
            .await
            .problem(409, "invalid-state");
        // approval may narrow, never widen
        for policy in [
            json!({"max_downloads": 6}),
            json!({"processing": true}),
            json!({"territory": ["US"]}),
            json!({"territory": []}),
            json!({"not_after": "2100-01-01T00:00:00Z"}),
            json!({"version": 7}),
        ] {
            app.post(&format!("{path}/approve"), Some(&holder.token), json!({"policy": policy}))
                .await
                .problem(422, "validation-failed");
        }
        app.post(&format!("{path}/approve"), Some(&holder.token), json!({"policy": {"speed": 1}})).await.problem(422, "invalid-body");
        assert_eq!(app.audit_size().await, before, "refusals record nothing");

        let grant = approve(&app, &holder, id, Some(json!({"max_downloads": 2, "version": 1}))).await;
        let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&consumer.token)).await;
        assert_eq!(g.body["policy"]["max_downloads"], 2);
        assert_eq!(g.body["policy"]["version"], 1);
        let again = app.post(&format!("{path}/approve"), Some(&holder.token), json!({})).await;
        again.problem(409, "invalid-state");
        assert_eq!(again.body["current_state"], "approved");
        app.post(&format!("{path}/withdraw"), Some(&consumer.token), json!({})).await.problem(409, "invalid-state");
        app.post(&format!("{path}/reject"), Some(&holder.token), json!({"reason": "late"})).await.problem(409, "invalid-state");

        // withdraw and reject paths
        let second = app.consumer("second").await;
        let w = request(&app, &second, request_body(b)).await;
        let withdrawn = app.post(&format!("/api/v1/access-requests/{w}/withdraw"), Some(&second.token), json!({})).await;
        withdrawn.expect(200);
        assert_eq!(withdrawn.body["state"], "withdrawn");
        let r = request(&app, &second, request_body(b)).await;
        let rejected = app.post(&format!("/api/v1/access-requests/{r}/reject"), Some(&holder.token), json!({"reason": "no research use"})).await;
        rejected.expect(200);
        assert_eq!(rejected.body["state"], "rejected");
        assert_eq!(rejected.body["decision"]["reason"], "no research use");
        let listed = app.get("/api/v1/access-requests?state=rejected", Some(&second.token)).await;
        assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    }

    async fn cross_border_important_data_goes_to_a_regulator(app: TestApp) {
        let holder = app.provider("holder").await;
        let consumer = app.consumer("consumer").await;
        let regulator = app.regulator("reg").await;
        app.verified(&holder).await;
        app.verified(&consumer).await;
        let dataset = app.dataset(&holder, "Port logistics", "important").await;
        app.upload(&holder, dataset, b"container,port\n").await.expect(201);
        app.post(&format!("/api/v1/datasets/{dataset}/publish"), Some(&holder.token), json!({})).await.expect(200);
        app.post(&format!("/api/v1/datasets/{dataset}/review"), Some(&regulator.token), json!({"decision": "approve"})).await.expect(200);

        // sent abroad, important data needs a security assessment, which a regulator reviews
        let mut body = request_body(dataset);
        body["cross_border"] = json!(true);
        body["destination_country"] = json!("SG");
        body["legal_basis"] = json!("security_assessment");
        body["personal_information_subjects"] = json!(0);
        let id = request(&app, &consumer, body).await;
        let r = app.get(&format!("/api/v1/access-requests/{id}"), Some(&consumer.token)).await;
        assert_eq!(r.body["requires_review"], true);
        let approved = app.post(&format!("/api/v1/access-requests/{id}/approve"), Some(&holder.token),
                                json!({"policy": {"max_downloads": 3}})).await;
        approved.expect(200);
        assert_eq!(approved.body["state"], "under_review");
        assert_eq!(approved.body["grant"], Value::Null);
        download(&app, &consumer.token, dataset, 1).await.problem(403, "no-grant");
        let queue = app.get("/api/v1/access-requests?role=incoming&state=under_review", Some(&regulator.token)).await;
        assert_eq!(queue.body["items"][0]["id"], id.to_string());
        app.post(&format!("/api/v1/access-requests/{id}/review"), Some(&holder.token), json!({"decision": "approve"}))
            .await
            .problem(403, "wrong-role");
        app.post(&format!("/api/v1/access-requests/{id}/withdraw"), Some(&consumer.token), json!({})).await.problem(409, "invalid-state");
        let before = app.audit_size().await;
        let lapses = chrono::Utc::now() + chrono::Duration::days(365);
        let reviewed = app.post(&format!("/api/v1/access-requests/{id}/review"), Some(&regulator.token),
                                json!({"decision": "approve", "reason": "security assessment passed",
                                       "assessment_reference": "SA-2026-001", "assessment_expires_at": lapses})).await;
        reviewed.expect(200);
        assert_eq!(reviewed.body["state"], "approved");
        assert_eq!(reviewed.body["review"]["by"], regulator.id.to_string());
        TestApp::assert_actions(&app.audit_since(before).await, &["access_request.reviewed", "grant.created"]);
        let grant = reviewed.body["grant"].as_str().unwrap();
        let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&consumer.token)).await;
        assert_eq!(g.body["policy"]["territory"], json!(["CN", "SG"]));
        assert_eq!(g.body["policy"]["max_downloads"], 3, "the holder's narrowing survives review");
        assert_eq!(g.body["licensor"], holder.id.to_string());

        // Data goes to the consumer's registered territory (CN, in the
        // grant's territory); the client does not get to say where.
        download(&app, &consumer.token, dataset, 1).await.expect(200);
        app.get(&format!("/api/v1/datasets/{dataset}/versions/1/content?territory=SG"), Some(&consumer.token))
            .await
            .problem(400, "invalid-parameter");

        // personal data sent abroad under a standard contract is reviewed too, and may be refused
        let personal = app.dataset(&holder, "Patients", "general").await;
        app.patch(&format!("/api/v1/datasets/{personal}"), Some(&holder.token), json!({"personal_data": true})).await.expect(200);
        app.upload(&holder, personal, b"p").await.expect(201);
        app.post(&format!("/api/v1/datasets/{personal}/publish"), Some(&holder.token), json!({})).await.expect(200);
        let mut body = request_body(personal);
        body["cross_border"] = json!(true);
        body["destination_country"] = json!("DE");
        body["legal_basis"] = json!("standard_contract");
        body["personal_information_subjects"] = json!(200_000);
        let id = request(&app, &consumer, body).await;
        app.post(&format!("/api/v1/access-requests/{id}/approve"), Some(&holder.token), json!({})).await.expect(200);
        app.post(&format!("/api/v1/access-requests/{id}/review"), Some(&regulator.token), json!({"decision": "reject"}))
            .await
            .problem(422, "validation-failed");
        let rejected = app.post(&format!("/api/v1/access-requests/{id}/review"), Some(&regulator.token),
                                json!({"decision": "reject", "reason": "no adequacy basis"})).await;
        rejected.expect(200);
        assert_eq!(rejected.body["state"], "rejected");
        assert_eq!(rejected.body["grant"], Value::Null);
    }

    async fn delivery_is_refused_outside_the_policy(app: TestApp) {
        // exhaustion
        let (holder, consumer, dataset, grant) = granted(&app, 2, None).await;
        download(&app, &consumer.token, dataset, 1).await.expect(200);
        download(&app, &consumer.token, dataset, 1).await.expect(200);
        let before = app.audit_size().await;
        download(&app, &consumer.token, dataset, 1).await.problem(403, "grant-exhausted");
        TestApp::assert_actions(&app.audit_since(before).await, &["delivery.refused"]);
        let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&consumer.token)).await;
        assert_eq!(g.body["status"], "exhausted");
        assert_eq!(g.body["downloads_remaining"], 0);

        // a third party's account token
        let third = app.consumer("third").await;
        download(&app, &third.token, dataset, 1).await.problem(403, "no-grant");
        app.post(&format!("/api/v1/grants/{grant}/tokens"), Some(&third.token), json!({})).await.problem(404, "not-found");

        // revocation: by the licensee refused, by the licensor at once
        let second = app.consumer("second").await;
        let id = request(&app, &second, request_body(dataset)).await;
        let g2 = approve(&app, &holder, id, None).await;
        download(&app, &second.token, dataset, 1).await.expect(200);
        app.post(&format!("/api/v1/grants/{g2}/revoke"), Some(&second.token), json!({"reason": "mine"})).await.problem(403, "not-permitted");
        app.post(&format!("/api/v1/grants/{g2}/revoke"), Some(&holder.token), json!({})).await.problem(422, "invalid-body");
        let revoked = app.post(&format!("/api/v1/grants/{g2}/revoke"), Some(&holder.token), json!({"reason": "terms breached"})).await;
        revoked.expect(200);
        assert_eq!(revoked.body["status"], "revoked");
        assert_eq!(revoked.body["revocation"]["reason"], "terms breached");
        download(&app, &second.token, dataset, 1).await.problem(403, "grant-revoked");
        app.post(&format!("/api/v1/grants/{g2}/revoke"), Some(&holder.token), json!({"reason": "again"})).await.problem(409, "invalid-state");

        // not yet valid, then expired
        let third_consumer = app.consumer("third-consumer").await;
        let id = request(&app, &third_consumer, request_body(dataset)).await;
        let start = chrono::Utc::now() + chrono::Duration::seconds(2);
        let end = start + chrono::Duration::seconds(2);
        let g3 = approve(&app, &holder, id, Some(json!({"not_before": start, "not_after": end}))).await;
        download(&app, &third_consumer.token, dataset, 1).await.problem(403, "grant-not-yet-valid");
        tokio::time::sleep(Duration::from_millis(2500)).await;
        download(&app, &third_consumer.token, dataset, 1).await.expect(200);
        tokio::time::sleep(Duration::from_millis(2000)).await;
        let before = app.audit_size().await;
        download(&app, &third_consumer.token, dataset, 1).await.problem(403, "grant-expired");
        TestApp::assert_actions(&app.audit_since(before).await, &["grant.expired", "delivery.refused"]);
        let g = app.get(&format!("/api/v1/grants/{g3}"), Some(&third_consumer.token)).await;
        assert_eq!(g.body["status"], "expired");
        // a regulator may revoke any grant
        let regulator = app.regulator("reg").await;
        app.post(&format!("/api/v1/grants/{grant}/revoke"), Some(&regulator.token), json!({"reason": "investigation"})).await.expect(200);
    }

    async fn data_tokens(app: TestApp) {
        let (holder, consumer, dataset, grant) = granted(&app, 10, None).await;
        app.upload(&holder, dataset, b"second version\n").await.expect(201);
        let other = app.listed_dataset(&holder, "Other").await;
        let issued = app.post(&format!("/api/v1/grants/{grant}/tokens"), Some(&consumer.token), json!({"version": 1})).await;
        issued.expect(201);
        assert_eq!(issued.body["token_type"], "Bearer");
        assert!(issued.body["expires_in"].as_u64().unwrap() <= 300);
        assert_eq!(issued.body["version"], 1);
        let token = issued.body["access_token"].as_str().unwrap().to_owned();
        let before = app.audit_size().await;
        let delivered = download(&app, &token, dataset, 1).await;
        delivered.expect(200);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["delivery.completed"]);
        assert_eq!(entries[0]["actor"], consumer.id.to_string());
        download(&app, &token, dataset, 2).await.problem(403, "no-grant");
        download(&app, &token, other, 1).await.problem(403, "no-grant");
        // a data token is no account token
        app.get("/api/v1/accounts/me", Some(&token)).await.problem(401, "invalid-token");
        app.get("/api/v1/grants", Some(&token)).await.problem(401, "invalid-token");
        // an unbound token covers every version the grant does
        let any = app.post(&format!("/api/v1/grants/{grant}/tokens"), Some(&consumer.token), json!(null)).await;
        any.expect(201);
        let any = any.body["access_token"].as_str().unwrap().to_owned();
        download(&app, &any, dataset, 2).await.expect(200);
        app.post(&format!("/api/v1/grants/{grant}/tokens"), Some(&consumer.token), json!({"version": 9})).await.problem(422, "validation-failed");
        app.post(&format!("/api/v1/grants/{grant}/tokens"), Some(&holder.token), json!({})).await.problem(403, "not-permitted");
        // revocation stops tokens already issued, before they expire
        app.post(&format!("/api/v1/grants/{grant}/revoke"), Some(&holder.token), json!({"reason": "stop"})).await.expect(200);
        download(&app, &token, dataset, 1).await.problem(403, "grant-revoked");
        download(&app, &any, dataset, 2).await.problem(403, "grant-revoked");
        app.post(&format!("/api/v1/grants/{grant}/tokens"), Some(&consumer.token), json!({})).await.problem(403, "grant-revoked");
    }

    async fn concurrent_downloads_never_pass_the_limit(app: TestApp) {
        let (_holder, consumer, dataset, grant) = granted(&app, 10, None).await;
        let before = app.audit_size().await;
        let url = app.url(&format!("/api/v1/datasets/{dataset}/versions/1/content"));
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let client = app.client.clone();
                let url = url.clone();
                let token = consumer.token.clone();
                tokio::spawn(async move { client.get(url).bearer_auth(token).send().await.map(|r| r.status().as_u16()) })
            })
            .collect();
        let mut ok = 0;
        let mut exhausted = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                200 => ok += 1,
                403 => exhausted += 1,
                other => panic!("unexpected status {other}"),
            }
        }
        assert_eq!((ok, exhausted), (10, 190));
        let entries = app.audit_since(before).await;
        let completed = entries.iter().filter(|e| e["action"] == "delivery.completed").count();
        let refused = entries.iter().filter(|e| e["action"] == "delivery.refused").count();
        assert_eq!((completed, refused), (10, 190));
        let mut counts: Vec<u64> = entries.iter().filter(|e| e["action"] == "delivery.completed")
            .map(|e| e["detail"]["download"].as_u64().unwrap()).collect();
        counts.sort();
        assert_eq!(counts, (1..=10).collect::<Vec<_>>(), "each download counted once");
        let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&consumer.token)).await;
        assert_eq!(g.body["downloads_used"], 10);
        assert_eq!(g.body["status"], "exhausted");
    }

    async fn a_processing_grant_is_a_processing_right(app: TestApp) {
        let holder = app.provider("holder").await;
        let lab = app.register("lab", &["provider", "consumer"]).await;
        let source = app.listed_dataset(&holder, "Source").await;
        let mut derived = dataset_body("Derived", "general");
        derived["derived_from"] = json!([{"dataset": source, "version": 1}]);
        derived["activity"] = json!({"name": "model"});
        // a grant without processing is not enough
        let id = request(&app, &lab, request_body(source)).await;
        approve(&app, &holder, id, None).await;
        app.post("/api/v1/datasets", Some(&lab.token), derived.clone()).await.problem(403, "lacks-processing-right");
        // one with processing is
        let lab2 = app.register("lab2", &["provider", "consumer"]).await;
        let mut body = request_body(source);
        body["processing"] = json!(true);
        let id = request(&app, &lab2, body).await;
        let grant = approve(&app, &holder, id, None).await;
        let odrl = app.get(&format!("/api/v1/grants/{grant}/policy"), Some(&lab2.token)).await;
        assert_eq!(odrl.body["permission"][1]["action"], "modify");
        app.post("/api/v1/datasets", Some(&lab2.token), derived.clone()).await.expect(201);
        // revoked, it no longer is
        app.post(&format!("/api/v1/grants/{grant}/revoke"), Some(&holder.token), json!({"reason": "end"})).await.expect(200);
        app.post("/api/v1/datasets", Some(&lab2.token), derived).await.problem(403, "lacks-processing-right");
    }

    async fn licensees_keep_access_after_a_delisting(app: TestApp) {
        let (holder, consumer, dataset, _grant) = granted(&app, 5, None).await;
        app.post(&format!("/api/v1/datasets/{dataset}/delist"), Some(&holder.token), json!({})).await.expect(200);
        app.get(&format!("/api/v1/datasets/{dataset}"), Some(&consumer.token)).await.expect(200);
        download(&app, &consumer.token, dataset, 1).await.expect(200);
        let stranger = app.consumer("stranger").await;
        download(&app, &stranger.token, dataset, 1).await.problem(404, "not-found");
        app.post("/api/v1/access-requests", Some(&stranger.token), request_body(dataset)).await.problem(404, "not-found");
    }
}

mod expiry {
    use super::*;

    fn quick() -> Tweak {
        Box::new(|s| {
            s.grants.request_ttl_secs = 1;
            s.grants.sweep_interval_secs = 1;
        })
    }

    async fn case(app: TestApp) {
        let holder = app.provider("holder").await;
        let consumer = app.consumer("consumer").await;
        let dataset = app.listed_dataset(&holder, "Short-lived").await;
        let read = request(&app, &consumer, request_body(dataset)).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
        // expired on read (if the sweep has not got there first), recorded either way
        let reply = app
            .get(
                &format!("/api/v1/access-requests/{read}"),
                Some(&consumer.token),
            )
            .await;
        reply.expect(200);
        assert_eq!(reply.body["state"], "expired");
        let approve = app
            .post(
                &format!("/api/v1/access-requests/{read}/approve"),
                Some(&holder.token),
                json!({}),
            )
            .await;
        approve.problem(409, "invalid-state");
        assert_eq!(approve.body["current_state"], "expired");
        // a new request may follow an expired one; nobody reads it, the sweep expires it
        let before = app.audit_size().await;
        let swept = request(&app, &consumer, request_body(dataset)).await;
        tokio::time::sleep(Duration::from_millis(3000)).await;
        let entries = app.audit_since(before).await;
        let expired: Vec<_> = entries
            .iter()
            .filter(|e| e["action"] == "access_request.expired")
            .collect();
        assert_eq!(expired.len(), 1, "the sweep expired it: {entries:?}");
        assert_eq!(expired[0]["subject"], swept.to_string());
        assert_eq!(expired[0]["actor"], Value::Null);
        let all = app.audit_since(0).await;
        assert_eq!(
            all.iter()
                .filter(
                    |e| e["action"] == "access_request.expired" && e["subject"] == read.to_string()
                )
                .count(),
            1
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        case(TestApp::spawn_with(Backend::Sqlite, quick()).await.unwrap()).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
    async fn postgres() {
        case(
            TestApp::spawn_with(Backend::Postgres, quick())
                .await
                .expect(NO_POSTGRES),
        )
        .await
    }
}
