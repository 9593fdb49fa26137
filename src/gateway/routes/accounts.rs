//! Accounts and access tokens.

use actix_web::{HttpResponse, get, post, web};

use crate::accounts::{self, AccessToken, Account, Credentials, NewAccount, Registrar};
use crate::gateway::auth::Caller;
use crate::gateway::problem::{ApiResult, Problem};
use crate::gateway::respond::created;
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

/// Exchange a name and password for an access token.
#[utoipa::path(tag = "accounts", request_body = Credentials, responses(
    (status = 200, body = AccessToken),
    (status = 400, description = "malformed-body", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-credentials", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body", body = Problem, content_type = "application/problem+json"),
))]
#[post("/auth/token")]
pub async fn token(
    market: web::Data<Market>,
    body: web::Json<Credentials>,
) -> ApiResult<web::Json<AccessToken>> {
    Ok(web::Json(
        accounts::issue_token(&market, body.into_inner()).await?,
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
