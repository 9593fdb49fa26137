//! The HTTP gateway: routing, authentication, request ids, tracing, limits
//! and problem documents. It calls typed service functions and never SQL.

pub mod address;
pub mod auth;
mod dsp_sender;
mod extract;
pub mod metrics;
pub mod openapi;
pub mod portal;
pub mod problem;
mod public_answers;
mod respond;
mod routes;
mod routes_table;

use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServerHandle, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Condition, Next, from_fn};
use actix_web::{App, HttpMessage, HttpServer, web};
use tracing_actix_web::{RequestId, TracingLogger};
use utoipa_actix_web::AppExt;

use crate::market::Market;

/// A server bound to its address and running.
pub struct RunningServer {
    pub addr: SocketAddr,
    pub handle: ServerHandle,
    pub server: Server,
    /// The Dataspace Protocol's sender of this instance.
    pub dataspace: tokio::task::JoinHandle<()>,
}

/// Binds the configured address (port 0 picks a free port) and starts the
/// workers. The returned `server` future completes on shutdown.
pub fn start(market: Market) -> std::io::Result<RunningServer> {
    let addr = market
        .settings
        .bind_addr()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    let listener = TcpListener::bind(addr)?;
    start_on(market, listener)
}

/// Starts serving on an already bound listener.
pub fn start_on(market: Market, listener: TcpListener) -> std::io::Result<RunningServer> {
    let addr = listener.local_addr()?;
    let settings = market.settings.clone();
    let api = openapi::document_for(&settings);
    let shared = Shared {
        routes: web::Data::new(routes_table::RouteTable::new(&api)),
        api,
        metrics: web::Data::new(metrics::Metrics::new()),
        tokens: web::Data::new(auth::TokenCache::default()),
        public_answers: web::Data::new(public_answers::PublicAnswers::new(
            settings.server.public_answers_bytes,
        )),
    };
    let sender = market.clone();
    let data = web::Data::new(market);
    // A streamed payload goes out as headers, then body chunks: with Nagle's
    // algorithm on, the second small write waits for the client's delayed
    // ACK (40 ms on Linux), which capped a 4 KiB delivery at ~25 per second
    // per connection (docs/performance.md, Delivery).
    let mut server = HttpServer::new(move || app(data.clone(), shared.clone()))
        .tcp_nodelay(true)
        .listen(listener)?
        .shutdown_timeout(settings.server.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_secs(
            settings.server.client_request_timeout_secs,
        ));
    if settings.server.workers > 0 {
        server = server.workers(settings.server.workers);
    }
    let server = server.run();
    Ok(RunningServer {
        addr,
        handle: server.handle(),
        server,
        dataspace: dsp_sender::spawn(sender),
    })
}

/// What all workers of one server share.
#[derive(Clone)]
pub struct Shared {
    pub api: utoipa::openapi::OpenApi,
    pub routes: web::Data<routes_table::RouteTable>,
    pub metrics: web::Data<metrics::Metrics>,
    pub tokens: web::Data<auth::TokenCache>,
    pub public_answers: web::Data<public_answers::PublicAnswers>,
}

/// The whole application: middleware, extractor configuration, every route.
pub fn app(
    market: web::Data<Market>,
    shared: Shared,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let limits = &market.settings.limits;
    let cors = cors(&market.settings.cors.allowed_origins);
    let json = web::JsonConfig::default()
        .limit(limits.json_body_bytes)
        .error_handler(problem::json_error);
    let (app, _) = App::new()
        .into_utoipa_app()
        .app_data(market.clone())
        .app_data(json)
        .app_data(web::PayloadConfig::new(limits.json_body_bytes))
        .app_data(web::PathConfig::default().error_handler(problem::path_error))
        .app_data(web::QueryConfig::default().error_handler(problem::query_error))
        .app_data(web::Data::new(routes::system::OpenApiJson::new(
            &shared.api,
        )))
        .app_data(shared.routes)
        .app_data(shared.metrics)
        .app_data(shared.tokens)
        .app_data(shared.public_answers)
        // Before the /api/v1 scope, which would otherwise swallow the path.
        .route(
            "/api/v1/openapi.json",
            web::get().to(routes::system::openapi_json),
        )
        .configure(routes::configure)
        .split_for_parts();
    app.service(routes::swagger_ui())
        // A form holds at most a 20,000-character description, each
        // character up to nine bytes once percent-encoded.
        .app_data(web::FormConfig::default().limit(256 * 1024))
        .configure(portal::configure)
        .default_service(web::to(routes::system::unrouted))
        .wrap(Condition::new(cors.is_some(), cors.unwrap_or_default()))
        .wrap(from_fn(metrics::record))
        .wrap(from_fn(request_id_header))
        .wrap(from_fn(security_headers))
        .wrap(TracingLogger::default())
}

/// Cross-origin access for the configured browser origins; none = off.
fn cors(origins: &[String]) -> Option<actix_cors::Cors> {
    if origins.is_empty() {
        return None;
    }
    let cors = origins
        .iter()
        .fold(actix_cors::Cors::default(), |cors, origin| {
            cors.allowed_origin(origin)
        })
        .allowed_methods(["GET", "POST", "PATCH", "PUT", "DELETE"])
        .allowed_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            header::RANGE,
            header::HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([
            header::HeaderName::from_static("x-request-id"),
            header::HeaderName::from_static("audit-index"),
            header::ETAG,
            header::CONTENT_RANGE,
        ])
        .max_age(3600);
    Some(cors)
}

/// Headers every response carries: no sniffing, no framing, no caching of
/// authenticated answers, no referrer leaks, and a content policy that lets
/// nothing run, except the documentation UI's own scripts under /docs.
async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let path = req.path();
    let policy = if path.starts_with("/docs") {
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
    } else if path.starts_with("/api/") || path.starts_with("/.well-known/") {
        "default-src 'none'; frame-ancestors 'none'"
    } else {
        // The portal: its own stylesheet, forms posted to itself only.
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    };
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CONTENT_SECURITY_POLICY, policy),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

/// Echoes the request id the tracing middleware gave the request, so a
/// client can quote it and an operator can find the log lines.
async fn request_id_header(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let id = req.extensions().get::<RequestId>().map(|id| id.to_string());
    let mut res = next.call(req).await?;
    if let Some(id) = id.and_then(|id| HeaderValue::from_str(&id).ok()) {
        res.headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), id);
    }
    Ok(res)
}

/// The market's public base URL, for links in documents others keep (the
/// DCAT-AP catalog, the Dataspace Protocol's data addresses).
pub(crate) struct PublicBase {
    pub url: String,
    /// Taken from the request, as `server.public_url` is not set: then it
    /// is only as good as the request's `Host`, and not to be cached for
    /// others.
    pub from_request: bool,
}

/// `server.public_url`, or else the scheme and `Host` this request came to —
/// never `Forwarded` or `X-Forwarded-*`, which any client sets. A `Host`
/// that does not make a URL is refused (400).
pub(crate) fn public_base(
    market: &Market,
    req: &actix_web::HttpRequest,
) -> Result<PublicBase, crate::error::Error> {
    let configured = market.settings.server.public_url.trim_end_matches('/');
    if !configured.is_empty() {
        return Ok(PublicBase {
            url: configured.to_owned(),
            from_request: false,
        });
    }
    let refused = || {
        crate::error::Error::refused(
            crate::error::Code::InvalidParameter,
            "the Host header does not name a host",
        )
        .with("parameter", "Host")
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .ok_or_else(refused)?;
    let scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    let url = format!("{scheme}://{host}");
    match reqwest::Url::parse(&url) {
        Ok(parsed) if parsed.host_str().is_some() && parsed.path() == "/" => Ok(PublicBase {
            url,
            from_request: true,
        }),
        _ => Err(refused()),
    }
}

/// The page size a list request asked for, within the configured bounds.
pub(crate) fn page_size(market: &Market, requested: Option<u32>) -> problem::ApiResult<u32> {
    let limits = &market.settings.limits;
    match requested {
        None => Ok(limits.page_size_default),
        Some(n) if (1..=limits.page_size_max).contains(&n) => Ok(n),
        Some(_) => Err(problem::ApiError(
            crate::error::Error::refused(
                crate::error::Code::InvalidParameter,
                format!("limit must be between 1 and {}", limits.page_size_max),
            )
            .with("parameter", "limit"),
        )),
    }
}
