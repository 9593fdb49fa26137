//! The Dataspace Protocol endpoints, driven by a small consumer written from
//! the specification's example messages (tests/data/dataspace-protocol),
//! with its own callback listener: catalog → negotiation → the holder's
//! approval through the API → agreement → verification → FINALIZED →
//! transfer → start with a data address → download → completion; and the
//! refusals. Every message exchanged is checked against its JSON Schema
//! (tests/data/dataspace-protocol/validate.py, when Python's `jsonschema`
//! is there; `.ci/dsp_schemas` makes sure it is).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::support::*;

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/dataspace-protocol");
const PAYLOAD: &[u8] = b"city,count\nbeijing,42\n";

/// An example message of the specification.
fn example(path: &str) -> Value {
    let text = std::fs::read_to_string(format!("{DATA}/schemas/{path}")).expect("example");
    serde_json::from_str(&text).expect("example JSON")
}

fn urn() -> String {
    format!("urn:uuid:{}", Uuid::new_v4())
}

/// Every message exchanged, with the schema it must satisfy.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Value>>>);

impl Log {
    fn record(&self, schema: &str, message: &Value) {
        self.0
            .lock()
            .expect("log")
            .push(json!({"schema": schema, "message": message}));
    }

    /// Validates everything recorded with the Python checker. Without
    /// Python's jsonschema the check is skipped, unless DSP_SCHEMA_REQUIRED
    /// says it must run (as `.ci/dsp_schemas` does).
    fn validate(&self) {
        let python = std::env::var("DSP_SCHEMA_PYTHON").unwrap_or_else(|_| "python3".into());
        let required = std::env::var("DSP_SCHEMA_REQUIRED").is_ok_and(|v| v == "1");
        let available = std::process::Command::new(&python)
            .args(["-c", "import jsonschema, referencing"])
            .status()
            .is_ok_and(|s| s.success());
        if !available {
            assert!(
                !required,
                "DSP_SCHEMA_REQUIRED=1 but {python} has no jsonschema"
            );
            eprintln!("note: {python} has no jsonschema; message schemas not checked here");
            return;
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("messages.jsonl");
        let lines: Vec<String> = self
            .0
            .lock()
            .expect("log")
            .iter()
            .map(Value::to_string)
            .collect();
        std::fs::write(&path, lines.join("\n")).expect("write messages");
        if let Ok(keep) = std::env::var("DSP_MESSAGES_OUT") {
            std::fs::copy(&path, keep).expect("keep messages");
        }
        let out = std::process::Command::new(&python)
            .arg(format!("{DATA}/validate.py"))
            .arg(&path)
            .output()
            .expect("run validate.py");
        assert!(
            out.status.success(),
            "messages invalid against the schemas:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The consumer's callback endpoint: a plain HTTP/1.1 listener that answers
/// 200 to every POST and hands on (path, message).
struct Callback {
    base: String,
    messages: mpsc::UnboundedReceiver<(String, Value)>,
    task: tokio::task::JoinHandle<()>,
}

impl Callback {
    async fn start() -> Callback {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}/callback", listener.local_addr().expect("addr"));
        let (tx, messages) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Some((path, body)) = read_request(&mut socket).await {
                        let _ = socket
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                            .await;
                        let _ = tx.send((path, body));
                    }
                });
            }
        });
        Callback {
            base,
            messages,
            task,
        }
    }

    /// The next message, which must arrive at `path` (under /callback).
    async fn expect(&mut self, path: &str) -> Value {
        let (got, body) = tokio::time::timeout(Duration::from_secs(20), self.messages.recv())
            .await
            .unwrap_or_else(|_| panic!("no callback to {path} within 20 s"))
            .expect("listener running");
        assert_eq!(
            got,
            format!("/callback/{path}"),
            "callback path; body {body}"
        );
        body
    }
}

impl Drop for Callback {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn read_request(socket: &mut tokio::net::TcpStream) -> Option<(String, Value)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let path = head.split_whitespace().nth(1)?.to_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = socket.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = serde_json::from_slice(&buf[head_end..]).unwrap_or(Value::Null);
    Some((path, body))
}

/// The consumer: an account, its callback listener and the message log.
struct Consumer {
    user: User,
    callback: Callback,
    log: Log,
}

impl Consumer {
    async fn new(app: &TestApp, name: &str, log: &Log) -> Consumer {
        Consumer {
            user: app.consumer(name).await,
            callback: Callback::start().await,
            log: log.clone(),
        }
    }

    /// Sends a message (checked against `schema` later) and records the answer.
    async fn send(&self, app: &TestApp, path: &str, schema: &str, message: Value) -> Reply {
        self.log.record(schema, &message);
        let reply = app.post(path, Some(&self.user.token), message).await;
        self.record_answer(&reply);
        reply
    }

    fn record_answer(&self, reply: &Reply) {
        let schema = match reply.body["@type"].as_str() {
            Some("ContractNegotiation") => "negotiation/contract-negotiation-schema.json",
            Some("ContractNegotiationError") => {
                "negotiation/contract-negotiation-error-schema.json"
            }
            Some("TransferProcess") => "transfer/transfer-process-schema.json",
            Some("TransferError") => "transfer/transfer-error-schema.json",
            Some("Catalog") => "catalog/catalog-schema.json",
            Some("Dataset") => "catalog/dataset-schema.json",
            Some("CatalogError") => "catalog/catalog-error-schema.json",
            _ => return,
        };
        self.log.record(schema, &reply.body);
    }

    async fn get(&self, app: &TestApp, path: &str) -> Reply {
        let reply = app.get(path, Some(&self.user.token)).await;
        self.record_answer(&reply);
        reply
    }

    async fn expect_callback(&mut self, path: &str, schema: &str) -> Value {
        let message = self.callback.expect(path).await;
        self.log.record(schema, &message);
        message
    }
}

/// Asserts a protocol error of the given status and code.
#[track_caller]
fn dsp_error(reply: &Reply, status: u16, kind: &str, code: &str) {
    reply.expect(status);
    assert_eq!(reply.body["@type"], kind, "{}", reply.body);
    assert_eq!(reply.body["code"], code, "{}", reply.body);
    assert!(
        reply.body["reason"][0]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
}

/// A negotiation of `consumer` on `dataset` driven to FINALIZED, the holder
/// approving through the API: (providerPid, consumerPid, agreement id).
async fn finalized(
    app: &TestApp,
    consumer: &mut Consumer,
    holder: &User,
    dataset: Uuid,
) -> (String, String, String) {
    // The catalog names the dataset and its request-based offer.
    let catalog = consumer
        .send(
            app,
            "/dsp/catalog/request",
            "catalog/catalog-request-message-schema.json",
            example("catalog/example/catalog-request-message.json"),
        )
        .await;
    catalog.expect(200);
    let entry = catalog.body["dataset"]
        .as_array()
        .expect("datasets")
        .iter()
        .find(|d| d["@id"] == format!("urn:uuid:{dataset}"))
        .expect("the listed dataset is in the catalog")
        .clone();
    let offer = entry["hasPolicy"][0]["@id"]
        .as_str()
        .expect("an offer")
        .to_owned();
    assert_eq!(entry["distribution"][0]["format"], "HttpData-PULL");

    let consumer_pid = urn();
    let mut request = example("negotiation/example/contract-request-message_initial.json");
    request["consumerPid"] = json!(consumer_pid);
    request["offer"]["@id"] = json!(offer);
    request["offer"]["target"] = json!(format!("urn:uuid:{dataset}"));
    request["callbackAddress"] = json!(consumer.callback.base);
    let created = consumer
        .send(
            app,
            "/dsp/negotiations/request",
            "negotiation/contract-request-message-schema.json",
            request,
        )
        .await;
    created.expect(201);
    assert_eq!(created.body["@type"], "ContractNegotiation");
    assert_eq!(created.body["state"], "REQUESTED");
    assert_eq!(created.body["consumerPid"], consumer_pid);
    let provider_pid = created.body["providerPid"]
        .as_str()
        .expect("providerPid")
        .to_owned();

    // The holder decides the market's own access request, as ever.
    let incoming = app
        .get(
            "/api/v1/access-requests?role=incoming&state=pending",
            Some(&holder.token),
        )
        .await;
    incoming.expect(200);
    let request_id = incoming.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|r| {
            r["dataset"] == dataset.to_string() && r["consumer"] == consumer.user.id.to_string()
        })
        .expect("the negotiation's access request")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.post(
        &format!("/api/v1/access-requests/{request_id}/approve"),
        Some(&holder.token),
        json!({}),
    )
    .await
    .expect(200);

    let agreement = consumer
        .expect_callback(
            &format!("negotiations/{consumer_pid}/agreement"),
            "negotiation/contract-agreement-message-schema.json",
        )
        .await;
    assert_eq!(agreement["@type"], "ContractAgreementMessage");
    assert_eq!(agreement["providerPid"], provider_pid);
    let agreement_id = agreement["agreement"]["@id"]
        .as_str()
        .expect("agreement id")
        .to_owned();
    assert_eq!(
        agreement["agreement"]["target"],
        format!("urn:uuid:{dataset}")
    );
    let state = consumer
        .get(app, &format!("/dsp/negotiations/{provider_pid}"))
        .await;
    state.expect(200);
    assert_eq!(state.body["state"], "AGREED");

    let mut verification =
        example("negotiation/example/contract-agreement-verification-message.json");
    verification["providerPid"] = json!(provider_pid);
    verification["consumerPid"] = json!(consumer_pid);
    let verified = consumer
        .send(
            app,
            &format!("/dsp/negotiations/{provider_pid}/agreement/verification"),
            "negotiation/contract-agreement-verification-message-schema.json",
            verification,
        )
        .await;
    verified.expect(200);
    assert_eq!(verified.body["state"], "VERIFIED");
    let event = consumer
        .expect_callback(
            &format!("negotiations/{consumer_pid}/events"),
            "negotiation/contract-negotiation-event-message-schema.json",
        )
        .await;
    assert_eq!(event["eventType"], "FINALIZED");
    let state = consumer
        .get(app, &format!("/dsp/negotiations/{provider_pid}"))
        .await;
    assert_eq!(state.body["state"], "FINALIZED");
    (provider_pid, consumer_pid, agreement_id)
}

/// A transfer request under `agreement`: (reply, consumerPid).
async fn request_transfer(app: &TestApp, consumer: &Consumer, agreement: &str) -> (Reply, String) {
    let consumer_pid = urn();
    let mut request = example("transfer/example/transfer-request-message.json");
    request["consumerPid"] = json!(consumer_pid);
    request["agreementId"] = json!(agreement);
    request["format"] = json!("HttpData-PULL");
    request["callbackAddress"] = json!(consumer.callback.base);
    request
        .as_object_mut()
        .expect("object")
        .remove("dataAddress");
    let reply = consumer
        .send(
            app,
            "/dsp/transfers/request",
            "transfer/transfer-request-message-schema.json",
            request,
        )
        .await;
    (reply, consumer_pid)
}

/// The data address's endpoint and token.
fn data_address(start: &Value) -> (String, String) {
    let address = &start["dataAddress"];
    assert_eq!(address["endpointType"], "https://w3id.org/idsa/v4.1/HTTP");
    let token = address["endpointProperties"]
        .as_array()
        .expect("endpoint properties")
        .iter()
        .find(|p| p["name"] == "authorization")
        .expect("an authorization property")["value"]
        .as_str()
        .expect("token")
        .to_owned();
    (
        address["endpoint"].as_str().expect("endpoint").to_owned(),
        token,
    )
}

async fn pull(app: &TestApp, endpoint: &str, token: &str) -> reqwest::Response {
    app.client
        .get(endpoint)
        .bearer_auth(token)
        .send()
        .await
        .expect("download sent")
}

fn actions(entries: &[Value]) -> Vec<String> {
    entries
        .iter()
        .map(|e| e["action"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// The consumers' callback listeners are on this machine.
fn local_callbacks(settings: &mut datamarket::config::Settings) {
    settings.events.allow_private_targets = true;
}

both_backends! {
    async fn negotiation_transfer_and_download(app: TestApp, Box::new(local_callbacks)) {
        let log = Log::default();
        let version = app.get("/.well-known/dspace-version", None).await;
        version.expect(200);
        log.record("common/protocol-version-schema.json", &version.body);
        assert_eq!(version.body["protocolVersions"][0]["path"], "/dsp");

        let holder = app.provider("holder").await;
        let dataset = app.listed_dataset(&holder, "Intersection counts").await;
        let mut consumer = Consumer::new(&app, "consumer", &log).await;
        let one = consumer.get(&app, &format!("/dsp/catalog/datasets/urn:uuid:{dataset}")).await;
        one.expect(200);
        assert_eq!(one.body["@type"], "Dataset");
        let from = app.audit_size().await;

        let (provider_pid, consumer_pid, agreement) =
            finalized(&app, &mut consumer, &holder, dataset).await;

        // A request on a FINALIZED negotiation is an illegal transition.
        let mut again = example("negotiation/example/contract-request-message.json");
        again["providerPid"] = json!(provider_pid);
        again["consumerPid"] = json!(consumer_pid);
        again["offer"]["target"] = json!(format!("urn:uuid:{dataset}"));
        let refused = consumer
            .send(&app, &format!("/dsp/negotiations/{provider_pid}/request"),
                "negotiation/contract-request-message-schema.json", again)
            .await;
        dsp_error(&refused, 400, "ContractNegotiationError", "invalid-state");
        assert_eq!(refused.body["providerPid"], provider_pid);

        let (requested, transfer_cpid) = request_transfer(&app, &consumer, &agreement).await;
        requested.expect(201);
        assert_eq!(requested.body["@type"], "TransferProcess");
        assert_eq!(requested.body["state"], "REQUESTED");
        let transfer_pid = requested.body["providerPid"].as_str().expect("providerPid").to_owned();
        let start = consumer
            .expect_callback(&format!("transfers/{transfer_cpid}/start"),
                "transfer/transfer-start-message-schema.json")
            .await;
        assert_eq!(start["@type"], "TransferStartMessage");
        assert_eq!(start["providerPid"], transfer_pid);
        let state = consumer.get(&app, &format!("/dsp/transfers/{transfer_pid}")).await;
        assert_eq!(state.body["state"], "STARTED");

        let (endpoint, token) = data_address(&start);
        assert!(endpoint.ends_with(&format!("/api/v1/datasets/{dataset}/versions/1/content")), "{endpoint}");
        let download = pull(&app, &endpoint, &token).await;
        assert_eq!(download.status(), 200);
        assert_eq!(download.bytes().await.expect("bytes").as_ref(), PAYLOAD);

        // Suspended, then resumed: REQUESTED until the new start message
        // goes out; a second resume meanwhile changes nothing.
        let mut suspension = example("transfer/example/transfer-suspension-message.json");
        suspension["providerPid"] = json!(transfer_pid);
        suspension["consumerPid"] = json!(transfer_cpid);
        let suspended = consumer
            .send(&app, &format!("/dsp/transfers/{transfer_pid}/suspension"),
                "transfer/transfer-suspension-message-schema.json", suspension)
            .await;
        suspended.expect(200);
        assert_eq!(suspended.body["state"], "SUSPENDED");
        let mut resume = example("transfer/example/transfer-start-message.json");
        resume["providerPid"] = json!(transfer_pid);
        resume["consumerPid"] = json!(transfer_cpid);
        let resumed = consumer
            .send(&app, &format!("/dsp/transfers/{transfer_pid}/start"),
                "transfer/transfer-start-message-schema.json", resume.clone())
            .await;
        resumed.expect(200);
        assert_eq!(resumed.body["state"], "REQUESTED");
        let twice = consumer
            .send(&app, &format!("/dsp/transfers/{transfer_pid}/start"),
                "transfer/transfer-start-message-schema.json", resume)
            .await;
        dsp_error(&twice, 400, "TransferError", "invalid-state");
        let restart = consumer
            .expect_callback(&format!("transfers/{transfer_cpid}/start"),
                "transfer/transfer-start-message-schema.json")
            .await;
        let (_, second_token) = data_address(&restart);
        assert_ne!(second_token, token, "a new data token");
        let state = consumer.get(&app, &format!("/dsp/transfers/{transfer_pid}")).await;
        assert_eq!(state.body["state"], "STARTED");
        // One start message per resume, and it went out (marked sent just
        // after the listener answered).
        let mut pending = -1;
        for _ in 0..50 {
            pending = app.market.db.read(|conn| {
                use datamarket::store::schema::dsp_callbacks;
                use diesel::prelude::*;
                Ok(dsp_callbacks::table
                    .filter(dsp_callbacks::state.eq("pending"))
                    .count()
                    .get_result::<i64>(conn)?)
            }).await.unwrap();
            if pending == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(pending, 0, "no start message left pending");

        let mut completion = example("transfer/example/transfer-completion-message.json");
        completion["providerPid"] = json!(transfer_pid);
        completion["consumerPid"] = json!(transfer_cpid);
        let completed = consumer
            .send(&app, &format!("/dsp/transfers/{transfer_pid}/completion"),
                "transfer/transfer-completion-message-schema.json", completion.clone())
            .await;
        completed.expect(200);
        assert_eq!(completed.body["state"], "COMPLETED");
        assert!(!completed.audit_indexes().is_empty());
        // Completed is final.
        let twice = consumer
            .send(&app, &format!("/dsp/transfers/{transfer_pid}/completion"),
                "transfer/transfer-completion-message-schema.json", completion)
            .await;
        dsp_error(&twice, 400, "TransferError", "invalid-state");

        let seen = actions(&app.audit_since(from).await);
        for action in [
            "access_request.created", "dsp_negotiation.requested", "access_request.approved",
            "grant.created", "dsp_negotiation.agreed", "dsp_negotiation.verified",
            "dsp_negotiation.finalized", "dsp_transfer.requested", "data_token.issued",
            "dsp_transfer.started", "delivery.completed", "dsp_transfer.suspended",
            "dsp_transfer.completed",
        ] {
            assert!(seen.iter().any(|a| a == action), "audit has {action}: {seen:?}");
        }
        let position = |a: &str| seen.iter().position(|s| s == a).expect("present");
        assert!(position("dsp_negotiation.agreed") < position("dsp_negotiation.verified"));
        assert!(position("dsp_transfer.started") < position("delivery.completed"));
        log.validate();
    }

    async fn refusals(app: TestApp, Box::new(local_callbacks)) {
        let log = Log::default();
        let holder = app.provider("holder").await;
        let dataset = app.listed_dataset(&holder, "Intersection counts").await;
        let other_dataset = app.listed_dataset(&holder, "Bus routes").await;
        let mut consumer = Consumer::new(&app, "consumer", &log).await;
        let stranger = Consumer::new(&app, "stranger", &log).await;

        // Malformed and invalid messages: 400 with the protocol's error.
        let malformed = app
            .post_raw("/dsp/negotiations/request", Some(&consumer.user.token), "application/json", b"{not json".to_vec())
            .await;
        dsp_error(&malformed, 400, "ContractNegotiationError", "malformed-body");
        log.record("negotiation/contract-negotiation-error-schema.json", &malformed.body);
        let mut wrong_type = example("negotiation/example/contract-request-message_initial.json");
        wrong_type["@type"] = json!("ContractOfferMessage");
        let invalid = app.post("/dsp/negotiations/request", Some(&consumer.user.token), wrong_type).await;
        dsp_error(&invalid, 400, "ContractNegotiationError", "invalid-body");
        // An offer this catalog does not have.
        let mut unknown = example("negotiation/example/contract-request-message_initial.json");
        unknown["callbackAddress"] = json!(consumer.callback.base);
        let refused = consumer
            .send(&app, "/dsp/negotiations/request", "negotiation/contract-request-message-schema.json", unknown)
            .await;
        dsp_error(&refused, 400, "ContractNegotiationError", "validation-failed");
        // No token.
        let anonymous = app
            .post("/dsp/negotiations/request", None, example("negotiation/example/contract-request-message_initial.json"))
            .await;
        dsp_error(&anonymous, 401, "ContractNegotiationError", "unauthenticated");

        let (provider_pid, consumer_pid, agreement) =
            finalized(&app, &mut consumer, &holder, dataset).await;

        // Someone else's negotiation does not exist for them.
        let theirs = stranger.get(&app, &format!("/dsp/negotiations/{provider_pid}")).await;
        dsp_error(&theirs, 404, "ContractNegotiationError", "not-found");
        let mut verification = example("negotiation/example/contract-agreement-verification-message.json");
        verification["providerPid"] = json!(provider_pid);
        verification["consumerPid"] = json!(consumer_pid);
        let not_theirs = stranger
            .send(&app, &format!("/dsp/negotiations/{provider_pid}/agreement/verification"),
                "negotiation/contract-agreement-verification-message-schema.json", verification.clone())
            .await;
        dsp_error(&not_theirs, 404, "ContractNegotiationError", "not-found");
        // Nor is their agreement theirs to transfer under.
        let (foreign, _) = request_transfer(&app, &stranger, &agreement).await;
        dsp_error(&foreign, 404, "TransferError", "not-found");
        // Verifying twice: FINALIZED is past AGREED.
        let twice = consumer
            .send(&app, &format!("/dsp/negotiations/{provider_pid}/agreement/verification"),
                "negotiation/contract-agreement-verification-message-schema.json", verification)
            .await;
        dsp_error(&twice, 400, "ContractNegotiationError", "invalid-state");

        // Verification before any agreement, then the consumer terminates.
        let catalog_offer = format!("urn:datamarket:offer:request:{other_dataset}");
        let second_cpid = urn();
        let mut request = example("negotiation/example/contract-request-message_initial.json");
        request["consumerPid"] = json!(second_cpid);
        request["offer"]["@id"] = json!(catalog_offer);
        request["offer"]["target"] = json!(format!("urn:uuid:{other_dataset}"));
        request["callbackAddress"] = json!(consumer.callback.base);
        let second = consumer
            .send(&app, "/dsp/negotiations/request", "negotiation/contract-request-message-schema.json", request)
            .await;
        second.expect(201);
        let second_pid = second.body["providerPid"].as_str().expect("pid").to_owned();
        let mut early = example("negotiation/example/contract-agreement-verification-message.json");
        early["providerPid"] = json!(second_pid);
        early["consumerPid"] = json!(second_cpid);
        let early_reply = consumer
            .send(&app, &format!("/dsp/negotiations/{second_pid}/agreement/verification"),
                "negotiation/contract-agreement-verification-message-schema.json", early.clone())
            .await;
        dsp_error(&early_reply, 400, "ContractNegotiationError", "invalid-state");
        assert_eq!(early_reply.body["providerPid"], second_pid);
        assert_eq!(early_reply.body["consumerPid"], second_cpid);
        let mut termination = example("negotiation/example/contract-negotiation-termination-message.json");
        termination["providerPid"] = json!(second_pid);
        termination["consumerPid"] = json!(second_cpid);
        let terminated = consumer
            .send(&app, &format!("/dsp/negotiations/{second_pid}/termination"),
                "negotiation/contract-negotiation-termination-message-schema.json", termination.clone())
            .await;
        terminated.expect(200);
        assert_eq!(terminated.body["state"], "TERMINATED");
        let outgoing = app.get("/api/v1/access-requests?role=outgoing", Some(&consumer.user.token)).await;
        let withdrawn = outgoing.body["items"].as_array().expect("items").iter()
            .find(|r| r["dataset"] == other_dataset.to_string()).expect("the request").clone();
        assert_eq!(withdrawn["state"], "withdrawn");
        let again = consumer
            .send(&app, &format!("/dsp/negotiations/{second_pid}/termination"),
                "negotiation/contract-negotiation-termination-message-schema.json", termination)
            .await;
        dsp_error(&again, 400, "ContractNegotiationError", "invalid-state");
        // A message queued before the consumer ended the negotiation (an
        // agreement, a FINALIZED event) is not sent, nor its state made.
        for kind in [datamarket::dataspace::CallbackKind::Agreement, datamarket::dataspace::CallbackKind::Finalized] {
            let due = datamarket::dataspace::Due {
                id: Uuid::new_v4().to_string(),
                process_id: second_pid.trim_start_matches("urn:uuid:").to_owned(),
                kind,
                url: format!("{}/negotiations/{second_cpid}/agreement", consumer.callback.base),
                body: json!({}),
                attempts: 1,
            };
            let ready = datamarket::dataspace::callbacks::prepare(&app.market, &due).await.expect("prepare");
            assert_eq!(ready, None, "{kind:?} after the termination");
        }
        let state = consumer.get(&app, &format!("/dsp/negotiations/{second_pid}")).await;
        assert_eq!(state.body["state"], "TERMINATED");

        // A started transfer, then the grant revoked: the download is
        // refused, and so is a new transfer.
        let (requested, transfer_cpid) = request_transfer(&app, &consumer, &agreement).await;
        requested.expect(201);
        let start = consumer
            .expect_callback(&format!("transfers/{transfer_cpid}/start"), "transfer/transfer-start-message-schema.json")
            .await;
        let (endpoint, token) = data_address(&start);
        let grant = agreement.trim_start_matches("urn:uuid:");
        app.post(&format!("/api/v1/grants/{grant}/revoke"), Some(&holder.token), json!({"reason": "licence breach"}))
            .await
            .expect(200);
        let refused = pull(&app, &endpoint, &token).await;
        assert_eq!(refused.status(), 403);
        let problem: Value = refused.json().await.expect("problem");
        assert_eq!(problem["type"], "/problems/grant-revoked");
        let (after, _) = request_transfer(&app, &consumer, &agreement).await;
        dsp_error(&after, 403, "TransferError", "grant-revoked");
        // A format the market does not offer.
        let mut push = example("transfer/example/transfer-request-message.json");
        push["callbackAddress"] = json!(consumer.callback.base);
        push["agreementId"] = json!(agreement);
        let push_reply = consumer
            .send(&app, "/dsp/transfers/request", "transfer/transfer-request-message-schema.json", push)
            .await;
        dsp_error(&push_reply, 400, "TransferError", "validation-failed");
        log.validate();
    }
}

both_backends! {
    async fn callbacks_into_this_machine_are_refused(app: TestApp) {
        // By default the market sends to no loopback or private address:
        // a consumer must not make it reach what only it can reach.
        let consumer = app.consumer("consumer").await;
        for address in ["http://127.0.0.1:9/callback", "http://localhost/cb", "http://10.0.0.8/cb"] {
            let mut message = example("negotiation/example/contract-request-message_initial.json");
            message["callbackAddress"] = json!(address);
            let refused = app.post("/dsp/negotiations/request", Some(&consumer.token), message).await;
            dsp_error(&refused, 400, "ContractNegotiationError", "validation-failed");
            assert!(refused.body["reason"][0].as_str().unwrap().contains("private network"), "{}", refused.body);
        }
        let negotiations: i64 = app.market.db.read(|conn| {
            use diesel::prelude::*;
            Ok(datamarket::store::schema::dsp_negotiations::table.count().get_result(conn)?)
        }).await.unwrap();
        assert_eq!(negotiations, 0, "nothing was written");
    }
}
