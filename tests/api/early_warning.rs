//! Early warning and jurisdictions: the watch raises alerts with their
//! evidence from what the log records, once per rule and subject even with
//! two gateways watching; regulators close them; a regulator sees and acts
//! only within its jurisdiction.

use std::time::Duration;

use datamarket::domain::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

/// Thresholds low enough for a test to cross, and a watch that looks often.
fn watchful() -> Tweak {
    Box::new(|s| {
        s.supervision.watch_interval_ms = 50;
        s.supervision.delivery_surge.min_deliveries = 4;
        s.supervision.delivery_surge.factor = 2;
        s.supervision.personal_data_sweep.datasets = 3;
        s.supervision.refused_deliveries.refusals = 3;
        s.supervision.cross_border_important.requests = 2;
    })
}

/// Waits until the watch has read the whole log.
async fn caught_up(app: &TestApp) {
    for _ in 0..400 {
        let (position, size) = app
            .market
            .db
            .read(|conn| {
                use datamarket::store::schema::{alert_watch, audit_log_head};
                use diesel::prelude::*;
                let position: i64 = alert_watch::table
                    .select(alert_watch::position)
                    .first(conn)?;
                let size: i64 = audit_log_head::table
                    .select(audit_log_head::size)
                    .first(conn)?;
                Ok((position, size))
            })
            .await
            .expect("watch position");
        if position >= size {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the watch did not catch up with the log");
}

async fn alerts(app: &TestApp, token: &str) -> Vec<Value> {
    let reply = app
        .get("/api/v1/supervision/alerts?limit=200", Some(token))
        .await;
    reply.expect(200);
    reply.body["items"].as_array().unwrap().clone()
}

fn find<'a>(alerts: &'a [Value], rule: &str, subject: &str) -> &'a Value {
    let found: Vec<&Value> = alerts
        .iter()
        .filter(|a| a["rule"] == rule && a["subject"] == subject)
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one {rule} alert about {subject}: {alerts:#?}"
    );
    found[0]
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

fn request(dataset: Uuid, max_downloads: u32) -> Value {
    json!({"dataset": dataset, "purpose": "research", "duration_days": 30,
           "max_downloads": max_downloads, "processing": false, "cross_border": false})
}

/// A cross-border request for `dataset` to Singapore.
fn abroad(dataset: Uuid) -> Value {
    json!({"dataset": dataset, "purpose": "research", "duration_days": 30, "max_downloads": 1,
           "processing": false, "cross_border": true, "destination_country": "SG",
           "legal_basis": "security_assessment", "personal_information_subjects": 0})
}

/// An important dataset with a version, published (so waiting for review).
async fn important(app: &TestApp, owner: &User, title: &str, extra: Value) -> Uuid {
    let mut body = dataset_body(title, "important");
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let made = app.post("/api/v1/datasets", Some(&owner.token), body).await;
    made.expect(201);
    let id = made.id();
    app.upload(owner, id, b"a,b\n1,2\n").await.expect(201);
    app.post(
        &format!("/api/v1/datasets/{id}/publish"),
        Some(&owner.token),
        json!({}),
    )
    .await
    .expect(200);
    id
}

/// Every rule fires once on what the market does through two gateways,
/// with the log entries that set it off as evidence; regulators take alerts
/// on and close them, a confirmed one counts in the compliance record, and
/// an alert in force is not raised twice.
async fn alerts_case(app: TestApp) {
    let twin = app.twin().await;
    let owner = app.provider("ew-owner").await;
    let consumer = app.consumer("ew-consumer").await;
    let other = app.consumer("ew-other").await;
    let regulator = app.regulator("ew-regulator").await;
    let auditor = app.auditor("ew-auditor").await;
    app.verified(&owner).await;
    app.verified(&consumer).await;
    app.verified(&other).await;

    // A surge: four deliveries on a grant with no history.
    let busy = app.listed_dataset(&owner, "Busy feed").await;
    let surge_grant = app
        .grant_for(&owner, &consumer, request(busy, 20), json!({}))
        .await;
    let token = data_token(&app, &consumer, &surge_grant).await;
    let content = format!("/api/v1/datasets/{busy}/versions/1/content");
    for i in 0..4 {
        let gateway = if i % 2 == 0 { &app } else { &twin };
        gateway.get(&content, Some(&token)).await.expect(200);
    }

    // Refusals: three on an exhausted grant, three on a dataset with none.
    let small = app.listed_dataset(&owner, "Small feed").await;
    let small_grant = app
        .grant_for(&owner, &consumer, request(small, 1), json!({}))
        .await;
    let token = data_token(&app, &consumer, &small_grant).await;
    let content = format!("/api/v1/datasets/{small}/versions/1/content");
    app.get(&content, Some(&token)).await.expect(200);
    for _ in 0..3 {
        twin.get(&content, Some(&token)).await.expect(403);
    }
    let unlicensed = app.listed_dataset(&owner, "Not licensed").await;
    for _ in 0..3 {
        app.get(
            &format!("/api/v1/datasets/{unlicensed}/versions/1/content"),
            Some(&consumer.token),
        )
        .await
        .expect(403);
    }

    // A sweep: requests for three datasets holding personal information.
    for i in 0..3 {
        let personal = app.dataset(&owner, &format!("People {i}"), "general").await;
        app.patch(
            &format!("/api/v1/datasets/{personal}"),
            Some(&owner.token),
            json!({"personal_data": true}),
        )
        .await
        .expect(200);
        app.upload(&owner, personal, b"name\nli\n")
            .await
            .expect(201);
        app.post(
            &format!("/api/v1/datasets/{personal}/publish"),
            Some(&owner.token),
            json!({}),
        )
        .await
        .expect(200);
        app.post(
            "/api/v1/access-requests",
            Some(&other.token),
            request(personal, 1),
        )
        .await
        .expect(201);
    }

    // Cross-border requests for important data to one destination.
    let secret = important(&app, &owner, "Grid load", json!({})).await;
    app.post(
        &format!("/api/v1/datasets/{secret}/review"),
        Some(&regulator.token),
        json!({"decision": "approve"}),
    )
    .await
    .expect(200);
    for asker in [&consumer, &other] {
        twin.post(
            "/api/v1/access-requests",
            Some(&asker.token),
            abroad(secret),
        )
        .await
        .expect(201);
    }

    // A listing lowered to general after a regulator reviewed it.
    let lowered = important(&app, &owner, "Pipeline map", json!({})).await;
    app.post(
        &format!("/api/v1/datasets/{lowered}/review"),
        Some(&regulator.token),
        json!({"decision": "reject", "reason": "needs masking"}),
    )
    .await
    .expect(200);
    app.patch(
        &format!("/api/v1/datasets/{lowered}"),
        Some(&owner.token),
        json!({"classification": "general"}),
    )
    .await
    .expect(200);

    caught_up(&app).await;
    caught_up(&twin).await;
    let raised = alerts(&app, &regulator.token).await;
    let surge = find(&raised, "delivery_surge", &surge_grant);
    let on_grant = find(&raised, "refused_deliveries", &small_grant);
    let on_account = find(&raised, "refused_deliveries", &consumer.id.to_string());
    let sweep = find(&raised, "personal_data_sweep", &other.id.to_string());
    let border = find(&raised, "cross_border_important", "SG");
    let downgrade = find(&raised, "downgraded_after_review", &lowered.to_string());
    assert_eq!(raised.len(), 6, "nothing else was raised: {raised:#?}");
    assert_eq!(surge["account"], consumer.id.to_string());
    assert_eq!(surge["subject_kind"], "grant");
    assert_eq!(surge["state"], "open");
    assert_eq!(surge["evidence"].as_array().unwrap().len(), 4);
    assert_eq!(on_grant["evidence"].as_array().unwrap().len(), 3);
    // Raised by the round that first saw three refusals over two
    // subjects: how many it had seen by then depends on timing.
    let counted = on_account["evidence"].as_array().unwrap().len();
    assert!((3..=6).contains(&counted), "{on_account}");
    assert_eq!(sweep["evidence"].as_array().unwrap().len(), 3);
    assert_eq!(border["evidence"].as_array().unwrap().len(), 2);
    assert_eq!(border["subject_kind"], "destination");
    assert_eq!(downgrade["account"], owner.id.to_string());
    assert_eq!(downgrade["evidence"].as_array().unwrap().len(), 2);

    // The evidence is the log's: the refusals on the grant are refusals.
    let entries = app
        .get(
            &format!("/api/v1/audit/entries?subject={small_grant}&action=delivery.refused"),
            Some(&auditor.token),
        )
        .await;
    entries.expect(200);
    let logged: Vec<u64> = entries.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["index"].as_u64().unwrap())
        .collect();
    let evidence: Vec<u64> = on_grant["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_u64().unwrap())
        .collect();
    assert_eq!(evidence, logged);

    // Oversight only; auditors read but do not act.
    app.get("/api/v1/supervision/alerts", Some(&consumer.token))
        .await
        .expect(403);
    app.get("/api/v1/supervision/alerts", None)
        .await
        .expect(401);
    assert_eq!(alerts(&app, &auditor.token).await.len(), 6);
    let surge_id = surge["id"].as_str().unwrap();
    let path = |what: &str| format!("/api/v1/supervision/alerts/{surge_id}{what}");
    app.post(&path("/acknowledge"), Some(&auditor.token), json!({}))
        .await
        .expect(403);
    app.post(
        &format!("/api/v1/supervision/alerts/{}/acknowledge", Uuid::new_v4()),
        Some(&regulator.token),
        json!({}),
    )
    .await
    .expect(404);

    // open → acknowledged → resolved, each once, each in the log.
    let taken = app
        .post(&path("/acknowledge"), Some(&regulator.token), json!({}))
        .await;
    taken.expect(200);
    assert_eq!(taken.body["state"], "acknowledged");
    assert_eq!(taken.body["acknowledged_by"], regulator.id.to_string());
    assert!(taken.headers.contains_key("audit-index"));
    let again = twin
        .post(&path("/acknowledge"), Some(&regulator.token), json!({}))
        .await;
    again.expect(409);
    assert_eq!(again.body["current_state"], "acknowledged");
    app.post(
        &path("/resolve"),
        Some(&regulator.token),
        json!({"outcome": "confirmed", "note": ""}),
    )
    .await
    .expect(422);
    app.post(
        &path("/resolve"),
        Some(&regulator.token),
        json!({"outcome": "maybe", "note": "?"}),
    )
    .await
    .expect(422);
    let closed = app
        .post(
            &path("/resolve"),
            Some(&regulator.token),
            json!({"outcome": "confirmed", "note": "bulk copying outside the grant's purpose"}),
        )
        .await;
    closed.expect(200);
    assert_eq!(closed.body["state"], "resolved");
    assert_eq!(closed.body["outcome"], "confirmed");
    app.post(
        &path("/resolve"),
        Some(&regulator.token),
        json!({"outcome": "unfounded", "note": "again"}),
    )
    .await
    .expect(409);
    // Straight from open to resolved, unfounded.
    let account_alert = on_account["id"].as_str().unwrap();
    let unfounded = app
        .post(
            &format!("/api/v1/supervision/alerts/{account_alert}/resolve"),
            Some(&regulator.token),
            json!({"outcome": "unfounded", "note": "a misconfigured pipeline"}),
        )
        .await;
    unfounded.expect(200);
    let trail = app
        .get(
            &format!("/api/v1/audit/entries?subject={surge_id}"),
            Some(&auditor.token),
        )
        .await;
    trail.expect(200);
    let actions: Vec<&str> = trail.body["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["alert.raised", "alert.acknowledged", "alert.resolved"]
    );
    let open = app
        .get(
            "/api/v1/supervision/alerts?state=open",
            Some(&regulator.token),
        )
        .await;
    open.expect(200);
    assert_eq!(open.body["items"].as_array().unwrap().len(), 4);

    // A confirmed alert counts against the participant; an unfounded one not.
    let record = app
        .get(
            &format!("/api/v1/accounts/{}/compliance", consumer.id),
            Some(&regulator.token),
        )
        .await;
    record.expect(200);
    assert_eq!(record.body["alerts_confirmed"], 1);

    // An alert in force is not raised again: another refusal on the grant.
    twin.get(&content, Some(&token)).await.expect(403);
    caught_up(&app).await;
    let now = alerts(&app, &regulator.token).await;
    find(&now, "refused_deliveries", &small_grant);
    assert_eq!(now.len(), 6);
    // A resolved one is, on as many new refusals as its threshold.
    for _ in 0..2 {
        app.get(&content, Some(&token)).await.expect(403);
    }
    caught_up(&app).await;
    let now = alerts(&app, &regulator.token).await;
    assert_eq!(now.len(), 7);
    let about_consumer: Vec<&Value> = now
        .iter()
        .filter(|a| a["subject"] == consumer.id.to_string())
        .collect();
    assert_eq!(about_consumer.len(), 2);
    assert!(about_consumer.iter().any(|a| a["state"] == "open"));

    // A regional regulator sees none of them: the parties have no region.
    let admin = app.operator_account("ew-admin", &[Role::Admin]).await;
    let regional = app.regulator("ew-shanghai").await;
    app.put(
        &format!("/api/v1/accounts/{}/jurisdiction", regional.id),
        Some(&admin.token),
        json!({"regions": ["CN-SH"]}),
    )
    .await
    .expect(200);
    assert!(alerts(&app, &regional.token).await.is_empty());
    app.get(
        &format!(
            "/api/v1/supervision/alerts/{}",
            on_grant["id"].as_str().unwrap()
        ),
        Some(&regional.token),
    )
    .await
    .expect(404);
}

/// Registers a participant in a region, verified.
async fn in_region(app: &TestApp, name: &str, role: &str, region: &str) -> User {
    let made = app
        .post(
            "/api/v1/accounts",
            None,
            json!({"name": name, "password": PASSWORD, "roles": [role], "region": region}),
        )
        .await;
    made.expect(201);
    assert_eq!(made.body["region"], region);
    let token = app.token(name, PASSWORD).await;
    token.expect(200);
    User {
        id: made.id(),
        name: name.to_owned(),
        token: token.body["access_token"].as_str().unwrap().to_owned(),
    }
}

/// Admins set jurisdictions; a regulator reviews, verifies, freezes and
/// decides complaints only within its own, and its complaint queue holds
/// only what falls in it.
async fn jurisdiction_case(app: TestApp) {
    let admin = app.operator_account("jd-admin", &[Role::Admin]).await;
    let national = app.regulator("jd-national").await;
    let shanghai = app.regulator("jd-shanghai").await;
    let health = app.regulator("jd-health").await;
    let set = |who: &User, body: Value, token: String| {
        let path = format!("/api/v1/accounts/{}/jurisdiction", who.id);
        let app = &app;
        async move { app.put(&path, Some(&token), body).await }
    };

    // Only admins set one, only on regulators, only with home regions.
    set(
        &shanghai,
        json!({"regions": ["CN-SH"]}),
        national.token.clone(),
    )
    .await
    .expect(403);
    set(
        &shanghai,
        json!({"regions": ["SG-01"]}),
        admin.token.clone(),
    )
    .await
    .expect(422);
    set(
        &shanghai,
        json!({"sectors": ["mining"]}),
        admin.token.clone(),
    )
    .await
    .expect(422);
    let sh = set(
        &shanghai,
        json!({"regions": ["CN-SH"]}),
        admin.token.clone(),
    )
    .await;
    sh.expect(200);
    assert_eq!(
        sh.body["jurisdiction"],
        json!({"regions": ["CN-SH"], "sectors": []})
    );
    assert!(sh.headers.contains_key("audit-index"));
    set(&health, json!({"sectors": ["health"]}), admin.token.clone())
        .await
        .expect(200);
    let provider_sh = in_region(&app, "jd-provider-sh", "provider", "CN-SH").await;
    set(&provider_sh, json!({}), admin.token.clone())
        .await
        .expect(422);
    // A region is a subdivision of the account's own territory.
    app.post(
        "/api/v1/accounts",
        None,
        json!({"name": "jd-bad-region", "password": PASSWORD, "roles": ["provider"], "region": "SG-01"}),
    )
    .await
    .expect(422);

    // Verification: a regional regulator verifies only its region's.
    let provider_gd = in_region(&app, "jd-provider-gd", "provider", "CN-GD").await;
    let verify = |who: &User, by: &User| {
        let path = format!("/api/v1/accounts/{}/verify", who.id);
        let token = by.token.clone();
        let app = &app;
        async move {
            app.post(&path, Some(&token), json!({"reference": "file 7"}))
                .await
        }
    };
    let outside = verify(&provider_gd, &shanghai).await;
    outside.expect(403);
    assert_eq!(outside.body["type"], "/problems/outside-jurisdiction");
    verify(&provider_gd, &national).await.expect(200);
    verify(&provider_sh, &shanghai).await.expect(200);

    // Reviews: region and sector must both fall in the jurisdiction.
    let finance = json!({"sector": "finance"});
    let sh_data = important(&app, &provider_sh, "SH ledger", finance.clone()).await;
    let gd_data = important(&app, &provider_gd, "GD ledger", finance).await;
    // The listing queue: what waits for a regulator, in its jurisdiction.
    let queue_of = |path: &'static str, by: &User| {
        let token = by.token.clone();
        let app = &app;
        async move {
            let reply = app.get(path, Some(&token)).await;
            reply.expect(200);
            reply.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    let listings = "/api/v1/supervision/reviews/listings";
    assert_eq!(queue_of(listings, &shanghai).await, [sh_data.to_string()]);
    assert!(queue_of(listings, &health).await.is_empty());
    assert_eq!(queue_of(listings, &national).await.len(), 2);
    app.get(listings, Some(&provider_sh.token))
        .await
        .expect(403);
    let review = |dataset: Uuid, by: &User| {
        let path = format!("/api/v1/datasets/{dataset}/review");
        let token = by.token.clone();
        let app = &app;
        async move {
            app.post(&path, Some(&token), json!({"decision": "approve"}))
                .await
        }
    };
    review(gd_data, &shanghai).await.expect(403);
    review(sh_data, &health).await.expect(403);
    let approved = review(sh_data, &shanghai).await;
    approved.expect(200);
    assert_eq!(approved.body["sector"], "finance");
    review(gd_data, &national).await.expect(200);
    // Acting on a participant or a listing as a regulator keeps to the
    // jurisdiction too: suspending, delisting.
    app.post(
        &format!("/api/v1/accounts/{}/suspend", provider_gd.id),
        Some(&shanghai.token),
        json!({"reason": "not mine to suspend"}),
    )
    .await
    .expect(403);
    app.post(
        &format!("/api/v1/datasets/{gd_data}/delist"),
        Some(&shanghai.token),
        json!({"reason": "not mine to delist"}),
    )
    .await
    .expect(403);
    assert!(queue_of(listings, &national).await.is_empty());

    // The request queue: a cross-border request for Shanghai's data, which
    // its holder approved, waits for Shanghai's regulator.
    let abroad_consumer = app.consumer("jd-abroad").await;
    app.verified(&abroad_consumer).await;
    let asked = app
        .post(
            "/api/v1/access-requests",
            Some(&abroad_consumer.token),
            json!({"dataset": sh_data, "purpose": "audit", "duration_days": 30, "max_downloads": 1,
                   "processing": false, "cross_border": true, "destination_country": "SG",
                   "legal_basis": "security_assessment", "personal_information_subjects": 0}),
        )
        .await;
    asked.expect(201);
    app.post(
        &format!("/api/v1/access-requests/{}/approve", asked.id()),
        Some(&provider_sh.token),
        json!({}),
    )
    .await
    .expect(200);
    let requests = "/api/v1/supervision/reviews/requests";
    assert_eq!(
        queue_of(requests, &shanghai).await,
        [asked.id().to_string()]
    );
    assert!(queue_of(requests, &health).await.is_empty());
    assert_eq!(
        queue_of(requests, &national).await,
        [asked.id().to_string()]
    );
    let decision = json!({"decision": "approve", "assessment_reference": "CAC-2026-17",
                          "assessment_expires_at": "2030-01-01T00:00:00Z"});
    app.post(
        &format!("/api/v1/access-requests/{}/review", asked.id()),
        Some(&health.token),
        decision.clone(),
    )
    .await
    .expect(403);
    app.post(
        &format!("/api/v1/access-requests/{}/review", asked.id()),
        Some(&shanghai.token),
        decision,
    )
    .await
    .expect(200);
    assert!(queue_of(requests, &shanghai).await.is_empty());

    // Freezes: a dataset or account in the jurisdiction; a whole class or
    // destination only for the whole market.
    let freeze = |scope: &str, target: String, by: &User| {
        let token = by.token.clone();
        let body = json!({"scope": scope, "target": target, "reason": "inspection"});
        let app = &app;
        async move {
            app.post("/api/v1/supervision/freezes", Some(&token), body)
                .await
        }
    };
    freeze("dataset", gd_data.to_string(), &shanghai)
        .await
        .expect(403);
    freeze("classification", "core".into(), &shanghai)
        .await
        .expect(403);
    freeze("account", provider_gd.id.to_string(), &shanghai)
        .await
        .expect(403);
    let frozen = freeze("dataset", sh_data.to_string(), &shanghai).await;
    frozen.expect(201);
    app.post(
        &format!("/api/v1/supervision/freezes/{}/lift", frozen.id()),
        Some(&health.token),
        json!({"reason": "not mine"}),
    )
    .await
    .expect(403);
    app.post(
        &format!("/api/v1/supervision/freezes/{}/lift", frozen.id()),
        Some(&shanghai.token),
        json!({"reason": "inspected"}),
    )
    .await
    .expect(200);

    // Complaints: the queue holds what falls in the jurisdiction.
    let consumer = app.consumer("jd-consumer").await;
    let about_gd = app
        .post(
            "/api/v1/complaints",
            Some(&consumer.token),
            json!({"subject": "account", "id": provider_gd.id, "description": "spam"}),
        )
        .await;
    about_gd.expect(201);
    let about_sh = app
        .post(
            "/api/v1/complaints",
            Some(&consumer.token),
            json!({"subject": "listing", "id": sh_data, "description": "stale"}),
        )
        .await;
    about_sh.expect(201);
    let queue = |by: &User| {
        let token = by.token.clone();
        let app = &app;
        async move {
            let reply = app.get("/api/v1/complaints", Some(&token)).await;
            reply.expect(200);
            reply.body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(queue(&shanghai).await, [about_sh.id().to_string()]);
    assert!(queue(&health).await.is_empty());
    assert_eq!(queue(&national).await.len(), 2);
    let decide = |id: Uuid, by: &User| {
        let path = format!("/api/v1/complaints/{id}/decide");
        let token = by.token.clone();
        let app = &app;
        async move {
            app.post(
                &path,
                Some(&token),
                json!({"outcome": "dismissed", "note": "no case"}),
            )
            .await
        }
    };
    decide(about_gd.id(), &shanghai).await.expect(403);
    decide(about_sh.id(), &shanghai).await.expect(200);
    decide(about_gd.id(), &national).await.expect(200);

    // Statistics count listings by sector.
    let stats = app
        .get("/api/v1/supervision/statistics", Some(&national.token))
        .await;
    stats.expect(200);
    let finance_listed = stats.body["listings_by_sector"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["sector"] == "finance" && r["status"] == "listed")
        .map(|r| r["count"].as_i64().unwrap());
    assert_eq!(finance_listed, Some(2));
    assert_eq!(stats.body["scope"], json!({"regions": [], "sectors": []}));
    // A regional regulator's figures keep to its region, and it may not
    // ask for another's.
    let regional = app
        .get("/api/v1/supervision/statistics", Some(&shanghai.token))
        .await;
    regional.expect(200);
    assert_eq!(regional.body["scope"]["regions"], json!(["CN-SH"]));
    let listed: i64 = regional.body["listings_by_sector"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_i64().unwrap())
        .sum();
    assert_eq!(listed, 1);
    let cross: i64 = regional.body["cross_border"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_i64().unwrap())
        .sum();
    assert_eq!(cross, 1);
    app.get(
        "/api/v1/supervision/statistics?region=CN-GD",
        Some(&shanghai.token),
    )
    .await
    .expect(403);
    app.get(
        "/api/v1/supervision/statistics?region=XX",
        Some(&national.token),
    )
    .await
    .expect(400);
    let guangdong = app
        .get(
            "/api/v1/supervision/statistics?region=CN-GD&sector=finance",
            Some(&national.token),
        )
        .await;
    guangdong.expect(200);
    let gd_listed: i64 = guangdong.body["listings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["count"].as_i64().unwrap())
        .sum();
    assert_eq!(gd_listed, 1);
    let health_figures = app
        .get("/api/v1/supervision/statistics", Some(&health.token))
        .await;
    health_figures.expect(200);
    assert_eq!(health_figures.body["listings"], json!([]));
}

mod early_warning_raises_alerts_once_with_their_evidence {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        alerts_case(
            TestApp::spawn_with(Backend::Sqlite, watchful())
                .await
                .unwrap(),
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
    async fn postgres() {
        alerts_case(
            TestApp::spawn_with(Backend::Postgres, watchful())
                .await
                .expect(NO_POSTGRES),
        )
        .await
    }
}

both_backends! {
    async fn regulators_act_within_their_jurisdiction(app: TestApp) {
        jurisdiction_case(app).await
    }
}
