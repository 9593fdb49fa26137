//! Supervision: freezes that stop deliveries, grants and sales from the next
//! request on every instance, and incidents that reach everyone downstream.

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

/// A consumer's grant over a dataset, approved by its owner.
async fn granted(
    app: &TestApp,
    owner: &User,
    consumer: &User,
    dataset: Uuid,
    processing: bool,
) -> String {
    let body = json!({"dataset": dataset, "purpose": "research", "duration_days": 30,
                      "max_downloads": 100, "processing": processing, "cross_border": false});
    app.grant_for(owner, consumer, body, json!({})).await
}

async fn data_token(app: &TestApp, consumer: &User, grant: &str) -> String {
    let token = app
        .post(
            &format!("/api/v1/grants/{grant}/tokens"),
            Some(&consumer.token),
            json!({}),
        )
        .await;
    token.expect(201);
    token.body["access_token"].as_str().unwrap().to_owned()
}

async fn inbox(app: &TestApp, user: &User) -> Vec<Value> {
    let reply = app.get("/api/v1/inbox", Some(&user.token)).await;
    reply.expect(200);
    reply.body["items"].as_array().unwrap().clone()
}

/// A pipeline downloading with a data token through one gateway is stopped
/// at its next download by a freeze made through the other, and resumes
/// when the freeze is lifted.
async fn a_freeze_stops_the_next_download_everywhere(app: TestApp) {
    let twin = app.twin().await;
    let owner = app.provider("frz-owner").await;
    let consumer = app.consumer("frz-consumer").await;
    let buyer = app.consumer("frz-buyer").await;
    let regulator = app.regulator("frz-regulator").await;
    let auditor = app.auditor("frz-auditor").await;
    let dataset = app.listed_dataset(&owner, "Frozen soon").await;
    let grant = granted(&app, &owner, &consumer, dataset, false).await;
    let token = data_token(&app, &consumer, &grant).await;
    let content = format!("/api/v1/datasets/{dataset}/versions/1/content");
    app.get(&content, Some(&token)).await.expect(200);
    let offer = app
        .post(
            &format!("/api/v1/datasets/{dataset}/offers"),
            Some(&owner.token),
            json!({"plan": "one_off", "price": {"amount": 0, "currency": "CNY"},
                     "max_downloads": 1, "processing": false, "instant": true}),
        )
        .await;
    offer.expect(201);
    let pending = app
        .post(
            "/api/v1/access-requests",
            Some(&buyer.token),
            json!({"dataset": dataset, "purpose": "p", "duration_days": 1, "max_downloads": 1,
                     "processing": false, "cross_border": false}),
        )
        .await;
    pending.expect(201);

    // Only a regulator freezes, and only what exists.
    let freeze = |body: Value, token: &str| {
        let req = twin
            .client
            .post(twin.url("/api/v1/supervision/freezes"))
            .bearer_auth(token)
            .json(&body);
        async move { TestApp::read(req.send().await.unwrap()).await }
    };
    let body = json!({"scope": "dataset", "target": dataset, "reason": "suspected leak"});
    freeze(body.clone(), &owner.token)
        .await
        .problem(403, "wrong-role");
    freeze(
        json!({"scope": "dataset", "target": Uuid::new_v4(), "reason": "x"}),
        &regulator.token,
    )
    .await
    .problem(422, "validation-failed");
    freeze(
        json!({"scope": "classification", "target": "secret", "reason": "x"}),
        &regulator.token,
    )
    .await
    .problem(422, "validation-failed");
    freeze(
        json!({"scope": "destination", "target": "CN", "reason": "x"}),
        &regulator.token,
    )
    .await
    .problem(422, "validation-failed");
    let frozen = freeze(body.clone(), &regulator.token).await;
    frozen.expect(201);
    let freeze_id = frozen.id();
    assert_eq!(frozen.audit_indexes().len(), 1);
    freeze(body, &regulator.token)
        .await
        .problem(409, "already-exists");

    // The pipeline's next download, through the other gateway: refused and recorded.
    let size = app.audit_size().await;
    let refused = app.get(&content, Some(&token)).await;
    refused.problem(403, "frozen");
    assert_eq!(refused.body["freeze"], json!(freeze_id));
    let recorded = app.audit_since(size).await;
    TestApp::assert_actions(&recorded, &["delivery.refused"]);
    // No bypass: the holder's own download, a new grant, a new order.
    twin.get(&content, Some(&owner.token))
        .await
        .problem(403, "frozen");
    app.post(
        &format!("/api/v1/access-requests/{}/approve", pending.id()),
        Some(&owner.token),
        json!({}),
    )
    .await
    .problem(403, "frozen");
    let still = app
        .get(
            &format!("/api/v1/access-requests/{}", pending.id()),
            Some(&buyer.token),
        )
        .await;
    assert_eq!(
        still.body["state"], "pending",
        "a refused approval changes nothing"
    );
    app.post(
        "/api/v1/orders",
        Some(&buyer.token),
        json!({"offer": offer.id()}),
    )
    .await
    .problem(403, "frozen");

    let listed = twin
        .get("/api/v1/supervision/freezes", Some(&auditor.token))
        .await;
    listed.expect(200);
    assert_eq!(listed.body[0]["id"], json!(freeze_id));
    twin.get("/api/v1/supervision/freezes", Some(&consumer.token))
        .await
        .problem(403, "wrong-role");

    // Lifted: the same token works again.
    let lift = format!("/api/v1/supervision/freezes/{freeze_id}/lift");
    app.post(&lift, Some(&owner.token), json!({"reason": "x"}))
        .await
        .problem(403, "wrong-role");
    let lifted = app
        .post(&lift, Some(&regulator.token), json!({"reason": "cleared"}))
        .await;
    lifted.expect(200);
    assert_eq!(lifted.body["lifted"]["reason"], "cleared");
    twin.post(&lift, Some(&regulator.token), json!({"reason": "again"}))
        .await
        .problem(409, "invalid-state");
    twin.get(&content, Some(&token)).await.expect(200);
    assert_eq!(
        twin.get("/api/v1/supervision/freezes", Some(&auditor.token))
            .await
            .body,
        json!([])
    );
    let all = twin
        .get("/api/v1/supervision/freezes?all=true", Some(&auditor.token))
        .await;
    assert_eq!(all.body.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_freeze_stops_the_next_download_everywhere_sqlite() {
    a_freeze_stops_the_next_download_everywhere(TestApp::spawn(Backend::Sqlite).await.unwrap())
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
async fn a_freeze_stops_the_next_download_everywhere_postgres() {
    a_freeze_stops_the_next_download_everywhere(
        TestApp::spawn(Backend::Postgres).await.expect(NO_POSTGRES),
    )
    .await
}

both_backends! {
    async fn accounts_classes_and_destinations_freeze_too(app: TestApp) {
        let owner = app.provider("cls-owner").await;
        let consumer = app.consumer("cls-consumer").await;
        let regulator = app.regulator("cls-regulator").await;
        let dataset = app.listed_dataset(&owner, "General data").await;
        let grant = granted(&app, &owner, &consumer, dataset, false).await;
        let content = format!("/api/v1/datasets/{dataset}/versions/1/content");
        app.get(&content, Some(&consumer.token)).await.expect(200);
        let _ = grant;

        // An id typed in capitals and braces freezes the account all the same.
        let shouted = format!("{{{}}}", consumer.id.to_string().to_uppercase());
        for (scope, target) in [("classification", "general".to_owned()), ("account", consumer.id.to_string()),
                                ("account", shouted)] {
            let frozen = app
                .post("/api/v1/supervision/freezes", Some(&regulator.token),
                      json!({"scope": scope, "target": target, "reason": "inspection"}))
                .await;
            frozen.expect(201);
            if scope == "account" {
                assert_eq!(frozen.body["target"], consumer.id.to_string(), "stored as the register matches it");
            }
            let refused = app.get(&content, Some(&consumer.token)).await;
            refused.problem(403, "frozen");
            assert_eq!(refused.body["scope"], scope);
            app.post(&format!("/api/v1/supervision/freezes/{}/lift", frozen.id()), Some(&regulator.token),
                     json!({"reason": "done"}))
                .await
                .expect(200);
            app.get(&content, Some(&consumer.token)).await.expect(200);
        }

        // A destination abroad: deliveries to accounts registered there stop.
        let abroad = app
            .post("/api/v1/accounts", None,
                  json!({"name": "cls-sg", "password": PASSWORD, "roles": ["consumer"], "territory": "SG"}))
            .await;
        abroad.expect(201);
        let sg_token = app.token("cls-sg", PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
        let request = app
            .post("/api/v1/access-requests", Some(&sg_token),
                  json!({"dataset": dataset, "purpose": "research", "duration_days": 5, "max_downloads": 5,
                         "processing": false, "cross_border": true, "destination_country": "SG",
                         "legal_basis": "exemption", "personal_information_subjects": 0}))
            .await;
        request.expect(201);
        app.post(&format!("/api/v1/access-requests/{}/approve", request.id()), Some(&owner.token), json!({}))
            .await
            .expect(200);
        app.get(&content, Some(&sg_token)).await.expect(200);
        app.post("/api/v1/supervision/freezes", Some(&regulator.token),
                 json!({"scope": "destination", "target": "SG", "reason": "assessment expired"}))
            .await
            .expect(201);
        app.get(&content, Some(&sg_token)).await.problem(403, "frozen");
        // Delivery at home goes on.
        app.get(&content, Some(&consumer.token)).await.expect(200);
    }

    async fn an_incident_reaches_every_party_three_levels_down(app: TestApp) {
        // A ← B ← C ← D, each derived under a processing grant.
        let pa = app.register("inc-a", &["provider", "consumer"]).await;
        let pb = app.register("inc-b", &["provider", "consumer"]).await;
        let pc = app.register("inc-c", &["provider", "consumer"]).await;
        let pd = app.register("inc-d", &["provider", "consumer"]).await;
        let reader_a = app.consumer("inc-reader-a").await;
        let reader_c = app.consumer("inc-reader-c").await;
        let bystander = app.consumer("inc-bystander").await;
        let stranger = app.provider("inc-stranger").await;
        let regulator = app.regulator("inc-regulator").await;
        let auditor = app.auditor("inc-auditor").await;
        let a = app.listed_dataset(&pa, "A").await;
        granted(&app, &pa, &pb, a, true).await;
        let b = app.derived_dataset(&pb, "B", &[(a, 1)]).await;
        granted(&app, &pb, &pc, b, true).await;
        let c = app.derived_dataset(&pc, "C", &[(b, 1)]).await;
        granted(&app, &pc, &pd, c, true).await;
        let d = app.derived_dataset(&pd, "D", &[(c, 1)]).await;
        granted(&app, &pa, &reader_a, a, false).await;
        granted(&app, &pc, &reader_c, c, false).await;
        let unrelated = app.listed_dataset(&stranger, "Unrelated").await;
        granted(&app, &stranger, &bystander, unrelated, false).await;

        let path = format!("/api/v1/datasets/{a}/incidents");
        let body = json!({"kind": "poisoned", "description": "rows 10–20 were fabricated"});
        app.post(&path, Some(&stranger.token), body.clone()).await.problem(403, "not-permitted");
        app.post(&path, Some(&reader_a.token), body.clone()).await.problem(403, "not-permitted");
        app.post(&path, Some(&regulator.token), json!({"kind": "poisoned", "description": ""}))
            .await
            .problem(422, "validation-failed");
        let size = app.audit_size().await;
        let recorded = app.post(&path, Some(&regulator.token), body).await;
        recorded.expect(201);
        assert_eq!(recorded.body["datasets_reached"], 3);
        // A's, B's, C's and D's providers (B, C and D licensed their sources
        // too), and the two readers.
        assert_eq!(recorded.body["accounts_notified"], 6);
        let entries = app.audit_since(size).await;
        TestApp::assert_actions(&entries, &["incident.recorded"]);
        let mut parties: Vec<String> = entries[0]["parties"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap().to_owned())
            .collect();
        parties.sort();
        // Everyone told, and the reporter (the actor is a party to its entry).
        let mut expected: Vec<String> = [&pa, &pb, &pc, &pd, &reader_a, &reader_c, &regulator]
            .iter()
            .map(|u| u.id.to_string())
            .collect();
        expected.sort();
        assert_eq!(parties, expected);
        assert_eq!(entries[0]["detail"]["downstream"].as_array().unwrap().len(), 3);

        // Everyone downstream has it in the inbox, saying why; D three levels down.
        let d_inbox = inbox(&app, &pd).await;
        assert_eq!(d_inbox.len(), 1);
        assert_eq!(d_inbox[0]["incident"], recorded.body["id"]);
        assert!(d_inbox[0]["concerns"].as_str().unwrap().contains(&format!("provider of {d}")));
        let c_reader = inbox(&app, &reader_c).await;
        assert!(c_reader[0]["concerns"].as_str().unwrap().contains(&format!("licensee of {c}")));
        assert!(inbox(&app, &bystander).await.is_empty());
        assert!(inbox(&app, &regulator).await.is_empty(), "the reporter is not told");

        // Read once; another's message is not yours.
        let message = d_inbox[0]["id"].as_str().unwrap();
        app.post(&format!("/api/v1/inbox/{message}/read"), Some(&pa.token), json!({}))
            .await
            .problem(404, "not-found");
        let read = app.post(&format!("/api/v1/inbox/{message}/read"), Some(&pd.token), json!({})).await;
        read.expect(200);
        assert!(read.body["read_at"].is_string());
        let unread = app.get("/api/v1/inbox?unread=true", Some(&pd.token)).await;
        assert_eq!(unread.body["items"], json!([]));

        // The dataset's own holder may report too; oversight lists them.
        app.post(&format!("/api/v1/datasets/{c}/incidents"), Some(&pc.token),
                 json!({"kind": "leak", "description": "a copy was found online"}))
            .await
            .expect(201);
        let listed = app.get("/api/v1/supervision/incidents", Some(&auditor.token)).await;
        assert_eq!(listed.body.as_array().unwrap().len(), 2);
        app.get("/api/v1/supervision/incidents", Some(&pa.token)).await.problem(403, "wrong-role");
    }

    async fn complaints_are_queued_decided_once_and_told_to_both_sides(app: TestApp) {
        let owner = app.provider("cmp-owner").await;
        let consumer = app.consumer("cmp-consumer").await;
        let other = app.consumer("cmp-other").await;
        let regulator = app.regulator("cmp-regulator").await;
        let auditor = app.auditor("cmp-auditor").await;
        let dataset = app.listed_dataset(&owner, "Complained about").await;
        let draft = app.dataset(&owner, "Still a draft", "general").await;
        let grant = granted(&app, &owner, &consumer, dataset, false).await;

        // Only what the complainant may know of, and never oneself.
        let file = |user: &User, body: Value| {
            let token = user.token.clone();
            let app = &app;
            async move { app.post("/api/v1/complaints", Some(&token), body).await }
        };
        file(&other, json!({"subject": "listing", "id": draft, "description": "x"}))
            .await
            .problem(404, "not-found");
        file(&other, json!({"subject": "grant", "id": grant, "description": "x"}))
            .await
            .problem(404, "not-found");
        file(&other, json!({"subject": "account", "id": Uuid::new_v4(), "description": "x"}))
            .await
            .problem(404, "not-found");
        file(&owner, json!({"subject": "listing", "id": dataset, "description": "x"}))
            .await
            .problem(422, "validation-failed");
        file(&other, json!({"subject": "listing", "id": dataset, "description": "  "}))
            .await
            .problem(422, "validation-failed");
        file(&other, json!({"subject": "dataset", "id": dataset, "description": "x"}))
            .await
            .problem(422, "invalid-body");
        file(&other, json!({"subject": "listing", "id": dataset,
                            "description": "x".repeat(4001)}))
            .await
            .problem(422, "validation-failed");

        // A listing's complaint is about its provider; a grant's, about
        // the other party.
        let size = app.audit_size().await;
        let listing = file(&other, json!({"subject": "listing", "id": dataset,
                                          "description": "the sample misstates the columns"}))
            .await;
        listing.expect(201);
        assert_eq!(listing.body["respondent"], json!(owner.id));
        assert_eq!(listing.body["state"], "open");
        assert_eq!(listing.body["dataset"], json!(dataset));
        let by_licensee = file(&consumer, json!({"subject": "grant", "id": grant,
                                                 "description": "downloads fail"}))
            .await;
        by_licensee.expect(201);
        assert_eq!(by_licensee.body["respondent"], json!(owner.id));
        let by_licensor = file(&owner, json!({"subject": "grant", "id": grant,
                                              "description": "resold the data"}))
            .await;
        by_licensor.expect(201);
        assert_eq!(by_licensor.body["respondent"], json!(consumer.id));
        let entries = app.audit_since(size).await;
        TestApp::assert_actions(&entries, &["complaint.filed"; 3]);
        assert_eq!(entries[0]["parties"], json!([other.id]));

        // The queue is oversight's; a complainant sees their own only, and
        // the respondent does not see who complained.
        let queue = app.get("/api/v1/complaints?state=open", Some(&regulator.token)).await;
        queue.expect(200);
        assert_eq!(queue.body["items"].as_array().unwrap().len(), 3);
        let mine = app.get("/api/v1/complaints", Some(&other.token)).await;
        assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
        let id = listing.id();
        app.get(&format!("/api/v1/complaints/{id}"), Some(&owner.token))
            .await
            .problem(404, "not-found");
        app.get(&format!("/api/v1/complaints/{id}"), Some(&auditor.token))
            .await
            .expect(200);
        app.get("/api/v1/complaints?state=closed", Some(&regulator.token))
            .await
            .problem(400, "invalid-parameter");

        // Only a regulator decides, once, with a note.
        let decide = format!("/api/v1/complaints/{id}/decide");
        let upheld = json!({"outcome": "upheld", "note": "sample corrected on order"});
        app.post(&decide, Some(&auditor.token), upheld.clone())
            .await
            .problem(403, "wrong-role");
        app.post(&decide, Some(&regulator.token), json!({"outcome": "upheld", "note": ""}))
            .await
            .problem(422, "validation-failed");
        let size = app.audit_size().await;
        let decided = app.post(&decide, Some(&regulator.token), upheld.clone()).await;
        decided.expect(200);
        assert_eq!(decided.body["state"], "upheld");
        assert_eq!(decided.body["decided_by"], json!(regulator.id));
        app.post(&decide, Some(&regulator.token),
                 json!({"outcome": "dismissed", "note": "changed my mind"}))
            .await
            .problem(409, "invalid-state");
        let entries = app.audit_since(size).await;
        TestApp::assert_actions(&entries, &["complaint.decided"]);
        let mut parties: Vec<Value> = entries[0]["parties"].as_array().unwrap().clone();
        parties.sort_by_key(|p| p.as_str().unwrap().to_owned());
        // The deciding regulator is a party as every actor is.
        let mut expected = vec![json!(other.id), json!(owner.id), json!(regulator.id)];
        expected.sort_by_key(|p| p.as_str().unwrap().to_owned());
        assert_eq!(parties, expected);

        // Both sides are told the outcome; the respondent not who filed it.
        for user in [&other, &owner] {
            let messages = inbox(&app, user).await;
            assert_eq!(messages.len(), 1, "{}'s inbox", user.name);
            assert_eq!(messages[0]["kind"], "complaint");
            assert_eq!(messages[0]["complaint"], json!(id));
            assert!(messages[0]["body"].as_str().unwrap().contains("upheld"));
            assert!(!messages[0]["body"].as_str().unwrap().contains(&other.id.to_string()));
        }
        assert!(inbox(&app, &consumer).await.is_empty());
        let open = app.get("/api/v1/complaints?state=open", Some(&regulator.token)).await;
        assert_eq!(open.body["items"].as_array().unwrap().len(), 2);
    }

    async fn statistics_count_the_market_by_the_database(app: TestApp) {
        let owner = app.provider("st-owner").await;
        let consumer = app.consumer("st-consumer").await;
        let regulator = app.regulator("st-regulator").await;
        let auditor = app.auditor("st-auditor").await;
        let dataset = app.listed_dataset(&owner, "Counted").await;
        app.dataset(&owner, "A draft", "important").await;
        let grant = granted(&app, &owner, &consumer, dataset, false).await;
        let token = data_token(&app, &consumer, &grant).await;
        let content = format!("/api/v1/datasets/{dataset}/versions/1/content");
        app.get(&content, Some(&token)).await.expect(200);
        app.get(&content, Some(&token)).await.expect(200);
        app.post(&format!("/api/v1/grants/{grant}/revoke"), Some(&owner.token),
                 json!({"reason": "breach"}))
            .await
            .expect(200);
        app.get(&content, Some(&token)).await.problem(403, "grant-revoked");
        app.post("/api/v1/accounts", None,
                 json!({"name": "st-sg", "password": PASSWORD, "roles": ["consumer"], "territory": "SG"}))
            .await
            .expect(201);
        let sg = app.token("st-sg", PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
        app.post("/api/v1/access-requests", Some(&sg),
                 json!({"dataset": dataset, "purpose": "research", "duration_days": 5, "max_downloads": 5,
                        "processing": false, "cross_border": true, "destination_country": "SG",
                        "legal_basis": "exemption", "personal_information_subjects": 0}))
            .await
            .expect(201);

        let stats = app.get("/api/v1/supervision/statistics", Some(&regulator.token)).await;
        stats.expect(200);
        let body = &stats.body;
        assert_eq!(body["listings"], json!([
            {"classification": "general", "status": "listed", "count": 1},
            {"classification": "important", "status": "draft", "count": 1},
        ]));
        assert_eq!(body["requests"], json!([
            {"state": "approved", "count": 1},
            {"state": "pending", "count": 1},
        ]));
        // One day's rows, or two if the test straddles midnight (UTC).
        let daily = body["daily"].as_array().unwrap();
        let total = |field: &str| daily.iter().map(|d| d[field].as_i64().unwrap()).sum::<i64>();
        assert!(!daily.is_empty() && daily.len() <= 2, "{daily:?}");
        assert_eq!(total("requests"), 2);
        assert_eq!(total("grants"), 1);
        assert_eq!(total("deliveries"), 2);
        assert_eq!(total("refused_deliveries"), 1);
        let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
        assert_eq!(daily.last().unwrap()["day"], today);
        assert_eq!(body["cross_border"], json!([{"destination": "SG", "state": "pending", "count": 1}]));
        assert_eq!(body["orders"], json!([]));
        assert_eq!(body["trade"], json!([]));

        // A period before any of it is empty; a bad period is refused.
        let past = app
            .get("/api/v1/supervision/statistics?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z",
                 Some(&auditor.token))
            .await;
        past.expect(200);
        assert_eq!(past.body["daily"], json!([]));
        assert_eq!(past.body["requests"], json!([]));
        assert_eq!(past.body["listings"], body["listings"]);
        app.get("/api/v1/supervision/statistics?from=2020-02-01T00:00:00Z&to=2020-01-01T00:00:00Z",
                Some(&regulator.token))
            .await
            .problem(400, "invalid-parameter");
        app.get("/api/v1/supervision/statistics?from=2020-01-01T00:00:00Z&to=2022-01-01T00:00:00Z",
                Some(&regulator.token))
            .await
            .problem(400, "invalid-parameter");
        app.get("/api/v1/supervision/statistics?from=yesterday", Some(&regulator.token))
            .await
            .problem(400, "invalid-parameter");
        app.get("/api/v1/supervision/statistics", Some(&owner.token))
            .await
            .problem(403, "wrong-role");
    }

    async fn participants_are_typed_coded_and_verified_before_sensitive_data(app: TestApp) {
        let regulator = app.regulator("pt-regulator").await;
        let register = |body: Value| {
            let app = &app;
            async move { app.post("/api/v1/accounts", None, body).await }
        };
        let org = |name: &str, entity: &str, code: Option<&str>| {
            let mut body = json!({"name": name, "password": PASSWORD, "roles": ["consumer"],
                                  "entity_type": entity});
            if let Some(code) = code {
                body["credit_code"] = json!(code);
            }
            body
        };
        // An organisation registers with a credit code whose check
        // character is right; an individual without one.
        register(org("pt-nocode", "enterprise", None)).await.problem(422, "validation-failed");
        let typo = register(org("pt-typo", "enterprise", Some("91110000600037341M"))).await;
        typo.problem(422, "validation-failed");
        assert!(typo.body["detail"].as_str().unwrap().contains("should be L"), "{}", typo.body);
        register(org("pt-short", "research", Some("9111000060003734"))).await.problem(422, "validation-failed");
        register(org("pt-person", "individual", Some("91110000600037341L"))).await.problem(422, "validation-failed");
        register(org("pt-alien", "alien", None)).await.problem(422, "invalid-body");
        let size = app.audit_size().await;
        let made = register(org("pt-org", "enterprise", Some("91110000600037341l"))).await;
        made.expect(201);
        assert_eq!(made.body["entity_type"], "enterprise");
        assert_eq!(made.body["credit_code"], "91110000600037341L");
        assert_eq!(made.body["verification"], Value::Null);
        let entries = app.audit_since(size).await;
        assert_eq!(entries[0]["detail"]["credit_code"], "91110000600037341L");
        register(org("pt-org-2", "enterprise", Some("91110000600037341L")))
            .await
            .problem(409, "already-exists");
        let org_token = app.token("pt-org", PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
        let consumer = User { id: made.id(), name: "pt-org".into(), token: org_token };
        let individual = app.consumer("pt-individual").await;
        let me = app.get(&format!("/api/v1/accounts/{}", individual.id), Some(&individual.token)).await;
        assert_eq!(me.body["entity_type"], "individual");

        // Unverified, it may take general data but not personal data,
        // whether requested or bought.
        let owner = app.provider("pt-owner").await;
        let general = app.listed_dataset(&owner, "Open counts").await;
        let personal = app.dataset(&owner, "Patients", "general").await;
        app.patch(&format!("/api/v1/datasets/{personal}"), Some(&owner.token), json!({"personal_data": true}))
            .await
            .expect(200);
        app.upload(&owner, personal, b"p").await.expect(201);
        app.post(&format!("/api/v1/datasets/{personal}/publish"), Some(&owner.token), json!({}))
            .await
            .expect(200);
        let offer = app
            .post(&format!("/api/v1/datasets/{personal}/offers"), Some(&owner.token),
                  json!({"plan": "one_off", "price": {"amount": 0, "currency": "CNY"},
                         "max_downloads": 1, "processing": false, "instant": true}))
            .await;
        offer.expect(201);
        let ask = |dataset: Uuid| json!({"dataset": dataset, "purpose": "care", "duration_days": 5,
                                        "max_downloads": 1, "processing": false, "cross_border": false});
        app.post("/api/v1/access-requests", Some(&consumer.token), ask(general)).await.expect(201);
        let refused = app.post("/api/v1/access-requests", Some(&consumer.token), ask(personal)).await;
        refused.problem(403, "unverified-participant");
        assert!(refused.body["detail"].as_str().unwrap().contains("personal data"));
        let buy = json!({"offer": offer.id(), "purpose": "care"});
        app.post("/api/v1/orders", Some(&consumer.token), buy.clone())
            .await
            .problem(403, "unverified-participant");

        // Only a regulator verifies, once, with a reference; audited.
        let verify = format!("/api/v1/accounts/{}/verify", consumer.id);
        let reference = json!({"reference": "licence checked, file 2026-117"});
        app.post(&verify, Some(&owner.token), reference.clone()).await.problem(403, "wrong-role");
        app.post(&verify, Some(&regulator.token), json!({"reference": " "}))
            .await
            .problem(422, "validation-failed");
        app.post(&format!("/api/v1/accounts/{}/verify", Uuid::new_v4()), Some(&regulator.token), reference.clone())
            .await
            .problem(404, "not-found");
        let size = app.audit_size().await;
        let verified = app.post(&verify, Some(&regulator.token), reference.clone()).await;
        verified.expect(200);
        assert_eq!(verified.body["verification"]["by"], json!(regulator.id));
        assert_eq!(verified.body["verification"]["reference"], "licence checked, file 2026-117");
        app.post(&verify, Some(&regulator.token), reference).await.problem(409, "invalid-state");
        let entries = app.audit_since(size).await;
        TestApp::assert_actions(&entries, &["account.verified"]);
        assert!(entries[0]["parties"].as_array().unwrap().contains(&json!(consumer.id)));

        // Verified, it may.
        app.post("/api/v1/orders", Some(&consumer.token), buy).await.expect(201);
    }

    async fn a_compliance_record_for_oversight_and_a_summary_for_counterparties(app: TestApp) {
        let owner = app.provider("cr-owner").await;
        let consumer = app.consumer("cr-consumer").await;
        let stranger = app.provider("cr-stranger").await;
        let regulator = app.regulator("cr-regulator").await;
        let dataset = app.listed_dataset(&owner, "Record keeping").await;
        let path = format!("/api/v1/accounts/{}/compliance", consumer.id);

        let clean = app.get(&path, Some(&regulator.token)).await;
        clean.expect(200);
        assert_eq!(clean.body["view"], "full");
        assert_eq!(clean.body["entity_type"], "individual");
        for (field, zero) in [("verified", json!(false)), ("suspended", json!(false)), ("frozen", json!(false)),
                              ("suspensions", json!(0)), ("freezes", json!(0)), ("licences_revoked", json!(0)),
                              ("complaints_upheld", json!(0)), ("complaints_open", json!(0))] {
            assert_eq!(clean.body[field], zero, "{field}");
        }
        // Those with no dealings with it do not learn it exists; it reads
        // its own record whole.
        app.get(&path, Some(&stranger.token)).await.problem(404, "not-found");
        app.get(&path, Some(&owner.token)).await.problem(404, "not-found");
        assert_eq!(app.get(&path, Some(&consumer.token)).await.body["view"], "full");
        app.get(&format!("/api/v1/accounts/{}/compliance", Uuid::new_v4()), Some(&regulator.token))
            .await
            .problem(404, "not-found");
        app.get(&path, None).await.problem(401, "unauthenticated");

        // A history: a licence revoked for breach, a complaint upheld and
        // one open, a freeze lifted, a suspension lifted, a verification.
        let grant = granted(&app, &owner, &consumer, dataset, false).await;
        app.post(&format!("/api/v1/grants/{grant}/revoke"), Some(&owner.token), json!({"reason": "resold the data"}))
            .await
            .expect(200);
        let upheld = app
            .post("/api/v1/complaints", Some(&owner.token),
                  json!({"subject": "grant", "id": grant, "description": "resold the data"}))
            .await;
        upheld.expect(201);
        app.post(&format!("/api/v1/complaints/{}/decide", upheld.id()), Some(&regulator.token),
                 json!({"outcome": "upheld", "note": "copies found"}))
            .await
            .expect(200);
        app.post("/api/v1/complaints", Some(&owner.token),
                 json!({"subject": "account", "id": consumer.id, "description": "still scraping"}))
            .await
            .expect(201);
        let freeze = app
            .post("/api/v1/supervision/freezes", Some(&regulator.token),
                  json!({"scope": "account", "target": consumer.id, "reason": "inquiry"}))
            .await;
        freeze.expect(201);
        assert_eq!(app.get(&path, Some(&regulator.token)).await.body["frozen"], true);
        app.post(&format!("/api/v1/supervision/freezes/{}/lift", freeze.id()), Some(&regulator.token),
                 json!({"reason": "inquiry closed"}))
            .await
            .expect(200);
        app.post(&format!("/api/v1/accounts/{}/suspend", consumer.id), Some(&regulator.token),
                 json!({"reason": "inquiry"}))
            .await
            .expect(200);
        app.post(&format!("/api/v1/accounts/{}/reinstate", consumer.id), Some(&regulator.token), json!({}))
            .await
            .expect(200);
        app.verified(&consumer).await;

        let full = app.get(&path, Some(&regulator.token)).await;
        full.expect(200);
        let expected = [("verified", json!(true)), ("suspended", json!(false)), ("suspensions", json!(1)),
                        ("frozen", json!(false)), ("freezes", json!(1)), ("licences_revoked", json!(1)),
                        ("complaints_upheld", json!(1)), ("complaints_dismissed", json!(0)),
                        ("complaints_open", json!(1))];
        for (field, value) in &expected {
            assert_eq!(full.body[*field], *value, "{field}: {}", full.body);
        }
        assert_eq!(full.body["verification"]["reference"], "verified for the test");

        // The licensor deals with it now, and reads the summary only.
        let summary = app.get(&path, Some(&owner.token)).await;
        summary.expect(200);
        assert_eq!(summary.body["view"], "summary");
        for (field, value) in [("verified", json!(true)), ("licences_revoked", json!(1)),
                               ("complaints_upheld", json!(1)), ("frozen", json!(false))] {
            assert_eq!(summary.body[field], value, "{field}");
        }
        for field in ["verification", "suspensions", "freezes", "complaints_dismissed", "complaints_open"] {
            assert_eq!(summary.body[field], Value::Null, "{field} is for oversight");
        }
        // ... and so does the consumer about its licensor.
        let other_way = app.get(&format!("/api/v1/accounts/{}/compliance", owner.id), Some(&consumer.token)).await;
        assert_eq!(other_way.body["view"], "summary");
    }
}
