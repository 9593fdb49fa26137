//! Events: webhooks and their delivery logs, the event feed, and the event
//! stream (Server-Sent Events).

use std::time::{Duration, Instant};

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, delete, get, post, web};
use bytes::Bytes;
use serde::Deserialize;
use uuid::Uuid;

use crate::error::{Code, Error};
use crate::events::feed::{self, EventPage};
use crate::events::webhooks::{
    self, Delivery, DeliveryPage, DeliveryState, NewWebhook, RegisteredWebhook, Webhook,
    WebhookPage,
};
use crate::events::{EventType, parse_event_id};
use crate::gateway::auth::{Caller, token_expiry};
use crate::gateway::page_size;
use crate::gateway::problem::{ApiError, ApiResult, Problem};
use crate::gateway::respond::{changed, created};
use crate::market::Market;

/// How often an idle stream sends a comment, so that proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Register a webhook (any account): events of the named types that
/// concern you (or that are public news of the catalog) are POSTed to the
/// URL, signed per Standard Webhooks with the secret this answer shows once.
#[utoipa::path(tag = "events", request_body = NewWebhook, security(("bearer" = [])), responses(
    (status = 201, body = RegisteredWebhook, headers(("Audit-Index" = String, description = "audit log index of the registration"))),
    (status = 400, description = "malformed-body", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: too many webhooks", body = Problem, content_type = "application/problem+json"),
    (status = 413, description = "payload-too-large", body = Problem, content_type = "application/problem+json"),
    (status = 415, description = "unsupported-media-type", body = Problem, content_type = "application/problem+json"),
    (status = 422, description = "invalid-body, validation-failed: a URL that is not http(s), carries credentials or points at a private network; no event type", body = Problem, content_type = "application/problem+json"),
))]
#[post("/webhooks")]
pub async fn register(
    market: web::Data<Market>,
    caller: Caller,
    body: web::Json<NewWebhook>,
) -> ApiResult<HttpResponse> {
    let recorded = webhooks::register(&market, &caller.0, body.into_inner()).await?;
    Ok(created(
        format!("/api/v1/webhooks/{}", recorded.value.webhook.id),
        recorded,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Your webhooks, newest first.
#[utoipa::path(tag = "events", params(PageParams), security(("bearer" = [])), responses(
    (status = 200, body = WebhookPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
))]
#[get("/webhooks")]
pub async fn list(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<PageParams>,
) -> ApiResult<web::Json<WebhookPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    Ok(web::Json(
        webhooks::list(&market, &caller.0, limit, p.cursor).await?,
    ))
}

/// One of your webhooks.
#[utoipa::path(tag = "events", security(("bearer" = [])), responses(
    (status = 200, body = Webhook),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such webhook of yours", body = Problem, content_type = "application/problem+json"),
))]
#[get("/webhooks/{id}")]
pub async fn get(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<web::Json<Webhook>> {
    Ok(web::Json(webhooks::get(&market, &caller.0, *id).await?))
}

/// Remove one of your webhooks: nothing more is sent to it, and what was
/// still to be sent is given up (its deliveries show as failed).
#[utoipa::path(tag = "events", security(("bearer" = [])), responses(
    (status = 200, body = Webhook, headers(("Audit-Index" = String, description = "audit log index of the removal"))),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such webhook of yours", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: removed already", body = Problem, content_type = "application/problem+json"),
))]
#[delete("/webhooks/{id}")]
pub async fn remove(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
) -> ApiResult<HttpResponse> {
    Ok(changed(webhooks::remove(&market, &caller.0, *id).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveryParams {
    pub state: Option<DeliveryState>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// A webhook's delivery log, newest first: each event sent to it, where it
/// stands, and every attempt with the receiver's answer.
#[utoipa::path(tag = "events", params(DeliveryParams), security(("bearer" = [])), responses(
    (status = 200, body = DeliveryPage),
    (status = 400, description = "invalid-parameter, invalid-cursor", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such webhook of yours", body = Problem, content_type = "application/problem+json"),
))]
#[get("/webhooks/{id}/deliveries")]
pub async fn deliveries(
    market: web::Data<Market>,
    caller: Caller,
    id: web::Path<Uuid>,
    params: web::Query<DeliveryParams>,
) -> ApiResult<web::Json<DeliveryPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    Ok(web::Json(
        webhooks::deliveries(&market, &caller.0, *id, p.state, limit, p.cursor).await?,
    ))
}

/// Send a delivered or failed delivery again, now (with the same
/// `webhook-id`, so a receiver that has it already can tell).
#[utoipa::path(tag = "events", security(("bearer" = [])), responses(
    (status = 200, body = Delivery, headers(("Audit-Index" = String, description = "audit log index of the request"))),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 404, description = "not-found: no such webhook of yours, or no such delivery of it", body = Problem, content_type = "application/problem+json"),
    (status = 409, description = "invalid-state: the delivery is pending, or the webhook removed", body = Problem, content_type = "application/problem+json"),
))]
#[post("/webhooks/{id}/deliveries/{delivery}/redeliver")]
pub async fn redeliver(
    market: web::Data<Market>,
    caller: Caller,
    path: web::Path<(Uuid, Uuid)>,
) -> ApiResult<HttpResponse> {
    let (id, delivery) = path.into_inner();
    Ok(changed(
        webhooks::redeliver(&market, &caller.0, id, delivery).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct FeedParams {
    /// The log position to read from (0: the beginning).
    pub from: Option<u64>,
    /// Event types, comma-separated (default: all).
    pub types: Option<String>,
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u32>,
}

/// The events that concern you, read from a log position on: for a client
/// that was away to catch up (continue from `next_from`). The same events
/// as the stream and the webhooks.
#[utoipa::path(tag = "events", params(FeedParams), security(("bearer" = [])), responses(
    (status = 200, body = EventPage),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "account-suspended", body = Problem, content_type = "application/problem+json"),
))]
#[get("/events")]
pub async fn list_events(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<FeedParams>,
) -> ApiResult<web::Json<EventPage>> {
    let p = params.into_inner();
    let limit = page_size(&market, p.limit)?;
    let types = EventType::parse_list(p.types.as_deref().unwrap_or(""))?;
    let from = log_position(p.from)?.unwrap_or(0);
    Ok(web::Json(
        feed::read(&market, &caller.0, from, types, limit).await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StreamParams {
    /// The log position to start from; default: now. A `Last-Event-ID`
    /// header (a reconnecting client's) starts after that event instead.
    pub from: Option<u64>,
    /// Event types, comma-separated (default: all).
    pub types: Option<String>,
}

/// The events that concern you as they happen, as Server-Sent Events:
/// each with `id: evt_<audit index>`, `event: <type>` and the event as
/// `data`. It stays open (a comment every 15 seconds when idle) until you
/// close it, the account is suspended or the token expires; each of the
/// last two ends it with an `error` event.
#[utoipa::path(tag = "events", params(StreamParams), security(("bearer" = [])), responses(
    (status = 200, description = "an endless text/event-stream", content_type = "text/event-stream"),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "account-suspended", body = Problem, content_type = "application/problem+json"),
))]
#[get("/events/stream")]
pub async fn event_stream(
    req: HttpRequest,
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<StreamParams>,
) -> ApiResult<HttpResponse> {
    let p = params.into_inner();
    let types = EventType::parse_list(p.types.as_deref().unwrap_or(""))?;
    let from = match last_event_id(&req)? {
        Some(index) => index.checked_add(1).ok_or_else(|| {
            ApiError(
                Error::refused(Code::InvalidParameter, "Last-Event-ID is beyond any log")
                    .with("parameter", "Last-Event-ID"),
            )
        })?,
        None => match log_position(p.from)? {
            Some(from) => from,
            None => feed::end(&market).await?,
        },
    };
    let expires = token_expiry(&req, &market)?;
    // Refused now, as a problem, rather than as an empty stream.
    let first = feed::read(&market, &caller.0, from, types.clone(), 100).await?;
    let market = market.into_inner();
    let poll = Duration::from_millis(market.settings.events.stream_poll_ms);
    let state = Stream {
        market,
        actor: caller.0,
        expires,
        types,
        first: Some(first),
        from,
        idle_since: Instant::now(),
        opened: false,
        done: false,
    };
    let body = futures_util::stream::unfold(state, move |mut state| async move {
        let chunk = state.next(poll).await?;
        Some((Ok::<Bytes, actix_web::Error>(chunk), state))
    });
    Ok(HttpResponse::Ok()
        .content_type("text/event-stream")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("X-Accel-Buffering", "no"))
        .streaming(body))
}

/// A log position as a query names it: the log's indexes are signed 64-bit
/// in the store, so anything above is no position.
fn log_position(from: Option<u64>) -> Result<Option<u64>, ApiError> {
    match from {
        Some(from) if from > i64::MAX as u64 => Err(ApiError(
            Error::refused(Code::InvalidParameter, "from is beyond any log position")
                .with("parameter", "from"),
        )),
        from => Ok(from),
    }
}

/// The `Last-Event-ID` a reconnecting client sends (`evt_<index>`).
fn last_event_id(req: &HttpRequest) -> Result<Option<u64>, ApiError> {
    let Some(value) = req.headers().get("last-event-id") else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(parse_event_id)
        .map(Some)
        .ok_or_else(|| {
            ApiError(
                Error::refused(
                    Code::InvalidParameter,
                    "Last-Event-ID must be an event id this stream sent (evt_<index>)",
                )
                .with("parameter", "Last-Event-ID"),
            )
        })
}

/// Where an open stream stands.
struct Stream {
    market: std::sync::Arc<Market>,
    actor: crate::domain::Actor,
    /// When the token the stream was opened with expires (Unix seconds).
    expires: i64,
    types: Vec<EventType>,
    first: Option<EventPage>,
    from: u64,
    idle_since: Instant,
    opened: bool,
    done: bool,
}

impl Stream {
    /// The next chunk to send: events, a keep-alive comment, or the end.
    async fn next(&mut self, poll: Duration) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if !self.opened {
            // Sent at once, so the client knows the stream is open, and how
            // soon to come back (with Last-Event-ID) if it drops.
            self.opened = true;
            return Some(Bytes::from_static(b"retry: 3000\n\n"));
        }
        loop {
            if chrono::Utc::now().timestamp() >= self.expires {
                self.done = true;
                return Some(Bytes::from_static(
                    b"event: error\ndata: {\"detail\":\"the access token expired: open the stream again with a new one\"}\n\n",
                ));
            }
            let page = match self.first.take() {
                Some(page) => page,
                None => {
                    match feed::read(
                        &self.market,
                        &self.actor,
                        self.from,
                        self.types.clone(),
                        100,
                    )
                    .await
                    {
                        Ok(page) => page,
                        Err(e) => {
                            // A suspension (or a failing store) ends the
                            // stream with a last word the client can read.
                            self.done = true;
                            let data = serde_json::json!({ "detail": e.to_string() });
                            return Some(Bytes::from(format!("event: error\ndata: {data}\n\n")));
                        }
                    }
                }
            };
            self.from = page.next_from;
            if !page.items.is_empty() {
                self.idle_since = Instant::now();
                let mut chunk = String::new();
                for event in &page.items {
                    let data = serde_json::to_string(event).unwrap_or_default();
                    chunk.push_str(&format!(
                        "id: {}\nevent: {}\ndata: {data}\n\n",
                        event.id,
                        event.event_type.as_str()
                    ));
                }
                return Some(Bytes::from(chunk));
            }
            if !page.caught_up {
                continue;
            }
            if self.idle_since.elapsed() >= KEEP_ALIVE {
                self.idle_since = Instant::now();
                return Some(Bytes::from_static(b": keep-alive\n\n"));
            }
            tokio::time::sleep(poll).await;
        }
    }
}
