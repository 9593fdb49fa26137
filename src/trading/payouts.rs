//! Money going out: a provider asks for (part of) its wallet to be paid
//! out; the amount is held at once (`wallet → payout:<id>`), so it cannot be
//! spent twice; an admin approves it (`payout:<id> → external:payouts`) or
//! rejects it (back to the wallet). Each step is a journal entry and an
//! audit entry.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::ledger::{self, Journal, Line};
use super::money::check_currency;
use crate::audit::{self, Action, Entry, Recorded};
use crate::domain::text::Reason;
use crate::domain::{self, Actor, Role, market_words};
use crate::error::{Code, Error, Result};
use crate::store::DbConnection;
use crate::store::schema::payouts;

market_words!(
    /// Where a payout stands.
    PayoutState {
        Requested = "requested",
        Paid = "paid",
        Rejected = "rejected",
    }
);

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutInput {
    #[schema(minimum = 1)]
    pub amount: i64,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Payout {
    pub id: Uuid,
    pub account: Uuid,
    pub amount: i64,
    pub currency: String,
    pub state: PayoutState,
    pub created_at: DateTime<Utc>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub reason: Option<String>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::payouts)]
struct PayoutRow {
    id: String,
    account_id: String,
    amount: i64,
    currency: String,
    state: PayoutState,
    created_at: NaiveDateTime,
    decided_by: Option<String>,
    decided_at: Option<NaiveDateTime>,
    reason: Option<String>,
}

impl PayoutRow {
    fn to_payout(&self) -> Result<Payout> {
        Ok(Payout {
            id: domain::id_from_db(&self.id)?,
            account: domain::id_from_db(&self.account_id)?,
            amount: self.amount,
            currency: self.currency.clone(),
            state: self.state,
            created_at: domain::from_db_time(self.created_at),
            decided_by: self
                .decided_by
                .as_deref()
                .map(domain::id_from_db)
                .transpose()?,
            decided_at: self.decided_at.map(domain::from_db_time),
            reason: self.reason.clone(),
        })
    }
}

fn load(conn: &mut DbConnection, id: Uuid) -> Result<PayoutRow> {
    payouts::table
        .find(id.to_string())
        .select(PayoutRow::as_select())
        .first::<PayoutRow>(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("payout"))
}

fn record(
    conn: &mut DbConnection,
    actor: Uuid,
    action: Action,
    row: &PayoutRow,
    detail: serde_json::Value,
) -> Result<u64> {
    audit::append(
        conn,
        Entry {
            actor: Some(actor),
            action,
            dataset: None,
            subject: row.id.clone(),
            parties: vec![domain::id_from_db(&row.account_id)?],
            detail,
        },
    )
}

/// A provider asks to be paid `amount` from its wallet; it is held at once.
pub(crate) fn request(
    conn: &mut DbConnection,
    actor: &Actor,
    input: &PayoutInput,
) -> Result<Recorded<Payout>> {
    actor.require_any(&[Role::Provider])?;
    check_currency("currency", &input.currency)?;
    if !(1..=super::money::MAX_AMOUNT).contains(&input.amount) {
        return Err(Error::invalid(
            "amount",
            format!("must be between 1 and {}", super::money::MAX_AMOUNT),
        ));
    }
    let id = domain::new_id();
    diesel::insert_into(payouts::table)
        .values((
            payouts::id.eq(id.to_string()),
            payouts::account_id.eq(actor.id.to_string()),
            payouts::amount.eq(input.amount),
            payouts::currency.eq(&input.currency),
            payouts::state.eq(PayoutState::Requested.as_str()),
            payouts::created_at.eq(domain::to_db_time(domain::now())),
        ))
        .execute(conn)?;
    let posted = ledger::post(
        conn,
        Journal {
            kind: "payout_requested",
            order: None,
            reference: Some(id.to_string()),
            lines: vec![
                Line::new(ledger::wallet(actor.id), &input.currency, -input.amount),
                Line::new(ledger::payout_hold(id), &input.currency, input.amount),
            ],
            actor: Some(actor.id),
            parties: vec![actor.id],
            dataset: None,
        },
    )?;
    let row = load(conn, id)?;
    let index = record(
        conn,
        actor.id,
        Action::PayoutRequested,
        &row,
        json!({ "amount": row.amount, "currency": row.currency }),
    )?;
    Ok(Recorded::new(
        row.to_payout()?,
        vec![posted.audit_index, index],
    ))
}

/// An admin's decision on a requested payout.
pub(crate) fn decide(
    conn: &mut DbConnection,
    actor: &Actor,
    id: Uuid,
    approve: bool,
    reason: Option<Reason>,
) -> Result<Recorded<Payout>> {
    actor.require_any(&[Role::Admin])?;
    let row = load(conn, id)?;
    let next = if approve {
        PayoutState::Paid
    } else {
        PayoutState::Rejected
    };
    let now = domain::to_db_time(domain::now());
    let changed = diesel::update(
        payouts::table
            .filter(payouts::id.eq(&row.id))
            .filter(payouts::state.eq(PayoutState::Requested.as_str())),
    )
    .set((
        payouts::state.eq(next.as_str()),
        payouts::decided_by.eq(actor.id.to_string()),
        payouts::decided_at.eq(now),
        payouts::reason.eq(reason.as_ref().map(Reason::as_str)),
    ))
    .execute(conn)?;
    if changed != 1 {
        let current = load(conn, id)?.state;
        return Err(Error::refused(
            Code::InvalidState,
            format!("cannot decide a payout that is {current}"),
        )
        .with("current_state", current.as_str()));
    }
    let to = if approve {
        ledger::EXTERNAL_PAYOUTS.to_owned()
    } else {
        ledger::wallet(domain::id_from_db(&row.account_id)?)
    };
    let posted = ledger::post(
        conn,
        Journal {
            kind: if approve {
                "payout_paid"
            } else {
                "payout_rejected"
            },
            order: None,
            reference: Some(row.id.clone()),
            lines: vec![
                Line::new(ledger::payout_hold(id), &row.currency, -row.amount),
                Line::new(to, &row.currency, row.amount),
            ],
            actor: Some(actor.id),
            parties: vec![domain::id_from_db(&row.account_id)?],
            dataset: None,
        },
    )?;
    let row = load(conn, id)?;
    let index = record(
        conn,
        actor.id,
        if approve {
            Action::PayoutPaid
        } else {
            Action::PayoutRejected
        },
        &row,
        json!({ "amount": row.amount, "currency": row.currency, "reason": reason }),
    )?;
    Ok(Recorded::new(
        row.to_payout()?,
        vec![posted.audit_index, index],
    ))
}

/// Payouts the actor asked for (for admins, all), newest first.
pub(crate) fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    limit: u32,
    cursor: Option<Uuid>,
) -> Result<(Vec<Payout>, Option<String>)> {
    let mut query = payouts::table
        .select(PayoutRow::as_select())
        .order(payouts::id.desc())
        .limit(i64::from(limit) + 1)
        .into_boxed();
    if !actor.has(Role::Admin) {
        query = query.filter(payouts::account_id.eq(actor.id.to_string()));
    }
    if let Some(cursor) = cursor {
        query = query.filter(payouts::id.lt(cursor.to_string()));
    }
    let rows: Vec<PayoutRow> = query.load(conn)?;
    let (rows, next) = crate::page::split(rows, limit, |r| &r.id);
    Ok((
        rows.iter()
            .map(PayoutRow::to_payout)
            .collect::<Result<_>>()?,
        next,
    ))
}
