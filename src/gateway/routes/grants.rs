//! Access requests, grants and data tokens.

use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;
use uuid::Uuid;

use crate::gateway::address::client_address;
use crate::gateway::auth::Caller;
use crate::gateway::extract::OptionalJson;
use crate::gateway::page_size;
use crate::gateway::problem::{ApiResult, Problem};
use crate::gateway::respond::{changed, created};
use crate::grants::{
    self, AccessRequest, ApproveInput, DataToken, DataTokenInput, Grant, GrantPage, GrantRole,
    NewRequest, ReasonInput, RequestPage, RequestReviewInput, RequestRole, RequestState,
};
use crate::market::Market;

/// Ask for licensed access to a listed dataset (consumers).
#[utoipa::path(tag = "grants", request_body = NewRequest, security(("bearer" = [])), responses(
    (status = 201, body = AccessRequest, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs consumer; unverified-participant: important or personal data for a consumer no regulator has verified; frozen", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no listed dataset with this id", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "already-exists: an open request for the same dataset", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed (including a legal_basis weaker than the data needs), purpose-required (personal data)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/access-requests")]
pub async fn create_request(
    market: web::Data<Market>,
    caller: Caller,
    body: web::Json<NewRequest>,
) -> ApiResult<HttpResponse> {
    let recorded = grants::create_request(&market, &caller.0, body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/access-requests/{}", recorded.value.id),
        recorded,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RequestListParams {
    /// `outgoing` (default): requests you made; `incoming`: requests you may
    /// decide (for regulators and auditors, all).
    pub role: Option<RequestRole>,
    pub state: Option<RequestState>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Access requests, newest first.
#[utoipa::path(tag = "grants", params(RequestListParams), security(("bearer" = [])), responses(
    (status = 200, body = RequestPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/access-requests")]
pub async fn list_requests(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<RequestListParams>,
) -> ApiResult<web::Json<RequestPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    let role = p.role.unwrap_or(RequestRole::Outgoing);
    Ok(web::Json(
        grants::list_requests(&market, &caller.0, role, p.state, limit, p.cursor).await?,
    ))
}

/// One access request (its consumer, whoever may decide it, oversight). A
/// pending request past its time is expired on the way.
#[utoipa::path(tag = "grants", security(("bearer" = [])), responses(
    (status = 200, body = AccessRequest),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/access-requests/{id}")]
pub async fn get_request(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(changed(grants::get_request(&market, &caller.0, *id).await?))
}

/// Approve a pending request (the holding or operation right holder). It
/// becomes a grant, or goes to a regulator when the law requires review.
#[utoipa::path(tag = "grants", request_body(content = Option<ApproveInput>), security(("bearer" = [])), responses(
    (status = 200, body = AccessRequest, headers(("Audit-Index" = String, description = "audit log indexes: the approval and the grant"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted: not the holder or operator of the dataset", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state (with current_state)", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: the policy may only narrow the request", body = Problem, content_type = "application/problem+json"),
))]
#[post("/access-requests/{id}/approve")]
pub async fn approve(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: OptionalJson<ApproveInput>,
) -> ApiResult<HttpResponse> {
    let input = body.0.unwrap_or_default();
    Ok(changed(
        grants::approve(&market, &caller.0, *id, input).await?,
    ))
}

/// Reject a pending request (the holding or operation right holder).
#[utoipa::path(tag = "grants", request_body = ReasonInput, security(("bearer" = [])), responses(
    (status = 200, body = AccessRequest, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/access-requests/{id}/reject")]
pub async fn reject(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<ReasonInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        grants::reject(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

/// Withdraw your own pending request.
#[utoipa::path(tag = "grants", security(("bearer" = [])), responses(
    (status = 200, body = AccessRequest, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted: not the requester", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state", body = Problem, content_type = "application/problem+json"),
))]
#[post("/access-requests/{id}/withdraw")]
pub async fn withdraw(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(changed(grants::withdraw(&market, &caller.0, *id).await?))
}

/// A regulator's decision on a request under review (a cross-border one
/// whose legal basis is not an exemption). Approval records the
/// assessment's reference and expiry, and the grant ends no later.
#[utoipa::path(tag = "grants", request_body = RequestReviewInput, security(("bearer" = [])), responses(
    (status = 200, body = AccessRequest, headers(("Audit-Index" = String, description = "audit log indexes: the review and the grant"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator; outside-jurisdiction: not in your regions or sectors", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: not under review", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: a rejection needs a reason and takes no assessment; an approval needs assessment_reference and an assessment_expires_at in the future", body = Problem, content_type = "application/problem+json"),
))]
#[post("/access-requests/{id}/review")]
pub async fn review(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<RequestReviewInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        grants::review(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GrantListParams {
    /// `licensee` (default): grants you hold; `licensor`: grants you gave or
    /// administer (for regulators and auditors, all).
    pub role: Option<GrantRole>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Grants, newest first.
#[utoipa::path(tag = "grants", params(GrantListParams), security(("bearer" = [])), responses(
    (status = 200, body = GrantPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants")]
pub async fn list_grants(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<GrantListParams>,
) -> ApiResult<web::Json<GrantPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    let role = p.role.unwrap_or(GrantRole::Licensee);
    Ok(web::Json(
        grants::list_grants(&market, &caller.0, role, limit, p.cursor).await?,
    ))
}

/// One grant (its parties, the dataset's holder or operator, oversight).
#[utoipa::path(tag = "grants", security(("bearer" = [])), responses(
    (status = 200, body = Grant),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants/{id}")]
pub async fn get_grant(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Grant>> {
    Ok(web::Json(grants::get_grant(&market, &caller.0, *id).await?))
}

/// The grant's policy as an ODRL 2.2 JSON-LD Agreement.
#[utoipa::path(tag = "grants", security(("bearer" = [])), responses(
    (status = 200, description = "ODRL 2.2 Agreement (JSON-LD)", body = Object, content_type = "application/ld+json"),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/grants/{id}/policy")]
pub async fn policy(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let document = grants::odrl_policy(&market, &caller.0, *id).await?;
    Ok(HttpResponse::Ok()
        .content_type("application/ld+json")
        .json(document))
}

/// Revoke a grant at once, including data tokens already issued (licensor,
/// the dataset's holder or operator, or a regulator).
#[utoipa::path(tag = "grants", request_body = ReasonInput, security(("bearer" = [])), responses(
    (status = 200, body = Grant, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: already revoked", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/grants/{id}/revoke")]
pub async fn revoke(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<ReasonInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        grants::revoke(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

/// A short-lived data token for a pipeline (the licensee): accepted only by
/// the content endpoint, for this grant, refused once the grant is revoked.
#[utoipa::path(tag = "grants", request_body(content = Option<DataTokenInput>), security(("bearer" = [])), responses(
    (status = 201, body = DataToken, headers(("Audit-Index" = String, description = "audit log index of the issue"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted (not the licensee), grant-revoked, grant-expired, grant-exhausted, grant-not-yet-valid", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: no such version under this grant", body = Problem, content_type = "application/problem+json"),
))]
#[post("/grants/{id}/tokens")]
pub async fn data_token(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    req: HttpRequest,
    body: OptionalJson<DataTokenInput>,
) -> ApiResult<HttpResponse> {
    let input = body.0.unwrap_or_default();
    let address = client_address(&market, &req);
    let recorded = grants::issue_data_token(&market, &caller.0, *id, input, address).await?;
    Ok(created(format!("/api/v1/grants/{id}"), recorded))
}
