//! Complaints: any participant complains about a listing, a grant or an
//! account; the complaint waits in the regulators' queue until one of them
//! upholds or dismisses it, and both sides find the outcome in their inbox.
//!
//! Who complained and what they wrote stays between the complainant and
//! oversight: the respondent learns only the outcome.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::{Notice, post};
use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog;
use crate::domain::text::{ComplaintText, Reason};
use crate::domain::{self, Actor, Role, market_words};
use crate::error::{Code, Error, Result};
use crate::grants::licences::load_grant_visible;
use crate::market::Market;
use crate::page;
use crate::store::DbConnection;
use crate::store::schema::complaints;

market_words!(
    /// What a complaint is about.
    ComplaintSubject {
        Listing = "listing",
        Grant = "grant",
        Account = "account",
    }
);

market_words!(
    /// Where a complaint is: in the queue, or decided.
    ComplaintState {
        Open = "open",
        Upheld = "upheld",
        Dismissed = "dismissed",
    }
);

market_words!(
    /// A regulator's decision on a complaint.
    ComplaintOutcome {
        Upheld = "upheld",
        Dismissed = "dismissed",
    }
);

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplaintInput {
    pub subject: ComplaintSubject,
    /// The listing's (dataset's), grant's or account's id.
    pub id: Uuid,
    #[schema(min_length = 1, max_length = 4000)]
    pub description: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionInput {
    pub outcome: ComplaintOutcome,
    /// What was found, and what follows.
    #[schema(min_length = 1, max_length = 2000)]
    pub note: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Complaint {
    pub id: Uuid,
    pub complainant: Uuid,
    pub subject: ComplaintSubject,
    pub subject_id: Uuid,
    /// Whom it is about: the listing's provider, the grant's other party, or
    /// the account itself.
    pub respondent: Uuid,
    /// The dataset concerned, for a listing or a grant.
    pub dataset: Option<Uuid>,
    pub description: String,
    pub state: ComplaintState,
    pub filed_at: DateTime<Utc>,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ComplaintPage {
    pub items: Vec<Complaint>,
    pub next_cursor: Option<String>,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = crate::store::schema::complaints)]
struct ComplaintRow {
    id: String,
    complainant_id: String,
    subject_kind: ComplaintSubject,
    subject_id: String,
    respondent_id: String,
    dataset_id: Option<String>,
    description: String,
    state: ComplaintState,
    filed_at: NaiveDateTime,
    decided_by: Option<String>,
    decided_at: Option<NaiveDateTime>,
    outcome: Option<String>,
}

impl ComplaintRow {
    fn to_complaint(&self) -> Result<Complaint> {
        let id = |s: &Option<String>| s.as_deref().map(domain::id_from_db).transpose();
        Ok(Complaint {
            id: domain::id_from_db(&self.id)?,
            complainant: domain::id_from_db(&self.complainant_id)?,
            subject: self.subject_kind,
            subject_id: domain::id_from_db(&self.subject_id)?,
            respondent: domain::id_from_db(&self.respondent_id)?,
            dataset: id(&self.dataset_id)?,
            description: self.description.clone(),
            state: self.state,
            filed_at: domain::from_db_time(self.filed_at),
            decided_by: id(&self.decided_by)?,
            decided_at: self.decided_at.map(domain::from_db_time),
            outcome: self.outcome.clone(),
        })
    }
}

/// A complaint the actor may read: its complainant's, or any for oversight.
fn load_visible(conn: &mut DbConnection, actor: &Actor, id: Uuid) -> Result<ComplaintRow> {
    complaints::table
        .find(id.to_string())
        .select(ComplaintRow::as_select())
        .first::<ComplaintRow>(conn)
        .optional()?
        .filter(|row| actor.roles.is_oversight() || row.complainant_id == actor.id.to_string())
        .ok_or_else(|| Error::not_found("complaint"))
}

/// Where a complaint belongs: the respondent's region and, for a listing or
/// a grant, the dataset's sector.
fn place_of(
    conn: &mut DbConnection,
    row: &ComplaintRow,
) -> Result<(Option<String>, Option<&'static str>)> {
    let region = crate::accounts::region_of(conn, domain::id_from_db(&row.respondent_id)?)?;
    let sector = match &row.dataset_id {
        Some(id) => catalog::load(conn, domain::id_from_db(id)?)?.and_then(|d| d.sector_name()),
        None => None,
    };
    Ok((region, sector))
}

/// A regulator decides only complaints in its jurisdiction.
fn require_within(conn: &mut DbConnection, actor: &Actor, row: &ComplaintRow) -> Result<()> {
    let (region, sector) = place_of(conn, row)?;
    crate::accounts::require_within(conn, actor, region.as_deref(), sector)
}

/// Whom a complaint is about, and the dataset concerned. The subject must
/// be one the complainant may know of: a listing they can see, a grant they
/// are party to or administer, an existing account.
fn respondent(
    conn: &mut DbConnection,
    actor: &Actor,
    subject: ComplaintSubject,
    id: Uuid,
) -> Result<(Uuid, Option<Uuid>)> {
    match subject {
        ComplaintSubject::Listing => {
            let row = catalog::load_visible(conn, Some(actor), id)?;
            Ok((row.provider()?, Some(id)))
        }
        ComplaintSubject::Grant => {
            let (grant, dataset) = load_grant_visible(conn, actor, id)?;
            let licensee = domain::id_from_db(&grant.licensee_id)?;
            let other = if licensee == actor.id {
                domain::id_from_db(&grant.licensor_id)?
            } else {
                licensee
            };
            Ok((other, Some(dataset.uuid()?)))
        }
        ComplaintSubject::Account => {
            crate::accounts::find(conn, id).map_err(|_| Error::not_found("account"))?;
            Ok((id, None))
        }
    }
}

/// A participant files a complaint; it enters the regulators' queue.
pub async fn file(
    market: &Market,
    actor: &Actor,
    input: ComplaintInput,
) -> Result<Recorded<Complaint>> {
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (respondent, dataset) = respondent(conn, &actor, input.subject, input.id)?;
            let description = ComplaintText::parse("description", &input.description)?;
            if respondent == actor.id {
                return Err(Error::invalid(
                    "id",
                    "a complaint is about someone else: this one would be about you",
                ));
            }
            let id = domain::new_id();
            diesel::insert_into(complaints::table)
                .values((
                    complaints::id.eq(id.to_string()),
                    complaints::complainant_id.eq(actor.id.to_string()),
                    complaints::subject_kind.eq(input.subject),
                    complaints::subject_id.eq(input.id.to_string()),
                    complaints::respondent_id.eq(respondent.to_string()),
                    complaints::dataset_id.eq(dataset.map(|d| d.to_string())),
                    complaints::description.eq(description.as_str()),
                    complaints::state.eq(ComplaintState::Open),
                    complaints::filed_at.eq(domain::to_db_time(domain::now())),
                ))
                .execute(conn)?;
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::ComplaintFiled,
                    dataset,
                    subject: id.to_string(),
                    // The respondent is not told who complained, nor what
                    // was said: only the outcome reaches them.
                    parties: vec![actor.id],
                    detail: json!({
                        "subject": input.subject,
                        "id": input.id,
                        "respondent": respondent,
                        "description": description,
                    }),
                },
            )?;
            let row = load_visible(conn, &actor, id)?;
            Ok(Recorded::new(row.to_complaint()?, vec![index]))
        })
        .await
}

/// A regulator upholds or dismisses an open complaint, once.
pub async fn decide(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: DecisionInput,
) -> Result<Recorded<Complaint>> {
    actor.require_any(&[Role::Regulator])?;
    let note = Reason::parse("note", &input.note)?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let before = load_visible(conn, &actor, id)?;
            require_within(conn, &actor, &before)?;
            let now = domain::to_db_time(domain::now());
            let changed = diesel::update(
                complaints::table
                    .filter(complaints::id.eq(id.to_string()))
                    .filter(complaints::state.eq(ComplaintState::Open)),
            )
            .set((
                complaints::state.eq(match input.outcome {
                    ComplaintOutcome::Upheld => ComplaintState::Upheld,
                    ComplaintOutcome::Dismissed => ComplaintState::Dismissed,
                }),
                complaints::decided_by.eq(Some(actor.id.to_string())),
                complaints::decided_at.eq(Some(now)),
                complaints::outcome.eq(Some(note.as_str())),
            ))
            .execute(conn)?;
            if changed == 0 {
                return Err(Error::refused(
                    Code::InvalidState,
                    "the complaint was decided already",
                )
                .with("current_state", before.state.as_str()));
            }
            let complaint = load_visible(conn, &actor, id)?.to_complaint()?;
            let body = format!(
                "complaint {id} about {} {} was {}: {note}",
                complaint.subject, complaint.subject_id, input.outcome
            );
            let tell = |account: Uuid, concerns: &str| Notice {
                account,
                kind: "complaint",
                incident: None,
                complaint: Some(id),
                dataset: complaint.dataset,
                concerns: concerns.to_owned(),
                body: body.clone(),
            };
            post(
                conn,
                now,
                [
                    tell(complaint.complainant, "you filed it"),
                    tell(complaint.respondent, "it was about you"),
                ],
            )?;
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::ComplaintDecided,
                    dataset: complaint.dataset,
                    subject: id.to_string(),
                    parties: vec![complaint.complainant, complaint.respondent],
                    detail: json!({
                        "outcome": input.outcome,
                        "note": note,
                        "subject": complaint.subject,
                        "id": complaint.subject_id,
                        "respondent": complaint.respondent,
                    }),
                },
            )?;
            Ok(Recorded::new(complaint, vec![index]))
        })
        .await
}

pub async fn get(market: &Market, actor: &Actor, id: Uuid) -> Result<Complaint> {
    let actor = actor.clone();
    market
        .db
        .read(move |conn| load_visible(conn, &actor, id)?.to_complaint())
        .await
}

/// The regulators' queue and record (oversight: every complaint), or the
/// complaints the actor filed; newest first.
pub async fn list(
    market: &Market,
    actor: &Actor,
    state: Option<ComplaintState>,
    limit: u32,
    cursor: Option<String>,
) -> Result<ComplaintPage> {
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let mut query = complaints::table
                .order(complaints::id.desc())
                .limit(i64::from(limit) + 1)
                .select(ComplaintRow::as_select())
                .into_boxed();
            if !actor.roles.is_oversight() {
                query = query.filter(complaints::complainant_id.eq(actor.id.to_string()));
            }
            // A regulator's queue is what falls in its jurisdiction.
            let scope = crate::accounts::jurisdiction_of(conn, &actor)?;
            if actor.roles.contains(Role::Regulator) && !actor.roles.contains(Role::Auditor) {
                if let Some(regions) = scope.regions() {
                    query = query.filter(
                        complaints::respondent_id
                            .eq_any(crate::accounts::in_regions(regions.to_vec())),
                    );
                }
                if let Some(sectors) = scope.sectors() {
                    query = query.filter(
                        complaints::dataset_id
                            .assume_not_null()
                            .eq_any(catalog::in_sectors(sectors)),
                    );
                }
            }
            if let Some(state) = state {
                query = query.filter(complaints::state.eq(state));
            }
            if let Some(cursor) = cursor {
                query = query.filter(complaints::id.lt(cursor.to_string()));
            }
            let rows: Vec<ComplaintRow> = query.load(conn)?;
            let (rows, next_cursor) = page::split(rows, limit, |r| &r.id);
            Ok(ComplaintPage {
                items: rows
                    .iter()
                    .map(ComplaintRow::to_complaint)
                    .collect::<Result<_>>()?,
                next_cursor,
            })
        })
        .await
}
