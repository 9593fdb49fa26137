//! `Idempotency-Key`, as payment APIs use it: a request that moves money
//! may be sent again with the same key (a timeout, a retried job) and gets
//! the first answer, having moved nothing twice. The key is the caller's;
//! the first answer is stored in the transaction that made it, so it exists
//! exactly when the change does. The same key with a different request is
//! refused.

use diesel::prelude::*;
use diesel::sql_types::{Integer, Text, Timestamp};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::domain;
use crate::error::{Code, Error, Result};
use crate::store::schema::idempotency_keys;
use crate::store::{DbConnection, dialect};

/// A key as a client sent it, checked.
pub fn check_key(key: &str) -> Result<String> {
    let key = key.trim();
    if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::refused(
            Code::InvalidParameter,
            "Idempotency-Key must be 1 to 200 printable ASCII characters",
        )
        .with("parameter", "Idempotency-Key"));
    }
    Ok(key.to_owned())
}

/// The fingerprint of a request: what it asks, not how it was sent.
pub fn fingerprint(operation: &str, body: &serde_json::Value) -> String {
    hex::encode(Sha256::digest(format!(
        "{operation}\n{}",
        crate::audit::canonical_json(body)
    )))
}

/// The first answer to this key, if there was one: its status and body.
pub fn replay(
    conn: &mut DbConnection,
    account: Uuid,
    key: &str,
    fingerprint: &str,
) -> Result<Option<(u16, serde_json::Value)>> {
    let row: Option<(String, i32, String)> = idempotency_keys::table
        .find((account.to_string(), key))
        .select((
            idempotency_keys::request_hash,
            idempotency_keys::status,
            idempotency_keys::response,
        ))
        .first(conn)
        .optional()?;
    match row {
        None => Ok(None),
        Some((hash, _, _)) if hash != fingerprint => Err(Error::refused(
            Code::IdempotencyKeyReused,
            "this Idempotency-Key was used for a different request",
        )),
        Some((_, status, response)) => Ok(Some((
            status.clamp(100, 599) as u16,
            serde_json::from_str(&response)
                .map_err(|e| Error::Internal(format!("stored idempotent answer: {e}")))?,
        ))),
    }
}

/// Stores the first answer to this key, in the transaction that made it.
/// If another request with the key committed first (another instance), the
/// change is lost and run again, and then replays that answer.
pub fn remember(
    conn: &mut DbConnection,
    account: Uuid,
    key: &str,
    fingerprint: &str,
    status: u16,
    response: &serde_json::Value,
) -> Result<()> {
    let inserted = diesel::sql_query(dialect::numbered(
        conn,
        "INSERT INTO idempotency_keys (account_id, key, request_hash, status, response, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (account_id, key) DO NOTHING",
    ))
    .bind::<Text, _>(account.to_string())
    .bind::<Text, _>(key)
    .bind::<Text, _>(fingerprint)
    .bind::<Integer, _>(i32::from(status))
    .bind::<Text, _>(response.to_string())
    .bind::<Timestamp, _>(domain::to_db_time(domain::now()))
    .execute(conn)?;
    if inserted == 1 {
        Ok(())
    } else {
        // Serialization-failure kind: the writer runs the change again, and
        // the replay finds the committed answer.
        Err(Error::Database(diesel::result::Error::DatabaseError(
            diesel::result::DatabaseErrorKind::SerializationFailure,
            Box::new("another request with this Idempotency-Key committed first".to_owned()),
        )))
    }
}

/// What a request that may carry an `Idempotency-Key` gets: its own answer,
/// or the first one given to its key.
pub enum Answer<T> {
    Fresh(crate::audit::Recorded<T>),
    Replayed {
        status: u16,
        body: serde_json::Value,
    },
}

/// A request's `Idempotency-Key` (if it sent one), checked, with the
/// fingerprint of what it asks.
#[derive(Clone, Debug)]
pub struct Keyed {
    key: Option<String>,
    fingerprint: String,
}

impl Keyed {
    pub fn new(key: Option<&str>, operation: &str, body: &serde_json::Value) -> Result<Keyed> {
        Ok(Keyed {
            key: key.map(check_key).transpose()?,
            fingerprint: fingerprint(operation, body),
        })
    }

    /// [`once`] for this key, answering `status` when `work` runs.
    pub fn once<T: serde::Serialize>(
        &self,
        conn: &mut DbConnection,
        account: Uuid,
        status: u16,
        work: &mut dyn FnMut(&mut DbConnection) -> Result<crate::audit::Recorded<T>>,
    ) -> Result<Answer<T>> {
        once(
            conn,
            account,
            self.key.as_deref(),
            &self.fingerprint,
            status,
            work,
        )
    }
}

/// Runs `work` once per key: a retry with the key the account used before
/// for the same request gets the first answer, and `work` does not run. The
/// answer is stored in `work`'s transaction; a refusal is not stored (the
/// retry runs afresh, as nothing happened).
pub fn once<T: serde::Serialize>(
    conn: &mut DbConnection,
    account: Uuid,
    key: Option<&str>,
    fingerprint: &str,
    status: u16,
    work: &mut dyn FnMut(&mut DbConnection) -> Result<crate::audit::Recorded<T>>,
) -> Result<Answer<T>> {
    let Some(key) = key else {
        return Ok(Answer::Fresh(work(conn)?));
    };
    if let Some((status, body)) = replay(conn, account, key, fingerprint)? {
        return Ok(Answer::Replayed { status, body });
    }
    let fresh = work(conn)?;
    let body = serde_json::to_value(&fresh.value).map_err(|e| Error::Internal(e.to_string()))?;
    remember(conn, account, key, fingerprint, status, &body)?;
    Ok(Answer::Fresh(fresh))
}
