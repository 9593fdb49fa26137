//! Webhooks: an account registers a URL for kinds of events and gets a
//! signing secret; it can list and remove its webhooks, read each one's
//! delivery log, and have a delivery sent again. An account sees and
//! touches only its own webhooks: another's is not found.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use diesel::prelude::*;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{EventType, target};
use crate::audit::{self, Action, Entry, Recorded};
use crate::config::EventSettings;
use crate::domain::{self, Actor, market_words};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::page;
use crate::store::schema::{webhook_attempts, webhook_deliveries, webhook_subscriptions};
use crate::store::{DbConnection, lock_row, transition};

/// The most attempts a delivery's log shows, newest first.
const ATTEMPTS_SHOWN: i64 = 20;

market_words!(
    /// Whether a webhook is in use.
    WebhookState {
        Active = "active",
        Removed = "removed",
    }
);

market_words!(
    /// Where a delivery stands.
    DeliveryState {
        Pending = "pending",
        Delivered = "delivered",
        Failed = "failed",
    }
);

/// What a webhook is registered with.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhook {
    /// Where events are POSTed: `https://…` (or `http://…`).
    pub url: String,
    /// The kinds of event to send; at least one.
    pub event_types: Vec<EventType>,
}

/// A registered webhook.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: Uuid,
    pub url: String,
    pub event_types: Vec<EventType>,
    pub state: WebhookState,
    pub created_at: String,
    pub removed_at: Option<String>,
}

/// A webhook just registered, with its signing secret: shown this once.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RegisteredWebhook {
    #[serde(flatten)]
    pub webhook: Webhook,
    /// `whsec_` and base64: the key of the `webhook-signature` HMAC
    /// (Standard Webhooks). Keep it; it is not shown again.
    pub secret: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct WebhookPage {
    pub items: Vec<Webhook>,
    pub next_cursor: Option<String>,
}

/// One attempt to deliver, as the delivery log keeps it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    pub attempt: i32,
    pub attempted_at: String,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<i32>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    pub duration_ms: i64,
}

/// One event's delivery to one webhook.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Delivery {
    pub id: Uuid,
    /// The event's id (`evt_<audit index>`), sent as `webhook-id`.
    pub event_id: String,
    pub event_type: EventType,
    pub audit_index: u64,
    pub state: DeliveryState,
    pub attempts: i32,
    /// When it is next tried (pending deliveries).
    pub next_attempt_at: Option<String>,
    pub delivered_at: Option<String>,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: String,
    /// The newest attempts first (at most 20).
    pub log: Vec<Attempt>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DeliveryPage {
    pub items: Vec<Delivery>,
    pub next_cursor: Option<String>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = webhook_subscriptions)]
pub(crate) struct SubscriptionRow {
    pub id: String,
    pub account_id: String,
    pub url: String,
    pub event_types: String,
    pub secret: String,
    pub state: WebhookState,
    pub created_at: chrono::NaiveDateTime,
    pub removed_at: Option<chrono::NaiveDateTime>,
}

impl SubscriptionRow {
    pub fn types(&self) -> Result<Vec<EventType>> {
        serde_json::from_str(&self.event_types)
            .map_err(|e| Error::Internal(format!("stored event types: {e}")))
    }

    fn to_webhook(&self) -> Result<Webhook> {
        Ok(Webhook {
            id: domain::id_from_db(&self.id)?,
            url: self.url.clone(),
            event_types: self.types()?,
            state: self.state,
            created_at: domain::format_time(domain::from_db_time(self.created_at)),
            removed_at: self
                .removed_at
                .map(|t| domain::format_time(domain::from_db_time(t))),
        })
    }
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = webhook_deliveries)]
pub(crate) struct DeliveryRow {
    pub id: String,
    pub event_index: i64,
    pub event_type: EventType,
    pub as_news: bool,
    pub state: DeliveryState,
    pub attempts: i32,
    pub next_attempt_at: chrono::NaiveDateTime,
    pub last_status: Option<i32>,
    pub last_error: Option<String>,
    pub delivered_at: Option<chrono::NaiveDateTime>,
    pub created_at: chrono::NaiveDateTime,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = webhook_attempts)]
struct AttemptRow {
    attempt: i32,
    attempted_at: chrono::NaiveDateTime,
    status: Option<i32>,
    error: Option<String>,
    duration_ms: i64,
}

/// Registers a webhook for the caller.
pub async fn register(
    market: &Market,
    actor: &Actor,
    input: NewWebhook,
) -> Result<Recorded<RegisteredWebhook>> {
    let settings = market.settings.events.clone();
    let url = target::check_url(&input.url, "url", settings.allow_private_targets)?;
    let mut types = input.event_types;
    types.sort();
    types.dedup();
    if types.is_empty() {
        return Err(Error::invalid(
            "event_types",
            "name at least one event type",
        ));
    }
    let secret = new_secret();
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            // Two registrations at once must not both pass the count.
            lock_row!(conn, accounts, actor.id.to_string());
            let active: i64 = webhook_subscriptions::table
                .filter(webhook_subscriptions::account_id.eq(actor.id.to_string()))
                .filter(webhook_subscriptions::state.eq(WebhookState::Active))
                .count()
                .get_result(conn)?;
            if active >= i64::from(settings.max_subscriptions) {
                return Err(Error::refused(
                    Code::InvalidState,
                    format!(
                        "an account may have at most {} webhooks; remove one first",
                        settings.max_subscriptions
                    ),
                ));
            }
            let id = domain::new_id();
            let now = domain::to_db_time(domain::now());
            let event_types = serde_json::to_string(&types)
                .map_err(|e| Error::Internal(format!("event types: {e}")))?;
            diesel::insert_into(webhook_subscriptions::table)
                .values((
                    webhook_subscriptions::id.eq(id.to_string()),
                    webhook_subscriptions::account_id.eq(actor.id.to_string()),
                    webhook_subscriptions::url.eq(url.as_str()),
                    webhook_subscriptions::event_types.eq(&event_types),
                    webhook_subscriptions::secret.eq(&secret),
                    webhook_subscriptions::state.eq(WebhookState::Active),
                    webhook_subscriptions::created_at.eq(now),
                ))
                .execute(conn)?;
            let row = load_own(conn, &actor, id)?;
            let index = record(conn, &actor, Action::WebhookRegistered, &row)?;
            Ok(Recorded::new(
                RegisteredWebhook {
                    webhook: row.to_webhook()?,
                    secret: secret.clone(),
                },
                vec![index],
            ))
        })
        .await
}

/// The caller's webhooks, newest first.
pub async fn list(
    market: &Market,
    actor: &Actor,
    limit: u32,
    cursor: Option<String>,
) -> Result<WebhookPage> {
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let mut query = webhook_subscriptions::table
                .filter(webhook_subscriptions::account_id.eq(actor.id.to_string()))
                .order(webhook_subscriptions::id.desc())
                .select(SubscriptionRow::as_select())
                .into_boxed();
            if let Some(cursor) = cursor {
                query = query.filter(webhook_subscriptions::id.lt(cursor.to_string()));
            }
            let rows: Vec<SubscriptionRow> = query.limit(i64::from(limit) + 1).load(conn)?;
            let (rows, next_cursor) = page::split(rows, limit, |r| &r.id);
            Ok(WebhookPage {
                items: rows
                    .iter()
                    .map(SubscriptionRow::to_webhook)
                    .collect::<Result<_>>()?,
                next_cursor,
            })
        })
        .await
}

/// One of the caller's webhooks.
pub async fn get(market: &Market, actor: &Actor, id: Uuid) -> Result<Webhook> {
    let actor = actor.clone();
    market
        .db
        .read(move |conn| load_own(conn, &actor, id)?.to_webhook())
        .await
}

/// Removes one of the caller's webhooks; what was still to be sent to it
/// is given up.
pub async fn remove(market: &Market, actor: &Actor, id: Uuid) -> Result<Recorded<Webhook>> {
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = load_own(conn, &actor, id)?;
            let now = domain::to_db_time(domain::now());
            let made = transition!(conn, webhook_subscriptions, &row.id,
                state: [WebhookState::Active] => WebhookState::Removed,
                removed_at = Some(now));
            if !made.made() {
                return Err(
                    Error::refused(Code::InvalidState, "the webhook is removed already")
                        .with("state", WebhookState::Removed.as_str()),
                );
            }
            diesel::update(
                webhook_deliveries::table
                    .filter(webhook_deliveries::subscription_id.eq(&row.id))
                    .filter(webhook_deliveries::state.eq(DeliveryState::Pending)),
            )
            .set((
                webhook_deliveries::state.eq(DeliveryState::Failed),
                webhook_deliveries::last_error.eq(Some("the webhook was removed")),
                webhook_deliveries::lease_until.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(conn)?;
            let row = load_own(conn, &actor, id)?;
            let index = record(conn, &actor, Action::WebhookRemoved, &row)?;
            Ok(Recorded::new(row.to_webhook()?, vec![index]))
        })
        .await
}

/// A webhook's deliveries, newest first, each with its attempts.
pub async fn deliveries(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    state: Option<DeliveryState>,
    limit: u32,
    cursor: Option<String>,
) -> Result<DeliveryPage> {
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let subscription = load_own(conn, &actor, id)?;
            let mut query = webhook_deliveries::table
                .filter(webhook_deliveries::subscription_id.eq(&subscription.id))
                .order(webhook_deliveries::id.desc())
                .select(DeliveryRow::as_select())
                .into_boxed();
            if let Some(state) = state {
                query = query.filter(webhook_deliveries::state.eq(state));
            }
            if let Some(cursor) = cursor {
                query = query.filter(webhook_deliveries::id.lt(cursor.to_string()));
            }
            let rows: Vec<DeliveryRow> = query.limit(i64::from(limit) + 1).load(conn)?;
            let (rows, next_cursor) = page::split(rows, limit, |r| &r.id);
            Ok(DeliveryPage {
                items: rows
                    .iter()
                    .map(|row| to_delivery(conn, row))
                    .collect::<Result<_>>()?,
                next_cursor,
            })
        })
        .await
}

/// Sends a delivered or failed delivery once more, now.
pub async fn redeliver(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    delivery: Uuid,
) -> Result<Recorded<Delivery>> {
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let subscription = load_own(conn, &actor, id)?;
            if subscription.state != WebhookState::Active {
                return Err(Error::refused(
                    Code::InvalidState,
                    "the webhook is removed: nothing is sent to it",
                )
                .with("state", subscription.state.as_str()));
            }
            let row = load_delivery(conn, &subscription, delivery)?;
            let now = domain::to_db_time(domain::now());
            let made = transition!(conn, webhook_deliveries, &row.id,
                state: [DeliveryState::Delivered, DeliveryState::Failed] => DeliveryState::Pending,
                next_attempt_at = now,
                lease_until = None::<chrono::NaiveDateTime>);
            if !made.made() {
                return Err(Error::refused(
                    Code::InvalidState,
                    "the delivery is pending already: it will be sent",
                )
                .with("state", DeliveryState::Pending.as_str()));
            }
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::WebhookRedelivered,
                    dataset: None,
                    subject: subscription.id.clone(),
                    parties: vec![],
                    detail: json!({
                        "delivery": row.id,
                        "event": super::event_id(row.event_index as u64),
                    }),
                },
            )?;
            let row = load_delivery(conn, &subscription, delivery)?;
            Ok(Recorded::new(to_delivery(conn, &row)?, vec![index]))
        })
        .await
}

fn load_own(conn: &mut DbConnection, actor: &Actor, id: Uuid) -> Result<SubscriptionRow> {
    webhook_subscriptions::table
        .find(id.to_string())
        .filter(webhook_subscriptions::account_id.eq(actor.id.to_string()))
        .select(SubscriptionRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("webhook"))
}

fn load_delivery(
    conn: &mut DbConnection,
    subscription: &SubscriptionRow,
    id: Uuid,
) -> Result<DeliveryRow> {
    webhook_deliveries::table
        .find(id.to_string())
        .filter(webhook_deliveries::subscription_id.eq(&subscription.id))
        .select(DeliveryRow::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("delivery"))
}

fn to_delivery(conn: &mut DbConnection, row: &DeliveryRow) -> Result<Delivery> {
    let log: Vec<AttemptRow> = webhook_attempts::table
        .filter(webhook_attempts::delivery_id.eq(&row.id))
        .order(webhook_attempts::attempt.desc())
        .limit(ATTEMPTS_SHOWN)
        .select(AttemptRow::as_select())
        .load(conn)?;
    let time = |t: chrono::NaiveDateTime| domain::format_time(domain::from_db_time(t));
    Ok(Delivery {
        id: domain::id_from_db(&row.id)?,
        event_id: super::event_id(row.event_index as u64),
        event_type: row.event_type,
        audit_index: row.event_index as u64,
        state: row.state,
        attempts: row.attempts,
        next_attempt_at: (row.state == DeliveryState::Pending).then(|| time(row.next_attempt_at)),
        delivered_at: row.delivered_at.map(time),
        last_status: row.last_status,
        last_error: row.last_error.clone(),
        created_at: time(row.created_at),
        log: log
            .into_iter()
            .map(|a| Attempt {
                attempt: a.attempt,
                attempted_at: time(a.attempted_at),
                status: a.status,
                error: a.error,
                duration_ms: a.duration_ms,
            })
            .collect(),
    })
}

/// The log records where a webhook points only as far as its origin: a
/// URL's path and query may carry the receiver's own secret, and the log
/// keeps what it is given forever.
fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    action: Action,
    row: &SubscriptionRow,
) -> Result<u64> {
    let origin = reqwest::Url::parse(&row.url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default();
    audit::append(
        conn,
        Entry {
            actor: Some(actor.id),
            action,
            dataset: None,
            subject: row.id.clone(),
            parties: vec![],
            detail: json!({ "origin": origin, "event_types": row.types()? }),
        },
    )
}

/// A new signing secret: 32 random bytes, as Standard Webhooks writes them.
fn new_secret() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    format!("whsec_{}", STANDARD.encode(key))
}

/// How long a delivery waits after its `attempts`-th failed attempt.
pub(crate) fn backoff(settings: &EventSettings, attempts: i32) -> chrono::Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(0)
        .min(32);
    let wait = settings
        .retry_base_ms
        .saturating_mul(1u64 << doublings)
        .min(settings.retry_max_ms);
    chrono::Duration::milliseconds(i64::try_from(wait).unwrap_or(i64::MAX / 4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_ceiling() {
        let mut settings = crate::config::Settings::defaults().unwrap().events;
        settings.retry_base_ms = 1000;
        settings.retry_max_ms = 10_000;
        let waits: Vec<i64> = (1..=6)
            .map(|n| backoff(&settings, n).num_milliseconds())
            .collect();
        assert_eq!(waits, vec![1000, 2000, 4000, 8000, 10_000, 10_000]);
    }

    #[test]
    fn secrets_are_standard_webhooks_keys() {
        let secret = new_secret();
        let key = STANDARD
            .decode(secret.strip_prefix("whsec_").unwrap())
            .unwrap();
        assert_eq!(key.len(), 32);
        assert!(standardwebhooks::Webhook::new(&secret).is_ok());
    }
}
