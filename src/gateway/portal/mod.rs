//! The portal: server-rendered pages for people, on the same services and
//! rules as the API (a page calls the service functions a handler calls,
//! and knows no SQL). Templates are checked when the binary is compiled
//! (askama); every string comes from the message catalogs ([`i18n`]); the
//! stylesheet is served from the binary. No script is needed to use it.

/// A handler's early answer: when a step fails, the page it gives instead.
macro_rules! or_answer {
    ($step:expr) => {
        match $step {
            Ok(value) => value,
            Err(answer) => return *answer,
        }
    };
}

pub mod i18n;
mod lineage;
mod oversight;
pub mod session;
mod supervise;
mod trade;
mod work;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use uuid::Uuid;

use self::i18n::{Locale, Tr};
use self::session::{SESSION, Visit};
use crate::accounts::Credentials;
use crate::catalog::{self, Dataset, SearchOrder, SearchQuery, Version};
use crate::domain::{Classification, Role};
use crate::error::{Code, Error};
use crate::market::Market;

/// The portal's routes, beside the API's.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(catalog_page))
        .route("/catalog/{id}", web::get().to(dataset_page))
        .route("/login", web::get().to(login_page))
        .route("/login", web::post().to(login))
        .route("/logout", web::post().to(logout))
        .route("/lang/{tag}", web::get().to(switch_language))
        .route("/static/portal.css", web::get().to(stylesheet))
        .route("/static/portal.js", web::get().to(script));
    work::configure(cfg);
    trade::configure(cfg);
    // Before oversight's `/audit/{index}`, which would take `/audit/checkpoints`.
    supervise::configure(cfg);
    oversight::configure(cfg);
}

/// What the header of every page shows.
pub struct Nav {
    pub account: Option<String>,
    pub csrf: String,
    /// This page's path and query, percent-encoded, for the language links.
    pub back: String,
    /// The screens of the visitor's roles: link and label.
    pub links: Vec<(&'static str, String)>,
}

impl Nav {
    fn of(visit: &Visit, req: &HttpRequest) -> Nav {
        let here = match req.query_string() {
            "" => req.path().to_owned(),
            q => format!("{}?{q}", req.path()),
        };
        let tr = visit.tr;
        let mut links = Vec::new();
        if let Some(actor) = &visit.actor {
            let has = |role| actor.has(role);
            if has(Role::Provider) {
                links.push(("/my/listings", tr.t("nav-my-listings")));
            }
            if has(Role::Provider) || has(Role::Consumer) {
                links.push(("/my/requests", tr.t("nav-my-requests")));
                links.push(("/my/grants", tr.t("nav-my-grants")));
                links.push(("/my/orders", tr.t("nav-my-orders")));
                links.push(("/my/wallet", tr.t("nav-my-wallet")));
            }
            if has(Role::Regulator) {
                links.push(("/review", tr.t("nav-review")));
                links.push(("/supervision/alerts", tr.t("nav-alerts")));
                links.push(("/supervision/freezes", tr.t("nav-freezes")));
            }
            if has(Role::Auditor) || has(Role::Regulator) {
                links.push(("/supervision/statistics", tr.t("nav-statistics")));
                links.push(("/audit", tr.t("nav-audit")));
            }
            links.push(("/audit/checkpoints", tr.t("nav-checkpoints")));
        }
        Nav {
            account: visit.name.clone(),
            csrf: visit.csrf.clone(),
            back: encode(&here),
            links,
        }
    }
}

/// The visitor's account, or a redirect to the sign-in page.
fn signed_in(visit: &Visit, _req: &HttpRequest) -> Result<crate::domain::Actor, Box<HttpResponse>> {
    match &visit.actor {
        Some(actor) => Ok(actor.clone()),
        None => {
            let mut response = HttpResponse::SeeOther();
            visit.cookies(&mut response);
            Err(Box::new(
                response
                    .insert_header((header::LOCATION, "/login"))
                    .finish(),
            ))
        }
    }
}

/// A visit by a signed-in account.
async fn member(
    req: &HttpRequest,
    market: &Market,
) -> Result<(Visit, crate::domain::Actor), Box<HttpResponse>> {
    let visit = Visit::of(req, market).await;
    let actor = signed_in(&visit, req)?;
    Ok((visit, actor))
}

/// A form posted by a signed-in account, with its CSRF token.
async fn posting(
    req: &HttpRequest,
    market: &Market,
    token: &str,
) -> Result<(Visit, crate::domain::Actor), Box<HttpResponse>> {
    let visit = Visit::of(req, market).await;
    if !visit.csrf_ok(token) {
        return Err(Box::new(csrf_refused(&visit, req)));
    }
    let actor = signed_in(&visit, req)?;
    Ok((visit, actor))
}

/// What a service answered, or the page that says why not.
fn served<T>(
    visit: &Visit,
    req: &HttpRequest,
    answer: Result<T, Error>,
) -> Result<T, Box<HttpResponse>> {
    answer.map_err(|e| Box::new(error_page(visit, req, &e)))
}

/// A form's change: made, back to `location`; refused, the page saying why.
fn done<T>(
    visit: &Visit,
    req: &HttpRequest,
    answer: Result<T, Error>,
    location: &str,
) -> HttpResponse {
    match answer {
        Ok(_) => acted(visit, location),
        Err(e) => error_page(visit, req, &e),
    }
}

/// A form's change made: back to the page that shows it (post, redirect,
/// get).
fn acted(visit: &Visit, location: &str) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    visit.cookies(&mut response);
    response
        .insert_header((header::LOCATION, location.to_owned()))
        .finish()
}

#[derive(Template)]
#[template(path = "portal/failed.html")]
struct FailedPage {
    tr: Tr,
    nav: Nav,
    detail: String,
}

/// A refusal as the API gives it, for what a page's script calls.
fn problem(error: Error) -> HttpResponse {
    actix_web::ResponseError::error_response(&crate::gateway::problem::ApiError(error))
}

fn classification_options(tr: &Tr) -> Vec<(String, String)> {
    [
        Classification::General,
        Classification::Important,
        Classification::Core,
    ]
    .iter()
    .map(|c| (c.to_string(), tr.t(&format!("classification-{c}"))))
    .collect()
}

/// Percent-encodes everything but the unreserved characters (RFC 3986).
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn html(visit: &Visit, status: StatusCode, page: Result<String, askama::Error>) -> HttpResponse {
    match page {
        Ok(body) => {
            let mut response = HttpResponse::build(status);
            visit.cookies(&mut response);
            response.content_type("text/html; charset=utf-8").body(body)
        }
        Err(e) => {
            tracing::error!(error = %e, "a portal template failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain; charset=utf-8")
                .body("internal error")
        }
    }
}

#[derive(Template)]
#[template(path = "portal/error.html")]
struct ErrorPage {
    tr: Tr,
    nav: Nav,
    message: String,
}

/// A refusal as a page, with the status the API would give: a sentence
/// from the catalog for "not found" (which must not say more) and for the
/// market's own failures, the service's sentence for the rest.
fn error_page(visit: &Visit, req: &HttpRequest, error: &Error) -> HttpResponse {
    let status = crate::gateway::problem::status_of(error.code());
    if status != StatusCode::NOT_FOUND && !status.is_server_error() {
        let page = FailedPage {
            tr: visit.tr,
            nav: Nav::of(visit, req),
            detail: error.to_string(),
        };
        return html(visit, status, page.render());
    }
    let key = if status == StatusCode::NOT_FOUND {
        "error-not-found"
    } else {
        "error-other"
    };
    let page = ErrorPage {
        tr: visit.tr,
        nav: Nav::of(visit, req),
        message: visit.tr.t(key),
    };
    html(visit, status, page.render())
}

fn csrf_refused(visit: &Visit, req: &HttpRequest) -> HttpResponse {
    let page = ErrorPage {
        tr: visit.tr,
        nav: Nav::of(visit, req),
        message: visit.tr.t("error-csrf"),
    };
    html(visit, StatusCode::FORBIDDEN, page.render())
}

/// One listing as the catalog shows it.
pub(super) struct Card {
    id: Uuid,
    title: String,
    description: String,
    classification: String,
    tags: Vec<String>,
    price: String,
    listed: String,
    personal: bool,
}

impl Card {
    pub(super) fn of(tr: &Tr, d: &Dataset) -> Card {
        Card {
            id: d.id,
            title: d.title.clone(),
            description: d.description.chars().take(280).collect(),
            classification: tr.t(&format!("classification-{}", d.classification)),
            tags: d.tags.clone(),
            price: tr.money(d.price.amount, &d.price.currency),
            listed: d
                .listed_at
                .as_ref()
                .map(|t| tr.datetime(t))
                .unwrap_or_default(),
            personal: d.personal_data || d.inherited_personal_data,
        }
    }
}

#[derive(Template)]
#[template(path = "portal/catalog.html")]
struct CatalogPage {
    tr: Tr,
    nav: Nav,
    q: String,
    tag: String,
    classification: String,
    classifications: Vec<(String, String)>,
    min_price: String,
    max_price: String,
    provider: String,
    sort: String,
    sorts: Vec<(String, String)>,
    cards: Vec<Card>,
    count: String,
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CatalogParams {
    q: Option<String>,
    tag: Option<String>,
    classification: Option<String>,
    provider: Option<String>,
    /// In yuan, as people write prices.
    min_price: Option<String>,
    max_price: Option<String>,
    sort: Option<String>,
    cursor: Option<String>,
}

/// Everyone: the catalog, searched in Chinese or English and filtered.
async fn catalog_page(
    market: web::Data<Market>,
    req: HttpRequest,
    params: web::Query<CatalogParams>,
) -> HttpResponse {
    let visit = Visit::of(&req, &market).await;
    let p = params.into_inner();
    let nonempty = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    let (q, tag) = (nonempty(p.q), nonempty(p.tag));
    let classification = nonempty(p.classification).and_then(|c| Classification::parse(&c));
    let provider = nonempty(p.provider).and_then(|p| Uuid::parse_str(&p).ok());
    let (min_text, max_text) = (nonempty(p.min_price), nonempty(p.max_price));
    let (min_price, max_price) = (
        min_text.as_deref().and_then(work::parse_price),
        max_text.as_deref().and_then(work::parse_price),
    );
    let sort = nonempty(p.sort).and_then(|s| SearchOrder::parse(&s));
    let query = SearchQuery {
        q: q.clone(),
        tag: tag.clone(),
        classification,
        provider,
        // The page's prices are in yuan: bounds and price orders keep to
        // listings priced in yuan.
        currency: (min_price.is_some()
            || max_price.is_some()
            || sort.is_some_and(|s| s != SearchOrder::Newest))
        .then(|| "CNY".to_owned()),
        min_price,
        max_price,
        sort,
        limit: Some(20),
        cursor: p.cursor,
    };
    let found = or_answer!(served(&visit, &req, catalog::search(&market, query).await));
    let tr = visit.tr;
    let next = found.next_cursor.as_ref().map(|cursor| {
        let mut link = format!("/?cursor={}", encode(cursor));
        for (name, value) in [("q", &q), ("tag", &tag)] {
            if let Some(value) = value {
                link.push_str(&format!("&{name}={}", encode(value)));
            }
        }
        if let Some(c) = classification {
            link.push_str(&format!("&classification={c}"));
        }
        for (name, value) in [("min_price", &min_text), ("max_price", &max_text)] {
            if let Some(value) = value {
                link.push_str(&format!("&{name}={}", encode(value)));
            }
        }
        if let Some(provider) = provider {
            link.push_str(&format!("&provider={provider}"));
        }
        if let Some(sort) = sort {
            link.push_str(&format!("&sort={sort}"));
        }
        link
    });
    let page = CatalogPage {
        tr,
        nav: Nav::of(&visit, &req),
        q: q.unwrap_or_default(),
        tag: tag.unwrap_or_default(),
        classification: classification.map(|c| c.to_string()).unwrap_or_default(),
        min_price: min_text.unwrap_or_default(),
        max_price: max_text.unwrap_or_default(),
        provider: provider.map(|p| p.to_string()).unwrap_or_default(),
        sort: sort.unwrap_or(SearchOrder::Newest).to_string(),
        sorts: SearchOrder::ALL
            .iter()
            .map(|s| (s.to_string(), tr.t(&format!("sort-{s}"))))
            .collect(),
        classifications: classification_options(&tr),
        count: tr.t1("results-count", "count", found.items.len()),
        cards: found.items.iter().map(|d| Card::of(&tr, d)).collect(),
        next,
    };
    html(&visit, StatusCode::OK, page.render())
}

/// One version as the dataset page lists it.
struct VersionRow {
    number: i32,
    size: String,
    sha256: String,
    created: String,
    status: String,
}

/// One right as the dataset page lists it.
struct RightRow {
    kind: String,
    holder: String,
    since: String,
    certificate: String,
    /// The certificate's standing now (current, superseded, expired).
    standing: String,
}

#[derive(Template)]
#[template(path = "portal/dataset.html")]
struct DatasetPage {
    tr: Tr,
    nav: Nav,
    card: Card,
    description: String,
    licence: String,
    sector: String,
    status: String,
    versions: Vec<VersionRow>,
    rights: Vec<RightRow>,
    /// The visitor decides on it: it may upload and publish.
    manage: bool,
    publishable: bool,
    /// Its draft may be edited: the fields as they are.
    editable: bool,
    tags_text: String,
    price_text: String,
    currency: String,
    classification_value: String,
    classifications: Vec<(String, String)>,
    /// The visitor may ask for access, or buy.
    may_request: bool,
    offers: Vec<trade::OfferRow>,
    lineage: lineage::Drawing,
    provider: Uuid,
    signed_in: bool,
}

/// Everyone, for a listed dataset; its holders, licensees and oversight
/// for the rest (the same rule as the API: anyone else gets 404).
async fn dataset_page(
    market: web::Data<Market>,
    req: HttpRequest,
    id: web::Path<String>,
) -> HttpResponse {
    let visit = Visit::of(&req, &market).await;
    let Ok(id) = Uuid::parse_str(&id) else {
        return error_page(&visit, &req, &Error::not_found("dataset"));
    };
    let actor = visit.actor.as_ref();
    let dataset = or_answer!(served(&visit, &req, catalog::get(&market, actor, id).await));
    let versions: Vec<Version> = catalog::versions(&market, actor, id)
        .await
        .unwrap_or_default();
    let rights = crate::rights::of_dataset(&market, actor, id)
        .await
        .map(|r| r.current)
        .unwrap_or_default();
    let holders: Vec<Uuid> = rights.iter().map(|r| r.holder).collect();
    let names = crate::accounts::names(&market, holders)
        .await
        .unwrap_or_default();
    let tr = visit.tr;
    let mut standings = Vec::with_capacity(rights.len());
    for r in &rights {
        let standing = match r.certificate {
            Some(c) => crate::rights::certificate::status(&market, actor, c)
                .await
                .map(|s| tr.t(&format!("certificate-{}", s.status)))
                .unwrap_or_default(),
            None => String::new(),
        };
        standings.push(standing);
    }
    let manage = visit.actor.as_ref().is_some_and(|a| {
        rights.iter().any(|r| {
            r.holder == a.id
                && matches!(
                    r.right,
                    crate::domain::RightKind::Holding | crate::domain::RightKind::Operation
                )
        })
    });
    let may_request = !manage
        && dataset.status == crate::domain::DatasetStatus::Listed
        && visit.actor.as_ref().is_some_and(|a| a.has(Role::Consumer));
    let page = DatasetPage {
        manage,
        publishable: manage
            && dataset.latest_version.is_some()
            && matches!(
                dataset.status,
                crate::domain::DatasetStatus::Draft | crate::domain::DatasetStatus::Delisted
            ),
        editable: manage
            && matches!(
                dataset.status,
                crate::domain::DatasetStatus::Draft | crate::domain::DatasetStatus::Rejected
            ),
        tags_text: dataset.tags.join(", "),
        price_text: format!(
            "{}.{:02}",
            dataset.price.amount / 100,
            dataset.price.amount.rem_euclid(100)
        ),
        classification_value: dataset.classification.to_string(),
        currency: dataset.price.currency.clone(),
        classifications: classification_options(&tr),
        may_request,
        offers: trade::offers_of(&market, &tr, id).await,
        lineage: lineage::draw(&market, actor, &tr, id, &dataset.title).await,
        provider: dataset.provider,
        signed_in: visit.actor.is_some(),
        tr,
        nav: Nav::of(&visit, &req),
        description: dataset.description.clone(),
        licence: dataset.license.clone(),
        sector: dataset
            .sector
            .map(|s| tr.t(&format!("sector-{s}")))
            .unwrap_or_default(),
        status: tr.t(&format!("status-{}", dataset.status)),
        versions: versions
            .iter()
            .map(|v| VersionRow {
                number: v.version,
                size: tr.t1("bytes", "size", tr.number(v.size)),
                sha256: v.sha256.clone(),
                created: tr.datetime(&v.created_at),
                status: tr.t(&format!("version-{}", v.status)),
            })
            .collect(),
        rights: rights
            .iter()
            .zip(standings)
            .map(|(r, standing)| RightRow {
                standing,
                kind: tr.t(&format!("right-{}", r.right)),
                holder: names
                    .get(&r.holder)
                    .cloned()
                    .unwrap_or_else(|| r.holder.to_string()),
                since: tr.datetime(&r.since),
                certificate: r
                    .certificate
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| tr.t("certificate-none")),
            })
            .collect(),
        card: Card::of(&tr, &dataset),
    };
    html(&visit, StatusCode::OK, page.render())
}

#[derive(Template)]
#[template(path = "portal/login.html")]
struct LoginPage {
    tr: Tr,
    nav: Nav,
    name: String,
    error: Option<String>,
}

async fn login_page(market: web::Data<Market>, req: HttpRequest) -> HttpResponse {
    let visit = Visit::of(&req, &market).await;
    let page = LoginPage {
        tr: visit.tr,
        nav: Nav::of(&visit, &req),
        name: String::new(),
        error: None,
    };
    html(&visit, StatusCode::OK, page.render())
}

#[derive(Deserialize)]
pub struct LoginForm {
    name: String,
    password: String,
    #[serde(default)]
    csrf: String,
}

/// Signs in with the API's own login (throttled and audited alike) and
/// keeps the access token as the session.
async fn login(
    market: web::Data<Market>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    let mut visit = Visit::of(&req, &market).await;
    let form = form.into_inner();
    if !visit.csrf_ok(&form.csrf) {
        return csrf_refused(&visit, &req);
    }
    let address = crate::gateway::address::client_address(&market, &req);
    let credentials = Credentials {
        name: form.name.clone(),
        password: form.password,
    };
    match crate::accounts::login::issue_token(&market, credentials, address).await {
        Ok(token) => {
            visit.rotate_csrf();
            let lifetime = i64::try_from(token.expires_in).unwrap_or(i64::MAX);
            let mut response = HttpResponse::SeeOther();
            visit.cookies(&mut response);
            response
                .cookie(visit.cookie(SESSION, token.access_token, Some(lifetime)))
                .insert_header((header::LOCATION, "/"))
                .finish()
        }
        Err(e) => {
            let tr = visit.tr;
            let (status, message) = match &e {
                Error::Refused {
                    code: Code::TooManyRequests,
                    extensions,
                    ..
                } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    tr.t1(
                        "login-throttled",
                        "seconds",
                        extensions
                            .get("retry_after")
                            .and_then(|v| v.as_u64())
                            .unwrap_or(60),
                    ),
                ),
                e if e.code() == Code::AccountSuspended => {
                    (StatusCode::FORBIDDEN, tr.t("login-suspended"))
                }
                e if e.code() == Code::InvalidCredentials => {
                    (StatusCode::UNAUTHORIZED, tr.t("login-failed"))
                }
                _ => return error_page(&visit, &req, &e),
            };
            let page = LoginPage {
                tr,
                nav: Nav::of(&visit, &req),
                name: form.name,
                error: Some(message),
            };
            html(&visit, status, page.render())
        }
    }
}

/// A form that carries nothing but its CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    csrf: String,
}

/// A form that carries a reason (or a note) and its CSRF token.
#[derive(Deserialize)]
pub struct ReasonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// Ends the session (the token itself runs out at its expiry; the browser
/// forgets it now).
async fn logout(
    market: web::Data<Market>,
    req: HttpRequest,
    form: web::Form<CsrfOnly>,
) -> HttpResponse {
    let visit = Visit::of(&req, &market).await;
    if !visit.csrf_ok(&form.csrf) {
        return csrf_refused(&visit, &req);
    }
    let mut response = HttpResponse::SeeOther();
    visit.cookies(&mut response);
    response
        .cookie(visit.cookie(SESSION, String::new(), Some(0)))
        .insert_header((header::LOCATION, "/"))
        .finish()
}

#[derive(Debug, Deserialize)]
pub struct BackParams {
    back: Option<String>,
}

/// Switches the language and goes back to the page (on this site only).
async fn switch_language(
    market: web::Data<Market>,
    req: HttpRequest,
    tag: web::Path<String>,
    params: web::Query<BackParams>,
) -> HttpResponse {
    let visit = Visit::of(&req, &market).await;
    let locale = Locale::from_tag(&tag).unwrap_or(visit.tr.locale);
    let back = params
        .into_inner()
        .back
        // A path on this site: no scheme, no host, nothing a browser strips
        // or reads as a separator on its way to `//elsewhere`.
        .filter(|b| {
            b.starts_with('/')
                && !b.starts_with("//")
                && b.bytes().all(|c| c.is_ascii_graphic() && c != b'\\')
        })
        .unwrap_or_else(|| "/".to_owned());
    let mut response = HttpResponse::SeeOther();
    visit.cookies(&mut response);
    response
        .cookie(visit.cookie(session::LANG, locale.tag().to_owned(), Some(365 * 86_400)))
        .insert_header((header::LOCATION, back))
        .finish()
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../../static/portal.js"))
}

async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(include_str!("../../../static/portal.css"))
}
