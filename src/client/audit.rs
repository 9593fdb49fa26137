//! The audit log checked from outside, over HTTP: `datamarket audit verify
//! --server` streams every entry of the newest signed head into the offline
//! verifier ([`crate::audit::verify`]), and `audit prove` checks one entry's
//! inclusion proof against a signed head.

use std::fmt;

use serde::Deserialize;
use serde_json::Value;

use crate::audit::checkpoint::{Checkpoint, TrustedKeys};
use crate::audit::cosignature::{self, Vkey};
use crate::audit::merkle::{self, Hash};
use crate::audit::verify::{
    Failure, LogVerifier, Options, Problem, Report, ServedEntry, check_entry, hash_from_hex,
    head_checkpoint, trusted_checkpoint,
};
use crate::audit::{ConsistencyProof, InclusionProof, TreeHead};

/// Where and as whom to reach a server.
#[derive(Clone, Debug)]
pub struct Server {
    /// Base URL, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    /// An access token of an auditor or regulator (a party's token suffices
    /// for `prove` of its own entries).
    pub token: Option<String>,
}

impl Server {
    pub(crate) fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.url.trim_end_matches('/'))
    }

    async fn get(&self, client: &reqwest::Client, url: &str) -> Result<reqwest::Response, Problem> {
        let mut request = client.get(url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .await
            .map_err(|e| Problem::Error(format!("GET {url}: {e}")))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let detail = body["detail"].as_str().unwrap_or("no detail");
        Err(Problem::Error(format!("GET {url}: {status}: {detail}")))
    }

    pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        client: &reqwest::Client,
        url: &str,
    ) -> Result<T, Problem> {
        self.get(client, url)
            .await?
            .json()
            .await
            .map_err(|e| Problem::Error(format!("GET {url}: unexpected answer: {e}")))
    }
}

/// Reads the keys to trust from a JWK Set at a URL or in a file.
pub async fn load_keys(source: &str) -> Result<TrustedKeys, Problem> {
    let jwks = super::load_jwks(source).await.map_err(Problem::Error)?;
    TrustedKeys::from_jwks(&jwks).map_err(|e| Problem::Error(e.to_string()))
}

/// The keys to trust: those of `jwks` (a URL or a file) if given, else the
/// server's own JWKS.
async fn server_keys(server: &Server, jwks: Option<&str>) -> Result<TrustedKeys, Problem> {
    match jwks {
        Some(source) => load_keys(source).await,
        None => {
            load_keys(&format!(
                "{}/.well-known/jwks.json",
                server.url.trim_end_matches('/')
            ))
            .await
        }
    }
}

/// The server's newest signed head, after checking its signature.
async fn signed_head(
    server: &Server,
    client: &reqwest::Client,
    keys: &TrustedKeys,
) -> Result<TreeHead, Problem> {
    let head: TreeHead = server
        .get_json(client, &server.api("/audit/tree-heads"))
        .await?;
    let checkpoint = head_checkpoint(&head).map_err(Failure::log)?;
    checkpoint.verify(keys).map_err(|e| {
        Failure::log(format!(
            "the server's newest signed tree head (size {}) does not verify against the JWKS: {e}",
            head.tree_size
        ))
    })?;
    Ok(head)
}

/// Downloads every entry of the server's newest signed head and verifies
/// the log; with `trusted` (a checkpoint saved earlier), also that the log
/// extends it, both by recomputation and by the server's consistency proof.
/// `jwks` overrides where the keys come from (default: the server's JWKS).
pub async fn verify_server(
    server: &Server,
    jwks: Option<&str>,
    trusted: Option<&str>,
    options: Options,
) -> Result<Report, Problem> {
    verify_server_reading(server, jwks, trusted, options, &mut |_| {}).await
}

/// [`verify_server`], handing each verified entry to `read` as well (for
/// checks that compare the log with something else, such as the ledger).
pub async fn verify_server_reading(
    server: &Server,
    jwks: Option<&str>,
    trusted: Option<&str>,
    options: Options,
    read: &mut (dyn FnMut(&ServedEntry) + Send),
) -> Result<Report, Problem> {
    let client = reqwest::Client::new();
    let keys = server_keys(server, jwks).await?;
    let trusted = trusted
        .map(|text| trusted_checkpoint(text, &keys))
        .transpose()?;
    let head = signed_head(server, &client, &keys).await?;
    let mut verifier = LogVerifier::new(&keys, options);
    if let Some(trusted) = &trusted {
        verifier.remember_root_at(trusted.tree_size);
    }
    let url = server.api(&format!(
        "/audit/entries?format=jsonl&end={}",
        head.tree_size
    ));
    let mut response = server.get(&client, &url).await?;
    let mut buffer: Vec<u8> = Vec::new();
    loop {
        let chunk = response
            .chunk()
            .await
            .map_err(|e| Problem::Error(format!("GET {url}: {e}")))?;
        let finished = chunk.is_none();
        if let Some(chunk) = chunk {
            buffer.extend_from_slice(&chunk);
        } else if !buffer.is_empty() {
            buffer.push(b'\n');
        }
        let mut consumed = 0;
        while let Some(offset) = buffer[consumed..].iter().position(|b| *b == b'\n') {
            let line = &buffer[consumed..consumed + offset];
            consumed += offset + 1;
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let entry: ServedEntry = serde_json::from_slice(line).map_err(|e| {
                Failure::at(
                    verifier.size(),
                    format!("the server sent something else than an entry ({e})"),
                )
            })?;
            verifier.push(entry.clone())?;
            read(&entry);
        }
        buffer.drain(..consumed);
        if finished {
            break;
        }
    }
    let mut report = verifier.finish(&head)?;
    if let Some(trusted) = &trusted {
        verifier.check_trusted(trusted)?;
        if trusted.tree_size > 0 {
            let proof: ConsistencyProof = server
                .get_json(
                    &client,
                    &server.api(&format!(
                        "/audit/proofs/consistency?first={}&second={}",
                        trusted.tree_size, head.tree_size
                    )),
                )
                .await?;
            let hashes = decode_proof(&proof.proof).map_err(Failure::log)?;
            let root = hash_from_hex(&head.root_hash)
                .ok_or_else(|| Failure::log("the signed head's root is not hex"))?;
            merkle::verify_consistency(trusted.tree_size, head.tree_size, &hashes, &trusted.root_hash, &root)
                .map_err(|e| {
                    Failure::log(format!(
                        "the server's consistency proof from the trusted head of size {} does not verify: {e}",
                        trusted.tree_size
                    ))
                })?;
        }
        report.trusted_size = Some(trusted.tree_size);
    }
    Ok(report)
}

/// The witnesses a verification requires: their cosigner vkeys and how
/// many of them must have cosigned.
#[derive(Clone, Debug)]
pub struct Witnesses {
    pub vkeys: Vec<Vkey>,
    pub quorum: usize,
}

impl Witnesses {
    /// Parses `--witness` vkeys; the quorum defaults to all of them.
    pub fn parse(vkeys: &[String], quorum: Option<usize>) -> Result<Witnesses, Problem> {
        let vkeys = vkeys
            .iter()
            .map(|text| {
                Vkey::parse_cosigner(text)
                    .map_err(|e| Problem::Error(format!("--witness {text}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let quorum = quorum.unwrap_or(vkeys.len());
        if quorum == 0 || quorum > vkeys.len() {
            return Err(Problem::Error(format!(
                "--quorum must be between 1 and the number of --witness keys ({})",
                vkeys.len()
            )));
        }
        Ok(Witnesses { vkeys, quorum })
    }
}

/// A log that verified up to a checkpoint its witnesses cosigned.
#[derive(Clone, Debug)]
pub struct WitnessedReport {
    pub report: Report,
    /// The witnessed checkpoint's size.
    pub size: u64,
    /// The witnesses whose cosignature verified.
    pub cosigners: Vec<String>,
    pub quorum: usize,
    pub given: usize,
}

impl fmt::Display for WitnessedReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}; witnessed: the checkpoint of size {} is cosigned by {} of {} witnesses (quorum {}): {}",
            self.report,
            self.size,
            self.cosigners.len(),
            self.given,
            self.quorum,
            self.cosigners.join(", ")
        )
    }
}

/// Fetches the server's witnessed checkpoint, requires `witnesses.quorum`
/// valid cosignatures from `witnesses.vkeys` over it and a valid log
/// signature, then verifies the whole log as [`verify_server`] does with
/// that checkpoint as the trusted head: the log must extend exactly what
/// the witnesses saw.
pub async fn verify_witnessed(
    server: &Server,
    jwks: Option<&str>,
    witnesses: &Witnesses,
    options: Options,
) -> Result<WitnessedReport, Problem> {
    let client = reqwest::Client::new();
    let url = server.api("/audit/checkpoint/witnessed");
    let mut request = client.get(&url);
    if let Some(token) = &server.token {
        request = request.bearer_auth(token);
    }
    let response = request
        .send()
        .await
        .map_err(|e| Problem::Error(format!("GET {url}: {e}")))?;
    let status = response.status();
    let text = response
        .text()
        .await
        .map_err(|e| Problem::Error(format!("GET {url}: {e}")))?;
    if status == reqwest::StatusCode::NOT_FOUND {
        return Err(Failure::log(
            "the server has no checkpoint cosigned by a quorum of its witnesses: the log is not witnessed",
        )
        .into());
    }
    if !status.is_success() {
        return Err(Problem::Error(format!("GET {url}: {status}")));
    }
    let checkpoint = Checkpoint::parse(&text)
        .map_err(|e| Failure::log(format!("the witnessed checkpoint: {e}")))?;
    let cosigners = cosignature::cosigners(&checkpoint, &witnesses.vkeys)
        .map_err(|e| Failure::log(format!("the witnessed checkpoint: {e}")))?;
    if cosigners.len() < witnesses.quorum {
        return Err(Failure::log(format!(
            "the checkpoint of size {} carries {} valid cosignature(s) from the {} given witness key(s), fewer than the quorum of {}",
            checkpoint.tree_size,
            cosigners.len(),
            witnesses.vkeys.len(),
            witnesses.quorum
        ))
        .into());
    }
    let report = verify_server(server, jwks, Some(&text), options).await?;
    Ok(WitnessedReport {
        report,
        size: checkpoint.tree_size,
        cosigners: cosigners.iter().map(|(w, _)| w.name.clone()).collect(),
        quorum: witnesses.quorum,
        given: witnesses.vkeys.len(),
    })
}

fn decode_proof(proof: &[String]) -> Result<Vec<Hash>, String> {
    proof
        .iter()
        .map(|h| hash_from_hex(h).ok_or_else(|| format!("proof element {h:?} is not a hex hash")))
        .collect()
}

/// An entry proven to be in the signed log.
#[derive(Clone, Debug)]
pub struct Proven {
    pub index: u64,
    pub action: String,
    pub time: String,
    pub head: TreeHead,
}

impl fmt::Display for Proven {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "ok: entry {} ({} at {}) is included in the signed log of size {}, root {}",
            self.index, self.action, self.time, self.head.tree_size, self.head.root_hash
        )
    }
}

#[derive(Deserialize)]
struct Me {
    id: String,
    roles: Vec<String>,
}

#[derive(Deserialize)]
struct Page {
    entries: Vec<ServedEntry>,
}

/// Fetches entry `index` and its inclusion proof at the server's newest
/// signed head, and checks both: the entry's canonical bytes name the index
/// and hash to the proven leaf, the proof leads to the signed root, and the
/// head's signature verifies.
pub async fn prove(server: &Server, jwks: Option<&str>, index: u64) -> Result<Proven, Problem> {
    let client = reqwest::Client::new();
    let keys = server_keys(server, jwks).await?;
    let head = signed_head(server, &client, &keys).await?;
    if index >= head.tree_size {
        return Err(Problem::Error(format!(
            "entry {index} is not in the signed log, which has {} entries",
            head.tree_size
        )));
    }
    // Other accounts than auditors and regulators read only their own entries.
    let me: Me = server
        .get_json(&client, &server.api("/accounts/me"))
        .await?;
    let oversight = me.roles.iter().any(|r| r == "auditor" || r == "regulator");
    let mut url = server.api(&format!("/audit/entries?start={index}&end={}", index + 1));
    if !oversight {
        url.push_str(&format!("&account={}", me.id));
    }
    let page: Page = server.get_json(&client, &url).await?;
    let entry =
        page.entries.into_iter().next().ok_or_else(|| {
            Problem::Error(format!("entry {index} is not one this account may read"))
        })?;
    if entry.index != index {
        return Err(Failure::at(
            index,
            format!("the server sent entry {} instead", entry.index),
        )
        .into());
    }
    let (record, leaf) = check_entry(index, &entry)?;
    let proof: InclusionProof = server
        .get_json(
            &client,
            &server.api(&format!(
                "/audit/proofs/inclusion?index={index}&tree_size={}",
                head.tree_size
            )),
        )
        .await?;
    if hash_from_hex(&proof.leaf_hash) != Some(leaf) {
        return Err(Failure::at(
            index,
            format!(
                "the canonical bytes hash to {}, but the log's leaf is {}: the entry was altered",
                hex::encode(leaf),
                proof.leaf_hash
            ),
        )
        .into());
    }
    let root = hash_from_hex(&head.root_hash)
        .ok_or_else(|| Failure::log("the signed head's root is not hex"))?;
    let hashes = decode_proof(&proof.proof).map_err(|reason| Failure::at(index, reason))?;
    merkle::verify_inclusion(index, head.tree_size, &leaf, &hashes, &root).map_err(|e| {
        Failure::at(
            index,
            format!("the inclusion proof does not lead to the signed root: {e}"),
        )
    })?;
    Ok(Proven {
        index,
        action: record.action,
        time: record.time,
        head,
    })
}
