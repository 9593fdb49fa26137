//! Races: two requests that each want to change the same thing, fired at
//! the same moment. On PostgreSQL they go through two gateways (two
//! `Market`s, two actix servers in this process) over one database, keys
//! directory and payload directory — the scale-out deployment; on SQLite
//! both go through one gateway. Every state change is one conditional
//! update (`store::transition!`), so in every round exactly one request
//! wins; the loser is answered `409 invalid-state` (a transfer's loser may
//! instead find that it no longer holds the right, `403 not-permitted`),
//! and the log holds exactly one entry for each transition that happened.
//!
//! Each case runs [`ROUNDS`] rounds on fresh subjects and prints how often
//! each side won.

use std::time::Duration;

use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

const ROUNDS: usize = 20;

/// The gateways the competing requests go through.
struct Arena {
    // Dropped first: the first app drops the PostgreSQL schema.
    twin: Option<TestApp>,
    a: TestApp,
    backend: Backend,
}

impl Arena {
    async fn open(backend: Backend) -> Option<Arena> {
        // No background sweep during the rounds (it runs once at start):
        // the sweep case runs its own, and counts what it did.
        let a =
            TestApp::spawn_with(backend, Box::new(|s| s.grants.sweep_interval_secs = 3600)).await?;
        let twin = match backend {
            Backend::Postgres => Some(a.twin().await),
            Backend::Sqlite => None,
        };
        Some(Arena { twin, a, backend })
    }

    /// The other gateway (on SQLite, the same one).
    fn b(&self) -> &TestApp {
        self.twin.as_ref().unwrap_or(&self.a)
    }

    /// The two gateways in the order round `round` uses them, so that
    /// neither side always goes through the same instance.
    fn pair(&self, round: usize) -> (&TestApp, &TestApp) {
        if round.is_multiple_of(2) {
            (&self.a, self.b())
        } else {
            (self.b(), &self.a)
        }
    }

    fn name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "sqlite, one gateway",
            Backend::Postgres => "postgres, two gateways",
        }
    }
}

/// One module per case, one test per backend; the PostgreSQL half is
/// ignored unless DATABASE_URL named PostgreSQL at build time, and fails
/// when forced to run without it. A case marked `known_bug("…")` fails on
/// PostgreSQL because of a defect in `src/` (described in the reason and in
/// the case's comment): its PostgreSQL half is ignored with that reason, so
/// that the suite stays green while the defect is open, and `cargo test --
/// --ignored` reproduces it. Its assertions are what the market promises,
/// not what it does today; remove the marker with the fix.
macro_rules! race_cases {
    () => {};
    ($(#[$doc:meta])* known_bug($bug:literal) async fn $name:ident($arena:ident: Arena) $body:block $($rest:tt)*) => {
        $(#[$doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn case($arena: Arena) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                case(Arena::open(Backend::Sqlite).await.expect("SQLite is always available")).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[ignore = $bug]
            async fn postgres() {
                case(Arena::open(Backend::Postgres).await.expect(NO_POSTGRES)).await
            }
        }
        race_cases!($($rest)*);
    };
    ($(#[$doc:meta])* async fn $name:ident($arena:ident: Arena) $body:block $($rest:tt)*) => {
        $(#[$doc])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn case($arena: Arena) $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                case(Arena::open(Backend::Sqlite).await.expect("SQLite is always available")).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
            async fn postgres() {
                case(Arena::open(Backend::Postgres).await.expect(NO_POSTGRES)).await
            }
        }
        race_cases!($($rest)*);
    };
}

/// Which of two competing requests won.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Won {
    First,
    Second,
}

/// Asserts that exactly one of two competing requests succeeded and the
/// other was refused as `409 invalid-state`, with nothing recorded for it.
#[track_caller]
fn one_winner(first: &Reply, second: &Reply) -> Won {
    let won = match (first.status.is_success(), second.status.is_success()) {
        (true, false) => Won::First,
        (false, true) => Won::Second,
        _ => panic!(
            "exactly one of two competing requests must win: {} {} / {} {}",
            first.status, first.body, second.status, second.body
        ),
    };
    let loser = if won == Won::First { second } else { first };
    loser.problem(409, "invalid-state");
    assert!(
        loser.audit_indexes().is_empty(),
        "the loser recorded nothing"
    );
    won
}

/// The actions recorded about `subject`, in log order.
async fn actions_of(app: &TestApp, subject: impl ToString) -> Vec<String> {
    let subject = subject.to_string();
    app.market
        .db
        .read(move |conn| {
            use datamarket::store::schema::audit_entries::dsl as e;
            Ok(e::audit_entries
                .filter(e::subject.eq(subject))
                .order(e::idx.asc())
                .select(e::action)
                .load::<String>(conn)?)
        })
        .await
        .expect("audit entries of a subject")
}

/// The actions of a list of entries.
fn actions(entries: &[Value]) -> Vec<&str> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or("?"))
        .collect()
}

/// The indexes of a list of entries.
fn indexes(entries: &[Value]) -> Vec<u64> {
    entries
        .iter()
        .map(|e| e["index"].as_u64().expect("index"))
        .collect()
}

fn request_body(dataset: Uuid) -> Value {
    json!({
        "dataset": dataset,
        "purpose": "congestion forecasting",
        "duration_days": 30,
        "max_downloads": 5,
        "processing": false,
        "cross_border": false,
    })
}

async fn request(app: &TestApp, consumer: &User, dataset: Uuid) -> Uuid {
    let reply = app
        .post(
            "/api/v1/access-requests",
            Some(&consumer.token),
            request_body(dataset),
        )
        .await;
    reply.expect(201);
    reply.id()
}

/// A request approved at once; returns the grant.
async fn grant(
    app: &TestApp,
    holder: &User,
    consumer: &User,
    dataset: Uuid,
    policy: Value,
) -> Uuid {
    let id = request(app, consumer, dataset).await;
    let reply = app
        .post(
            &format!("/api/v1/access-requests/{id}/approve"),
            Some(&holder.token),
            json!({ "policy": policy }),
        )
        .await;
    reply.expect(200);
    reply.body["grant"].as_str().unwrap().parse().unwrap()
}

/// Another access token of the same account: a second session.
async fn session(app: &TestApp, user: &User) -> String {
    let reply = app.token(&user.name, PASSWORD).await;
    reply.expect(200);
    reply.body["access_token"].as_str().unwrap().to_owned()
}

/// A fresh important dataset with a version, submitted for review.
async fn pending_review(app: &TestApp, holder: &User, title: &str) -> Uuid {
    let id = app.dataset(holder, title, "important").await;
    app.upload(holder, id, b"plate,seen_at\n").await.expect(201);
    let reply = app
        .post(
            &format!("/api/v1/datasets/{id}/publish"),
            Some(&holder.token),
            json!({}),
        )
        .await;
    reply.expect(200);
    assert_eq!(reply.body["status"], "pending_review");
    id
}

/// Checks one round of a decision race on an access request: the request's
/// state, its grant, the loser's answer and the log.
async fn check_decision(
    arena: &Arena,
    request: Uuid,
    before: u64,
    winner: &Reply,
    loser: &Reply,
    state: &str,
    holder: &User,
) {
    let app = &arena.a;
    assert_eq!(winner.body["state"], state);
    assert_eq!(
        loser.body["current_state"], state,
        "the loser is told what it lost to"
    );
    let now = app
        .get(
            &format!("/api/v1/access-requests/{request}"),
            Some(&holder.token),
        )
        .await;
    now.expect(200);
    assert_eq!(now.body["state"], state);
    let entries = app.audit_since(before).await;
    assert_eq!(
        indexes(&entries),
        winner.audit_indexes(),
        "the winner's entries, and only they"
    );
    match state {
        "approved" => {
            let grant: Uuid = now.body["grant"]
                .as_str()
                .expect("a grant")
                .parse()
                .unwrap();
            assert_eq!(
                actions(&entries),
                ["access_request.approved", "grant.created"]
            );
            assert_eq!(entries[0]["subject"], request.to_string());
            assert_eq!(entries[1]["subject"], grant.to_string());
            assert_eq!(entries[1]["detail"]["request"], request.to_string());
            let g = app
                .get(&format!("/api/v1/grants/{grant}"), Some(&holder.token))
                .await;
            g.expect(200);
            assert_eq!(g.body["status"], "active");
            assert_eq!(actions_of(app, grant).await, ["grant.created"]);
        }
        other => {
            assert_eq!(
                now.body["grant"],
                Value::Null,
                "no grant for a {other} request"
            );
            assert_eq!(
                actions(&entries),
                [format!("access_request.{other}").as_str()]
            );
            assert_eq!(entries[0]["subject"], request.to_string());
        }
    }
    assert_eq!(
        actions_of(app, request).await,
        [
            "access_request.created".to_owned(),
            format!("access_request.{state}")
        ],
        "one entry for the one decision made"
    );
}

race_cases! {
    /// The holder approves while the consumer withdraws.
    async fn approve_vs_withdraw(arena: Arena) {
        let app = &arena.a;
        let holder = app.provider("holder").await;
        let consumer = app.consumer("consumer").await;
        let dataset = app.listed_dataset(&holder, "Intersections").await;
        let (mut approved, mut withdrawn) = (0, 0);
        for round in 0..ROUNDS {
            let id = request(app, &consumer, dataset).await;
            let before = app.audit_size().await;
            let (x, y) = arena.pair(round);
            let (to_approve, to_withdraw) = (format!("/api/v1/access-requests/{id}/approve"), format!("/api/v1/access-requests/{id}/withdraw"));
            let (approve, withdraw) = tokio::join!(
                x.post(&to_approve, Some(&holder.token), json!({})),
                y.post(&to_withdraw, Some(&consumer.token), json!({})),
            );
            match one_winner(&approve, &withdraw) {
                Won::First => {
                    approved += 1;
                    check_decision(&arena, id, before, &approve, &withdraw, "approved", &holder).await;
                }
                Won::Second => {
                    withdrawn += 1;
                    check_decision(&arena, id, before, &withdraw, &approve, "withdrawn", &holder).await;
                }
            }
        }
        eprintln!("approve vs withdraw ({}): approve won {approved}, withdraw won {withdrawn} of {ROUNDS}", arena.name());
    }

    /// Two who may decide — the holder and a broker the operation right is
    /// delegated to — approve and reject one request at once.
    async fn approve_vs_reject(arena: Arena) {
        let app = &arena.a;
        let holder = app.provider("holder").await;
        let broker = app.provider("broker").await;
        let consumer = app.consumer("consumer").await;
        let dataset = app.listed_dataset(&holder, "Parking").await;
        let until = chrono::Utc::now() + chrono::Duration::hours(1);
        app.post(
            &format!("/api/v1/datasets/{dataset}/rights/transfers"),
            Some(&holder.token),
            json!({"right": "operation", "to": broker.id, "until": until}),
        )
        .await
        .expect(201);
        let (mut approved, mut rejected) = (0, 0);
        for round in 0..ROUNDS {
            let id = request(app, &consumer, dataset).await;
            let before = app.audit_size().await;
            let (x, y) = arena.pair(round);
            let (to_approve, to_reject) = (format!("/api/v1/access-requests/{id}/approve"), format!("/api/v1/access-requests/{id}/reject"));
            let (approve, reject) = tokio::join!(
                x.post(&to_approve, Some(&holder.token), json!({})),
                y.post(&to_reject, Some(&broker.token), json!({"reason": "not for forecasting"})),
            );
            match one_winner(&approve, &reject) {
                Won::First => {
                    approved += 1;
                    check_decision(&arena, id, before, &approve, &reject, "approved", &holder).await;
                }
                Won::Second => {
                    rejected += 1;
                    assert_eq!(reject.body["decision"]["reason"], "not for forecasting");
                    assert_eq!(reject.body["decision"]["by"], broker.id.to_string());
                    check_decision(&arena, id, before, &reject, &approve, "rejected", &holder).await;
                }
            }
        }
        eprintln!("approve vs reject ({}): approve won {approved}, reject won {rejected} of {ROUNDS}", arena.name());
    }

    /// Two regulators decide one important listing at once, one approving
    /// and one rejecting.
    async fn review_vs_review(arena: Arena) {
        let app = &arena.a;
        let holder = app.provider("holder").await;
        app.verified(&holder).await;
        let approver = app.regulator("reg-approve").await;
        let rejecter = app.regulator("reg-reject").await;
        let (mut listed, mut rejected) = (0, 0);
        for round in 0..ROUNDS {
            let id = pending_review(app, &holder, &format!("Plates {round}")).await;
            let before = app.audit_size().await;
            let (x, y) = arena.pair(round);
            let path = format!("/api/v1/datasets/{id}/review");
            let (approve, reject) = tokio::join!(
                x.post(&path, Some(&approver.token), json!({"decision": "approve"})),
                y.post(&path, Some(&rejecter.token), json!({"decision": "reject", "reason": "personal data in plates"})),
            );
            let (winner, status, decision, by) = match one_winner(&approve, &reject) {
                Won::First => { listed += 1; (&approve, "listed", "approve", &approver) }
                Won::Second => { rejected += 1; (&reject, "rejected", "reject", &rejecter) }
            };
            assert_eq!(winner.body["status"], status);
            let now = app.get(&format!("/api/v1/datasets/{id}"), Some(&holder.token)).await;
            now.expect(200);
            assert_eq!(now.body["status"], status);
            let entries = app.audit_since(before).await;
            assert_eq!(actions(&entries), ["dataset.reviewed"]);
            assert_eq!(indexes(&entries), winner.audit_indexes());
            assert_eq!(entries[0]["subject"], id.to_string());
            assert_eq!(entries[0]["actor"], by.id.to_string());
            assert_eq!(entries[0]["detail"]["decision"], decision);
            assert_eq!(
                actions_of(app, id).await.iter().filter(|a| *a == "dataset.reviewed").count(),
                1
            );
        }
        eprintln!("review vs review ({}): approval won {listed}, rejection won {rejected} of {ROUNDS}", arena.name());
    }

    /// The licensor and a regulator revoke one grant at once.
    async fn revoke_vs_revoke(arena: Arena) {
        let app = &arena.a;
        let holder = app.provider("holder").await;
        let consumer = app.consumer("consumer").await;
        let regulator = app.regulator("reg").await;
        let dataset = app.listed_dataset(&holder, "Buses").await;
        let (mut by_licensor, mut by_regulator) = (0, 0);
        for round in 0..ROUNDS {
            let id = grant(app, &holder, &consumer, dataset, json!({})).await;
            let before = app.audit_size().await;
            let (x, y) = arena.pair(round);
            let path = format!("/api/v1/grants/{id}/revoke");
            let (licensor, oversight) = tokio::join!(
                x.post(&path, Some(&holder.token), json!({"reason": "licence terms breached"})),
                y.post(&path, Some(&regulator.token), json!({"reason": "under investigation"})),
            );
            let (winner, by) = match one_winner(&licensor, &oversight) {
                Won::First => { by_licensor += 1; (&licensor, &holder) }
                Won::Second => { by_regulator += 1; (&oversight, &regulator) }
            };
            let loser = if std::ptr::eq(winner, &licensor) { &oversight } else { &licensor };
            assert_eq!(loser.body["current_status"], "revoked");
            let now = app.get(&format!("/api/v1/grants/{id}"), Some(&consumer.token)).await;
            now.expect(200);
            assert_eq!(now.body["status"], "revoked");
            assert_eq!(now.body["revocation"]["by"], by.id.to_string());
            assert_eq!(now.body["revocation"]["reason"], winner.body["revocation"]["reason"]);
            // The consumer's refused downloads below set off the early-warning
            // watch's refused-deliveries rule once; its alert lands in
            // whichever round's window the watch happens to run in.
            let entries: Vec<Value> = app
                .audit_since(before)
                .await
                .into_iter()
                .filter(|e| e["action"] != "alert.raised")
                .collect();
            assert_eq!(actions(&entries), ["grant.revoked"]);
            assert_eq!(indexes(&entries), winner.audit_indexes());
            assert_eq!(entries[0]["subject"], id.to_string());
            assert_eq!(entries[0]["actor"], by.id.to_string());
            assert_eq!(actions_of(app, id).await, ["grant.created", "grant.revoked"]);
            // and the licence it conferred is gone, on either gateway
            for gateway in [&arena.a, arena.b()] {
                gateway
                    .get(&format!("/api/v1/datasets/{dataset}/versions/1/content"), Some(&consumer.token))
                    .await
                    .problem(403, "grant-revoked");
            }
        }
        eprintln!("revoke vs revoke ({}): licensor won {by_licensor}, regulator won {by_regulator} of {ROUNDS}", arena.name());
    }

    /// A grant whose window just ended is revoked over HTTP while the
    /// sweep (on the other instance) records its expiry. Both may succeed,
    /// in either order: `expired → revoked` is allowed, `revoked → expired`
    /// is not. So: exactly one `grant.revoked`, at most one `grant.expired`
    /// and only before it, the sweep's count agrees with the log, and the
    /// grant ends revoked.
    async fn revoke_vs_sweep(arena: Arena) {
        revocations_racing_the_sweep(&arena, false).await;
    }

    /// The same race, checking what the revocation's entry says it
    /// replaced. Found on PostgreSQL, and fixed in 42cc766 (which locks the row before deciding); before it, `grants::licences::revoke`
    /// (src/grants/licences.rs) writes `previous_status` from the row it
    /// read before its conditional update; when the sweep expires the grant
    /// in between (it waits for the sweep's row lock, then finds `expired`,
    /// which it may revoke), the log says `grant.expired` and then a
    /// `grant.revoked` whose `previous_status` is `active`.
    async fn revocation_names_the_status_it_replaced(arena: Arena) {
        revocations_racing_the_sweep(&arena, true).await;
    }

    /// The holder of the processing right transfers it to two accounts at
    /// once: one transfer is made, and the register never has two holders.
    ///
    /// Found on PostgreSQL and fixed in 42cc766 (it was intermittent here, about one round in a
    /// hundred and fifty; `transfer_stampede` reproduces it reliably): see
    /// `transfer_stampede`.
    async fn transfer_vs_transfer(arena: Arena) {
        let app = &arena.a;
        let holder = app.provider("holder").await;
        let lab = app.consumer("lab").await;
        let refinery = app.provider("refinery").await;
        let (mut to_lab, mut to_refinery, mut refused) = (0, 0, 0);
        for round in 0..ROUNDS {
            let id = app.dataset(&holder, &format!("Sensors {round}"), "general").await;
            let before = app.audit_size().await;
            let (x, y) = arena.pair(round);
            let path = format!("/api/v1/datasets/{id}/rights/transfers");
            let (first, second) = tokio::join!(
                x.post(&path, Some(&holder.token), json!({"right": "processing", "to": lab.id})),
                y.post(&path, Some(&holder.token), json!({"right": "processing", "to": refinery.id})),
            );
            let (winner, loser, recipient) = match (first.status.as_u16(), second.status.as_u16()) {
                (201, _) if !second.status.is_success() => { to_lab += 1; (&first, &second, &lab) }
                (_, 201) if !first.status.is_success() => { to_refinery += 1; (&second, &first, &refinery) }
                _ => panic!("exactly one transfer is made: {} {} / {} {}", first.status, first.body, second.status, second.body),
            };
            // Lost at the register (409), or checked only after the winner
            // committed, when the holder no longer held the right (403).
            if loser.status.as_u16() == 403 {
                refused += 1;
                loser.problem(403, "not-permitted");
            } else {
                loser.problem(409, "invalid-state");
                assert_eq!(loser.body["current_holder"], recipient.id.to_string());
            }
            assert!(loser.audit_indexes().is_empty());
            assert_eq!(winner.body["holder"], recipient.id.to_string());
            let rights = app.get(&format!("/api/v1/datasets/{id}/rights"), Some(&holder.token)).await;
            rights.expect(200);
            let current: Vec<&Value> = rights.body["current"].as_array().unwrap().iter().filter(|r| r["right"] == "processing").collect();
            assert_eq!(current.len(), 1, "one current processing right: {}", rights.body);
            assert_eq!(current[0]["holder"], recipient.id.to_string());
            let in_force: Vec<&Value> = rights.body["history"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|r| r["right"] == "processing" && r["origin"] != "delegation" && r["ended_at"].is_null())
                .collect();
            assert_eq!(in_force.len(), 1, "one un-ended base registration: {}", rights.body);
            assert_eq!(in_force[0]["id"], winner.body["id"]);
            let processing: Vec<&Value> = rights.body["history"].as_array().unwrap().iter().filter(|r| r["right"] == "processing").collect();
            assert_eq!(processing.len(), 2, "the original and the one transfer: {}", rights.body);
            let entries = app.audit_since(before).await;
            assert_eq!(actions(&entries), ["right.transferred"]);
            assert_eq!(indexes(&entries), winner.audit_indexes());
            assert_eq!(entries[0]["subject"], winner.body["id"]);
            assert_eq!(entries[0]["detail"]["to"], recipient.id.to_string());
        }
        eprintln!(
            "transfer vs transfer ({}): to lab {to_lab}, to refinery {to_refinery} of {ROUNDS}; losers refused 403 {refused}, 409 {}",
            arena.name(),
            ROUNDS - refused
        );
    }

    /// The holder of the processing right transfers it to four accounts at
    /// once, their starts staggered by a step that varies from round to
    /// round so that some request is checked just before another commits.
    /// Exactly one transfer is made per round, and every transfer in the
    /// register was made by the holder of the registration it ended.
    ///
    /// Found on PostgreSQL, and fixed in 42cc766 (which locks the row before deciding); before it, `rights::transfer` (src/rights/mod.rs)
    /// asks `access::may(Act::Move)` — one read of the register — whether
    /// the actor holds the right, and then reads the register again
    /// (`Holders::load`) for the `seen` it hands to
    /// `access::register::move_right`. Under READ COMMITTED the two reads
    /// are different snapshots: when a concurrent transfer commits between
    /// them, the permission was checked against the old register and the
    /// move is made against the new one. `move_right` locks the new base
    /// registration and finds the register "as seen", so the former holder
    /// transfers the right away from its new holder: two 201s, and a
    /// `right.transferred` entry whose `from` is the former holder and
    /// whose `previous` is the registration the other transfer made. About
    /// one round in fifty here; a few hundred rounds reproduce it.
    async fn transfer_stampede(arena: Arena) {
        let app = &arena.a;
        let rounds = match arena.backend {
            Backend::Postgres => 400,
            Backend::Sqlite => 40,
        };
        let holder = app.provider("holder").await;
        let mut recipients = Vec::new();
        for i in 0..4 {
            recipients.push(app.consumer(&format!("recipient-{i}")).await);
        }
        let mut losses = std::collections::BTreeMap::new();
        for round in 0..rounds {
            let id = app.dataset(&holder, &format!("Meters {round}"), "general").await;
            let path = format!("/api/v1/datasets/{id}/rights/transfers");
            let step = Duration::from_micros(250 * (round % 20));
            let transfers = recipients.iter().enumerate().map(|(i, to)| {
                let gateway = if i % 2 == 0 { &arena.a } else { arena.b() };
                let (path, token) = (&path, &holder.token);
                async move {
                    tokio::time::sleep(step * i as u32).await;
                    gateway.post(path, Some(token), json!({"right": "processing", "to": to.id})).await
                }
            });
            let replies = futures_util::future::join_all(transfers).await;
            let made: Vec<&Reply> = replies.iter().filter(|r| r.status.is_success()).collect();
            let rights = app.get(&format!("/api/v1/datasets/{id}/rights"), Some(&holder.token)).await;
            let history: Vec<&Value> = rights.body["history"].as_array().unwrap().iter().filter(|r| r["right"] == "processing").collect();
            assert_eq!(
                made.len(),
                1,
                "round {round} (step {step:?}): exactly one of four transfers is made; processing history: {history:#?}"
            );
            for loser in replies.iter().filter(|r| !r.status.is_success()) {
                assert!(
                    matches!(loser.status.as_u16(), 403 | 409),
                    "a loser is refused 403 or 409: {} {}",
                    loser.status,
                    loser.body
                );
                *losses.entry(loser.status.as_u16()).or_insert(0) += 1;
            }
            assert_eq!(history.len(), 2, "the original and one transfer: {history:#?}");
            assert_eq!(history[1]["granted_by"], history[0]["holder"], "made by the holder of the registration it ended");
        }
        eprintln!("transfer stampede ({}): {rounds} rounds, one transfer each; losers {losses:?}", arena.name());
    }

    /// The holder and a regulator delist one listing at once.
    async fn delist_vs_delist(arena: Arena) {
        let app = &arena.a;
        let holder = app.provider("holder").await;
        let regulator = app.regulator("reg").await;
        let (mut by_holder, mut by_regulator) = (0, 0);
        for round in 0..ROUNDS {
            let id = app.listed_dataset(&holder, &format!("Taxis {round}")).await;
            let before = app.audit_size().await;
            let (x, y) = arena.pair(round);
            let path = format!("/api/v1/datasets/{id}/delist");
            let (own, oversight) = tokio::join!(
                x.post(&path, Some(&holder.token), json!({})),
                y.post(&path, Some(&regulator.token), json!({"reason": "unlicensed plates"})),
            );
            let (winner, by) = match one_winner(&own, &oversight) {
                Won::First => { by_holder += 1; (&own, &holder) }
                Won::Second => { by_regulator += 1; (&oversight, &regulator) }
            };
            assert_eq!(winner.body["status"], "delisted");
            let now = app.get(&format!("/api/v1/datasets/{id}"), Some(&holder.token)).await;
            assert_eq!(now.body["status"], "delisted");
            let entries = app.audit_since(before).await;
            assert_eq!(actions(&entries), ["dataset.delisted"]);
            assert_eq!(indexes(&entries), winner.audit_indexes());
            assert_eq!(entries[0]["subject"], id.to_string());
            assert_eq!(entries[0]["actor"], by.id.to_string());
        }
        eprintln!("delist vs delist ({}): holder won {by_holder}, regulator won {by_regulator} of {ROUNDS}", arena.name());
    }

    /// A delisted listing: its holder publishes it again while a regulator
    /// delists it. Either the publication comes first and the delisting
    /// follows (both 200, delisted at the end), or the delisting finds it
    /// delisted still (409) and the publication lists it. The log tells the
    /// same order, one entry per change.
    async fn delist_vs_publish(arena: Arena) {
        let app = &arena.a;
        let holder = app.provider("holder").await;
        let regulator = app.regulator("reg").await;
        let (mut published_first, mut delist_refused) = (0, 0);
        for round in 0..ROUNDS {
            let id = app.listed_dataset(&holder, &format!("Buses {round}")).await;
            let (path, to_publish, to_delist) = (
                format!("/api/v1/datasets/{id}"),
                format!("/api/v1/datasets/{id}/publish"),
                format!("/api/v1/datasets/{id}/delist"),
            );
            app.post(&to_delist, Some(&holder.token), json!({})).await.expect(200);
            let before = app.audit_size().await;
            let (x, y) = arena.pair(round);
            let (publish, delist) = tokio::join!(
                x.post(&to_publish, Some(&holder.token), json!({})),
                y.post(&to_delist, Some(&regulator.token), json!({"reason": "route data unlicensed"})),
            );
            publish.expect(200);
            assert_eq!(publish.body["status"], "listed");
            let now = app.get(&path, Some(&holder.token)).await;
            let entries = app.audit_since(before).await;
            if delist.status.is_success() {
                published_first += 1;
                assert_eq!(now.body["status"], "delisted");
                assert_eq!(actions(&entries), ["dataset.published", "dataset.delisted"]);
                assert_eq!(indexes(&entries[1..]), delist.audit_indexes());
            } else {
                delist_refused += 1;
                delist.problem(409, "invalid-state");
                assert_eq!(now.body["status"], "listed");
                assert_eq!(actions(&entries), ["dataset.published"]);
            }
            assert_eq!(indexes(&entries[..1]), publish.audit_indexes());
        }
        eprintln!(
            "delist vs publish ({}): published first {published_first}, delisting refused {delist_refused} of {ROUNDS}",
            arena.name()
        );
    }

    /// A draft: the holder publishes it from one session while retitling
    /// it from another (PATCH, draft → draft). Both may succeed, but only
    /// in an order: published first, and the edit is refused (409: a
    /// listing is no longer edited); or edited first, and the listing
    /// carries the new title. The log tells the same order.
    async fn publish_vs_edit(arena: Arena) {
        let app = &arena.a;
        let holder = app.provider("holder").await;
        let other_session = session(app, &holder).await;
        let (mut published_first, mut edited_first) = (0, 0);
        for round in 0..ROUNDS {
            let id = app.dataset(&holder, &format!("Cameras {round}"), "general").await;
            app.upload(&holder, id, b"camera,count\n").await.expect(201);
            let before = app.audit_size().await;
            let (x, y) = arena.pair(round);
            let (path, to_publish) = (format!("/api/v1/datasets/{id}"), format!("/api/v1/datasets/{id}/publish"));
            let title = format!("Roadside cameras {round}");
            let (publish, edit) = tokio::join!(
                x.post(&to_publish, Some(&holder.token), json!({})),
                y.patch(&path, Some(&other_session), json!({"title": title})),
            );
            publish.expect(200);
            assert_eq!(publish.body["status"], "listed");
            let now = app.get(&path, Some(&holder.token)).await;
            assert_eq!(now.body["status"], "listed");
            let entries = app.audit_since(before).await;
            if edit.status.is_success() {
                edited_first += 1;
                assert_eq!(actions(&entries), ["dataset.updated", "dataset.published"]);
                assert_eq!(indexes(&entries[..1]), edit.audit_indexes());
                assert_eq!(entries[0]["detail"]["changed"], json!(["title"]));
                assert_eq!(now.body["title"], title);
                assert_eq!(publish.body["title"], title, "published after the edit, with it");
            } else {
                published_first += 1;
                edit.problem(409, "invalid-state");
                assert!(edit.audit_indexes().is_empty());
                assert_eq!(actions(&entries), ["dataset.published"]);
                assert_eq!(now.body["title"], format!("Cameras {round}"));
            }
            assert_eq!(indexes(&entries[entries.len() - 1..]), publish.audit_indexes());
        }
        eprintln!("publish vs edit ({}): published first {published_first}, edited first {edited_first} of {ROUNDS}", arena.name());
    }

    /// A draft: the holder publishes it from one session while
    /// reclassifying it from another, as important data (even rounds) or
    /// core data (odd rounds). Consistent outcomes: published first (listed
    /// as general data) and the edit refused 409; or reclassified first,
    /// and the publication then sends important data to review or refuses
    /// core data (422 core-data-not-tradable). Never is important data
    /// listed without review, nor core data listed at all.
    ///
    /// Found on PostgreSQL, and fixed in 42cc766 (which locks the row before deciding); before it, `catalog::listings::publish`
    /// (src/catalog/listings.rs) chooses `listed` or `pending_review`, and
    /// refuses core data, from the row it read at the start of its
    /// transaction, while its conditional update re-checks only the status
    /// (`draft`/`delisted`). An edit that commits in between leaves the
    /// status `draft`, so the update succeeds: the dataset is listed as
    /// important data without review, or core data is listed, both
    /// requests answered 200, and the log records `dataset.updated` then
    /// `dataset.published` with status `listed`.
    async fn publish_vs_reclassify(arena: Arena) {
        let app = &arena.a;
        let holder = app.provider("holder").await;
        app.verified(&holder).await;
        let other_session = session(app, &holder).await;
        let (mut published_first, mut edited_first) = (0, 0);
        for round in 0..ROUNDS {
            let class = if round.is_multiple_of(2) { "important" } else { "core" };
            let id = app.dataset(&holder, &format!("Faces {round}"), "general").await;
            app.upload(&holder, id, b"camera,face\n").await.expect(201);
            let before = app.audit_size().await;
            let (x, y) = arena.pair(round);
            let (path, to_publish) = (format!("/api/v1/datasets/{id}"), format!("/api/v1/datasets/{id}/publish"));
            let (publish, edit) = tokio::join!(
                x.post(&to_publish, Some(&holder.token), json!({})),
                y.patch(&path, Some(&other_session), json!({"classification": class})),
            );
            let now = app.get(&path, Some(&holder.token)).await;
            let entries = app.audit_since(before).await;
            let story = format!(
                "{class}: publish {} {} / edit {} {} / now {} / log {:?}",
                publish.status, publish.body, edit.status, edit.body, now.body, actions(&entries)
            );
            if edit.status.is_success() {
                edited_first += 1;
                assert_eq!(now.body["classification"], class, "{story}");
                assert_eq!(entries[0]["action"], "dataset.updated", "{story}");
                if class == "important" {
                    publish.expect(200);
                    assert_eq!(now.body["status"], "pending_review", "important data waits for review: {story}");
                    assert_eq!(publish.body["status"], "pending_review", "{story}");
                    assert_eq!(actions(&entries), ["dataset.updated", "dataset.published"], "{story}");
                    assert_eq!(entries[1]["detail"]["status"], "pending_review", "{story}");
                } else {
                    assert_eq!(publish.status.as_u16(), 422, "core data is never listed: {story}");
                    publish.problem(422, "core-data-not-tradable");
                    assert_eq!(now.body["status"], "draft", "{story}");
                    assert_eq!(actions(&entries), ["dataset.updated"], "{story}");
                }
            } else {
                published_first += 1;
                publish.expect(200);
                edit.problem(409, "invalid-state");
                assert_eq!(actions(&entries), ["dataset.published"], "{story}");
                assert_eq!(now.body["classification"], "general", "{story}");
                assert_eq!(now.body["status"], "listed", "{story}");
            }
        }
        eprintln!("publish vs reclassify ({}): published first {published_first}, reclassified first {edited_first} of {ROUNDS}", arena.name());
    }

    /// Two sessions of the holder edit different fields of one draft at
    /// once (PATCH, draft → draft). Both may succeed — an edit does not
    /// compete for a state — so the consistent outcome is that both
    /// changes are there, each recorded once.
    ///
    /// Found on PostgreSQL, and fixed in 42cc766 (which locks the row before deciding); before it, `catalog::listings::update`
    /// (src/catalog/listings.rs) writes every column — the ones the patch
    /// leaves alone included — from the row it read at the start of its
    /// transaction, and its conditional update (`draft`/`rejected` →
    /// `draft`) does not notice that another edit changed the row
    /// meanwhile: the later commit silently restores the fields the
    /// earlier one changed (a lost update). Both requests are answered
    /// 200 and both `dataset.updated` entries claim their change.
    async fn edit_vs_edit(arena: Arena) {
        let app = &arena.a;
        let holder = app.provider("holder").await;
        let other_session = session(app, &holder).await;
        for round in 0..ROUNDS {
            let id = app.dataset(&holder, &format!("Bikes {round}"), "general").await;
            let before = app.audit_size().await;
            let (x, y) = arena.pair(round);
            let path = format!("/api/v1/datasets/{id}");
            let (title, description) = (format!("Shared bikes {round}"), format!("Docking station counts, round {round}"));
            let (retitle, redescribe) = tokio::join!(
                x.patch(&path, Some(&holder.token), json!({"title": title})),
                y.patch(&path, Some(&other_session), json!({"description": description})),
            );
            retitle.expect(200);
            redescribe.expect(200);
            let now = app.get(&path, Some(&holder.token)).await;
            let entries = app.audit_since(before).await;
            assert_eq!(actions(&entries), ["dataset.updated", "dataset.updated"]);
            let story = format!("now {} / log {entries:?}", now.body);
            assert_eq!(now.body["title"], title, "no edit is lost: {story}");
            assert_eq!(now.body["description"], description, "no edit is lost: {story}");
        }
    }

}

/// Rounds of a revocation over HTTP racing the sweep on the other instance,
/// each on a grant whose window has just ended.
async fn revocations_racing_the_sweep(arena: &Arena, check_previous: bool) {
    let app = &arena.a;
    let sweeper = &arena.b().market;
    let holder = app.provider("holder").await;
    let consumer = app.consumer("consumer").await;
    let dataset = app.listed_dataset(&holder, "Trams").await;
    // Staggered windows, so that each round has exactly one grant due (a
    // sweep takes every due grant at once).
    let step = chrono::Duration::milliseconds(250);
    let first_end = chrono::Utc::now() + chrono::Duration::seconds(3);
    let mut grants = Vec::new();
    for round in 0..ROUNDS {
        let not_after = first_end + step * round as i32;
        let id = grant(
            app,
            &holder,
            &consumer,
            dataset,
            json!({"not_after": not_after}),
        )
        .await;
        grants.push((id, not_after));
    }
    assert!(
        chrono::Utc::now() < first_end,
        "the setup took longer than the first window"
    );
    let (mut swept_first, mut revoked_first) = (0, 0);
    for (round, (id, not_after)) in grants.into_iter().enumerate() {
        let wait = (not_after - chrono::Utc::now())
            .to_std()
            .unwrap_or_default();
        tokio::time::sleep(wait + Duration::from_millis(30)).await;
        let before = app.audit_size().await;
        let (x, _) = arena.pair(round);
        let path = format!("/api/v1/grants/{id}/revoke");
        let (revoke, swept) = tokio::join!(
            x.post(
                &path,
                Some(&holder.token),
                json!({"reason": "project ended"})
            ),
            datamarket::grants::sweep_grants(sweeper),
        );
        let swept = swept.expect("the sweep runs");
        revoke.expect(200);
        assert_eq!(revoke.body["status"], "revoked");
        let entries = app.audit_since(before).await;
        let now = app
            .get(&format!("/api/v1/grants/{id}"), Some(&holder.token))
            .await;
        assert_eq!(now.body["status"], "revoked");
        for e in &entries {
            assert_eq!(e["subject"], id.to_string(), "{entries:?}");
        }
        let revoked = match actions(&entries).as_slice() {
            ["grant.revoked"] => {
                revoked_first += 1;
                assert_eq!(
                    swept, 0,
                    "the sweep found the grant revoked and recorded nothing"
                );
                assert_eq!(indexes(&entries), revoke.audit_indexes());
                &entries[0]
            }
            ["grant.expired", "grant.revoked"] => {
                swept_first += 1;
                assert_eq!(swept, 1, "the sweep's count agrees with the log");
                assert_eq!(entries[0]["actor"], Value::Null);
                assert_eq!(indexes(&entries[1..]), revoke.audit_indexes());
                &entries[1]
            }
            other => panic!("a revocation and at most one expiry before it, not {other:?}"),
        };
        assert_eq!(revoked["actor"], holder.id.to_string());
        if check_previous {
            let replaced = if swept == 1 { "expired" } else { "active" };
            assert_eq!(
                revoked["detail"]["previous_status"], replaced,
                "the revocation records the status it replaced: {entries:?}"
            );
        }
    }
    eprintln!(
        "revoke vs sweep ({}): sweep first {swept_first}, revocation first {revoked_first} of {ROUNDS}",
        arena.name()
    );
}

both_backends! {
    // Group commit: the changes that reach the writer together share one
    // transaction, first run without savepoints. A refused change among
    // them makes the writer roll the batch back and run it again with a
    // savepoint per change: every allowed edit is then committed and logged
    // once, at the index it was answered with, and the refused ones write
    // nothing.
    async fn a_refused_change_leaves_its_batch_mates_committed(app: TestApp) {
        let acme = app.provider("acme").await;
        let listed = app.listed_dataset(&acme, "Listed, so not editable").await;
        let listed_path = format!("/api/v1/datasets/{listed}");
        let listed_before = app.get(&listed_path, Some(&acme.token)).await.body.clone();
        let mut drafts = Vec::new();
        for i in 0..12 {
            drafts.push(app.dataset(&acme, &format!("Draft {i}"), "general").await);
        }
        let before = app.audit_size().await;
        let draft_paths: Vec<String> = drafts.iter().map(|d| format!("/api/v1/datasets/{d}")).collect();
        let mut calls = Vec::new();
        for round in 0..4 {
            for draft in &draft_paths {
                let edit = json!({ "description": format!("edit {round}") });
                calls.push((true, app.patch(draft, Some(&acme.token), edit)));
                let refused = json!({ "description": format!("refused {round}") });
                calls.push((false, app.patch(&listed_path, Some(&acme.token), refused)));
            }
        }
        let (allowed, calls): (Vec<bool>, Vec<_>) = calls.into_iter().unzip();
        let replies = futures_util::future::join_all(calls).await;
        let mut answered = Vec::new();
        for (allowed, reply) in allowed.into_iter().zip(&replies) {
            if allowed {
                reply.expect(200);
                let indexes = reply.audit_indexes();
                assert_eq!(indexes.len(), 1, "one entry per edit: {indexes:?}");
                answered.extend(indexes);
            } else {
                reply.problem(409, "invalid-state");
                assert!(reply.audit_indexes().is_empty(), "a refusal is not logged");
            }
        }
        answered.sort_unstable();
        let logged: Vec<u64> = (before..before + 48).collect();
        assert_eq!(answered, logged, "each edit at its own index, no gaps, none twice");
        assert_eq!(app.audit_size().await, before + 48);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["dataset.updated"; 48]);
        for entry in &entries {
            assert_ne!(entry["dataset"], json!(listed.to_string()), "the refused edits wrote nothing");
        }
        assert_eq!(app.get(&listed_path, Some(&acme.token)).await.body, listed_before);
        for draft in &drafts {
            let description = app.get(&format!("/api/v1/datasets/{draft}"), Some(&acme.token)).await.body["description"].clone();
            assert!(description.as_str().is_some_and(|d| d.starts_with("edit ")), "{description}");
        }
    }
}
