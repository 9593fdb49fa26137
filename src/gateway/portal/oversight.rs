//! Oversight's screens: a regulator's review queues (listings, and
//! cross-border requests) with decisions, and the audit log with an
//! entry's inclusion proof, checked in the browser.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::i18n::Tr;
use super::{Card, Nav, done, error_page, html, member, posting, served};
use crate::audit::{self, EntryFilter};
use crate::catalog::{self, ReviewInput};
use crate::domain::Decision;
use crate::error::Error;
use crate::grants::{self, RequestReviewInput};
use crate::market::Market;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/review", web::get().to(review_queues))
        .route("/review/listings/{id}", web::post().to(review_listing))
        .route("/review/requests/{id}", web::post().to(review_request))
        .route("/audit", web::get().to(audit_log))
        .route("/audit/{index}", web::get().to(audit_entry));
}

struct RequestRow {
    id: Uuid,
    dataset: Uuid,
    basis: String,
    destination: String,
    created: String,
}

#[derive(Template)]
#[template(path = "portal/review.html")]
struct ReviewPage {
    tr: Tr,
    nav: Nav,
    listings: Vec<Card>,
    requests: Vec<RequestRow>,
}

async fn review_queues(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let listings = or_answer!(served(
        &visit,
        &req,
        catalog::review_queue(&market, &actor, 100, None).await
    ));
    let requests = or_answer!(served(
        &visit,
        &req,
        grants::review_queue(&market, &actor, 100, None).await
    ));
    let tr = visit.tr;
    let page = ReviewPage {
        tr,
        nav: Nav::of(&visit, &req),
        listings: listings.items.iter().map(|d| Card::of(&tr, d)).collect(),
        requests: requests
            .items
            .iter()
            .map(|r| RequestRow {
                id: r.id,
                dataset: r.dataset,
                basis: r.legal_basis.map(|b| b.to_string()).unwrap_or_default(),
                destination: r.destination_country.clone().unwrap_or_default(),
                created: tr.datetime(&r.created_at),
            })
            .collect(),
    };
    html(&visit, StatusCode::OK, page.render())
}

#[derive(Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf: String,
    decision: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    assessment_reference: String,
    /// A date (`YYYY-MM-DD`, as a date input sends it): the end of that day, UTC.
    #[serde(default)]
    assessment_expires_on: String,
}

fn decision(form: &DecisionForm) -> Result<Decision, Error> {
    match form.decision.as_str() {
        "approve" => Ok(Decision::Approve),
        "reject" => Ok(Decision::Reject),
        _ => Err(Error::invalid("decision", "must be approve or reject")),
    }
}

fn optional(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

async fn review_listing(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<DecisionForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let input = match decision(&form) {
        Ok(decision) => ReviewInput {
            decision,
            reason: optional(&form.reason),
        },
        Err(e) => return error_page(&visit, &req, &e),
    };
    done(
        &visit,
        &req,
        catalog::review(&market, &actor, *id, input).await,
        "/review",
    )
}

async fn review_request(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<DecisionForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let expires = match optional(&form.assessment_expires_on) {
        None => None,
        Some(day) => match chrono::NaiveDate::parse_from_str(&day, "%Y-%m-%d") {
            Ok(day) => day
                .and_hms_opt(23, 59, 59)
                .map(|t| DateTime::<Utc>::from_naive_utc_and_offset(t, Utc)),
            Err(_) => {
                let e = Error::invalid("assessment_expires_at", "must be a date, YYYY-MM-DD");
                return error_page(&visit, &req, &e);
            }
        },
    };
    let input = match decision(&form) {
        Ok(decision) => RequestReviewInput {
            decision,
            reason: optional(&form.reason),
            assessment_reference: optional(&form.assessment_reference),
            assessment_expires_at: expires,
        },
        Err(e) => return error_page(&visit, &req, &e),
    };
    done(
        &visit,
        &req,
        grants::review(&market, &actor, *id, input).await,
        "/review",
    )
}

struct EntryRow {
    index: u64,
    time: String,
    action: String,
    subject: String,
}

#[derive(Template)]
#[template(path = "portal/audit.html")]
struct AuditPage {
    tr: Tr,
    nav: Nav,
    action: String,
    subject: String,
    entries: Vec<EntryRow>,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct AuditParams {
    action: Option<String>,
    subject: Option<String>,
    /// With a filter: the entries after this index (the next page).
    after: Option<u64>,
}

/// The log, newest first, filtered by action and subject (auditors and
/// regulators read the whole of it; the service decides).
async fn audit_log(
    market: web::Data<Market>,
    req: HttpRequest,
    params: web::Query<AuditParams>,
) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let p = params.into_inner();
    let (action, subject) = (
        p.action.as_deref().and_then(optional),
        p.subject.as_deref().and_then(optional),
    );
    // Unfiltered, the newest 100; filtered, the matches in log order,
    // 100 a page (the log is read forward).
    let filtered = action.is_some() || subject.is_some();
    let size = audit::size(&market.db).await.unwrap_or(0);
    let filter = EntryFilter {
        limit: 100,
        action: action.clone(),
        subject: subject.clone(),
        after: p.after.filter(|_| filtered),
        start: (!filtered).then(|| size.saturating_sub(100)),
        ..EntryFilter::default()
    };
    let page = or_answer!(served(
        &visit,
        &req,
        audit::list(&market.db, &actor, filter).await
    ));
    let tr = visit.tr;
    let next = page.next_after.filter(|_| filtered).map(|after| {
        let mut link = format!("/audit?after={after}");
        for (name, value) in [("action", &action), ("subject", &subject)] {
            if let Some(value) = value {
                link.push_str(&format!("&{name}={}", super::encode(value)));
            }
        }
        link
    });
    let mut entries: Vec<EntryRow> = page
        .entries
        .iter()
        .map(|e| EntryRow {
            index: e.index,
            time: e
                .fields
                .as_ref()
                .map(|f| f.time.clone())
                .unwrap_or_default(),
            action: e
                .fields
                .as_ref()
                .map(|f| f.action.clone())
                .unwrap_or_default(),
            subject: e
                .fields
                .as_ref()
                .map(|f| f.subject.clone())
                .unwrap_or_default(),
        })
        .collect();
    if !filtered {
        entries.reverse();
    }
    let page = AuditPage {
        tr,
        nav: Nav::of(&visit, &req),
        action: action.unwrap_or_default(),
        subject: subject.unwrap_or_default(),
        entries,
        next,
    };
    html(&visit, StatusCode::OK, page.render())
}

#[derive(Template)]
#[template(path = "portal/entry.html")]
struct EntryPage {
    tr: Tr,
    nav: Nav,
    index: u64,
    canonical: String,
    leaf_hash: String,
    tree_size: u64,
    root_hash: String,
    proof: String,
    checkpoint: String,
}

/// One entry, its inclusion proof in the newest signed head, and that
/// head's checkpoint: the page's script hashes the entry's bytes and the
/// proof up to the root and says whether they meet.
async fn audit_entry(
    market: web::Data<Market>,
    req: HttpRequest,
    index: web::Path<String>,
) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let Ok(index) = index.parse::<u64>() else {
        return error_page(&visit, &req, &Error::not_found("entry"));
    };
    let proof = or_answer!(served(
        &visit,
        &req,
        audit::inclusion_proof(&market.db, &actor, index, None).await
    ));
    // A party reads the entries it is a party to; oversight reads all.
    let filter = EntryFilter {
        limit: 1,
        start: Some(index),
        end: Some(index + 1),
        account: (!actor.roles.is_oversight()).then_some(actor.id),
        ..EntryFilter::default()
    };
    let entry = match audit::list(&market.db, &actor, filter).await {
        Ok(page) => page.entries.into_iter().next(),
        Err(e) => return error_page(&visit, &req, &e),
    };
    let Some(entry) = entry else {
        return error_page(&visit, &req, &Error::not_found("entry"));
    };
    let head = audit::tree_head(&market.db, Some(proof.tree_size))
        .await
        .ok();
    let page = EntryPage {
        tr: visit.tr,
        nav: Nav::of(&visit, &req),
        index,
        canonical: entry.canonical,
        leaf_hash: proof.leaf_hash,
        tree_size: proof.tree_size,
        root_hash: proof.root_hash,
        proof: proof.proof.join(" "),
        checkpoint: head.map(|h| h.checkpoint).unwrap_or_default(),
    };
    html(&visit, StatusCode::OK, page.render())
}
