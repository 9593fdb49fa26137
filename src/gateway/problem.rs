//! RFC 9457 problem documents: the one place where service errors become
//! HTTP statuses, and where extractor failures (bad JSON, bad path or query
//! parameters) get the same shape as every other refusal.

use actix_web::body::BoxBody;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Code, Error};

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The HTTP status of each problem code.
pub fn status_of(code: Code) -> StatusCode {
    use Code::*;
    match code {
        MalformedBody | InvalidParameter | InvalidCursor | InvalidProofRequest => {
            StatusCode::BAD_REQUEST
        }
        Unauthenticated | InvalidToken | InvalidCredentials | InvalidSignature => {
            StatusCode::UNAUTHORIZED
        }
        WrongRole
        | AccountSuspended
        | UnverifiedParticipant
        | NotPermitted
        | LacksProcessingRight
        | NoGrant
        | GrantNotYetValid
        | GrantExpired
        | GrantRevoked
        | GrantExhausted
        | OutsideTerritory
        | VersionUnderReview
        | Frozen
        | OutsideJurisdiction => StatusCode::FORBIDDEN,
        NotFound => StatusCode::NOT_FOUND,
        MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        NotAcceptable => StatusCode::NOT_ACCEPTABLE,
        AlreadyExists | InvalidState | InsufficientFunds => StatusCode::CONFLICT,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
        InvalidBody | ValidationFailed | WeakPassword | CoreDataNotTradable | NoVersion
        | PurposeRequired | DerivationCycle | IdempotencyKeyReused => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        Internal => StatusCode::INTERNAL_SERVER_ERROR,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// The problem `type` URI of a code; `GET` on it describes the problem.
pub fn type_uri(code: Code) -> String {
    format!("/problems/{}", code.slug())
}

/// A problem document as it goes over the wire.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable identifier of the kind of problem: `/problems/<slug>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Further members, such as the current `status` of a resource.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub extensions: Map<String, Value>,
}

/// The gateway's error: a service error on its way to becoming a problem
/// document.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ApiError(#[from] pub Error);

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        ApiError(Error::refused(code, detail))
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        status_of(self.0.code())
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let code = self.0.code();
        let status = status_of(code);
        let (detail, mut extensions) = match &self.0 {
            Error::Refused {
                detail, extensions, ..
            } => (detail.clone(), extensions.clone()),
            Error::Unavailable(cause) => {
                tracing::warn!(%cause, "answering 503");
                (
                    "the service is temporarily unavailable; try again shortly".to_owned(),
                    Map::new(),
                )
            }
            other => {
                // The cause goes to the log (with the request id), never to the client.
                tracing::error!(error = %other, "internal error");
                (
                    "an internal error occurred; quote the X-Request-Id when reporting it"
                        .to_owned(),
                    Map::new(),
                )
            }
        };
        // Extensions must not shadow the members RFC 9457 defines.
        for reserved in ["type", "title", "status", "detail", "instance"] {
            extensions.remove(reserved);
        }
        let problem = Problem {
            problem_type: type_uri(code),
            title: code.title().to_owned(),
            status: status.as_u16(),
            detail,
            extensions,
        };
        let mut response = HttpResponse::build(status);
        response.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match code {
            Code::Unauthenticated | Code::InvalidToken | Code::InvalidCredentials => {
                response
                    .insert_header((header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer")));
            }
            Code::TooManyRequests => {
                if let Some(secs) = problem
                    .extensions
                    .get("retry_after")
                    .and_then(Value::as_u64)
                {
                    response.insert_header((header::RETRY_AFTER, secs.to_string()));
                }
            }
            _ => {}
        }
        response.body(serde_json::to_string(&problem).unwrap_or_default())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// JSON bodies: syntax errors are 400, shape errors (unknown or missing
/// fields, wrong types) 422, too large 413, wrong content type 415.
pub fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let error = match &err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => Error::refused(
            Code::PayloadTooLarge,
            format!("the JSON body exceeds the limit of {limit} bytes"),
        )
        .with("limit", *limit),
        JsonPayloadError::ContentType => Error::refused(
            Code::UnsupportedMediaType,
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => {
            Error::refused(Code::InvalidBody, e.to_string())
        }
        JsonPayloadError::Deserialize(e) => {
            Error::refused(Code::MalformedBody, format!("malformed JSON: {e}"))
        }
        JsonPayloadError::Serialize(_) => Error::Internal(err.to_string()),
        other => Error::refused(Code::MalformedBody, other.to_string()),
    };
    ApiError(error).into()
}

pub fn path_error(err: PathError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        PathError::Deserialize(e) => format!("invalid path parameter: {e}"),
        other => other.to_string(),
    };
    ApiError(Error::refused(Code::InvalidParameter, detail)).into()
}

pub fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let detail = match &err {
        QueryPayloadError::Deserialize(e) => format!("invalid query parameter: {e}"),
        other => other.to_string(),
    };
    ApiError(Error::refused(Code::InvalidParameter, detail)).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_a_client_or_server_status() {
        for code in Code::ALL {
            let status = status_of(*code);
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{code:?}"
            );
        }
    }
}
