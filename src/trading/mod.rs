//! The trading service: offers on listings, orders and the money they
//! move, wallets, payments in and payouts out, royalties up the lineage,
//! and the books. Orders are placed and decided through the grants service
//! (an order rides on an access request and becomes a grant); this module
//! moves the money in the same transactions and owns the ledger's tables.

pub mod books;
pub mod catalog;
pub mod idempotency;
pub mod ledger;
pub mod money;
pub mod offers;
pub mod orders;
pub mod payments;
pub mod payouts;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use books::{CheckReport, LedgerExport, Statement, TrialBalance};
pub use idempotency::Answer;
pub use offers::{Covers, Money, Offer, OfferInput, OfferStatus, Plan};
pub use orders::{Order, OrderState};
pub use payments::{Payment, PaymentNotice, callback as payment_callback, operator_credit};
pub use payouts::{Payout, PayoutInput, PayoutState};

use crate::audit::{self, Recorded};
use crate::domain::text::Reason;
use crate::domain::{self, Actor, market_words};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::page;

market_words!(
    /// Which side of an order to list.
    OrderRole {
        Bought = "bought",
        Sold = "sold",
    }
);

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct OrderPage {
    pub items: Vec<Order>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PayoutPage {
    pub items: Vec<Payout>,
    pub next_cursor: Option<String>,
}

/// An account's money, per currency.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Wallet {
    pub account: Uuid,
    /// What the account may spend or ask to be paid out.
    pub balances: Vec<Money>,
}

pub async fn wallet(market: &Market, actor: &Actor) -> Result<Wallet> {
    let account = actor.id;
    market
        .db
        .read(move |conn| {
            let balances = ledger::balances(conn, &ledger::wallet(account))?
                .into_iter()
                .map(|(currency, amount)| Money { amount, currency })
                .collect();
            Ok(Wallet { account, balances })
        })
        .await
}

pub async fn get_order(market: &Market, actor: &Actor, id: Uuid) -> Result<Order> {
    let actor = actor.clone();
    market
        .db
        .read(move |conn| orders::load_visible(conn, &actor, id)?.to_order())
        .await
}

/// Orders the actor bought or sold (oversight: every sale), newest first.
pub async fn list_orders(
    market: &Market,
    actor: &Actor,
    role: OrderRole,
    limit: u32,
    cursor: Option<String>,
) -> Result<OrderPage> {
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let (items, next_cursor) =
                orders::list(conn, &actor, role == OrderRole::Sold, limit, cursor)?;
            Ok(OrderPage { items, next_cursor })
        })
        .await
}

/// An account's statement for `[from, to)`: its own, or any for oversight.
pub async fn statement(
    market: &Market,
    actor: &Actor,
    account: Uuid,
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> Result<Statement> {
    if account != actor.id && !actor.roles.is_oversight() {
        return Err(Error::refused(
            Code::NotPermitted,
            "an account's statement is for the account itself, auditors and regulators",
        ));
    }
    if to <= from {
        return Err(Error::invalid("to", "must come after from"));
    }
    // The books begin after 1970 and end before 10000: a wider period
    // shows the same lines, and stays within what every database stores.
    let clamp = |t: chrono::DateTime<chrono::Utc>| {
        let earliest = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        let latest = earliest + chrono::Duration::days(2_932_896); // 9999-12-31
        domain::to_db_time(t.clamp(earliest, latest))
    };
    let (from, to) = (clamp(from), clamp(to));
    market
        .db
        .read(move |conn| {
            crate::accounts::find(conn, account)?;
            books::statement(conn, account, from, to)
        })
        .await
}

/// Every account's balance, for auditors and regulators.
pub async fn trial_balance(market: &Market, actor: &Actor) -> Result<TrialBalance> {
    audit::require_oversight(actor)?;
    market.db.read(books::trial_balance).await
}

/// The whole ledger, for auditors and regulators (and `ledger check`).
pub async fn export(market: &Market, actor: &Actor) -> Result<LedgerExport> {
    audit::require_oversight(actor)?;
    market.db.read(books::export).await
}

/// The ledger's invariants over the server's own books, each journal entry
/// compared with the audit log's record of it (auditors and regulators).
pub async fn check(market: &Market, actor: &Actor) -> Result<CheckReport> {
    audit::require_oversight(actor)?;
    market.db.read(books::check_against_log).await
}

/// A provider asks to be paid out; with an `Idempotency-Key`, a retry
/// holds the money once.
pub async fn request_payout(
    market: &Market,
    actor: &Actor,
    input: PayoutInput,
    key: Option<String>,
) -> Result<Answer<Payout>> {
    let keyed = idempotency::Keyed::new(
        key.as_deref(),
        "POST /payouts",
        &serde_json::json!({ "amount": input.amount, "currency": input.currency }),
    )?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            keyed.once(conn, actor.id, 201, &mut |conn| {
                payouts::request(conn, &actor, &input)
            })
        })
        .await
}

/// An admin pays a requested payout out, or refuses it.
pub async fn decide_payout(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    approve: bool,
    reason: Option<String>,
) -> Result<Recorded<Payout>> {
    let reason = Reason::parse_optional("reason", reason.as_deref())?;
    if !approve && reason.is_none() {
        return Err(Error::invalid("reason", "a refused payout says why"));
    }
    let actor = actor.clone();
    market
        .db
        .write(move |conn| payouts::decide(conn, &actor, id, approve, reason.clone()))
        .await
}

pub async fn list_payouts(
    market: &Market,
    actor: &Actor,
    limit: u32,
    cursor: Option<String>,
) -> Result<PayoutPage> {
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let (items, next_cursor) = payouts::list(conn, &actor, limit, cursor)?;
            Ok(PayoutPage { items, next_cursor })
        })
        .await
}
