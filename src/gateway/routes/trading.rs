//! Offers, orders, wallets, payments, payouts and the books.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{Code, Error};
use crate::gateway::auth::{Caller, MaybeCaller};
use crate::gateway::page_size;
use crate::gateway::problem::{ApiResult, Problem};
use crate::gateway::respond::{changed, created};
use crate::grants::{self, NewOrder, ReasonInput};
use crate::market::Market;
use crate::trading::{
    self, Answer, CheckReport, LedgerExport, Offer, OfferInput, Order, OrderPage, OrderRole,
    Payment, PaymentNotice, Payout, PayoutInput, PayoutPage, Statement, TrialBalance, Wallet,
};

/// The header a client sends to make a money-moving request safe to retry.
const IDEMPOTENCY_KEY: &str = "Idempotency-Key";

/// The header a payment provider signs its callbacks with.
const PAYMENT_SIGNATURE: &str = "Payment-Signature";

fn idempotency_key(req: &HttpRequest) -> ApiResult<Option<String>> {
    match req.headers().get(IDEMPOTENCY_KEY) {
        None => Ok(None),
        Some(value) => value.to_str().map(|v| Some(v.to_owned())).map_err(|_| {
            Error::refused(
                Code::InvalidParameter,
                "Idempotency-Key must be printable ASCII",
            )
            .with("parameter", IDEMPOTENCY_KEY)
            .into()
        }),
    }
}

/// 201 with the new resource, or the first answer again for a retried key
/// (with `Idempotent-Replayed: true`).
fn answered<T: serde::Serialize>(
    answer: Answer<T>,
    location: impl Fn(&T) -> String,
) -> HttpResponse {
    match answer {
        Answer::Fresh(recorded) => {
            let at = location(&recorded.value);
            created(at, recorded)
        }
        Answer::Replayed { status, body } => {
            HttpResponse::build(StatusCode::from_u16(status).unwrap_or(StatusCode::OK))
                .insert_header(("Idempotent-Replayed", "true"))
                .json(body)
        }
    }
}

/// Put an offer on a listing (the holder of its operation right).
#[utoipa::path(tag = "trading", request_body = OfferInput, security(("bearer" = [])), responses(
    (status = 201, body = Offer, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted: needs the operation right", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: a rejected listing", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/datasets/{id}/offers")]
pub async fn create_offer(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<OfferInput>,
) -> ApiResult<HttpResponse> {
    let recorded = trading::offers::create(&market, &caller.0, *id, body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/offers/{}", recorded.value.id),
        recorded,
    ))
}

/// A listing's active offers (whoever may see the listing).
#[utoipa::path(tag = "trading", security((), ("bearer" = [])), responses(
    (status = 200, body = Vec<Offer>),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/datasets/{id}/offers")]
pub async fn offers_of_dataset(
    market: web::Data<Market>,
    caller: MaybeCaller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Vec<Offer>>> {
    Ok(web::Json(
        trading::offers::of_dataset(&market, caller.0.as_ref(), *id).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OfferParams {
    /// A version of the offer's terms (default: its current one).
    #[param(minimum = 1)]
    pub version: Option<i32>,
}

/// One offer, at its current version or an earlier one.
#[utoipa::path(tag = "trading", params(OfferParams), security((), ("bearer" = [])), responses(
    (status = 200, body = Offer),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/offers/{id}")]
pub async fn get_offer(
    market: web::Data<Market>,
    caller: MaybeCaller,
    id: web::Path<Uuid>,
    params: web::Query<OfferParams>,
) -> ApiResult<web::Json<Offer>> {
    Ok(web::Json(
        trading::offers::get(&market, caller.0.as_ref(), *id, params.version).await?,
    ))
}

/// Revise an offer: its terms become a new version; orders placed before
/// keep theirs.
#[utoipa::path(tag = "trading", request_body = OfferInput, security(("bearer" = [])), responses(
    (status = 200, body = Offer, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: a withdrawn offer", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[put("/offers/{id}")]
pub async fn revise_offer(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<OfferInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        trading::offers::revise(&market, &caller.0, *id, body.into_inner()).await?,
    ))
}

/// Withdraw an offer: it takes no more orders.
#[utoipa::path(tag = "trading", security(("bearer" = [])), responses(
    (status = 200, body = Offer, headers(("Audit-Index" = String, description = "audit log index of the change"))),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: already withdrawn", body = Problem, content_type = "application/problem+json"),
))]
#[post("/offers/{id}/withdraw")]
pub async fn withdraw_offer(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        trading::offers::withdraw(&market, &caller.0, *id).await?,
    ))
}

/// Buy under an offer (consumers): the price moves from the wallet into
/// escrow; an instant offer issues the grant and settles at once, another
/// waits for the provider (its access request is in `request`). Send an
/// `Idempotency-Key` to retry safely.
#[utoipa::path(tag = "trading", request_body = NewOrder, params(
    ("Idempotency-Key" = Option<String>, Header, description = "1–200 printable ASCII characters; a retry with the same key and body gets the first answer and pays nothing"),
), security(("bearer" = [])), responses(
    (status = 201, body = Order, headers(("Audit-Index" = String, description = "audit log indexes of the order, payment, request, grant and settlement"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs consumer; not-permitted: the offer does not cover your territory; unverified-participant: important or personal data for a consumer no regulator has verified; frozen", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such offer you may see", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "insufficient-funds; invalid-state: offer withdrawn or revised, listing not listed; already-exists: an open request for the dataset", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed (including a missing, needless or insufficient legal_basis for a buyer registered abroad), purpose-required, idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
))]
#[post("/orders")]
pub async fn place_order(
    market: web::Data<Market>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<NewOrder>,
) -> ApiResult<HttpResponse> {
    let key = idempotency_key(&req)?;
    let answer = grants::place_order(&market, &caller.0, body.into_inner(), key).await?;
    Ok(answered(answer, |o: &Order| {
        format!("/api/v1/orders/{}", o.id)
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OrderListParams {
    /// `bought` (default) or `sold` (for auditors and regulators: every order).
    pub role: Option<OrderRole>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Orders, newest first.
#[utoipa::path(tag = "trading", params(OrderListParams), security(("bearer" = [])), responses(
    (status = 200, body = OrderPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/orders")]
pub async fn list_orders(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<OrderListParams>,
) -> ApiResult<web::Json<OrderPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    Ok(web::Json(
        trading::list_orders(
            &market,
            &caller.0,
            p.role.unwrap_or(OrderRole::Bought),
            limit,
            p.cursor,
        )
        .await?,
    ))
}

/// One order (its buyer, its seller, auditors and regulators).
#[utoipa::path(tag = "trading", security(("bearer" = [])), responses(
    (status = 200, body = Order),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
))]
#[get("/orders/{id}")]
pub async fn get_order(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Order>> {
    Ok(web::Json(
        trading::get_order(&market, &caller.0, *id).await?,
    ))
}

/// Cancel an order the provider has not decided (the buyer): its request is
/// withdrawn and the price refunded.
#[utoipa::path(tag = "trading", security(("bearer" = [])), responses(
    (status = 200, body = Order, headers(("Audit-Index" = String, description = "audit log indexes of the withdrawal, cancellation and refund"))),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted: not the buyer", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state (with current_state)", body = Problem, content_type = "application/problem+json"),
))]
#[post("/orders/{id}/cancel")]
pub async fn cancel_order(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        grants::cancel_order(&market, &caller.0, *id).await?,
    ))
}

/// Renew a settled subscription for another period, at the offer's current
/// terms (the buyer). Send an `Idempotency-Key` to retry safely.
#[utoipa::path(tag = "trading", params(
    ("Idempotency-Key" = Option<String>, Header, description = "as for placing an order"),
), security(("bearer" = [])), responses(
    (status = 201, body = Order, headers(("Audit-Index" = String, description = "audit log indexes of the change"))),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted: not the buyer", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: not a settled subscription, or renewed already; insufficient-funds", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
))]
#[post("/orders/{id}/renew")]
pub async fn renew_order(
    market: web::Data<Market>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    let key = idempotency_key(&req)?;
    let answer = grants::renew_order(&market, &caller.0, *id, key).await?;
    Ok(answered(answer, |o: &Order| {
        format!("/api/v1/orders/{}", o.id)
    }))
}

/// Your wallet: what you may spend or ask to be paid out, per currency.
#[utoipa::path(tag = "trading", security(("bearer" = [])), responses(
    (status = 200, body = Wallet),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/wallet")]
pub async fn wallet(market: web::Data<Market>, caller: Caller) -> ApiResult<web::Json<Wallet>> {
    Ok(web::Json(trading::wallet(&market, &caller.0).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StatementParams {
    /// Start of the period (RFC 3339; default: 30 days before `to`).
    pub from: Option<DateTime<Utc>>,
    /// End of the period, exclusive (RFC 3339; default: now).
    pub to: Option<DateTime<Utc>>,
    /// `json` (default) or `csv`.
    pub format: Option<String>,
}

/// An account's statement for a period: purchases, sales with their fees
/// and royalties out, royalties in (with the sale they came from), deposits
/// and payouts (the account itself, auditors, regulators).
#[utoipa::path(tag = "trading", params(StatementParams), security(("bearer" = [])), responses(
    (status = 200, body = Statement, content(
        (Statement = "application/json"),
        (String = "text/csv"),
    )),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "not-permitted: another account's statement", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "validation-failed: to before from", body = Problem, content_type = "application/problem+json"),
))]
#[get("/accounts/{id}/statement")]
pub async fn statement(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: web::Query<StatementParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let csv = match p.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(
                Error::refused(Code::InvalidParameter, "format must be json or csv")
                    .with("parameter", "format")
                    .into(),
            );
        }
    };
    let to = p.to.unwrap_or_else(Utc::now);
    let from = p.from.unwrap_or_else(|| {
        to.checked_sub_signed(Duration::days(30))
            .unwrap_or(DateTime::<Utc>::MIN_UTC)
    });
    let statement = trading::statement(&market, &caller.0, *id, from, to).await?;
    Ok(if csv {
        HttpResponse::Ok()
            .content_type("text/csv; charset=utf-8")
            .body(trading::books::statement_csv(&statement))
    } else {
        HttpResponse::Ok().json(statement)
    })
}

/// A payment provider's notice that money arrived for an account. The body
/// is authenticated by `Payment-Signature: sha256=<hex HMAC-SHA256 of the
/// raw body with the shared secret>`; a repeated payment id moves nothing
/// and answers as the first notice did (with `duplicate: true`).
#[utoipa::path(tag = "trading", request_body = PaymentNotice, params(
    ("Payment-Signature" = String, Header, description = "sha256=<hex HMAC-SHA256 of the raw body>"),
), responses(
    (status = 200, body = Payment, headers(("Audit-Index" = String, description = "audit log indexes of the credit"))),
    (status = 401, description = "invalid-signature (or callbacks not configured)", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "already-exists: the payment id was credited with other details", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/payments/callbacks")]
pub async fn payment_callback(
    market: web::Data<Market>,
    req: HttpRequest,
    body: web::Bytes,
) -> ApiResult<HttpResponse> {
    let signature = req
        .headers()
        .get(PAYMENT_SIGNATURE)
        .and_then(|v| v.to_str().ok());
    Ok(changed(
        trading::payment_callback(&market, &body, signature).await?,
    ))
}

/// Ask to be paid out from your wallet (providers): the amount is held at
/// once. Send an `Idempotency-Key` to retry safely.
#[utoipa::path(tag = "trading", request_body = PayoutInput, params(
    ("Idempotency-Key" = Option<String>, Header, description = "as for placing an order"),
), security(("bearer" = [])), responses(
    (status = 201, body = Payout, headers(("Audit-Index" = String, description = "audit log indexes of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs provider", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "insufficient-funds", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed, idempotency-key-reused", body = Problem, content_type = "application/problem+json"),
))]
#[post("/payouts")]
pub async fn request_payout(
    market: web::Data<Market>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<PayoutInput>,
) -> ApiResult<HttpResponse> {
    let key = idempotency_key(&req)?;
    let answer = trading::request_payout(&market, &caller.0, body.into_inner(), key).await?;
    Ok(answered(answer, |p: &Payout| {
        format!("/api/v1/payouts/{}", p.id)
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PayoutListParams {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Payouts you asked for (admins: all), newest first.
#[utoipa::path(tag = "trading", params(PayoutListParams), security(("bearer" = [])), responses(
    (status = 200, body = PayoutPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/payouts")]
pub async fn list_payouts(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<PayoutListParams>,
) -> ApiResult<web::Json<PayoutPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    Ok(web::Json(
        trading::list_payouts(&market, &caller.0, limit, p.cursor).await?,
    ))
}

/// Pay a requested payout out (admins).
#[utoipa::path(tag = "trading", security(("bearer" = [])), responses(
    (status = 200, body = Payout, headers(("Audit-Index" = String, description = "audit log indexes of the change"))),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: decided already", body = Problem, content_type = "application/problem+json"),
))]
#[post("/payouts/{id}/approve")]
pub async fn approve_payout(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        trading::decide_payout(&market, &caller.0, *id, true, None).await?,
    ))
}

/// Refuse a requested payout (admins): the money returns to the wallet.
#[utoipa::path(tag = "trading", request_body = ReasonInput, security(("bearer" = [])), responses(
    (status = 200, body = Payout, headers(("Audit-Index" = String, description = "audit log indexes of the change"))),
    (status = 400, description = "malformed-body, invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs admin", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: decided already", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/payouts/{id}/reject")]
pub async fn reject_payout(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: web::Json<ReasonInput>,
) -> ApiResult<HttpResponse> {
    Ok(changed(
        trading::decide_payout(
            &market,
            &caller.0,
            *id,
            false,
            Some(body.into_inner().reason),
        )
        .await?,
    ))
}

/// Every ledger account's balance by currency; each currency sums to zero
/// (auditors and regulators).
#[utoipa::path(tag = "trading", security(("bearer" = [])), responses(
    (status = 200, body = TrialBalance),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs auditor or regulator", body = Problem, content_type = "application/problem+json"),
))]
#[get("/ledger/trial-balance")]
pub async fn trial_balance(
    market: web::Data<Market>,
    caller: Caller,
) -> ApiResult<web::Json<TrialBalance>> {
    Ok(web::Json(trading::trial_balance(&market, &caller.0).await?))
}

/// The whole ledger — journal entries with their audit indexes, balances
/// and orders — as `datamarket ledger check --export` reads it (auditors
/// and regulators).
#[utoipa::path(tag = "trading", security(("bearer" = [])), responses(
    (status = 200, body = LedgerExport),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs auditor or regulator", body = Problem, content_type = "application/problem+json"),
))]
#[get("/ledger/export")]
pub async fn ledger_export(
    market: web::Data<Market>,
    caller: Caller,
) -> ApiResult<web::Json<LedgerExport>> {
    Ok(web::Json(trading::export(&market, &caller.0).await?))
}

/// The ledger's invariants checked by the server over its own books
/// (auditors and regulators); `datamarket ledger check` does the same from
/// the outside, against the verified audit log.
#[utoipa::path(tag = "trading", security(("bearer" = [])), responses(
    (status = 200, body = CheckReport),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs auditor or regulator", body = Problem, content_type = "application/problem+json"),
))]
#[get("/ledger/check")]
pub async fn ledger_check(
    market: web::Data<Market>,
    caller: Caller,
) -> ApiResult<web::Json<CheckReport>> {
    Ok(web::Json(trading::check(&market, &caller.0).await?))
}
