//! The client commands end to end: the built `datamarket` binary, run as a
//! user would, against a real server, each person with a configuration
//! directory of their own. The README's walk-through done with the CLI
//! alone, resumed and corrupted downloads, buying under an offer with an
//! Idempotency-Key, `--output json`, and the exit code of each kind of
//! failure (docs/cli.md).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::*;

/// One person's command line: a home and configuration directory of their own.
struct Person {
    home: tempfile::TempDir,
    server: String,
}

/// A finished command.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    #[track_caller]
    fn ok(&self) -> &Self {
        self.code(0)
    }

    #[track_caller]
    fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }

    #[track_caller]
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.stdout))
    }

    #[track_caller]
    fn stderr_has(&self, text: &str) -> &Self {
        assert!(
            self.stderr.contains(text),
            "stderr should mention {text:?}:\n{}",
            self.stderr
        );
        self
    }
}

impl Person {
    fn new(app: &TestApp) -> Person {
        Person {
            home: tempfile::tempdir().expect("home"),
            server: app.base.clone(),
        }
    }

    fn config(&self) -> PathBuf {
        self.home.path().join("config")
    }

    fn path(&self, name: &str) -> PathBuf {
        self.home.path().join(name)
    }

    /// Runs `datamarket ARGS` in this person's home directory.
    async fn run(&self, args: &[&str]) -> Run {
        self.run_with(args, None, &[]).await
    }

    async fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_datamarket"));
        command
            .args(args)
            .current_dir(self.home.path())
            .env("HOME", self.home.path())
            .env("XDG_CONFIG_HOME", self.config())
            .env("RUST_LOG", "warn")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for name in [
            "DATAMARKET_SERVER",
            "DATAMARKET_TOKEN",
            "DATAMARKET_PROFILE",
            "DATAMARKET_DATA_TOKEN",
            "DATAMARKET_CONFIG",
        ] {
            command.env_remove(name);
        }
        for (name, value) in env {
            command.env(name, value);
        }
        let stdin = stdin.map(str::to_owned);
        let output = tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("start datamarket");
            if let Some(text) = stdin {
                use std::io::Write;
                let mut pipe = child.stdin.take().expect("stdin");
                pipe.write_all(text.as_bytes()).expect("write stdin");
            }
            child.wait_with_output().expect("datamarket runs")
        })
        .await
        .expect("join");
        Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Registers with the CLI and logs in (the default profile).
    async fn register_and_login(&self, name: &str, role: &str) {
        self.run_with(
            &[
                "register",
                "--server",
                &self.server,
                "--name",
                name,
                "--role",
                role,
                "--password-stdin",
            ],
            Some(&format!("{PASSWORD}\n")),
            &[],
        )
        .await
        .ok();
        self.run_with(
            &[
                "login",
                "--server",
                &self.server,
                "--name",
                name,
                "--password-stdin",
            ],
            Some(&format!("{PASSWORD}\n")),
            &[],
        )
        .await
        .ok();
    }

    /// Creates a general draft with the walk-through's metadata; its id.
    async fn create_dataset(&self, title: &str) -> String {
        let created = self
            .run(&[
                "datasets",
                "create",
                "--title",
                title,
                "--description",
                "Hourly vehicle counts at 1,200 intersections",
                "--tag",
                "traffic",
                "--tag",
                "交通",
                "--classification",
                "general",
                "--license",
                "CC-BY-4.0",
                "--price",
                "9900",
                "--currency",
                "CNY",
                "--output",
                "json",
            ])
            .await;
        created.ok();
        let dataset = created.json();
        assert_eq!(dataset["status"], "draft");
        dataset["id"].as_str().expect("id").to_owned()
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Bytes that do not compress or repeat: a payload worth resuming.
fn payload(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn exists(path: &Path) -> bool {
    std::fs::metadata(path).is_ok()
}

both_backends! {
    async fn the_walk_through_with_the_cli(app: TestApp) {
        let acme = Person::new(&app);
        let lab = Person::new(&app);

        // A provider registers and logs in; the token is the user's alone.
        acme.register_and_login("acme", "provider").await;
        let token_file = acme.config().join("datamarket/profiles/default.token");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&token_file).expect("token file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the token file is private");
        }
        let me = acme.run(&["whoami", "--output", "json"]).await;
        me.ok();
        assert_eq!(me.json()["name"], "acme");

        // It lists a dataset: a draft, a payload version from a file, publish.
        let dataset = acme.create_dataset("城市交通流量").await;
        let csv = b"intersection,hour,vehicles\nA1,08,1520\nA1,09,1710\n";
        std::fs::write(acme.path("traffic.csv"), csv).unwrap();
        let uploaded = acme
            .run(&["versions", "upload", &dataset, "traffic.csv", "--output", "json"])
            .await;
        uploaded.ok();
        let version = uploaded.json();
        assert_eq!(version["version"], 1);
        assert_eq!(version["media_type"], "text/csv");
        assert_eq!(version["sha256"], sha256_hex(csv));
        acme.run(&["datasets", "publish", &dataset]).await.ok();

        // A consumer finds it by a Chinese word.
        lab.register_and_login("lab", "consumer").await;
        let found = lab.run(&["datasets", "search", "交通", "--output", "json"]).await;
        found.ok();
        let items = found.json()["items"].as_array().unwrap().clone();
        assert!(items.iter().any(|d| d["id"] == dataset.as_str()), "{items:?}");
        let listed = lab.run(&["datasets", "search", "交通"]).await;
        listed.ok();
        assert!(listed.stdout.contains("城市交通流量") && listed.stdout.contains("99.00 CNY"), "{}", listed.stdout);

        // It asks for access; the provider sees the request and approves.
        let asked = lab
            .run(&[
                "requests", "create", &dataset, "--purpose", "congestion model",
                "--days", "30", "--downloads", "3", "--output", "json",
            ])
            .await;
        asked.ok();
        let request = asked.json()["id"].as_str().unwrap().to_owned();
        let incoming = acme
            .run(&["requests", "list", "--role", "incoming", "--output", "json"])
            .await;
        incoming.ok();
        assert_eq!(incoming.json()["items"][0]["id"], request.as_str());
        let approved = acme.run(&["requests", "approve", &request, "--output", "json"]).await;
        approved.ok();
        assert_eq!(approved.json()["state"], "approved");
        let grant = approved.json()["grant"].as_str().unwrap().to_owned();

        // The consumer's pipeline takes a data token and downloads.
        let token = lab.run(&["grants", "token", &grant]).await;
        token.ok();
        let data_token = token.stdout.trim().to_owned();
        assert_eq!(data_token.split('.').count(), 3, "a JWT: {data_token}");
        let fetched = lab
            .run(&["download", &dataset, "traffic.csv", "--data-token", &data_token, "--output", "json"])
            .await;
        fetched.ok();
        let done = fetched.json();
        assert_eq!(done["sha256"], sha256_hex(csv));
        assert_eq!(done["version"], 1);
        assert_eq!(std::fs::read(lab.path("traffic.csv")).unwrap(), csv);
        assert!(!exists(&lab.path("traffic.csv.part")));
        assert_eq!(fetched.stderr, "", "no progress bar when standard error is no terminal");
        let shown = lab.run(&["grants", "show", &grant, "--output", "json"]).await;
        shown.ok();
        assert_eq!(shown.json()["downloads_used"], 1);
        // Or in one step: a data token for the grant, then the download.
        lab.run(&["download", "--grant", &grant, "by-grant.csv"]).await.ok();
        assert_eq!(std::fs::read(lab.path("by-grant.csv")).unwrap(), csv);
        let shown = lab.run(&["grants", "show", &grant, "--output", "json"]).await;
        assert_eq!(shown.json()["downloads_used"], 2);

        // The provider revokes; the unexpired token is refused, with the
        // refusal's exit code and the server's problem detail.
        let revoked = acme
            .run(&["grants", "revoke", &grant, "--reason", "end of pilot"])
            .await;
        revoked.ok();
        assert!(revoked.stdout.contains("revoked"), "{}", revoked.stdout);
        let refused = lab
            .run(&["download", &dataset, "again.csv", "--data-token", &data_token])
            .await;
        refused.code(5).stderr_has("/problems/grant-revoked").stderr_has("403");
        let detail = acme.run(&["grants", "show", &grant, "--output", "json"]).await;
        assert_eq!(detail.json()["status"], "revoked");
        assert!(!exists(&lab.path("again.csv")) && !exists(&lab.path("again.csv.part")));
        // --output json prints the problem document itself.
        let refused = lab
            .run(&["download", &dataset, "again.csv", "--data-token", &data_token, "--output", "json"])
            .await;
        refused.code(5);
        let problem = refused.json();
        assert_eq!(problem["type"], "/problems/grant-revoked");
        assert!(refused.stderr.contains(problem["detail"].as_str().unwrap()), "{}", refused.stderr);
        // Requests withdrawn and rejected, by the CLI as well.
        let second = lab
            .run(&["requests", "create", &dataset, "--purpose", "a second look", "--days", "1", "--downloads", "1", "--output", "json"])
            .await;
        let second = second.json()["id"].as_str().unwrap().to_owned();
        lab.run(&["requests", "withdraw", &second]).await.ok();
        let third = lab
            .run(&["requests", "create", &dataset, "--purpose", "a third look", "--days", "1", "--downloads", "1", "--output", "json"])
            .await;
        let third = third.json()["id"].as_str().unwrap().to_owned();
        let rejected = acme.run(&["requests", "reject", &third, "--reason", "no", "--output", "json"]).await;
        rejected.ok();
        assert_eq!(rejected.json()["state"], "rejected");
    }

    async fn downloads_resume_and_refuse_corrupted_parts(app: TestApp) {
        let acme = Person::new(&app);
        acme.register_and_login("acme", "provider").await;
        let dataset = acme.create_dataset("Traffic counts").await;
        let bytes = payload(3 * 1024 * 1024 + 17);
        std::fs::write(acme.path("counts.bin"), &bytes).unwrap();
        let uploaded = acme
            .run(&["versions", "upload", &dataset, "counts.bin", "--output", "json"])
            .await;
        uploaded.ok();
        assert_eq!(uploaded.json()["size"], bytes.len());
        assert_eq!(uploaded.json()["media_type"], "application/octet-stream");

        // An interrupted download left the first half: the CLI asks for the
        // rest (a Range request: the delivery recorded is the rest's size)
        // and checks the whole file.
        let half = bytes.len() / 2;
        std::fs::write(acme.path("out.bin.part"), &bytes[..half]).unwrap();
        let before = app.audit_size().await;
        let resumed = acme.run(&["download", &dataset, "out.bin", "--output", "json"]).await;
        resumed.ok();
        let done = resumed.json();
        assert_eq!(done["resumed_from"], half);
        assert_eq!(done["received"], bytes.len() - half);
        assert_eq!(done["sha256"], sha256_hex(&bytes));
        assert_eq!(std::fs::read(acme.path("out.bin")).unwrap(), bytes);
        assert!(!exists(&acme.path("out.bin.part")));
        let entries = app.audit_since(before).await;
        TestApp::assert_actions(&entries, &["delivery.completed"]);
        assert_eq!(entries[0]["detail"]["bytes"], bytes.len() - half, "only the rest was sent");

        // A corrupted partial file: the whole file's SHA-256 does not match,
        // the part is deleted, nothing is kept, exit code 7.
        let mut corrupted = bytes[..half].to_vec();
        corrupted[1000] ^= 0xff;
        std::fs::write(acme.path("bad.bin.part"), &corrupted).unwrap();
        let refused = acme.run(&["download", &dataset, "bad.bin"]).await;
        refused.code(7).stderr_has("SHA-256 mismatch").stderr_has("deleted");
        assert!(!exists(&acme.path("bad.bin")) && !exists(&acme.path("bad.bin.part")));
        // A partial file longer than the payload is corrupt too.
        let mut longer = bytes.clone();
        longer.push(0);
        std::fs::write(acme.path("long.bin.part"), &longer).unwrap();
        acme.run(&["download", &dataset, "long.bin"]).await.code(7);
        assert!(!exists(&acme.path("long.bin")) && !exists(&acme.path("long.bin.part")));
        // Afresh, into a directory, under the default name.
        std::fs::create_dir(acme.path("into")).unwrap();
        let fresh = acme.run(&["download", &dataset, "into", "--output", "json"]).await;
        fresh.ok();
        assert_eq!(fresh.json()["resumed_from"], 0);
        let saved = acme.path("into").join(format!("{dataset}-v1"));
        assert_eq!(std::fs::read(saved).unwrap(), bytes);
    }

    async fn exit_codes_profiles_and_environment(app: TestApp) {
        let acme = Person::new(&app);
        let lab = Person::new(&app);
        acme.register_and_login("acme", "provider").await;
        lab.register_and_login("lab", "consumer").await;
        let dataset = acme.create_dataset("Bus punctuality").await;
        std::fs::write(acme.path("bus.csv"), b"line,late\n1,3\n").unwrap();
        acme.run(&["versions", "upload", &dataset, "bus.csv"]).await.ok();
        acme.run(&["datasets", "publish", &dataset]).await.ok();

        let versions = lab.run(&["versions", "list", &dataset, "--output", "json"]).await;
        versions.ok();
        assert_eq!(versions.json()[0]["sha256"], sha256_hex(b"line,late\n1,3\n"));
        // A draft edited: only what is given changes; nothing given is a usage error.
        let draft = acme.create_dataset("Tram punctuality").await;
        let edited = acme
            .run(&["datasets", "edit", &draft, "--title", "Tram delays", "--tag", "tram", "--output", "json"])
            .await;
        edited.ok();
        assert_eq!(edited.json()["title"], "Tram delays");
        assert_eq!(edited.json()["tags"], serde_json::json!(["tram"]));
        assert_eq!(edited.json()["license"], "CC-BY-4.0");
        acme.run(&["datasets", "edit", &draft]).await.code(2);
        // Another provider's draft does not exist for the consumer.
        lab.run(&["datasets", "show", &draft]).await.code(4);

        // 404: exit 4, the problem's type printed; as JSON, the problem.
        let missing = uuid::Uuid::new_v4().to_string();
        lab.run(&["datasets", "show", &missing]).await.code(4).stderr_has("/problems/not-found");
        let missing_json = lab.run(&["datasets", "show", &missing, "--output", "json"]).await;
        missing_json.code(4);
        assert_eq!(missing_json.json()["status"], 404);
        // 403: the consumer may see the listing but not delist it: exit 5.
        lab.run(&["datasets", "delist", &dataset]).await.code(5).stderr_has("403");
        // 409: publishing what is listed already.
        acme.run(&["datasets", "publish", &dataset]).await.code(5).stderr_has("/problems/invalid-state");
        // 401: a token the server did not sign (DATAMARKET_TOKEN overrides
        // the profile): exit 3.
        lab.run_with(&["whoami"], None, &[("DATAMARKET_TOKEN", "not.a.token")])
            .await
            .code(3)
            .stderr_has("401");
        // Usage: exit 2.
        lab.run(&["datasets", "show", "not-a-uuid"]).await.code(2);
        // Nothing listening: exit 6.
        lab.run(&["datasets", "search", "--server", "http://127.0.0.1:9"]).await.code(6);

        // CI: no profile at all, the server and token from the environment.
        let me = lab.run(&["whoami", "--output", "json"]).await;
        let lab_id = me.json()["id"].as_str().unwrap().to_owned();
        let token = std::fs::read_to_string(lab.config().join("datamarket/profiles/default.token")).unwrap();
        let ci = Person::new(&app);
        let who = ci
            .run_with(
                &["whoami", "--output", "json"],
                None,
                &[("DATAMARKET_SERVER", &app.base), ("DATAMARKET_TOKEN", token.trim())],
            )
            .await;
        who.ok();
        assert_eq!(who.json()["id"], lab_id.as_str());
        assert!(!exists(&ci.config()), "nothing written");
        // Without a server anywhere: a usage error.
        ci.run(&["datasets", "search"]).await.code(2).stderr_has("no server");

        // Rights and lineage, read through the CLI.
        let rights = acme.run(&["rights", "show", &dataset, "--output", "json"]).await;
        rights.ok();
        let current = rights.json()["current"].as_array().unwrap().clone();
        assert_eq!(current.len(), 3);
        let holding = current.iter().find(|r| r["right"] == "holding").unwrap();
        let certificate = acme
            .run(&["rights", "certificate", holding["registration"].as_str().unwrap(), "--save", "cert.json"])
            .await;
        certificate.ok();
        let jwks = app.get("/.well-known/jwks.json", None).await;
        std::fs::write(acme.path("jwks.json"), &jwks.bytes).unwrap();
        acme.run(&["certificate", "verify", "cert.json", "--jwks", "jwks.json"])
            .await
            .ok();
        // The holding right cannot go to a consumer: refused, with the
        // server's reason.
        acme.run(&["rights", "transfer", &dataset, "--right", "holding", "--to", &lab_id])
            .await
            .code(5);
        let graph = lab.run(&["lineage", &dataset, "--output", "json"]).await;
        graph.ok();
        assert_eq!(graph.json()["root"], dataset.as_str());

        // A second profile beside the default one; logout forgets a token.
        acme.run_with(
            &["login", "--profile", "second", "--server", &app.base, "--name", "lab", "--password-stdin"],
            Some(PASSWORD),
            &[],
        )
        .await
        .ok();
        let second = acme.run(&["whoami", "--profile", "second", "--output", "json"]).await;
        assert_eq!(second.json()["name"], "lab");
        acme.run(&["logout"]).await.ok();
        assert!(!exists(&acme.config().join("datamarket/profiles/default.token")));
        acme.run(&["datasets", "create", "--title", "x", "--classification", "general", "--license", "x", "--price", "1"])
            .await
            .code(3)
            .stderr_has("log in");
        let edited = acme.run(&["datasets", "show", &dataset, "--output", "json"]).await;
        edited.ok();
    }

    async fn trading_with_the_cli(app: TestApp) {
        let acme = Person::new(&app);
        let lab = Person::new(&app);
        acme.register_and_login("acme", "provider").await;
        lab.register_and_login("lab", "consumer").await;
        let dataset = acme.create_dataset("城市交通流量").await;
        let csv = b"intersection,hour,vehicles\nA1,08,1520\n";
        std::fs::write(acme.path("traffic.csv"), csv).unwrap();
        acme.run(&["versions", "upload", &dataset, "traffic.csv"]).await.ok();
        acme.run(&["datasets", "publish", &dataset]).await.ok();

        // The provider puts an instant one-off offer on it.
        let terms = [
            "--plan", "one_off", "--price", "9900", "--currency", "CNY", "--term-days", "90",
            "--max-downloads", "5", "--instant",
        ];
        let created = acme
            .run(&[&["offers", "create", &dataset][..], &terms, &["--output", "json"]].concat())
            .await;
        created.ok();
        let offer = created.json();
        assert_eq!(offer["price"], serde_json::json!({"amount": 9900, "currency": "CNY"}));
        assert_eq!((offer["plan"].as_str(), offer["instant"].as_bool()), (Some("one_off"), Some(true)));
        let offer_id = offer["id"].as_str().unwrap().to_owned();
        let listed = lab.run(&["offers", "list", &dataset]).await;
        listed.ok();
        assert!(listed.stdout.contains(&offer_id) && listed.stdout.contains("99.00 CNY"), "{}", listed.stdout);
        // A consumer cannot put offers on someone else's listing.
        lab.run(&[&["offers", "create", &dataset][..], &terms].concat())
            .await
            .code(5)
            .stderr_has("403");

        // An empty wallet: refused (409 insufficient-funds), nothing bought.
        let place = ["orders", "place", &offer_id, "--purpose", "congestion model", "--idempotency-key", "lab-order-0001"];
        lab.run(&place).await.code(5).stderr_has("/problems/insufficient-funds").stderr_has("409");
        let wallet = lab.run(&["wallet", "--output", "json"]).await;
        wallet.ok();
        assert!(wallet.json()["balances"].as_array().unwrap().iter().all(|b| b["amount"] == 0));

        // An operator credits the consumer; the same key now buys (a refusal
        // was not stored), and a retry with it replays the answer.
        let lab_id: uuid::Uuid = wallet.json()["account"].as_str().unwrap().parse().unwrap();
        datamarket::trading::operator_credit(&app.market, lab_id, 20_000, "CNY", "bank-cli-0001")
            .await
            .expect("operator credit");
        let placed = lab.run(&[&place[..], &["--output", "json"]].concat()).await;
        placed.ok();
        let order = placed.json();
        assert_eq!(order["state"], "settled");
        assert_eq!((order["idempotency_key"].as_str(), order["replayed"].as_bool()), (Some("lab-order-0001"), Some(false)));
        let grant = order["grant"].as_str().unwrap().to_owned();
        let again = lab.run(&place).await;
        again.ok();
        assert!(again.stdout.contains(order["id"].as_str().unwrap()) && again.stdout.contains("replayed"), "{}", again.stdout);
        assert!(again.stdout.contains("idempotency key: lab-order-0001"), "{}", again.stdout);
        let wallet = lab.run(&["wallet", "--output", "json"]).await;
        assert_eq!(wallet.json()["balances"], serde_json::json!([{"amount": 10_100, "currency": "CNY"}]), "charged once");
        assert!(lab.run(&["wallet"]).await.stdout.contains("101.00 CNY"));
        let mine = lab.run(&["orders", "list", "--output", "json"]).await;
        assert_eq!(mine.json()["items"].as_array().map(Vec::len), Some(1));
        let shown = lab.run(&["orders", "show", order["id"].as_str().unwrap()]).await;
        shown.ok();
        assert!(shown.stdout.contains(&grant), "{}", shown.stdout);

        // The consumer downloads under the grant it bought.
        lab.run(&["download", "--grant", &grant, "bought.csv"]).await.ok();
        assert_eq!(std::fs::read(lab.path("bought.csv")).unwrap(), csv);

        // The provider's statement shows the sale: 99.00 less the 5% fee.
        let statement = acme.run(&["statement", "--output", "json"]).await;
        statement.ok();
        let statement = statement.json();
        let sale = statement["lines"].as_array().unwrap().iter().find(|l| l["category"] == "sale").cloned();
        let sale = sale.unwrap_or_else(|| panic!("no sale: {statement}"));
        assert_eq!((sale["gross"].as_i64(), sale["fee"].as_i64(), sale["amount"].as_i64()), (Some(9900), Some(495), Some(9405)));
        assert_eq!(sale["order"], order["id"]);
        assert!(acme.run(&["statement"]).await.stdout.contains("+94.05 CNY"));
        let sold = acme.run(&["orders", "list", "--role", "sold", "--output", "json"]).await;
        assert_eq!(sold.json()["items"][0]["id"], order["id"]);
        // It asks for a payout (the CLI makes the Idempotency-Key and prints
        // it), then withdraws the offer: no more orders.
        let payout = acme.run(&["payouts", "request", "5000", "CNY", "--output", "json"]).await;
        payout.ok();
        assert_eq!(payout.json()["state"], "requested");
        assert!(payout.json()["idempotency_key"].as_str().is_some_and(|k| k.parse::<uuid::Uuid>().is_ok()));
        let wallet = acme.run(&["wallet", "--output", "json"]).await;
        assert_eq!(wallet.json()["balances"][0]["amount"], 4405);
        let withdrawn = acme.run(&["offers", "withdraw", &offer_id, "--output", "json"]).await;
        withdrawn.ok();
        assert_eq!(withdrawn.json()["status"], "withdrawn");
        let refused = lab.run(&["orders", "place", &offer_id, "--output", "json"]).await;
        refused.code(5).stderr_has("/problems/invalid-state");
        assert_eq!(refused.json()["status"], 409);
    }
}

#[test]
fn completions_are_printed() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(env!("CARGO_BIN_EXE_datamarket"))
            .args(["completions", shell])
            .output()
            .expect("datamarket runs");
        assert!(output.status.success(), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(
            script.contains("datamarket") && script.contains("download"),
            "{shell}"
        );
    }
}

/// A server that breaks the first download off halfway, then honours the
/// Range the client resumes with: the CLI exits 6 and keeps FILE.part, and
/// the next run asks for the rest only and checks the whole file.
#[test]
fn a_download_broken_off_is_resumed() {
    use std::io::{BufRead, BufReader, Write};
    let bytes = payload(256 * 1024);
    let sha = sha256_hex(&bytes);
    let dataset = uuid::Uuid::new_v4();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let served = bytes.clone();
    let versions = serde_json::json!([{
        "version": 1, "sha256": sha, "size": bytes.len(), "media_type": "application/octet-stream",
        "created_at": "2026-01-01T00:00:00Z", "status": "available"
    }])
    .to_string();
    let server = std::thread::spawn(move || {
        let mut ranges = Vec::new();
        // versions, broken content, versions, the rest.
        for _ in 0..4 {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request = String::new();
            let mut range = None;
            loop {
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                if request.is_empty() {
                    request = line.clone();
                }
                if let Some(value) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
                    range = Some(value.trim().trim_end_matches('-').parse::<usize>().unwrap());
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut stream = stream;
            if request.contains("/versions ") {
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{versions}",
                    versions.len()
                )
                .unwrap();
                continue;
            }
            ranges.push(range);
            match range {
                None => {
                    write!(
                        stream,
                        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\netag: \"{sha}\"\r\nconnection: close\r\n\r\n",
                        served.len()
                    )
                    .unwrap();
                    stream.write_all(&served[..served.len() / 2]).unwrap();
                    stream.flush().unwrap();
                    // Broken off: the connection closes mid-body.
                }
                Some(start) => {
                    write!(
                        stream,
                        "HTTP/1.1 206 Partial Content\r\ncontent-length: {}\r\ncontent-range: bytes {start}-{}/{}\r\netag: \"{sha}\"\r\nconnection: close\r\n\r\n",
                        served.len() - start,
                        served.len() - 1,
                        served.len()
                    )
                    .unwrap();
                    stream.write_all(&served[start..]).unwrap();
                }
            }
        }
        ranges
    });
    let home = tempfile::tempdir().unwrap();
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_datamarket"))
            .args(["download", &dataset.to_string(), "out.bin"])
            .current_dir(home.path())
            .env("HOME", home.path())
            .env("XDG_CONFIG_HOME", home.path())
            .env("DATAMARKET_SERVER", &base)
            .env("DATAMARKET_TOKEN", "a-token")
            .env_remove("DATAMARKET_PROFILE")
            .env_remove("DATAMARKET_DATA_TOKEN")
            .output()
            .unwrap()
    };
    let broken = run();
    assert_eq!(
        broken.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );
    assert!(String::from_utf8_lossy(&broken.stderr).contains("resume"));
    let part = std::fs::read(home.path().join("out.bin.part")).unwrap();
    assert_eq!(
        part,
        bytes[..bytes.len() / 2],
        "the bytes that came are kept"
    );
    assert!(!exists(&home.path().join("out.bin")));
    let resumed = run();
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    assert_eq!(std::fs::read(home.path().join("out.bin")).unwrap(), bytes);
    assert!(!exists(&home.path().join("out.bin.part")));
    assert_eq!(server.join().unwrap(), vec![None, Some(bytes.len() / 2)]);
}
