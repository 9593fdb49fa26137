//! Public catalog answers kept between requests: search pages and listed
//! datasets, as the bytes and `ETag` that were sent. Each is kept with the
//! log reading taken before it was read ([`catalog::freshness`]) and served
//! again only while the log shows no change to the catalog after that
//! reading, so a kept answer is exactly what reading the database again
//! would give, on this instance or any other on the same database.

use std::future::Future;

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use crate::catalog::freshness::{Reading, Watermark};
use crate::error::Result;
use crate::market::Market;

use super::problem::ApiResult;
use super::respond::{etag_of, json_with_etag, with_known_etag};

#[derive(Clone)]
struct Kept {
    then: Reading,
    etag: String,
    body: Bytes,
}

#[derive(Clone)]
struct ByBytes;

impl quick_cache::Weighter<String, Kept> for ByBytes {
    fn weight(&self, key: &String, kept: &Kept) -> u64 {
        (key.len() + kept.etag.len() + kept.body.len() + 64) as u64
    }
}

/// The kept answers of one server (all its workers).
pub struct PublicAnswers {
    watermark: Watermark,
    /// None when `server.public_answers_bytes` is 0.
    kept: Option<quick_cache::sync::Cache<String, Kept, ByBytes>>,
}

impl PublicAnswers {
    pub fn new(capacity_bytes: u64) -> PublicAnswers {
        PublicAnswers {
            watermark: Watermark::default(),
            // A search page or a dataset is a few KiB.
            kept: (capacity_bytes > 0).then(|| {
                quick_cache::sync::Cache::with_weighter(
                    (capacity_bytes / 4096).max(16) as usize,
                    capacity_bytes,
                    ByBytes,
                )
            }),
        }
    }

    /// Answers with the kept answer for `key` when it still stands, else
    /// with what `read` reads, as JSON with a strong `ETag` (304 when the
    /// client has it); the answer is kept when `public` says it is the same
    /// for every caller.
    pub async fn answer<T, F>(
        &self,
        market: &Market,
        req: &HttpRequest,
        key: String,
        read: F,
        public: impl FnOnce(&T) -> bool,
    ) -> ApiResult<HttpResponse>
    where
        T: Serialize,
        F: Future<Output = Result<T>>,
    {
        let Some(kept) = &self.kept else {
            return Ok(json_with_etag(req, &read.await?));
        };
        let now = self.watermark.read(market).await?;
        if let Some(answer) = kept.get(&key)
            && now.still_stands(answer.then)
        {
            return Ok(respond(req, &answer));
        }
        let value = read.await?;
        let body = serde_json::to_vec(&value)
            .map_err(|e| crate::error::Error::Internal(format!("an answer as JSON: {e}")))?;
        let answer = Kept {
            then: now,
            etag: etag_of(&body),
            body: Bytes::from(body),
        };
        let response = respond(req, &answer);
        // A reading that already knows of a later change could never be
        // served again: keeping it would only push out answers that can.
        if public(&value) && now.still_stands(now) {
            kept.insert(key, answer);
        }
        Ok(response)
    }
}

fn respond(req: &HttpRequest, answer: &Kept) -> HttpResponse {
    with_known_etag(
        req,
        "application/json",
        answer.etag.clone(),
        answer.body.clone(),
    )
}
