//! Property rights, certificates, lineage and provenance.

use actix_web::{HttpResponse, get, post, web};
use serde::Deserialize;
use uuid::Uuid;

use crate::access::certificate::{Certificate, CertificateStatus};
use crate::catalog::lineage::{self as provenance, Direction, Lineage};
use crate::gateway::auth::{Caller, MaybeCaller};
use crate::gateway::problem::{ApiResult, Problem};
use crate::gateway::respond::created;
use crate::market::Market;
use crate::rights::{self, DatasetRights, Right, TransferInput, certificate};

/// Who holds each right of a dataset now, and the history.
#[utoipa::path(tag = "rights", security((), ("bearer" = [])), responses(
    (status = 200, body = DatasetRights),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such dataset, or not visible to the caller", body = Problem, content_type = "application/problem+json"),
))]
#[get("/datasets/{id}/rights")]
pub async fn of_dataset(
    market: web::Data<Market>,
    caller: MaybeCaller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<DatasetRights>> {
    Ok(web::Json(
        rights::of_dataset(&market, caller.0.as_ref(), *id).await?,
    ))
}

/// Transfer a right for good, or delegate it until `until` (its registered holder only).
#[utoipa::path(tag = "rights", request_body = TransferInput, security(("bearer" = [])), responses(
    (status = 201, body = Right, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted: the caller is not the registered holder of that right", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: unknown recipient, recipient without a fitting role, `until` not in the future", body = Problem, content_type = "application/problem+json"),
))]
#[post("/datasets/{id}/rights/transfers")]
pub async fn transfer(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<TransferInput>,
) -> ApiResult<HttpResponse> {
    let recorded = rights::transfer(&market, &caller.0, *id, body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/rights/{}/certificate", recorded.value.id),
        recorded,
    ))
}

/// The current registration certificate of a right: a compact JWS signed
/// with the platform key, verifiable offline against the JWKS.
#[utoipa::path(tag = "rights", security((), ("bearer" = [])),
    params(("right_id" = Uuid, Path, description = "a right registration id")),
    responses(
    (status = 200, body = Certificate),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/rights/{right_id}/certificate")]
pub async fn certificate_of(
    market: web::Data<Market>,
    caller: MaybeCaller,
    right_id: web::Path<Uuid>,
) -> ApiResult<web::Json<Certificate>> {
    Ok(web::Json(
        certificate::for_right(&market, caller.0.as_ref(), *right_id).await?,
    ))
}

/// Whether a certificate is current, superseded by a later one, or expired.
#[utoipa::path(tag = "rights", security((), ("bearer" = [])),
    params(("cert_id" = Uuid, Path, description = "a certificate id")),
    responses(
    (status = 200, body = CertificateStatus),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/rights/certificates/{cert_id}/status")]
pub async fn certificate_status(
    market: web::Data<Market>,
    caller: MaybeCaller,
    cert_id: web::Path<Uuid>,
) -> ApiResult<web::Json<CertificateStatus>> {
    Ok(web::Json(
        certificate::status(&market, caller.0.as_ref(), *cert_id).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LineageParams {
    /// Default `both`.
    pub direction: Option<Direction>,
    /// Steps to walk (default and maximum are configured).
    #[param(minimum = 1, maximum = 10000)]
    pub depth: Option<u32>,
}

/// The lineage graph around a dataset. Datasets the caller may not see
/// appear as opaque restricted nodes.
#[utoipa::path(tag = "rights", params(LineageParams), security((), ("bearer" = [])), responses(
    (status = 200, body = Lineage),
    (status = 400, description = "invalid-parameter: bad direction or depth", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/datasets/{id}/lineage")]
pub async fn lineage(
    market: web::Data<Market>,
    caller: MaybeCaller,
    id: web::Path<Uuid>,
    params: web::Query<LineageParams>,
) -> ApiResult<web::Json<Lineage>> {
    let direction = params.direction.unwrap_or(Direction::Both);
    Ok(web::Json(
        provenance::lineage(&market, caller.0.as_ref(), *id, direction, params.depth).await?,
    ))
}

/// The dataset's upstream graph as a W3C PROV-JSON document.
#[utoipa::path(tag = "rights", security((), ("bearer" = [])), responses(
    (status = 200, description = "PROV-JSON (https://www.w3.org/submissions/prov-json/)", body = Object),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/datasets/{id}/provenance")]
pub async fn provenance_of(
    market: web::Data<Market>,
    caller: MaybeCaller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<serde_json::Value>> {
    Ok(web::Json(
        provenance::provenance(&market, caller.0.as_ref(), *id).await?,
    ))
}
