//! The messages the provider owes consumers, kept as rows written in the
//! transaction of the change they announce, so none goes out for a change
//! that did not commit. Every instance's sender claims due rows by a
//! conditional update (a lease), so of several gateways on one database
//! one sends each message; a failed send is retried with a growing delay.
//! Before a message goes out, [`prepare`] commits the state it announces
//! (a FINALIZED negotiation, a STARTED transfer) and completes it (the
//! transfer's data token, issued then and never stored).

use chrono::Duration;
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{negotiations, transfers};
use crate::domain::{self, market_words};
use crate::error::{Error, Result};
use crate::market::Market;
use crate::store::DbConnection;
use crate::store::schema::dsp_callbacks;

market_words!(
    /// Which message a callback carries.
    CallbackKind {
        Agreement = "agreement",
        Finalized = "finalized",
        NegotiationTerminated = "negotiation_terminated",
        TransferStart = "transfer_start",
        TransferTerminated = "transfer_terminated",
    }
);

market_words!(
    /// Where a callback stands.
    CallbackState {
        Pending = "pending",
        Sent = "sent",
        Failed = "failed",
    }
);

/// How long a claim keeps other instances off a message.
const LEASE_SECS: i64 = 60;
/// Attempts before a message is given up.
pub const MAX_ATTEMPTS: i32 = 8;

/// A message claimed for sending.
#[derive(Clone, Debug)]
pub struct Due {
    pub id: String,
    pub process_id: String,
    pub kind: CallbackKind,
    pub url: String,
    pub body: Value,
    pub attempts: i32,
}

#[derive(Queryable, Selectable, Debug)]
#[diesel(table_name = dsp_callbacks)]
struct CallbackRow {
    id: String,
    process_id: String,
    kind: CallbackKind,
    url: String,
    body: String,
    attempts: i32,
}

/// Queues a message in the caller's transaction.
pub(crate) fn enqueue(
    conn: &mut DbConnection,
    process_id: &str,
    kind: CallbackKind,
    url: String,
    body: &Value,
) -> Result<()> {
    let now = domain::to_db_time(domain::now());
    diesel::insert_into(dsp_callbacks::table)
        .values((
            dsp_callbacks::id.eq(domain::new_id().to_string()),
            dsp_callbacks::process_id.eq(process_id),
            dsp_callbacks::kind.eq(kind),
            dsp_callbacks::url.eq(url),
            dsp_callbacks::body.eq(body.to_string()),
            dsp_callbacks::state.eq(CallbackState::Pending),
            dsp_callbacks::attempts.eq(0),
            dsp_callbacks::next_attempt_at.eq(now),
            dsp_callbacks::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// How many pending rows a claim looks through for a due one.
const SCAN: i64 = 100;

/// Claims the next due message, if any: of each process only its oldest
/// pending one (a process's messages go out in order). The sender claims
/// one message just before sending it, so the lease outlasts that one send.
pub async fn claim_next(market: &Market) -> Result<Option<Due>> {
    market
        .db
        .write(move |conn| {
            let now = domain::to_db_time(domain::now());
            let rows: Vec<CallbackRow> = dsp_callbacks::table
                .filter(dsp_callbacks::state.eq(CallbackState::Pending))
                .order(dsp_callbacks::id.asc())
                .limit(SCAN)
                .select(CallbackRow::as_select())
                .load(conn)?;
            let mut seen = std::collections::HashSet::new();
            for row in rows {
                if !seen.insert(row.process_id.clone()) {
                    continue;
                }
                // The claim: due, nobody else's lease running, and no claim
                // made since the row was read (its attempt number unchanged).
                let changed = diesel::update(
                    dsp_callbacks::table
                        .filter(dsp_callbacks::id.eq(&row.id))
                        .filter(dsp_callbacks::state.eq(CallbackState::Pending))
                        .filter(dsp_callbacks::attempts.eq(row.attempts))
                        .filter(dsp_callbacks::next_attempt_at.le(now))
                        .filter(
                            dsp_callbacks::claimed_until
                                .is_null()
                                .or(dsp_callbacks::claimed_until.lt(now)),
                        ),
                )
                .set((
                    dsp_callbacks::claimed_until.eq(domain::to_db_time(
                        domain::now() + Duration::seconds(LEASE_SECS),
                    )),
                    dsp_callbacks::attempts.eq(dsp_callbacks::attempts + 1),
                ))
                .execute(conn)?;
                if changed == 1 {
                    let body = serde_json::from_str(&row.body)
                        .map_err(|e| Error::Internal(format!("stored callback: {e}")))?;
                    return Ok(Some(Due {
                        id: row.id,
                        process_id: row.process_id,
                        kind: row.kind,
                        url: row.url,
                        body,
                        attempts: row.attempts + 1,
                    }));
                }
            }
            Ok(None)
        })
        .await
}

/// Commits the state a claimed message announces and returns the message
/// to send; None when it is no longer to be sent: the process moved on
/// (the consumer ended the negotiation, suspended the transfer), or a
/// termination replaces it. Then it is closed as superseded, not sent.
pub async fn prepare(market: &Market, due: &Due) -> Result<Option<Value>> {
    let process = domain::id_from_db(&due.process_id)?;
    let ready = match due.kind {
        CallbackKind::Finalized => negotiations::finalize(market, process)
            .await?
            .then(|| due.body.clone()),
        CallbackKind::Agreement => negotiations::agreement_due(market, process)
            .await?
            .then(|| due.body.clone()),
        CallbackKind::TransferStart => transfers::start_message(market, process, &due.body).await?,
        CallbackKind::NegotiationTerminated | CallbackKind::TransferTerminated => {
            Some(due.body.clone())
        }
    };
    if ready.is_none() {
        close(
            market,
            due,
            CallbackState::Failed,
            Some("superseded".into()),
        )
        .await?;
    }
    Ok(ready)
}

/// Closes a claimed message; only the claim's owner (the sender that took
/// this attempt) does: if the lease ran out and another sender claimed it
/// again, nothing changes.
async fn close(
    market: &Market,
    due: &Due,
    state: CallbackState,
    error: Option<String>,
) -> Result<()> {
    let (id, attempt) = (due.id.clone(), due.attempts);
    let changed = market
        .db
        .write(move |conn| {
            let now = domain::to_db_time(domain::now());
            Ok(diesel::update(
                dsp_callbacks::table
                    .filter(dsp_callbacks::id.eq(&id))
                    .filter(dsp_callbacks::state.eq(CallbackState::Pending))
                    .filter(dsp_callbacks::attempts.eq(attempt)),
            )
            .set((
                dsp_callbacks::state.eq(state),
                dsp_callbacks::sent_at.eq((state == CallbackState::Sent).then_some(now)),
                dsp_callbacks::last_error.eq(error.clone()),
                dsp_callbacks::claimed_until.eq(None::<chrono::NaiveDateTime>),
            ))
            .execute(conn)?)
        })
        .await?;
    lost_claim(due, changed);
    Ok(())
}

/// A closing update that changed nothing: the claim was no longer this
/// sender's.
fn lost_claim(due: &Due, changed: usize) {
    if changed == 0 {
        tracing::warn!(callback = %due.id, attempt = due.attempts, "dataspace: a callback's claim passed to another sender; left to it");
    }
}

/// The consumer took the message.
pub async fn sent(market: &Market, due: &Due) -> Result<()> {
    close(market, due, CallbackState::Sent, None).await
}

/// The send failed: retried after 2^attempts seconds (at most five
/// minutes), given up after `MAX_ATTEMPTS`.
pub async fn failed(market: &Market, due: &Due, error: String) -> Result<()> {
    if due.attempts >= MAX_ATTEMPTS {
        return close(market, due, CallbackState::Failed, Some(error)).await;
    }
    let (id, attempt) = (due.id.clone(), due.attempts);
    let delay = 2_i64.pow(due.attempts.clamp(0, 8) as u32).min(300);
    let changed = market
        .db
        .write(move |conn| {
            Ok(diesel::update(
                dsp_callbacks::table
                    .filter(dsp_callbacks::id.eq(&id))
                    .filter(dsp_callbacks::state.eq(CallbackState::Pending))
                    .filter(dsp_callbacks::attempts.eq(attempt)),
            )
            .set((
                dsp_callbacks::next_attempt_at
                    .eq(domain::to_db_time(domain::now() + Duration::seconds(delay))),
                dsp_callbacks::claimed_until.eq(None::<chrono::NaiveDateTime>),
                dsp_callbacks::last_error.eq(error.chars().take(2000).collect::<String>()),
            ))
            .execute(conn)?)
        })
        .await?;
    lost_claim(due, changed);
    Ok(())
}

/// The URL of a consumer's callback path.
pub(crate) fn url(callback: &str, path: &str) -> String {
    format!("{}/{path}", callback.trim_end_matches('/'))
}

/// The body of a termination a provider sends.
pub(crate) fn termination(
    kind: &str,
    provider_pid: &str,
    consumer_pid: &str,
    code: &str,
    reason: &str,
) -> Value {
    json!({
        "@context": [super::CONTEXT],
        "@type": kind,
        "providerPid": provider_pid,
        "consumerPid": consumer_pid,
        "code": code,
        "reason": [reason],
    })
}
