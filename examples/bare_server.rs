//! The yardstick for `bench/ratios`: a bare actix-web server on the same
//! runtime settings as the market (TCP_NODELAY, one worker per core), that
//! answers from memory: `GET /json` a dataset-sized JSON document, `GET
//! /bytes` 4 KiB of payload. Nothing else happens per request, so the ratio
//! of the market's throughput to this one's is what the market's own work
//! costs.
//!
//! Run: `cargo run --release --example bare_server -- 127.0.0.1:9090`

use actix_web::{App, HttpResponse, HttpServer, web};

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9090".into());
    let json = web::Bytes::from(
        serde_json::json!({
            "id": "019a0000-0000-7000-8000-000000000000",
            "provider": "019a0000-0000-7000-8000-000000000001",
            "title": "城市交通流量",
            "description": "Hourly vehicle counts at 1,200 intersections",
            "tags": ["traffic", "交通"],
            "classification": "general",
            "personal_data": false,
            "license": "CC-BY-4.0",
            "price": {"amount": 9900, "currency": "CNY"},
            "status": "listed",
            "review": null,
            "latest_version": 1,
            "created_at": "2026-11-29T00:00:00.000000Z",
            "updated_at": "2026-11-29T00:00:00.000000Z",
            "listed_at": "2026-11-29T00:00:00.000000Z",
            "inherited_classification": null,
            "inherited_personal_data": false,
        })
        .to_string(),
    );
    let bytes = web::Bytes::from(
        (0..4096)
            .map(|i| b"intersection,hour,vehicles\n"[i % 27])
            .collect::<Vec<u8>>(),
    );
    HttpServer::new(move || {
        let json = json.clone();
        let bytes = bytes.clone();
        App::new()
            .route(
                "/json",
                web::get().to(move || {
                    let json = json.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type("application/json")
                            .body(json)
                    }
                }),
            )
            .route(
                "/bytes",
                web::get().to(move || {
                    let bytes = bytes.clone();
                    async move { HttpResponse::Ok().content_type("text/csv").body(bytes) }
                }),
            )
    })
    .tcp_nodelay(true)
    .bind(addr)?
    .run()
    .await
}
