//! Logging in: a name and a password for an access token, every attempt on
//! the record (with the client's address), and throttling that every
//! instance shares because its counters live in the database.
//!
//! Failures are counted per key within `throttle.window_secs`:
//!
//! * the name from one address (`pair`): after `failures_per_account`
//!   failures that address is locked out of that name, for the window, and
//!   for twice as long with every further failure (capped at
//!   `max_lock_secs`) — guessing stays slow for good;
//! * one address across names: after `failures_per_address` failures it is
//!   locked out of every name for the window;
//! * one name across addresses: after `failures_per_name` failures the name
//!   is locked for the window — but only for addresses that never logged in
//!   to it. Anyone can read a provider's name, so anyone could otherwise
//!   lock a provider out; its own known clients keep getting in.
//!
//! A locked attempt is refused with 429 before its password is checked, so
//! a right guess after the limit does not get in.

use std::net::IpAddr;

use chrono::{Duration, NaiveDateTime};
use diesel::prelude::*;
use diesel::sql_types::{Text, Timestamp};
use serde_json::json;

use super::{AccessToken, AccountRow, AccountStatus, Credentials, MAX_PASSWORD_BYTES, name_key};
use crate::audit::{self, Action, Entry};
use crate::config::ThrottleSettings;
use crate::domain;
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::store::schema::{accounts, login_failures, login_known_clients};
use crate::store::{DbConnection, dialect};

/// The keys one attempt is counted under.
struct Keys {
    pair: String,
    address: Option<String>,
    name: String,
}

impl Keys {
    fn of(name: &str, address: Option<IpAddr>) -> Keys {
        let address = address.map(|a| a.to_string());
        Keys {
            pair: format!("pair:{name}|{}", address.as_deref().unwrap_or("unknown")),
            address: address.map(|a| format!("address:{a}")),
            name: format!("name:{name}"),
        }
    }
}

/// How long until a key's lock lifts, if it is locked now.
fn locked_for(conn: &mut DbConnection, key: &str, now: NaiveDateTime) -> Result<Option<Duration>> {
    let until: Option<Option<NaiveDateTime>> = login_failures::table
        .find(key)
        .select(login_failures::blocked_until)
        .first(conn)
        .optional()?;
    Ok(until.flatten().filter(|u| *u > now).map(|u| u - now))
}

fn is_known_client(
    conn: &mut DbConnection,
    account: &str,
    address: Option<IpAddr>,
) -> Result<bool> {
    let Some(address) = address else {
        return Ok(false);
    };
    let count: i64 = login_known_clients::table
        .filter(login_known_clients::account_id.eq(account))
        .filter(login_known_clients::address.eq(address.to_string()))
        .count()
        .get_result(conn)?;
    Ok(count > 0)
}

/// Refuses while any of the attempt's keys is locked.
fn check(
    conn: &mut DbConnection,
    keys: &Keys,
    account: Option<&str>,
    address: Option<IpAddr>,
) -> Result<()> {
    let now = domain::to_db_time(domain::now());
    let mut waits = vec![locked_for(conn, &keys.pair, now)?];
    if let Some(key) = &keys.address {
        waits.push(locked_for(conn, key, now)?);
    }
    let name_lock = locked_for(conn, &keys.name, now)?;
    if name_lock.is_some() {
        let known = match account {
            Some(account) => is_known_client(conn, account, address)?,
            None => false,
        };
        if !known {
            waits.push(name_lock);
        }
    }
    match waits.into_iter().flatten().max() {
        Some(wait) => Err(too_many(wait)),
        None => Ok(()),
    }
}

/// Counts one failure under `key` and locks it when it reaches `limit`;
/// returns the lock's length when this failure locked it.
fn count_failure(
    conn: &mut DbConnection,
    key: &str,
    limit: u32,
    lock: impl Fn(i32) -> Duration,
    window: Duration,
    now: NaiveDateTime,
) -> Result<Option<Duration>> {
    // Make sure the row exists, then lock it by updating it, so that two
    // instances counting at once each count (PostgreSQL takes the row lock
    // at the update; SQLite's write transaction holds the database).
    diesel::sql_query(dialect::numbered(
        conn,
        "INSERT INTO login_failures (key, failures, window_start) VALUES ($1, 0, $2)
         ON CONFLICT (key) DO NOTHING",
    ))
    .bind::<Text, _>(key)
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    diesel::update(login_failures::table.find(key))
        .set(login_failures::failures.eq(login_failures::failures))
        .execute(conn)?;
    let (failures, window_start, blocked_until): (i32, NaiveDateTime, Option<NaiveDateTime>) =
        login_failures::table
            .find(key)
            .select((
                login_failures::failures,
                login_failures::window_start,
                login_failures::blocked_until,
            ))
            .first(conn)?;
    // A window ends once it has passed and any lock it earned has passed
    // by a window too: backoff survives the window it started in.
    let window_over =
        window_start + window <= now && blocked_until.is_none_or(|until| until + window <= now);
    let (failures, window_start) = if window_over {
        (1, now)
    } else {
        (failures.saturating_add(1), window_start)
    };
    // The failure past the limit is refused outright and locks the key.
    let locked = (failures > limit as i32).then(|| lock(failures - limit as i32 - 1));
    diesel::update(login_failures::table.find(key))
        .set((
            login_failures::failures.eq(failures),
            login_failures::window_start.eq(window_start),
            login_failures::blocked_until.eq(locked.map(|l| now + l).or(blocked_until)),
        ))
        .execute(conn)?;
    Ok(locked)
}

/// Counts a failed attempt under all its keys; the longest lock it set.
fn count_failures(
    conn: &mut DbConnection,
    keys: &Keys,
    settings: &ThrottleSettings,
) -> Result<Option<Duration>> {
    let now = domain::to_db_time(domain::now());
    let window = Duration::seconds(settings.window_secs as i64);
    let cap = Duration::seconds(settings.max_lock_secs as i64);
    let backoff = |beyond: i32| {
        let factor = 1i64 << beyond.clamp(0, 20);
        (window * factor as i32).min(cap)
    };
    let mut locks = vec![count_failure(
        conn,
        &keys.pair,
        settings.failures_per_account,
        backoff,
        window,
        now,
    )?];
    if let Some(key) = &keys.address {
        locks.push(count_failure(
            conn,
            key,
            settings.failures_per_address,
            |_| window,
            window,
            now,
        )?);
    }
    // The name's own lock only counts against unknown clients, so it is
    // not reported to this (possibly known) client as its refusal.
    count_failure(
        conn,
        &keys.name,
        settings.failures_per_name,
        |_| window,
        window,
        now,
    )?;
    Ok(locks.into_iter().flatten().max())
}

fn too_many(wait: Duration) -> Error {
    let secs = wait.num_seconds().max(0) as u64 + u64::from(wait.subsec_nanos() > 0);
    Error::refused(
        Code::TooManyRequests,
        format!("too many failed logins; try again in {secs} s"),
    )
    .with("retry_after", secs.max(1))
}

fn wrong_credentials() -> Error {
    Error::refused(Code::InvalidCredentials, "wrong name or password")
}

/// What a login attempt is recorded as.
fn attempt_entry(
    action: Action,
    account: Option<&AccountRow>,
    name: &str,
    address: Option<IpAddr>,
    outcome: &str,
) -> Result<Entry> {
    let id = account.map(|a| domain::id_from_db(&a.id)).transpose()?;
    // An unknown name is recorded only if it could be a name at all, so
    // that nothing an attacker types reaches the log unchecked.
    let subject = match id {
        Some(id) => id.to_string(),
        None if super::validate_name(name).is_ok() => format!("name:{name}"),
        None => "name:(not a valid name)".to_owned(),
    };
    Ok(Entry {
        actor: id,
        action,
        dataset: None,
        subject,
        parties: id.into_iter().collect(),
        detail: json!({
            "address": address.map(|a| a.to_string()),
            "outcome": outcome,
        }),
    })
}

/// Checks a name and password from `address` and issues an access token.
pub async fn issue_token(
    market: &Market,
    credentials: Credentials,
    address: Option<IpAddr>,
) -> Result<AccessToken> {
    if credentials.password.len() > MAX_PASSWORD_BYTES || credentials.name.len() > 64 {
        return Err(wrong_credentials());
    }
    let name = name_key(&credentials.name);
    let keys = Keys::of(&name, address);
    let row = {
        let name = name.clone();
        let keys = Keys::of(&name, address);
        market
            .db
            .read(move |conn| {
                let row = accounts::table
                    .filter(accounts::name_key.eq(&name))
                    .select(AccountRow::as_select())
                    .first::<AccountRow>(conn)
                    .optional()?;
                check(conn, &keys, row.as_ref().map(|r| r.id.as_str()), address)?;
                Ok(row)
            })
            .await?
    };
    let password = credentials.password;
    let (row, ok) = crate::store::blocking(move || {
        let hash = row
            .as_ref()
            .map_or(super::decoy_hash(), |r| r.password_hash.as_str());
        let ok = super::verify_password(hash, &password) && row.is_some();
        Ok((row, ok))
    })
    .await?;
    let settings = market.settings.throttle.clone();
    match row {
        Some(row) if ok => {
            let suspended = row.status == AccountStatus::Suspended;
            let account = row.id.clone();
            let entry = attempt_entry(
                if suspended {
                    Action::AccountLoginFailed
                } else {
                    Action::AccountLogin
                },
                Some(&row),
                &name,
                address,
                if suspended { "suspended" } else { "ok" },
            )?;
            market
                .db
                .write(move |conn| {
                    if !suspended {
                        diesel::delete(login_failures::table.find(&keys.pair)).execute(conn)?;
                        if let Some(address) = address {
                            remember_client(conn, &account, address)?;
                        }
                    }
                    audit::append(conn, entry.clone())
                })
                .await?;
            if suspended {
                return Err(super::suspended());
            }
            super::access_token_for(market, &row.into_account()?)
        }
        row => {
            let entry = attempt_entry(
                Action::AccountLoginFailed,
                row.as_ref(),
                &name,
                address,
                if row.is_some() {
                    "wrong password"
                } else {
                    "unknown name"
                },
            )?;
            let locked = market
                .db
                .write(move |conn| {
                    let locked = count_failures(conn, &keys, &settings)?;
                    audit::append(conn, entry.clone())?;
                    Ok(locked)
                })
                .await?;
            Err(match locked {
                Some(wait) => too_many(wait),
                None => wrong_credentials(),
            })
        }
    }
}

fn remember_client(conn: &mut DbConnection, account: &str, address: IpAddr) -> Result<()> {
    let now = domain::to_db_time(domain::now());
    diesel::sql_query(dialect::numbered(
        conn,
        "INSERT INTO login_known_clients (account_id, address, last_success) VALUES ($1, $2, $3)
         ON CONFLICT (account_id, address) DO UPDATE SET last_success = excluded.last_success",
    ))
    .bind::<Text, _>(account)
    .bind::<Text, _>(address.to_string())
    .bind::<Timestamp, _>(now)
    .execute(conn)?;
    Ok(())
}
