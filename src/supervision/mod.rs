//! Supervision: a regulator's emergency response. **Freezes** stop every
//! delivery, grant and sale under them (the rule book's
//! [`crate::access::freezes`] register, which the delivery path, grants and
//! orders ask); **incidents** recorded against a dataset walk the lineage
//! downstream and tell every licensee and every derived dataset's provider,
//! through a per-account **inbox**.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::access::freezes::{self, Freeze, FreezeScope};
use crate::access::{self, Act};
use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog;
use crate::domain::text::{IncidentText, Reason};
use crate::domain::{self, Actor, Classification, Role, market_words};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::page;
use crate::store::DbConnection;
use crate::store::schema::{inbox_messages, incidents};

pub mod alerts;
pub mod complaints;
pub mod compliance;
pub mod statistics;
pub mod watch;

pub use watch::spawn_watch;

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FreezeInput {
    pub scope: FreezeScope,
    /// A dataset's or an account's id, a classification (`general`,
    /// `important`, `core`), or a country code (ISO 3166-1 alpha-2) abroad.
    pub target: String,
    pub reason: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LiftInput {
    pub reason: String,
}

/// Checks what a freeze is to stop, and gives it as the register matches
/// it: a dataset's or an account's id in its one canonical spelling (an id
/// typed in capitals or braces would otherwise freeze nothing).
fn canonical_target(
    conn: &mut DbConnection,
    scope: FreezeScope,
    target: &str,
    home: &str,
) -> Result<String> {
    match scope {
        FreezeScope::Dataset => {
            let id = Uuid::parse_str(target)
                .map_err(|_| Error::invalid("target", "must be a dataset's id"))?;
            catalog::load(conn, id)?
                .ok_or_else(|| Error::invalid("target", "no dataset has this id"))?;
            Ok(id.to_string())
        }
        FreezeScope::Account => {
            let id = Uuid::parse_str(target)
                .map_err(|_| Error::invalid("target", "must be an account's id"))?;
            crate::accounts::find(conn, id)
                .map_err(|_| Error::invalid("target", "no account has this id"))?;
            Ok(id.to_string())
        }
        FreezeScope::Classification => {
            Classification::from_db(target)
                .map_err(|_| Error::invalid("target", "must be general, important or core"))?;
            Ok(target.to_owned())
        }
        FreezeScope::Destination => {
            if !domain::is_country_code(target) || target == home {
                return Err(Error::invalid(
                    "target",
                    format!("must be an ISO 3166-1 alpha-2 code other than {home}"),
                ));
            }
            Ok(target.to_owned())
        }
    }
}

/// The rule on jurisdictions for freezes: a dataset's freeze is for the
/// regulators of its provider's region and its sector, an account's for
/// those of its region (not limited to a sector: an account trades across
/// sectors), and a whole class or destination for a regulator of the
/// whole market.
fn require_within_freeze(
    conn: &mut DbConnection,
    actor: &Actor,
    scope: FreezeScope,
    target: &str,
) -> Result<()> {
    match scope {
        FreezeScope::Dataset => {
            let id = domain::id_from_db(target)?;
            let row = catalog::load(conn, id)?.ok_or_else(|| Error::not_found("dataset"))?;
            catalog::require_within(conn, actor, &row)
        }
        FreezeScope::Account => {
            let region = crate::accounts::region_of(conn, domain::id_from_db(target)?)?;
            crate::accounts::require_within(conn, actor, region.as_deref(), None)
        }
        FreezeScope::Classification | FreezeScope::Destination => {
            crate::accounts::require_within(conn, actor, None, None)
        }
    }
}

/// The audit entry of a freeze imposed or lifted: the frozen dataset, and
/// the frozen account or the frozen dataset's provider as a party.
fn record_freeze(
    conn: &mut DbConnection,
    actor: &Actor,
    action: Action,
    freeze: &Freeze,
    reason: &Reason,
) -> Result<u64> {
    let (dataset, parties) = match freeze.scope {
        FreezeScope::Dataset => {
            let id = domain::id_from_db(&freeze.target)?;
            let provider = catalog::load(conn, id)?.map(|d| d.provider()).transpose()?;
            (Some(id), provider.into_iter().collect())
        }
        FreezeScope::Account => (None, vec![domain::id_from_db(&freeze.target)?]),
        FreezeScope::Classification | FreezeScope::Destination => (None, vec![]),
    };
    audit::append(
        conn,
        Entry {
            actor: Some(actor.id),
            action,
            dataset,
            subject: freeze.id.to_string(),
            parties,
            detail: json!({ "scope": freeze.scope, "target": freeze.target, "reason": reason }),
        },
    )
}

/// A regulator freezes a dataset, an account, a class of data or a
/// destination: from the next request on, on every instance, nothing under
/// it is delivered, granted or sold.
pub async fn freeze(
    market: &Market,
    actor: &Actor,
    input: FreezeInput,
) -> Result<Recorded<Freeze>> {
    actor.require_any(&[Role::Regulator])?;
    let reason = Reason::parse("reason", &input.reason)?;
    let home = market.settings.catalog.home_territory.clone();
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let target = canonical_target(conn, input.scope, input.target.trim(), &home)?;
            require_within_freeze(conn, &actor, input.scope, &target)?;
            let freeze = freezes::freeze(conn, input.scope, &target, reason.as_str(), actor.id)?;
            let index = record_freeze(conn, &actor, Action::FreezeImposed, &freeze, &reason)?;
            Ok(Recorded::new(freeze, vec![index]))
        })
        .await
}

/// A regulator lifts a freeze in force.
pub async fn lift(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: LiftInput,
) -> Result<Recorded<Freeze>> {
    actor.require_any(&[Role::Regulator])?;
    let reason = Reason::parse("reason", &input.reason)?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let found = freezes::find(conn, id)?.ok_or_else(|| Error::not_found("freeze"))?;
            require_within_freeze(conn, &actor, found.scope, &found.target)?;
            let Some(freeze) = freezes::lift(conn, id, reason.as_str(), actor.id)? else {
                return Err(
                    Error::refused(Code::InvalidState, "the freeze was lifted already")
                        .with("current_state", "lifted"),
                );
            };
            let index = record_freeze(conn, &actor, Action::FreezeLifted, &freeze, &reason)?;
            Ok(Recorded::new(freeze, vec![index]))
        })
        .await
}

/// Freezes, newest first (regulators and auditors): those in force, or all.
pub async fn list_freezes(market: &Market, actor: &Actor, all: bool) -> Result<Vec<Freeze>> {
    audit::require_oversight(actor)?;
    market.db.read(move |conn| freezes::list(conn, !all)).await
}

market_words!(
    /// What kind of incident.
    IncidentKind {
        Leak = "leak",
        Poisoned = "poisoned",
        Misuse = "misuse",
        Other = "other",
    }
);

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentInput {
    pub kind: IncidentKind,
    #[schema(min_length = 1, max_length = 4000)]
    pub description: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Incident {
    pub id: Uuid,
    pub dataset: Uuid,
    pub kind: IncidentKind,
    pub description: String,
    pub reported_by: Uuid,
    pub reported_at: DateTime<Utc>,
    /// Datasets derived from it, at any depth, that the notice reached.
    pub datasets_reached: u32,
    /// Accounts told in their inbox.
    pub accounts_notified: u32,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = crate::store::schema::incidents)]
struct IncidentRow {
    id: String,
    dataset_id: String,
    kind: IncidentKind,
    description: String,
    reported_by: String,
    reported_at: NaiveDateTime,
    datasets_reached: i32,
    accounts_notified: i32,
}

impl IncidentRow {
    fn to_incident(&self) -> Result<Incident> {
        Ok(Incident {
            id: domain::id_from_db(&self.id)?,
            dataset: domain::id_from_db(&self.dataset_id)?,
            kind: self.kind,
            description: self.description.clone(),
            reported_by: domain::id_from_db(&self.reported_by)?,
            reported_at: domain::from_db_time(self.reported_at),
            datasets_reached: self.datasets_reached.max(0) as u32,
            accounts_notified: self.accounts_notified.max(0) as u32,
        })
    }
}

/// Why an incident's notice concerns an account.
fn concern(
    notices: &mut std::collections::BTreeMap<Uuid, Vec<String>>,
    account: Uuid,
    why: String,
) {
    let reasons = notices.entry(account).or_default();
    if !reasons.contains(&why) {
        reasons.push(why);
    }
}

/// Records an incident against a dataset (a regulator, or a holder of its
/// holding or operation right) and tells everyone downstream: every
/// licensee of it or of a dataset derived from it, at any depth, and every
/// derived dataset's provider — in the incident's transaction.
pub async fn record_incident(
    market: &Market,
    actor: &Actor,
    dataset: Uuid,
    input: IncidentInput,
) -> Result<Recorded<Incident>> {
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let source = catalog::load_for(conn, &actor, dataset, Act::Delist)?;
            let description = IncidentText::parse("description", &input.description)?;
            let downstream = catalog::lineage::downstream(conn, dataset)?;
            let mut notices = std::collections::BTreeMap::new();
            concern(
                &mut notices,
                source.provider()?,
                format!("provider of {dataset}"),
            );
            for derived in &downstream {
                if let Some(row) = catalog::load(conn, *derived)? {
                    concern(
                        &mut notices,
                        row.provider()?,
                        format!("provider of {derived}, derived from {dataset}"),
                    );
                }
            }
            let mut reached = downstream.clone();
            reached.push(dataset);
            for (licensed, licensee) in access::register::licensees_of(conn, &reached)? {
                concern(&mut notices, licensee, format!("licensee of {licensed}"));
            }
            notices.remove(&actor.id);
            let id = domain::new_id();
            let now = domain::to_db_time(domain::now());
            diesel::insert_into(incidents::table)
                .values((
                    incidents::id.eq(id.to_string()),
                    incidents::dataset_id.eq(dataset.to_string()),
                    incidents::kind.eq(input.kind),
                    incidents::description.eq(description.as_str()),
                    incidents::reported_by.eq(actor.id.to_string()),
                    incidents::reported_at.eq(now),
                    incidents::datasets_reached.eq(downstream.len() as i32),
                    incidents::accounts_notified.eq(notices.len() as i32),
                ))
                .execute(conn)?;
            let body = format!(
                "{} incident on dataset {dataset}: {description}",
                input.kind
            );
            let messages = notices.iter().map(|(account, why)| Notice {
                account: *account,
                kind: "incident",
                incident: Some(id),
                complaint: None,
                dataset: Some(dataset),
                concerns: why.join("; "),
                body: body.clone(),
            });
            post(conn, now, messages)?;
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::IncidentRecorded,
                    dataset: Some(dataset),
                    subject: id.to_string(),
                    // Everyone told is a party, and may prove the notice.
                    parties: notices.keys().copied().collect(),
                    detail: json!({
                        "kind": input.kind,
                        "description": description,
                        "downstream": downstream,
                    }),
                },
            )?;
            let row = incidents::table
                .find(id.to_string())
                .select(IncidentRow::as_select())
                .first::<IncidentRow>(conn)?;
            Ok(Recorded::new(row.to_incident()?, vec![index]))
        })
        .await
}

/// One message for one account's inbox.
struct Notice {
    account: Uuid,
    kind: &'static str,
    incident: Option<Uuid>,
    complaint: Option<Uuid>,
    dataset: Option<Uuid>,
    concerns: String,
    body: String,
}

/// Puts messages in their accounts' inboxes, in the caller's transaction.
fn post(
    conn: &mut DbConnection,
    now: NaiveDateTime,
    notices: impl IntoIterator<Item = Notice>,
) -> Result<()> {
    let id = |v: Option<Uuid>| v.map(|v| v.to_string());
    let rows: Vec<_> = notices
        .into_iter()
        .map(|n| {
            (
                inbox_messages::id.eq(domain::new_id().to_string()),
                inbox_messages::account_id.eq(n.account.to_string()),
                inbox_messages::kind.eq(n.kind),
                inbox_messages::incident_id.eq(id(n.incident)),
                inbox_messages::complaint_id.eq(id(n.complaint)),
                inbox_messages::dataset_id.eq(id(n.dataset)),
                inbox_messages::concerns.eq(n.concerns),
                inbox_messages::body.eq(n.body),
                inbox_messages::created_at.eq(now),
            )
        })
        .collect();
    crate::store::insert_rows!(conn, inbox_messages::table, rows);
    Ok(())
}

/// Incidents, newest first (regulators and auditors).
pub async fn list_incidents(market: &Market, actor: &Actor) -> Result<Vec<Incident>> {
    audit::require_oversight(actor)?;
    market
        .db
        .read(|conn| {
            incidents::table
                .order(incidents::id.desc())
                .select(IncidentRow::as_select())
                .load::<IncidentRow>(conn)?
                .iter()
                .map(IncidentRow::to_incident)
                .collect()
        })
        .await
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct InboxMessage {
    pub id: Uuid,
    /// `incident`, or `complaint` (a decision on a complaint you filed or
    /// that was about you).
    pub kind: String,
    pub incident: Option<Uuid>,
    pub complaint: Option<Uuid>,
    pub dataset: Option<Uuid>,
    /// Why it concerns you (e.g. "licensee of …").
    pub concerns: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct InboxPage {
    pub items: Vec<InboxMessage>,
    pub next_cursor: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = crate::store::schema::inbox_messages)]
struct MessageRow {
    id: String,
    kind: String,
    incident_id: Option<String>,
    complaint_id: Option<String>,
    dataset_id: Option<String>,
    concerns: String,
    body: String,
    created_at: NaiveDateTime,
    read_at: Option<NaiveDateTime>,
}

impl MessageRow {
    fn to_message(&self) -> Result<InboxMessage> {
        let id = |s: &Option<String>| s.as_deref().map(domain::id_from_db).transpose();
        Ok(InboxMessage {
            id: domain::id_from_db(&self.id)?,
            kind: self.kind.clone(),
            incident: id(&self.incident_id)?,
            complaint: id(&self.complaint_id)?,
            dataset: id(&self.dataset_id)?,
            concerns: self.concerns.clone(),
            body: self.body.clone(),
            created_at: domain::from_db_time(self.created_at),
            read_at: self.read_at.map(domain::from_db_time),
        })
    }
}

fn load_message(conn: &mut DbConnection, account: Uuid, id: Uuid) -> Result<MessageRow> {
    inbox_messages::table
        .filter(inbox_messages::id.eq(id.to_string()))
        .filter(inbox_messages::account_id.eq(account.to_string()))
        .select(MessageRow::as_select())
        .first::<MessageRow>(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("message"))
}

/// The actor's inbox, newest first.
pub async fn inbox(
    market: &Market,
    actor: &Actor,
    unread_only: bool,
    limit: u32,
    cursor: Option<String>,
) -> Result<InboxPage> {
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let account = actor.id;
    market
        .db
        .read(move |conn| {
            let mut query = inbox_messages::table
                .filter(inbox_messages::account_id.eq(account.to_string()))
                .order(inbox_messages::id.desc())
                .limit(i64::from(limit) + 1)
                .select(MessageRow::as_select())
                .into_boxed();
            if unread_only {
                query = query.filter(inbox_messages::read_at.is_null());
            }
            if let Some(cursor) = cursor {
                query = query.filter(inbox_messages::id.lt(cursor.to_string()));
            }
            let rows: Vec<MessageRow> = query.load(conn)?;
            let (rows, next_cursor) = page::split(rows, limit, |r| &r.id);
            Ok(InboxPage {
                items: rows
                    .iter()
                    .map(MessageRow::to_message)
                    .collect::<Result<_>>()?,
                next_cursor,
            })
        })
        .await
}

/// Marks a message read (once; reading it again changes nothing).
pub async fn mark_read(market: &Market, actor: &Actor, id: Uuid) -> Result<InboxMessage> {
    let account = actor.id;
    market
        .db
        .write(move |conn| {
            load_message(conn, account, id)?;
            diesel::update(
                inbox_messages::table
                    .filter(inbox_messages::id.eq(id.to_string()))
                    .filter(inbox_messages::read_at.is_null()),
            )
            .set(inbox_messages::read_at.eq(domain::to_db_time(domain::now())))
            .execute(conn)?;
            load_message(conn, account, id)?.to_message()
        })
        .await
}
