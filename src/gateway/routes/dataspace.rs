//! The Dataspace Protocol's HTTPS binding (2025-1), the market as provider:
//! the version metadata, the catalog, contract negotiations and transfer
//! processes under `/dsp`. Bodies are the protocol's JSON-LD messages; a
//! refusal is the protocol's error message (`ContractNegotiationError`,
//! `TransferError`, `CatalogError`) with `code` = the market's problem slug.

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError, get, post, web};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::audit::Recorded;
use crate::dataspace::messages::{self, ProcessMessage};
use crate::dataspace::transfers::Move;
use crate::dataspace::{catalog, negotiations, parse_urn, transfers};
use crate::domain::Actor;
use crate::error::{Code, Error};
use crate::gateway::auth::{Caller, MaybeCaller};
use crate::gateway::problem::{ApiError, status_of};
use crate::gateway::respond::AUDIT_INDEX;
use crate::market::Market;

/// Which protocol a refusal belongs to, and the process it concerns.
#[derive(Debug)]
pub struct Dsp {
    error_type: &'static str,
    provider_pid: String,
    consumer_pid: String,
}

/// A refusal as the protocol's error message: the one place its statuses
/// are chosen. The binding's rules on top of the market's: a transition the
/// state machine does not allow, and a message that cannot be read, are 400.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct DspError {
    dsp: Box<Dsp>,
    error: Error,
}

fn dsp_status(code: Code) -> StatusCode {
    match code {
        Code::InvalidState
        | Code::MalformedBody
        | Code::InvalidBody
        | Code::ValidationFailed
        | Code::PurposeRequired
        | Code::NoVersion => StatusCode::BAD_REQUEST,
        other => status_of(other),
    }
}

impl ResponseError for DspError {
    fn status_code(&self) -> StatusCode {
        dsp_status(self.error.code())
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let code = self.error.code();
        let reason = match &self.error {
            Error::Refused { detail, .. } => detail.clone(),
            Error::Unavailable(_) => "the service is temporarily unavailable".to_owned(),
            other => {
                tracing::error!(error = %other, "internal error");
                "an internal error occurred; quote the X-Request-Id when reporting it".to_owned()
            }
        };
        let body = if self.dsp.error_type == "CatalogError" {
            messages::catalog_error(code.slug(), &reason)
        } else {
            messages::error_document(
                self.dsp.error_type,
                &self.dsp.provider_pid,
                &self.dsp.consumer_pid,
                code.slug(),
                &reason,
            )
        };
        let mut response = HttpResponse::build(dsp_status(code));
        if matches!(code, Code::Unauthenticated | Code::InvalidToken) {
            response.insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
        }
        response.json(body)
    }
}

type DspResult<T> = Result<T, DspError>;

impl Dsp {
    fn new(error_type: &'static str, path_pid: Option<&str>, body: &[u8]) -> Dsp {
        let (provider, consumer) = messages::pids_of(body);
        Dsp {
            error_type,
            provider_pid: path_pid.map(str::to_owned).unwrap_or(provider),
            consumer_pid: consumer,
        }
    }

    fn negotiation(path_pid: Option<&str>, body: &[u8]) -> Dsp {
        Dsp::new("ContractNegotiationError", path_pid, body)
    }

    fn transfer(path_pid: Option<&str>, body: &[u8]) -> Dsp {
        Dsp::new("TransferError", path_pid, body)
    }

    fn catalog() -> Dsp {
        Dsp::new("CatalogError", None, b"")
    }

    fn fail(self, error: Error) -> DspError {
        DspError {
            dsp: Box::new(self),
            error,
        }
    }

    fn actor(&self, caller: Result<Caller, ApiError>) -> DspResult<Actor> {
        caller.map(|c| c.0).map_err(|e| self.clone_with(e.0))
    }

    fn parse<T: DeserializeOwned>(&self, body: &[u8], kind: &str) -> DspResult<T> {
        messages::parse(body, kind).map_err(|e| self.clone_with(e))
    }

    fn clone_with(&self, error: Error) -> DspError {
        DspError {
            dsp: Box::new(Dsp {
                error_type: self.error_type,
                provider_pid: self.provider_pid.clone(),
                consumer_pid: self.consumer_pid.clone(),
            }),
            error,
        }
    }
}

/// The protocol's answer with the audit indexes the change wrote.
fn answer(status: StatusCode, recorded: Recorded<Value>) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    let indexes: Vec<String> = recorded.audit_indexes.iter().map(u64::to_string).collect();
    if !indexes.is_empty() {
        response.insert_header((AUDIT_INDEX, indexes.join(", ")));
    }
    response.json(recorded.value)
}

/// Where the market is reached ([`crate::gateway::public_base`]).
fn base_url(market: &Market, req: &HttpRequest) -> Result<String, crate::error::Error> {
    crate::gateway::public_base(market, req).map(|base| base.url)
}

/// The protocol versions served (unauthenticated).
#[utoipa::path(tag = "dataspace", responses(
    (status = 200, description = "VersionResponse", body = Object),
))]
#[get("/.well-known/dspace-version")]
pub async fn version() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "protocolVersions": [{
            "version": messages::VERSION,
            "path": "/dsp",
            "binding": "HTTPS",
            "serviceId": "datamarket-dsp",
            "auth": {"protocol": "bearer", "version": "1"},
        }]
    }))
}

/// The catalog: listed datasets with their offers (token optional).
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "CatalogRequestMessage", content_type = "application/json"), responses(
    (status = 200, description = "Catalog (JSON-LD)", body = Object),
    (status = 400, description = "CatalogError: malformed or invalid message", body = Object),
    (status = 401, description = "CatalogError: a token was sent and is not valid", body = Object),
))]
#[post("/catalog/request")]
pub async fn catalog_request(
    market: web::Data<Market>,
    caller: Result<MaybeCaller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::catalog();
    let actor = caller.map_err(|e| dsp.clone_with(e.0))?.0;
    let _: messages::CatalogRequestMessage = dsp.parse(&body, "CatalogRequestMessage")?;
    let limit = market.settings.limits.page_size_max;
    let doc = catalog::catalog(
        &market,
        actor.as_ref(),
        &base_url(&market, &req).map_err(|e| dsp.clone_with(e))?,
        limit,
    )
    .await
    .map_err(|e| dsp.clone_with(e))?;
    Ok(HttpResponse::Ok().json(doc))
}

/// One listed dataset with its offers (token optional).
#[utoipa::path(tag = "dataspace", responses(
    (status = 200, description = "Dataset (JSON-LD)", body = Object),
    (status = 401, description = "CatalogError: a token was sent and is not valid", body = Object),
    (status = 404, description = "CatalogError: no listed dataset with this id", body = Object),
))]
#[get("/catalog/datasets/{id}")]
pub async fn catalog_dataset(
    market: web::Data<Market>,
    caller: Result<MaybeCaller, ApiError>,
    req: HttpRequest,
    id: web::Path<String>,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::catalog();
    let actor = caller.map_err(|e| dsp.clone_with(e.0))?.0;
    let id = parse_urn(&id).ok_or_else(|| dsp.clone_with(Error::not_found("dataset")))?;
    let doc = catalog::dataset(
        &market,
        actor.as_ref(),
        id,
        &base_url(&market, &req).map_err(|e| dsp.clone_with(e))?,
    )
    .await
    .map_err(|e| dsp.fail(e))?;
    Ok(HttpResponse::Ok().json(doc))
}

/// Start a contract negotiation on a listing's request-based offer: the
/// market's access request, decided by the dataset's holder.
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "ContractRequestMessage", content_type = "application/json"), security(("bearer" = [])), responses(
    (status = 201, description = "ContractNegotiation (JSON-LD), REQUESTED", body = Object),
    (status = 400, description = "ContractNegotiationError: malformed or invalid message, priced offer, purpose required", body = Object),
    (status = 401, description = "ContractNegotiationError: unauthenticated, invalid-token", body = Object),
    (status = 403, description = "ContractNegotiationError: wrong-role (needs consumer), unverified-participant", body = Object),
    (status = 404, description = "ContractNegotiationError: no listed dataset", body = Object),
    (status = 409, description = "ContractNegotiationError: already-exists (consumerPid reused, or an open request for the dataset)", body = Object),
))]
#[post("/negotiations/request")]
pub async fn negotiation_request(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::negotiation(None, &body);
    let actor = dsp.actor(caller)?;
    let message = dsp.parse(&body, "ContractRequestMessage")?;
    let recorded = negotiations::request(&market, &actor, message)
        .await
        .map_err(|e| dsp.clone_with(e))?;
    Ok(answer(StatusCode::CREATED, recorded))
}

/// One of your contract negotiations (anyone else's is 404).
#[utoipa::path(tag = "dataspace", security(("bearer" = [])), responses(
    (status = 200, description = "ContractNegotiation (JSON-LD)", body = Object),
    (status = 401, description = "ContractNegotiationError: unauthenticated, invalid-token", body = Object),
    (status = 404, description = "ContractNegotiationError: not-found", body = Object),
))]
#[get("/negotiations/{id}")]
pub async fn negotiation(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    pid: web::Path<String>,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::negotiation(Some(&pid), b"");
    let actor = dsp.actor(caller)?;
    let doc = negotiations::get(&market, &actor, &pid)
        .await
        .map_err(|e| dsp.fail(e))?;
    Ok(HttpResponse::Ok().json(doc))
}

/// A counter-request: refused, the market makes no counter-offers.
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "ContractRequestMessage", content_type = "application/json"), security(("bearer" = [])), responses(
    (status = 400, description = "ContractNegotiationError: invalid-state (no counter-offers), malformed or invalid message", body = Object),
    (status = 401, description = "ContractNegotiationError: unauthenticated, invalid-token", body = Object),
    (status = 404, description = "ContractNegotiationError: not-found", body = Object),
))]
#[post("/negotiations/{id}/request")]
pub async fn negotiation_counter_request(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    pid: web::Path<String>,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::negotiation(Some(&pid), &body);
    let actor = dsp.actor(caller)?;
    let message = dsp.parse(&body, "ContractRequestMessage")?;
    let doc = negotiations::counter_request(&market, &actor, &pid, message)
        .await
        .map_err(|e| dsp.clone_with(e))?;
    Ok(HttpResponse::Ok().json(doc))
}

/// A consumer's event (ACCEPTED): refused, the market makes no offers to accept.
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "ContractNegotiationEventMessage", content_type = "application/json"), security(("bearer" = [])), responses(
    (status = 400, description = "ContractNegotiationError: invalid-state, malformed or invalid message", body = Object),
    (status = 401, description = "ContractNegotiationError: unauthenticated, invalid-token", body = Object),
    (status = 404, description = "ContractNegotiationError: not-found", body = Object),
))]
#[post("/negotiations/{id}/events")]
pub async fn negotiation_event(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    pid: web::Path<String>,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::negotiation(Some(&pid), &body);
    let actor = dsp.actor(caller)?;
    let message: ProcessMessage = dsp.parse(&body, "ContractNegotiationEventMessage")?;
    let doc = negotiations::event(&market, &actor, &pid, message)
        .await
        .map_err(|e| dsp.clone_with(e))?;
    Ok(HttpResponse::Ok().json(doc))
}

/// Verify the agreement: AGREED → VERIFIED, then FINALIZED with the event
/// sent to your callback.
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "ContractAgreementVerificationMessage", content_type = "application/json"), security(("bearer" = [])), responses(
    (status = 200, description = "ContractNegotiation (JSON-LD), VERIFIED", body = Object),
    (status = 400, description = "ContractNegotiationError: invalid-state (not AGREED), malformed or invalid message", body = Object),
    (status = 401, description = "ContractNegotiationError: unauthenticated, invalid-token", body = Object),
    (status = 404, description = "ContractNegotiationError: not-found", body = Object),
))]
#[post("/negotiations/{id}/agreement/verification")]
pub async fn negotiation_verification(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    pid: web::Path<String>,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::negotiation(Some(&pid), &body);
    let actor = dsp.actor(caller)?;
    let message: ProcessMessage = dsp.parse(&body, "ContractAgreementVerificationMessage")?;
    let recorded = negotiations::verify(&market, &actor, &pid, message)
        .await
        .map_err(|e| dsp.clone_with(e))?;
    Ok(answer(StatusCode::OK, recorded))
}

/// End a negotiation (not once FINALIZED); a pending request is withdrawn.
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "ContractNegotiationTerminationMessage", content_type = "application/json"), security(("bearer" = [])), responses(
    (status = 200, description = "ContractNegotiation (JSON-LD), TERMINATED", body = Object),
    (status = 400, description = "ContractNegotiationError: invalid-state (FINALIZED or TERMINATED), malformed or invalid message", body = Object),
    (status = 401, description = "ContractNegotiationError: unauthenticated, invalid-token", body = Object),
    (status = 404, description = "ContractNegotiationError: not-found", body = Object),
))]
#[post("/negotiations/{id}/termination")]
pub async fn negotiation_termination(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    pid: web::Path<String>,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::negotiation(Some(&pid), &body);
    let actor = dsp.actor(caller)?;
    let message: ProcessMessage = dsp.parse(&body, "ContractNegotiationTerminationMessage")?;
    let recorded = negotiations::terminate(&market, &actor, &pid, message)
        .await
        .map_err(|e| dsp.clone_with(e))?;
    Ok(answer(StatusCode::OK, recorded))
}

/// Request a transfer (HttpData-PULL) under a finalized agreement; the
/// start message with the data address goes to your callback.
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "TransferRequestMessage", content_type = "application/json"), security(("bearer" = [])), responses(
    (status = 201, description = "TransferProcess (JSON-LD), REQUESTED", body = Object),
    (status = 400, description = "TransferError: malformed or invalid message, format not offered, agreement not finalized", body = Object),
    (status = 401, description = "TransferError: unauthenticated, invalid-token", body = Object),
    (status = 403, description = "TransferError: grant-revoked, grant-expired, grant-exhausted", body = Object),
    (status = 404, description = "TransferError: no such agreement of yours", body = Object),
    (status = 409, description = "TransferError: already-exists (consumerPid reused)", body = Object),
))]
#[post("/transfers/request")]
pub async fn transfer_request(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    req: HttpRequest,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::transfer(None, &body);
    let actor = dsp.actor(caller)?;
    let message = dsp.parse(&body, "TransferRequestMessage")?;
    let recorded = transfers::request(
        &market,
        &actor,
        message,
        &base_url(&market, &req).map_err(|e| dsp.clone_with(e))?,
    )
    .await
    .map_err(|e| dsp.clone_with(e))?;
    Ok(answer(StatusCode::CREATED, recorded))
}

/// One of your transfer processes (anyone else's is 404).
#[utoipa::path(tag = "dataspace", security(("bearer" = [])), responses(
    (status = 200, description = "TransferProcess (JSON-LD)", body = Object),
    (status = 401, description = "TransferError: unauthenticated, invalid-token", body = Object),
    (status = 404, description = "TransferError: not-found", body = Object),
))]
#[get("/transfers/{id}")]
pub async fn transfer(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    pid: web::Path<String>,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::transfer(Some(&pid), b"");
    let actor = dsp.actor(caller)?;
    let doc = transfers::get(&market, &actor, &pid)
        .await
        .map_err(|e| dsp.fail(e))?;
    Ok(HttpResponse::Ok().json(doc))
}

async fn transfer_move(
    market: &Market,
    caller: Result<Caller, ApiError>,
    pid: &str,
    body: &[u8],
    kind: &str,
    how: Move,
) -> DspResult<HttpResponse> {
    let dsp = Dsp::transfer(Some(pid), body);
    let actor = dsp.actor(caller)?;
    let message: ProcessMessage = dsp.parse(body, kind)?;
    let recorded = transfers::consumer_moves(market, &actor, pid, message, how)
        .await
        .map_err(|e| dsp.clone_with(e))?;
    Ok(answer(StatusCode::OK, recorded))
}

/// Resume a suspended transfer: a new start message (new data token) goes
/// to your callback.
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "TransferStartMessage", content_type = "application/json"), security(("bearer" = [])), responses(
    (status = 200, description = "TransferProcess (JSON-LD)", body = Object),
    (status = 400, description = "TransferError: invalid-state (not SUSPENDED), malformed or invalid message", body = Object),
    (status = 401, description = "TransferError: unauthenticated, invalid-token", body = Object),
    (status = 404, description = "TransferError: not-found", body = Object),
))]
#[post("/transfers/{id}/start")]
pub async fn transfer_start(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    pid: web::Path<String>,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    transfer_move(
        &market,
        caller,
        &pid,
        &body,
        "TransferStartMessage",
        Move::Resume,
    )
    .await
}

/// Complete a started transfer.
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "TransferCompletionMessage", content_type = "application/json"), security(("bearer" = [])), responses(
    (status = 200, description = "TransferProcess (JSON-LD), COMPLETED", body = Object),
    (status = 400, description = "TransferError: invalid-state (not STARTED), malformed or invalid message", body = Object),
    (status = 401, description = "TransferError: unauthenticated, invalid-token", body = Object),
    (status = 404, description = "TransferError: not-found", body = Object),
))]
#[post("/transfers/{id}/completion")]
pub async fn transfer_completion(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    pid: web::Path<String>,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    transfer_move(
        &market,
        caller,
        &pid,
        &body,
        "TransferCompletionMessage",
        Move::Complete,
    )
    .await
}

/// End a transfer (not once COMPLETED or TERMINATED).
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "TransferTerminationMessage", content_type = "application/json"), security(("bearer" = [])), responses(
    (status = 200, description = "TransferProcess (JSON-LD), TERMINATED", body = Object),
    (status = 400, description = "TransferError: invalid-state, malformed or invalid message", body = Object),
    (status = 401, description = "TransferError: unauthenticated, invalid-token", body = Object),
    (status = 404, description = "TransferError: not-found", body = Object),
))]
#[post("/transfers/{id}/termination")]
pub async fn transfer_termination(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    pid: web::Path<String>,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    transfer_move(
        &market,
        caller,
        &pid,
        &body,
        "TransferTerminationMessage",
        Move::Terminate,
    )
    .await
}

/// Suspend a started transfer.
#[utoipa::path(tag = "dataspace", request_body(content = Object, description = "TransferSuspensionMessage", content_type = "application/json"), security(("bearer" = [])), responses(
    (status = 200, description = "TransferProcess (JSON-LD), SUSPENDED", body = Object),
    (status = 400, description = "TransferError: invalid-state (not STARTED), malformed or invalid message", body = Object),
    (status = 401, description = "TransferError: unauthenticated, invalid-token", body = Object),
    (status = 404, description = "TransferError: not-found", body = Object),
))]
#[post("/transfers/{id}/suspension")]
pub async fn transfer_suspension(
    market: web::Data<Market>,
    caller: Result<Caller, ApiError>,
    pid: web::Path<String>,
    body: web::Bytes,
) -> DspResult<HttpResponse> {
    transfer_move(
        &market,
        caller,
        &pid,
        &body,
        "TransferSuspensionMessage",
        Move::Suspend,
    )
    .await
}
