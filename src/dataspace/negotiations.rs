//! Contract negotiations, the market as provider. A consumer's initial
//! `ContractRequestMessage` on a listing's request-based offer becomes the
//! market's own access request (decided by the holder through the API or
//! the portal); approval makes a grant, which is the agreement:
//!
//! ```text
//! REQUESTED ──approved──► AGREED ──verification──► VERIFIED ──► FINALIZED
//!     │   └─rejected, withdrawn, expired─► TERMINATED ◄─termination─┘ (any but FINALIZED)
//! ```
//!
//! Every transition is one conditional update with its audit entry in the
//! same transaction; the message it owes the consumer is queued there too
//! ([`super::callbacks`]). Counter-offers (OFFERED, ACCEPTED) are not made.

use diesel::prelude::*;
use serde_json::{Value, json};
use uuid::Uuid;

use super::callbacks::{self, CallbackKind};
use super::messages::{ContractRequestMessage, ProcessMessage};
use super::{
    NegotiationState, OFFER_DAYS, OFFER_DOWNLOADS, callback_base, consumer_pid, not_found,
    parse_urn, participant, party, process_view, request_offer_id, urn, wrong_state,
};
use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog;
use crate::domain::{self, Actor};
use crate::error::{Code, Error, Result, on_unique_violation};
use crate::grants::{self, Grant, NewRequest, RequestState};
use crate::market::Market;
use crate::store::schema::dsp_negotiations;
use crate::store::{DbConnection, transition};

const KIND: &str = "ContractNegotiation";

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = dsp_negotiations)]
pub(crate) struct NegotiationRow {
    pub id: String,
    pub consumer_pid: String,
    pub consumer_id: String,
    pub dataset_id: String,
    pub offer_id: String,
    pub callback_address: String,
    pub request_id: String,
    pub agreement_id: Option<String>,
    pub state: NegotiationState,
}

impl NegotiationRow {
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

    fn consumer(&self) -> Result<Uuid> {
        domain::id_from_db(&self.consumer_id)
    }
}

fn load(conn: &mut DbConnection, id: Uuid) -> Result<Option<NegotiationRow>> {
    Ok(dsp_negotiations::table
        .find(id.to_string())
        .select(NegotiationRow::as_select())
        .first(conn)
        .optional()?)
}

/// The negotiation `provider_pid` names, if it is the actor's: anyone
/// else's is "not found" (the binding's rule and the market's).
fn load_own(conn: &mut DbConnection, actor: &Actor, provider_pid: &str) -> Result<NegotiationRow> {
    let id = parse_urn(provider_pid).ok_or_else(|| not_found("contract negotiation"))?;
    load(conn, id)?
        .filter(|row| row.consumer_id == actor.id.to_string())
        .ok_or_else(|| not_found("contract negotiation"))
}

/// A message must name the negotiation its path names.
fn require_pids(row: &NegotiationRow, message: &ProcessMessage) -> Result<()> {
    if parse_urn(&message.provider_pid) != Some(domain::id_from_db(&row.id)?) {
        return Err(Error::invalid(
            "providerPid",
            "does not name this negotiation",
        ));
    }
    if message.consumer_pid != row.consumer_pid {
        return Err(Error::invalid("consumerPid", "is not this negotiation's"));
    }
    Ok(())
}

fn record(
    conn: &mut DbConnection,
    actor: Option<Uuid>,
    action: Action,
    row: &NegotiationRow,
    detail: Value,
) -> Result<u64> {
    let dataset = domain::id_from_db(&row.dataset_id)?;
    let provider = catalog::load(conn, dataset)?
        .ok_or_else(|| Error::Internal("a negotiation's dataset vanished".into()))?
        .provider()?;
    audit::append(
        conn,
        Entry {
            actor,
            action,
            dataset: Some(dataset),
            subject: row.id.clone(),
            parties: vec![row.consumer()?, provider],
            detail,
        },
    )
}

/// The dataset a request-based offer is about; a priced offer is refused.
async fn offered_dataset(market: &Market, message: &ContractRequestMessage) -> Result<Uuid> {
    let offer = &message.offer.id;
    if let Some(dataset) = offer
        .strip_prefix("urn:datamarket:offer:request:")
        .and_then(|d| d.parse::<Uuid>().ok())
    {
        if let Some(target) = &message.offer.target
            && parse_urn(target) != Some(dataset)
        {
            return Err(Error::invalid("offer.target", "is not the offer's dataset"));
        }
        return Ok(dataset);
    }
    if let Some(id) = parse_urn(offer)
        && crate::trading::offers::get(market, None, id, None)
            .await
            .is_ok()
    {
        return Err(Error::invalid(
            "offer",
            "is a priced offer: buy it through the API's orders (POST /api/v1/orders); the Dataspace Protocol negotiates the request-based offers (urn:datamarket:offer:request:…) only",
        ));
    }
    Err(Error::invalid("offer", "names no offer of this catalog"))
}

/// An initial contract request: the market's access request, and the
/// negotiation carrying it, REQUESTED.
pub async fn request(
    market: &Market,
    actor: &Actor,
    message: ContractRequestMessage,
) -> Result<Recorded<Value>> {
    if message.provider_pid.is_some() {
        return Err(Error::invalid(
            "providerPid",
            "an initial request names no providerPid; POST to /negotiations/{providerPid}/request instead",
        ));
    }
    let consumer_pid = consumer_pid(&message.consumer_pid)?;
    let callback = callback_base(
        message.callback_address.as_deref().unwrap_or_default(),
        market.settings.events.allow_private_targets,
    )?;
    let dataset = offered_dataset(market, &message).await?;
    let taken = {
        let (me, pid) = (actor.id.to_string(), consumer_pid.clone());
        market
            .db
            .read(move |conn| {
                Ok(dsp_negotiations::table
                    .filter(dsp_negotiations::consumer_id.eq(me))
                    .filter(dsp_negotiations::consumer_pid.eq(pid))
                    .count()
                    .get_result::<i64>(conn)?
                    > 0)
            })
            .await?
    };
    if taken {
        return Err(already(&consumer_pid));
    }
    // The access request and the negotiation carrying it: one transaction.
    let checked = grants::check_request(
        market,
        actor,
        NewRequest {
            dataset,
            purpose: message.offer.purpose().unwrap_or_default(),
            duration_days: OFFER_DAYS,
            max_downloads: OFFER_DOWNLOADS,
            processing: false,
            cross_border: false,
            destination_country: None,
            legal_basis: None,
            personal_information_subjects: None,
            message: Some(format!(
                "Dataspace Protocol contract request {consumer_pid}"
            )),
        },
    )?;
    let offer = request_offer_id(dataset);
    let consumer = actor.id;
    market
        .db
        .write(move |conn| {
            let requested = grants::create_request_in(conn, &checked)?;
            let request = requested.value.id;
            let mut indexes = requested.audit_indexes;
            let id = domain::new_id();
            let now = domain::to_db_time(domain::now());
            diesel::insert_into(dsp_negotiations::table)
                .values((
                    dsp_negotiations::id.eq(id.to_string()),
                    dsp_negotiations::consumer_pid.eq(&consumer_pid),
                    dsp_negotiations::consumer_id.eq(consumer.to_string()),
                    dsp_negotiations::dataset_id.eq(dataset.to_string()),
                    dsp_negotiations::offer_id.eq(&offer),
                    dsp_negotiations::callback_address.eq(&callback),
                    dsp_negotiations::request_id.eq(request.to_string()),
                    dsp_negotiations::state.eq(NegotiationState::Requested),
                    dsp_negotiations::created_at.eq(now),
                    dsp_negotiations::updated_at.eq(now),
                ))
                .execute(conn)
                .map_err(|e| on_unique_violation(e, || already(&consumer_pid)))?;
            let row = load(conn, id)?
                .ok_or_else(|| Error::Internal("new negotiation vanished".into()))?;
            indexes.push(record(
                conn,
                Some(consumer),
                Action::DspNegotiationRequested,
                &row,
                json!({
                    "state": NegotiationState::Requested,
                    "consumer_pid": row.consumer_pid,
                    "offer": row.offer_id,
                    "access_request": request,
                    "callback_address": row.callback_address,
                }),
            )?);
            Ok(Recorded::new(row.view()?, indexes))
        })
        .await
}

fn already(consumer_pid: &str) -> Error {
    Error::refused(
        Code::AlreadyExists,
        format!("you have a negotiation with consumerPid {consumer_pid} already"),
    )
}

/// One of the actor's negotiations, brought up to date with its request.
pub async fn get(market: &Market, actor: &Actor, provider_pid: &str) -> Result<Value> {
    let row = own(market, actor, provider_pid).await?;
    if row.state == NegotiationState::Requested {
        advance_one(market, &row).await?;
    }
    own(market, actor, provider_pid).await?.view()
}

async fn own(market: &Market, actor: &Actor, provider_pid: &str) -> Result<NegotiationRow> {
    let (actor, pid) = (actor.clone(), provider_pid.to_owned());
    market
        .db
        .read(move |conn| load_own(conn, &actor, &pid))
        .await
}

/// A consumer's counter-request on a running negotiation: the market makes
/// no counter-offers, so there is nothing it could answer.
pub async fn counter_request(
    market: &Market,
    actor: &Actor,
    provider_pid: &str,
    message: ContractRequestMessage,
) -> Result<Value> {
    let row = own(market, actor, provider_pid).await?;
    if message.consumer_pid != row.consumer_pid {
        return Err(Error::invalid("consumerPid", "is not this negotiation's"));
    }
    Err(wrong_state(
        "negotiation",
        row.state.as_str(),
        "take a counter-request (the market negotiates its offers as they are)",
    ))
}

/// A consumer's event: ACCEPTED answers a provider's offer, which the
/// market never makes; FINALIZED is the provider's to send.
pub async fn event(
    market: &Market,
    actor: &Actor,
    provider_pid: &str,
    message: ProcessMessage,
) -> Result<Value> {
    let row = own(market, actor, provider_pid).await?;
    require_pids(&row, &message)?;
    let event = message.event_type.as_deref().unwrap_or_default();
    if event != "ACCEPTED" {
        return Err(Error::invalid(
            "eventType",
            "a consumer sends ACCEPTED only",
        ));
    }
    Err(wrong_state(
        "negotiation",
        row.state.as_str(),
        "accept: there is no offer from the provider to accept",
    ))
}

/// The consumer verifies the agreement: AGREED → VERIFIED, and the
/// FINALIZED event queued (sent once the negotiation is FINALIZED).
pub async fn verify(
    market: &Market,
    actor: &Actor,
    provider_pid: &str,
    message: ProcessMessage,
) -> Result<Recorded<Value>> {
    let (actor, pid) = (actor.clone(), provider_pid.to_owned());
    market
        .db
        .write(move |conn| {
            let mut row = load_own(conn, &actor, &pid)?;
            require_pids(&row, &message)?;
            let refuse = |row: &NegotiationRow| {
                wrong_state("negotiation", row.state.as_str(), "verify an agreement")
            };
            if row.state != NegotiationState::Agreed {
                return Err(refuse(&row));
            }
            let now = domain::to_db_time(domain::now());
            let made = transition!(conn, dsp_negotiations, &row.id,
                state: [NegotiationState::Agreed] => NegotiationState::Verified,
                updated_at = now);
            if !made.made() {
                let now = load(conn, domain::id_from_db(&row.id)?)?
                    .ok_or_else(|| not_found("contract negotiation"))?;
                return Err(refuse(&now));
            }
            row.state = NegotiationState::Verified;
            let index = record(
                conn,
                Some(actor.id),
                Action::DspNegotiationVerified,
                &row,
                json!({ "state": row.state, "agreement": row.agreement_id }),
            )?;
            let event = json!({
                "@context": [super::CONTEXT],
                "@type": "ContractNegotiationEventMessage",
                "providerPid": row.provider_pid()?,
                "consumerPid": row.consumer_pid,
                "eventType": "FINALIZED",
            });
            callbacks::enqueue(
                conn,
                &row.id,
                CallbackKind::Finalized,
                callbacks::url(
                    &row.callback_address,
                    &format!("negotiations/{}/events", row.consumer_pid),
                ),
                &event,
            )?;
            Ok(Recorded::new(row.view()?, vec![index]))
        })
        .await
}

/// VERIFIED → FINALIZED, before the event announcing it goes out (done
/// already is fine: the event is being sent again). Returns whether the
/// negotiation is FINALIZED now: not when the consumer ended it meanwhile.
pub(crate) async fn finalize(market: &Market, id: Uuid) -> Result<bool> {
    market
        .db
        .write(move |conn| {
            let mut row = load(conn, id)?.ok_or_else(|| not_found("contract negotiation"))?;
            let made = transition!(conn, dsp_negotiations, &row.id,
                state: [NegotiationState::Verified] => NegotiationState::Finalized,
                updated_at = domain::to_db_time(domain::now()));
            if !made.made() {
                let now = load(conn, id)?.ok_or_else(|| not_found("contract negotiation"))?;
                return Ok(now.state == NegotiationState::Finalized);
            }
            row.state = NegotiationState::Finalized;
            record(
                conn,
                None,
                Action::DspNegotiationFinalized,
                &row,
                json!({ "state": row.state, "agreement": row.agreement_id }),
            )?;
            Ok(true)
        })
        .await
}

/// Whether the agreement of a negotiation is still to be sent: it is
/// AGREED or VERIFIED (not when the consumer ended it meanwhile).
pub(crate) async fn agreement_due(market: &Market, id: Uuid) -> Result<bool> {
    market
        .db
        .read(move |conn| {
            let row = load(conn, id)?.ok_or_else(|| not_found("contract negotiation"))?;
            Ok(matches!(
                row.state,
                NegotiationState::Agreed | NegotiationState::Verified
            ))
        })
        .await
}

/// The consumer ends the negotiation (any state but FINALIZED and
/// TERMINATED). A request still pending is withdrawn; a grant already
/// made stays, as its holder's to revoke.
pub async fn terminate(
    market: &Market,
    actor: &Actor,
    provider_pid: &str,
    message: ProcessMessage,
) -> Result<Recorded<Value>> {
    let row = own(market, actor, provider_pid).await?;
    require_pids(&row, &message)?;
    let reason = message.reason_text();
    let code = message.code.clone();
    let (actor, id) = (actor.clone(), domain::id_from_db(&row.id)?);
    market
        .db
        .write(move |conn| {
            let mut row = load(conn, id)?.ok_or_else(|| not_found("contract negotiation"))?;
            let open = [
                NegotiationState::Requested,
                NegotiationState::Offered,
                NegotiationState::Accepted,
                NegotiationState::Agreed,
                NegotiationState::Verified,
            ];
            let made = transition!(conn, dsp_negotiations, &row.id,
                state: open => NegotiationState::Terminated,
                updated_at = domain::to_db_time(domain::now()));
            if !made.made() {
                return Err(wrong_state("negotiation", row.state.as_str(), "terminate"));
            }
            let previous = row.state;
            row.state = NegotiationState::Terminated;
            let mut indexes = vec![record(
                conn,
                Some(actor.id),
                Action::DspNegotiationTerminated,
                &row,
                json!({ "state": row.state, "previous_state": previous, "by": "consumer", "code": code, "reason": reason }),
            )?];
            // The request still pending is withdrawn in the same transaction.
            if previous == NegotiationState::Requested {
                match grants::withdraw_request_in(conn, &actor, domain::id_from_db(&row.request_id)?) {
                    Ok(withdrawn) => indexes.extend(withdrawn.audit_indexes),
                    // Decided meanwhile: the decision stands, the negotiation is over.
                    Err(e) if e.code() == Code::InvalidState => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(Recorded::new(row.view()?, indexes))
        })
        .await
}

/// Brings every REQUESTED negotiation up to date with its access request:
/// approved (with its grant) → AGREED and the agreement queued; rejected,
/// withdrawn or expired → TERMINATED and the termination queued. Returns
/// how many moved.
pub async fn advance(market: &Market, limit: i64) -> Result<usize> {
    let rows: Vec<NegotiationRow> = market
        .db
        .read(move |conn| {
            Ok(dsp_negotiations::table
                .filter(dsp_negotiations::state.eq(NegotiationState::Requested))
                .order(dsp_negotiations::id.asc())
                .limit(limit)
                .select(NegotiationRow::as_select())
                .load(conn)?)
        })
        .await?;
    let mut moved = 0;
    for row in rows {
        if advance_one(market, &row).await? {
            moved += 1;
        }
    }
    Ok(moved)
}

async fn advance_one(market: &Market, row: &NegotiationRow) -> Result<bool> {
    let consumer = party(row.consumer()?);
    let request = grants::get_request(market, &consumer, domain::id_from_db(&row.request_id)?)
        .await?
        .value;
    match (request.state, request.grant) {
        (RequestState::Approved, Some(grant)) => {
            let grant = grants::get_grant(market, &consumer, grant).await?;
            agree(market, row.clone(), grant).await
        }
        (RequestState::Rejected | RequestState::Withdrawn | RequestState::Expired, _) => {
            let reason = request
                .decision
                .and_then(|d| d.reason)
                .unwrap_or_else(|| format!("the access request was {}", request.state.as_str()));
            end(
                market,
                row.clone(),
                request.state.as_str().to_owned(),
                reason,
            )
            .await
        }
        _ => Ok(false),
    }
}

/// The grant as the protocol's Agreement.
fn agreement(grant: &Grant) -> Value {
    let p = &grant.policy;
    json!({
        "@id": urn(grant.id),
        "@type": "Agreement",
        "target": urn(grant.dataset),
        "timestamp": domain::format_time(grant.created_at),
        "assigner": participant(grant.licensor),
        "assignee": participant(grant.licensee),
        "permission": [{
            "action": "use",
            "constraint": [
                {"leftOperand": "dateTime", "operator": "gteq", "rightOperand": domain::format_time(p.not_before)},
                {"leftOperand": "dateTime", "operator": "lteq", "rightOperand": domain::format_time(p.not_after)},
                {"leftOperand": "count", "operator": "lteq", "rightOperand": p.max_downloads.to_string()},
                {"leftOperand": "spatial", "operator": "isAnyOf", "rightOperand": p.territory.join(",")},
            ],
        }],
        "prohibition": [{"action": "distribute"}],
    })
}

async fn agree(market: &Market, mut row: NegotiationRow, grant: Grant) -> Result<bool> {
    market
        .db
        .write(move |conn| {
            let made = transition!(conn, dsp_negotiations, &row.id,
                state: [NegotiationState::Requested] => NegotiationState::Agreed,
                agreement_id = grant.id.to_string(),
                updated_at = domain::to_db_time(domain::now()));
            if !made.made() {
                return Ok(false);
            }
            row.state = NegotiationState::Agreed;
            row.agreement_id = Some(grant.id.to_string());
            record(
                conn,
                None,
                Action::DspNegotiationAgreed,
                &row,
                json!({ "state": row.state, "agreement": grant.id, "access_request": row.request_id }),
            )?;
            let message = json!({
                "@context": [super::CONTEXT],
                "@type": "ContractAgreementMessage",
                "providerPid": row.provider_pid()?,
                "consumerPid": row.consumer_pid,
                "agreement": agreement(&grant),
            });
            callbacks::enqueue(
                conn,
                &row.id,
                CallbackKind::Agreement,
                callbacks::url(&row.callback_address, &format!("negotiations/{}/agreement", row.consumer_pid)),
                &message,
            )?;
            Ok(true)
        })
        .await
}

async fn end(
    market: &Market,
    mut row: NegotiationRow,
    code: String,
    reason: String,
) -> Result<bool> {
    market
        .db
        .write(move |conn| {
            let made = transition!(conn, dsp_negotiations, &row.id,
                state: [NegotiationState::Requested] => NegotiationState::Terminated,
                updated_at = domain::to_db_time(domain::now()));
            if !made.made() {
                return Ok(false);
            }
            row.state = NegotiationState::Terminated;
            record(
                conn,
                None,
                Action::DspNegotiationTerminated,
                &row,
                json!({ "state": row.state, "by": "provider", "code": code, "reason": reason }),
            )?;
            let message = callbacks::termination(
                "ContractNegotiationTerminationMessage",
                &row.provider_pid()?,
                &row.consumer_pid,
                &code,
                &reason,
            );
            callbacks::enqueue(
                conn,
                &row.id,
                CallbackKind::NegotiationTerminated,
                callbacks::url(
                    &row.callback_address,
                    &format!("negotiations/{}/termination", row.consumer_pid),
                ),
                &message,
            )?;
            Ok(true)
        })
        .await
}

/// The FINALIZED negotiation of `consumer` whose agreement is `grant`.
pub(crate) fn finalized_with(
    conn: &mut DbConnection,
    consumer: Uuid,
    grant: Uuid,
) -> Result<Option<NegotiationRow>> {
    Ok(dsp_negotiations::table
        .filter(dsp_negotiations::consumer_id.eq(consumer.to_string()))
        .filter(dsp_negotiations::agreement_id.eq(grant.to_string()))
        .filter(dsp_negotiations::state.eq(NegotiationState::Finalized))
        .select(NegotiationRow::as_select())
        .first(conn)
        .optional()?)
}
