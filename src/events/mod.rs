//! Events: what happened in the market, told as it happens to those it
//! concerns — by webhook ([`webhooks`], sent by [`dispatch`], signed as
//! Standard Webhooks sign) and as a stream ([`feed`], which the gateway
//! serves as Server-Sent Events).
//!
//! The outbox is the audit log. Every change the market makes appends its
//! entry in the change's own transaction, so an entry exists exactly when
//! its change committed; an event is such an entry whose action names an
//! [`EventType`]. The dispatcher reads the log forward from a position it
//! claims with a conditional update (as the early-warning watch does), and
//! makes the deliveries for what it read in the same transaction as the
//! claim: every committed event is fanned out once, and a rolled-back
//! change has no entry to fan out. Its id is `evt_<audit index>`, the same
//! on every retry and for every subscriber, and provable against the log.
//!
//! Who hears of an event is who may read its entry in the audit trail: its
//! actor and parties, and oversight (regulators and auditors) — plus
//! anyone for the catalog's own news (a listing published, delisted, or
//! changed while listed).

pub mod dispatch;
pub mod feed;
pub mod target;
pub mod webhooks;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::audit::Action;
use crate::audit::window::{self, Seen};
use crate::domain::{self, market_words};
use crate::error::{Code, Error, Result};
use crate::store::DbConnection;

market_words!(
    /// The kinds of event a webhook or a stream may ask for.
    EventType {
        ListingPublished = "listing.published",
        ListingChanged = "listing.changed",
        ListingDelisted = "listing.delisted",
        RequestDecided = "request.decided",
        GrantIssued = "grant.issued",
        GrantRevoked = "grant.revoked",
        GrantExpiring = "grant.expiring",
        GrantExpired = "grant.expired",
        OrderPaid = "order.paid",
        FreezeImposed = "freeze.imposed",
        FreezeLifted = "freeze.lifted",
        IncidentRecorded = "incident.recorded",
    }
);

impl EventType {
    /// The event an entry is, if it is one. A listing is published when
    /// it becomes listed: at once, or when a regulator's review lists it.
    pub fn of(entry: &Seen) -> Option<EventType> {
        let listed = || window::listing_status(&entry.detail) == Some("listed");
        Some(match entry.action {
            Action::DatasetPublished | Action::DatasetReviewed if listed() => {
                EventType::ListingPublished
            }
            Action::DatasetUpdated
            | Action::VersionAdded
            | Action::OfferCreated
            | Action::OfferRevised
            | Action::OfferWithdrawn => EventType::ListingChanged,
            Action::DatasetDelisted => EventType::ListingDelisted,
            Action::AccessRequestApproved | Action::AccessRequestRejected => {
                EventType::RequestDecided
            }
            Action::GrantCreated => EventType::GrantIssued,
            Action::GrantRevoked => EventType::GrantRevoked,
            Action::GrantExpiring => EventType::GrantExpiring,
            Action::GrantExpired => EventType::GrantExpired,
            Action::OrderPaid => EventType::OrderPaid,
            Action::FreezeImposed => EventType::FreezeImposed,
            Action::FreezeLifted => EventType::FreezeLifted,
            Action::IncidentRecorded => EventType::IncidentRecorded,
            _ => return None,
        })
    }

    /// A comma-separated list of event types, as a query parameter names
    /// them (empty: none named).
    pub fn parse_list(list: &str) -> Result<Vec<EventType>> {
        let mut types = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let event_type = EventType::parse(name).ok_or_else(|| {
                Error::refused(
                    Code::InvalidParameter,
                    format!("types: {name:?} is not an event type"),
                )
                .with("parameter", "types")
            })?;
            types.push(event_type);
        }
        Ok(types)
    }

    /// Every action whose entries may be events, for reading the log.
    pub fn actions() -> &'static [Action] {
        &[
            Action::DatasetPublished,
            Action::DatasetReviewed,
            Action::DatasetUpdated,
            Action::VersionAdded,
            Action::OfferCreated,
            Action::OfferRevised,
            Action::OfferWithdrawn,
            Action::DatasetDelisted,
            Action::AccessRequestApproved,
            Action::AccessRequestRejected,
            Action::GrantCreated,
            Action::GrantRevoked,
            Action::GrantExpiring,
            Action::GrantExpired,
            Action::OrderPaid,
            Action::FreezeImposed,
            Action::FreezeLifted,
            Action::IncidentRecorded,
        ]
    }
}

/// An event as a webhook's body and a stream's `data` carry it: the
/// Standard Webhooks payload shape (`type`, `timestamp`, `data`), with the
/// log entry it is as its data.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Event {
    /// `evt_<audit index>`: the `webhook-id` of every delivery of it, and
    /// the stream's event id.
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When the change was recorded (RFC 3339, UTC).
    pub timestamp: String,
    pub data: EventData,
}

/// The audit entry an event is: its parties and oversight can prove it
/// with `GET /api/v1/audit/proofs/inclusion?index={audit_index}`. Catalog
/// news to anyone else carries no actor and an empty detail.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventData {
    pub audit_index: u64,
    /// The recorded action (e.g. `grant.created` for `grant.issued`).
    pub action: String,
    pub actor: Option<String>,
    pub dataset: Option<String>,
    /// What changed: a dataset's, request's, grant's, order's, freeze's or
    /// incident's id.
    pub subject: String,
    #[schema(value_type = Object)]
    pub detail: Value,
}

impl Event {
    /// The event an entry is, as `heard`: catalog news leaves out the
    /// entry's actor and detail (a reviewer's reason, say), which the audit
    /// trail shows only to the entry's parties and oversight.
    fn from_entry(event_type: EventType, entry: &Seen, heard: Heard) -> Event {
        let news = heard == Heard::AsNews;
        Event {
            id: event_id(entry.index),
            event_type,
            timestamp: domain::format_time(entry.time),
            data: EventData {
                audit_index: entry.index,
                action: entry.action.as_str().to_owned(),
                actor: if news {
                    None
                } else {
                    entry.actor.map(|a| a.to_string())
                },
                dataset: entry.dataset.map(|d| d.to_string()),
                subject: entry.subject.clone(),
                detail: if news {
                    Value::Object(Default::default())
                } else {
                    entry.detail.clone()
                },
            },
        }
    }
}

/// The id of the event at `index` in the log.
pub fn event_id(index: u64) -> String {
    format!("evt_{index}")
}

/// Reads an event id back (`evt_12` or `12`).
pub fn parse_event_id(id: &str) -> Option<u64> {
    id.trim()
        .strip_prefix("evt_")
        .unwrap_or(id.trim())
        .parse()
        .ok()
        .filter(|index| *index <= i64::MAX as u64)
}

/// Who is to hear of events: an account, and whether it oversees the
/// market.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Audience {
    pub id: Uuid,
    pub oversight: bool,
}

/// An event the log holds: its entry, its type, and the accounts the entry
/// names (actor and parties).
pub(crate) struct Logged {
    pub entry: Seen,
    pub event_type: EventType,
    pub parties: Vec<Uuid>,
}

/// The events among the log entries with an index in `from..to`, oldest
/// first: what the dispatcher fans out and the feed reads.
pub(crate) fn logged_between(conn: &mut DbConnection, from: u64, to: u64) -> Result<Vec<Logged>> {
    let seen = window::entries_between(conn, from, to, EventType::actions())?;
    if seen.is_empty() {
        return Ok(vec![]);
    }
    let mut parties = window::parties_between(conn, from, to)?;
    Ok(seen
        .into_iter()
        .filter_map(|entry| {
            let event_type = EventType::of(&entry)?;
            let parties = parties.remove(&entry.index).unwrap_or_default();
            Some(Logged {
                entry,
                event_type,
                parties,
            })
        })
        .collect())
}

/// How an account hears of an entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heard {
    /// As its actor, a party, or oversight: the whole entry.
    Fully,
    /// As the catalog's news, which anyone hears: without actor and detail.
    AsNews,
}

/// Decides who hears of which entries.
#[derive(Default)]
pub(crate) struct Hearing {
    /// Whether a dataset was listed at an entry, by (dataset, index).
    listed: std::collections::HashMap<(Uuid, u64), bool>,
}

impl Hearing {
    /// Whether and how `audience` hears of `event`.
    pub fn hears(
        &mut self,
        conn: &mut DbConnection,
        audience: Audience,
        event: &Logged,
    ) -> Result<Option<Heard>> {
        let Logged {
            entry,
            event_type,
            parties,
        } = event;
        if audience.oversight || entry.actor == Some(audience.id) || parties.contains(&audience.id)
        {
            return Ok(Some(Heard::Fully));
        }
        let news = match *event_type {
            EventType::ListingPublished | EventType::ListingDelisted => true,
            // A draft's edits are its provider's business: a change is
            // news only while the listing is listed.
            EventType::ListingChanged => match entry.dataset {
                Some(dataset) => self.listed_at(conn, dataset, entry.index)?,
                None => false,
            },
            _ => false,
        };
        Ok(news.then_some(Heard::AsNews))
    }

    fn listed_at(&mut self, conn: &mut DbConnection, dataset: Uuid, index: u64) -> Result<bool> {
        if let Some(listed) = self.listed.get(&(dataset, index)) {
            return Ok(*listed);
        }
        let listed = window::listed_at(conn, dataset, index)?;
        self.listed.insert((dataset, index), listed);
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_type_has_an_entry_and_ids_read_back() {
        let entry = |action: Action, status: &str| Seen {
            index: 0,
            time: chrono::Utc::now(),
            actor: None,
            action,
            dataset: None,
            subject: String::new(),
            detail: serde_json::json!({ "status": status }),
        };
        let covered: std::collections::HashSet<EventType> = EventType::actions()
            .iter()
            .filter_map(|a| EventType::of(&entry(*a, "listed")))
            .collect();
        for event_type in EventType::ALL {
            assert!(covered.contains(event_type), "{event_type:?} has no action");
        }
        assert_eq!(
            EventType::of(&entry(Action::DatasetPublished, "pending_review")),
            None
        );
        assert_eq!(
            EventType::of(&entry(Action::DatasetReviewed, "rejected")),
            None
        );
        assert_eq!(EventType::of(&entry(Action::AccountLogin, "")), None);
        assert_eq!(parse_event_id(&event_id(42)), Some(42));
        assert_eq!(parse_event_id("7"), Some(7));
        assert_eq!(parse_event_id("evt_x"), None);
        assert_eq!(
            parse_event_id("evt_9223372036854775808"),
            None,
            "beyond any log"
        );
    }
}
