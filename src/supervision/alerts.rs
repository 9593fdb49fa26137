//! Alerts: what the early-warning watch ([`super::watch`]) raises, with the
//! audit indexes that set it off, for regulators to acknowledge and resolve.
//! `open → acknowledged → resolved`, or `open → resolved`; a resolved alert
//! says whether it was confirmed, which counts against the participant it
//! concerns in its compliance record.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::audit::{self, Action, Entry, Recorded};
use crate::domain::jurisdiction::Jurisdiction;
use crate::domain::text::Reason;
use crate::domain::{self, Actor, Role, market_words};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::page;
use crate::store::schema::alerts;
use crate::store::{DbConnection, transition};

market_words!(
    /// The early-warning rule that raised an alert.
    AlertRule {
        DeliverySurge = "delivery_surge",
        PersonalDataSweep = "personal_data_sweep",
        RefusedDeliveries = "refused_deliveries",
        CrossBorderImportant = "cross_border_important",
        DowngradedAfterReview = "downgraded_after_review",
    }
);

market_words!(
    /// What an alert is about.
    AlertSubject {
        Grant = "grant",
        Account = "account",
        Dataset = "dataset",
        Destination = "destination",
    }
);

market_words!(
    /// Where an alert is in its life.
    AlertState {
        Open = "open",
        Acknowledged = "acknowledged",
        Resolved = "resolved",
    }
);

market_words!(
    /// What a regulator found.
    AlertOutcome {
        Confirmed = "confirmed",
        Unfounded = "unfounded",
    }
);

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveInput {
    pub outcome: AlertOutcome,
    /// What was found, and what was done.
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Alert {
    pub id: Uuid,
    pub rule: AlertRule,
    pub subject_kind: AlertSubject,
    /// The grant's, account's or dataset's id, or the destination's country
    /// code.
    pub subject: String,
    /// The participant it concerns.
    pub account: Option<Uuid>,
    pub dataset: Option<Uuid>,
    /// The concerned participant's region and the dataset's sector, which
    /// decide whose jurisdiction it falls in.
    pub region: Option<String>,
    pub sector: Option<String>,
    pub summary: String,
    /// The audit log indexes that set it off, oldest first.
    pub evidence: Vec<u64>,
    pub state: AlertState,
    pub raised_at: DateTime<Utc>,
    pub acknowledged_by: Option<Uuid>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<Uuid>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub outcome: Option<AlertOutcome>,
    pub note: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AlertPage {
    pub items: Vec<Alert>,
    pub next_cursor: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = crate::store::schema::alerts)]
struct AlertRow {
    id: String,
    rule: AlertRule,
    subject_kind: AlertSubject,
    subject: String,
    account_id: Option<String>,
    dataset_id: Option<String>,
    region: Option<String>,
    sector: Option<String>,
    summary: String,
    evidence: String,
    state: AlertState,
    raised_at: NaiveDateTime,
    acknowledged_by: Option<String>,
    acknowledged_at: Option<NaiveDateTime>,
    resolved_by: Option<String>,
    resolved_at: Option<NaiveDateTime>,
    outcome: Option<AlertOutcome>,
    note: Option<String>,
}

impl AlertRow {
    fn to_alert(&self) -> Result<Alert> {
        let id = |s: &Option<String>| s.as_deref().map(domain::id_from_db).transpose();
        Ok(Alert {
            id: domain::id_from_db(&self.id)?,
            rule: self.rule,
            subject_kind: self.subject_kind,
            subject: self.subject.clone(),
            account: id(&self.account_id)?,
            dataset: id(&self.dataset_id)?,
            region: self.region.clone(),
            sector: self.sector.clone(),
            summary: self.summary.clone(),
            evidence: serde_json::from_str(&self.evidence)
                .map_err(|e| Error::Internal(format!("stored evidence: {e}")))?,
            state: self.state,
            raised_at: domain::from_db_time(self.raised_at),
            acknowledged_by: id(&self.acknowledged_by)?,
            acknowledged_at: self.acknowledged_at.map(domain::from_db_time),
            resolved_by: id(&self.resolved_by)?,
            resolved_at: self.resolved_at.map(domain::from_db_time),
            outcome: self.outcome,
            note: self.note.clone(),
        })
    }

    /// Whether a regulator may see and act on it.
    fn covered_by(&self, actor: &Actor, scope: &Jurisdiction) -> bool {
        actor.has(Role::Auditor) || scope.covers(self.region.as_deref(), self.sector.as_deref())
    }
}

/// What a rule found, to be raised as an alert.
#[derive(Clone)]
pub(super) struct Raise {
    pub rule: AlertRule,
    pub subject_kind: AlertSubject,
    pub subject: String,
    pub account: Option<Uuid>,
    pub dataset: Option<Uuid>,
    pub region: Option<String>,
    pub sector: Option<String>,
    pub summary: String,
    pub evidence: Vec<u64>,
    /// The figures the rule compared with its threshold.
    pub figures: Value,
    /// How many of the evidence entries must be newer than the resolution
    /// of the last alert about the same subject: the rule's threshold, so
    /// that a resolved alert is raised again only on new facts, not on
    /// those a regulator already looked into.
    pub fresh: usize,
}

/// Where alerts of one rule about one subject stand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Standing {
    /// None was ever raised.
    Never,
    /// One is open or acknowledged: no other is raised until it is resolved.
    InForce,
    /// All were resolved: another is raised only on fresh evidence.
    Resolved,
}

/// Two reads at most, each served by `alerts_by_subject` (rule, subject,
/// state). The bound `state <> ?` keeps the statement prepared; it cannot
/// use the partial index `alerts_in_force`, which only keeps two alerts
/// in force from being raised at once.
pub(super) fn standing(
    conn: &mut DbConnection,
    rule: AlertRule,
    subject: &str,
) -> Result<Standing> {
    let in_force: Option<String> = alerts::table
        .filter(alerts::rule.eq(rule))
        .filter(alerts::subject.eq(subject))
        .filter(alerts::state.ne(AlertState::Resolved))
        .select(alerts::id)
        .first(conn)
        .optional()?;
    if in_force.is_some() {
        return Ok(Standing::InForce);
    }
    let any: Option<String> = alerts::table
        .filter(alerts::rule.eq(rule))
        .filter(alerts::subject.eq(subject))
        .select(alerts::id)
        .first(conn)
        .optional()?;
    Ok(if any.is_some() {
        Standing::Resolved
    } else {
        Standing::Never
    })
}

/// Raises an alert, unless one from the same rule about the same subject is
/// still in force; returns its audit index when raised.
pub(super) fn raise(conn: &mut DbConnection, mut found: Raise) -> Result<Option<u64>> {
    let standing = standing(conn, found.rule, &found.subject)?;
    if standing == Standing::InForce {
        return Ok(None);
    }
    // A resolved alert is raised again only on entries logged after its
    // resolution.
    let resolved: Vec<String> = if standing == Standing::Never {
        Vec::new()
    } else {
        alerts::table
            .filter(alerts::rule.eq(found.rule))
            .filter(alerts::subject.eq(&found.subject))
            .filter(alerts::state.eq(AlertState::Resolved))
            .order(alerts::resolved_at.desc())
            .limit(1)
            .select(alerts::id)
            .load(conn)?
    };
    if !resolved.is_empty() {
        let resolution = audit::window::indexes_about(conn, Action::AlertResolved, &resolved)?
            .into_iter()
            .max();
        let new = found
            .evidence
            .iter()
            .filter(|i| Some(**i) > resolution)
            .count();
        if new < found.fresh {
            return Ok(None);
        }
    }
    found.evidence.sort_unstable();
    found.evidence.dedup();
    let id = domain::new_id();
    let evidence = serde_json::to_string(&found.evidence)
        .map_err(|e| Error::Internal(format!("evidence: {e}")))?;
    diesel::insert_into(alerts::table)
        .values((
            alerts::id.eq(id.to_string()),
            alerts::rule.eq(found.rule),
            alerts::subject_kind.eq(found.subject_kind),
            alerts::subject.eq(&found.subject),
            alerts::account_id.eq(found.account.map(|a| a.to_string())),
            alerts::dataset_id.eq(found.dataset.map(|d| d.to_string())),
            alerts::region.eq(&found.region),
            alerts::sector.eq(&found.sector),
            alerts::summary.eq(&found.summary),
            alerts::evidence.eq(evidence),
            alerts::state.eq(AlertState::Open),
            alerts::raised_at.eq(domain::to_db_time(domain::now())),
        ))
        .execute(conn)?;
    // The participant concerned is not a party: an alert is for oversight
    // until a regulator has looked into it.
    audit::append(
        conn,
        Entry {
            actor: None,
            action: Action::AlertRaised,
            dataset: found.dataset,
            subject: id.to_string(),
            parties: vec![],
            detail: json!({
                "rule": found.rule,
                "subject_kind": found.subject_kind,
                "subject": found.subject,
                "account": found.account,
                "region": found.region,
                "sector": found.sector,
                "summary": found.summary,
                "evidence": found.evidence,
                "figures": found.figures,
            }),
        },
    )
    .map(Some)
}

/// An alert the actor may read: oversight only, a regulator within its
/// jurisdiction.
fn load_visible(conn: &mut DbConnection, actor: &Actor, id: Uuid) -> Result<AlertRow> {
    audit::require_oversight(actor)?;
    let scope = crate::accounts::jurisdiction_of(conn, actor)?;
    alerts::table
        .find(id.to_string())
        .select(AlertRow::as_select())
        .first::<AlertRow>(conn)
        .optional()?
        .filter(|row| row.covered_by(actor, &scope))
        .ok_or_else(|| Error::not_found("alert"))
}

fn record(
    conn: &mut DbConnection,
    actor: &Actor,
    action: Action,
    row: &AlertRow,
    detail: Value,
) -> Result<u64> {
    audit::append(
        conn,
        Entry {
            actor: Some(actor.id),
            action,
            dataset: row
                .dataset_id
                .as_deref()
                .map(domain::id_from_db)
                .transpose()?,
            subject: row.id.clone(),
            parties: vec![],
            detail,
        },
    )
}

fn decided_already(row: &AlertRow, what: &str) -> Error {
    Error::refused(
        Code::InvalidState,
        format!("the alert is {}: it cannot be {what}", row.state),
    )
    .with("current_state", row.state.as_str())
}

/// A regulator takes an open alert on.
pub async fn acknowledge(market: &Market, actor: &Actor, id: Uuid) -> Result<Recorded<Alert>> {
    actor.require_any(&[Role::Regulator])?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = load_visible(conn, &actor, id)?;
            // Reading is oversight's; acting is the jurisdiction's, even for
            // a regulator that is an auditor too.
            crate::accounts::require_within(
                conn,
                &actor,
                row.region.as_deref(),
                row.sector.as_deref(),
            )?;
            let now = domain::to_db_time(domain::now());
            let made = transition!(conn, alerts, &row.id,
                state: [AlertState::Open] => AlertState::Acknowledged,
                acknowledged_by = Some(actor.id.to_string()),
                acknowledged_at = Some(now));
            if !made.made() {
                return Err(decided_already(
                    &load_visible(conn, &actor, id)?,
                    "acknowledged",
                ));
            }
            let index = record(
                conn,
                &actor,
                Action::AlertAcknowledged,
                &row,
                json!({ "rule": row.rule, "subject": row.subject }),
            )?;
            let alert = load_visible(conn, &actor, id)?.to_alert()?;
            Ok(Recorded::new(alert, vec![index]))
        })
        .await
}

/// A regulator closes an alert, confirmed or unfounded, with a note.
pub async fn resolve(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: ResolveInput,
) -> Result<Recorded<Alert>> {
    actor.require_any(&[Role::Regulator])?;
    let note = Reason::parse("note", &input.note)?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = load_visible(conn, &actor, id)?;
            // Reading is oversight's; acting is the jurisdiction's, even for
            // a regulator that is an auditor too.
            crate::accounts::require_within(
                conn,
                &actor,
                row.region.as_deref(),
                row.sector.as_deref(),
            )?;
            let now = domain::to_db_time(domain::now());
            let made = transition!(conn, alerts, &row.id,
                state: [AlertState::Open, AlertState::Acknowledged] => AlertState::Resolved,
                resolved_by = Some(actor.id.to_string()),
                resolved_at = Some(now),
                outcome = Some(input.outcome),
                note = Some(note.as_str()));
            if !made.made() {
                return Err(decided_already(
                    &load_visible(conn, &actor, id)?,
                    "resolved",
                ));
            }
            let index = record(
                conn,
                &actor,
                Action::AlertResolved,
                &row,
                json!({
                    "rule": row.rule,
                    "subject": row.subject,
                    "account": row.account_id,
                    "outcome": input.outcome,
                    "note": note,
                }),
            )?;
            let alert = load_visible(conn, &actor, id)?.to_alert()?;
            Ok(Recorded::new(alert, vec![index]))
        })
        .await
}

pub async fn get(market: &Market, actor: &Actor, id: Uuid) -> Result<Alert> {
    let actor = actor.clone();
    market
        .db
        .read(move |conn| load_visible(conn, &actor, id)?.to_alert())
        .await
}

/// Alerts, newest first (oversight; a regulator sees those in its
/// jurisdiction).
pub async fn list(
    market: &Market,
    actor: &Actor,
    state: Option<AlertState>,
    limit: u32,
    cursor: Option<String>,
) -> Result<AlertPage> {
    audit::require_oversight(actor)?;
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let scope = crate::accounts::jurisdiction_of(conn, &actor)?;
            let mut query = alerts::table
                .order(alerts::id.desc())
                .select(AlertRow::as_select())
                .into_boxed();
            if let Some(state) = state {
                query = query.filter(alerts::state.eq(state));
            }
            if let Some(cursor) = cursor {
                query = query.filter(alerts::id.lt(cursor.to_string()));
            }
            if !actor.has(Role::Auditor) {
                if let Some(regions) = scope.regions() {
                    query = query.filter(alerts::region.eq_any(regions.to_vec()));
                }
                if let Some(sectors) = scope.sectors() {
                    query = query.filter(alerts::sector.eq_any(sectors.to_vec()));
                }
            }
            let rows: Vec<AlertRow> = query.limit(i64::from(limit) + 1).load(conn)?;
            let (rows, next_cursor) = page::split(rows, limit, |r| &r.id);
            Ok(AlertPage {
                items: rows.iter().map(AlertRow::to_alert).collect::<Result<_>>()?,
                next_cursor,
            })
        })
        .await
}

/// Alerts about an account that a regulator confirmed.
pub fn confirmed_about(conn: &mut DbConnection, account: Uuid) -> Result<i64> {
    Ok(alerts::table
        .filter(alerts::account_id.eq(account.to_string()))
        .filter(alerts::outcome.eq(AlertOutcome::Confirmed))
        .count()
        .get_result(conn)?)
}
