//! The dispatcher, one in every instance: it fans the log's new events out
//! to the webhooks that asked for them, and sends the deliveries that are
//! due, signed per Standard Webhooks, retrying with backoff until the
//! receiver answers 2xx or the attempts run out.
//!
//! Every step is claimed with a conditional update, so that several
//! instances on one database share the work and none does a step twice:
//! a fan-out moves the `event_dispatch` position from where it found it
//! (and makes its deliveries in that transaction), and a send takes a
//! delivery with a lease (`lease_until`) and a new attempt number, and
//! records its outcome only for that attempt. A sender that dies holding a
//! lease leaves the delivery to be taken again when the lease ends: at
//! least once, never lost.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use diesel::prelude::*;
use futures_util::StreamExt;

use super::target;
use super::webhooks::{self, DeliveryRow, DeliveryState, SubscriptionRow, WebhookState};
use super::{Audience, Event, EventType, Heard, Hearing};
use crate::accounts::{self, AccountStatus};
use crate::audit::window;
use crate::config::EventSettings;
use crate::domain::{self, Roles};
use crate::error::{Error, Result};
use crate::market::Market;
use crate::store::schema::{
    event_dispatch, webhook_attempts, webhook_deliveries, webhook_subscriptions,
};
use crate::store::{DbConnection, insert_rows};

/// The longest error text a delivery log keeps.
const ERROR_CHARS: usize = 500;

/// What one fan-out did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FanOut {
    /// Log entries read.
    pub read: u64,
    /// Deliveries made.
    pub made: usize,
}

/// Reads the log's next entries and makes a delivery of each event for
/// every webhook that asked for its type and whose account hears of it.
pub async fn fan_out(market: &Market) -> Result<FanOut> {
    let batch = u64::from(market.settings.events.dispatch_batch);
    let behind = market
        .db
        .read(|conn| Ok(position(conn)? < window::logged(conn)?))
        .await?;
    if !behind {
        return Ok(FanOut::default());
    }
    market
        .db
        .write(move |conn| {
            let from = position(conn)?;
            let logged = window::logged(conn)?;
            if from >= logged {
                return Ok(FanOut::default());
            }
            let to = logged.min(from + batch);
            // The claim comes first: another instance fanning out the same
            // entries waits here (PostgreSQL) or after this commit (SQLite),
            // then finds the position moved and stops.
            let claimed = diesel::update(
                event_dispatch::table
                    .filter(event_dispatch::id.eq(1))
                    .filter(event_dispatch::position.eq(from as i64)),
            )
            .set(event_dispatch::position.eq(to as i64))
            .execute(conn)?;
            if claimed == 0 {
                return Ok(FanOut::default());
            }
            let read = to - from;
            let subscriptions: Vec<SubscriptionRow> = webhook_subscriptions::table
                .filter(webhook_subscriptions::state.eq(WebhookState::Active))
                .select(SubscriptionRow::as_select())
                .load(conn)?;
            if subscriptions.is_empty() {
                return Ok(FanOut { read, made: 0 });
            }
            let events = super::logged_between(conn, from, to)?;
            if events.is_empty() {
                return Ok(FanOut { read, made: 0 });
            }
            let mut listeners = Vec::with_capacity(subscriptions.len());
            let mut audiences: HashMap<String, Option<Audience>> = HashMap::new();
            for subscription in &subscriptions {
                if !audiences.contains_key(&subscription.account_id) {
                    let audience = audience(conn, &subscription.account_id)?;
                    audiences.insert(subscription.account_id.clone(), audience);
                }
                if let Some(Some(audience)) = audiences.get(&subscription.account_id) {
                    listeners.push((subscription, subscription.types()?, *audience));
                }
            }
            let now = domain::to_db_time(domain::now());
            let mut hearing = Hearing::default();
            let mut made = Vec::new();
            for event in &events {
                let (entry, event_type) = (&event.entry, event.event_type);
                for (subscription, types, audience) in &listeners {
                    if !types.contains(&event_type) {
                        continue;
                    }
                    if let Some(heard) = hearing.hears(conn, *audience, event)? {
                        made.push((
                            webhook_deliveries::id.eq(domain::new_id().to_string()),
                            webhook_deliveries::subscription_id.eq(subscription.id.clone()),
                            webhook_deliveries::event_index.eq(entry.index as i64),
                            webhook_deliveries::event_type.eq(event_type),
                            webhook_deliveries::as_news.eq(heard == Heard::AsNews),
                            webhook_deliveries::state.eq(DeliveryState::Pending),
                            webhook_deliveries::attempts.eq(0),
                            webhook_deliveries::next_attempt_at.eq(now),
                            webhook_deliveries::created_at.eq(now),
                        ));
                    }
                }
            }
            let made = insert_rows!(conn, webhook_deliveries::table, made);
            Ok(FanOut { read, made })
        })
        .await
}

fn position(conn: &mut DbConnection) -> Result<u64> {
    let position: i64 = event_dispatch::table
        .find(1)
        .select(event_dispatch::position)
        .first(conn)?;
    Ok(position.max(0) as u64)
}

/// Who an account is as an audience, or None when it hears nothing (a
/// suspended account).
pub(crate) fn audience(conn: &mut DbConnection, account: &str) -> Result<Option<Audience>> {
    let account = accounts::find(conn, domain::id_from_db(account)?)?;
    if account.status != AccountStatus::Active {
        return Ok(None);
    }
    Ok(Some(Audience {
        id: account.id,
        oversight: Roles::new(account.roles).is_oversight(),
    }))
}

/// A delivery a sender has taken: what to send, where, and as which
/// attempt.
struct Taken {
    id: String,
    attempt: i32,
    url: String,
    secret: String,
    event_id: String,
    body: String,
}

/// What came of one attempt.
struct Outcome {
    id: String,
    attempt: i32,
    status: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
}

impl Outcome {
    fn accepted(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Sends the deliveries that are due (at most `events.concurrency` at
/// once) and records what came of each. Returns how many it sent.
pub async fn send_due(market: &Market, client: &reqwest::Client) -> Result<usize> {
    let settings = market.settings.events.clone();
    let limit = i64::from(settings.concurrency) * 4;
    let due: Vec<String> = market
        .db
        .read(move |conn| {
            let now = domain::to_db_time(domain::now());
            Ok(due_deliveries(now)
                .select(webhook_deliveries::id)
                .order(webhook_deliveries::next_attempt_at.asc())
                .limit(limit)
                .load(conn)?)
        })
        .await?;
    if due.is_empty() {
        return Ok(0);
    }
    // Each delivery is taken only as its turn to be sent comes, and its
    // outcome recorded as soon as it is known: a lease covers one attempt
    // (the receiver's time and the lookup's), never a queue behind others.
    let attempts = futures_util::stream::iter(due)
        .map(|id| attempt_one(market, client, id))
        .buffer_unordered(settings.concurrency as usize)
        .collect::<Vec<Result<bool>>>()
        .await;
    let mut sent = 0;
    for attempt in attempts {
        if attempt? {
            sent += 1;
        }
    }
    Ok(sent)
}

/// Takes one delivery (if it is still due and no other sender holds it),
/// sends it, and records the outcome. Whether it was sent.
async fn attempt_one(market: &Market, client: &reqwest::Client, id: String) -> Result<bool> {
    let settings = market.settings.events.clone();
    // Twice the receiver's time: the lookup of its name is bounded by it too.
    let lease = chrono::Duration::milliseconds(
        i64::try_from(settings.timeout_ms.saturating_mul(2)).unwrap_or(i64::MAX / 4) + 5_000,
    );
    let taken = market
        .db
        .write(move |conn| {
            let now = domain::to_db_time(domain::now());
            let claimed = diesel::update(
                webhook_deliveries::table
                    .filter(webhook_deliveries::id.eq(&id))
                    .filter(webhook_deliveries::state.eq(DeliveryState::Pending))
                    .filter(webhook_deliveries::next_attempt_at.le(now))
                    .filter(
                        webhook_deliveries::lease_until
                            .is_null()
                            .or(webhook_deliveries::lease_until.lt(now)),
                    ),
            )
            .set((
                webhook_deliveries::lease_until.eq(Some(now + lease)),
                webhook_deliveries::attempts.eq(webhook_deliveries::attempts + 1),
            ))
            .execute(conn)?;
            if claimed == 1 {
                take(conn, &id).map(Some)
            } else {
                Ok(None)
            }
        })
        .await?;
    let Some(taken) = taken else {
        return Ok(false);
    };
    let outcome = send(client, &settings, taken).await;
    market
        .db
        .write(move |conn| record(conn, &settings, &outcome))
        .await?;
    Ok(true)
}

/// Pending deliveries whose time has come and that no sender holds.
fn due_deliveries(
    now: chrono::NaiveDateTime,
) -> webhook_deliveries::BoxedQuery<'static, crate::store::Backend> {
    webhook_deliveries::table
        .filter(webhook_deliveries::state.eq(DeliveryState::Pending))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .filter(
            webhook_deliveries::lease_until
                .is_null()
                .or(webhook_deliveries::lease_until.lt(now)),
        )
        .into_boxed()
}

/// Reads what a taken delivery is to send.
fn take(conn: &mut DbConnection, id: &str) -> Result<Taken> {
    let (delivery, subscription): (DeliveryRow, SubscriptionRow) = webhook_deliveries::table
        .inner_join(webhook_subscriptions::table)
        .filter(webhook_deliveries::id.eq(id))
        .select((DeliveryRow::as_select(), SubscriptionRow::as_select()))
        .first(conn)?;
    let index = delivery.event_index as u64;
    let entry = window::entries_between(conn, index, index + 1, EventType::actions())?
        .into_iter()
        .next()
        .ok_or_else(|| Error::Internal(format!("event {index} is not in the log")))?;
    let heard = if delivery.as_news {
        Heard::AsNews
    } else {
        Heard::Fully
    };
    let event = Event::from_entry(delivery.event_type, &entry, heard);
    Ok(Taken {
        id: delivery.id,
        attempt: delivery.attempts,
        url: subscription.url,
        secret: subscription.secret,
        event_id: event.id.clone(),
        body: serde_json::to_string(&event).map_err(|e| Error::Internal(format!("event: {e}")))?,
    })
}

/// One attempt: the body signed with the webhook's secret, POSTed.
async fn send(client: &reqwest::Client, settings: &EventSettings, taken: Taken) -> Outcome {
    let started = Instant::now();
    let result = attempt(client, settings, &taken).await;
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    let (status, error) = match result {
        Ok(status) if (200..300).contains(&status) => (Some(i32::from(status)), None),
        Ok(status) => (
            Some(i32::from(status)),
            Some(format!("the receiver answered {status}")),
        ),
        Err(error) => (None, Some(error.chars().take(ERROR_CHARS).collect())),
    };
    Outcome {
        id: taken.id,
        attempt: taken.attempt,
        status,
        error,
        duration_ms,
    }
}

async fn attempt(
    client: &reqwest::Client,
    settings: &EventSettings,
    taken: &Taken,
) -> std::result::Result<u16, String> {
    // Refused at registration too; checked again, as the rule may have
    // changed since.
    let url = target::check_url(&taken.url, "url", settings.allow_private_targets)
        .map_err(|e| e.to_string())?;
    let signer = standardwebhooks::Webhook::new(&taken.secret)
        .map_err(|e| format!("the webhook's secret: {e}"))?;
    let timestamp = chrono::Utc::now().timestamp();
    let signature = signer
        .sign(&taken.event_id, timestamp, taken.body.as_bytes())
        .map_err(|e| format!("signing: {e}"))?;
    let response = client
        .post(url)
        .header("webhook-id", &taken.event_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(taken.body.clone())
        .timeout(Duration::from_millis(settings.timeout_ms))
        .send()
        .await
        // Without the URL: its path or query may hold the receiver's secret.
        .map_err(|e| e.without_url().to_string())?;
    Ok(response.status().as_u16())
}

/// Records an attempt in the delivery log and moves the delivery on —
/// only if it is still this attempt's: a sender whose lease ran out while
/// it waited must not overwrite what a later attempt recorded.
fn record(conn: &mut DbConnection, settings: &EventSettings, outcome: &Outcome) -> Result<()> {
    let now = domain::now();
    diesel::insert_into(webhook_attempts::table)
        .values((
            webhook_attempts::delivery_id.eq(&outcome.id),
            webhook_attempts::attempt.eq(outcome.attempt),
            webhook_attempts::attempted_at.eq(domain::to_db_time(now)),
            webhook_attempts::status.eq(outcome.status),
            webhook_attempts::error.eq(&outcome.error),
            webhook_attempts::duration_ms.eq(outcome.duration_ms),
        ))
        .execute(conn)?;
    let this_attempt = webhook_deliveries::table
        .filter(webhook_deliveries::id.eq(&outcome.id))
        .filter(webhook_deliveries::state.eq(DeliveryState::Pending))
        .filter(webhook_deliveries::attempts.eq(outcome.attempt));
    let none = None::<chrono::NaiveDateTime>;
    if outcome.accepted() {
        diesel::update(this_attempt)
            .set((
                webhook_deliveries::state.eq(DeliveryState::Delivered),
                webhook_deliveries::delivered_at.eq(Some(domain::to_db_time(now))),
                webhook_deliveries::last_status.eq(outcome.status),
                webhook_deliveries::last_error.eq(None::<String>),
                webhook_deliveries::lease_until.eq(none),
            ))
            .execute(conn)?;
    } else if outcome.attempt >= i32::try_from(settings.max_attempts).unwrap_or(i32::MAX) {
        diesel::update(this_attempt)
            .set((
                webhook_deliveries::state.eq(DeliveryState::Failed),
                webhook_deliveries::last_status.eq(outcome.status),
                webhook_deliveries::last_error.eq(&outcome.error),
                webhook_deliveries::lease_until.eq(none),
            ))
            .execute(conn)?;
    } else {
        let next = now + webhooks::backoff(settings, outcome.attempt);
        diesel::update(this_attempt)
            .set((
                webhook_deliveries::next_attempt_at.eq(domain::to_db_time(next)),
                webhook_deliveries::last_status.eq(outcome.status),
                webhook_deliveries::last_error.eq(&outcome.error),
                webhook_deliveries::lease_until.eq(none),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Fans out and sends every `events.dispatch_interval_ms` until aborted; a
/// round that found a full batch is followed by another at once.
pub fn spawn_dispatcher(market: Market) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let client = match target::client(
            market.settings.events.allow_private_targets,
            concat!("datamarket-webhooks/", env!("CARGO_PKG_VERSION")),
        ) {
            Ok(client) => client,
            Err(e) => {
                tracing::error!(error = %e, "the webhook sender cannot start");
                return;
            }
        };
        let settings = market.settings.events.clone();
        let mut ticker =
            tokio::time::interval(Duration::from_millis(settings.dispatch_interval_ms));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            loop {
                match fan_out(&market).await {
                    Ok(done) if done.read >= u64::from(settings.dispatch_batch) => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "event fan-out failed");
                        break;
                    }
                }
            }
            loop {
                match send_due(&market, &client).await {
                    Ok(sent) if sent >= settings.concurrency as usize * 4 => continue,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "sending webhooks failed");
                        break;
                    }
                }
            }
        }
    })
}
