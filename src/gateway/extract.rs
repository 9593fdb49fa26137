//! Extractors the framework lacks.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest, web};
use serde::de::DeserializeOwned;

use crate::error::{Code, Error};
use crate::gateway::problem::ApiError;

/// A JSON body that may be left out entirely. Unlike `Option<Json<T>>`,
/// a body that is present but wrong is refused, never silently dropped.
pub struct OptionalJson<T>(pub Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req
            .app_data::<web::Data<crate::market::Market>>()
            .map_or(65_536, |m| m.settings.limits.json_body_bytes);
        let content_type_ok = req.content_type().is_empty()
            || req
                .mime_type()
                .ok()
                .flatten()
                .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await.map_err(|_| {
                ApiError(
                    Error::refused(
                        Code::PayloadTooLarge,
                        format!("the JSON body exceeds the limit of {limit} bytes"),
                    )
                    .with("limit", limit),
                )
            })?;
            if bytes.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(None));
            }
            if bytes.len() > limit {
                return Err(ApiError(Error::refused(
                    Code::PayloadTooLarge,
                    format!("the JSON body exceeds the limit of {limit} bytes"),
                ))
                .into());
            }
            if !content_type_ok {
                return Err(ApiError::new(
                    Code::UnsupportedMediaType,
                    "send the body as application/json",
                )
                .into());
            }
            // `null` is as good as no body at all.
            serde_json::from_slice::<Option<T>>(&bytes)
                .map(OptionalJson)
                .map_err(|e| {
                    let code = if e.is_data() {
                        Code::InvalidBody
                    } else {
                        Code::MalformedBody
                    };
                    ApiError::new(code, e.to_string()).into()
                })
        })
    }
}
