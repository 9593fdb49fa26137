//! Liveness, readiness, keys, problem descriptions and the API document.

use actix_web::{HttpRequest, HttpResponse, get, web};
use serde::Serialize;

use crate::error::Code;
use crate::gateway::metrics::Metrics;
use crate::gateway::problem::{ApiError, ApiResult, Problem, status_of, type_uri};
use crate::gateway::routes_table::RouteTable;
use crate::market::Market;

#[derive(Serialize, utoipa::ToSchema)]
pub struct Health {
    /// `ok`
    pub status: &'static str,
}

/// Liveness: the process answers.
#[utoipa::path(tag = "system", responses((status = 200, body = Health)))]
#[get("/health")]
pub async fn health() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: the database answers.
#[utoipa::path(tag = "system", responses(
    (status = 200, body = Health),
    (status = 503, description = "unavailable: the database does not answer", body = Problem, content_type = "application/problem+json"),
))]
#[get("/ready")]
pub async fn ready(market: web::Data<Market>) -> ApiResult<web::Json<Health>> {
    market.db.ping().await?;
    Ok(web::Json(Health { status: "ok" }))
}

/// The platform's public keys (RFC 7517 JWK Set, Ed25519), newest first:
/// they verify access and data tokens, rights certificates and audit tree
/// heads.
#[utoipa::path(tag = "system", responses((status = 200, description = "JWK Set", body = Object)))]
#[get("/.well-known/jwks.json")]
pub async fn jwks(market: web::Data<Market>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "public, max-age=300"))
        .json(market.keys.jwks())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProblemType {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
}

/// What a problem `type` means.
#[utoipa::path(tag = "system",
    params(("slug" = String, Path, description = "the last segment of a problem type")),
    responses(
        (status = 200, body = ProblemType),
        (status = 404, description = "not-found: no such problem type", body = Problem, content_type = "application/problem+json"),
    ))]
#[get("/problems/{slug}")]
pub async fn problem_type(slug: web::Path<String>) -> ApiResult<web::Json<ProblemType>> {
    let code = Code::from_slug(&slug)
        .ok_or_else(|| ApiError::new(Code::NotFound, "no such problem type"))?;
    Ok(web::Json(ProblemType {
        problem_type: type_uri(code),
        title: code.title().to_owned(),
        status: status_of(code).as_u16(),
    }))
}

/// The serialised OpenAPI document, made once at start.
pub struct OpenApiJson(String);

impl OpenApiJson {
    pub fn new(api: &utoipa::openapi::OpenApi) -> Self {
        OpenApiJson(api.to_json().unwrap_or_else(|_| "{}".to_owned()))
    }
}

/// This document (OpenAPI 3.1).
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "system",
    responses((status = 200, description = "the OpenAPI document", body = Object)))]
pub async fn openapi_json(doc: web::Data<OpenApiJson>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(doc.0.clone())
}

/// Everything no route takes: 405 with `Allow` for a known path, 404 for
/// an unknown one; a problem document either way.
pub async fn unrouted(req: HttpRequest, table: web::Data<RouteTable>) -> ApiResult<HttpResponse> {
    let Some(methods) = table.methods(req.path()) else {
        return Err(ApiError::new(
            Code::NotFound,
            format!("no resource at {}", req.path()),
        ));
    };
    let allow = methods.join(", ");
    let error = ApiError(
        crate::error::Error::refused(
            Code::MethodNotAllowed,
            format!("{} takes {allow}, not {}", req.path(), req.method()),
        )
        .with("allow", allow.clone()),
    );
    let mut response = actix_web::ResponseError::error_response(&error);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allow) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    Ok(response)
}

/// Prometheus metrics of this instance (OpenMetrics text).
#[utoipa::path(tag = "system", responses(
    (status = 200, description = "OpenMetrics text exposition", body = String, content_type = "application/openmetrics-text"),
    (status = 503, description = "unavailable: the database does not answer", body = Problem, content_type = "application/problem+json"),
))]
#[get("/metrics")]
pub async fn metrics(
    market: web::Data<Market>,
    metrics: web::Data<Metrics>,
) -> ApiResult<HttpResponse> {
    let audit_size = crate::audit::size(&market.db).await?;
    let text = metrics.render(
        market.db.pool_state(),
        market.settings.database.pool_size,
        audit_size as i64,
    );
    Ok(HttpResponse::Ok()
        .content_type("application/openmetrics-text; version=1.0.0; charset=utf-8")
        .body(text))
}

/// The Swagger UI over this document (HTML and its assets).
#[utoipa::path(get, path = "/docs/{file}", tag = "system",
    params(("file" = String, Path, description = "empty for the UI, or one of its assets")),
    responses(
        (status = 200, description = "the UI page or asset", content_type = "text/html", body = String),
        (status = 404, description = "no such asset"),
    ))]
#[allow(dead_code)]
fn swagger_ui_document() {}
