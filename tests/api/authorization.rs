//! The authorization matrix: every endpoint, every role, and other
//! accounts' resources, with the status each must get. Where an allowed
//! caller would change state, the case is built so that it fails *after*
//! authorization (a wrong state, an invalid value), which shows the caller
//! got through without disturbing the other cases.

use datamarket::domain::Role;
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Anonymous,
    Owner,
    OtherProvider,
    Licensee,
    OtherConsumer,
    Regulator,
    Auditor,
    Admin,
}

const EVERYONE: [Who; 8] = [
    Who::Anonymous,
    Who::Owner,
    Who::OtherProvider,
    Who::Licensee,
    Who::OtherConsumer,
    Who::Regulator,
    Who::Auditor,
    Who::Admin,
];

struct World {
    tokens: Vec<(Who, Option<String>)>,
    draft: String,
    listed: String,
    pending_request: String,
    approved_request: String,
    withdrawn_request: String,
    grant: String,
    revoked_grant: String,
    /// The licensee's account.
    licensee_id: String,
    /// The holding right of the draft, and its certificate.
    registration: String,
    certificate: String,
    /// An active offer on the listed dataset, and a withdrawn one.
    offer: String,
    withdrawn_offer: String,
    /// The licensee's settled order under `offer`.
    order: String,
    /// The owner's payout, paid already.
    paid_payout: String,
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        self.tokens
            .iter()
            .find(|(w, _)| *w == who)
            .and_then(|(_, t)| t.as_deref())
    }
}

async fn world(app: &TestApp) -> World {
    let owner = app.provider("owner").await;
    let other_provider = app.provider("other-provider").await;
    let licensee = app.consumer("licensee").await;
    let other_consumer = app.consumer("other-consumer").await;
    let regulator = app.regulator("regulator").await;
    let auditor = app.auditor("auditor").await;
    let admin = app.operator_account("admin", &[Role::Admin]).await;
    let draft = app.dataset(&owner, "Draft", "general").await;
    app.upload(&owner, draft, b"d").await.expect(201);
    let listed = app.listed_dataset(&owner, "Listed").await;
    let ask = |max: u32| {
        json!({"dataset": listed, "purpose": "p", "duration_days": 5, "max_downloads": max,
                                 "processing": false, "cross_border": false})
    };
    let approved = app
        .post("/api/v1/access-requests", Some(&licensee.token), ask(1000))
        .await;
    let approved_request = approved.id();
    let grant = app
        .post(
            &format!("/api/v1/access-requests/{approved_request}/approve"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    let grant = grant.body["grant"].as_str().unwrap().to_owned();
    let second = app
        .post("/api/v1/access-requests", Some(&licensee.token), ask(1))
        .await
        .id();
    let revoked = app
        .post(
            &format!("/api/v1/access-requests/{second}/approve"),
            Some(&owner.token),
            json!({}),
        )
        .await;
    let revoked_grant = revoked.body["grant"].as_str().unwrap().to_owned();
    app.post(
        &format!("/api/v1/grants/{revoked_grant}/revoke"),
        Some(&owner.token),
        json!({"reason": "setup"}),
    )
    .await
    .expect(200);
    let withdrawn = app
        .post("/api/v1/access-requests", Some(&licensee.token), ask(1))
        .await
        .id();
    app.post(
        &format!("/api/v1/access-requests/{withdrawn}/withdraw"),
        Some(&licensee.token),
        json!({}),
    )
    .await
    .expect(200);
    let pending = app
        .post("/api/v1/access-requests", Some(&licensee.token), ask(2))
        .await;
    pending.expect(201);
    // Trading: the licensee buys under an instant offer; the owner is paid
    // out part of the sale.
    let offer_on = |amount: i64| {
        json!({"plan": "one_off", "price": {"amount": amount, "currency": "CNY"},
               "max_downloads": 3, "processing": false, "instant": true})
    };
    let offer = app
        .post(
            &format!("/api/v1/datasets/{listed}/offers"),
            Some(&owner.token),
            offer_on(1_000),
        )
        .await;
    offer.expect(201);
    let withdrawn_offer = app
        .post(
            &format!("/api/v1/datasets/{listed}/offers"),
            Some(&owner.token),
            offer_on(5),
        )
        .await
        .id();
    app.post(
        &format!("/api/v1/offers/{withdrawn_offer}/withdraw"),
        Some(&owner.token),
        json!({}),
    )
    .await
    .expect(200);
    datamarket::trading::operator_credit(&app.market, licensee.id, 1_000, "CNY", "authz-setup")
        .await
        .unwrap();
    let order = app
        .post(
            "/api/v1/orders",
            Some(&licensee.token),
            json!({"offer": offer.id()}),
        )
        .await;
    order.expect(201);
    let payout = app
        .post(
            "/api/v1/payouts",
            Some(&owner.token),
            json!({"amount": 10, "currency": "CNY"}),
        )
        .await;
    payout.expect(201);
    app.post(
        &format!("/api/v1/payouts/{}/approve", payout.id()),
        Some(&admin.token),
        json!({}),
    )
    .await
    .expect(200);
    let rights = app
        .get(
            &format!("/api/v1/datasets/{draft}/rights"),
            Some(&owner.token),
        )
        .await;
    let holding = rights.body["current"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["right"] == "holding")
        .unwrap();
    World {
        tokens: vec![
            (Who::Anonymous, None),
            (Who::Owner, Some(owner.token)),
            (Who::OtherProvider, Some(other_provider.token)),
            (Who::Licensee, Some(licensee.token.clone())),
            (Who::OtherConsumer, Some(other_consumer.token)),
            (Who::Regulator, Some(regulator.token)),
            (Who::Auditor, Some(auditor.token)),
            (Who::Admin, Some(admin.token)),
        ],
        draft: draft.to_string(),
        listed: listed.to_string(),
        pending_request: pending.id().to_string(),
        approved_request: approved_request.to_string(),
        withdrawn_request: withdrawn.to_string(),
        grant,
        revoked_grant,
        licensee_id: licensee.id.to_string(),
        registration: holding["registration"].as_str().unwrap().to_owned(),
        certificate: holding["certificate"].as_str().unwrap().to_owned(),
        offer: offer.id().to_string(),
        withdrawn_offer: withdrawn_offer.to_string(),
        order: order.id().to_string(),
        paid_payout: payout.id().to_string(),
    }
}

/// One endpoint: how to call it, and the status for each caller; callers
/// not named get `default`.
struct Case {
    method: Method,
    path: String,
    body: Option<Value>,
    default: u16,
    expect: Vec<(Who, u16)>,
}

fn case(
    method: Method,
    path: String,
    body: Option<Value>,
    default: u16,
    expect: &[(Who, u16)],
) -> Case {
    Case {
        method,
        path,
        body,
        default,
        expect: expect.to_vec(),
    }
}

fn cases(w: &World) -> Vec<Case> {
    use Who::*;
    let (d, l) = (&w.draft, &w.listed);
    let oversight_only = [(Anonymous, 401), (Regulator, 200), (Auditor, 200)];
    let public = [];
    vec![
        // system
        case(Method::GET, "/health".into(), None, 200, &public),
        case(Method::GET, "/ready".into(), None, 200, &public),
        case(
            Method::GET,
            "/.well-known/jwks.json".into(),
            None,
            200,
            &public,
        ),
        case(
            Method::GET,
            "/problems/not-found".into(),
            None,
            200,
            &public,
        ),
        case(Method::GET, "/metrics".into(), None, 200, &public),
        case(
            Method::GET,
            "/api/v1/openapi.json".into(),
            None,
            200,
            &public,
        ),
        // accounts
        case(
            Method::GET,
            "/api/v1/accounts/me".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        case(
            Method::POST,
            "/api/v1/admin/accounts".into(),
            Some(json!({"name": "newcomer", "password": "", "roles": ["auditor"]})),
            403,
            &[(Anonymous, 401), (Admin, 422)],
        ),
        case(
            Method::GET,
            format!("/api/v1/accounts/{}", w.licensee_id),
            None,
            403,
            &[
                (Anonymous, 401),
                (Licensee, 200),
                (Regulator, 200),
                (Admin, 200),
            ],
        ),
        case(
            Method::POST,
            format!("/api/v1/accounts/{}/suspend", w.licensee_id),
            Some(json!({"reason": ""})),
            403,
            &[(Anonymous, 401), (Regulator, 422), (Admin, 422)],
        ),
        case(
            Method::POST,
            format!("/api/v1/accounts/{}/reinstate", w.licensee_id),
            Some(json!({})),
            403,
            &[(Anonymous, 401), (Regulator, 409), (Admin, 409)],
        ),
        // a consumer has no jurisdiction: an admin gets through to the 422
        case(
            Method::PUT,
            format!("/api/v1/accounts/{}/jurisdiction", w.licensee_id),
            Some(json!({"regions": ["CN-SH"]})),
            403,
            &[(Anonymous, 401), (Admin, 422)],
        ),
        case(
            Method::POST,
            format!("/api/v1/accounts/{}/verify", w.licensee_id),
            Some(json!({"reference": ""})),
            403,
            &[(Anonymous, 401), (Regulator, 422)],
        ),
        // catalog
        case(Method::GET, "/api/v1/datasets".into(), None, 200, &public),
        case(
            Method::POST,
            "/api/v1/datasets".into(),
            Some(dataset_body("", "general")),
            403,
            &[(Anonymous, 401), (Owner, 422), (OtherProvider, 422)],
        ),
        case(
            Method::GET,
            format!("/api/v1/datasets/{d}"),
            None,
            404,
            &[(Owner, 200), (Regulator, 200), (Auditor, 200)],
        ),
        case(
            Method::GET,
            format!("/api/v1/datasets/{l}"),
            None,
            200,
            &public,
        ),
        case(
            Method::PATCH,
            format!("/api/v1/datasets/{d}"),
            Some(json!({"price": {"amount": 5, "currency": "CNY"}})),
            404,
            &[
                (Anonymous, 401),
                (Owner, 200),
                (Regulator, 403),
                (Auditor, 403),
            ],
        ),
        case(
            Method::PATCH,
            format!("/api/v1/datasets/{l}"),
            Some(json!({"price": {"amount": 5, "currency": "CNY"}})),
            403,
            &[(Anonymous, 401), (Owner, 409)],
        ),
        case(
            Method::GET,
            format!("/api/v1/datasets/{d}/versions"),
            None,
            404,
            &[(Owner, 200), (Regulator, 200), (Auditor, 200)],
        ),
        case(
            Method::POST,
            format!("/api/v1/datasets/{l}/publish"),
            None,
            403,
            &[(Anonymous, 401), (Owner, 409)],
        ),
        case(
            Method::POST,
            format!("/api/v1/datasets/{d}/rights/transfers"),
            Some(json!({"right": "holding", "to": "00000000-0000-7000-8000-000000000000"})),
            404,
            &[
                (Anonymous, 401),
                (Owner, 422),
                (Regulator, 403),
                (Auditor, 403),
            ],
        ),
        case(
            Method::POST,
            format!("/api/v1/datasets/{l}/review"),
            Some(json!({"decision": "approve"})),
            403,
            &[(Anonymous, 401), (Regulator, 409)],
        ),
        case(
            Method::POST,
            format!("/api/v1/datasets/{l}/delist"),
            Some(json!({"reason": "x".repeat(3000)})),
            422,
            &[(Anonymous, 401)],
        ),
        case(
            Method::GET,
            format!("/api/v1/datasets/{l}/versions/1/content"),
            None,
            403,
            &[(Anonymous, 401), (Owner, 200), (Licensee, 200)],
        ),
        case(
            Method::POST,
            format!("/api/v1/datasets/{l}/versions/1/review"),
            Some(json!({"decision": "approve"})),
            403,
            &[(Anonymous, 401), (Regulator, 409)],
        ),
        // rights and provenance
        case(
            Method::GET,
            format!("/api/v1/datasets/{l}/rights"),
            None,
            200,
            &public,
        ),
        case(
            Method::GET,
            format!("/api/v1/datasets/{d}/lineage"),
            None,
            200,
            &[
                (Anonymous, 404),
                (OtherProvider, 404),
                (Licensee, 404),
                (OtherConsumer, 404),
                (Admin, 404),
            ],
        ),
        case(
            Method::GET,
            format!("/api/v1/datasets/{l}/provenance"),
            None,
            200,
            &public,
        ),
        case(
            Method::POST,
            format!("/api/v1/datasets/{l}/rights/transfers"),
            Some(json!({"right": "processing", "to": "00000000-0000-7000-8000-000000000000"})),
            403,
            &[(Anonymous, 401), (Owner, 422)],
        ),
        // the draft's rights are as private as the draft
        case(
            Method::GET,
            format!("/api/v1/rights/{}/certificate", w.registration),
            None,
            404,
            &[(Owner, 200), (Regulator, 200), (Auditor, 200)],
        ),
        case(
            Method::GET,
            format!("/api/v1/rights/certificates/{}/status", w.certificate),
            None,
            404,
            &[(Owner, 200), (Regulator, 200), (Auditor, 200)],
        ),
        // access requests
        case(
            Method::POST,
            "/api/v1/access-requests".into(),
            Some(
                json!({"dataset": l, "duration_days": 0, "max_downloads": 1, "processing": false, "cross_border": false}),
            ),
            403,
            &[(Anonymous, 401), (Licensee, 422), (OtherConsumer, 422)],
        ),
        case(
            Method::GET,
            "/api/v1/access-requests".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        case(
            Method::GET,
            format!("/api/v1/access-requests/{}", w.pending_request),
            None,
            404,
            &[
                (Anonymous, 401),
                (Owner, 200),
                (Licensee, 200),
                (Regulator, 200),
                (Auditor, 200),
            ],
        ),
        case(
            Method::POST,
            format!("/api/v1/access-requests/{}/approve", w.pending_request),
            Some(json!({"policy": {"max_downloads": 99}})),
            404,
            &[
                (Anonymous, 401),
                (Owner, 422),
                (Licensee, 403),
                (Regulator, 403),
                (Auditor, 403),
            ],
        ),
        case(
            Method::POST,
            format!("/api/v1/access-requests/{}/reject", w.withdrawn_request),
            Some(json!({"reason": "no"})),
            404,
            &[
                (Anonymous, 401),
                (Owner, 409),
                (Licensee, 403),
                (Regulator, 403),
                (Auditor, 403),
            ],
        ),
        case(
            Method::POST,
            format!("/api/v1/access-requests/{}/withdraw", w.approved_request),
            None,
            404,
            &[
                (Anonymous, 401),
                (Owner, 403),
                (Licensee, 409),
                (Regulator, 403),
                (Auditor, 403),
            ],
        ),
        case(
            Method::POST,
            format!("/api/v1/access-requests/{}/review", w.pending_request),
            Some(
                json!({"decision": "approve", "assessment_reference": "SA-1", "assessment_expires_at": "2999-01-01T00:00:00Z"}),
            ),
            403,
            &[(Anonymous, 401), (Regulator, 409)],
        ),
        // grants
        case(
            Method::GET,
            "/api/v1/grants".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        case(
            Method::GET,
            format!("/api/v1/grants/{}", w.grant),
            None,
            404,
            &[
                (Anonymous, 401),
                (Owner, 200),
                (Licensee, 200),
                (Regulator, 200),
                (Auditor, 200),
            ],
        ),
        case(
            Method::GET,
            format!("/api/v1/grants/{}/policy", w.grant),
            None,
            404,
            &[
                (Anonymous, 401),
                (Owner, 200),
                (Licensee, 200),
                (Regulator, 200),
                (Auditor, 200),
            ],
        ),
        case(
            Method::POST,
            format!("/api/v1/grants/{}/revoke", w.revoked_grant),
            Some(json!({"reason": "again"})),
            404,
            &[
                (Anonymous, 401),
                (Owner, 409),
                (Licensee, 403),
                (Regulator, 409),
                (Auditor, 403),
            ],
        ),
        case(
            Method::POST,
            format!("/api/v1/grants/{}/tokens", w.grant),
            None,
            404,
            &[
                (Anonymous, 401),
                (Owner, 403),
                (Licensee, 201),
                (Regulator, 403),
                (Auditor, 403),
            ],
        ),
        // audit
        case(
            Method::GET,
            "/api/v1/audit/entries".into(),
            None,
            403,
            &oversight_only,
        ),
        case(
            Method::GET,
            "/api/v1/audit/checkpoint".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        case(
            Method::GET,
            "/api/v1/audit/tree-heads".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        case(
            Method::GET,
            "/api/v1/audit/proofs/consistency?first=1".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        // trading: offers
        case(
            Method::POST,
            format!("/api/v1/datasets/{l}/offers"),
            // Valid but for the royalty without processing: the operation
            // right's holder gets through to 422.
            Some(
                json!({"plan": "one_off", "price": {"amount": 1, "currency": "CNY"},
                        "max_downloads": 1, "processing": false, "royalty_bps": 10, "instant": true}),
            ),
            403,
            &[(Anonymous, 401), (Owner, 422)],
        ),
        case(
            Method::GET,
            format!("/api/v1/datasets/{l}/offers"),
            None,
            200,
            &public,
        ),
        case(
            Method::GET,
            format!("/api/v1/datasets/{d}/offers"),
            None,
            404,
            &[(Owner, 200), (Regulator, 200), (Auditor, 200)],
        ),
        case(
            Method::GET,
            format!("/api/v1/offers/{}", w.offer),
            None,
            200,
            &public,
        ),
        case(
            Method::PUT,
            format!("/api/v1/offers/{}", w.offer),
            Some(
                json!({"plan": "one_off", "price": {"amount": 1, "currency": "cny"},
                        "max_downloads": 1, "processing": false, "instant": true}),
            ),
            403,
            &[(Anonymous, 401), (Owner, 422)],
        ),
        case(
            Method::POST,
            format!("/api/v1/offers/{}/withdraw", w.withdrawn_offer),
            None,
            403,
            &[(Anonymous, 401), (Owner, 409)],
        ),
        // trading: orders (consumers get through to "the offer was revised")
        case(
            Method::POST,
            "/api/v1/orders".into(),
            Some(json!({"offer": w.offer, "offer_version": 99})),
            403,
            &[(Anonymous, 401), (Licensee, 409), (OtherConsumer, 409)],
        ),
        case(
            Method::GET,
            "/api/v1/orders".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        case(
            Method::GET,
            format!("/api/v1/orders/{}", w.order),
            None,
            404,
            &[
                (Anonymous, 401),
                (Owner, 200),
                (Licensee, 200),
                (Regulator, 200),
                (Auditor, 200),
            ],
        ),
        case(
            Method::POST,
            format!("/api/v1/orders/{}/cancel", w.order),
            None,
            404,
            &[
                (Anonymous, 401),
                (Owner, 403),
                (Licensee, 409),
                (Regulator, 403),
                (Auditor, 403),
            ],
        ),
        case(
            Method::POST,
            format!("/api/v1/orders/{}/renew", w.order),
            None,
            404,
            &[
                (Anonymous, 401),
                (Owner, 403),
                (Licensee, 409),
                (Regulator, 403),
                (Auditor, 403),
            ],
        ),
        // trading: money
        case(
            Method::GET,
            "/api/v1/wallet".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        case(
            Method::GET,
            format!("/api/v1/accounts/{}/statement", w.licensee_id),
            None,
            403,
            &[
                (Anonymous, 401),
                (Licensee, 200),
                (Regulator, 200),
                (Auditor, 200),
            ],
        ),
        // Unsigned: nobody's token stands in for the provider's signature.
        case(
            Method::POST,
            "/api/v1/payments/callbacks".into(),
            Some(
                json!({"payment_id": "x", "account": w.licensee_id, "amount": 1,
                        "currency": "CNY", "status": "succeeded"}),
            ),
            401,
            &public,
        ),
        case(
            Method::POST,
            "/api/v1/payouts".into(),
            Some(json!({"amount": 0, "currency": "CNY"})),
            403,
            &[(Anonymous, 401), (Owner, 422), (OtherProvider, 422)],
        ),
        case(
            Method::GET,
            "/api/v1/payouts".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        case(
            Method::POST,
            format!("/api/v1/payouts/{}/approve", w.paid_payout),
            None,
            403,
            &[(Anonymous, 401), (Admin, 409)],
        ),
        case(
            Method::POST,
            format!("/api/v1/payouts/{}/reject", w.paid_payout),
            Some(json!({"reason": "late"})),
            403,
            &[(Anonymous, 401), (Admin, 409)],
        ),
        case(
            Method::GET,
            "/api/v1/ledger/trial-balance".into(),
            None,
            403,
            &oversight_only,
        ),
        case(
            Method::GET,
            "/api/v1/ledger/export".into(),
            None,
            403,
            &oversight_only,
        ),
        case(
            Method::GET,
            "/api/v1/ledger/check".into(),
            None,
            403,
            &oversight_only,
        ),
        // supervision
        case(
            Method::POST,
            "/api/v1/supervision/freezes".into(),
            Some(
                json!({"scope": "dataset", "target": "01a228f0-0000-7000-8000-000000000000", "reason": "x"}),
            ),
            403,
            &[(Anonymous, 401), (Regulator, 422)],
        ),
        case(
            Method::GET,
            "/api/v1/supervision/freezes".into(),
            None,
            403,
            &oversight_only,
        ),
        case(
            Method::POST,
            "/api/v1/supervision/freezes/01a228f0-0000-7000-8000-000000000000/lift".into(),
            Some(json!({"reason": "x"})),
            403,
            &[(Anonymous, 401), (Regulator, 404)],
        ),
        case(
            Method::POST,
            format!("/api/v1/datasets/{l}/incidents"),
            Some(json!({"kind": "leak", "description": ""})),
            403,
            &[(Anonymous, 401), (Owner, 422), (Regulator, 422)],
        ),
        case(
            Method::GET,
            "/api/v1/supervision/incidents".into(),
            None,
            403,
            &oversight_only,
        ),
        case(
            Method::GET,
            "/api/v1/inbox".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        case(
            Method::POST,
            "/api/v1/inbox/01a228f0-0000-7000-8000-000000000000/read".into(),
            None,
            404,
            &[(Anonymous, 401)],
        ),
        case(
            Method::GET,
            "/api/v1/supervision/statistics".into(),
            None,
            403,
            &oversight_only,
        ),
        case(
            Method::GET,
            "/api/v1/accounts/01a228f0-0000-7000-8000-000000000000/compliance".into(),
            None,
            404,
            &[(Anonymous, 401)],
        ),
        case(
            Method::POST,
            "/api/v1/complaints".into(),
            Some(json!({"subject": "listing", "id": l, "description": ""})),
            422,
            &[(Anonymous, 401)],
        ),
        case(
            Method::GET,
            "/api/v1/complaints".into(),
            None,
            200,
            &[(Anonymous, 401)],
        ),
        case(
            Method::GET,
            "/api/v1/complaints/01a228f0-0000-7000-8000-000000000000".into(),
            None,
            404,
            &[(Anonymous, 401)],
        ),
        case(
            Method::POST,
            "/api/v1/complaints/01a228f0-0000-7000-8000-000000000000/decide".into(),
            Some(json!({"outcome": "upheld", "note": "x"})),
            403,
            &[(Anonymous, 401), (Regulator, 404)],
        ),
        case(
            Method::GET,
            "/api/v1/supervision/reviews/listings".into(),
            None,
            403,
            &oversight_only,
        ),
        case(
            Method::GET,
            "/api/v1/supervision/reviews/requests".into(),
            None,
            403,
            &oversight_only,
        ),
        case(
            Method::GET,
            "/api/v1/supervision/alerts".into(),
            None,
            403,
            &oversight_only,
        ),
        case(
            Method::GET,
            "/api/v1/supervision/alerts/01a228f0-0000-7000-8000-000000000000".into(),
            None,
            403,
            &[(Anonymous, 401), (Regulator, 404), (Auditor, 404)],
        ),
        case(
            Method::POST,
            "/api/v1/supervision/alerts/01a228f0-0000-7000-8000-000000000000/acknowledge".into(),
            Some(json!({})),
            403,
            &[(Anonymous, 401), (Regulator, 404)],
        ),
        case(
            Method::POST,
            "/api/v1/supervision/alerts/01a228f0-0000-7000-8000-000000000000/resolve".into(),
            Some(json!({"outcome": "confirmed", "note": "x"})),
            403,
            &[(Anonymous, 401), (Regulator, 404)],
        ),
        // entry 0 records the owner's registration: the owner is a party to it
        case(
            Method::GET,
            "/api/v1/audit/proofs/inclusion?index=0".into(),
            None,
            404,
            &[
                (Anonymous, 401),
                (Owner, 200),
                (Regulator, 200),
                (Auditor, 200),
            ],
        ),
    ]
}

both_backends! {
    async fn every_endpoint_every_role(app: TestApp) {
        let world = world(&app).await;
        let mut failures = Vec::new();
        let mut checked = 0;
        for case in cases(&world) {
            for who in EVERYONE {
                let want = case.expect.iter().find(|(w, _)| *w == who).map_or(case.default, |(_, s)| *s);
                let reply = app.call(case.method.clone(), &case.path, world.token(who), case.body.clone()).await;
                checked += 1;
                if reply.status.as_u16() != want {
                    failures.push(format!(
                        "{} {} as {who:?}: want {want}, got {} {}",
                        case.method, case.path, reply.status.as_u16(), reply.body
                    ));
                }
            }
        }
        assert!(failures.is_empty(), "{} of {checked} checks failed:\n{}", failures.len(), failures.join("\n"));
        assert!(checked > 300);
    }
}
