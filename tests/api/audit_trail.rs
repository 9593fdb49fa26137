//! The audit trail as auditors and regulators read it.

use serde_json::json;

use crate::support::*;

both_backends! {
    async fn oversight_reads_the_trail(app: TestApp) {
        let acme = app.provider("acme").await;
        let buyer = app.consumer("buyer").await;
        let auditor = app.auditor("aud").await;
        let regulator = app.regulator("reg").await;
        let id = app.listed_dataset(&acme, "Audited").await;

        app.get("/api/v1/audit/entries", Some(&acme.token)).await.problem(403, "wrong-role");
        app.get("/api/v1/audit/entries", Some(&buyer.token)).await.problem(403, "wrong-role");
        app.get("/api/v1/audit/entries", None).await.problem(401, "unauthenticated");
        app.get("/api/v1/audit/entries", Some(&regulator.token)).await.expect(200);

        let all = app.get("/api/v1/audit/entries?limit=200", Some(&auditor.token)).await;
        all.expect(200);
        let entries = all.body["entries"].as_array().unwrap();
        assert_eq!(entries.len() as u64, app.audit_size().await);
        for (i, e) in entries.iter().enumerate() {
            assert_eq!(e["index"], i, "consecutive indexes");
            assert_eq!(e["leaf_hash"].as_str().unwrap().len(), 64);
        }

        let mine = app.get(&format!("/api/v1/audit/entries?dataset={id}"), Some(&auditor.token)).await;
        let actions: Vec<_> = mine.body["entries"].as_array().unwrap().iter().map(|e| e["action"].clone()).collect();
        assert_eq!(
            actions,
            vec![
                json!("dataset.created"),
                json!("right.registered"),
                json!("right.registered"),
                json!("right.registered"),
                json!("version.added"),
                json!("dataset.published")
            ]
        );
        let by_actor = app.get(&format!("/api/v1/audit/entries?actor={}", acme.id), Some(&auditor.token)).await;
        assert_eq!(by_actor.body["entries"].as_array().unwrap().len(), 8, "registration, login, creation with three rights, upload, publish");
        let by_action = app.get("/api/v1/audit/entries?action=account.created", Some(&auditor.token)).await;
        assert_eq!(by_action.body["entries"].as_array().unwrap().len(), 4);
        let by_account = app.get(&format!("/api/v1/audit/entries?account={}", acme.id), Some(&auditor.token)).await;
        assert_eq!(by_account.body["entries"].as_array().unwrap().len(), 8);
        let reviewed_by_regulator = app.get(&format!("/api/v1/audit/entries?account={}", regulator.id), Some(&auditor.token)).await;
        assert_eq!(reviewed_by_regulator.body["entries"].as_array().unwrap().len(), 2, "only its own creation and login");
        assert_eq!(mine.body["entries"][5]["parties"], json!([acme.id.to_string()]));
        let by_subject = app.get(&format!("/api/v1/audit/entries?subject={id}/1"), Some(&auditor.token)).await;
        assert_eq!(by_subject.body["entries"][0]["action"], "version.added");
        app.get("/api/v1/audit/entries?action=nonsense", Some(&auditor.token)).await.problem(400, "invalid-parameter");

        // paging by `after`
        let page = app.get("/api/v1/audit/entries?limit=2", Some(&auditor.token)).await;
        assert_eq!(page.body["entries"].as_array().unwrap().len(), 2);
        let next = page.body["next_after"].as_u64().unwrap();
        assert_eq!(next, 1);
        let page = app.get(&format!("/api/v1/audit/entries?limit=2&after={next}"), Some(&auditor.token)).await;
        assert_eq!(page.body["entries"][0]["index"], 2);
    }

    async fn entries_commit_with_their_change(app: TestApp) {
        // every state change reports its entry; the entry's index is where
        // the log was, and the entry names what the response says changed
        let acme = app.provider("acme").await;
        let size = app.audit_size().await;
        let reply = app.post("/api/v1/datasets", Some(&acme.token), dataset_body("Atomic", "general")).await;
        assert_eq!(reply.audit_indexes(), vec![size, size + 1, size + 2, size + 3], "creation and three rights");
        let entry = &app.audit_since(size).await[0];
        assert_eq!(entry["index"], size);
        assert_eq!(entry["subject"], reply.body["id"]);
        assert_eq!(entry["v"], 1);
        // a change refused inside its transaction leaves neither row nor entry
        let id = reply.id();
        app.post(&format!("/api/v1/datasets/{id}/publish"), Some(&acme.token), json!({})).await.problem(422, "no-version");
        assert_eq!(app.audit_size().await, size + 4);
        let still = app.get(&format!("/api/v1/datasets/{id}"), Some(&acme.token)).await;
        assert_eq!(still.body["status"], "draft");
    }
}
