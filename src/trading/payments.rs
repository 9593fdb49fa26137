//! Money coming in: a payment provider's callback, and an operator's
//! credit. A callback is authenticated as payment services notify a
//! merchant: an HMAC-SHA256 of the raw body with the secret both share
//! (`trading.payment_secret`), in the `Payment-Signature` header as
//! `sha256=<hex>`. It is idempotent on the provider's payment id: a second
//! notice of one payment moves nothing and answers what the first did.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::Sha256;
use uuid::Uuid;

use super::ledger::{self, Journal, Line};
use super::money::{MAX_AMOUNT, check_currency};
use crate::audit::{self, Action, Entry, Recorded};
use crate::domain;
use crate::error::{Code, Error, Result, on_unique_violation};
use crate::market::Market;
use crate::store::DbConnection;
use crate::store::schema::payments;

/// A payment provider's notice that money arrived for an account.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentNotice {
    /// The provider's own id of the payment: notices are idempotent on it.
    #[schema(min_length = 1, max_length = 128)]
    pub payment_id: String,
    /// The account whose wallet receives it.
    pub account: Uuid,
    #[schema(minimum = 1)]
    pub amount: i64,
    #[schema(pattern = "^[A-Z]{3}$")]
    pub currency: String,
    /// Only `succeeded` payments are credited.
    pub status: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Payment {
    pub payment_id: String,
    pub account: Uuid,
    pub amount: i64,
    pub currency: String,
    /// The journal entry that credited it.
    pub journal: Uuid,
    pub received_at: DateTime<Utc>,
    /// True when this notice repeated one already credited.
    pub duplicate: bool,
}

/// Whether `signature` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under
/// `secret`, compared in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], signature: &str) -> bool {
    let Some(hex_mac) = signature.trim().strip_prefix("sha256=") else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_mac) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The signature a provider sends for `body` (for tests and tools).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    // HMAC takes a key of any length, so this never fails.
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
        }
        Err(_) => String::new(),
    }
}

fn existing(conn: &mut DbConnection, payment_id: &str) -> Result<Option<Payment>> {
    let row: Option<(String, String, i64, String, String, chrono::NaiveDateTime)> = payments::table
        .find(payment_id)
        .select((
            payments::payment_id,
            payments::account_id,
            payments::amount,
            payments::currency,
            payments::journal_id,
            payments::received_at,
        ))
        .first(conn)
        .optional()?;
    row.map(|(payment_id, account, amount, currency, journal, at)| {
        Ok(Payment {
            payment_id,
            account: domain::id_from_db(&account)?,
            amount,
            currency,
            journal: domain::id_from_db(&journal)?,
            received_at: domain::from_db_time(at),
            duplicate: true,
        })
    })
    .transpose()
}

/// Credits a wallet with money that came in from outside.
fn credit(
    conn: &mut DbConnection,
    payment_id: &str,
    account: Uuid,
    amount: i64,
    currency: &str,
    actor: Option<Uuid>,
    kind: &'static str,
) -> Result<Recorded<Payment>> {
    if let Some(previous) = existing(conn, payment_id)? {
        if previous.account != account || previous.amount != amount || previous.currency != currency
        {
            return Err(Error::refused(
                Code::AlreadyExists,
                "this payment id was credited with other details",
            ));
        }
        return Ok(Recorded::new(previous, vec![]));
    }
    crate::accounts::find(conn, account)
        .map_err(|_| Error::invalid("account", "no account has this id"))?;
    let posted = ledger::post(
        conn,
        Journal {
            kind,
            order: None,
            reference: Some(payment_id.to_owned()),
            lines: vec![
                Line::new(ledger::EXTERNAL_PAYMENTS, currency, -amount),
                Line::new(ledger::wallet(account), currency, amount),
            ],
            actor,
            parties: vec![account],
            dataset: None,
        },
    )?;
    let received_at = domain::now();
    diesel::insert_into(payments::table)
        .values((
            payments::payment_id.eq(payment_id),
            payments::account_id.eq(account.to_string()),
            payments::amount.eq(amount),
            payments::currency.eq(currency),
            payments::journal_id.eq(posted.journal.to_string()),
            payments::received_at.eq(domain::to_db_time(received_at)),
        ))
        .execute(conn)
        .map_err(|e| {
            on_unique_violation(e, || {
                Error::refused(Code::AlreadyExists, "this payment was credited")
            })
        })?;
    let index = audit::append(
        conn,
        Entry {
            actor,
            action: Action::PaymentReceived,
            dataset: None,
            subject: payment_id.to_owned(),
            parties: vec![account],
            detail: json!({
                "kind": kind,
                "amount": amount,
                "currency": currency,
                "journal": posted.journal,
            }),
        },
    )?;
    Ok(Recorded::new(
        Payment {
            payment_id: payment_id.to_owned(),
            account,
            amount,
            currency: currency.to_owned(),
            journal: posted.journal,
            received_at,
            duplicate: false,
        },
        vec![posted.audit_index, index],
    ))
}

fn check_amount(amount: i64, currency: &str) -> Result<()> {
    check_currency("currency", currency)?;
    if !(1..=MAX_AMOUNT).contains(&amount) {
        return Err(Error::invalid(
            "amount",
            format!("must be between 1 and {MAX_AMOUNT}"),
        ));
    }
    Ok(())
}

/// A payment provider's callback: the raw body and its signature header.
pub async fn callback(
    market: &Market,
    body: &[u8],
    signature: Option<&str>,
) -> Result<Recorded<Payment>> {
    let secret = market.settings.trading.payment_secret.expose().to_owned();
    if secret.is_empty() {
        return Err(Error::refused(
            Code::InvalidSignature,
            "payment callbacks are not configured on this market (trading.payment_secret)",
        ));
    }
    if !signature.is_some_and(|s| verify_signature(secret.as_bytes(), body, s)) {
        return Err(Error::refused(
            Code::InvalidSignature,
            "the Payment-Signature header is not the HMAC-SHA256 of this body",
        ));
    }
    let notice: PaymentNotice = serde_json::from_slice(body)
        .map_err(|e| Error::refused(Code::InvalidBody, format!("not a payment notice: {e}")))?;
    let payment_id = notice.payment_id.trim().to_owned();
    if payment_id.is_empty() || payment_id.len() > 128 || payment_id.chars().any(char::is_control) {
        return Err(Error::invalid(
            "payment_id",
            "must be 1 to 128 printable characters",
        ));
    }
    check_amount(notice.amount, &notice.currency)?;
    if notice.status != "succeeded" {
        return Err(Error::invalid(
            "status",
            "only succeeded payments are credited",
        ));
    }
    market
        .db
        .write(move |conn| {
            credit(
                conn,
                &payment_id,
                notice.account,
                notice.amount,
                &notice.currency,
                None,
                "payment",
            )
        })
        .await
}

/// An operator's credit (`datamarket admin credit`): money received outside
/// the payment provider, with the operator's reference.
pub async fn operator_credit(
    market: &Market,
    account: Uuid,
    amount: i64,
    currency: &str,
    reference: &str,
) -> Result<Recorded<Payment>> {
    check_amount(amount, currency)?;
    let reference = reference.trim();
    if reference.is_empty() || reference.len() > 120 || reference.chars().any(char::is_control) {
        return Err(Error::invalid(
            "reference",
            "must be 1 to 120 printable characters",
        ));
    }
    let payment_id = format!("operator:{reference}");
    let currency = currency.to_owned();
    market
        .db
        .write(move |conn| {
            credit(
                conn,
                &payment_id,
                account,
                amount,
                &currency,
                None,
                "operator_credit",
            )
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_and_tampering_fails() {
        let body = br#"{"payment_id":"p1"}"#;
        let signature = sign(b"s3cret", body);
        assert!(verify_signature(b"s3cret", body, &signature));
        assert!(!verify_signature(b"other", body, &signature));
        assert!(!verify_signature(
            b"s3cret",
            br#"{"payment_id":"p2"}"#,
            &signature
        ));
        assert!(!verify_signature(b"s3cret", body, "sha256=zz"));
        assert!(!verify_signature(
            b"s3cret",
            body,
            &signature.replace("sha256=", "")
        ));
    }
}
