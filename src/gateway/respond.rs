//! Building successful responses, so that every state change answers alike:
//! the resource, and the audit indexes that record the change.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::audit::Recorded;

/// The header naming the audit log indexes a state change wrote.
pub const AUDIT_INDEX: &str = "Audit-Index";

fn with_audit<T: Serialize>(
    status: StatusCode,
    recorded: Recorded<T>,
    location: Option<String>,
) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    let indexes = recorded
        .audit_indexes
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(", ");
    if !indexes.is_empty() {
        response.insert_header((AUDIT_INDEX, indexes));
    }
    if let Some(location) = location {
        response.insert_header((header::LOCATION, location));
    }
    response.json(recorded.value)
}

/// 201 with `Location` and `Audit-Index`.
pub fn created<T: Serialize>(location: String, recorded: Recorded<T>) -> HttpResponse {
    with_audit(StatusCode::CREATED, recorded, Some(location))
}

/// 200 with `Audit-Index`.
pub fn changed<T: Serialize>(recorded: Recorded<T>) -> HttpResponse {
    with_audit(StatusCode::OK, recorded, None)
}

/// Whether the request's `If-None-Match` names `etag` (or `*`).
pub fn matches_if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag))
}

/// 200 with the JSON document and a strong `ETag` of its bytes, or 304 when
/// the client already has exactly these bytes.
pub fn json_with_etag<T: Serialize>(req: &HttpRequest, value: &T) -> HttpResponse {
    let body = match serde_json::to_vec(value) {
        Ok(body) => body,
        Err(e) => {
            use actix_web::ResponseError;
            return crate::gateway::problem::ApiError(crate::error::Error::Internal(e.to_string()))
                .error_response();
        }
    };
    with_etag(req, "application/json", body)
}

/// The strong `ETag` of a body: its SHA-256, shortened to 128 bits.
pub fn etag_of(body: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    format!("\"{}\"", hex::encode(&Sha256::digest(body)[..16]))
}

/// 200 with `body` as `content_type` and a strong `ETag` of its bytes, or
/// 304 when the client already has exactly these bytes.
pub fn with_etag(req: &HttpRequest, content_type: &str, body: Vec<u8>) -> HttpResponse {
    let etag = etag_of(&body);
    with_known_etag(req, content_type, etag, Bytes::from(body))
}

/// [`with_etag`] for a body whose `ETag` was computed before (a kept
/// answer's).
pub fn with_known_etag(
    req: &HttpRequest,
    content_type: &str,
    etag: String,
    body: Bytes,
) -> HttpResponse {
    // Public documents may be revalidated by caches; the ETag makes that
    // a 304 instead of the whole body.
    if matches_if_none_match(req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::ETAG, etag))
        .content_type(content_type.to_owned())
        .body(body)
}
