//! The participants' screens: a provider's listings (create a draft,
//! upload a version with progress, publish), requests in and out with
//! their decisions, grants with downloads and revocation.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use super::i18n::Tr;
use super::{
    Card, CsrfOnly, Nav, ReasonForm, acted, done, error_page, html, member, posting, served,
};
use crate::catalog::{self, NewDataset, Price};
use crate::domain::{Actor, Classification, Role};
use crate::error::Error;
use crate::grants::{self, ApproveInput, Grant, GrantRole, NewRequest, ReasonInput, RequestRole};
use crate::market::Market;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/my/listings", web::get().to(my_listings))
        .route("/my/listings", web::post().to(create_listing))
        .route("/my/listings/{id}/versions", web::post().to(upload_version))
        .route("/my/listings/{id}/publish", web::post().to(publish))
        .route("/my/listings/{id}/edit", web::post().to(edit_listing))
        .route("/my/requests", web::get().to(my_requests))
        .route("/catalog/{id}/request", web::post().to(request_access))
        .route("/requests/{id}/approve", web::post().to(approve))
        .route("/requests/{id}/reject", web::post().to(reject))
        .route("/my/grants", web::get().to(my_grants))
        .route("/grants/{id}/revoke", web::post().to(revoke))
        .route(
            "/catalog/{id}/versions/{n}/download",
            web::post().to(download),
        );
}

#[derive(Template)]
#[template(path = "portal/my_listings.html")]
struct ListingsPage {
    tr: Tr,
    nav: Nav,
    cards: Vec<(Card, String)>,
    classifications: Vec<(String, String)>,
}

async fn my_listings(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let page = or_answer!(served(
        &visit,
        &req,
        catalog::decided_by(&market, &actor, 100, None).await
    ));
    let tr = visit.tr;
    let page = ListingsPage {
        tr,
        nav: Nav::of(&visit, &req),
        cards: page
            .items
            .iter()
            .map(|d| (Card::of(&tr, d), tr.t(&format!("status-{}", d.status))))
            .collect(),
        classifications: super::classification_options(&tr),
    };
    html(&visit, StatusCode::OK, page.render())
}

#[derive(Deserialize)]
pub struct NewListingForm {
    #[serde(default)]
    csrf: String,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    tags: String,
    classification: String,
    #[serde(default)]
    personal_data: Option<String>,
    license: String,
    /// In the currency's major unit, as people write prices.
    price: String,
    /// The listing's currency (a new listing's is CNY); kept on edit.
    #[serde(default)]
    currency: String,
}

/// A draft, from the form's fields; the service checks every one.
async fn create_listing(
    market: web::Data<Market>,
    req: HttpRequest,
    form: web::Form<NewListingForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let Some(amount) = parse_price(&form.price) else {
        return error_page(
            &visit,
            &req,
            &Error::invalid("price", "must be an amount such as 99.00"),
        );
    };
    let Some(classification) = Classification::parse(form.classification.trim()) else {
        return error_page(
            &visit,
            &req,
            &Error::invalid("classification", "must be general, important or core"),
        );
    };
    let input = NewDataset {
        title: form.title,
        description: form.description,
        tags: tags_of(&form.tags),
        classification,
        personal_data: form.personal_data.is_some(),
        license: form.license,
        price: Price {
            amount,
            currency: "CNY".to_owned(),
        },
        sector: None,
        derived_from: Vec::new(),
        activity: None,
    };
    match catalog::create(&market, &actor, input).await {
        Ok(made) => acted(&visit, &format!("/catalog/{}", made.value.id)),
        Err(e) => error_page(&visit, &req, &e),
    }
}

/// `99`, `99.5` or `99.00` yuan as fen; nothing else.
pub(super) fn parse_price(text: &str) -> Option<i64> {
    let text = text.trim();
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty()
        || fraction.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !fraction.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents = format!("{fraction:0<2}").parse::<i64>().ok()?;
    whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(cents)
}

/// The upload the listing's page sends by script (to show its progress):
/// the file's bytes streamed into the store as the API's upload does, the
/// CSRF token in a header since the body is the file.
async fn upload_version(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    body: web::Payload,
) -> HttpResponse {
    let token = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let (_, actor) = or_answer!(posting(&req, &market, token).await);
    let media_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match catalog::add_version(&market, &actor, *id, media_type, length, body).await {
        Ok(made) => HttpResponse::Created().json(&made.value),
        Err(e) => super::problem(e),
    }
}

async fn publish(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<CsrfOnly>,
) -> HttpResponse {
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let answer = catalog::publish(&market, &actor, *id).await;
    done(&visit, &req, answer, &format!("/catalog/{id}"))
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    purpose: String,
    duration_days: String,
    max_downloads: String,
    #[serde(default)]
    processing: Option<String>,
}

async fn request_access(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<RequestForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let number = |field: &str, text: &str| {
        text.trim()
            .parse::<u32>()
            .map_err(|_| Error::invalid(field, "must be a whole number"))
    };
    let input = match (
        number("duration_days", &form.duration_days),
        number("max_downloads", &form.max_downloads),
    ) {
        (Ok(duration_days), Ok(max_downloads)) => NewRequest {
            dataset: *id,
            purpose: form.purpose,
            duration_days,
            max_downloads,
            processing: form.processing.is_some(),
            cross_border: false,
            destination_country: None,
            legal_basis: None,
            personal_information_subjects: None,
            message: None,
        },
        (Err(e), _) | (_, Err(e)) => return error_page(&visit, &req, &e),
    };
    done(
        &visit,
        &req,
        grants::create_request(&market, &actor, input).await,
        "/my/requests",
    )
}

/// A request as the lists show it.
struct RequestRow {
    id: Uuid,
    dataset: Uuid,
    purpose: String,
    terms: String,
    state: String,
    created: String,
    pending: bool,
}

#[derive(Template)]
#[template(path = "portal/requests.html")]
struct RequestsPage {
    tr: Tr,
    nav: Nav,
    incoming: Vec<RequestRow>,
    outgoing: Vec<RequestRow>,
}

async fn my_requests(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let tr = visit.tr;
    let rows = |page: grants::RequestPage| {
        page.items
            .iter()
            .map(|r| RequestRow {
                id: r.id,
                dataset: r.dataset,
                purpose: r.purpose.clone(),
                terms: tr.t1("request-terms", "days", r.duration_days)
                    + " · "
                    + &tr.t1("request-downloads", "count", r.max_downloads),
                state: tr.t(&format!("request-{}", r.state)),
                created: tr.datetime(&r.created_at),
                pending: r.state == grants::RequestState::Pending,
            })
            .collect::<Vec<_>>()
    };
    let mut incoming = Vec::new();
    if actor.has(Role::Provider) {
        match grants::list_requests(&market, &actor, RequestRole::Incoming, None, 100, None).await {
            Ok(page) => incoming = rows(page),
            Err(e) => return error_page(&visit, &req, &e),
        }
    }
    let mut outgoing = Vec::new();
    if actor.has(Role::Consumer) {
        match grants::list_requests(&market, &actor, RequestRole::Outgoing, None, 100, None).await {
            Ok(page) => outgoing = rows(page),
            Err(e) => return error_page(&visit, &req, &e),
        }
    }
    let page = RequestsPage {
        tr,
        nav: Nav::of(&visit, &req),
        incoming,
        outgoing,
    };
    html(&visit, StatusCode::OK, page.render())
}

async fn approve(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<CsrfOnly>,
) -> HttpResponse {
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    done(
        &visit,
        &req,
        grants::approve(&market, &actor, *id, ApproveInput::default()).await,
        "/my/requests",
    )
}

async fn reject(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<ReasonForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let input = ReasonInput {
        reason: form.reason,
    };
    done(
        &visit,
        &req,
        grants::reject(&market, &actor, *id, input).await,
        "/my/requests",
    )
}

/// A grant as the lists show it.
struct GrantRow {
    id: Uuid,
    dataset: Uuid,
    version: Option<i32>,
    status: String,
    downloads: String,
    ends: String,
    active: bool,
}

#[derive(Template)]
#[template(path = "portal/grants.html")]
struct GrantsPage {
    tr: Tr,
    nav: Nav,
    held: Vec<GrantRow>,
    given: Vec<GrantRow>,
}

async fn my_grants(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let (visit, actor) = or_answer!(member(&req, &market).await);
    let tr = visit.tr;
    let mut lists = Vec::new();
    for role in [GrantRole::Licensee, GrantRole::Licensor] {
        let page = match grants::list_grants(&market, &actor, role, 100, None).await {
            Ok(page) => page,
            Err(e) => return error_page(&visit, &req, &e),
        };
        let mut rows = Vec::new();
        for g in page.items {
            rows.push(grant_row(&market, &actor, &tr, g).await);
        }
        lists.push(rows);
    }
    let given = lists.pop().unwrap_or_default();
    let held = lists.pop().unwrap_or_default();
    let page = GrantsPage {
        tr,
        nav: Nav::of(&visit, &req),
        held,
        given,
    };
    html(&visit, StatusCode::OK, page.render())
}

async fn grant_row(market: &Market, actor: &Actor, tr: &Tr, g: Grant) -> GrantRow {
    // The version a download gets: the grant's own, else the newest.
    let version = match g.policy.version {
        Some(v) => Some(v),
        None => catalog::get(market, Some(actor), g.dataset)
            .await
            .ok()
            .and_then(|d| d.latest_version),
    };
    GrantRow {
        id: g.id,
        dataset: g.dataset,
        version,
        status: tr.t(&format!("grant-{}", g.status)),
        downloads: tr.t1("grant-downloads-left", "count", g.downloads_remaining)
            + &format!(" / {}", g.policy.max_downloads),
        ends: tr.datetime(&g.policy.not_after),
        active: g.status == grants::GrantStatus::Active,
    }
}

async fn revoke(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<ReasonForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let input = ReasonInput {
        reason: form.reason,
    };
    done(
        &visit,
        &req,
        grants::revoke(&market, &actor, *id, input).await,
        "/my/grants",
    )
}

/// A download, as a form post (so another site cannot spend a grant's
/// downloads with a link): the one delivery path, the payload as an
/// attachment.
async fn download(
    market: web::Data<Market>,
    req: HttpRequest,
    path: web::Path<(Uuid, i32)>,
    form: web::Form<CsrfOnly>,
) -> HttpResponse {
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let (id, n) = path.into_inner();
    let bearer = grants::delivery::Bearer::Account(actor);
    match grants::delivery::open(&market, bearer, id, n, None, |_| false).await {
        Ok(grants::delivery::Delivery::Payload(recorded)) => {
            crate::gateway::routes::catalog::stream_content(recorded)
        }
        Ok(grants::delivery::Delivery::Unchanged { .. }) => HttpResponse::NotModified().finish(),
        Err(e) => error_page(&visit, &req, &e),
    }
}

/// A draft's fields changed, as the form sends them all; the service
/// checks each one and refuses what a listing past its draft may not change.
async fn edit_listing(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<Uuid>,
    form: web::Form<NewListingForm>,
) -> HttpResponse {
    let form = form.into_inner();
    let (visit, actor) = or_answer!(posting(&req, &market, &form.csrf).await);
    let Some(amount) = parse_price(&form.price) else {
        let refusal = Error::invalid("price", "must be an amount such as 99.00");
        return error_page(&visit, &req, &refusal);
    };
    let Some(classification) = Classification::parse(form.classification.trim()) else {
        let refusal = Error::invalid("classification", "must be general, important or core");
        return error_page(&visit, &req, &refusal);
    };
    let patch = crate::catalog::DatasetPatch {
        title: Some(form.title),
        description: Some(form.description),
        tags: Some(tags_of(&form.tags)),
        classification: Some(classification),
        personal_data: Some(form.personal_data.is_some()),
        license: Some(form.license),
        price: Some(Price {
            amount,
            currency: currency_of(&form.currency),
        }),
        ..Default::default()
    };
    let answer = catalog::update(&market, &actor, *id, patch).await;
    done(&visit, &req, answer, &format!("/catalog/{id}"))
}

/// The form's currency if it is a code, else the yuan the forms show.
fn currency_of(text: &str) -> String {
    if text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()) {
        text.to_owned()
    } else {
        "CNY".to_owned()
    }
}

/// Tags as people type them: separated by commas (either width) or spaces.
fn tags_of(text: &str) -> Vec<String> {
    text.split([',', '，', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}
