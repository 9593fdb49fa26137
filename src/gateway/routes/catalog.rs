//! Listings, versions and payloads.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, ByteRangeSpec, Header, Range};
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use serde::Deserialize;
use uuid::Uuid;

use crate::audit::Recorded;
use crate::catalog::dcat;
use crate::catalog::{
    self, ByteRange, Content, Dataset, DatasetPage, DatasetPatch, DelistInput, NewDataset,
    ReviewInput, SearchOrder, SearchQuery, Version, VersionReviewInput,
};
use crate::domain::{Classification, DatasetStatus};
use crate::error::Code;
use crate::gateway::auth::{Caller, ContentCaller, MaybeCaller};
use crate::gateway::extract::OptionalJson;
use crate::gateway::metrics::Metrics;
use crate::gateway::openapi::Binary;
use crate::gateway::problem::{ApiError, ApiResult, Problem};
use crate::gateway::public_answers::PublicAnswers;
use crate::gateway::respond::{AUDIT_INDEX, changed, created, matches_if_none_match, with_etag};
use crate::grants::delivery::{self, Delivery};
use crate::market::Market;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words that must all appear (as substrings) in the title, description
    /// or tags; Chinese and English alike.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Exact tag.
    pub tag: Option<String>,
    pub classification: Option<Classification>,
    /// Provider account id.
    pub provider: Option<Uuid>,
    /// Only listings priced in this currency (ISO 4217); price bounds and
    /// orders compare amounts, so give one with them.
    #[param(pattern = "^[A-Z]{3}$")]
    pub currency: Option<String>,
    /// Lowest price, inclusive, in minor units of the listing's currency.
    #[param(minimum = 0)]
    pub min_price: Option<i64>,
    /// Highest price, inclusive, in minor units.
    #[param(minimum = 0)]
    pub max_price: Option<i64>,
    /// `newest` (default), `price_asc` or `price_desc`.
    pub sort: Option<SearchOrder>,
    /// Page size (default and maximum are configured).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Search the public catalog (listed datasets, newest first).
#[utoipa::path(tag = "catalog", params(SearchParams), security((), ("bearer" = [])), responses(
    (status = 200, body = DatasetPage, headers(("ETag" = String, description = "of the page; send it as If-None-Match to revalidate"))),
    (status = 304, description = "not modified: the If-None-Match ETag is current"),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token: a token was sent and is not valid", body = Problem, content_type = "application/problem+json"),
))]
#[get("/datasets")]
pub async fn search(
    market: web::Data<Market>,
    answers: web::Data<PublicAnswers>,
    // Public, but a token that is sent must be valid (401 otherwise).
    _caller: MaybeCaller,
    params: web::Query<SearchParams>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let query = SearchQuery {
        q: p.q,
        tag: p.tag,
        classification: p.classification,
        provider: p.provider,
        currency: p.currency,
        min_price: p.min_price,
        max_price: p.max_price,
        sort: p.sort,
        limit: p.limit,
        cursor: p.cursor,
    };
    // A page depends on the query alone, not on who asks.
    let key = format!("search?{}", req.query_string());
    let read = catalog::search(&market, query);
    answers
        .answer(&market, &req, key, read, |_: &DatasetPage| true)
        .await
}

/// Create a draft listing (providers).
#[utoipa::path(tag = "catalog", request_body = NewDataset, security(("bearer" = [])), responses(
    (status = 201, body = Dataset, headers(("Audit-Index" = String, description = "audit log indexes of the change"))),
    (status = 400, description = "malformed-body", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs provider", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/datasets")]
pub async fn create(
    market: web::Data<Market>,
    caller: Caller,
    body: web::Json<NewDataset>,
) -> ApiResult<HttpResponse> {
    let recorded = catalog::create(&market, &caller.0, body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/datasets/{}", recorded.value.id),
        recorded,
    ))
}

/// One listing: listed ones for everyone, others for their owner and oversight.
#[utoipa::path(tag = "catalog", security((), ("bearer" = [])), responses(
    (status = 200, body = Dataset, headers(("ETag" = String, description = "of the document; send it as If-None-Match to revalidate"))),
    (status = 304, description = "not modified: the If-None-Match ETag is current"),
    (status = 400, description = "invalid-parameter: not a UUID", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such dataset, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
))]
#[get("/datasets/{id}")]
pub async fn get(
    market: web::Data<Market>,
    answers: web::Data<PublicAnswers>,
    caller: MaybeCaller,
    id: web::Path<Uuid>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let read = catalog::get(&market, caller.0.as_ref(), *id);
    // A listed dataset reads the same for everyone; a draft only for some.
    let listed = |d: &Dataset| d.status == DatasetStatus::Listed;
    answers
        .answer(&market, &req, format!("dataset/{id}"), read, listed)
        .await
}

/// Edit a draft (or a rejected listing, which returns to draft).
#[utoipa::path(tag = "catalog", request_body = DatasetPatch, security(("bearer" = [])), responses(
    (status = 200, body = Dataset, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted: not the provider", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: only drafts and rejected listings can be edited", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[patch("/datasets/{id}")]
pub async fn update(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<DatasetPatch>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        catalog::update(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

/// Upload a new immutable version: the body is the payload, of any media
/// type, streamed to the object store.
#[utoipa::path(tag = "catalog", security(("bearer" = [])),
    request_body(content = Binary, description = "the payload; its Content-Type is recorded", content_type = "*/*"),
    responses(
    (status = 201, body = Version, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body: the upload was interrupted; invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted: not the holder", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large: nothing was kept", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type: Content-Type is not a media type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "validation-failed: the payload is empty", body = Problem, content_type = "application/problem+json"),
))]
#[post("/datasets/{id}/versions")]
pub async fn add_version(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    req: HttpRequest,
    body: web::Payload,
) -> ApiResult<HttpResponse> {
    let media_type = match req.headers().get(header::CONTENT_TYPE) {
        None => "application/octet-stream".to_owned(),
        Some(value) => String::from_utf8_lossy(value.as_bytes()).into_owned(),
    };
    let length = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let recorded = catalog::add_version(&market, &caller.0, *id, media_type, length, body).await?;
    let location = format!("/api/v1/datasets/{id}/versions/{}", recorded.value.version);
    Ok(created(location, recorded))
}

/// A listing's versions, oldest first.
#[utoipa::path(tag = "catalog", security((), ("bearer" = [])), responses(
    (status = 200, body = Vec<Version>),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/datasets/{id}/versions")]
pub async fn versions(
    market: web::Data<Market>,
    caller: MaybeCaller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<Version>>> {
    Ok(web::Json(
        catalog::versions(&market, caller.0.as_ref(), *id).await?,
    ))
}

/// Download a version's payload (whole, or one byte range): a holder of
/// the holding or processing right freely; a licensee under an active grant
/// whose policy holds now, each download counted. Every delivery is
/// recorded in the audit log. Data goes to the receiving account's
/// registered territory, which the grant must name. Accepts an account
/// token or a data token. Always sent as an attachment.
#[utoipa::path(tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("n" = i32, Path, description = "version number")),
    responses(
    (status = 200, description = "the payload, in the media type it was uploaded with, as an attachment; ETag is its SHA-256; Audit-Index names the delivery's entry", content_type = "*/*", body = Binary,
        headers(("Audit-Index" = String, description = "audit log index of the delivery"))),
    (status = 206, description = "the requested range (counted as one download)", content_type = "*/*", body = Binary),
    (status = 304, description = "not modified: If-None-Match names this version's SHA-256; access was checked, nothing was delivered, counted or recorded"),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "no-grant, grant-not-yet-valid, grant-expired, grant-revoked, grant-exhausted, outside-territory (the account's registered territory is not the grant's), version-under-review (each refusal is recorded in the audit log); account-suspended", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 416, description = "range-not-satisfiable", body = Problem, content_type = "application/problem+json"),
))]
#[get("/datasets/{id}/versions/{n}/content")]
pub async fn download(
    market: web::Data<Market>,
    metrics: web::Data<Metrics>,
    caller: ContentCaller,
    path: web::Path<(Uuid, i32)>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let (id, n) = path.into_inner();
    if req
        .query_string()
        .split('&')
        .any(|pair| pair == "territory" || pair.starts_with("territory="))
    {
        return Err(ApiError::new(
            Code::InvalidParameter,
            "territory is not a parameter: data goes to the receiving account's registered territory",
        ));
    }
    let cached = |sha256: &str| matches_if_none_match(&req, &format!("\"{sha256}\""));
    let outcome = delivery::open(&market, caller.0, id, n, requested_range(&req), cached).await;
    match &outcome {
        Ok(Delivery::Payload(recorded)) if !recorded.audit_indexes.is_empty() => {
            metrics.delivered(recorded.value.range.end - recorded.value.range.start);
        }
        Err(e) if e.code().is_delivery_refusal() => metrics.refused(),
        _ => {}
    }
    Ok(match outcome? {
        Delivery::Payload(recorded) => stream_content(recorded),
        Delivery::Unchanged { sha256 } => HttpResponse::NotModified()
            .insert_header((header::ETAG, format!("\"{sha256}\"")))
            .finish(),
    })
}

/// The single byte range a request asks for, if any. Several ranges or an
/// unparsable header are ignored and the whole payload is sent, as RFC 9110
/// allows.
pub(crate) fn requested_range(req: &HttpRequest) -> Option<ByteRange> {
    match Range::parse(req).ok()? {
        Range::Bytes(specs) if specs.len() == 1 => Some(match specs[0] {
            ByteRangeSpec::FromTo(a, b) => ByteRange::FromTo(a, b),
            ByteRangeSpec::From(a) => ByteRange::From(a),
            ByteRangeSpec::Last(n) => ByteRange::Last(n),
        }),
        _ => None,
    }
}

pub(crate) fn stream_content(recorded: Recorded<Content>) -> HttpResponse {
    let payload = recorded.value;
    let status = if payload.partial {
        StatusCode::PARTIAL_CONTENT
    } else {
        StatusCode::OK
    };
    let mut response = HttpResponse::build(status);
    if !recorded.audit_indexes.is_empty() {
        let indexes: Vec<String> = recorded.audit_indexes.iter().map(u64::to_string).collect();
        response.insert_header((AUDIT_INDEX, indexes.join(", ")));
    }
    // Payloads are other people's bytes: a browser must save them, never
    // render them (an uploaded text/html or image/svg+xml would otherwise
    // run as this origin's page).
    let disposition = format!(
        "attachment; filename=\"{}-v{}\"",
        payload.dataset, payload.version.version
    );
    response
        .insert_header((header::CONTENT_DISPOSITION, disposition))
        .insert_header((header::CONTENT_TYPE, payload.version.media_type.clone()))
        .insert_header((header::ETAG, format!("\"{}\"", payload.version.sha256)))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header(("Repr-Digest", repr_digest(&payload.version.sha256)))
        .no_chunking(payload.range.end - payload.range.start);
    if payload.partial {
        response.insert_header((
            header::CONTENT_RANGE,
            format!(
                "bytes {}-{}/{}",
                payload.range.start,
                payload.range.end - 1,
                payload.version.size
            ),
        ));
    }
    response.streaming(payload.body)
}

/// RFC 9530 `Repr-Digest` of the whole payload, from its hex SHA-256.
fn repr_digest(sha256_hex: &str) -> String {
    use base64::Engine;
    let bytes = hex::decode(sha256_hex).unwrap_or_default();
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// Submit a listing: general data is listed, important data goes to review.
#[utoipa::path(tag = "catalog", security(("bearer" = [])), responses(
    (status = 200, body = Dataset, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted; unverified-participant: important data from a provider no regulator has verified", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "core-data-not-tradable, no-version", body = Problem, content_type = "application/problem+json"),
))]
#[post("/datasets/{id}/publish")]
pub async fn publish(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(changed(catalog::publish(&market, &caller.0, *id).await?))
}

/// A regulator's decision on important data waiting for review.
#[utoipa::path(tag = "catalog", request_body = ReviewInput, security(("bearer" = [])), responses(
    (status = 200, body = Dataset, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator; outside-jurisdiction: not in your regions or sectors", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: not pending review", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: a rejection needs a reason", body = Problem, content_type = "application/problem+json"),
))]
#[post("/datasets/{id}/review")]
pub async fn review(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<ReviewInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        catalog::review(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

/// Take a listing off the market (its owner or a regulator).
#[utoipa::path(tag = "catalog", request_body(content = Option<DelistInput>), security(("bearer" = [])), responses(
    (status = 200, body = Dataset, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: not listed or pending review", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/datasets/{id}/delist")]
pub async fn delist(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: OptionalJson<DelistInput>,
) -> ApiResult<HttpResponse> {
    let input = body.0.unwrap_or_default();
    Ok(changed(
        catalog::delist(&market, &caller.0, *id, input).await?,
    ))
}

/// A regulator's decision on a version waiting for review (one added to
/// important data after its listing was reviewed).
#[utoipa::path(tag = "catalog", request_body = VersionReviewInput, security(("bearer" = [])),
    params(("id" = Uuid, Path), ("n" = i32, Path, description = "version number")),
    responses(
    (status = 200, body = Version, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator; outside-jurisdiction: not in your regions or sectors", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: the version is not pending review", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: a rejection needs a reason", body = Problem, content_type = "application/problem+json"),
))]
#[post("/datasets/{id}/versions/{n}/review")]
pub async fn review_version(
    market: web::Data<Market>,
    caller: Caller,
    path: web::Path<(Uuid, i32)>,
    body: web::Json<VersionReviewInput>,
) -> ApiResult<HttpResponse> {
    let (id, n) = path.into_inner();
    Ok(changed(
        catalog::review_version(&market, &caller.0, id, n, body.into_inner()).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogParams {
    /// `jsonld` or `turtle`; overrides `Accept`.
    pub format: Option<String>,
}

/// The representation a catalog request asks for: `format=` if given, else
/// the most preferred media range of `Accept` that one satisfies (JSON-LD
/// without `Accept`).
fn negotiate_rdf(format: Option<&str>, req: &HttpRequest) -> ApiResult<dcat::Format> {
    let not_acceptable = |what: &str| {
        ApiError::new(
            Code::NotAcceptable,
            format!("{what}: the catalog comes as application/ld+json and text/turtle"),
        )
    };
    if let Some(format) = format {
        return match format {
            "jsonld" | "json-ld" => Ok(dcat::Format::JsonLd),
            "turtle" | "ttl" => Ok(dcat::Format::Turtle),
            other => Err(not_acceptable(&format!("format={other}"))),
        };
    }
    let Some(accept) = req.headers().get(header::ACCEPT) else {
        return Ok(dcat::Format::JsonLd);
    };
    let accept = accept.to_str().unwrap_or_default();
    let mut best: Option<(f32, dcat::Format)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, q)| q.trim().parse::<f32>().ok())
            .unwrap_or(0.0);
        let format = match media.as_str() {
            "application/ld+json" | "application/json" | "application/*" | "*/*" => {
                dcat::Format::JsonLd
            }
            "text/turtle" | "text/*" => dcat::Format::Turtle,
            _ => continue,
        };
        if q > 0.0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, format));
        }
    }
    best.map(|(_, format)| format)
        .ok_or_else(|| not_acceptable(&format!("Accept: {accept}")))
}

/// The listed catalog as DCAT-AP 3 (datasets, a distribution per available
/// version with its SHA-256, publishers, EU data themes, licences, and each
/// active offer as an ODRL Offer), as JSON-LD (the default) or Turtle; the
/// whole catalog in one document. Public.
#[utoipa::path(tag = "catalog", params(CatalogParams), security((), ("bearer" = [])), responses(
    (status = 200, description = "DCAT-AP 3 (https://semiceu.github.io/DCAT-AP/releases/3.0.0/)",
        content((Object = "application/ld+json"), (String = "text/turtle")),
        headers(
            ("ETag" = String, description = "of the document; send it as If-None-Match to revalidate"),
            ("Cache-Control" = String, description = "public for a minute (private when server.public_url is not set and the links come from the request's Host)"),
        )),
    (status = 304, description = "not modified: the If-None-Match ETag is current"),
    (status = 400, description = "invalid-parameter: the Host header names no host", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token: a token was sent and is not valid", body = Problem, content_type = "application/problem+json"),
    (status = 406, description = "not-acceptable: unknown format or Accept", body = Problem, content_type = "application/problem+json"),
))]
#[get("/catalog")]
pub async fn dcat_catalog(
    market: web::Data<Market>,
    _caller: MaybeCaller,
    params: web::Query<CatalogParams>,
    req: HttpRequest,
) -> ApiResult<HttpResponse> {
    let format = negotiate_rdf(params.format.as_deref(), &req)?;
    let base = crate::gateway::public_base(&market, &req)?;
    let body = crate::trading::catalog::dcat_catalog(&market, &base.url, format).await?;
    let mut response = with_etag(&req, format.media_type(), body);
    let headers = response.headers_mut();
    // A document whose links came from the request's Host is that
    // request's, not one for a shared cache to hand to others.
    headers.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static(if base.from_request {
            "private, max-age=60"
        } else {
            "public, max-age=60"
        }),
    );
    headers.insert(header::VARY, header::HeaderValue::from_static("Accept"));
    Ok(response)
}
