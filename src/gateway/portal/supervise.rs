//! A regulator's supervision screens: early-warning alerts to take on and
//! resolve, freezes to impose and lift, the market's statistics; and the
//! signed checkpoints' history for whoever reads the log.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::i18n::Tr;
use super::{CsrfOnly, Nav, ReasonForm, done, html, member, posting, served};
use crate::access::freezes::FreezeScope;
use crate::market::Market;
use crate::supervision::alerts::{self, AlertOutcome, AlertState, ResolveInput};
use crate::supervision::statistics;
use crate::supervision::{self, FreezeInput, LiftInput};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/supervision/alerts", web::get().to(alert_list))
        .route(
            "/supervision/alerts/{id}/acknowledge",
            web::post().to(acknowledge),
        )
        .route("/supervision/alerts/{id}/resolve", web::post().to(resolve))
        .route("/supervision/freezes", web::get().to(freeze_list))
        .route("/supervision/freezes", web::post().to(freeze))
        .route("/supervision/freezes/{id}/lift", web::post().to(lift))
        .route("/supervision/statistics", web::get().to(market_statistics))
        .route("/audit/checkpoints", web::get().to(checkpoints))
        .route("/supervision/accounts/{id}", web::get().to(participant))
        .route(
            "/supervision/accounts/{id}",
            web::post().to(act_on_participant),
        );
}

struct AlertRow {
    id: Uuid,
    account: Option<Uuid>,
    rule: String,
    summary: String,
    state: String,
    raised: String,
    evidence: Vec<u64>,
    open: bool,
    resolvable: bool,
}

#[derive(Template)]
#[template(path = "portal/alerts.html")]
struct AlertsPage {
    tr: Tr,
    nav: Nav,
    alerts: Vec<AlertRow>,
}

async fn alert_list(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let page = or_answer!(served(
        &visit,
        &req,
        alerts::list(&market, &actor, None, 100, None).await
    ));
    let tr = visit.tr;
    let page = AlertsPage {
        tr,
        nav: Nav::of(&visit, &req),
        alerts: page
            .items
            .into_iter()
            .map(|a| AlertRow {
                id: a.id,
                account: a.account,
                rule: tr.t(&format!("alert-{}", a.rule)),
                summary: a.summary,
                state: tr.t(&format!("alert-state-{}", a.state)),
                raised: tr.datetime(&a.raised_at),
                evidence: a.evidence,
                open: a.state == AlertState::Open,
                resolvable: a.state != AlertState::Resolved,
            })
            .collect(),
    };
    html(&visit, StatusCode::OK, page.render())
}

async fn acknowledge(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<CsrfOnly>,
) -> HttpResponse {
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let answer = alerts::acknowledge(&market, &actor, *id).await;
    done(&visit, &req, answer, "/supervision/alerts")
}

#[derive(Deserialize)]
pub struct ResolveForm {
    #[serde(default)]
    csrf: String,
    outcome: String,
    #[serde(default)]
    note: String,
}

async fn resolve(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<ResolveForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let outcome = match AlertOutcome::parse(&form.outcome) {
        Some(outcome) => outcome,
        None => {
            let refusal = crate::error::Error::invalid("outcome", "must be confirmed or unfounded");
            return super::error_page(&visit, &req, &refusal);
        }
    };
    let input = ResolveInput {
        outcome,
        note: form.note,
    };
    let answer = alerts::resolve(&market, &actor, *id, input).await;
    done(&visit, &req, answer, "/supervision/alerts")
}

struct FreezeRow {
    id: Uuid,
    scope: String,
    target: String,
    reason: String,
    since: String,
}

#[derive(Template)]
#[template(path = "portal/freezes.html")]
struct FreezesPage {
    tr: Tr,
    nav: Nav,
    freezes: Vec<FreezeRow>,
    scopes: Vec<(String, String)>,
}

async fn freeze_list(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let freezes = or_answer!(served(
        &visit,
        &req,
        supervision::list_freezes(&market, &actor, false).await
    ));
    let tr = visit.tr;
    let page = FreezesPage {
        tr,
        nav: Nav::of(&visit, &req),
        freezes: freezes
            .into_iter()
            .map(|f| FreezeRow {
                id: f.id,
                scope: tr.t(&format!("freeze-{}", f.scope)),
                target: f.target,
                reason: f.reason,
                since: tr.datetime(&f.frozen_at),
            })
            .collect(),
        scopes: FreezeScope::ALL
            .iter()
            .map(|s| (s.to_string(), tr.t(&format!("freeze-{s}"))))
            .collect(),
    };
    html(&visit, StatusCode::OK, page.render())
}

#[derive(Deserialize)]
pub struct FreezeForm {
    #[serde(default)]
    csrf: String,
    scope: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    reason: String,
}

async fn freeze(
    market: web::Data<Market>,
    req: HttpRequest,
    form: web::Form<FreezeForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let Some(scope) = FreezeScope::parse(&form.scope) else {
        let refusal = crate::error::Error::invalid("scope", "not a kind of freeze");
        return super::error_page(&visit, &req, &refusal);
    };
    let input = FreezeInput {
        scope,
        target: form.target,
        reason: form.reason,
    };
    let answer = supervision::freeze(&market, &actor, input).await;
    done(&visit, &req, answer, "/supervision/freezes")
}

async fn lift(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<ReasonForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let input = LiftInput {
        reason: form.reason,
    };
    let answer = supervision::lift(&market, &actor, *id, input).await;
    done(&visit, &req, answer, "/supervision/freezes")
}

/// One day's bar in the deliveries chart.
struct Bar {
    day: String,
    deliveries: i64,
    /// Its height, in the chart's units (0 to 100).
    height: i64,
    /// Its left edge.
    x: usize,
}

#[derive(Template)]
#[template(path = "portal/statistics.html")]
struct StatisticsPage {
    tr: Tr,
    nav: Nav,
    stats: statistics::Statistics,
    bars: Vec<Bar>,
    chart_width: usize,
    trade: Vec<(String, String, String)>,
}

/// The market's figures for the last 30 days within the regulator's
/// jurisdiction, with the deliveries drawn day by day (an SVG the server
/// draws: no script).
async fn market_statistics(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let stats = or_answer!(served(
        &visit,
        &req,
        statistics::statistics(&market, &actor, None, None, None, None).await
    ));
    let tr = visit.tr;
    let most = stats
        .daily
        .iter()
        .map(|d| d.deliveries)
        .max()
        .unwrap_or(0)
        .max(1);
    let bars = stats
        .daily
        .iter()
        .enumerate()
        .map(|(i, d)| Bar {
            day: d.day.clone(),
            deliveries: d.deliveries,
            height: d.deliveries * 100 / most,
            x: i * 14,
        })
        .collect::<Vec<_>>();
    let trade = stats
        .trade
        .iter()
        .map(|t| {
            (
                t.currency.clone(),
                tr.number(t.orders.max(0) as u64),
                tr.money(t.volume, &t.currency),
            )
        })
        .collect();
    let page = StatisticsPage {
        tr,
        nav: Nav::of(&visit, &req),
        chart_width: (bars.len() * 14).max(14),
        bars,
        trade,
        stats,
    };
    html(&visit, StatusCode::OK, page.render())
}

struct HeadRow {
    size: u64,
    root: String,
    signed: String,
}

#[derive(Template)]
#[template(path = "portal/checkpoints.html")]
struct CheckpointsPage {
    tr: Tr,
    nav: Nav,
    heads: Vec<HeadRow>,
    newest: String,
}

/// The signed heads, newest first, and the newest as a C2SP checkpoint
/// (signed-in accounts, as on the API).
async fn checkpoints(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let (visit, _) = or_answer!(member(&req, &market).await);
    let heads = or_answer!(served(
        &visit,
        &req,
        crate::audit::recent_heads(&market.db, 50).await
    ));
    let page = CheckpointsPage {
        tr: visit.tr,
        nav: Nav::of(&visit, &req),
        newest: heads
            .first()
            .map(|h| h.checkpoint.clone())
            .unwrap_or_default(),
        heads: heads
            .into_iter()
            .map(|h| HeadRow {
                size: h.tree_size,
                root: h.root_hash,
                signed: h.timestamp,
            })
            .collect(),
    };
    html(&visit, StatusCode::OK, page.render())
}

#[derive(Template)]
#[template(path = "portal/participant.html")]
struct ParticipantPage {
    tr: Tr,
    nav: Nav,
    id: Uuid,
    name: String,
    entity: String,
    region: String,
    verified: Option<String>,
    suspended: bool,
    record: Vec<(String, String)>,
    /// The forms to act are for oversight.
    oversight: bool,
}

/// A participant as a regulator sees it: its compliance record, and the
/// forms to verify, suspend or reinstate it. Whoever may read the record
/// (the account itself, a counterparty's summary, oversight) reads it here;
/// anyone else gets 404, as on the API.
async fn participant(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let record = or_answer!(served(
        &visit,
        &req,
        crate::supervision::compliance::record(&market, &actor, *id).await
    ));
    // The account's own details only for a full view (oversight, admins,
    // the account itself), as `GET /accounts/{id}` gives them; a
    // counterparty reads the record's summary under the account's label.
    let full = record.view == "full";
    let account = if full {
        crate::accounts::get(&market, *id).await.ok()
    } else {
        None
    };
    let label = crate::accounts::names(&market, vec![*id])
        .await
        .ok()
        .and_then(|names| names.get(&id).cloned())
        .unwrap_or_else(|| id.to_string());
    let tr = visit.tr;
    let yes_no = |b: bool| tr.t(if b { "yes" } else { "no" });
    let count = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_else(|| "—".to_owned());
    let page = ParticipantPage {
        tr,
        nav: Nav::of(&visit, &req),
        id: *id,
        name: label,
        entity: record.entity_type.to_string(),
        region: account
            .as_ref()
            .and_then(|a| a.region.clone())
            .unwrap_or_default(),
        verified: record
            .verification
            .as_ref()
            .map(|v| format!("{} ({})", tr.datetime(&v.at), v.reference)),
        oversight: full && actor.roles.is_oversight(),
        suspended: record.suspended,
        record: vec![
            (tr.t("record-verified"), yes_no(record.verified)),
            (tr.t("record-suspended"), yes_no(record.suspended)),
            (tr.t("record-suspensions"), count(record.suspensions)),
            (tr.t("record-frozen"), yes_no(record.frozen)),
            (
                tr.t("record-licences-revoked"),
                record.licences_revoked.to_string(),
            ),
            (
                tr.t("record-complaints-upheld"),
                record.complaints_upheld.to_string(),
            ),
            (
                tr.t("record-complaints-open"),
                count(record.complaints_open),
            ),
            (
                tr.t("record-alerts-confirmed"),
                record.alerts_confirmed.to_string(),
            ),
        ],
    };
    html(&visit, StatusCode::OK, page.render())
}

#[derive(Deserialize)]
pub struct ParticipantForm {
    #[serde(default)]
    csrf: String,
    act: String,
    #[serde(default)]
    text: String,
}

/// Verify (with a reference), suspend or reinstate (with a reason).
async fn act_on_participant(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<ParticipantForm>,
) -> HttpResponse {
    use crate::accounts::{self, ReinstateInput, SuspendInput, VerifyInput};
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let back = format!("/supervision/accounts/{id}");
    let answer = match form.act.as_str() {
        "verify" => {
            accounts::verify(
                &market,
                &actor,
                *id,
                VerifyInput {
                    reference: form.text,
                },
            )
            .await
        }
        "suspend" => {
            accounts::suspend(&market, &actor, *id, SuspendInput { reason: form.text }).await
        }
        "reinstate" => {
            let reason = Some(form.text).filter(|t| !t.trim().is_empty());
            accounts::reinstate(&market, &actor, *id, ReinstateInput { reason }).await
        }
        _ => Err(crate::error::Error::invalid(
            "act",
            "must be verify, suspend or reinstate",
        )),
    };
    done(&visit, &req, answer, &back)
}
