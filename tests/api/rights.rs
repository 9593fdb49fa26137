//! The three separated rights, certificates, derivations and lineage.

use std::time::Duration;

use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::*;

fn current<'a>(rights: &'a Value, kind: &str) -> &'a Value {
    rights["current"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["right"] == kind)
        .unwrap_or_else(|| panic!("no current {kind} right in {rights}"))
}

both_backends! {
    async fn creation_registers_all_three_rights(app: TestApp) {
        let acme = app.provider("acme").await;
        let before = app.audit_size().await;
        let id = app.dataset(&acme, "Registered", "general").await;
        let rights = app.get(&format!("/api/v1/datasets/{id}/rights"), Some(&acme.token)).await;
        rights.expect(200);
        for kind in ["holding", "processing", "operation"] {
            let r = current(&rights.body, kind);
            assert_eq!(r["holder"], acme.id.to_string());
            assert_eq!(r["origin"], "original");
            assert!(r["certificate"].is_string());
            assert_eq!(r["delegated_by"], Value::Null);
        }
        assert_eq!(rights.body["history"].as_array().unwrap().len(), 3);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["dataset.created", "right.registered", "right.registered", "right.registered"]);
        assert_eq!(entries[1]["detail"]["origin"], "original");
        // drafts' rights are as private as the draft
        let rival = app.provider("rival").await;
        app.get(&format!("/api/v1/datasets/{id}/rights"), Some(&rival.token)).await.problem(404, "not-found");
        let reg = current(&rights.body, "holding")["registration"].as_str().unwrap().to_owned();
        app.get(&format!("/api/v1/rights/{reg}/certificate"), None).await.problem(404, "not-found");
    }

    async fn only_the_holder_transfers(app: TestApp) {
        let acme = app.provider("acme").await;
        let rival = app.provider("rival").await;
        let lab = app.consumer("lab").await;
        let id = app.listed_dataset(&acme, "Transfers").await;
        let path = format!("/api/v1/datasets/{id}/rights/transfers");
        let before = app.audit_size().await;
        app.post(&path, Some(&rival.token), json!({"right": "processing", "to": rival.id}))
            .await
            .problem(403, "not-permitted");
        app.post(&path, Some(&acme.token), json!({"right": "processing", "to": Uuid::now_v7()}))
            .await
            .problem(422, "validation-failed");
        app.post(&path, Some(&acme.token), json!({"right": "holding", "to": lab.id}))
            .await
            .problem(422, "validation-failed");
        app.post(&path, Some(&acme.token), json!({"right": "processing", "to": acme.id}))
            .await
            .problem(422, "validation-failed");
        app.post(&path, Some(&acme.token), json!({"right": "processing", "to": lab.id, "until": "2001-01-01T00:00:00Z"}))
            .await
            .problem(422, "validation-failed");
        app.post(&path, Some(&acme.token), json!({"right": "ownership", "to": lab.id}))
            .await
            .problem(422, "invalid-body");
        app.post(&path, None, json!({"right": "processing", "to": lab.id})).await.problem(401, "unauthenticated");
        assert_eq!(app.audit_size().await, before, "refusals record nothing");

        let old = app.get(&format!("/api/v1/datasets/{id}/rights"), None).await;
        let old_cert = current(&old.body, "processing")["certificate"].as_str().unwrap().to_owned();
        let moved = app.post(&path, Some(&acme.token), json!({"right": "processing", "to": lab.id, "note": "research licence"})).await;
        moved.expect(201);
        assert_eq!(moved.body["holder"], lab.id.to_string());
        assert_eq!(moved.body["origin"], "transfer");
        assert_eq!(moved.body["granted_by"], acme.id.to_string());
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["right.transferred"]);
        let parties = entries[0]["parties"].as_array().unwrap();
        assert!(parties.contains(&json!(lab.id.to_string())) && parties.contains(&json!(acme.id.to_string())));

        let now = app.get(&format!("/api/v1/datasets/{id}/rights"), None).await;
        assert_eq!(current(&now.body, "processing")["holder"], lab.id.to_string());
        assert_eq!(current(&now.body, "holding")["holder"], acme.id.to_string());
        assert_eq!(now.body["history"].as_array().unwrap().len(), 4);
        let status = app.get(&format!("/api/v1/rights/certificates/{old_cert}/status"), None).await;
        status.expect(200);
        assert_eq!(status.body["status"], "superseded");
        assert_eq!(status.body["superseded_by"], moved.body["certificate"]);
        let new_status = app.get(&format!("/api/v1/rights/certificates/{}/status", moved.body["certificate"].as_str().unwrap()), None).await;
        assert_eq!(new_status.body["status"], "current");
        // the old holder no longer holds it
        app.post(&path, Some(&acme.token), json!({"right": "processing", "to": rival.id}))
            .await
            .problem(403, "not-permitted");
        app.get(&format!("/api/v1/rights/certificates/{}/status", Uuid::now_v7()), None).await.problem(404, "not-found");
    }

    async fn ownership_moves_with_the_holding_right(app: TestApp) {
        let acme = app.provider("acme").await;
        let buyer = app.provider("buyer").await;
        let id = app.listed_dataset(&acme, "Sold").await;
        app.post(&format!("/api/v1/datasets/{id}/rights/transfers"), Some(&acme.token), json!({"right": "holding", "to": buyer.id}))
            .await
            .expect(201);
        let dataset = app.get(&format!("/api/v1/datasets/{id}"), None).await;
        assert_eq!(dataset.body["provider"], buyer.id.to_string());
        app.upload(&buyer, id, b"new owner's data").await.expect(201);
        app.upload(&acme, id, b"old owner's data").await.problem(403, "not-permitted");
        let mine = app.get(&format!("/api/v1/datasets?provider={}", buyer.id), None).await;
        assert_eq!(mine.body["items"][0]["id"], id.to_string());
        // acme still operates it (it kept the operation right) and may delist
        app.post(&format!("/api/v1/datasets/{id}/delist"), Some(&acme.token), json!({})).await.expect(200);
        // the new owner may transfer holding on; the old one may not
        app.post(&format!("/api/v1/datasets/{id}/rights/transfers"), Some(&acme.token), json!({"right": "holding", "to": buyer.id}))
            .await
            .problem(403, "not-permitted");
        app.post(&format!("/api/v1/datasets/{id}/rights/transfers"), Some(&buyer.token), json!({"right": "holding", "to": buyer.id}))
            .await
            .problem(422, "validation-failed");
    }

    async fn a_broker_operates_until_the_delegation_ends(app: TestApp) {
        let acme = app.provider("acme").await;
        let broker = app.provider("broker").await;
        let id = app.dataset(&acme, "Brokered", "general").await;
        app.upload(&acme, id, b"x,y\n").await.expect(201);
        let until = chrono::Utc::now() + chrono::Duration::seconds(3);
        let delegated = app
            .post(&format!("/api/v1/datasets/{id}/rights/transfers"), Some(&acme.token),
                  json!({"right": "operation", "to": broker.id, "until": until}))
            .await;
        delegated.expect(201);
        assert_eq!(delegated.body["origin"], "delegation");
        let rights = app.get(&format!("/api/v1/datasets/{id}/rights"), Some(&broker.token)).await;
        rights.expect(200);
        let operation = current(&rights.body, "operation");
        assert_eq!(operation["holder"], broker.id.to_string());
        assert_eq!(operation["delegated_by"], acme.id.to_string());
        // the broker sees the draft, sets the price and publishes it
        app.patch(&format!("/api/v1/datasets/{id}"), Some(&broker.token), json!({"price": {"amount": 12000, "currency": "CNY"}}))
            .await
            .expect(200);
        app.post(&format!("/api/v1/datasets/{id}/publish"), Some(&broker.token), json!({})).await.expect(200);
        // but may not add versions (holding) nor move the right on
        app.upload(&broker, id, b"z").await.problem(403, "not-permitted");
        app.post(&format!("/api/v1/datasets/{id}/rights/transfers"), Some(&broker.token), json!({"right": "operation", "to": acme.id}))
            .await
            .problem(403, "not-permitted");

        tokio::time::sleep(Duration::from_millis(3500)).await;
        app.post(&format!("/api/v1/datasets/{id}/delist"), Some(&broker.token), json!({})).await.problem(403, "not-permitted");
        let rights = app.get(&format!("/api/v1/datasets/{id}/rights"), None).await;
        let operation = current(&rights.body, "operation");
        assert_eq!(operation["holder"], acme.id.to_string(), "fell back to the holder");
        assert_eq!(operation["delegated_by"], Value::Null);
        let cert = delegated.body["certificate"].as_str().unwrap();
        let status = app.get(&format!("/api/v1/rights/certificates/{cert}/status"), None).await;
        assert_eq!(status.body["status"], "expired");
        app.post(&format!("/api/v1/datasets/{id}/delist"), Some(&acme.token), json!({})).await.expect(200);
    }

    async fn certificates_verify_offline_and_tampering_fails(app: TestApp) {
        let acme = app.provider("acme").await;
        let id = app.listed_dataset(&acme, "Certified").await;
        let rights = app.get(&format!("/api/v1/datasets/{id}/rights"), None).await;
        let registration = current(&rights.body, "holding")["registration"].as_str().unwrap().to_owned();
        let cert = app.get(&format!("/api/v1/rights/{registration}/certificate"), None).await;
        cert.expect(200);
        assert_eq!(cert.body["status"], "current");
        let jws = cert.body["jws"].as_str().unwrap().to_owned();
        let jwks = app.get("/.well-known/jwks.json", None).await.body;
        let claims = datamarket::rights::certificate::verify(&jws, &jwks).expect("verifies");
        assert_eq!(claims.holder, acme.id);
        assert_eq!(claims.dataset, id);
        assert_eq!(claims.right, datamarket::rights::RightKind::Holding);
        assert_eq!(claims.origin, datamarket::rights::RightOrigin::Original);
        assert_eq!(claims.registration.to_string(), registration);
        assert_eq!(claims.payload_sha256, None, "issued before the first version");
        assert_eq!(serde_json::to_value(&claims).unwrap(), cert.body["claims"]);

        // one byte changed in the claims
        let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
        let mut payload = parts[1].clone().into_bytes();
        payload[10] = if payload[10] == b'A' { b'B' } else { b'A' };
        parts[1] = String::from_utf8(payload).unwrap();
        let tampered = parts.join(".");
        assert!(datamarket::rights::certificate::verify(&tampered, &jwks).is_err());

        // and the same through the command line
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jwks.json"), jwks.to_string()).unwrap();
        std::fs::write(dir.path().join("cert.json"), cert.body.to_string()).unwrap();
        std::fs::write(dir.path().join("tampered.jwt"), &tampered).unwrap();
        let run = |file: &str| {
            std::process::Command::new(env!("CARGO_BIN_EXE_datamarket"))
                .args(["certificate", "verify"])
                .arg(dir.path().join(file))
                .arg("--jwks")
                .arg(dir.path().join("jwks.json"))
                .output()
                .unwrap()
        };
        let ok = run("cert.json");
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        assert!(String::from_utf8_lossy(&ok.stdout).contains(&acme.id.to_string()));
        let bad = run("tampered.jwt");
        assert!(!bad.status.success());
        assert!(String::from_utf8_lossy(&bad.stderr).contains("INVALID"), "{}", String::from_utf8_lossy(&bad.stderr));
        // the JWKS URL form works too
        let by_url = std::process::Command::new(env!("CARGO_BIN_EXE_datamarket"))
            .args(["certificate", "verify"])
            .arg(dir.path().join("cert.json"))
            .arg("--jwks")
            .arg(app.url("/.well-known/jwks.json"))
            .output()
            .unwrap();
        assert!(by_url.status.success(), "{}", String::from_utf8_lossy(&by_url.stderr));
    }

    async fn deriving_needs_the_processing_right(app: TestApp) {
        let acme = app.provider("acme").await;
        let lab = app.register("lab", &["provider", "consumer"]).await;
        let source = app.listed_dataset(&acme, "Raw traffic").await;
        let mut body = dataset_body("District traffic", "general");
        body["derived_from"] = json!([{"dataset": source, "version": 1}]);
        body["activity"] = json!({"name": "aggregate to districts"});
        let before = app.audit_size().await;
        let refused = app.post("/api/v1/datasets", Some(&lab.token), body.clone()).await;
        refused.problem(403, "lacks-processing-right");
        assert_eq!(refused.body["source"], source.to_string());
        assert_eq!(app.audit_size().await, before, "nothing written: not even the dataset");
        let none = app.get(&format!("/api/v1/datasets?provider={}", lab.id), None).await;
        assert_eq!(none.body["items"], json!([]));

        // other refusals
        let mut no_activity = body.clone();
        no_activity.as_object_mut().unwrap().remove("activity");
        app.post("/api/v1/datasets", Some(&acme.token), no_activity).await.problem(422, "validation-failed");
        let mut bad_version = body.clone();
        bad_version["derived_from"] = json!([{"dataset": source, "version": 9}]);
        app.post("/api/v1/datasets", Some(&acme.token), bad_version).await.problem(422, "validation-failed");
        let hidden = app.dataset(&acme, "Hidden draft", "general").await;
        app.upload(&acme, hidden, b"h").await.expect(201);
        let mut from_hidden = body.clone();
        from_hidden["derived_from"] = json!([{"dataset": hidden, "version": 1}]);
        let reply = app.post("/api/v1/datasets", Some(&lab.token), from_hidden).await;
        reply.problem(404, "not-found");
        assert_eq!(reply.body["source"], hidden.to_string());

        // with the processing right it is accepted
        app.post(&format!("/api/v1/datasets/{source}/rights/transfers"), Some(&acme.token),
                 json!({"right": "processing", "to": lab.id}))
            .await
            .expect(201);
        let before = app.audit_size().await;
        let accepted = app.post("/api/v1/datasets", Some(&lab.token), body).await;
        accepted.expect(201);
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(
            &entries,
            &["dataset.created", "right.registered", "right.registered", "right.registered", "derivation.recorded"],
        );
        assert_eq!(entries[4]["detail"]["sources"], json!([{"dataset": source, "version": 1}]));
        assert!(entries[4]["parties"].as_array().unwrap().contains(&json!(acme.id.to_string())));
        let lineage = app.get(&format!("/api/v1/datasets/{}/lineage?direction=upstream", accepted.id()), Some(&lab.token)).await;
        lineage.expect(200);
        assert_eq!(lineage.body["edges"][0]["source"], source.to_string());
    }

    async fn cycles_are_refused(app: TestApp) {
        let acme = app.provider("acme").await;
        let x = app.dataset(&acme, "X", "general").await;
        app.upload(&acme, x, b"x").await.expect(201);
        let mut body = dataset_body("Y", "general");
        body["derived_from"] = json!([{"dataset": x, "version": 1}]);
        body["activity"] = json!({"name": "copy"});
        let y = app.post("/api/v1/datasets", Some(&acme.token), body).await;
        y.expect(201);
        let y = y.id();
        app.upload(&acme, y, b"y").await.expect(201);
        let before = app.audit_size().await;
        let cycle = app
            .patch(&format!("/api/v1/datasets/{x}"), Some(&acme.token),
                   json!({"derived_from": [{"dataset": y, "version": 1}], "activity": {"name": "loop"}}))
            .await;
        cycle.problem(422, "derivation-cycle");
        assert_eq!(cycle.body["source"], y.to_string());
        app.patch(&format!("/api/v1/datasets/{x}"), Some(&acme.token),
                  json!({"derived_from": [{"dataset": x, "version": 1}], "activity": {"name": "self"}}))
            .await
            .problem(422, "derivation-cycle");
        assert_eq!(app.audit_size().await, before);
        // a legitimate later derivation of a draft is recorded
        let z = app.dataset(&acme, "Z", "general").await;
        app.upload(&acme, z, b"z").await.expect(201);
        let ok = app
            .patch(&format!("/api/v1/datasets/{y}"), Some(&acme.token),
                   json!({"derived_from": [{"dataset": z, "version": 1}], "activity": {"name": "enrich"}}))
            .await;
        ok.expect(200);
        assert_eq!(ok.audit_indexes().len(), 2, "the update and the derivation");
    }

    async fn lineage_of_a_diamond(app: TestApp) {
        // R → B1, B2 → C → D → E: a diamond of six datasets
        let acme = app.provider("acme").await;
        let r = app.listed_dataset(&acme, "R").await;
        let b1 = app.derived_dataset(&acme, "B1", &[(r, 1)]).await;
        let b2 = app.derived_dataset(&acme, "B2", &[(r, 1)]).await;
        let c = app.derived_dataset(&acme, "C", &[(b1, 1), (b2, 1)]).await;
        let d = app.derived_dataset(&acme, "D", &[(c, 1)]).await;
        let e = app.derived_dataset(&acme, "E", &[(d, 1)]).await;
        let ids = |reply: &Reply| -> Vec<String> {
            let mut ids: Vec<String> = reply.body["nodes"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect();
            ids.sort();
            ids
        };
        let sorted = |mut v: Vec<Uuid>| -> Vec<String> {
            v.sort();
            v.into_iter().map(|u| u.to_string()).collect()
        };
        let get = |q: String| {
            let app = &app;
            async move { app.get(&q, None).await }
        };
        let one = get(format!("/api/v1/datasets/{e}/lineage?direction=upstream&depth=1")).await;
        one.expect(200);
        assert_eq!(ids(&one), sorted(vec![e, d]));
        assert_eq!(one.body["edges"].as_array().unwrap().len(), 1);
        let two = get(format!("/api/v1/datasets/{e}/lineage?direction=upstream&depth=2")).await;
        assert_eq!(ids(&two), sorted(vec![e, d, c]));
        let max = app.settings.lineage.max_depth;
        let all = get(format!("/api/v1/datasets/{e}/lineage?direction=upstream&depth={max}")).await;
        assert_eq!(ids(&all), sorted(vec![e, d, c, b1, b2, r]));
        assert_eq!(all.body["edges"].as_array().unwrap().len(), 6);
        let root_depth = all.body["nodes"].as_array().unwrap().iter().find(|n| n["id"] == r.to_string()).unwrap()["depth"].clone();
        assert_eq!(root_depth, 4, "R is four steps up from E");
        assert_eq!(all.body["truncated"], false);
        let down = get(format!("/api/v1/datasets/{r}/lineage?direction=downstream&depth=2")).await;
        assert_eq!(ids(&down), sorted(vec![r, b1, b2, c]));
        let both = get(format!("/api/v1/datasets/{c}/lineage?direction=both&depth=1")).await;
        assert_eq!(ids(&both), sorted(vec![c, b1, b2, d]));
        let default = get(format!("/api/v1/datasets/{c}/lineage")).await;
        assert_eq!(default.body["depth"], app.settings.lineage.default_depth);
        get(format!("/api/v1/datasets/{e}/lineage?depth=0")).await.problem(400, "invalid-parameter");
        get(format!("/api/v1/datasets/{e}/lineage?depth={}", max + 1)).await.problem(400, "invalid-parameter");
        get(format!("/api/v1/datasets/{e}/lineage?direction=sideways")).await.problem(400, "invalid-parameter");

        // a draft in the middle of someone else's view is restricted, not dropped
        let secret = app.dataset(&acme, "Secret draft", "general").await;
        app.upload(&acme, secret, b"s").await.expect(201);
        let f = app.derived_dataset(&acme, "F", &[(e, 1), (secret, 1)]).await;
        let outsider = get(format!("/api/v1/datasets/{f}/lineage?direction=upstream&depth=1")).await;
        outsider.expect(200);
        let nodes = outsider.body["nodes"].as_array().unwrap();
        assert_eq!(nodes.len(), 3);
        let restricted: Vec<_> = nodes.iter().filter(|n| n["restricted"] == true).collect();
        assert_eq!(restricted.len(), 1);
        assert!(restricted[0]["id"].as_str().unwrap().starts_with("restricted-"));
        assert_eq!(restricted[0]["title"], Value::Null);
        let text = outsider.body.to_string();
        assert!(!text.contains(&secret.to_string()) && !text.contains("Secret draft"), "nothing leaks: {text}");
        let owner_view = app.get(&format!("/api/v1/datasets/{f}/lineage?direction=upstream&depth=1"), Some(&acme.token)).await;
        assert!(owner_view.body.to_string().contains(&secret.to_string()));
    }

    async fn provenance_is_prov_json(app: TestApp) {
        let acme = app.provider("acme").await;
        let r = app.listed_dataset(&acme, "R").await;
        let b = app.derived_dataset(&acme, "B", &[(r, 1)]).await;
        let c = app.derived_dataset(&acme, "C", &[(b, 1), (r, 1)]).await;
        let prov = app.get(&format!("/api/v1/datasets/{c}/provenance"), None).await;
        prov.expect(200);
        let doc = &prov.body;
        assert_eq!(doc["prefix"]["prov"], "http://www.w3.org/ns/prov#");
        let count = |k: &str| doc[k].as_object().map_or(0, |o| o.len());
        // three datasets and their three versions
        assert_eq!(count("entity"), 6);
        assert_eq!(count("activity"), 2);
        assert_eq!(count("agent"), 1);
        assert_eq!(count("used"), 3);
        assert_eq!(count("wasDerivedFrom"), 3);
        assert_eq!(count("wasGeneratedBy"), 2);
        assert_eq!(count("wasAttributedTo"), 3);
        assert_eq!(count("wasAssociatedWith"), 2);
        assert_eq!(count("specializationOf"), 3);
        assert_eq!(doc["entity"][format!("dm:dataset-{c}")]["prov:label"], "C");
    }
}
