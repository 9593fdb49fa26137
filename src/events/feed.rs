//! The event feed: the events an account hears of, read from the log
//! forward from a position — what the event stream (Server-Sent Events)
//! sends as it happens, and what a client that was away reads to catch up.

use serde::Serialize;

use super::{Event, EventType, Hearing, dispatch};
use crate::accounts;
use crate::audit::window;
use crate::domain::Actor;
use crate::error::Result;
use crate::market::Market;

/// The most log entries one read looks through, whatever it finds.
const SCAN: u64 = 1000;

/// Events from a position on.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub items: Vec<Event>,
    /// Where to read on from (`from` of the next request): the log
    /// position after the last entry looked at.
    pub next_from: u64,
    /// Whether `next_from` is the end of the log as it was read.
    pub caught_up: bool,
}

/// The log's size now: where a stream that asks for nothing older starts.
pub async fn end(market: &Market) -> Result<u64> {
    market.db.read(window::logged).await
}

/// The events the caller hears of among the log entries from position
/// `from` on, of `types` (all when empty), at most `limit`. A suspended
/// account hears nothing: the read is refused, and a stream ends.
pub async fn read(
    market: &Market,
    actor: &Actor,
    from: u64,
    types: Vec<EventType>,
    limit: u32,
) -> Result<EventPage> {
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let audience =
                dispatch::audience(conn, &actor.id.to_string())?.ok_or_else(accounts::suspended)?;
            let logged = window::logged(conn)?;
            let to = logged.min(from.saturating_add(SCAN));
            if from >= to {
                return Ok(EventPage {
                    items: vec![],
                    next_from: from.min(logged),
                    caught_up: true,
                });
            }
            let events = super::logged_between(conn, from, to)?;
            let mut hearing = Hearing::default();
            let mut items = Vec::new();
            let mut next_from = to;
            for event in &events {
                if !types.is_empty() && !types.contains(&event.event_type) {
                    continue;
                }
                if let Some(heard) = hearing.hears(conn, audience, event)? {
                    items.push(Event::from_entry(event.event_type, &event.entry, heard));
                    if items.len() >= limit as usize {
                        next_from = event.entry.index + 1;
                        break;
                    }
                }
            }
            Ok(EventPage {
                items,
                next_from,
                caught_up: next_from >= logged,
            })
        })
        .await
}
