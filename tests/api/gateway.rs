//! What every endpoint shares: problem documents, limits, headers, probes.

use serde_json::json;

use crate::support::*;

both_backends! {
    async fn malformed_input_is_a_problem_not_a_crash(app: TestApp) {
        let acme = app.provider("acme").await;
        let send = |body: &'static str, content_type: &'static str| {
            let app = &app;
            let token = acme.token.clone();
            async move {
                let reply = app.client.post(app.url("/api/v1/datasets")).bearer_auth(token)
                    .header("content-type", content_type).body(body).send().await.unwrap();
                TestApp::read(reply).await
            }
        };
        send("{\"title\": ", "application/json").await.problem(400, "malformed-body");
        send("not json at all", "application/json").await.problem(400, "malformed-body");
        send("{\"title\": 5}", "application/json").await.problem(422, "invalid-body");
        send("[]", "application/json").await.problem(422, "invalid-body");
        send("{}", "text/plain").await.problem(415, "unsupported-media-type");
        let huge = format!("{{\"title\": \"{}\"}}", "x".repeat(300_000));
        let reply = app.client.post(app.url("/api/v1/datasets")).bearer_auth(&acme.token)
            .header("content-type", "application/json").body(huge).send().await.unwrap();
        TestApp::read(reply).await.problem(413, "payload-too-large");
        app.get("/api/v1/no-such-thing", None).await.problem(404, "not-found");
        app.get("/nowhere", None).await.problem(404, "not-found");
        app.get("/api/v1/audit/entries?after=-1", Some(&acme.token)).await.problem(400, "invalid-parameter");
        // the server is still fine
        app.get("/health", None).await.expect(200);
    }

    async fn probes_headers_and_documents(app: TestApp) {
        let health = app.get("/health", None).await;
        health.expect(200);
        assert_eq!(health.body, json!({"status": "ok"}));
        app.get("/ready", None).await.expect(200);
        let request_id = health.header("x-request-id").expect("request id");
        assert!(uuid::Uuid::parse_str(request_id).is_ok());
        assert_eq!(health.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(health.header("x-frame-options"), Some("DENY"));
        assert!(health.header("content-security-policy").is_some());

        let doc = app.get("/api/v1/openapi.json", None).await;
        doc.expect(200);
        assert!(doc.body["openapi"].as_str().unwrap().starts_with("3.1"));
        assert!(doc.body["paths"]["/api/v1/datasets"]["get"].is_object());
        app.get("/docs/", None).await.expect(200);

        let problem = app.get("/problems/core-data-not-tradable", None).await;
        problem.expect(200);
        assert_eq!(problem.body["status"], 422);
        app.get("/problems/no-such-problem", None).await.problem(404, "not-found");

        // a known path with a method it does not take
        let wrong = app.call(reqwest::Method::DELETE, "/api/v1/datasets", None, None).await;
        wrong.problem(405, "method-not-allowed");
        assert_eq!(wrong.header("allow"), Some("GET, POST"));
        let wrong = app
            .call(reqwest::Method::PUT, &format!("/api/v1/datasets/{}/versions/1/content", uuid::Uuid::now_v7()), None, None)
            .await;
        wrong.problem(405, "method-not-allowed");
        assert_eq!(wrong.header("allow"), Some("GET"));
    }
}

mod throttling {
    use super::*;

    fn tight() -> Tweak {
        Box::new(|s| {
            s.throttle.failures_per_account = 3;
            s.throttle.failures_per_address = 6;
            s.throttle.window_secs = 600;
        })
    }

    async fn case(app: TestApp) {
        app.provider("alice").await;
        for _ in 0..3 {
            app.token("alice", "not-the-password")
                .await
                .problem(401, "invalid-credentials");
        }
        let locked = app.token("alice", "not-the-password").await;
        locked.problem(429, "too-many-requests");
        let retry: u64 = locked
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!((1..=600).contains(&retry), "{retry}");
        // the right password does not get through a lock
        app.token("alice", PASSWORD)
            .await
            .problem(429, "too-many-requests");
        // another account is not locked by alice's failures...
        app.provider("bob").await;
        app.token("bob", PASSWORD).await.expect(200);
        // ...but one address guessing at many names is
        for name in ["carol", "dave"] {
            app.token(name, "guess-guess-guess")
                .await
                .problem(401, "invalid-credentials");
        }
        app.token("erin", "guess-guess-guess")
            .await
            .problem(429, "too-many-requests");
        app.token("bob", PASSWORD)
            .await
            .problem(429, "too-many-requests");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        case(TestApp::spawn_with(Backend::Sqlite, tight()).await.unwrap()).await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
    async fn postgres() {
        case(
            TestApp::spawn_with(Backend::Postgres, tight())
                .await
                .expect(NO_POSTGRES),
        )
        .await
    }
}

both_backends! {
    async fn metrics_report_requests_deliveries_and_the_log(app: TestApp) {
        let holder = app.provider("holder").await;
        let consumer = app.consumer("consumer").await;
        let dataset = app.listed_dataset(&holder, "Metered").await;
        let request = app.post("/api/v1/access-requests", Some(&consumer.token), json!({
            "dataset": dataset, "purpose": "p", "duration_days": 1, "max_downloads": 1,
            "processing": false, "cross_border": false})).await;
        request.expect(201);
        app.post(&format!("/api/v1/access-requests/{}/approve", request.id()), Some(&holder.token), json!({})).await.expect(200);
        let content = format!("/api/v1/datasets/{dataset}/versions/1/content");
        app.get(&content, Some(&consumer.token)).await.expect(200);
        app.get(&content, Some(&consumer.token)).await.problem(403, "grant-exhausted");
        app.get(&format!("/api/v1/datasets/{}", uuid::Uuid::now_v7()), None).await.expect(404);

        let metrics = app.get("/metrics", None).await;
        metrics.expect(200);
        assert!(metrics.header("content-type").unwrap().starts_with("application/openmetrics-text"));
        let text = String::from_utf8(metrics.bytes.to_vec()).unwrap();
        let line = |prefix: &str| -> f64 {
            text.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        assert_eq!(line(r#"datamarket_http_requests_total{route="/api/v1/datasets/{id}",method="GET",status="404"}"#), 1.0);
        assert_eq!(line(r#"datamarket_deliveries_total{outcome="Completed"}"#), 1.0);
        assert_eq!(line(r#"datamarket_deliveries_total{outcome="Refused"}"#), 1.0);
        assert_eq!(line("datamarket_delivered_bytes_total"), 22.0);
        assert_eq!(line("datamarket_audit_log_entries "), app.audit_size().await as f64);
        assert_eq!(line("datamarket_db_pool_max_connections "), app.settings.database.pool_size as f64);
        assert!(text.contains("datamarket_http_request_duration_seconds_bucket"));
    }

    async fn cors_is_off_by_default(app: TestApp) {
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/datasets"))
            .header("origin", "https://portal.example")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(preflight.headers().get("access-control-allow-origin").is_none());
    }
}

mod cors_configured {
    use super::*;

    fn with_origin() -> Tweak {
        Box::new(|s| s.cors.allowed_origins = vec!["https://portal.example".to_owned()])
    }

    async fn case(app: TestApp) {
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/datasets"))
            .header("origin", "https://portal.example")
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(preflight.status().is_success(), "{}", preflight.status());
        assert_eq!(
            preflight.headers()["access-control-allow-origin"],
            "https://portal.example"
        );
        let other = app
            .client
            .get(app.url("/api/v1/datasets"))
            .header("origin", "https://evil.example")
            .send()
            .await
            .unwrap();
        assert!(other.headers().get("access-control-allow-origin").is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        case(
            TestApp::spawn_with(Backend::Sqlite, with_origin())
                .await
                .unwrap(),
        )
        .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    #[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
    async fn postgres() {
        case(
            TestApp::spawn_with(Backend::Postgres, with_origin())
                .await
                .expect(NO_POSTGRES),
        )
        .await
    }
}
