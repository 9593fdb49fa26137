//! Accounts and access tokens.

use actix_web::{HttpRequest, HttpResponse, get, post, put, web};

use uuid::Uuid;

use crate::accounts::{
    self, AccessToken, Account, Credentials, NewAccount, Registrar, ReinstateInput, SuspendInput,
    VerifyInput,
};
use crate::domain::jurisdiction::Jurisdiction;
use crate::gateway::address::client_address;
use crate::gateway::auth::Caller;
use crate::gateway::extract::OptionalJson;
use crate::gateway::problem::{ApiResult, Problem};
use crate::gateway::respond::{changed, created};
use crate::market::Market;

/// Register as a provider and/or consumer.
#[utoipa::path(tag = "accounts", request_body = NewAccount, responses(
    (status = 201, body = Account, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: regulator, auditor and admin roles are given by an admin", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "already-exists: the name is taken", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed, weak-password", body = Problem, content_type = "application/problem+json"),
))]
#[post("/accounts")]
pub async fn register(
    market: web::Data<Market>,
    body: web::Json<NewAccount>,
) -> ApiResult<HttpResponse> {
    let recorded = accounts::register(&market, Registrar::Public, body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/accounts/{}", recorded.value.id),
        recorded,
    ))
}

/// Create an account with any roles (admin only).
#[utoipa::path(tag = "accounts", request_body = NewAccount, security(("bearer" = [])), responses(
    (status = 201, body = Account, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs admin", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "already-exists", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed, weak-password", body = Problem, content_type = "application/problem+json"),
))]
#[post("/admin/accounts")]
pub async fn admin_create(
    market: web::Data<Market>,
    caller: Caller,
    body: web::Json<NewAccount>,
) -> ApiResult<HttpResponse> {
    let recorded =
        accounts::register(&market, Registrar::Admin(&caller.0), body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/accounts/{}", recorded.value.id),
        recorded,
    ))
}

/// Exchange a name and password for an access token. Names are compared
/// without regard to letter case. Every attempt is recorded in the audit
/// log with the client's address; repeated failures are throttled across
/// every instance (see docs/operations.md).
#[utoipa::path(tag = "accounts", request_body = Credentials, responses(
    (status = 200, body = AccessToken),
    (status = 400, description = "malformed-body", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-credentials", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "account-suspended: the password was right, the account is suspended", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "too-many-requests: too many failed logins for this name or from this address; see Retry-After", body = Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "seconds to wait"))),
))]
#[post("/auth/token")]
pub async fn token(
    market: web::Data<Market>,
    req: HttpRequest,
    body: web::Json<Credentials>,
) -> ApiResult<web::Json<AccessToken>> {
    let address = client_address(&market, &req);
    Ok(web::Json(
        accounts::login::issue_token(&market, body.into_inner(), address).await?,
    ))
}

/// The calling account.
#[utoipa::path(tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, body = Account),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: the token's account no longer exists", body = Problem, content_type = "application/problem+json"),
))]
#[get("/accounts/me")]
pub async fn me(market: web::Data<Market>, caller: Caller) -> ApiResult<web::Json<Account>> {
    Ok(web::Json(accounts::get(&market, caller.0.id).await?))
}

/// One account: your own, or any for admins and regulators.
#[utoipa::path(tag = "accounts", security(("bearer" = [])), responses(
    (status = 200, body = Account),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: another account, and not admin or regulator; account-suspended", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/accounts/{id}")]
pub async fn get(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Account>> {
    Ok(web::Json(accounts::get_for(&market, &caller.0, *id).await?))
}

/// Suspend an account (admins and regulators, with a reason): from its
/// next request on, on every instance, its access and data tokens are
/// refused with 403 `account-suspended`.
#[utoipa::path(tag = "accounts", request_body = SuspendInput, security(("bearer" = [])), responses(
    (status = 200, body = Account, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs admin or regulator", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: already suspended", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: a reason is required; an account cannot suspend itself", body = Problem, content_type = "application/problem+json"),
))]
#[post("/accounts/{id}/suspend")]
pub async fn suspend(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<SuspendInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        accounts::suspend(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

/// Verify a participant (regulators), once, with a reference for what was
/// checked: listing important data, and requesting or buying important or
/// personal data, need a verified account (else 403
/// `unverified-participant`).
#[utoipa::path(tag = "accounts", request_body = VerifyInput, security(("bearer" = [])), responses(
    (status = 200, body = Account, headers(("Audit-Index" = String, description = "audit log index of the verification"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs regulator; outside-jurisdiction: not in your regions or sectors", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: verified already", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: a reference is required", body = Problem, content_type = "application/problem+json"),
))]
#[post("/accounts/{id}/verify")]
pub async fn verify(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<VerifyInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        accounts::verify(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

/// Set what a regulator oversees (admins): regions of the home territory
/// (ISO 3166-2) and sectors; none of either for the whole market. Review
/// queues, complaints and alerts go to the regulators whose jurisdiction
/// covers them, and a regulator acts only within it.
#[utoipa::path(tag = "accounts", request_body = Jurisdiction, security(("bearer" = [])), responses(
    (status = 200, body = Account, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: not a regulator, or a region outside the home territory", body = Problem, content_type = "application/problem+json"),
))]
#[put("/accounts/{id}/jurisdiction")]
pub async fn set_jurisdiction(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<Jurisdiction>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        accounts::set_jurisdiction(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

/// Lift a suspension (admins and regulators).
#[utoipa::path(tag = "accounts", request_body(content = Option<ReinstateInput>), security(("bearer" = [])), responses(
    (status = 200, body = Account, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs admin or regulator", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: not suspended", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/accounts/{id}/reinstate")]
pub async fn reinstate(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: OptionalJson<ReinstateInput>,
) -> ApiResult<HttpResponse> {
    let input = body.0.unwrap_or_default();
    Ok(changed(
        accounts::reinstate(&market, &caller.0, *id, input).await?,
    ))
}
