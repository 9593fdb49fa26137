//! Reading the books: a participant's statement, the trial balance, the
//! ledger's export, and the check `datamarket ledger check` runs over an
//! export — every currency sums to zero, no wallet is negative, each
//! order's escrow matches its state, and every journal entry is the one the
//! audit log recorded.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use diesel::prelude::*;
use serde::{Deserialize, Serialize};

use super::ledger::{self, Line};
use super::offers::Plan;
use super::orders::OrderState;
use crate::domain;
use crate::error::Result;
use crate::store::DbConnection;
use crate::store::schema::{journal_entries, offer_versions, orders, postings};

/// A journal entry with its lines.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JournalEntry {
    pub id: String,
    /// `order_paid`, `settlement`, `refund`, `metered_charge`, `payment`,
    /// `operator_credit`, `payout_requested`, `payout_paid`,
    /// `payout_rejected`.
    pub kind: String,
    pub order: Option<String>,
    pub reference: Option<String>,
    pub time: String,
    /// The audit log entry that records it.
    pub audit_index: u64,
    pub lines: Vec<Line>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Balance {
    pub account: String,
    pub currency: String,
    pub balance: i64,
}

/// An order as the check needs it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OrderFacts {
    pub id: String,
    pub state: OrderState,
    pub plan: Plan,
    pub amount: i64,
    pub currency: String,
}

/// The whole ledger, for auditors and `datamarket ledger check --export`.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LedgerExport {
    pub entries: Vec<JournalEntry>,
    pub balances: Vec<Balance>,
    pub orders: Vec<OrderFacts>,
}

/// A journal entry's row: id, kind, order, reference, time, audit index.
type EntryHead = (
    String,
    String,
    Option<String>,
    Option<String>,
    chrono::NaiveDateTime,
    i64,
);

/// Reads the whole ledger (in the caller's transaction, so it is one
/// consistent state).
pub fn export(conn: &mut DbConnection) -> Result<LedgerExport> {
    let heads: Vec<EntryHead> = journal_entries::table
        .order(journal_entries::id.asc())
        .select((
            journal_entries::id,
            journal_entries::kind,
            journal_entries::order_id,
            journal_entries::reference,
            journal_entries::created_at,
            journal_entries::audit_index,
        ))
        .load(conn)?;
    let lines: Vec<(String, String, String, i64, Option<String>)> = postings::table
        .order((postings::journal_id.asc(), postings::line.asc()))
        .select((
            postings::journal_id,
            postings::account,
            postings::currency,
            postings::amount,
            postings::memo,
        ))
        .load(conn)?;
    let mut by_entry: HashMap<String, Vec<Line>> = HashMap::new();
    for (journal, account, currency, amount, memo) in lines {
        by_entry.entry(journal).or_default().push(Line {
            account,
            currency,
            amount,
            memo,
        });
    }
    let entries = heads
        .into_iter()
        .map(|(id, kind, order, reference, at, index)| JournalEntry {
            lines: by_entry.remove(&id).unwrap_or_default(),
            id,
            kind,
            order,
            reference,
            time: domain::format_time(domain::from_db_time(at)),
            audit_index: index.max(0) as u64,
        })
        .collect();
    let balances = ledger::all_balances(conn)?
        .into_iter()
        .map(|(account, currency, balance)| Balance {
            account,
            currency,
            balance,
        })
        .collect();
    let rows: Vec<(String, String, i64, String, String)> = orders::table
        .inner_join(
            offer_versions::table.on(offer_versions::offer_id
                .eq(orders::offer_id)
                .and(offer_versions::version.eq(orders::offer_version))),
        )
        .order(orders::id.asc())
        .select((
            orders::id,
            orders::state,
            orders::amount,
            orders::currency,
            offer_versions::plan,
        ))
        .load(conn)?;
    let orders = rows
        .into_iter()
        .map(|(id, state, amount, currency, plan)| {
            Ok(OrderFacts {
                id,
                state: OrderState::from_db(&state)?,
                plan: Plan::from_db(&plan)?,
                amount,
                currency,
            })
        })
        .collect::<Result<_>>()?;
    Ok(LedgerExport {
        entries,
        balances,
        orders,
    })
}

/// What the audit log says of one journal entry: its record's action,
/// subject and detail.
#[derive(Clone, Debug)]
pub struct LoggedEntry {
    pub action: String,
    pub subject: String,
    pub detail: serde_json::Value,
}

/// What the check found.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CheckReport {
    pub entries: usize,
    pub orders: usize,
    /// Money that came in from outside, per currency (minor units).
    pub received: BTreeMap<String, i64>,
    /// Whether the entries were compared with the audit log.
    pub audit_checked: bool,
    /// Every broken invariant, one sentence each; empty when the books hold.
    pub problems: Vec<String>,
}

impl CheckReport {
    pub fn holds(&self) -> bool {
        self.problems.is_empty()
    }
}

impl std::fmt::Display for CheckReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.holds() {
            write!(
                f,
                "ok: {} journal entries and {} orders; every entry and currency sums to zero, no wallet is negative, every order's escrow matches its state",
                self.entries, self.orders
            )?;
            if self.audit_checked {
                write!(f, ", every entry is the one the audit log recorded")?;
            }
            Ok(())
        } else {
            writeln!(
                f,
                "FAILED: {} problem(s) in {} journal entries and {} orders:",
                self.problems.len(),
                self.entries,
                self.orders
            )?;
            for problem in &self.problems {
                writeln!(f, "  - {problem}")?;
            }
            Ok(())
        }
    }
}

/// Checks the ledger's invariants over an export; with `log` (the audit
/// log's records by index), also that each entry is the one recorded.
pub fn check(export: &LedgerExport, log: Option<&HashMap<u64, LoggedEntry>>) -> CheckReport {
    let mut report = CheckReport {
        entries: export.entries.len(),
        orders: export.orders.len(),
        audit_checked: log.is_some(),
        ..CheckReport::default()
    };
    let problems = &mut report.problems;
    let mut sums: BTreeMap<(String, String), i128> = BTreeMap::new();
    let mut seen_ids = BTreeSet::new();
    for entry in &export.entries {
        if !seen_ids.insert(entry.id.as_str()) {
            problems.push(format!("journal entry {} appears twice", entry.id));
        }
        if entry.lines.len() < 2 {
            problems.push(format!(
                "journal entry {} has fewer than two lines",
                entry.id
            ));
        }
        let mut per_currency: BTreeMap<&str, i128> = BTreeMap::new();
        for line in &entry.lines {
            *per_currency.entry(&line.currency).or_insert(0) += i128::from(line.amount);
            *sums
                .entry((line.account.clone(), line.currency.clone()))
                .or_insert(0) += i128::from(line.amount);
            if line.account == ledger::EXTERNAL_PAYMENTS {
                *report.received.entry(line.currency.clone()).or_insert(0) -= line.amount;
            }
        }
        for (currency, sum) in per_currency {
            if sum != 0 {
                problems.push(format!(
                    "journal entry {} does not balance in {currency}: its lines sum to {sum}",
                    entry.id
                ));
            }
        }
        if let Some(log) = log {
            match log.get(&entry.audit_index) {
                None => problems.push(format!(
                    "journal entry {} names audit entry {}, which the log does not hold",
                    entry.id, entry.audit_index
                )),
                Some(logged) => {
                    let lines: Option<Vec<Line>> = logged
                        .detail
                        .get("lines")
                        .and_then(|l| serde_json::from_value(l.clone()).ok());
                    let kind = logged.detail.get("kind").and_then(|k| k.as_str());
                    if logged.action != "ledger.posted"
                        || logged.subject != entry.id
                        || kind != Some(entry.kind.as_str())
                        || lines.as_ref() != Some(&entry.lines)
                    {
                        problems.push(format!(
                            "journal entry {} is not what audit entry {} recorded",
                            entry.id, entry.audit_index
                        ));
                    }
                }
            }
        }
    }
    let mut totals: BTreeMap<&str, i128> = BTreeMap::new();
    let mut stated: BTreeMap<(String, String), i64> = BTreeMap::new();
    for balance in &export.balances {
        *totals.entry(&balance.currency).or_insert(0) += i128::from(balance.balance);
        stated.insert(
            (balance.account.clone(), balance.currency.clone()),
            balance.balance,
        );
        if balance.balance < 0 && !ledger::may_go_negative(&balance.account) {
            problems.push(format!(
                "{} is negative: {} {}",
                balance.account, balance.balance, balance.currency
            ));
        }
    }
    for (currency, total) in totals {
        if total != 0 {
            problems.push(format!(
                "the balances in {currency} sum to {total}, not zero"
            ));
        }
    }
    for ((account, currency), sum) in &sums {
        let held = stated.get(&(account.clone(), currency.clone())).copied();
        if held.map(i128::from) != Some(*sum) {
            problems.push(format!(
                "{account} holds {} {currency}, but its postings sum to {sum}",
                held.map_or("nothing".to_owned(), |h| h.to_string())
            ));
        }
    }
    for ((account, currency), held) in &stated {
        if *held != 0 && !sums.contains_key(&(account.clone(), currency.clone())) {
            problems.push(format!(
                "{account} holds {held} {currency} without a posting"
            ));
        }
    }
    let mut by_order: HashMap<&str, Vec<&JournalEntry>> = HashMap::new();
    for entry in &export.entries {
        if let Some(order) = &entry.order {
            by_order.entry(order.as_str()).or_default().push(entry);
        }
    }
    let known: BTreeSet<&str> = export.orders.iter().map(|o| o.id.as_str()).collect();
    for order in &export.orders {
        let escrow = format!("escrow:{}", order.id);
        let held = stated
            .get(&(escrow.clone(), order.currency.clone()))
            .copied()
            .unwrap_or(0);
        let prepaid = order.plan != Plan::Metered && order.amount > 0;
        let kinds: Vec<&str> = by_order
            .get(order.id.as_str())
            .map(|es| es.iter().map(|e| e.kind.as_str()).collect())
            .unwrap_or_default();
        let count = |kind: &str| kinds.iter().filter(|k| **k == kind).count();
        let expected_escrow = match order.state {
            OrderState::Paid | OrderState::Fulfilled if prepaid => order.amount,
            _ => 0,
        };
        if held != expected_escrow {
            problems.push(format!(
                "order {} is {} but its escrow holds {held} {} (expected {expected_escrow})",
                order.id, order.state, order.currency
            ));
        }
        let (paid, settled, refunded) = (count("order_paid"), count("settlement"), count("refund"));
        let expected = match order.state {
            OrderState::Placed => (0, 0, 0),
            _ if !prepaid => (0, 0, 0),
            OrderState::Paid | OrderState::Fulfilled => (1, 0, 0),
            OrderState::Settled => (1, 1, 0),
            OrderState::Refunded
            | OrderState::Cancelled
            | OrderState::Declined
            | OrderState::Expired => (1, 0, 1),
        };
        if (paid, settled, refunded) != expected {
            problems.push(format!(
                "order {} is {} but has {paid} payment, {settled} settlement and {refunded} refund entries",
                order.id, order.state
            ));
        }
        if order.plan != Plan::Metered && count("metered_charge") > 0 {
            problems.push(format!(
                "order {} is not metered but was charged per download",
                order.id
            ));
        }
    }
    for (account, _) in stated.keys() {
        if let Some(order) = account.strip_prefix("escrow:")
            && !known.contains(order)
        {
            problems.push(format!("{account} belongs to no order"));
        }
    }
    report
}

/// The books' invariants over the database's own ledger, each journal
/// entry compared with the audit log's record of it.
pub fn check_against_log(conn: &mut DbConnection) -> Result<CheckReport> {
    let export = export(conn)?;
    let indexes: Vec<u64> = export.entries.iter().map(|e| e.audit_index).collect();
    let log = crate::audit::records_at(conn, &indexes)?
        .into_iter()
        .map(|(index, record)| {
            (
                index,
                LoggedEntry {
                    action: record.action,
                    subject: record.subject,
                    detail: record.detail,
                },
            )
        })
        .collect();
    Ok(check(&export, Some(&log)))
}

/// A line of a participant's statement: one posting to its wallet.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StatementLine {
    pub time: String,
    pub journal: String,
    /// `purchase`, `refund`, `sale`, `royalty`, `deposit`, `payout`,
    /// `payout_returned`.
    pub category: String,
    pub order: Option<String>,
    pub currency: String,
    /// What the wallet changed by (minor units).
    pub amount: i64,
    /// For a sale: the price the buyer paid.
    pub gross: Option<i64>,
    /// For a sale: the platform's fee.
    pub fee: Option<i64>,
    /// For a sale: what went to the sources up the lineage.
    pub royalties_out: Option<i64>,
    /// For a royalty: the dataset sold (downstream of yours) ...
    pub sold_dataset: Option<String>,
    /// ... and your dataset, among its sources, that earned the royalty.
    pub source_dataset: Option<String>,
    pub audit_index: u64,
}

/// Totals of one currency over a statement's period.
#[derive(Clone, Debug, Default, Serialize, utoipa::ToSchema)]
pub struct StatementTotals {
    pub currency: String,
    pub purchases: i64,
    pub refunds: i64,
    pub sales_gross: i64,
    pub fees: i64,
    pub royalties_out: i64,
    pub sales_net: i64,
    pub royalties_in: i64,
    pub deposits: i64,
    pub payouts: i64,
    /// The wallet's balance at the period's end.
    pub closing_balance: i64,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Statement {
    pub account: uuid::Uuid,
    pub from: String,
    pub to: String,
    pub lines: Vec<StatementLine>,
    pub totals: Vec<StatementTotals>,
    /// Set when the period held more lines than one statement shows: ask
    /// again from this time.
    pub truncated_at: Option<String>,
}

/// The most lines one statement holds.
pub const STATEMENT_LINES: i64 = 10_000;

fn category(kind: &str, line: &Line) -> &'static str {
    match kind {
        "order_paid" | "metered_charge" if line.amount < 0 => "purchase",
        "refund" => "refund",
        "payment" | "operator_credit" => "deposit",
        "payout_requested" => "payout",
        "payout_rejected" => "payout_returned",
        _ if line
            .memo
            .as_deref()
            .is_some_and(|m| m.starts_with("royalty:")) =>
        {
            "royalty"
        }
        _ => "sale",
    }
}

/// An account's wallet postings in `[from, to)` with the sales' breakdown,
/// and the totals per currency.
pub fn statement(
    conn: &mut DbConnection,
    account: uuid::Uuid,
    from: chrono::NaiveDateTime,
    to: chrono::NaiveDateTime,
) -> Result<Statement> {
    let wallet = ledger::wallet(account);
    let mut rows =
        ledger::postings_between(conn, Some(&wallet), from, to, None, STATEMENT_LINES + 1)?;
    let truncated_at = (rows.len() as i64 > STATEMENT_LINES).then(|| {
        let cut = rows.remove(STATEMENT_LINES as usize);
        cut.time
    });
    let mut totals: BTreeMap<String, StatementTotals> = BTreeMap::new();
    let mut lines = Vec::with_capacity(rows.len());
    for row in rows {
        let line = Line {
            account: row.account.clone(),
            currency: row.currency.clone(),
            amount: row.amount,
            memo: row.memo.clone(),
        };
        let category = category(&row.kind, &line);
        let t = totals
            .entry(row.currency.clone())
            .or_insert_with(|| StatementTotals {
                currency: row.currency.clone(),
                ..StatementTotals::default()
            });
        let mut out = StatementLine {
            time: row.time.clone(),
            journal: row.journal.clone(),
            category: category.to_owned(),
            order: row.order.clone(),
            currency: row.currency.clone(),
            amount: row.amount,
            gross: None,
            fee: None,
            royalties_out: None,
            sold_dataset: None,
            source_dataset: None,
            audit_index: row.audit_index,
        };
        match category {
            "purchase" => t.purchases += -row.amount,
            "refund" => t.refunds += row.amount,
            "deposit" => t.deposits += row.amount,
            "payout" => t.payouts += -row.amount,
            "payout_returned" => t.payouts -= row.amount,
            "royalty" => {
                t.royalties_in += row.amount;
                // royalty:<order>:source:<dataset of yours>:sold:<dataset sold>
                let memo = row.memo.as_deref().unwrap_or_default();
                let parts: Vec<&str> = memo.split(':').collect();
                if let [_, _, "source", source, "sold", sold] = parts.as_slice() {
                    out.source_dataset = Some((*source).to_owned());
                    out.sold_dataset = Some((*sold).to_owned());
                }
            }
            _ => {
                let whole: Vec<(String, i64, Option<String>)> = postings::table
                    .filter(postings::journal_id.eq(&row.journal))
                    .select((postings::account, postings::amount, postings::memo))
                    .load(conn)?;
                let gross: i64 = whole
                    .iter()
                    .filter(|(_, a, _)| *a < 0)
                    .map(|(_, a, _)| -a)
                    .sum();
                let fee: i64 = whole
                    .iter()
                    .filter(|(acc, _, _)| acc == ledger::PLATFORM_FEES)
                    .map(|(_, a, _)| *a)
                    .sum();
                let royalties: i64 = whole
                    .iter()
                    .filter(|(_, _, m)| m.as_deref().is_some_and(|m| m.starts_with("royalty:")))
                    .map(|(_, a, _)| *a)
                    .sum();
                out.gross = Some(gross);
                out.fee = Some(fee);
                out.royalties_out = Some(royalties);
                t.sales_gross += gross;
                t.fees += fee;
                t.royalties_out += royalties;
                t.sales_net += row.amount;
            }
        }
        lines.push(out);
    }
    for (currency, t) in totals.iter_mut() {
        t.closing_balance = closing_balance(conn, &wallet, currency, to)?;
    }
    Ok(Statement {
        account,
        from: domain::format_time(domain::from_db_time(from)),
        to: domain::format_time(domain::from_db_time(to)),
        lines,
        totals: totals.into_values().collect(),
        truncated_at,
    })
}

fn closing_balance(
    conn: &mut DbConnection,
    account: &str,
    currency: &str,
    to: chrono::NaiveDateTime,
) -> Result<i64> {
    #[derive(QueryableByName)]
    struct Sum {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        total: i64,
    }
    let sum: Sum = diesel::sql_query(crate::store::dialect::numbered(
        conn,
        "SELECT CAST(COALESCE(SUM(p.amount), 0) AS BIGINT) AS total
         FROM postings p JOIN journal_entries j ON j.id = p.journal_id
         WHERE p.account = $1 AND p.currency = $2 AND j.created_at < $3",
    ))
    .bind::<diesel::sql_types::Text, _>(account)
    .bind::<diesel::sql_types::Text, _>(currency)
    .bind::<diesel::sql_types::Timestamp, _>(to)
    .get_result(conn)?;
    Ok(sum.total)
}

/// A statement as CSV, one posting per row.
pub fn statement_csv(statement: &Statement) -> String {
    let mut out = String::from(
        "time,journal,category,order,currency,amount,gross,fee,royalties_out,sold_dataset,source_dataset,audit_index\n",
    );
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    for l in &statement.lines {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{}\n",
            l.time,
            l.journal,
            l.category,
            l.order.as_deref().unwrap_or_default(),
            l.currency,
            l.amount,
            opt(l.gross),
            opt(l.fee),
            opt(l.royalties_out),
            l.sold_dataset.as_deref().unwrap_or_default(),
            l.source_dataset.as_deref().unwrap_or_default(),
            l.audit_index
        ));
    }
    out
}

/// The trial balance: every account's balance, grouped by currency; each
/// currency's balances sum to zero when the books hold.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TrialBalance {
    pub currencies: Vec<CurrencyBalance>,
    pub balanced: bool,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CurrencyBalance {
    pub currency: String,
    /// Per kind of account: `wallet`, `escrow`, `payout`, `platform`,
    /// `external`.
    pub by_kind: BTreeMap<String, i64>,
    pub accounts: Vec<Balance>,
    pub sum: i64,
}

pub fn trial_balance(conn: &mut DbConnection) -> Result<TrialBalance> {
    let mut by_currency: BTreeMap<String, CurrencyBalance> = BTreeMap::new();
    for (account, currency, balance) in ledger::all_balances(conn)? {
        let entry = by_currency
            .entry(currency.clone())
            .or_insert_with(|| CurrencyBalance {
                currency: currency.clone(),
                by_kind: BTreeMap::new(),
                accounts: vec![],
                sum: 0,
            });
        let kind = account.split(':').next().unwrap_or_default().to_owned();
        *entry.by_kind.entry(kind).or_insert(0) += balance;
        entry.sum += balance;
        entry.accounts.push(Balance {
            account,
            currency,
            balance,
        });
    }
    let currencies: Vec<CurrencyBalance> = by_currency.into_values().collect();
    let balanced = currencies.iter().all(|c| c.sum == 0);
    Ok(TrialBalance {
        currencies,
        balanced,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        id: &str,
        kind: &str,
        order: Option<&str>,
        index: u64,
        lines: &[(&str, i64)],
    ) -> JournalEntry {
        JournalEntry {
            id: id.into(),
            kind: kind.into(),
            order: order.map(Into::into),
            reference: None,
            time: "2026-01-01T00:00:00Z".into(),
            audit_index: index,
            lines: lines
                .iter()
                .map(|(a, m)| Line::new(*a, "CNY", *m))
                .collect(),
        }
    }

    fn books() -> LedgerExport {
        LedgerExport {
            entries: vec![
                entry(
                    "j1",
                    "payment",
                    None,
                    1,
                    &[("external:payments", -100), ("wallet:b", 100)],
                ),
                entry(
                    "j2",
                    "order_paid",
                    Some("o1"),
                    2,
                    &[("wallet:b", -60), ("escrow:o1", 60)],
                ),
                entry(
                    "j3",
                    "settlement",
                    Some("o1"),
                    3,
                    &[("escrow:o1", -60), ("platform:fees", 3), ("wallet:s", 57)],
                ),
            ],
            balances: vec![
                Balance {
                    account: "external:payments".into(),
                    currency: "CNY".into(),
                    balance: -100,
                },
                Balance {
                    account: "wallet:b".into(),
                    currency: "CNY".into(),
                    balance: 40,
                },
                Balance {
                    account: "escrow:o1".into(),
                    currency: "CNY".into(),
                    balance: 0,
                },
                Balance {
                    account: "platform:fees".into(),
                    currency: "CNY".into(),
                    balance: 3,
                },
                Balance {
                    account: "wallet:s".into(),
                    currency: "CNY".into(),
                    balance: 57,
                },
            ],
            orders: vec![OrderFacts {
                id: "o1".into(),
                state: OrderState::Settled,
                plan: Plan::OneOff,
                amount: 60,
                currency: "CNY".into(),
            }],
        }
    }

    #[test]
    fn sound_books_hold() {
        let report = check(&books(), None);
        assert!(report.holds(), "{:?}", report.problems);
        assert_eq!(report.received.get("CNY"), Some(&100));
    }

    #[test]
    fn each_broken_invariant_is_named() {
        let mut unbalanced = books();
        unbalanced.entries[2].lines[2].amount = 58;
        assert!(
            check(&unbalanced, None)
                .problems
                .iter()
                .any(|p| p.contains("does not balance"))
        );

        let mut drifted = books();
        drifted.balances[1].balance = 41;
        let problems = check(&drifted, None).problems;
        assert!(
            problems.iter().any(|p| p.contains("postings sum to 40")),
            "{problems:?}"
        );
        assert!(
            problems.iter().any(|p| p.contains("sum to 1, not zero")),
            "{problems:?}"
        );

        let mut overdrawn = books();
        overdrawn.balances[1].balance = -1;
        assert!(
            check(&overdrawn, None)
                .problems
                .iter()
                .any(|p| p.contains("is negative"))
        );

        let mut wrong_state = books();
        wrong_state.orders[0].state = OrderState::Paid;
        assert!(
            check(&wrong_state, None)
                .problems
                .iter()
                .any(|p| p.contains("escrow holds 0"))
        );

        let mut log = HashMap::new();
        for e in books().entries {
            log.insert(
                e.audit_index,
                LoggedEntry {
                    action: "ledger.posted".into(),
                    subject: e.id.clone(),
                    detail: serde_json::json!({ "kind": e.kind, "lines": e.lines }),
                },
            );
        }
        assert!(check(&books(), Some(&log)).holds());
        log.remove(&2);
        assert!(
            check(&books(), Some(&log))
                .problems
                .iter()
                .any(|p| p.contains("does not hold"))
        );
    }
}
