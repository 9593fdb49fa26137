//! The cross-border pathway: a request (or an order from abroad) names its
//! legal basis and how many individuals' personal information would leave;
//! the data decides which bases the law accepts and whether a regulator
//! reviews; the regulator's assessment bounds the grant.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

fn domestic(dataset: Uuid) -> Value {
    json!({
        "dataset": dataset,
        "purpose": "logistics research",
        "duration_days": 30,
        "max_downloads": 5,
        "processing": false,
        "cross_border": false,
    })
}

/// A request to send `dataset` to Singapore; `extra` adds or replaces fields.
fn abroad(dataset: Uuid, extra: Value) -> Value {
    let mut body = domestic(dataset);
    body["cross_border"] = json!(true);
    body["destination_country"] = json!("SG");
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    body
}

fn basis(legal_basis: &str, subjects: u64) -> Value {
    json!({"legal_basis": legal_basis, "personal_information_subjects": subjects})
}

async fn ask(app: &TestApp, consumer: &User, body: Value) -> Reply {
    app.post("/api/v1/access-requests", Some(&consumer.token), body)
        .await
}

/// Asserts a 422 on `field` whose detail says `says`.
#[track_caller]
fn refused_on(reply: &Reply, field: &str, says: &str) {
    reply.problem(422, "validation-failed");
    assert_eq!(reply.body["field"], field, "{}", reply.body);
    let detail = reply.body["detail"].as_str().unwrap();
    assert!(detail.contains(says), "{detail:?} should say {says:?}");
}

/// A listed general dataset holding personal information.
async fn personal(app: &TestApp, holder: &User, title: &str) -> Uuid {
    let id = app.dataset(holder, title, "general").await;
    app.patch(
        &format!("/api/v1/datasets/{id}"),
        Some(&holder.token),
        json!({"personal_data": true}),
    )
    .await
    .expect(200);
    app.upload(holder, id, b"name,city\n").await.expect(201);
    app.post(
        &format!("/api/v1/datasets/{id}/publish"),
        Some(&holder.token),
        json!({}),
    )
    .await
    .expect(200);
    id
}

/// A listed important dataset (its holder verified, a regulator's review passed).
async fn important(app: &TestApp, holder: &User, regulator: &User, title: &str) -> Uuid {
    let id = app.dataset(holder, title, "important").await;
    app.upload(holder, id, b"container,port\n")
        .await
        .expect(201);
    app.post(
        &format!("/api/v1/datasets/{id}/publish"),
        Some(&holder.token),
        json!({}),
    )
    .await
    .expect(200);
    app.post(
        &format!("/api/v1/datasets/{id}/review"),
        Some(&regulator.token),
        json!({"decision": "approve"}),
    )
    .await
    .expect(200);
    id
}

/// A consumer registered in `territory`.
async fn registered_in(app: &TestApp, name: &str, territory: &str) -> User {
    let reply = app
        .post(
            "/api/v1/accounts",
            None,
            json!({"name": name, "password": PASSWORD, "roles": ["consumer"], "territory": territory}),
        )
        .await;
    reply.expect(201);
    let token = app.token(name, PASSWORD).await;
    token.expect(200);
    User {
        id: reply.id(),
        name: name.to_owned(),
        token: token.body["access_token"].as_str().unwrap().to_owned(),
    }
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("an RFC 3339 time: {v}"))
}

/// The holder approves; the request's state after it.
async fn holder_approves(app: &TestApp, holder: &User, request: Uuid) -> Reply {
    let approved = app
        .post(
            &format!("/api/v1/access-requests/{request}/approve"),
            Some(&holder.token),
            json!({}),
        )
        .await;
    approved.expect(200);
    approved
}

async fn review(app: &TestApp, regulator: &User, request: Uuid, body: Value) -> Reply {
    app.post(
        &format!("/api/v1/access-requests/{request}/review"),
        Some(&regulator.token),
        body,
    )
    .await
}

both_backends! {
    async fn a_cross_border_request_names_its_basis_and_subjects(app: TestApp) {
        let holder = app.provider("xb-holder").await;
        let consumer = app.consumer("xb-consumer").await;
        let dataset = app.listed_dataset(&holder, "Traffic").await;
        let before = app.audit_size().await;

        let missing = ask(&app, &consumer, abroad(dataset, json!({}))).await;
        refused_on(&missing, "legal_basis", "is required when cross_border is true");
        let no_count = ask(&app, &consumer, abroad(dataset, json!({"legal_basis": "exemption"}))).await;
        refused_on(&no_count, "personal_information_subjects", "is required when cross_border is true");
        let no_basis = ask(&app, &consumer, abroad(dataset, json!({"personal_information_subjects": 3}))).await;
        refused_on(&no_basis, "legal_basis", "is required");
        let mut at_home = domestic(dataset);
        at_home["legal_basis"] = json!("exemption");
        refused_on(&ask(&app, &consumer, at_home).await, "legal_basis", "is only for cross-border requests");
        let mut at_home = domestic(dataset);
        at_home["personal_information_subjects"] = json!(0);
        refused_on(&ask(&app, &consumer, at_home).await, "personal_information_subjects", "is only for cross-border requests");
        ask(&app, &consumer, abroad(dataset, json!({"legal_basis": "adequacy", "personal_information_subjects": 3})))
            .await
            .problem(422, "invalid-body");
        ask(&app, &consumer, abroad(dataset, json!({"legal_basis": "exemption", "personal_information_subjects": -1})))
            .await
            .problem(422, "invalid-body");
        assert_eq!(app.audit_size().await, before, "refusals record nothing");

        let created = ask(&app, &consumer, abroad(dataset, basis("exemption", 0))).await;
        created.expect(201);
        assert_eq!(created.body["legal_basis"], "exemption");
        assert_eq!(created.body["personal_information_subjects"], 0);
        assert_eq!(created.body["assessment_reference"], Value::Null);
        assert_eq!(created.body["assessment_expires_at"], Value::Null);
        assert_eq!(created.body["requires_review"], false);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["access_request.created"]);
        assert_eq!(entries[0]["detail"]["legal_basis"], "exemption");
        assert_eq!(entries[0]["detail"]["personal_information_subjects"], 0);
        assert_eq!(entries[0]["detail"]["destination_country"], "SG");

        // At home, none of it applies, and the response says so.
        let other = app.consumer("xb-domestic").await;
        let home = ask(&app, &other, domestic(dataset)).await;
        home.expect(201);
        assert_eq!(home.body["legal_basis"], Value::Null);
        assert_eq!(home.body["personal_information_subjects"], Value::Null);
    }

    async fn a_basis_weaker_than_the_data_needs_is_refused(app: TestApp) {
        let holder = app.provider("xb-holder").await;
        let consumer = app.consumer("xb-consumer").await;
        let regulator = app.regulator("xb-regulator").await;
        app.verified(&holder).await;
        app.verified(&consumer).await;
        let ports = important(&app, &holder, &regulator, "Port logistics").await;
        let patients = personal(&app, &holder, "Patients").await;
        let derived = app.derived_dataset(&holder, "Patient flows", &[(patients, 1)]).await;
        let before = app.audit_size().await;

        // (a) important data, whatever the count: a security assessment only
        let weak = ask(&app, &consumer, abroad(ports, basis("standard_contract", 0))).await;
        refused_on(&weak, "legal_basis", "important data leaves only after a security assessment");
        assert!(weak.body["detail"].as_str().unwrap().contains("standard_contract is not enough"), "{}", weak.body);
        // (b) personal information of 150,000: not on an exemption
        let weak = ask(&app, &consumer, abroad(patients, basis("exemption", 150_000))).await;
        refused_on(&weak, "legal_basis", "under a standard contract or with a certification");
        // ... nor for data derived from personal information
        let weak = ask(&app, &consumer, abroad(derived, basis("exemption", 150_000))).await;
        refused_on(&weak, "legal_basis", "under a standard contract or with a certification");
        // (c) personal information of 2,000,000: a security assessment only
        let weak = ask(&app, &consumer, abroad(patients, basis("certification", 2_000_000))).await;
        refused_on(&weak, "legal_basis", "personal information of 2000000 individuals (from 1000000 on) leaves only after a security assessment");
        assert_eq!(app.audit_size().await, before, "refusals record nothing");

        // What the law asks for is accepted, and goes to a regulator.
        let strong = ask(&app, &consumer, abroad(ports, basis("security_assessment", 0))).await;
        strong.expect(201);
        assert_eq!(strong.body["requires_review"], true);
        let enough = ask(&app, &consumer, abroad(patients, basis("certification", 150_000))).await;
        enough.expect(201);
        assert_eq!(enough.body["requires_review"], true);
        assert_eq!(enough.body["legal_basis"], "certification");
        assert_eq!(enough.body["personal_information_subjects"], 150_000);
    }

    async fn an_exempted_transfer_is_granted_without_review(app: TestApp) {
        let holder = app.provider("xb-holder").await;
        let consumer = app.consumer("xb-consumer").await;
        app.verified(&consumer).await;
        let patients = personal(&app, &holder, "Patients").await;
        let traffic = app.listed_dataset(&holder, "Traffic").await;

        for (dataset, subjects) in [(patients, 10), (traffic, 0)] {
            let asked = ask(&app, &consumer, abroad(dataset, basis("exemption", subjects))).await;
            asked.expect(201);
            assert_eq!(asked.body["requires_review"], false);
            let approved = holder_approves(&app, &holder, asked.id()).await;
            assert_eq!(approved.body["state"], "approved");
            assert_eq!(approved.body["review"], Value::Null);
            let grant = approved.body["grant"].as_str().expect("a grant at once");
            let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&consumer.token)).await;
            g.expect(200);
            assert_eq!(g.body["policy"]["territory"], json!(["CN", "SG"]));
            // No assessment bounds it: the window is the 30 days asked for.
            let window = time(&g.body["policy"]["not_after"]) - time(&g.body["policy"]["not_before"]);
            assert_eq!(window, Duration::days(30));
        }
    }

    async fn a_regulator_approves_on_an_assessment_that_bounds_the_grant(app: TestApp) {
        let holder = app.provider("xb-holder").await;
        let consumer = app.consumer("xb-consumer").await;
        let regulator = app.regulator("xb-regulator").await;
        app.verified(&consumer).await;
        let patients = personal(&app, &holder, "Patients").await;

        let asked = ask(&app, &consumer, abroad(patients, basis("standard_contract", 150_000))).await;
        asked.expect(201);
        let id = asked.id();
        let approved = holder_approves(&app, &holder, id).await;
        assert_eq!(approved.body["state"], "under_review");
        assert_eq!(approved.body["grant"], Value::Null);

        let before = app.audit_size().await;
        let ten_days = (Utc::now() + Duration::days(10)).trunc_subsecs(0);
        let approve = |extra: Value| {
            let mut body = json!({"decision": "approve", "reason": "contract filed"});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            body
        };
        refused_on(&review(&app, &regulator, id, approve(json!({}))).await, "assessment_reference", "is required when approving");
        refused_on(
            &review(&app, &regulator, id, approve(json!({"assessment_reference": "   ", "assessment_expires_at": ten_days}))).await,
            "assessment_reference",
            "must not be empty",
        );
        refused_on(
            &review(&app, &regulator, id, approve(json!({"assessment_reference": "SC-2026-0042"}))).await,
            "assessment_expires_at",
            "is required when approving",
        );
        let past = Utc::now() - Duration::days(1);
        refused_on(
            &review(&app, &regulator, id, approve(json!({"assessment_reference": "SC-2026-0042", "assessment_expires_at": past}))).await,
            "assessment_expires_at",
            "must lie in the future",
        );
        review(&app, &regulator, id, approve(json!({"assessment_reference": "SC-2026-0042", "assessment_expires_at": "in ten days"})))
            .await
            .problem(422, "invalid-body");
        assert_eq!(app.audit_size().await, before, "refusals record nothing");
        let still = app.get(&format!("/api/v1/access-requests/{id}"), Some(&consumer.token)).await;
        assert_eq!(still.body["state"], "under_review");

        // 30 days asked for, an assessment that lapses in 10: the grant ends with it.
        let reviewed = review(
            &app,
            &regulator,
            id,
            approve(json!({"assessment_reference": "SC-2026-0042", "assessment_expires_at": ten_days})),
        )
        .await;
        reviewed.expect(200);
        assert_eq!(reviewed.body["state"], "approved");
        assert_eq!(reviewed.body["assessment_reference"], "SC-2026-0042");
        assert_eq!(time(&reviewed.body["assessment_expires_at"]), ten_days);
        let grant = reviewed.body["grant"].as_str().unwrap();
        let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&consumer.token)).await;
        g.expect(200);
        assert_eq!(time(&g.body["policy"]["not_after"]), ten_days);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["access_request.reviewed", "grant.created"]);
        assert_eq!(entries[0]["detail"]["assessment_reference"], "SC-2026-0042");
        assert_eq!(time(&entries[0]["detail"]["assessment_expires_at"]), ten_days);
        assert_eq!(time(&entries[1]["detail"]["policy"]["not_after"]), ten_days);
        // The consumer reads it back as stored.
        let read = app.get(&format!("/api/v1/access-requests/{id}"), Some(&consumer.token)).await;
        assert_eq!(read.body["assessment_reference"], "SC-2026-0042");
        assert_eq!(read.body["legal_basis"], "standard_contract");

        // An assessment that outlasts the request leaves the window as asked.
        let second = app.consumer("xb-second").await;
        app.verified(&second).await;
        let asked = ask(&app, &second, abroad(patients, basis("security_assessment", 2_000_000))).await;
        asked.expect(201);
        holder_approves(&app, &holder, asked.id()).await;
        let long = (Utc::now() + Duration::days(400)).trunc_subsecs(0);
        let reviewed = review(
            &app,
            &regulator,
            asked.id(),
            approve(json!({"assessment_reference": "SA-2026-7", "assessment_expires_at": long})),
        )
        .await;
        reviewed.expect(200);
        let grant = reviewed.body["grant"].as_str().unwrap();
        let g = app.get(&format!("/api/v1/grants/{grant}"), Some(&second.token)).await;
        let window = time(&g.body["policy"]["not_after"]) - time(&g.body["policy"]["not_before"]);
        assert_eq!(window, Duration::days(30));

        // A rejection takes a reason, and no assessment.
        let third = app.consumer("xb-third").await;
        app.verified(&third).await;
        let asked = ask(&app, &third, abroad(patients, basis("certification", 500_000))).await;
        asked.expect(201);
        let id = asked.id();
        holder_approves(&app, &holder, id).await;
        let before = app.audit_size().await;
        refused_on(
            &review(&app, &regulator, id, json!({"decision": "reject", "reason": "no certificate", "assessment_reference": "PC-1"})).await,
            "assessment_reference",
            "is only for an approval",
        );
        refused_on(
            &review(&app, &regulator, id, json!({"decision": "reject", "reason": "no certificate", "assessment_expires_at": long})).await,
            "assessment_expires_at",
            "is only for an approval",
        );
        assert_eq!(app.audit_size().await, before, "refusals record nothing");
        let rejected = review(&app, &regulator, id, json!({"decision": "reject", "reason": "no certificate"})).await;
        rejected.expect(200);
        assert_eq!(rejected.body["state"], "rejected");
        assert_eq!(rejected.body["assessment_reference"], Value::Null);
        assert_eq!(rejected.body["assessment_expires_at"], Value::Null);
        assert_eq!(rejected.body["grant"], Value::Null);
    }

    async fn an_order_from_abroad_names_its_basis(app: TestApp) {
        let seller = app.provider("xb-seller").await;
        let buyer = registered_in(&app, "xb-sg-buyer", "SG").await;
        let at_home = app.consumer("xb-cn-buyer").await;
        app.verified(&buyer).await;
        let traffic = app.listed_dataset(&seller, "Traffic").await;
        let patients = personal(&app, &seller, "Patients").await;
        let mut offers = vec![];
        for dataset in [traffic, patients] {
            let offer = app
                .post(
                    &format!("/api/v1/datasets/{dataset}/offers"),
                    Some(&seller.token),
                    json!({"plan": "one_off", "price": {"amount": 1_000, "currency": "CNY"}, "max_downloads": 5,
                           "processing": false, "territory": ["SG"], "instant": true, "purposes": ["logistics research"]}),
                )
                .await;
            offer.expect(201);
            offers.push(offer.id());
        }
        for user in [&buyer, &at_home] {
            datamarket::trading::operator_credit(&app.market, user.id, 10_000, "CNY", &format!("bank-{}", user.name))
                .await
                .expect("operator credit");
        }
        let order = |user: &User, offer: Uuid, extra: Value| {
            let mut body = json!({"offer": offer, "purpose": "logistics research"});
            for (k, v) in extra.as_object().unwrap() {
                body[k] = v.clone();
            }
            let token = user.token.clone();
            let app = &app;
            async move { app.post("/api/v1/orders", Some(&token), body).await }
        };

        let before = app.audit_size().await;
        refused_on(&order(&buyer, offers[0], json!({})).await, "legal_basis", "you are registered in SG");
        refused_on(
            &order(&buyer, offers[0], json!({"legal_basis": "exemption"})).await,
            "personal_information_subjects",
            "you are registered in SG",
        );
        refused_on(
            &order(&at_home, offers[0], basis("exemption", 0)).await,
            "legal_basis",
            "is only for cross-border orders",
        );
        refused_on(&order(&buyer, offers[1], basis("exemption", 150_000)).await, "legal_basis", "under a standard contract");
        assert_eq!(app.audit_size().await, before, "refusals record nothing");

        // An exempted transfer of general data: bought and granted at once.
        let placed = order(&buyer, offers[0], basis("exemption", 0)).await;
        placed.expect(201);
        assert_eq!(placed.body["state"], "settled");
        assert!(placed.body["grant"].is_string(), "{}", placed.body);
        let request = placed.body["request"].as_str().unwrap();
        let r = app.get(&format!("/api/v1/access-requests/{request}"), Some(&buyer.token)).await;
        assert_eq!(r.body["cross_border"], true);
        assert_eq!(r.body["destination_country"], "SG");
        assert_eq!(r.body["legal_basis"], "exemption");
        assert_eq!(r.body["personal_information_subjects"], 0);

        // Under a standard contract, the instant offer's approval waits for a regulator.
        let placed = order(&buyer, offers[1], basis("standard_contract", 150_000)).await;
        placed.expect(201);
        assert_eq!(placed.body["grant"], Value::Null);
        let request = placed.body["request"].as_str().unwrap();
        let r = app.get(&format!("/api/v1/access-requests/{request}"), Some(&buyer.token)).await;
        assert_eq!(r.body["state"], "under_review");
        assert_eq!(r.body["legal_basis"], "standard_contract");

        // At home, an order needs none of it.
        order(&at_home, offers[0], json!({})).await.expect(201);
    }
}
