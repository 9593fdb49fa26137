//! Registration, tokens and the auth extractor.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use datamarket::domain::Role;
use serde_json::json;

use crate::support::*;

both_backends! {
    async fn registration_and_login(app: TestApp) {
        let before = app.audit_size().await;
        let reply = app
            .post(
                "/api/v1/accounts",
                None,
                json!({"name": "acme-data", "password": PASSWORD, "roles": ["provider", "consumer"],
                       "display_name": "Acme Data", "organization": "Acme Ltd."}),
            )
            .await;
        reply.expect(201);
        assert_eq!(reply.body["name"], "acme-data");
        assert_eq!(reply.body["roles"], json!(["provider", "consumer"]));
        assert!(reply.body.get("password").is_none() && reply.body.get("password_hash").is_none());
        assert_eq!(reply.header("location"), Some(format!("/api/v1/accounts/{}", reply.id()).as_str()));
        assert_eq!(reply.audit_indexes(), vec![before]);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["account.created"]);
        assert_eq!(entries[0]["subject"], reply.id().to_string());
        assert!(!entries[0].to_string().contains(PASSWORD), "no password in the audit log");

        let token = app.token("acme-data", PASSWORD).await;
        token.expect(200);
        assert_eq!(token.body["token_type"], "Bearer");
        assert_eq!(token.body["expires_in"], 3600);
        let jwt = token.body["access_token"].as_str().unwrap();
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap()).unwrap()).unwrap();
        assert_eq!(header["alg"], "EdDSA");
        let jwks = app.get("/.well-known/jwks.json", None).await;
        jwks.expect(200);
        assert_eq!(jwks.body["keys"][0]["kid"], header["kid"]);
        assert_eq!(jwks.body["keys"][0]["crv"], "Ed25519");

        let me = app.get("/api/v1/accounts/me", Some(jwt)).await;
        me.expect(200);
        assert_eq!(me.body["id"], reply.body["id"]);
        assert_eq!(me.body["organization"], "Acme Ltd.");
        // logging in changes nothing but is on the record, with the address
        let entries = app.audit_since(before + 1).await;
        TestApp::assert_actions(&entries, &["account.login"]);
        assert_eq!(entries[0]["subject"], reply.body["id"]);
        assert_eq!(entries[0]["detail"]["address"], "127.0.0.1");
    }

    async fn registration_refusals(app: TestApp) {
        app.provider("taken").await;
        let before = app.audit_size().await;
        let cases = [
            (json!({"name": "taken", "password": PASSWORD, "roles": ["consumer"]}), 409, "already-exists"),
            (json!({"name": "weak1", "password": "", "roles": ["consumer"]}), 422, "weak-password"),
            (json!({"name": "weak2", "password": "short", "roles": ["consumer"]}), 422, "weak-password"),
            (json!({"name": "weak3", "password": "aaaaaaaaaaaaaaaa", "roles": ["consumer"]}), 422, "weak-password"),
            (json!({"name": "boss", "password": PASSWORD, "roles": ["regulator"]}), 403, "wrong-role"),
            (json!({"name": "boss2", "password": PASSWORD, "roles": ["consumer", "admin"]}), 403, "wrong-role"),
            (json!({"name": "none", "password": PASSWORD, "roles": []}), 422, "validation-failed"),
            (json!({"name": "x", "password": PASSWORD, "roles": ["consumer"]}), 422, "validation-failed"),
            (json!({"name": "emperor", "password": PASSWORD, "roles": ["emperor"]}), 422, "invalid-body"),
            (json!({"name": "extra", "password": PASSWORD, "roles": ["consumer"], "admin": true}), 422, "invalid-body"),
            (json!({"password": PASSWORD, "roles": ["consumer"]}), 422, "invalid-body"),
        ];
        for (body, status, slug) in cases {
            app.post("/api/v1/accounts", None, body).await.problem(status, slug);
        }
        assert_eq!(app.audit_size().await, before, "refusals write nothing");
    }

    async fn login_refusals(app: TestApp) {
        app.provider("alice").await;
        app.token("alice", "wrong-password-1").await.problem(401, "invalid-credentials");
        app.token("nobody", PASSWORD).await.problem(401, "invalid-credentials");
        let reply = app.token("alice", "wrong-password-1").await;
        assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    }

    async fn admin_creates_privileged_accounts(app: TestApp) {
        let admin = app.operator_account("root-admin", &[Role::Admin]).await;
        let provider = app.provider("plain").await;
        let body = json!({"name": "reg-1", "password": PASSWORD, "roles": ["regulator"]});
        app.post("/api/v1/admin/accounts", Some(&provider.token), body.clone())
            .await
            .problem(403, "wrong-role");
        app.post("/api/v1/admin/accounts", None, body.clone())
            .await
            .problem(401, "unauthenticated");
        let before = app.audit_size().await;
        let reply = app.post("/api/v1/admin/accounts", Some(&admin.token), body).await;
        reply.expect(201);
        assert_eq!(reply.body["roles"], json!(["regulator"]));
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["account.created"]);
        assert_eq!(entries[0]["actor"], admin.id.to_string());
        assert_eq!(entries[0]["detail"]["by"], "admin");
        app.token("reg-1", PASSWORD).await.expect(200);
    }

    async fn bad_tokens_are_refused(app: TestApp) {
        let user = app.provider("tokens").await;
        let me = "/api/v1/accounts/me";
        app.get(me, Some(&user.token)).await.expect(200);
        app.get(me, None).await.problem(401, "unauthenticated");
        app.get(me, Some("not-a-jwt")).await.problem(401, "invalid-token");

        let parts: Vec<&str> = user.token.split('.').collect();
        // a claim changed: the signature no longer matches
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        claims["roles"] = json!(["provider", "regulator"]);
        let forged = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(claims.to_string()), parts[2]);
        app.get(me, Some(&forged)).await.problem(401, "invalid-token");

        // alg "none" with no signature
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        app.get(me, Some(&unsigned)).await.problem(401, "invalid-token");

        // signed by a key that is not the platform's
        let other = tempfile::tempdir().unwrap();
        let stranger = datamarket::keys::PlatformKeys::load_or_create(other.path()).unwrap();
        let now = chrono::Utc::now().timestamp();
        let claims = datamarket::tokens::AccessClaims {
            iss: "datamarket".into(),
            sub: user.id,
            aud: datamarket::tokens::API_AUDIENCE.into(),
            iat: now,
            exp: now + 600,
            jti: uuid::Uuid::new_v4(),
            name: user.name.clone(),
            roles: vec![Role::Regulator],
        };
        let foreign = datamarket::tokens::sign(&stranger, &claims).unwrap();
        app.get(me, Some(&foreign)).await.problem(401, "invalid-token");

        // signed by the platform key but long expired
        let expired = datamarket::tokens::AccessClaims { iat: now - 7200, exp: now - 3600, ..claims.clone() };
        let expired = datamarket::tokens::sign(&app.market.keys, &expired).unwrap();
        let reply = app.get(me, Some(&expired)).await;
        reply.problem(401, "invalid-token");
        assert!(reply.body["detail"].as_str().unwrap().contains("expired"));

        // a token for another audience (a data token) is not an account token
        let wrong_audience = datamarket::tokens::AccessClaims { aud: "datamarket-data".into(), ..claims.clone() };
        let wrong_audience = datamarket::tokens::sign(&app.market.keys, &wrong_audience).unwrap();
        app.get(me, Some(&wrong_audience)).await.problem(401, "invalid-token");

        // a malformed Authorization header
        let reply = app
            .client
            .get(app.url(me))
            .header("authorization", format!("Basic {}", user.token))
            .send()
            .await
            .unwrap();
        TestApp::read(reply).await.problem(401, "invalid-token");
    }
}
