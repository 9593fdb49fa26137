//! Building successful responses, so that every state change answers alike:
//! the resource, and the audit indexes that record the change.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
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
