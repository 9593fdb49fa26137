//! The audit log: entries and exports, signed tree heads, proofs.

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, web};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Deserialize;
use uuid::Uuid;

use crate::audit::{
    self, ConsistencyProof, EntryFilter, EntryPage, EntryStream, EntryView, InclusionProof,
    TreeHead,
};
use crate::error::Code;
use crate::gateway::auth::Caller;
use crate::gateway::problem::{ApiError, ApiResult, Problem};
use crate::market::Market;

/// A log index or size as a query parameter: the store counts in signed
/// 64-bit integers, so anything larger is refused rather than clamped.
fn log_position<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<u64>, D::Error> {
    match Option::<u64>::deserialize(deserializer)? {
        Some(n) if i64::try_from(n).is_err() => Err(serde::de::Error::custom(format!(
            "{n} is beyond the largest log position, {}",
            i64::MAX
        ))),
        other => Ok(other),
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntryParams {
    /// Entries with an index greater than this.
    #[serde(default, deserialize_with = "log_position")]
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    pub after: Option<u64>,
    /// Page size of the JSON page (exports are not paged).
    #[param(minimum = 1)]
    pub limit: Option<u32>,
    /// Entries with an index at least this.
    #[serde(default, deserialize_with = "log_position")]
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    pub start: Option<u64>,
    /// Entries with an index below this.
    #[serde(default, deserialize_with = "log_position")]
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    pub end: Option<u64>,
    /// Entries recorded at or after this instant (RFC 3339).
    pub since: Option<DateTime<Utc>>,
    /// Entries recorded before this instant (RFC 3339).
    pub until: Option<DateTime<Utc>>,
    /// The changed thing's id (dataset, account, version as `dataset/n`...).
    pub subject: Option<String>,
    /// The acting account.
    pub actor: Option<Uuid>,
    /// Entries whose actor or parties include this account. Accounts other
    /// than auditors and regulators must name themselves here.
    pub account: Option<Uuid>,
    /// e.g. `dataset.published`.
    pub action: Option<String>,
    /// Entries about this dataset.
    pub dataset: Option<Uuid>,
    /// `json` (a page, the default), `jsonl` or `csv` (streamed exports of
    /// every matching entry); overrides `Accept`.
    pub format: Option<String>,
}

/// The representations of the entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Json,
    /// JSON Lines, with the media type to answer with.
    JsonLines(&'static str),
    Csv,
}

const JSONL: &str = "application/jsonl";
const NDJSON: &str = "application/x-ndjson";
const CSV: &str = "text/csv; charset=utf-8";

/// The format a request asks for: `format=` if given, else the first media
/// range of `Accept` that one of them satisfies.
fn negotiate(format: Option<&str>, req: &HttpRequest) -> ApiResult<Format> {
    let not_acceptable = |what: &str| {
        ApiError::new(
            Code::NotAcceptable,
            format!(
                "{what}: the entries come as application/json, application/jsonl (or application/x-ndjson) and text/csv"
            ),
        )
    };
    if let Some(format) = format {
        return match format {
            "json" => Ok(Format::Json),
            "jsonl" | "ndjson" => Ok(Format::JsonLines(JSONL)),
            "csv" => Ok(Format::Csv),
            other => Err(not_acceptable(&format!("format={other}"))),
        };
    }
    let Some(accept) = req.headers().get(header::ACCEPT) else {
        return Ok(Format::Json);
    };
    let accept = accept.to_str().unwrap_or_default();
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        if parts.any(|p| p.replace(' ', "") == "q=0") {
            continue;
        }
        match media.as_str() {
            "application/json" | "application/*" | "*/*" => return Ok(Format::Json),
            "application/jsonl" => return Ok(Format::JsonLines(JSONL)),
            "application/x-ndjson" => return Ok(Format::JsonLines(NDJSON)),
            "text/csv" | "text/*" => return Ok(Format::Csv),
            _ => {}
        }
    }
    Err(not_acceptable(&format!("Accept: {accept}")))
}

/// The audit trail, filtered, in log order: a JSON page, or every matching
/// entry streamed as JSON Lines or CSV (auditors and regulators; other
/// accounts their own entries, with `account=<their id>`). Each entry
/// carries its canonical bytes, leaf hash, the stored subtree hashes its
/// append completed and the signed head of its size, for verifiers.
#[utoipa::path(tag = "audit", params(EntryParams), security(("bearer" = [])), responses(
    (status = 200, body = EntryPage, description = "a page (application/json), or a stream of entries (application/jsonl: one EntryView per line; text/csv: index,time,actor,action,dataset,subject,parties,leaf_hash,canonical)"),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs auditor or regulator, or account=<own id>", body = Problem, content_type = "application/problem+json"),
    (status = 406, description = "not-acceptable: unknown format or Accept", body = Problem, content_type = "application/problem+json"),
))]
#[get("/audit/entries")]
pub async fn entries(
    market: web::Data<Market>,
    caller: Caller,
    req: HttpRequest,
    params: web::Query<EntryParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let format = negotiate(p.format.as_deref(), &req)?;
    let filter = EntryFilter {
        after: p.after,
        limit: crate::gateway::page_size(&market, p.limit)?,
        subject: p.subject,
        actor: p.actor,
        account: p.account,
        action: p.action,
        dataset: p.dataset,
        since: p.since,
        until: p.until,
        start: p.start,
        end: p.end,
    };
    Ok(match format {
        Format::Json => HttpResponse::Ok().json(audit::list(&market.db, &caller.0, filter).await?),
        Format::JsonLines(media) => streamed(
            media,
            None,
            audit::export(&market.db, &caller.0, filter).await?,
            jsonl_line,
        ),
        Format::Csv => streamed(
            CSV,
            Some(CSV_HEADER),
            audit::export(&market.db, &caller.0, filter).await?,
            csv_line,
        ),
    })
}

/// A streamed export: each entry is encoded as it comes from the database.
fn streamed(
    media: &'static str,
    first_line: Option<&'static str>,
    stream: EntryStream,
    encode: fn(&EntryView) -> String,
) -> HttpResponse {
    let head = futures_util::stream::iter(first_line.map(|l| Ok(Bytes::from_static(l.as_bytes()))));
    let body = stream.map(move |entry| match entry {
        Ok(entry) => Ok(Bytes::from(encode(&entry))),
        Err(e) => {
            // The status line is gone; cutting the body short is all that is
            // left, and a verifier notices the missing entries.
            tracing::error!(error = %e, "audit export failed mid-stream");
            Err(ApiError(e))
        }
    });
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(media)))
        .streaming(head.chain(body))
}

fn jsonl_line(entry: &EntryView) -> String {
    let mut line = serde_json::to_string(entry).unwrap_or_default();
    line.push('\n');
    line
}

const CSV_HEADER: &str = "index,time,actor,action,dataset,subject,parties,leaf_hash,canonical\r\n";

/// An RFC 4180 record.
fn csv_line(entry: &EntryView) -> String {
    let fields = entry.fields.as_ref();
    let cells = [
        entry.index.to_string(),
        fields.map(|f| f.time.clone()).unwrap_or_default(),
        fields.and_then(|f| f.actor.clone()).unwrap_or_default(),
        fields.map(|f| f.action.clone()).unwrap_or_default(),
        fields.and_then(|f| f.dataset.clone()).unwrap_or_default(),
        fields.map(|f| f.subject.clone()).unwrap_or_default(),
        fields.map(|f| f.parties.join(" ")).unwrap_or_default(),
        entry.leaf_hash.clone(),
        entry.canonical.clone(),
    ];
    let mut line = cells
        .iter()
        .map(|cell| {
            if cell.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", cell.replace('"', "\"\""))
            } else {
                cell.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",");
    line.push_str("\r\n");
    line
}

/// The newest signed tree head as a C2SP checkpoint (any account).
#[utoipa::path(tag = "audit", security(("bearer" = [])), responses(
    (status = 200, description = "the signed note", body = String, content_type = "text/plain; charset=utf-8"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/audit/checkpoint")]
pub async fn checkpoint(market: web::Data<Market>, _caller: Caller) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(audit::checkpoint(&market.db).await?))
}

/// The newest signed tree head that a quorum of the market's witnesses
/// (`audit.witnesses`, `audit.witness_quorum`) cosigned, as a C2SP
/// checkpoint with their cosignature lines (C2SP tlog-cosignature) after
/// the log's signature (any account). Usually a little older than the
/// newest head: witnesses are asked every `audit.witness_interval_secs`.
#[utoipa::path(tag = "audit", security(("bearer" = [])), responses(
    (status = 200, description = "the signed note with the witnesses' cosignatures", body = String, content_type = "text/plain; charset=utf-8"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no head has a quorum of cosignatures yet (or no witness is configured)", body = Problem, content_type = "application/problem+json"),
))]
#[get("/audit/checkpoint/witnessed")]
pub async fn witnessed_checkpoint(
    market: web::Data<Market>,
    _caller: Caller,
) -> ApiResult<HttpResponse> {
    let witnesses = audit::configured_witnesses(&market.settings.audit)?;
    let note =
        audit::witnessed_checkpoint(&market.db, &witnesses, market.settings.audit.quorum()).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/plain; charset=utf-8")
        .body(note))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TreeHeadParams {
    /// The head of this size; default the newest.
    #[serde(default, deserialize_with = "log_position")]
    #[param(maximum = 9_223_372_036_854_775_807_u64)]
    pub size: Option<u64>,
}

/// A signed tree head as JSON: the newest, or the one of `size` (any
/// account).
#[utoipa::path(tag = "audit", params(TreeHeadParams), security(("bearer" = [])), responses(
    (status = 200, body = TreeHead),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no head was signed at that size", body = Problem, content_type = "application/problem+json"),
))]
#[get("/audit/tree-heads")]
pub async fn tree_heads(
    market: web::Data<Market>,
    _caller: Caller,
    params: web::Query<TreeHeadParams>,
) -> ApiResult<web::Json<TreeHead>> {
    Ok(web::Json(audit::tree_head(&market.db, params.size).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct InclusionParams {
    /// The entry's index.
    pub index: u64,
    /// The log size to prove against; default the newest signed head's.
    pub tree_size: Option<u64>,
}

/// Proof that an entry is in the log (auditors and regulators; other
/// accounts for entries they are a party to).
#[utoipa::path(tag = "audit", params(InclusionParams), security(("bearer" = [])), responses(
    (status = 200, body = InclusionProof),
    (status = 400, description = "invalid-proof-request: index not below tree_size, tree_size 0 or beyond the signed log; invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: not an entry the caller is a party to", body = Problem, content_type = "application/problem+json"),
))]
#[get("/audit/proofs/inclusion")]
pub async fn inclusion(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<InclusionParams>,
) -> ApiResult<web::Json<InclusionProof>> {
    Ok(web::Json(
        audit::inclusion_proof(&market.db, &caller.0, params.index, params.tree_size).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ConsistencyParams {
    /// The older log size (at least 1).
    pub first: u64,
    /// The newer log size; default the newest signed head's.
    pub second: Option<u64>,
}

/// Proof that the log of size `second` extends the log of size `first`
/// (any account).
#[utoipa::path(tag = "audit", params(ConsistencyParams), security(("bearer" = [])), responses(
    (status = 200, body = ConsistencyProof),
    (status = 400, description = "invalid-proof-request: first 0, first above second, second beyond the signed log; invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/audit/proofs/consistency")]
pub async fn consistency(
    market: web::Data<Market>,
    _caller: Caller,
    params: web::Query<ConsistencyParams>,
) -> ApiResult<web::Json<ConsistencyProof>> {
    Ok(web::Json(
        audit::consistency_proof(&market.db, params.first, params.second).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn accept(value: &str) -> ApiResult<Format> {
        negotiate(
            None,
            &TestRequest::default()
                .insert_header(("accept", value))
                .to_http_request(),
        )
    }

    #[test]
    fn negotiation() {
        assert_eq!(
            negotiate(None, &TestRequest::default().to_http_request()).unwrap(),
            Format::Json
        );
        assert_eq!(
            accept("application/x-ndjson").unwrap(),
            Format::JsonLines(NDJSON)
        );
        assert_eq!(accept("text/html, text/csv;q=0.5").unwrap(), Format::Csv);
        assert_eq!(accept("application/jsonl;q=0, */*").unwrap(), Format::Json);
        assert!(accept("text/html").is_err());
        let req = TestRequest::default()
            .insert_header(("accept", "text/html"))
            .to_http_request();
        assert_eq!(negotiate(Some("csv"), &req).unwrap(), Format::Csv);
        assert!(negotiate(Some("xml"), &req).is_err());
    }

    #[test]
    fn csv_quotes_what_needs_quoting() {
        let entry = EntryView {
            index: 3,
            fields: None,
            canonical: r#"{"a":"b,c"}"#.into(),
            leaf_hash: "00".into(),
            nodes: vec![],
            tree_head: None,
        };
        assert_eq!(
            csv_line(&entry),
            "3,,,,,,,00,\"{\"\"a\"\":\"\"b,c\"\"}\"\r\n"
        );
    }
}
