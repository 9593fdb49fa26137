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
        let huge = format!("{{\"title\": \"{}\"}}", "x".repeat(100_000));
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
    }
}
