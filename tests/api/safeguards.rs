//! The safeguards a user who wants around the rules meets: suspension that
//! bites at once, tokens checked against their account, login throttling
//! that every instance shares and that cannot lock a provider out of its
//! own known clients, every delivery on the record, delivery to the
//! registered territory only, the review gates (lowered classification,
//! inherited classification, new versions of reviewed listings), names
//! that differ in letter case, private files, payloads as attachments.

use std::os::unix::fs::PermissionsExt;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

async fn login_from(base: &str, name: &str, password: &str, address: &str) -> Reply {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/token"))
        .header("x-forwarded-for", address)
        .json(&json!({"name": name, "password": password}))
        .send()
        .await
        .unwrap();
    TestApp::read(resp).await
}

fn request_body(dataset: Uuid) -> Value {
    json!({
        "dataset": dataset, "purpose": "research", "duration_days": 30,
        "max_downloads": 10, "processing": false, "cross_border": false,
    })
}

fn content(dataset: Uuid, version: i32) -> String {
    format!("/api/v1/datasets/{dataset}/versions/{version}/content")
}

both_backends! {
    async fn suspension_stops_every_token_at_once(app: TestApp) {
        let admin = app.operator_account("admin-1", &[datamarket::domain::Role::Admin]).await;
        let regulator = app.regulator("reg-1").await;
        let holder = app.provider("holder").await;
        let consumer = app.consumer("consumer").await;
        let dataset = app.listed_dataset(&holder, "Traffic").await;
        let grant = app.grant_for(&holder, &consumer, request_body(dataset), json!({})).await;
        let data = app.post(&format!("/api/v1/grants/{grant}/tokens"), Some(&consumer.token), json!({})).await;
        data.expect(201);
        let data = data.body["access_token"].as_str().unwrap().to_owned();
        app.get(&content(dataset, 1), Some(&data)).await.expect(200);

        let suspend = format!("/api/v1/accounts/{}/suspend", consumer.id);
        app.post(&suspend, Some(&holder.token), json!({"reason": "x"})).await.problem(403, "wrong-role");
        app.post(&suspend, Some(&regulator.token), json!({})).await.problem(422, "invalid-body");
        app.post(&suspend, Some(&regulator.token), json!({"reason": "  "})).await.problem(422, "validation-failed");
        app.post(&format!("/api/v1/accounts/{}/suspend", regulator.id), Some(&regulator.token), json!({"reason": "me"}))
            .await
            .problem(422, "validation-failed");
        let before = app.audit_size().await;
        let suspended = app.post(&suspend, Some(&regulator.token), json!({"reason": "leaked data to a third party"})).await;
        suspended.expect(200);
        assert_eq!(suspended.body["status"], "suspended");
        assert_eq!(suspended.body["suspension"]["reason"], "leaked data to a third party");
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["account.suspended"]);
        assert_eq!(entries[0]["subject"], consumer.id.to_string());
        assert_eq!(entries[0]["actor"], regulator.id.to_string());

        // The account token and the data token issued before are refused now.
        app.get("/api/v1/accounts/me", Some(&consumer.token)).await.problem(403, "account-suspended");
        let etag = app.get(&content(dataset, 1), Some(&holder.token)).await.header("etag").unwrap().to_owned();
        let at = app.audit_size().await;
        app.get(&content(dataset, 1), Some(&data)).await.problem(403, "account-suspended");
        app.get(&content(dataset, 1), Some(&consumer.token)).await.problem(403, "account-suspended");
        // Holding the bytes already changes nothing: refused, not 304.
        conditional(&app, &content(dataset, 1), Some(&data), &etag).await.problem(403, "account-suspended");
        // Nothing was delivered, counted or recorded for the suspended account.
        assert_eq!(app.audit_size().await, at);
        let grant_now = app.get(&format!("/api/v1/grants/{grant}"), Some(&holder.token)).await;
        assert_eq!(grant_now.body["downloads_used"], 1);
        app.get("/api/v1/datasets", Some(&consumer.token)).await.problem(403, "account-suspended");
        // ... and so is a new login, even with the right password.
        app.token("consumer", PASSWORD).await.problem(403, "account-suspended");
        app.post(&suspend, Some(&admin.token), json!({"reason": "again"})).await.problem(409, "invalid-state");

        let reinstate = format!("/api/v1/accounts/{}/reinstate", consumer.id);
        let before = app.audit_size().await;
        let back = app.post(&reinstate, Some(&admin.token), json!({"reason": "cleared"})).await;
        back.expect(200);
        assert_eq!(back.body["status"], "active");
        TestApp::assert_actions(&app.audit_since(before).await, &["account.reinstated"]);
        app.get("/api/v1/accounts/me", Some(&consumer.token)).await.expect(200);
        app.get(&content(dataset, 1), Some(&data)).await.expect(200);
        app.post(&reinstate, Some(&admin.token), json!({})).await.problem(409, "invalid-state");
        // Oversight reads any account; others only their own.
        app.get(&format!("/api/v1/accounts/{}", consumer.id), Some(&regulator.token)).await.expect(200);
        app.get(&format!("/api/v1/accounts/{}", consumer.id), Some(&holder.token)).await.problem(403, "wrong-role");
    }

    async fn suspension_reaches_every_instance(app: TestApp) {
        let twin = app.twin().await;
        let other = twin.base.clone();
        let regulator = app.regulator("reg-1").await;
        let consumer = app.consumer("consumer").await;
        let me = |base: String| {
            let token = consumer.token.clone();
            async move {
                let resp = reqwest::Client::new().get(format!("{base}/api/v1/accounts/me")).bearer_auth(token).send().await.unwrap();
                TestApp::read(resp).await
            }
        };
        me(other.clone()).await.expect(200);
        app.post(&format!("/api/v1/accounts/{}/suspend", consumer.id), Some(&regulator.token), json!({"reason": "fraud"}))
            .await
            .expect(200);
        me(other.clone()).await.problem(403, "account-suspended");
        me(app.base.clone()).await.problem(403, "account-suspended");
    }

    async fn tokens_are_checked_against_their_account(app: TestApp) {
        // A valid signature over a token whose account does not exist.
        let now = chrono::Utc::now().timestamp();
        let claims = datamarket::tokens::AccessClaims {
            iss: app.settings.auth.issuer.clone(),
            sub: Uuid::now_v7(),
            aud: datamarket::tokens::API_AUDIENCE.into(),
            iat: now,
            exp: now + 600,
            jti: Uuid::new_v4(),
            name: "ghost".into(),
            roles: vec![datamarket::domain::Role::Provider],
        };
        let ghost = datamarket::tokens::sign(&app.market.keys, &claims).unwrap();
        app.get("/api/v1/accounts/me", Some(&ghost)).await.problem(401, "invalid-token");
        let holder = app.provider("holder").await;
        let dataset = app.listed_dataset(&holder, "Traffic").await;
        let at = app.audit_size().await;
        app.get(&content(dataset, 1), Some(&ghost)).await.problem(401, "invalid-token");
        assert_eq!(app.audit_size().await, at);
        app.post("/api/v1/datasets", Some(&ghost), dataset_body("Ghost", "general"))
            .await
            .problem(401, "invalid-token");
        // A token sent to a public endpoint must be valid too.
        app.get("/api/v1/datasets", Some("not-a-jwt")).await.problem(401, "invalid-token");
        app.get("/api/v1/datasets", Some(&ghost)).await.problem(401, "invalid-token");
        app.get("/api/v1/datasets", None).await.expect(200);
    }

    async fn names_differ_by_more_than_letter_case(app: TestApp) {
        app.provider("Acme").await;
        app.post("/api/v1/accounts", None, json!({"name": "acme", "password": PASSWORD, "roles": ["consumer"]}))
            .await
            .problem(409, "already-exists");
        app.post("/api/v1/accounts", None, json!({"name": "ACME", "password": PASSWORD, "roles": ["consumer"]}))
            .await
            .problem(409, "already-exists");
        let token = app.token("aCmE", PASSWORD).await;
        token.expect(200);
        let me = app.get("/api/v1/accounts/me", token.body["access_token"].as_str()).await;
        assert_eq!(me.body["name"], "Acme");
    }

    async fn provenance_names_no_login(app: TestApp) {
        let named = app
            .post("/api/v1/accounts", None, json!({"name": "acme-login", "password": PASSWORD, "roles": ["provider"],
                                                 "display_name": "Acme Traffic Ltd."}))
            .await;
        named.expect(201);
        let token = app.token("acme-login", PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
        let acme = User { id: named.id(), name: "acme-login".into(), token };
        let plain = app.provider("plain-login").await;
        let a = app.listed_dataset(&acme, "A").await;
        let b = app.listed_dataset(&plain, "B").await;
        for dataset in [a, b] {
            let prov = app.get(&format!("/api/v1/datasets/{dataset}/provenance"), None).await;
            prov.expect(200);
            let text = prov.body.to_string();
            assert!(!text.contains("acme-login") && !text.contains("plain-login"), "no login name in {text}");
        }
        let prov = app.get(&format!("/api/v1/datasets/{a}/provenance"), None).await;
        assert_eq!(prov.body["agent"][format!("dm:account-{}", acme.id)]["prov:label"], "Acme Traffic Ltd.");
    }

    async fn every_delivery_is_on_the_record(app: TestApp) {
        let holder = app.provider("holder").await;
        let dataset = app.listed_dataset(&holder, "Traffic").await;
        let before = app.audit_size().await;
        let own = app.get(&content(dataset, 1), Some(&holder.token)).await;
        own.expect(200);
        assert_eq!(own.audit_indexes(), vec![before]);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["delivery.completed"]);
        assert_eq!(entries[0]["detail"]["right"], "holding");
        assert_eq!(entries[0]["detail"]["territory"], "CN");
        assert_eq!(entries[0]["actor"], holder.id.to_string());
        // Payloads are attachments, never rendered by a browser.
        let disposition = own.header("content-disposition").unwrap();
        assert!(disposition.starts_with("attachment"), "{disposition}");

        // A processing right holder's download is recorded as such.
        let processor = app.consumer("processor").await;
        app.post(&format!("/api/v1/datasets/{dataset}/rights/transfers"), Some(&holder.token),
                 json!({"right": "processing", "to": processor.id}))
            .await
            .expect(201);
        let before = app.audit_size().await;
        app.get(&content(dataset, 1), Some(&processor.token)).await.expect(200);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["delivery.completed"]);
        assert_eq!(entries[0]["detail"]["right"], "processing");

        // Data tokens are issued on the record with the client address.
        let consumer = app.consumer("consumer").await;
        let grant = app.grant_for(&holder, &consumer, request_body(dataset), json!({})).await;
        let before = app.audit_size().await;
        app.post(&format!("/api/v1/grants/{grant}/tokens"), Some(&consumer.token), json!({})).await.expect(201);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["data_token.issued"]);
        assert_eq!(entries[0]["detail"]["address"], "127.0.0.1");
        // A failed login too.
        let before = app.audit_size().await;
        app.token("consumer", "not-the-password").await.problem(401, "invalid-credentials");
        app.token("nobody-here", "not-the-password").await.problem(401, "invalid-credentials");
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["account.login_failed", "account.login_failed"]);
        assert_eq!(entries[0]["subject"], consumer.id.to_string());
        assert_eq!(entries[0]["detail"]["outcome"], "wrong password");
        assert_eq!(entries[1]["subject"], "name:nobody-here");
        assert_eq!(entries[1]["actor"], Value::Null);
    }

    async fn a_damaged_payload_is_neither_delivered_nor_counted(app: TestApp) {
        let holder = app.provider("holder").await;
        let consumer = app.consumer("consumer").await;
        // One payload read in place (22 bytes), one read on a blocking
        // thread (over 64 KiB).
        let small = app.listed_dataset(&holder, "Traffic").await;
        let large = app.dataset(&holder, "Rail", "general").await;
        app.upload(&holder, large, &vec![b'x'; 100_000]).await.expect(201);
        app.post(&format!("/api/v1/datasets/{large}/publish"), Some(&holder.token), json!({}))
            .await
            .expect(200);
        let mut grants = Vec::new();
        for dataset in [small, large] {
            grants.push(app.grant_for(&holder, &consumer, request_body(dataset), json!({})).await);
        }
        let key = |dataset: Uuid| {
            app.market.db.read(move |conn| {
                use datamarket::store::schema::dataset_versions as v;
                use diesel::prelude::*;
                Ok(v::table
                    .filter(v::dataset_id.eq(dataset.to_string()))
                    .select(v::object_key)
                    .first::<String>(conn)?)
            })
        };
        let objects = &app.settings.storage.objects_dir;
        // The small payload's file loses its tail on disk; the large one's
        // gains bytes: neither holds the bytes whose SHA-256 was recorded.
        std::fs::write(objects.join(key(small).await.unwrap()), b"city,count\n").unwrap();
        std::fs::write(objects.join(key(large).await.unwrap()), vec![b'x'; 100_001]).unwrap();
        let before = app.audit_size().await;
        for dataset in [small, large] {
            for user in [&consumer, &holder] {
                app.get(&content(dataset, 1), Some(&user.token)).await.problem(500, "internal");
            }
            // A range the damaged file still holds is refused as well.
            let ranged = app
                .client
                .get(app.url(&content(dataset, 1)))
                .bearer_auth(&consumer.token)
                .header("range", "bytes=0-4")
                .send()
                .await
                .unwrap();
            TestApp::read(ranged).await.problem(500, "internal");
        }
        assert_eq!(app.audit_size().await, before, "no delivery on the record");
        for grant in grants {
            let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&consumer.token)).await;
            assert_eq!(g.body["downloads_used"], 0, "no download counted");
        }
    }

    async fn delivery_goes_to_the_registered_territory(app: TestApp) {
        let holder = app.provider("holder").await;
        let dataset = app.listed_dataset(&holder, "Traffic").await;
        let sg = app.post("/api/v1/accounts", None, json!({"name": "sg-lab", "password": PASSWORD, "roles": ["consumer"], "territory": "SG"})).await;
        sg.expect(201);
        assert_eq!(sg.body["territory"], "SG");
        app.post("/api/v1/accounts", None, json!({"name": "xx-lab", "password": PASSWORD, "roles": ["consumer"], "territory": "sg"}))
            .await
            .problem(422, "validation-failed");
        let token = app.token("sg-lab", PASSWORD).await.body["access_token"].as_str().unwrap().to_owned();
        let sg = User { id: sg.id(), name: "sg-lab".into(), token };
        // From Singapore, a request is a cross-border one, to Singapore.
        app.post("/api/v1/access-requests", Some(&sg.token), request_body(dataset))
            .await
            .problem(422, "validation-failed");
        let mut abroad = request_body(dataset);
        abroad["cross_border"] = json!(true);
        abroad["legal_basis"] = json!("exemption");
        abroad["personal_information_subjects"] = json!(0);
        abroad["destination_country"] = json!("DE");
        app.post("/api/v1/access-requests", Some(&sg.token), abroad.clone()).await.problem(422, "validation-failed");
        abroad["destination_country"] = json!("SG");
        // The holder narrows the territory to home: the data may not go to Singapore.
        let grant = app.grant_for(&holder, &sg, abroad, json!({"policy": {"territory": ["CN"]}})).await;
        let before = app.audit_size().await;
        app.get(&content(dataset, 1), Some(&sg.token)).await.problem(403, "outside-territory");
        let refused = app.audit_since(before).await;
        TestApp::assert_actions(&refused, &["delivery.refused"]);
        assert_eq!(refused[0]["detail"]["territory"], "SG");
        assert_eq!(refused[0]["detail"]["grant"], grant);
    }

    async fn throttling_is_shared_and_spares_known_clients(app: TestApp) {
        // The same market behind a load balancer that sets X-Forwarded-For.
        let backend = app.backend;
        drop(app);
        let app = TestApp::spawn_with(backend, Box::new(|s| {
            s.throttle.trust_forwarded_for = true;
            s.throttle.failures_per_account = 2;
            s.throttle.failures_per_address = 100;
            s.throttle.failures_per_name = 4;
            s.throttle.window_secs = 600;
        })).await.expect(NO_POSTGRES);
        let twin = app.twin().await;
        let other = twin.base.clone();
        app.provider("victim").await;
        // The victim logs in from its office: a known client from now on.
        login_from(&app.base, "victim", PASSWORD, "10.9.9.9").await.expect(200);
        // An attacker guesses from several addresses, through both instances.
        for (i, base) in [&app.base, &other, &app.base, &other].iter().enumerate() {
            login_from(base, "victim", "guess-guess-guess", &format!("10.0.0.{i}")).await.problem(401, "invalid-credentials");
        }
        // The fifth failure across addresses crosses the name's limit of 4:
        // counted on one instance, refused on the other.
        login_from(&other, "victim", "guess-guess-guess", "10.0.0.7").await.problem(401, "invalid-credentials");
        login_from(&app.base, "victim", PASSWORD, "10.0.0.8").await.problem(429, "too-many-requests");
        // The victim's own office still gets in.
        login_from(&other, "victim", PASSWORD, "10.9.9.9").await.expect(200);
        // An unknown address is still locked out by the name's lock.
        login_from(&other, "victim", PASSWORD, "10.9.9.10").await.problem(429, "too-many-requests");
        // A known address failing on its own name is locked out of it too
        // (both instances), by its own count.
        for _ in 0..2 {
            login_from(&app.base, "victim", "guess-guess-guess", "10.9.9.9").await.problem(401, "invalid-credentials");
        }
        login_from(&other, "victim", "guess-guess-guess", "10.9.9.9").await.problem(429, "too-many-requests");
        login_from(&app.base, "victim", PASSWORD, "10.9.9.9").await.problem(429, "too-many-requests");
    }

    async fn data_is_private_on_disk(app: TestApp) {
        let fresh = app.dir.path().join("fresh/data");
        let database = app.settings.database.url.expose().to_owned();
        let sqlite = !database.starts_with("postgres");
        let dir = fresh.clone();
        let db_file = fresh.join("market.db");
        let db_url = if sqlite { format!("sqlite://{}", db_file.display()) } else { database };
        let other = TestApp::spawn_with(app.backend, Box::new(move |s| {
            s.storage.data_dir = dir.clone();
            s.storage.objects_dir = dir.join("objects");
            s.auth.keys_dir = dir.join("keys");
            s.database.url = datamarket::config::Secret::new(db_url);
        }))
        .await
        .expect(NO_POSTGRES);
        drop(other);
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&fresh), 0o700, "data directory");
        assert_eq!(mode(&fresh.join("objects")), 0o700, "payload directory");
        if sqlite {
            assert_eq!(mode(&db_file), 0o600, "database file");
        }
    }

    async fn a_rejected_listing_is_not_lowered_past_its_review(app: TestApp) {
        let regulator = app.regulator("reg-1").await;
        let acme = app.provider("acme").await;
        app.verified(&acme).await;
        let id = app.dataset(&acme, "Health records", "important").await;
        app.upload(&acme, id, b"x").await.expect(201);
        app.post(&format!("/api/v1/datasets/{id}/publish"), Some(&acme.token), json!({})).await.expect(200);
        app.post(&format!("/api/v1/datasets/{id}/review"), Some(&regulator.token),
                 json!({"decision": "reject", "reason": "not anonymised"})).await.expect(200);
        app.patch(&format!("/api/v1/datasets/{id}"), Some(&acme.token), json!({"classification": "general"})).await.expect(200);
        let published = app.post(&format!("/api/v1/datasets/{id}/publish"), Some(&acme.token), json!({})).await;
        published.expect(200);
        assert_eq!(published.body["status"], "pending_review", "lowered below its review: reviewed again");
        // The regulator may accept the lower class; then it lists as general.
        let approved = app.post(&format!("/api/v1/datasets/{id}/review"), Some(&regulator.token), json!({"decision": "approve"})).await;
        approved.expect(200);
        assert_eq!(approved.body["status"], "listed");
        assert_eq!(approved.body["classification"], "general");
    }

    async fn derived_data_inherits_its_sources_sensitivity(app: TestApp) {
        let acme = app.provider("acme").await;
        let core = app.dataset(&acme, "Grid control", "core").await;
        app.upload(&acme, core, b"core bytes").await.expect(201);
        let personal = app.dataset(&acme, "Patients", "general").await;
        app.patch(&format!("/api/v1/datasets/{personal}"), Some(&acme.token), json!({"personal_data": true})).await.expect(200);
        app.upload(&acme, personal, b"p").await.expect(201);

        let mut body = dataset_body("Laundered copy", "general");
        body["derived_from"] = json!([{"dataset": core, "version": 1}]);
        body["activity"] = json!({"name": "copy"});
        let derived = app.post("/api/v1/datasets", Some(&acme.token), body).await;
        derived.expect(201);
        assert_eq!(derived.body["classification"], "core");
        assert_eq!(derived.body["inherited_classification"], "core");
        let id = derived.id();
        app.upload(&acme, id, b"core bytes").await.expect(201);
        app.post(&format!("/api/v1/datasets/{id}/publish"), Some(&acme.token), json!({}))
            .await
            .problem(422, "core-data-not-tradable");
        app.patch(&format!("/api/v1/datasets/{id}"), Some(&acme.token), json!({"classification": "general"}))
            .await
            .problem(422, "validation-failed");

        let mut body = dataset_body("Patient summary", "general");
        body["derived_from"] = json!([{"dataset": personal, "version": 1}]);
        body["activity"] = json!({"name": "aggregate"});
        let summary = app.post("/api/v1/datasets", Some(&acme.token), body).await;
        summary.expect(201);
        assert_eq!(summary.body["personal_data"], true);
        assert_eq!(summary.body["inherited_personal_data"], true);
        app.patch(&format!("/api/v1/datasets/{}", summary.id()), Some(&acme.token), json!({"personal_data": false}))
            .await
            .problem(422, "validation-failed");
    }

    async fn a_new_version_of_reviewed_data_waits_for_review(app: TestApp) {
        let regulator = app.regulator("reg-1").await;
        let acme = app.provider("acme").await;
        let consumer = app.consumer("consumer").await;
        app.verified(&acme).await;
        app.verified(&consumer).await;
        let id = app.dataset(&acme, "Power use", "important").await;
        app.upload(&acme, id, b"v1").await.expect(201);
        app.post(&format!("/api/v1/datasets/{id}/publish"), Some(&acme.token), json!({})).await.expect(200);
        app.post(&format!("/api/v1/datasets/{id}/review"), Some(&regulator.token), json!({"decision": "approve"}))
            .await
            .expect(200);
        let grant = app.grant_for(&acme, &consumer, request_body(id), json!({})).await;
        app.get(&content(id, 1), Some(&consumer.token)).await.expect(200);

        let v2 = app.upload(&acme, id, b"v2 with more rows").await;
        v2.expect(201);
        assert_eq!(v2.body["status"], "pending_review");
        let before = app.audit_size().await;
        let refused = app.get(&content(id, 2), Some(&consumer.token)).await;
        refused.problem(403, "version-under-review");
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["delivery.refused"]);
        assert_eq!(entries[0]["detail"]["reason"], "version-under-review");
        assert_eq!(entries[0]["detail"]["grant"], grant);
        // Its holder has it; the older version still goes out.
        app.get(&content(id, 2), Some(&acme.token)).await.expect(200);
        app.get(&content(id, 1), Some(&consumer.token)).await.expect(200);

        let review = format!("/api/v1/datasets/{id}/versions/2/review");
        app.post(&review, Some(&acme.token), json!({"decision": "approve"})).await.problem(403, "wrong-role");
        app.post(&review, Some(&regulator.token), json!({"decision": "reject"})).await.problem(422, "validation-failed");
        let before = app.audit_size().await;
        let approved = app.post(&review, Some(&regulator.token), json!({"decision": "approve"})).await;
        approved.expect(200);
        assert_eq!(approved.body["status"], "available");
        TestApp::assert_actions(&app.audit_since(before).await, &["version.reviewed"]);
        app.post(&review, Some(&regulator.token), json!({"decision": "approve"})).await.problem(409, "invalid-state");
        app.get(&content(id, 2), Some(&consumer.token)).await.expect(200);
        let versions = app.get(&format!("/api/v1/datasets/{id}/versions"), None).await;
        assert_eq!(versions.body[1]["review"]["reviewer"], regulator.id.to_string());
    }
}
