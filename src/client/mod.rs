//! The market's HTTP client: what the `datamarket` command uses when it
//! talks to a server as any other client would (over the API, never to the
//! database): the audit verifier and prover ([`audit`]), the ledger check
//! against the verified log ([`ledger`]), the JWKS a
//! certificate or checkpoint is checked against, and the client commands
//! (`datamarket login`, `datasets …`, `download`, …): their command line
//! ([`cli`]), what each does ([`commands`], the trading commands in
//! `trading`), profiles and the HTTP session
//! ([`session`]), streamed uploads and resumable downloads ([`transfer`]),
//! and the exit code of each kind of failure ([`error`]).

pub mod audit;
pub mod cli;
pub mod commands;
pub mod error;
pub mod ledger;
mod render;
pub mod session;
mod trading;
pub mod transfer;

use serde_json::Value;

/// Reads a JWK Set from a URL (e.g. `https://market/.well-known/jwks.json`)
/// or a file.
pub async fn load_jwks(source: &str) -> Result<Value, String> {
    let text = if source.starts_with("http://") || source.starts_with("https://") {
        reqwest::get(source)
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| format!("cannot fetch the JWKS: {e}"))?
            .text()
            .await
            .map_err(|e| format!("cannot read the JWKS: {e}"))?
    } else {
        std::fs::read_to_string(source).map_err(|e| format!("cannot read {source}: {e}"))?
    };
    serde_json::from_str(&text).map_err(|e| format!("the JWKS is not JSON: {e}"))
}
