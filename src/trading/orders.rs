//! Orders and the money they move. `placed → paid` (the price moves from
//! the buyer's wallet into the order's escrow) `→ fulfilled` (a grant is
//! issued) `→ settled` (escrow is paid out: the platform's fee, royalties up
//! the lineage, the rest to the seller); or `paid → cancelled | declined |
//! expired → refunded` (escrow back to the buyer). Metered orders hold
//! nothing: each download is charged as it is delivered. Every transition
//! is a conditional update and an audit entry; every movement a journal
//! entry ([`super::ledger`]). The grants service drives the transitions
//! from its requests and grants, in their transactions.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::ledger::{self, Journal, Line};
use super::money::{self, SourceShare};
use super::offers::{Money, Plan, Terms};
use crate::audit::{self, Action, Entry};
use crate::catalog;
use crate::domain::{self, Actor, market_words};
use crate::error::{Code, Error, Result};
use crate::store::DbConnection;
use crate::store::schema::orders;

market_words!(
    /// Where an order stands.
    OrderState {
        Placed = "placed",
        Paid = "paid",
        Fulfilled = "fulfilled",
        Settled = "settled",
        Cancelled = "cancelled",
        Declined = "declined",
        Expired = "expired",
        Refunded = "refunded",
    }
);

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Order {
    pub id: Uuid,
    pub offer: Uuid,
    /// The offer's version this order bought: its terms, whatever the
    /// offer says today.
    pub offer_version: i32,
    pub dataset: Uuid,
    pub buyer: Uuid,
    pub seller: Uuid,
    /// What was paid (for metered orders, the price per download).
    pub price: Money,
    pub state: OrderState,
    /// The access request an order that needs the provider's approval
    /// rides on.
    pub request: Option<Uuid>,
    /// The grant the order issued.
    pub grant: Option<Uuid>,
    /// The subscription order this one renews.
    pub renewal_of: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::orders)]
pub(crate) struct OrderRow {
    pub id: String,
    pub offer_id: String,
    pub offer_version: i32,
    pub dataset_id: String,
    pub buyer_id: String,
    pub seller_id: String,
    pub amount: i64,
    pub currency: String,
    pub state: OrderState,
    pub request_id: Option<String>,
    pub grant_id: Option<String>,
    pub renewal_of: Option<String>,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

impl OrderRow {
    pub fn uuid(&self) -> Result<Uuid> {
        domain::id_from_db(&self.id)
    }

    pub fn state(&self) -> Result<OrderState> {
        Ok(self.state)
    }

    pub fn buyer(&self) -> Result<Uuid> {
        domain::id_from_db(&self.buyer_id)
    }

    pub fn seller(&self) -> Result<Uuid> {
        domain::id_from_db(&self.seller_id)
    }

    pub fn dataset(&self) -> Result<Uuid> {
        domain::id_from_db(&self.dataset_id)
    }

    pub fn to_order(&self) -> Result<Order> {
        let id = |s: &Option<String>| s.as_deref().map(domain::id_from_db).transpose();
        Ok(Order {
            id: self.uuid()?,
            offer: domain::id_from_db(&self.offer_id)?,
            offer_version: self.offer_version,
            dataset: self.dataset()?,
            buyer: self.buyer()?,
            seller: self.seller()?,
            price: Money {
                amount: self.amount,
                currency: self.currency.clone(),
            },
            state: self.state()?,
            request: id(&self.request_id)?,
            grant: id(&self.grant_id)?,
            renewal_of: id(&self.renewal_of)?,
            created_at: domain::from_db_time(self.created_at),
            updated_at: domain::from_db_time(self.updated_at),
        })
    }

    fn parties(&self) -> Result<Vec<Uuid>> {
        Ok(vec![self.buyer()?, self.seller()?])
    }
}

pub(crate) fn load(conn: &mut DbConnection, id: Uuid) -> Result<OrderRow> {
    orders::table
        .find(id.to_string())
        .select(OrderRow::as_select())
        .first::<OrderRow>(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("order"))
}

/// An order its buyer, its seller or oversight may see; 404 for others.
pub(crate) fn load_visible(conn: &mut DbConnection, actor: &Actor, id: Uuid) -> Result<OrderRow> {
    let row = load(conn, id)?;
    let me = actor.id.to_string();
    if row.buyer_id == me || row.seller_id == me || actor.roles.is_oversight() {
        Ok(row)
    } else {
        Err(Error::not_found("order"))
    }
}

fn record(
    conn: &mut DbConnection,
    actor: Option<Uuid>,
    action: Action,
    row: &OrderRow,
    detail: serde_json::Value,
) -> Result<u64> {
    audit::append(
        conn,
        Entry {
            actor,
            action,
            dataset: Some(row.dataset()?),
            subject: row.id.clone(),
            parties: row.parties()?,
            detail,
        },
    )
}

/// Moves an order from `from` to `to` with one conditional update; `None`
/// when it was no longer in `from` (another request moved it first).
fn transition(
    conn: &mut DbConnection,
    row: &OrderRow,
    from: OrderState,
    to: OrderState,
) -> Result<Option<OrderRow>> {
    let changed = diesel::update(
        orders::table
            .filter(orders::id.eq(&row.id))
            .filter(orders::state.eq(from.as_str())),
    )
    .set((
        orders::state.eq(to.as_str()),
        orders::updated_at.eq(domain::to_db_time(domain::now())),
    ))
    .execute(conn)?;
    if changed == 1 {
        Ok(Some(OrderRow {
            state: to,
            ..row.clone()
        }))
    } else {
        Ok(None)
    }
}

fn lost(conn: &mut DbConnection, id: &str, doing: &str) -> Result<Error> {
    let now = load(conn, domain::id_from_db(id)?)?;
    Ok(Error::refused(
        Code::InvalidState,
        format!("cannot {doing} an order that is {}", now.state),
    )
    .with("current_state", now.state.as_str()))
}

/// Places an order for `terms` and, unless it is metered, pays for it:
/// the price moves from the buyer's wallet into the order's escrow, or the
/// whole change is refused (409 `insufficient-funds`) and nothing remains.
pub(crate) fn place(
    conn: &mut DbConnection,
    buyer: &Actor,
    terms: &Terms,
    seller: Uuid,
    renewal_of: Option<Uuid>,
) -> Result<(OrderRow, Vec<u64>)> {
    let id = domain::new_id();
    let now = domain::to_db_time(domain::now());
    diesel::insert_into(orders::table)
        .values((
            orders::id.eq(id.to_string()),
            orders::offer_id.eq(terms.offer.to_string()),
            orders::offer_version.eq(terms.version),
            orders::dataset_id.eq(terms.dataset.to_string()),
            orders::buyer_id.eq(buyer.id.to_string()),
            orders::seller_id.eq(seller.to_string()),
            orders::amount.eq(terms.amount),
            orders::currency.eq(&terms.currency),
            orders::state.eq(OrderState::Placed.as_str()),
            orders::renewal_of.eq(renewal_of.map(|r| r.to_string())),
            orders::created_at.eq(now),
            orders::updated_at.eq(now),
        ))
        .execute(conn)?;
    let row = load(conn, id)?;
    let mut indexes = vec![record(
        conn,
        Some(buyer.id),
        Action::OrderPlaced,
        &row,
        json!({
            "offer": terms.offer,
            "offer_version": terms.version,
            "plan": terms.plan,
            "price": {"amount": terms.amount, "currency": terms.currency},
            "renewal_of": renewal_of,
        }),
    )?];
    if terms.plan != Plan::Metered && terms.amount > 0 {
        let posted = ledger::post(
            conn,
            Journal {
                kind: "order_paid",
                order: Some(id),
                reference: None,
                lines: vec![
                    Line::new(ledger::wallet(buyer.id), &terms.currency, -terms.amount),
                    Line::new(ledger::escrow(id), &terms.currency, terms.amount),
                ],
                actor: Some(buyer.id),
                parties: vec![buyer.id],
                dataset: Some(terms.dataset),
            },
        )?;
        indexes.push(posted.audit_index);
    }
    let row = transition(conn, &row, OrderState::Placed, OrderState::Paid)?
        .ok_or_else(|| Error::Internal("a new order moved under its own transaction".into()))?;
    indexes.push(record(
        conn,
        Some(buyer.id),
        Action::OrderPaid,
        &row,
        json!({ "escrow": ledger::escrow(id), "amount": terms.amount, "currency": terms.currency }),
    )?);
    Ok((row, indexes))
}

/// Links the access request an approval-needed order rides on.
pub(crate) fn attach_request(conn: &mut DbConnection, order: Uuid, request: Uuid) -> Result<()> {
    diesel::update(orders::table.find(order.to_string()))
        .set(orders::request_id.eq(request.to_string()))
        .execute(conn)?;
    Ok(())
}

/// The grant is issued: `paid → fulfilled`.
pub(crate) fn fulfil(
    conn: &mut DbConnection,
    actor: Option<Uuid>,
    order: Uuid,
    grant: Uuid,
) -> Result<(OrderRow, u64)> {
    let row = load(conn, order)?;
    let Some(row) = transition(conn, &row, OrderState::Paid, OrderState::Fulfilled)? else {
        return Err(lost(conn, &row.id, "fulfil")?);
    };
    diesel::update(orders::table.find(&row.id))
        .set(orders::grant_id.eq(grant.to_string()))
        .execute(conn)?;
    let index = record(
        conn,
        actor,
        Action::OrderFulfilled,
        &row,
        json!({ "grant": grant }),
    )?;
    Ok((load(conn, order)?, index))
}

/// The sources of a dataset and what its processing licences owe them.
fn source_shares(conn: &mut DbConnection, dataset: &str) -> Result<Vec<SourceShare>> {
    Ok(
        catalog::lineage::royalties_owed(conn, domain::id_from_db(dataset)?)?
            .into_iter()
            .map(|(source, bps)| SourceShare { source, bps })
            .collect(),
    )
}

/// Splits `amount` of a sale of `dataset` (order `order`): the platform's
/// fee, royalties up the lineage, the rest to the seller. The lines credit
/// the receiving wallets; the caller adds the debit they come from.
fn sale_lines(
    conn: &mut DbConnection,
    order: Uuid,
    dataset: Uuid,
    seller: Uuid,
    amount: i64,
    currency: &str,
    fee_bps: u32,
) -> Result<(Vec<Line>, Vec<Uuid>)> {
    let fee = money::share(amount, fee_bps);
    let mut lines = Vec::new();
    if fee > 0 {
        lines.push(Line::new(ledger::PLATFORM_FEES, currency, fee));
    }
    let kept = money::royalty_split(&dataset.to_string(), amount - fee, &mut |d: &str| {
        source_shares(conn, d)
    })?;
    let mut parties = vec![seller];
    for (node, share) in kept {
        if share == 0 {
            continue;
        }
        let node_id = domain::id_from_db(&node)?;
        if node_id == dataset {
            lines.push(
                Line::new(ledger::wallet(seller), currency, share).memo(format!("sale:{order}")),
            );
        } else {
            // A source's share goes to whoever holds it now.
            let payee = catalog::load(conn, node_id)?
                .ok_or_else(|| Error::Internal(format!("royalty to a missing dataset {node}")))?
                .provider()?;
            parties.push(payee);
            lines.push(
                Line::new(ledger::wallet(payee), currency, share)
                    .memo(format!("royalty:{order}:source:{node}:sold:{dataset}")),
            );
        }
    }
    Ok((lines, parties))
}

/// Escrow is paid out: `fulfilled → settled`. A metered order holds
/// nothing and settles at once; its downloads are charged as they come.
pub(crate) fn settle(conn: &mut DbConnection, order: Uuid, fee_bps: u32) -> Result<Vec<u64>> {
    let row = load(conn, order)?;
    let Some(row) = transition(conn, &row, OrderState::Fulfilled, OrderState::Settled)? else {
        return Err(lost(conn, &row.id, "settle")?);
    };
    let mut indexes = Vec::new();
    let held = ledger::balance(conn, &ledger::escrow(order), &row.currency)?;
    if held > 0 {
        let (mut lines, parties) = sale_lines(
            conn,
            order,
            row.dataset()?,
            row.seller()?,
            held,
            &row.currency,
            fee_bps,
        )?;
        lines.insert(0, Line::new(ledger::escrow(order), &row.currency, -held));
        let posted = ledger::post(
            conn,
            Journal {
                kind: "settlement",
                order: Some(order),
                reference: None,
                lines,
                actor: None,
                parties,
                dataset: Some(row.dataset()?),
            },
        )?;
        indexes.push(posted.audit_index);
    }
    indexes.push(record(
        conn,
        None,
        Action::OrderSettled,
        &row,
        json!({ "amount": held, "currency": row.currency, "fee_bps": fee_bps }),
    )?);
    Ok(indexes)
}

/// The terms an order bought.
pub(crate) fn terms_of(conn: &mut DbConnection, order: Uuid) -> Result<Terms> {
    let row = load(conn, order)?;
    super::offers::terms_at(conn, domain::id_from_db(&row.offer_id)?, row.offer_version)
}

/// Why an open order closes without a grant.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Closing {
    /// The buyer cancelled (or withdrew its request).
    Cancelled,
    /// The provider or a regulator refused.
    Declined,
    /// Nobody decided in time.
    Expired,
}

/// An open order closes without a grant and its escrow goes back to the
/// buyer: `paid → cancelled | declined | expired → refunded`. `None` when
/// the order was no longer paid (it was fulfilled or closed first).
pub(crate) fn close_and_refund(
    conn: &mut DbConnection,
    actor: Option<Uuid>,
    order: Uuid,
    closing: Closing,
) -> Result<Option<Vec<u64>>> {
    let row = load(conn, order)?;
    let (state, action) = match closing {
        Closing::Cancelled => (OrderState::Cancelled, Action::OrderCancelled),
        Closing::Declined => (OrderState::Declined, Action::OrderDeclined),
        Closing::Expired => (OrderState::Expired, Action::OrderExpired),
    };
    let Some(row) = transition(conn, &row, OrderState::Paid, state)? else {
        return Ok(None);
    };
    let mut indexes = vec![record(
        conn,
        actor,
        action,
        &row,
        json!({ "state": state }),
    )?];
    let plan_holds = ledger::balance(conn, &ledger::escrow(order), &row.currency)?;
    if plan_holds > 0 {
        let posted = ledger::post(
            conn,
            Journal {
                kind: "refund",
                order: Some(order),
                reference: None,
                lines: vec![
                    Line::new(ledger::escrow(order), &row.currency, -plan_holds),
                    Line::new(ledger::wallet(row.buyer()?), &row.currency, plan_holds),
                ],
                actor,
                parties: vec![row.buyer()?],
                dataset: Some(row.dataset()?),
            },
        )?;
        indexes.push(posted.audit_index);
    }
    let row = transition(conn, &row, state, OrderState::Refunded)?
        .ok_or_else(|| Error::Internal("a closed order moved under its own transaction".into()))?;
    indexes.push(record(
        conn,
        actor,
        Action::OrderRefunded,
        &row,
        json!({ "amount": plan_holds, "currency": row.currency }),
    )?);
    Ok(Some(indexes))
}

/// A metered order's download: the price per download moves from the
/// buyer's wallet straight to the seller, the fee and the royalties, in the
/// delivery's own transaction — or the delivery is refused for want of
/// funds.
pub(crate) fn charge_download(
    conn: &mut DbConnection,
    order: Uuid,
    fee_bps: u32,
) -> Result<Option<u64>> {
    let row = load(conn, order)?;
    if row.amount == 0 {
        return Ok(None);
    }
    let (mut lines, mut parties) = sale_lines(
        conn,
        order,
        row.dataset()?,
        row.seller()?,
        row.amount,
        &row.currency,
        fee_bps,
    )?;
    lines.insert(
        0,
        Line::new(ledger::wallet(row.buyer()?), &row.currency, -row.amount),
    );
    parties.push(row.buyer()?);
    let posted = ledger::post(
        conn,
        Journal {
            kind: "metered_charge",
            order: Some(order),
            reference: None,
            lines,
            actor: Some(row.buyer()?),
            parties,
            dataset: Some(row.dataset()?),
        },
    )?;
    Ok(Some(posted.audit_index))
}

/// Orders the actor bought (`buyer`) or sold (`seller`; for oversight,
/// all), newest first.
pub(crate) fn list(
    conn: &mut DbConnection,
    actor: &Actor,
    as_seller: bool,
    limit: u32,
    cursor: Option<Uuid>,
) -> Result<(Vec<Order>, Option<String>)> {
    let mut query = orders::table
        .select(OrderRow::as_select())
        .order(orders::id.desc())
        .limit(i64::from(limit) + 1)
        .into_boxed();
    query = match as_seller {
        false => query.filter(orders::buyer_id.eq(actor.id.to_string())),
        true if actor.roles.is_oversight() => query,
        true => query.filter(orders::seller_id.eq(actor.id.to_string())),
    };
    if let Some(cursor) = cursor {
        query = query.filter(orders::id.lt(cursor.to_string()));
    }
    let rows: Vec<OrderRow> = query.load(conn)?;
    let (rows, next) = crate::page::split(rows, limit, |r| &r.id);
    Ok((
        rows.iter().map(OrderRow::to_order).collect::<Result<_>>()?,
        next,
    ))
}

/// Orders placed in a period, by their state now.
pub fn tally_by_state(
    conn: &mut DbConnection,
    period: crate::store::tally::Period,
    scope: &crate::store::tally::Scope,
) -> Result<Vec<crate::store::tally::Count>> {
    crate::store::tally::rows(
        conn,
        "SELECT state AS key, COUNT(*) AS n FROM orders
         WHERE created_at >= $1 AND created_at < $2 {scope} GROUP BY state ORDER BY state",
        period,
        scope,
    )
}

/// Orders placed in a period and settled, per currency: how many, the sum
/// of their prices, the lowest and the highest, in minor units.
#[derive(diesel::QueryableByName, Debug)]
pub struct SettledTally {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub currency: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub orders: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub volume: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub min_price: i64,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub max_price: i64,
}

pub fn tally_settled(
    conn: &mut DbConnection,
    period: crate::store::tally::Period,
    scope: &crate::store::tally::Scope,
) -> Result<Vec<SettledTally>> {
    // Every group has at least one row, so no aggregate is NULL.
    crate::store::tally::rows(
        conn,
        "SELECT currency, COUNT(*) AS orders, CAST(SUM(amount) AS BIGINT) AS volume,
                MIN(amount) AS min_price, MAX(amount) AS max_price
         FROM orders WHERE state = 'settled' AND created_at >= $1 AND created_at < $2 {scope}
         GROUP BY currency ORDER BY currency",
        period,
        scope,
    )
}

/// Whether an order has a renewal that was not refunded.
pub fn renewed(conn: &mut DbConnection, id: Uuid) -> Result<bool> {
    let live: i64 = orders::table
        .filter(orders::renewal_of.eq(id.to_string()))
        .filter(orders::state.ne(OrderState::Refunded.as_str()))
        .count()
        .get_result(conn)?;
    Ok(live > 0)
}
