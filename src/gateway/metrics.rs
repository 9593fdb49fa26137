//! Prometheus metrics (OpenMetrics text at `GET /metrics`): requests and
//! their latency per route and status, connection pool use, the audit log's
//! size, deliveries and bytes delivered. Each instance reports its own.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The matched route pattern, e.g. `/api/v1/datasets/{id}`, so that ids
    /// do not multiply the series.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
pub enum Outcome {
    Completed,
    Refused,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeliveryLabels {
    pub outcome: Outcome,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to ~16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestLabels, Histogram, fn() -> Histogram>,
    deliveries: Family<DeliveryLabels, Counter>,
    delivered_bytes: Counter,
    pool_connections: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    audit_log_size: Gauge,
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("datamarket");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            latency_histogram,
        );
        let deliveries = Family::<DeliveryLabels, Counter>::default();
        let delivered_bytes = Counter::<u64, AtomicU64>::default();
        let pool_connections = Gauge::default();
        let pool_idle = Gauge::default();
        let pool_max = Gauge::default();
        let audit_log_size = Gauge::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to produce the response head",
            latency.clone(),
        );
        registry.register(
            "deliveries",
            "Payload deliveries under a grant",
            deliveries.clone(),
        );
        registry.register(
            "delivered_bytes",
            "Payload bytes delivered under grants",
            delivered_bytes.clone(),
        );
        registry.register(
            "db_pool_connections",
            "Open database connections",
            pool_connections.clone(),
        );
        registry.register(
            "db_pool_idle_connections",
            "Idle database connections",
            pool_idle.clone(),
        );
        registry.register(
            "db_pool_max_connections",
            "Configured pool size",
            pool_max.clone(),
        );
        registry.register(
            "audit_log_entries",
            "Entries in the audit log",
            audit_log_size.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            deliveries,
            delivered_bytes,
            pool_connections,
            pool_idle,
            pool_max,
            audit_log_size,
        }
    }

    pub fn delivered(&self, bytes: u64) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                outcome: Outcome::Completed,
            })
            .inc();
        self.delivered_bytes.inc_by(bytes);
    }

    pub fn refused(&self) {
        self.deliveries
            .get_or_create(&DeliveryLabels {
                outcome: Outcome::Refused,
            })
            .inc();
    }

    /// The exposition, with the gauges read now.
    pub fn render(&self, pool: (u32, u32), pool_max: u32, audit_size: i64) -> String {
        self.pool_connections.set(i64::from(pool.0));
        self.pool_idle.set(i64::from(pool.1));
        self.pool_max.set(i64::from(pool_max));
        self.audit_log_size.set(audit_size);
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Counts and times every request by its route pattern.
pub async fn record(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = req.method().to_string();
    let res = next.call(req).await?;
    if let Some(metrics) = metrics {
        let labels = RequestLabels {
            route: res
                .request()
                .match_pattern()
                .unwrap_or_else(|| "unmatched".to_owned()),
            method,
            status: res.status().as_u16(),
        };
        metrics.requests.get_or_create(&labels).inc();
        metrics
            .latency
            .get_or_create(&labels)
            .observe(started.elapsed().as_secs_f64());
    }
    Ok(res)
}
