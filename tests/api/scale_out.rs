//! Scale-out: two `datamarket serve` processes on one PostgreSQL database,
//! one shared payload directory and one keys directory behave as one
//! marketplace: a concurrent workload through both, 200 concurrent
//! downloads against one 10-download grant split across them, and then
//! exactly 10 deliveries, a gap-free audit log, and one Merkle log that
//! `audit verify` accepts from either instance.

use datamarket::audit::verify::Options;
use datamarket::client::audit::{Server, verify_server};
use datamarket::domain::Role;
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::support::*;

async fn post(
    client: &reqwest::Client,
    url: String,
    token: Option<&str>,
    body: Value,
) -> (u16, Value) {
    let mut req = client.post(url).json(&body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(not(postgres_tests), ignore = "DATABASE_URL does not name PostgreSQL")]
async fn two_instances_are_one_market() {
    let dir = tempfile::tempdir().unwrap();
    let (url, schema) = fresh_database(Backend::Postgres, dir.path()).expect(NO_POSTGRES);
    let _schema = SchemaGuard(schema);
    // Both start at once: one applies the migrations while the other waits,
    // and both find (or make) the platform key in the shared directory.
    // Both sweep every second, so the grant's coming expiry (it ends within
    // `grants.expiry_notice_secs`) is noticed while the test runs, not
    // between the count of the log and its verification.
    let settings = [("DATAMARKET__GRANTS__SWEEP_INTERVAL_SECS", "1")];
    let a = ServerProcess::start_configured(&url, dir.path(), 6, "warn", &settings);
    let b = ServerProcess::start_configured(&url, dir.path(), 6, "warn", &settings);
    let client = reqwest::Client::new();
    a.ready().await;
    b.ready().await;
    let (api_a, api_b) = (format!("{}/api/v1", a.base), format!("{}/api/v1", b.base));

    // Accounts made through one instance log in through the other.
    for (api, name, roles) in [
        (&api_a, "acme", json!(["provider"])),
        (&api_b, "lab", json!(["consumer"])),
    ] {
        let (status, _) = post(
            &client,
            format!("{api}/accounts"),
            None,
            json!({"name": name, "password": PASSWORD, "roles": roles}),
        )
        .await;
        assert_eq!(status, 201);
    }
    let token = |api: String, name: &'static str| {
        let client = client.clone();
        async move {
            let (status, body) = post(
                &client,
                format!("{api}/auth/token"),
                None,
                json!({"name": name, "password": PASSWORD}),
            )
            .await;
            assert_eq!(status, 200, "login {name}: {body}");
            body["access_token"].as_str().unwrap().to_owned()
        }
    };
    let acme = token(api_b.clone(), "acme").await;
    let lab = token(api_a.clone(), "lab").await;

    // Concurrent publishing through both instances.
    let publish = (0..8).map(|i| {
        let client = client.clone();
        let api = if i % 2 == 0 {
            api_a.clone()
        } else {
            api_b.clone()
        };
        let other = if i % 2 == 0 {
            api_b.clone()
        } else {
            api_a.clone()
        };
        let acme = acme.clone();
        tokio::spawn(async move {
            let (status, ds) = post(
                &client,
                format!("{api}/datasets"),
                Some(&acme),
                dataset_body(&format!("Shared {i}"), "general"),
            )
            .await;
            assert_eq!(status, 201, "{ds}");
            let id = ds["id"].as_str().unwrap().to_owned();
            // the payload goes in through the other instance: one shared store
            let resp = client
                .post(format!("{other}/datasets/{id}/versions"))
                .bearer_auth(&acme)
                .header("content-type", "text/csv")
                .body(format!("row,{i}\n"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 201);
            let (status, body) = post(
                &client,
                format!("{api}/datasets/{id}/publish"),
                Some(&acme),
                json!({}),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            id
        })
    });
    let mut datasets = Vec::new();
    for task in publish {
        datasets.push(task.await.unwrap());
    }
    let dataset = datasets[0].clone();

    // Request through one instance, approve through the other.
    let (status, request) = post(
        &client,
        format!("{api_b}/access-requests"),
        Some(&lab),
        json!({
        "dataset": dataset, "purpose": "scale-out check", "duration_days": 1, "max_downloads": 10,
        "processing": false, "cross_border": false}),
    )
    .await;
    assert_eq!(status, 201, "{request}");
    let (status, approved) = post(
        &client,
        format!(
            "{api_a}/access-requests/{}/approve",
            request["id"].as_str().unwrap()
        ),
        Some(&acme),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{approved}");

    // 200 concurrent downloads, split across both instances.
    let downloads = (0..200).map(|i| {
        let client = client.clone();
        let base = if i % 2 == 0 {
            api_a.clone()
        } else {
            api_b.clone()
        };
        let url = format!("{base}/datasets/{dataset}/versions/1/content");
        let lab = lab.clone();
        tokio::spawn(async move {
            client
                .get(url)
                .bearer_auth(lab)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        })
    });
    let mut delivered = 0;
    let mut refused = 0;
    for task in downloads {
        match task.await.unwrap() {
            200 => delivered += 1,
            403 => refused += 1,
            other => panic!("download answered {other}"),
        }
    }
    assert_eq!((delivered, refused), (10, 190));

    // What the instances' own tasks append after the downloads (the
    // sweep's notice that the grant is expiring, the watch's alerts on the
    // refused downloads) must be in before the log is counted: wait until
    // its size has stood still for longer than a sweep and a watch round.
    let mut conn = diesel::PgConnection::establish(&url).unwrap();
    #[derive(QueryableByName)]
    struct Size {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        size: i64,
    }
    let size = |conn: &mut diesel::PgConnection| {
        diesel::sql_query("SELECT size FROM audit_log_head")
            .get_result::<Size>(conn)
            .unwrap()
            .size
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    let (mut last, mut since) = (size(&mut conn), std::time::Instant::now());
    while since.elapsed() < std::time::Duration::from_secs(5) {
        assert!(
            std::time::Instant::now() < deadline,
            "the log never settled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let now = size(&mut conn);
        if now != last {
            (last, since) = (now, std::time::Instant::now());
        }
    }

    // One gap-free log, with exactly ten deliveries.
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        low: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        high: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        distinct_idx: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        completed: i64,
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        head: i64,
    }
    let row: Row = diesel::sql_query(
        "SELECT COUNT(*) AS n, MIN(idx) AS low, MAX(idx) AS high, COUNT(DISTINCT idx) AS distinct_idx,
                COUNT(*) FILTER (WHERE action = 'delivery.completed') AS completed,
                (SELECT size FROM audit_log_head) AS head
         FROM audit_entries",
    )
    .get_result(&mut conn)
    .unwrap();
    assert_eq!(row.low, 0);
    assert_eq!(row.high, row.n - 1, "no missing index");
    assert_eq!(row.distinct_idx, row.n, "no duplicate index");
    assert_eq!(row.head, row.n);
    assert_eq!(row.completed, 10, "exactly ten deliveries recorded");

    // And `audit verify` accepts the log from either instance, with one root.
    let auditor_market = {
        let mut settings = datamarket::config::Settings::defaults().unwrap();
        settings.database.url = datamarket::config::Secret::new(url.clone());
        settings.storage.data_dir = dir.path().to_owned();
        settings.storage.objects_dir = dir.path().join("objects");
        settings.auth.keys_dir = dir.path().join("keys");
        tokio::task::spawn_blocking(move || datamarket::Market::open(settings))
            .await
            .unwrap()
            .unwrap()
    };
    datamarket::accounts::register(
        &auditor_market,
        datamarket::accounts::Registrar::Operator,
        datamarket::accounts::NewAccount {
            name: "auditor".into(),
            password: PASSWORD.into(),
            roles: vec![Role::Auditor],
            display_name: None,
            organization: None,
            territory: None,
            entity_type: None,
            credit_code: None,
            region: None,
        },
    )
    .await
    .unwrap();
    let auditor = token(api_a.clone(), "auditor").await;
    let mut roots = Vec::new();
    for instance in [&a, &b] {
        let server = Server {
            url: instance.base.clone(),
            token: Some(auditor.clone()),
        };
        let report = verify_server(&server, None, None, Options::default())
            .await
            .expect("the log verifies");
        // The auditor's account and its login come after the count above.
        assert_eq!(report.entries, row.n as u64 + 2);
        roots.push((report.head.tree_size, report.root));
    }
    assert_eq!(
        roots[0], roots[1],
        "one log: the same signed size and root from both"
    );
    assert_eq!(
        roots[0].0,
        row.n as u64 + 2,
        "the newest head covers every entry, the auditor's account and login too"
    );
}
