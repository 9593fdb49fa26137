//! Accounts and access tokens.

use actix_web::{HttpRequest, HttpResponse, get, post, web};

use crate::accounts::{self, AccessToken, Account, Credentials, NewAccount, Registrar};
use crate::error::Code;
use crate::gateway::auth::Caller;
use crate::gateway::problem::{ApiResult, Problem};
use crate::gateway::respond::created;
use crate::gateway::throttle::LoginThrottle;
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

/// Exchange a name and password for an access token. Repeated failures
/// for one name or from one address are throttled.
#[utoipa::path(tag = "accounts", request_body = Credentials, responses(
    (status = 200, body = AccessToken),
    (status = 400, description = "malformed-body", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-credentials", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body", body = Problem, content_type = "application/problem+json"),
    (status = 429, description = "too-many-requests: too many failed logins for this name or from this address; see Retry-After", body = Problem, content_type = "application/problem+json",
        headers(("Retry-After" = u64, description = "seconds to wait"))),
))]
#[post("/auth/token")]
pub async fn token(
    market: web::Data<Market>,
    throttle: web::Data<LoginThrottle>,
    req: HttpRequest,
    body: web::Json<Credentials>,
) -> ApiResult<web::Json<AccessToken>> {
    let credentials = body.into_inner();
    let name = credentials.name.clone();
    let address = throttle.client_address(&req);
    throttle.check(&name, address)?;
    match accounts::issue_token(&market, credentials).await {
        Err(e) if e.code() == Code::InvalidCredentials => {
            throttle.failed(&name, address)?;
            Err(e.into())
        }
        other => Ok(web::Json(other?)),
    }
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
