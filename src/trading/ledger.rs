//! The double-entry ledger. Every movement of money is a journal entry
//! whose postings sum to zero in each currency; entries are never changed
//! (a correction is a reversing entry); balances are kept with every
//! posting, and one that must not go negative — a wallet, an order's
//! escrow, a payout on hold — is decreased only by a conditional update
//! that requires enough, so no interleaving can overdraw it. Each entry is
//! recorded in the audit log in the same transaction, and names that
//! record's index.
//!
//! The chart of accounts (an account is a key and a currency):
//!
//! | account | holds | may go negative |
//! | --- | --- | --- |
//! | `wallet:<account>` | a participant's spendable money | no |
//! | `escrow:<order>` | a buyer's payment while its order is open | no |
//! | `payout:<payout>` | money a provider asked to be paid out | no |
//! | `platform:fees` | the platform's fees | no |
//! | `external:payments` | money received from the payment provider (its balance is minus what came in) | yes |
//! | `external:payouts` | money paid out to participants | no |

use std::collections::BTreeMap;

use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action, Entry};
use crate::domain;
use crate::error::{Code, Error, Result};
use crate::store::schema::{journal_entries, ledger_balances, postings};
use crate::store::{DbConnection, dialect};

pub fn wallet(account: Uuid) -> String {
    format!("wallet:{account}")
}

pub fn escrow(order: Uuid) -> String {
    format!("escrow:{order}")
}

pub fn payout_hold(payout: Uuid) -> String {
    format!("payout:{payout}")
}

pub const PLATFORM_FEES: &str = "platform:fees";
pub const EXTERNAL_PAYMENTS: &str = "external:payments";
pub const EXTERNAL_PAYOUTS: &str = "external:payouts";

/// Whether an account's balance may go below zero: only the contra account
/// for money that came in from outside.
pub fn may_go_negative(account: &str) -> bool {
    account == EXTERNAL_PAYMENTS
}

/// One line of a journal entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Line {
    pub account: String,
    pub currency: String,
    /// Minor units; what the account's balance changes by.
    pub amount: i64,
    /// For a royalty: the sale and the dataset it was earned through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memo: Option<String>,
}

impl Line {
    pub fn new(account: impl Into<String>, currency: &str, amount: i64) -> Line {
        Line {
            account: account.into(),
            currency: currency.to_owned(),
            amount,
            memo: None,
        }
    }

    pub fn memo(mut self, memo: impl Into<String>) -> Line {
        self.memo = Some(memo.into());
        self
    }
}

/// A journal entry to post.
pub struct Journal {
    pub kind: &'static str,
    pub order: Option<Uuid>,
    /// A payment id, a payout id, an operator's reference.
    pub reference: Option<String>,
    pub lines: Vec<Line>,
    /// Who moved the money (none for the payment provider or the sweep).
    pub actor: Option<Uuid>,
    /// Accounts the entry concerns (its wallets' owners).
    pub parties: Vec<Uuid>,
    pub dataset: Option<Uuid>,
}

/// What posting wrote.
#[derive(Clone, Debug)]
pub struct Posted {
    pub journal: Uuid,
    pub audit_index: u64,
}

fn insufficient(account: &str, currency: &str, needed: i64) -> Error {
    let what = if account.starts_with("wallet:") {
        "the wallet"
    } else {
        "the account"
    };
    Error::refused(
        Code::InsufficientFunds,
        format!("{what} does not hold {needed} {currency} (minor units)"),
    )
    .with("currency", currency)
    .with("needed", needed)
}

/// Moves one balance by `amount`; a decrease of an account that may not go
/// negative happens only if the balance covers it.
fn apply(conn: &mut DbConnection, line: &Line) -> Result<()> {
    diesel::sql_query(dialect::numbered(
        conn,
        "INSERT INTO ledger_balances (account, currency, balance) VALUES ($1, $2, 0)
         ON CONFLICT (account, currency) DO NOTHING",
    ))
    .bind::<Text, _>(&line.account)
    .bind::<Text, _>(&line.currency)
    .execute(conn)?;
    let target = ledger_balances::table
        .filter(ledger_balances::account.eq(&line.account))
        .filter(ledger_balances::currency.eq(&line.currency));
    let changed = if line.amount < 0 && !may_go_negative(&line.account) {
        diesel::update(target.filter(ledger_balances::balance.ge(-line.amount)))
            .set(ledger_balances::balance.eq(ledger_balances::balance + line.amount))
            .execute(conn)?
    } else {
        diesel::update(target)
            .set(ledger_balances::balance.eq(ledger_balances::balance + line.amount))
            .execute(conn)?
    };
    if changed == 1 {
        Ok(())
    } else {
        Err(insufficient(&line.account, &line.currency, -line.amount))
    }
}

/// Posts a journal entry: checks that it balances, moves every balance
/// (refusing an overdraft), records it in the audit log and stores it with
/// that record's index. Runs inside the caller's transaction.
pub fn post(conn: &mut DbConnection, journal: Journal) -> Result<Posted> {
    let mut sums: BTreeMap<&str, i128> = BTreeMap::new();
    for line in &journal.lines {
        super::money::check_currency("currency", &line.currency)?;
        *sums.entry(line.currency.as_str()).or_insert(0) += i128::from(line.amount);
    }
    if let Some((currency, sum)) = sums.iter().find(|(_, sum)| **sum != 0) {
        return Err(Error::Internal(format!(
            "a {} journal entry does not balance in {currency}: {sum}",
            journal.kind
        )));
    }
    // Increases before decreases: within one entry an account can then
    // pass money on that it receives in the same entry.
    let mut order: Vec<&Line> = journal.lines.iter().collect();
    order.sort_by_key(|l| l.amount < 0);
    for line in order {
        apply(conn, line)?;
    }
    let id = domain::new_id();
    let index = audit::append(
        conn,
        Entry {
            actor: journal.actor,
            action: Action::LedgerPosted,
            dataset: journal.dataset,
            subject: id.to_string(),
            parties: journal.parties.clone(),
            detail: json!({
                "kind": journal.kind,
                "order": journal.order,
                "reference": journal.reference,
                "lines": journal.lines,
            }),
        },
    )?;
    diesel::insert_into(journal_entries::table)
        .values((
            journal_entries::id.eq(id.to_string()),
            journal_entries::kind.eq(journal.kind),
            journal_entries::order_id.eq(journal.order.map(|o| o.to_string())),
            journal_entries::reference.eq(&journal.reference),
            journal_entries::created_at.eq(domain::to_db_time(domain::now())),
            journal_entries::audit_index.eq(index as i64),
        ))
        .execute(conn)?;
    let rows: Vec<_> = journal
        .lines
        .iter()
        .enumerate()
        .map(|(line, l)| {
            (
                postings::journal_id.eq(id.to_string()),
                postings::line.eq(line as i32),
                postings::account.eq(l.account.clone()),
                postings::currency.eq(l.currency.clone()),
                postings::amount.eq(l.amount),
                postings::memo.eq(l.memo.clone()),
            )
        })
        .collect();
    crate::store::insert_rows!(conn, postings::table, rows);
    Ok(Posted {
        journal: id,
        audit_index: index,
    })
}

/// An account's balance in one currency (0 if it never moved).
pub fn balance(conn: &mut DbConnection, account: &str, currency: &str) -> Result<i64> {
    Ok(ledger_balances::table
        .find((account, currency))
        .select(ledger_balances::balance)
        .first::<i64>(conn)
        .optional()?
        .unwrap_or(0))
}

/// Every balance of an account, by currency.
pub fn balances(conn: &mut DbConnection, account: &str) -> Result<BTreeMap<String, i64>> {
    let rows: Vec<(String, i64)> = ledger_balances::table
        .filter(ledger_balances::account.eq(account))
        .order(ledger_balances::currency.asc())
        .select((ledger_balances::currency, ledger_balances::balance))
        .load(conn)?;
    Ok(rows.into_iter().collect())
}

/// Every account's balance, for the trial balance.
pub fn all_balances(conn: &mut DbConnection) -> Result<Vec<(String, String, i64)>> {
    Ok(ledger_balances::table
        .order((
            ledger_balances::currency.asc(),
            ledger_balances::account.asc(),
        ))
        .select((
            ledger_balances::account,
            ledger_balances::currency,
            ledger_balances::balance,
        ))
        .load(conn)?)
}

/// A posting as read back, with its entry.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PostingView {
    pub journal: String,
    pub kind: String,
    pub order: Option<String>,
    pub reference: Option<String>,
    pub time: String,
    pub audit_index: u64,
    pub line: i32,
    pub account: String,
    pub currency: String,
    pub amount: i64,
    pub memo: Option<String>,
}

type PostingRow = (
    String,
    String,
    Option<String>,
    Option<String>,
    chrono::NaiveDateTime,
    i64,
    i32,
    String,
    String,
    i64,
    Option<String>,
);

fn view(row: PostingRow) -> PostingView {
    PostingView {
        journal: row.0,
        kind: row.1,
        order: row.2,
        reference: row.3,
        time: domain::format_time(domain::from_db_time(row.4)),
        audit_index: row.5.max(0) as u64,
        line: row.6,
        account: row.7,
        currency: row.8,
        amount: row.9,
        memo: row.10,
    }
}

/// Postings to `account` (or to any account, when `None`) between two
/// times, oldest first, at most `limit`.
pub fn postings_between(
    conn: &mut DbConnection,
    account: Option<&str>,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
    after: Option<(String, i32)>,
    limit: i64,
) -> Result<Vec<PostingView>> {
    let mut query = postings::table
        .inner_join(journal_entries::table)
        .filter(journal_entries::created_at.ge(from))
        .filter(journal_entries::created_at.lt(to))
        .order((journal_entries::id.asc(), postings::line.asc()))
        .select((
            journal_entries::id,
            journal_entries::kind,
            journal_entries::order_id,
            journal_entries::reference,
            journal_entries::created_at,
            journal_entries::audit_index,
            postings::line,
            postings::account,
            postings::currency,
            postings::amount,
            postings::memo,
        ))
        .limit(limit)
        .into_boxed();
    if let Some(account) = account {
        query = query.filter(postings::account.eq(account.to_owned()));
    }
    if let Some((journal, line)) = after {
        query = query.filter(
            journal_entries::id
                .gt(journal.clone())
                .or(journal_entries::id.eq(journal).and(postings::line.gt(line))),
        );
    }
    Ok(query
        .load::<PostingRow>(conn)?
        .into_iter()
        .map(view)
        .collect())
}

/// Sum of postings to accounts starting with `prefix`, per currency — for
/// checks ("every escrow is empty once its order is closed").
pub fn sum_by_prefix(conn: &mut DbConnection, prefix: &str) -> Result<BTreeMap<String, i64>> {
    #[derive(QueryableByName)]
    struct Sum {
        #[diesel(sql_type = Text)]
        currency: String,
        #[diesel(sql_type = BigInt)]
        total: i64,
    }
    let rows: Vec<Sum> = diesel::sql_query(dialect::numbered(
        conn,
        "SELECT currency, CAST(COALESCE(SUM(balance), 0) AS BIGINT) AS total
         FROM ledger_balances WHERE account LIKE $1 GROUP BY currency",
    ))
    .bind::<Text, _>(format!("{prefix}%"))
    .load(conn)?;
    Ok(rows.into_iter().map(|r| (r.currency, r.total)).collect())
}
