//! The protocol's messages as the market reads them (JSON-LD in the
//! compacted form the 2025-1 context defines) and the error documents it
//! answers with.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::{Code, Error, Result};

/// The JSON-LD context of the protocol version served.
pub const CONTEXT: &str = "https://w3id.org/dspace/2025/1/context.jsonld";
/// The protocol version served.
pub const VERSION: &str = "2025-1";

/// The members every message has.
#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(rename = "@context")]
    context: Value,
    #[serde(rename = "@type")]
    kind: String,
}

/// Reads a message of type `kind`: well-formed JSON (else malformed-body),
/// the protocol's context and type, and the members `T` needs (else
/// invalid-body).
pub fn parse<T: DeserializeOwned>(bytes: &[u8], kind: &str) -> Result<T> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| Error::refused(Code::MalformedBody, format!("malformed JSON: {e}")))?;
    let envelope: Envelope = serde_json::from_value(value.clone()).map_err(|e| {
        Error::refused(
            Code::InvalidBody,
            format!("a {kind} needs @context and @type: {e}"),
        )
    })?;
    let has_context = match &envelope.context {
        Value::String(s) => s == CONTEXT,
        Value::Array(items) => items.iter().any(|i| i.as_str() == Some(CONTEXT)),
        _ => false,
    };
    if !has_context {
        return Err(Error::refused(
            Code::InvalidBody,
            format!("@context must name {CONTEXT}"),
        ));
    }
    if envelope.kind != kind {
        return Err(Error::refused(
            Code::InvalidBody,
            format!("expected a {kind}, got a {}", envelope.kind),
        ));
    }
    serde_json::from_value(value)
        .map_err(|e| Error::refused(Code::InvalidBody, format!("{kind}: {e}")))
}

/// The provider's and consumer's ids a message names, when it names them:
/// for an error document about a message that could not be read.
pub fn pids_of(bytes: &[u8]) -> (String, String) {
    let value: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let pid = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    (pid("providerPid"), pid("consumerPid"))
}

/// An ODRL offer inside a contract request.
#[derive(Debug, Deserialize)]
pub struct MessageOffer {
    #[serde(rename = "@id")]
    pub id: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub permission: Vec<Value>,
}

impl MessageOffer {
    /// The purpose the consumer states as a `purpose` constraint, if any.
    pub fn purpose(&self) -> Option<String> {
        self.permission
            .iter()
            .filter_map(|p| p.get("constraint").and_then(Value::as_array))
            .flatten()
            .find(|c| c.get("leftOperand").and_then(Value::as_str) == Some("purpose"))
            .and_then(|c| c.get("rightOperand"))
            .and_then(Value::as_str)
            .map(str::to_owned)
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractRequestMessage {
    pub consumer_pid: String,
    #[serde(default)]
    pub provider_pid: Option<String>,
    pub offer: MessageOffer,
    #[serde(default)]
    pub callback_address: Option<String>,
}

/// The messages that name a process and say no more than why: agreement
/// verification, events, termination, transfer start, completion,
/// suspension.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProcessMessage {
    pub provider_pid: String,
    pub consumer_pid: String,
    #[serde(default)]
    pub event_type: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub reason: Option<Vec<Value>>,
}

impl ProcessMessage {
    /// The reason given, as one line for the audit log.
    pub fn reason_text(&self) -> Option<String> {
        let reasons = self.reason.as_ref()?;
        let text = reasons
            .iter()
            .map(|r| match r {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        Some(text.chars().take(2000).collect())
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TransferRequestMessage {
    pub consumer_pid: String,
    pub agreement_id: String,
    pub format: String,
    #[serde(default)]
    pub data_address: Option<Value>,
    pub callback_address: String,
}

#[derive(Debug, Deserialize)]
pub struct CatalogRequestMessage {
    #[serde(default)]
    pub filter: Option<Vec<Value>>,
}

/// The error document of a process: `ContractNegotiationError` or
/// `TransferError`; `code` is the market's problem slug.
pub fn error_document(
    kind: &str,
    provider_pid: &str,
    consumer_pid: &str,
    code: &str,
    reason: &str,
) -> Value {
    json!({
        "@context": [CONTEXT],
        "@type": kind,
        "providerPid": provider_pid,
        "consumerPid": consumer_pid,
        "code": code,
        "reason": [reason],
    })
}

/// The catalog's error document.
pub fn catalog_error(code: &str, reason: &str) -> Value {
    json!({
        "@context": [CONTEXT],
        "@type": "CatalogError",
        "code": code,
        "reason": [reason],
    })
}
