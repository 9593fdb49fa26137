//! Witnessed checkpoints end to end: a `datamarket witness` process (the
//! real binary) cosigns the market's checkpoints, which an instance of the
//! market collects and serves; `datamarket audit verify --witness` accepts
//! the witnessed log. A fork of the log (a second market on a fresh
//! database with the same platform keys and origin, and another history)
//! is refused by the witness, which keeps its state, and the verifier
//! fails against it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use datamarket::Market;
use datamarket::audit::cosignature::{AddCheckpoint, Vkey};
use datamarket::audit::verify::hash_from_hex;
use datamarket::config::WitnessSettings;
use datamarket::witness::collector::{self, Target};
use ed25519_dalek::{Signer, SigningKey};

use crate::support::*;

const WITNESS: &str = "witness.test/w1";

/// A `datamarket witness` process and the vkey it printed.
struct WitnessProcess {
    child: std::process::Child,
    base: String,
    vkey: String,
}

impl WitnessProcess {
    async fn start(state: &std::path::Path, log: &str) -> WitnessProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_datamarket"))
            .args(["witness", "--name", WITNESS, "--log", log, "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(state)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start datamarket witness");
        let stdout = child.stdout.take().unwrap();
        let vkey = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line.trim().to_owned()
        })
        .await
        .unwrap();
        let witness = WitnessProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            vkey,
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{}/0/checkpoint", witness.base))
                .send()
                .await
                .is_ok()
            {
                return witness;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the witness did not start");
    }

    async fn add_checkpoint(&self, body: String) -> Reply {
        TestApp::read(
            reqwest::Client::new()
                .post(format!("{}/add-checkpoint", self.base))
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// The newest checkpoint the witness cosigned for the market's log.
    async fn cosigned(&self, origin: &str) -> String {
        let hash = datamarket::witness::state::origin_hash(origin);
        reqwest::get(format!("{}/{hash}/checkpoint", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Another gateway over `app`'s database and keys whose settings name the
/// witness, with the collector running every second.
struct Witnessed {
    base: String,
    handle: actix_web::dev::ServerHandle,
    collector: tokio::task::JoinHandle<()>,
}

impl Witnessed {
    async fn start(app: &TestApp, witness: &WitnessProcess) -> Witnessed {
        let mut settings = app.settings.clone();
        settings.audit.witnesses = vec![WitnessSettings {
            url: witness.base.clone(),
            vkey: witness.vkey.clone(),
        }];
        settings.audit.witness_quorum = 1;
        settings.audit.witness_interval_secs = 1;
        let market = tokio::task::spawn_blocking(move || Market::open(settings))
            .await
            .unwrap()
            .expect("the witnessed instance opens");
        let collector = datamarket::witness::spawn_collector(market.clone())
            .unwrap()
            .expect("a witness is configured");
        let running = datamarket::gateway::start(market.clone()).unwrap();
        let handle = running.handle.clone();
        tokio::spawn(running.server);
        Witnessed {
            base: format!("http://{}", running.addr),
            handle,
            collector,
        }
    }

    /// Waits until the served witnessed checkpoint covers `size` entries.
    async fn witnessed_at(&self, token: &str, size: u64) -> String {
        let client = reqwest::Client::new();
        for _ in 0..200 {
            let reply = client
                .get(format!("{}/api/v1/audit/checkpoint/witnessed", self.base))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            if reply.status().is_success() {
                let text = reply.text().await.unwrap();
                if text.split('\n').nth(1) == Some(size.to_string().as_str()) {
                    return text;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no witnessed checkpoint of size {size}");
    }
}

impl Drop for Witnessed {
    fn drop(&mut self) {
        self.collector.abort();
        let handle = self.handle.clone();
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(async move { handle.stop(false).await });
        }
    }
}

/// `datamarket audit verify ARGS`: exit code and standard output.
async fn verify(args: Vec<String>) -> (i32, String, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_datamarket"))
            .args(["audit", "verify"])
            .args(&args)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .unwrap()
}

/// The market's newest head: size and checkpoint.
async fn newest(app: &TestApp) -> (u64, String) {
    let head = datamarket::audit::tree_head(&app.market.db, None)
        .await
        .unwrap();
    (head.tree_size, head.checkpoint)
}

fn log_vkey(app: &TestApp) -> String {
    Vkey::log(
        &app.settings.audit.origin,
        app.market.keys.active().verifying_key(),
    )
    .to_string()
}

both_backends! {
    async fn a_witness_cosigns_the_log_and_refuses_a_fork(app: TestApp) {
        let state = tempfile::tempdir().unwrap();
        let witness = WitnessProcess::start(state.path(), &log_vkey(&app)).await;
        assert!(witness.vkey.starts_with(&format!("{WITNESS}+")), "{}", witness.vkey);
        let witnessed = Witnessed::start(&app, &witness).await;
        let auditor = app.auditor("witness-auditor").await;
        let provider = app.provider("witnessed-provider").await;
        app.listed_dataset(&provider, "Witnessed counts").await;
        let (size, _) = newest(&app).await;
        let note = witnessed.witnessed_at(&auditor.token, size).await;
        assert!(note.contains(&format!("\n\u{2014} {WITNESS} ")), "{note}");

        // More changes: the collector proves consistency from the size the
        // witness cosigned to the new head.
        app.listed_dataset(&provider, "Witnessed counts, again").await;
        let (size, checkpoint) = newest(&app).await;
        let note = witnessed.witnessed_at(&auditor.token, size).await;
        assert!(note.starts_with(&checkpoint), "the log's note, then the cosignature");
        println!("witnessed checkpoint:\n{note}");

        let witness_args = |base: &str| {
            vec![
                "--server".to_owned(),
                base.to_owned(),
                "--token".to_owned(),
                auditor.token.clone(),
                "--witness".to_owned(),
                witness.vkey.clone(),
                "--quorum".to_owned(),
                "1".to_owned(),
            ]
        };
        let (code, out, err) = verify(witness_args(&witnessed.base)).await;
        assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
        assert!(out.contains("cosigned by 1 of 1 witnesses (quorum 1)"), "{out}");
        // A key that is not the witness's is no quorum.
        let stranger = Vkey::cosigner(WITNESS, SigningKey::from_bytes(&[3u8; 32]).verifying_key());
        let mut args = witness_args(&witnessed.base);
        args[5] = stranger.to_string();
        let (code, out, _) = verify(args).await;
        assert_ne!(code, 0);
        assert!(out.contains("fewer than the quorum of 1"), "{out}");

        // The refusals, straight to the witness. A stale old size: 409 with
        // the witness's size.
        let stale = witness
            .add_checkpoint(AddCheckpoint { old_size: 0, proof: vec![], checkpoint: checkpoint.clone() }.to_body())
            .await;
        stale.expect(409);
        assert_eq!(stale.header("content-type"), Some("text/x.tlog.size"));
        assert_eq!(&stale.bytes[..], format!("{size}\n").as_bytes());
        // A log signature by another key: 403.
        let forger = SigningKey::from_bytes(&[9u8; 32]);
        let text = checkpoint[..checkpoint.find("\n\n").unwrap() + 1].to_owned();
        let forged = datamarket::audit::checkpoint::signed_note(
            &text,
            &app.settings.audit.origin,
            &forger.verifying_key(),
            &forger.sign(text.as_bytes()),
        );
        witness
            .add_checkpoint(AddCheckpoint { old_size: size, proof: vec![], checkpoint: forged }.to_body())
            .await
            .expect(403);

        // The fork: a fresh database, the same platform keys and origin,
        // another (and longer) history.
        let keys_dir = app.settings.auth.keys_dir.clone();
        let fork = TestApp::spawn_with(app.backend, Box::new(move |s| s.auth.keys_dir = keys_dir))
            .await
            .unwrap();
        let forger = fork.provider("someone-else").await;
        for n in 0..3 {
            fork.listed_dataset(&forger, &format!("Another history {n}")).await;
        }
        let (fork_size, fork_checkpoint) = newest(&fork).await;
        assert!(fork_size > size, "the fork is longer: {fork_size} > {size}");
        assert_eq!(log_vkey(&fork), log_vkey(&app), "same key, same origin");
        // (1) The witness refuses it: the proof from its size leads
        // elsewhere.
        let proof = datamarket::audit::consistency_proof(&fork.market.db, size, Some(fork_size))
            .await
            .unwrap()
            .proof
            .iter()
            .map(|h| hash_from_hex(h).unwrap())
            .collect();
        let refused = witness
            .add_checkpoint(AddCheckpoint { old_size: size, proof, checkpoint: fork_checkpoint }.to_body())
            .await;
        refused.expect(422);
        // So does the fork's collector (409 first, then 422 from the size
        // the witness names).
        let target = Target {
            url: witness.base.clone(),
            vkey: Vkey::parse(&witness.vkey).unwrap(),
        };
        let error = collector::submit(&fork.market, &reqwest::Client::new(), &target)
            .await
            .unwrap_err();
        assert!(error.contains("422"), "{error}");
        // ... and keeps what it cosigned.
        let kept = witness.cosigned(&app.settings.audit.origin).await;
        assert!(kept.starts_with(&checkpoint), "{kept}");

        // (2) The verifier fails against the forked log: no cosignature.
        let fork_witnessed = Witnessed::start(&fork, &witness).await;
        let fork_auditor = fork.auditor("fork-auditor").await;
        let mut args = witness_args(&fork_witnessed.base);
        args[3] = fork_auditor.token.clone();
        let (code, out, _) = verify(args).await;
        assert_ne!(code, 0, "the fork must not verify: {out}");
        assert!(out.contains("not witnessed"), "{out}");
        // The honest log still verifies.
        let (code, out, _) = verify(witness_args(&witnessed.base)).await;
        assert_eq!(code, 0, "{out}");
        drop(fork_witnessed);
        drop(witnessed);

        // A restarted witness keeps its key and its size.
        let vkey = witness.vkey.clone();
        drop(witness);
        let again = WitnessProcess::start(state.path(), &log_vkey(&app)).await;
        assert_eq!(again.vkey, vkey);
        let stale = again
            .add_checkpoint(AddCheckpoint { old_size: 0, proof: vec![], checkpoint }.to_body())
            .await;
        stale.expect(409);
        assert_eq!(&stale.bytes[..], format!("{size}\n").as_bytes());
    }
}
