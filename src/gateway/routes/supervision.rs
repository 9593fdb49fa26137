//! Supervision: freezes, incidents, complaints, and each account's inbox.

use actix_web::{HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::access::freezes::Freeze;
use crate::catalog::{self, DatasetPage};
use crate::domain::jurisdiction::Sector;
use crate::gateway::auth::Caller;
use crate::gateway::page_size;
use crate::gateway::problem::{ApiResult, Problem};
use crate::gateway::respond::{changed, created};
use crate::grants::{self, RequestPage};
use crate::market::Market;
use crate::supervision::alerts::{self, Alert, AlertPage, AlertState, ResolveInput};
use crate::supervision::complaints::{
    self, Complaint, ComplaintInput, ComplaintPage, ComplaintState, DecisionInput,
};
use crate::supervision::compliance::{self, ComplianceRecord};
use crate::supervision::statistics::{self, Statistics};
use crate::supervision::{
    self, FreezeInput, InboxMessage, InboxPage, Incident, IncidentInput, LiftInput,
};

/// Freeze a dataset, an account, a classification or a destination
/// (regulators): from the next request on, on every instance, deliveries,
/// new grants and new orders under it are refused with `403 frozen`.
#[utoipa::path(tag = "supervision", request_body = FreezeInput, security(("bearer" = [])), responses(
    (status = 201, body = Freeze, headers(("Audit-Index" = String, description = "audit log index of the freeze"))),
    (status = 400, description = "malformed-body", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator; outside-jurisdiction: not in your regions or sectors", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "already-exists: the target is frozen already", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: no such target", body = Problem, content_type = "application/problem+json"),
))]
#[post("/supervision/freezes")]
pub async fn freeze(
    market: web::Data<Market>,
    caller: Caller,
    body: web::Json<FreezeInput>,
) -> ApiResult<HttpResponse> {
    let recorded = supervision::freeze(&market, &caller.0, body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/supervision/freezes/{}", recorded.value.id),
        recorded,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FreezeListParams {
    /// Lifted freezes too (default: only those in force).
    pub all: Option<bool>,
}

/// Freezes, newest first (regulators and auditors).
#[utoipa::path(tag = "supervision", params(FreezeListParams), security(("bearer" = [])), responses(
    (status = 200, body = Vec<Freeze>),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator or auditor", body = Problem, content_type = "application/problem+json"),
))]
#[get("/supervision/freezes")]
pub async fn freezes(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<FreezeListParams>,
) -> ApiResult<web::Json<Vec<Freeze>>> {
    Ok(web::Json(
        supervision::list_freezes(&market, &caller.0, params.all.unwrap_or(false)).await?,
    ))
}

/// Lift a freeze (regulators).
#[utoipa::path(tag = "supervision", request_body = LiftInput, security(("bearer" = [])), responses(
    (status = 200, body = Freeze, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator; outside-jurisdiction: not in your regions or sectors", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: lifted already", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/supervision/freezes/{id}/lift")]
pub async fn lift(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<LiftInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        supervision::lift(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

/// Record an incident against a dataset (a regulator, or the holder of its
/// holding or operation right): every licensee of it or of anything derived
/// from it, at any depth, and every derived dataset's provider find it in
/// their inbox.
#[utoipa::path(tag = "supervision", request_body = IncidentInput, security(("bearer" = [])), responses(
    (status = 201, body = Incident, headers(("Audit-Index" = String, description = "audit log index of the incident"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/datasets/{id}/incidents")]
pub async fn record_incident(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<IncidentInput>,
) -> ApiResult<HttpResponse> {
    let recorded = supervision::record_incident(&market, &caller.0, *id, body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/supervision/incidents/{}", recorded.value.id),
        recorded,
    ))
}

/// Incidents, newest first (regulators and auditors).
#[utoipa::path(tag = "supervision", security(("bearer" = [])), responses(
    (status = 200, body = Vec<Incident>),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator or auditor", body = Problem, content_type = "application/problem+json"),
))]
#[get("/supervision/incidents")]
pub async fn incidents(
    market: web::Data<Market>,
    caller: Caller,
) -> ApiResult<web::Json<Vec<Incident>>> {
    Ok(web::Json(
        supervision::list_incidents(&market, &caller.0).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InboxParams {
    /// Only messages not yet read.
    pub unread: Option<bool>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Your inbox, newest first.
#[utoipa::path(tag = "supervision", params(InboxParams), security(("bearer" = [])), responses(
    (status = 200, body = InboxPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/inbox")]
pub async fn inbox(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<InboxParams>,
) -> ApiResult<web::Json<InboxPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    Ok(web::Json(
        supervision::inbox(
            &market,
            &caller.0,
            p.unread.unwrap_or(false),
            limit,
            p.cursor,
        )
        .await?,
    ))
}

/// Mark a message of yours read.
#[utoipa::path(tag = "supervision", security(("bearer" = [])), responses(
    (status = 200, body = InboxMessage),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no message of yours", body = Problem, content_type = "application/problem+json"),
))]
#[post("/inbox/{id}/read")]
pub async fn mark_read(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<InboxMessage>> {
    Ok(web::Json(
        supervision::mark_read(&market, &caller.0, *id).await?,
    ))
}

/// File a complaint about a listing, a grant or an account (any
/// participant): it enters the regulators' queue. The respondent is not
/// told who complained or what was said, only the outcome.
#[utoipa::path(tag = "supervision", request_body = ComplaintInput, security(("bearer" = [])), responses(
    (status = 201, body = Complaint, headers(("Audit-Index" = String, description = "audit log index of the complaint"))),
    (status = 400, description = "malformed-body", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such listing, grant or account that you may know of", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: e.g. a complaint about yourself", body = Problem, content_type = "application/problem+json"),
))]
#[post("/complaints")]
pub async fn file_complaint(
    market: web::Data<Market>,
    caller: Caller,
    body: web::Json<ComplaintInput>,
) -> ApiResult<HttpResponse> {
    let recorded = complaints::file(&market, &caller.0, body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/complaints/{}", recorded.value.id),
        recorded,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ComplaintListParams {
    pub state: Option<ComplaintState>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Complaints, newest first: for regulators and auditors the whole queue
/// and record, for anyone else those they filed.
#[utoipa::path(tag = "supervision", params(ComplaintListParams), security(("bearer" = [])), responses(
    (status = 200, body = ComplaintPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/complaints")]
pub async fn list_complaints(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<ComplaintListParams>,
) -> ApiResult<web::Json<ComplaintPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    Ok(web::Json(
        complaints::list(&market, &caller.0, p.state, limit, p.cursor).await?,
    ))
}

/// One complaint (its complainant, regulators and auditors).
#[utoipa::path(tag = "supervision", security(("bearer" = [])), responses(
    (status = 200, body = Complaint),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/complaints/{id}")]
pub async fn get_complaint(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Complaint>> {
    Ok(web::Json(complaints::get(&market, &caller.0, *id).await?))
}

/// Uphold or dismiss an open complaint (regulators), once; the complainant
/// and the respondent find the outcome in their inbox.
#[utoipa::path(tag = "supervision", request_body = DecisionInput, security(("bearer" = [])), responses(
    (status = 200, body = Complaint, headers(("Audit-Index" = String, description = "audit log index of the decision"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator; outside-jurisdiction: not in your regions or sectors", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: decided already", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/complaints/{id}/decide")]
pub async fn decide_complaint(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<DecisionInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        complaints::decide(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatisticsParams {
    /// The period's start (RFC 3339, inclusive); default 30 days before `to`.
    pub from: Option<DateTime<Utc>>,
    /// The period's end (RFC 3339, exclusive); default now. A period spans
    /// at most 366 days.
    pub to: Option<DateTime<Utc>>,
    /// Only datasets whose provider is registered in this region (ISO
    /// 3166-2, e.g. `CN-SH`); within a regulator's jurisdiction.
    #[param(pattern = "^[A-Z]{2}-[A-Z0-9]{1,3}$")]
    pub region: Option<String>,
    /// Only datasets of this sector; within a regulator's jurisdiction.
    pub sector: Option<Sector>,
}

/// The market seen whole (regulators and auditors): listings by
/// classification and status, requests, grants and deliveries day by day,
/// cross-border requests by destination, orders and settled trade by
/// currency.
#[utoipa::path(tag = "supervision", params(StatisticsParams), security(("bearer" = [])), responses(
    (status = 200, body = Statistics),
    (status = 400, description = "invalid-parameter: from not before to, or a period over 366 days", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator or auditor; outside-jurisdiction: a region or sector the regulator does not oversee", body = Problem, content_type = "application/problem+json"),
))]
#[get("/supervision/statistics")]
pub async fn market_statistics(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<StatisticsParams>,
) -> ApiResult<web::Json<Statistics>> {
    let p = params.into_inner();
    Ok(web::Json(
        statistics::statistics(&market, &caller.0, p.from, p.to, p.region, p.sector).await?,
    ))
}

/// A participant's compliance record: verification, suspensions, freezes,
/// licences revoked and complaints decided against it. Whole for
/// regulators, auditors, admins and the account itself; a summary for a
/// counterparty (an account that asked you for access, or with whom a
/// licence runs), to read before approving a request; `404` for anyone
/// else.
#[utoipa::path(tag = "supervision", security(("bearer" = [])), responses(
    (status = 200, body = ComplianceRecord),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such account, or none you deal with", body = Problem, content_type = "application/problem+json"),
))]
#[get("/accounts/{id}/compliance")]
pub async fn compliance_record(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<ComplianceRecord>> {
    Ok(web::Json(
        compliance::record(&market, &caller.0, *id).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AlertListParams {
    pub state: Option<AlertState>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Early-warning alerts, newest first (regulators, within their
/// jurisdiction, and auditors), each with the audit indexes that set it off.
#[utoipa::path(tag = "supervision", params(AlertListParams), security(("bearer" = [])), responses(
    (status = 200, body = AlertPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator or auditor", body = Problem, content_type = "application/problem+json"),
))]
#[get("/supervision/alerts")]
pub async fn list_alerts(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<AlertListParams>,
) -> ApiResult<web::Json<AlertPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    Ok(web::Json(
        alerts::list(&market, &caller.0, p.state, limit, p.cursor).await?,
    ))
}

/// One alert (regulators within their jurisdiction, and auditors).
#[utoipa::path(tag = "supervision", security(("bearer" = [])), responses(
    (status = 200, body = Alert),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator or auditor", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such alert in your jurisdiction", body = Problem, content_type = "application/problem+json"),
))]
#[get("/supervision/alerts/{id}")]
pub async fn get_alert(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Alert>> {
    Ok(web::Json(alerts::get(&market, &caller.0, *id).await?))
}

/// Take an open alert on (regulators).
#[utoipa::path(tag = "supervision", security(("bearer" = [])), responses(
    (status = 200, body = Alert, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such alert in your jurisdiction", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: acknowledged or resolved already", body = Problem, content_type = "application/problem+json"),
))]
#[post("/supervision/alerts/{id}/acknowledge")]
pub async fn acknowledge_alert(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(changed(alerts::acknowledge(&market, &caller.0, *id).await?))
}

/// Close an alert as confirmed or unfounded, with a note (regulators). A
/// confirmed alert counts in the participant's compliance record.
#[utoipa::path(tag = "supervision", request_body = ResolveInput, security(("bearer" = [])), responses(
    (status = 200, body = Alert, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such alert in your jurisdiction", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: resolved already", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: a note is required", body = Problem, content_type = "application/problem+json"),
))]
#[post("/supervision/alerts/{id}/resolve")]
pub async fn resolve_alert(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<ResolveInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        alerts::resolve(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct QueueParams {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// The review queue of listings (regulators within their jurisdiction, and
/// auditors): datasets waiting for a regulator, whether the listing (of
/// important data, or lowered below its reviewed class) or a version added
/// after review; newest first.
#[utoipa::path(tag = "supervision", params(QueueParams), security(("bearer" = [])), responses(
    (status = 200, body = DatasetPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator or auditor", body = Problem, content_type = "application/problem+json"),
))]
#[get("/supervision/reviews/listings")]
pub async fn listings_to_review(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<QueueParams>,
) -> ApiResult<web::Json<DatasetPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    Ok(web::Json(
        catalog::review_queue(&market, &caller.0, limit, p.cursor).await?,
    ))
}

/// The review queue of access requests (regulators within their
/// jurisdiction, and auditors): cross-border requests a holder approved that
/// wait for a regulator; newest first.
#[utoipa::path(tag = "supervision", params(QueueParams), security(("bearer" = [])), responses(
    (status = 200, body = RequestPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator or auditor", body = Problem, content_type = "application/problem+json"),
))]
#[get("/supervision/reviews/requests")]
pub async fn requests_to_review(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<QueueParams>,
) -> ApiResult<web::Json<RequestPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    Ok(web::Json(
        grants::review_queue(&market, &caller.0, limit, p.cursor).await?,
    ))
}
