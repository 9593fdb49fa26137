//! Transfer processes, the market as provider, HTTP pull only:
//!
//! ```text
//! REQUESTED ──(start message sent)──► STARTED ──completion──► COMPLETED
//!     ▲                                │
//!     │ start (consumer resumes)       ▼ suspension
//!     └───────────────────────────  SUSPENDED
//! any but COMPLETED ──termination──► TERMINATED
//! ```
//!
//! A transfer names an agreement (a grant) of one of the consumer's
//! FINALIZED negotiations. The start message carries a data address: the
//! content URL of the version and a data token for that grant and version,
//! issued when the message goes out. The consumer downloads through the
//! market's one delivery path, which checks, counts and records every
//! download under the grant: a revoked, expired or used-up grant refuses.

use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::callbacks::{self, CallbackKind};
use super::messages::{ProcessMessage, TransferRequestMessage};
use super::{
    HTTP_ENDPOINT_TYPE, HTTP_PULL, TransferState, callback_base, consumer_pid, negotiations,
    not_found, parse_urn, party, process_view, urn, wrong_state,
};
use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog;
use crate::domain::{self, Actor};
use crate::error::{Code, Error, Result, on_unique_violation};
use crate::grants::{self, DataTokenInput, GrantStatus};
use crate::market::Market;
use crate::store::schema::dsp_transfers;
use crate::store::{DbConnection, transition};

const KIND: &str = "TransferProcess";

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = dsp_transfers)]
pub(crate) struct TransferRow {
    pub id: String,
    pub consumer_pid: String,
    pub consumer_id: String,
    pub agreement_id: String,
    pub dataset_id: String,
    pub version: i32,
    pub callback_address: String,
    pub endpoint: String,
    pub state: TransferState,
}

impl TransferRow {
    fn provider_pid(&self) -> Result<String> {
        Ok(urn(domain::id_from_db(&self.id)?))
    }

    fn view(&self) -> Result<Value> {
        Ok(process_view(
            KIND,
            &self.provider_pid()?,
            &self.consumer_pid,
            self.state.as_str(),
        ))
    }
}

fn load(conn: &mut DbConnection, id: Uuid) -> Result<Option<TransferRow>> {
    Ok(dsp_transfers::table
        .find(id.to_string())
        .select(TransferRow::as_select())
        .first(conn)
        .optional()?)
}

fn load_own(conn: &mut DbConnection, actor: &Actor, provider_pid: &str) -> Result<TransferRow> {
    let id = parse_urn(provider_pid).ok_or_else(|| not_found("transfer process"))?;
    load(conn, id)?
        .filter(|row| row.consumer_id == actor.id.to_string())
        .ok_or_else(|| not_found("transfer process"))
}

fn require_pids(row: &TransferRow, message: &ProcessMessage) -> Result<()> {
    if parse_urn(&message.provider_pid) != Some(domain::id_from_db(&row.id)?) {
        return Err(Error::invalid(
            "providerPid",
            "does not name this transfer process",
        ));
    }
    if message.consumer_pid != row.consumer_pid {
        return Err(Error::invalid(
            "consumerPid",
            "is not this transfer process's",
        ));
    }
    Ok(())
}

fn record(
    conn: &mut DbConnection,
    actor: Option<Uuid>,
    action: Action,
    row: &TransferRow,
    detail: Value,
) -> Result<u64> {
    let dataset = domain::id_from_db(&row.dataset_id)?;
    let provider = catalog::load(conn, dataset)?
        .ok_or_else(|| Error::Internal("a transfer's dataset vanished".into()))?
        .provider()?;
    audit::append(
        conn,
        Entry {
            actor,
            action,
            dataset: Some(dataset),
            subject: row.id.clone(),
            parties: vec![domain::id_from_db(&row.consumer_id)?, provider],
            detail,
        },
    )
}

/// A transfer request under a finalized agreement: REQUESTED, and the
/// start message queued. `content_base` is the market's public base URL.
pub async fn request(
    market: &Market,
    actor: &Actor,
    message: TransferRequestMessage,
    content_base: &str,
) -> Result<Recorded<Value>> {
    let consumer_pid = consumer_pid(&message.consumer_pid)?;
    let callback = callback_base(
        &message.callback_address,
        market.settings.events.allow_private_targets,
    )?;
    if message.format != HTTP_PULL {
        return Err(Error::invalid(
            "format",
            format!("only {HTTP_PULL} is offered"),
        ));
    }
    if message.data_address.is_some() {
        return Err(Error::invalid(
            "dataAddress",
            "is for push transfers, which are not offered",
        ));
    }
    let grant_id = parse_urn(&message.agreement_id)
        .ok_or_else(|| Error::invalid("agreementId", "is not an agreement of this provider"))?;
    // The grant as its licensee sees it: anyone else's is "not found".
    let grant = grants::get_grant(market, actor, grant_id)
        .await
        .map_err(|e| match e.code() {
            Code::NotFound => not_found("agreement"),
            _ => e,
        })?;
    if grant.licensee != actor.id {
        return Err(not_found("agreement"));
    }
    match grant.status {
        GrantStatus::Active => {}
        GrantStatus::Revoked => {
            return Err(Error::refused(
                Code::GrantRevoked,
                "the agreement's grant was revoked",
            ));
        }
        GrantStatus::Expired => {
            return Err(Error::refused(
                Code::GrantExpired,
                "the agreement's grant has expired",
            ));
        }
        GrantStatus::Exhausted => {
            return Err(Error::refused(
                Code::GrantExhausted,
                "the agreement's downloads are used up",
            ));
        }
    }
    let version = match grant.policy.version {
        Some(v) => v,
        None => catalog::get(market, Some(actor), grant.dataset)
            .await?
            .latest_version
            .ok_or_else(|| {
                Error::refused(Code::NoVersion, "the dataset has no version to transfer")
            })?,
    };
    let endpoint = format!(
        "{}/api/v1/datasets/{}/versions/{version}/content",
        content_base.trim_end_matches('/'),
        grant.dataset
    );
    let consumer = actor.id;
    market
        .db
        .write(move |conn| {
            if negotiations::finalized_with(conn, consumer, grant_id)?.is_none() {
                return Err(Error::refused(
                    Code::InvalidState,
                    "the agreement is not one of your FINALIZED contract negotiations",
                ));
            }
            let id = domain::new_id();
            let now = domain::to_db_time(domain::now());
            diesel::insert_into(dsp_transfers::table)
                .values((
                    dsp_transfers::id.eq(id.to_string()),
                    dsp_transfers::consumer_pid.eq(&consumer_pid),
                    dsp_transfers::consumer_id.eq(consumer.to_string()),
                    dsp_transfers::agreement_id.eq(grant_id.to_string()),
                    dsp_transfers::dataset_id.eq(grant.dataset.to_string()),
                    dsp_transfers::version.eq(version),
                    dsp_transfers::format.eq(HTTP_PULL),
                    dsp_transfers::callback_address.eq(&callback),
                    dsp_transfers::endpoint.eq(&endpoint),
                    dsp_transfers::state.eq(TransferState::Requested),
                    dsp_transfers::created_at.eq(now),
                    dsp_transfers::updated_at.eq(now),
                ))
                .execute(conn)
                .map_err(|e| {
                    on_unique_violation(e, || {
                        Error::refused(
                            Code::AlreadyExists,
                            format!("you have a transfer process with consumerPid {consumer_pid} already"),
                        )
                    })
                })?;
            let row = load(conn, id)?.ok_or_else(|| Error::Internal("new transfer vanished".into()))?;
            let index = record(
                conn,
                Some(consumer),
                Action::DspTransferRequested,
                &row,
                json!({
                    "state": row.state,
                    "consumer_pid": row.consumer_pid,
                    "agreement": grant_id,
                    "version": version,
                    "format": HTTP_PULL,
                    "callback_address": row.callback_address,
                }),
            )?;
            queue_start(conn, &row)?;
            Ok(Recorded::new(row.view()?, vec![index]))
        })
        .await
}

/// Queues the start message; its data token is added when it is sent.
fn queue_start(conn: &mut DbConnection, row: &TransferRow) -> Result<()> {
    let message = json!({
        "@context": [super::CONTEXT],
        "@type": "TransferStartMessage",
        "providerPid": row.provider_pid()?,
        "consumerPid": row.consumer_pid,
        "dataAddress": {
            "@type": "DataAddress",
            "endpointType": HTTP_ENDPOINT_TYPE,
            "endpoint": row.endpoint,
            "endpointProperties": [],
        },
    });
    callbacks::enqueue(
        conn,
        &row.id,
        CallbackKind::TransferStart,
        callbacks::url(
            &row.callback_address,
            &format!("transfers/{}/start", row.consumer_pid),
        ),
        &message,
    )
}

/// Before a start message goes out: a data token for the grant and
/// version (refused under a grant that no longer allows delivery: then the
/// transfer is TERMINATED and a termination queued instead), and the
/// transfer STARTED. None when the message is no longer to be sent.
pub(crate) async fn start_message(
    market: &Market,
    id: Uuid,
    body: &Value,
) -> Result<Option<Value>> {
    let row = market
        .db
        .read(move |conn| load(conn, id)?.ok_or_else(|| not_found("transfer process")))
        .await?;
    // A suspended transfer is not started by a message still queued from
    // before: only the consumer's resume (back to REQUESTED) does.
    if !matches!(row.state, TransferState::Requested | TransferState::Started) {
        return Ok(None);
    }
    let consumer = party(domain::id_from_db(&row.consumer_id)?);
    let token = grants::issue_data_token(
        market,
        &consumer,
        domain::id_from_db(&row.agreement_id)?,
        DataTokenInput {
            version: Some(row.version),
        },
        None,
    )
    .await;
    let token = match token {
        Ok(token) => token.value,
        Err(Error::Refused { code, detail, .. }) => {
            provider_terminates(market, id, code.slug().to_owned(), detail).await?;
            return Ok(None);
        }
        Err(other) => return Err(other),
    };
    let started = market
        .db
        .write(move |conn| {
            let mut row = load(conn, id)?.ok_or_else(|| not_found("transfer process"))?;
            let previous = row.state;
            let made = transition!(conn, dsp_transfers, &row.id,
                state: [TransferState::Requested] => TransferState::Started,
                updated_at = domain::to_db_time(domain::now()));
            if made.made() {
                row.state = TransferState::Started;
                record(
                    conn,
                    None,
                    Action::DspTransferStarted,
                    &row,
                    json!({ "state": row.state, "previous_state": previous, "version": row.version }),
                )?;
                return Ok(true);
            }
            // Sent again after a failed attempt: still STARTED.
            Ok(load(conn, id)?.is_some_and(|r| r.state == TransferState::Started))
        })
        .await?;
    if !started {
        return Ok(None);
    }
    let mut message = body.clone();
    message["dataAddress"]["endpointProperties"] = json!([
        {"@type": "EndpointProperty", "name": "authorization", "value": token.access_token},
        {"@type": "EndpointProperty", "name": "authType", "value": "bearer"},
    ]);
    Ok(Some(message))
}

/// The provider ends a transfer its grant no longer allows.
async fn provider_terminates(
    market: &Market,
    id: Uuid,
    code: String,
    reason: String,
) -> Result<()> {
    market
        .db
        .write(move |conn| {
            let mut row = load(conn, id)?.ok_or_else(|| not_found("transfer process"))?;
            let made = transition!(conn, dsp_transfers, &row.id,
                state: [TransferState::Requested, TransferState::Started, TransferState::Suspended] => TransferState::Terminated,
                updated_at = domain::to_db_time(domain::now()));
            if !made.made() {
                return Ok(());
            }
            row.state = TransferState::Terminated;
            record(
                conn,
                None,
                Action::DspTransferTerminated,
                &row,
                json!({ "state": row.state, "by": "provider", "code": code, "reason": reason }),
            )?;
            let message = callbacks::termination(
                "TransferTerminationMessage",
                &row.provider_pid()?,
                &row.consumer_pid,
                &code,
                &reason,
            );
            callbacks::enqueue(
                conn,
                &row.id,
                CallbackKind::TransferTerminated,
                callbacks::url(&row.callback_address, &format!("transfers/{}/termination", row.consumer_pid)),
                &message,
            )
        })
        .await
}

/// One of the actor's transfer processes.
pub async fn get(market: &Market, actor: &Actor, provider_pid: &str) -> Result<Value> {
    let (actor, pid) = (actor.clone(), provider_pid.to_owned());
    market
        .db
        .read(move |conn| load_own(conn, &actor, &pid)?.view())
        .await
}

/// What a consumer's message does to a transfer.
#[derive(Clone, Copy, Debug)]
pub enum Move {
    /// TransferStartMessage: a suspended transfer resumes: REQUESTED again,
    /// and a new start message, with a new token, queued (STARTED once it
    /// goes out). A second resume meanwhile finds it REQUESTED and is
    /// refused.
    Resume,
    Complete,
    Suspend,
    Terminate,
}

impl Move {
    fn rule(
        self,
    ) -> (
        &'static [TransferState],
        TransferState,
        Action,
        &'static str,
    ) {
        use TransferState::*;
        match self {
            Move::Resume => (
                &[Suspended],
                Requested,
                Action::DspTransferRequested,
                "resume",
            ),
            Move::Complete => (
                &[Started],
                Completed,
                Action::DspTransferCompleted,
                "complete",
            ),
            Move::Suspend => (
                &[Started],
                Suspended,
                Action::DspTransferSuspended,
                "suspend",
            ),
            Move::Terminate => (
                &[Requested, Started, Suspended],
                Terminated,
                Action::DspTransferTerminated,
                "terminate",
            ),
        }
    }
}

/// A consumer's message on a transfer, by the state machine.
pub async fn consumer_moves(
    market: &Market,
    actor: &Actor,
    provider_pid: &str,
    message: ProcessMessage,
    how: Move,
) -> Result<Recorded<Value>> {
    let (actor, pid) = (actor.clone(), provider_pid.to_owned());
    let (from, to, action, doing) = how.rule();
    market
        .db
        .write(move |conn| {
            let mut row = load_own(conn, &actor, &pid)?;
            require_pids(&row, &message)?;
            if !from.contains(&row.state) {
                return Err(wrong_state("transfer process", row.state.as_str(), doing));
            }
            let made = transition!(conn, dsp_transfers, &row.id,
                state: from.to_vec() => to,
                updated_at = domain::to_db_time(domain::now()));
            if !made.made() {
                let now = load(conn, domain::id_from_db(&row.id)?)?
                    .ok_or_else(|| not_found("transfer process"))?;
                return Err(wrong_state("transfer process", now.state.as_str(), doing));
            }
            let previous = row.state;
            row.state = to;
            let index = record(
                conn,
                Some(actor.id),
                action,
                &row,
                json!({
                    "state": row.state,
                    "previous_state": previous,
                    "by": "consumer",
                    "code": message.code,
                    "reason": message.reason_text(),
                }),
            )?;
            if matches!(how, Move::Resume) {
                // STARTED again once the new start message goes out.
                queue_start(conn, &row)?;
            }
            Ok(Recorded::new(row.view()?, vec![index]))
        })
        .await
}
