//! The Dataspace Protocol (2025-1), with the market as the provider: the
//! catalog ([`catalog`]: listed datasets with their ODRL offers), contract
//! negotiations ([`negotiations`]: each carries the market's own access
//! request, and the grant its approval makes is the agreement), transfer
//! processes ([`transfers`]: HTTP pull of a version's content with a data
//! token, through the grant-checked delivery) and the messages the provider
//! owes consumers' callback addresses ([`callbacks`]: written in the
//! transaction of the change they announce, claimed and retried by every
//! instance). The protocol's messages are [`messages`]; sending them over
//! HTTP is the gateway's part.
//!
//! The service owns `dsp_negotiations`, `dsp_transfers` and
//! `dsp_callbacks`; it reaches requests, grants, listings and offers only
//! through their owners' public functions.

pub mod callbacks;
pub mod catalog;
pub mod messages;
pub mod negotiations;
pub mod transfers;

use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::domain::{Actor, Role, Roles, market_words};
use crate::error::{Code, Error, Result};

pub use callbacks::{CallbackKind, Due};
pub use messages::CONTEXT;

market_words!(
    /// Where a contract negotiation stands (the protocol's names).
    NegotiationState {
        Requested = "REQUESTED",
        Offered = "OFFERED",
        Accepted = "ACCEPTED",
        Agreed = "AGREED",
        Verified = "VERIFIED",
        Finalized = "FINALIZED",
        Terminated = "TERMINATED",
    }
);

market_words!(
    /// Where a transfer process stands (the protocol's names).
    TransferState {
        Requested = "REQUESTED",
        Started = "STARTED",
        Suspended = "SUSPENDED",
        Completed = "COMPLETED",
        Terminated = "TERMINATED",
    }
);

/// The only transfer format offered: the consumer pulls over HTTP.
pub const HTTP_PULL: &str = "HttpData-PULL";
/// The endpoint type of the data address a transfer start carries.
pub const HTTP_ENDPOINT_TYPE: &str = "https://w3id.org/idsa/v4.1/HTTP";
/// What a request-based offer grants, as the market's access request asks:
/// downloads and days.
pub const OFFER_DOWNLOADS: u32 = 10;
pub const OFFER_DAYS: u32 = 30;

/// An identifier as the protocol carries it.
pub fn urn(id: Uuid) -> String {
    format!("urn:uuid:{id}")
}

/// The id inside `urn:uuid:…` (a bare UUID is taken too).
pub fn parse_urn(text: &str) -> Option<Uuid> {
    text.strip_prefix("urn:uuid:").unwrap_or(text).parse().ok()
}

/// The participant identifier of an account.
pub fn participant(account: Uuid) -> String {
    format!("urn:datamarket:account:{account}")
}

/// The identifier of a listing's request-based offer (its licence terms,
/// decided by the holder as an access request).
pub fn request_offer_id(dataset: Uuid) -> String {
    format!("urn:datamarket:offer:request:{dataset}")
}

/// The consumer a negotiation or transfer belongs to, acting as a party of
/// its own records (no role is needed for that).
pub(crate) fn party(account: Uuid) -> Actor {
    Actor {
        id: account,
        roles: Roles::new(Vec::<Role>::new()),
    }
}

/// A process the caller may not know about.
pub(crate) fn not_found(what: &str) -> Error {
    Error::not_found(what)
}

/// The refusal of a message the state machine does not allow now.
pub(crate) fn wrong_state(what: &str, state: &str, doing: &str) -> Error {
    Error::refused(
        Code::InvalidState,
        format!("cannot {doing}: the {what} is {state}"),
    )
    .with("current_state", state)
}

/// A callback address: an http(s) URL the market may send to
/// ([`crate::events::target`]), without its trailing `/`.
pub(crate) fn callback_base(address: &str, allow_private: bool) -> Result<String> {
    let trimmed = address.trim().trim_end_matches('/');
    crate::events::target::check_url(trimmed, "callbackAddress", allow_private)?;
    Ok(trimmed.to_owned())
}

/// A process identifier the consumer chose: 1 to 500 characters, printable.
pub(crate) fn consumer_pid(text: &str) -> Result<String> {
    if text.is_empty() || text.chars().count() > 500 || text.chars().any(char::is_control) {
        return Err(Error::invalid(
            "consumerPid",
            "must be 1 to 500 printable characters",
        ));
    }
    Ok(text.to_owned())
}

/// The protocol's answer describing one process.
pub fn process_view(
    kind: &str,
    provider_pid: &str,
    consumer_pid: &str,
    state: &str,
) -> serde_json::Value {
    json!({
        "@context": [CONTEXT],
        "@type": kind,
        "providerPid": provider_pid,
        "consumerPid": consumer_pid,
        "state": state,
    })
}
