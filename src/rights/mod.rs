//! The three separated data property rights over a dataset — holding
//! (数据资源持有权), processing (数据加工使用权) and operation (数据产品经营权) —
//! who holds them, how they move, and the one rule book ([`may`]) every
//! other service asks before acting on a dataset.
//!
//! A right's *base* registration (origin `original` or `transfer`) lasts
//! until its holder transfers it. Its holder may also *delegate* it until a
//! time; the delegate then holds it as well, and it falls back when the
//! time passes. Only the base holder moves a right.

pub mod certificate;
pub mod provenance;

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog::{self, DatasetRow};
use crate::domain::{self, Actor, DatasetStatus, Role, market_words};
use crate::error::{Code, Error, Result};
use crate::keys::PlatformKeys;
use crate::market::Market;
use crate::store::DbConnection;
use crate::store::schema::{datasets, rights};

const MAX_NOTE_CHARS: usize = 2_000;

market_words!(
    /// The three separated data property rights.
    RightKind {
        Holding = "holding",
        Processing = "processing",
        Operation = "operation",
    }
);

market_words!(
    /// How a right was obtained.
    RightOrigin {
        Original = "original",
        Transfer = "transfer",
        Delegation = "delegation",
        Licence = "licence",
    }
);

impl RightKind {
    /// The roles an account needs to hold this right.
    fn fitting_roles(self) -> &'static [Role] {
        match self {
            RightKind::Holding | RightKind::Operation => &[Role::Provider],
            RightKind::Processing => &[Role::Provider, Role::Consumer],
        }
    }
}

/// What someone wants to do with a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Act {
    /// Change the listing's description, terms or price (while a draft).
    Edit,
    /// Add a payload version.
    AddVersion,
    /// Put the listing on the market.
    Publish,
    /// Take it off the market.
    Delist,
    /// Download payloads without a grant.
    ReadContent,
    /// Approve or reject access requests.
    DecideAccess,
    /// Transfer or delegate a right of this kind.
    Move(RightKind),
}

/// One registration of a right.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Right {
    /// The registration's id; its certificate is at `/rights/{id}/certificate`.
    pub id: Uuid,
    pub dataset: Uuid,
    pub right: RightKind,
    pub holder: Uuid,
    pub origin: RightOrigin,
    /// Who transferred or delegated it.
    pub granted_by: Option<Uuid>,
    pub note: Option<String>,
    pub since: DateTime<Utc>,
    /// End of a delegation.
    pub until: Option<DateTime<Utc>>,
    /// When a transfer (or a newer delegation) ended it.
    pub ended_at: Option<DateTime<Utc>>,
    /// The current certificate of this registration.
    pub certificate: Option<Uuid>,
}

/// Who holds one right now.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CurrentRight {
    pub right: RightKind,
    /// The account exercising the right now (a delegate while a delegation runs).
    pub holder: Uuid,
    pub origin: RightOrigin,
    pub since: DateTime<Utc>,
    /// End of the delegation, when delegated.
    pub until: Option<DateTime<Utc>>,
    /// The base holder on whose behalf a delegate acts.
    pub delegated_by: Option<Uuid>,
    /// The registration's id.
    pub registration: Uuid,
    pub certificate: Option<Uuid>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DatasetRights {
    pub dataset: Uuid,
    /// One per right kind.
    pub current: Vec<CurrentRight>,
    /// Every registration, oldest first.
    pub history: Vec<Right>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferInput {
    pub right: RightKind,
    /// The receiving account's id.
    pub to: Uuid,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub note: Option<String>,
    /// Delegate until this time instead of transferring for good.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::rights)]
pub(crate) struct RightRow {
    id: String,
    dataset_id: String,
    kind: String,
    holder_id: String,
    origin: String,
    granted_by: Option<String>,
    note: Option<String>,
    since: NaiveDateTime,
    until: Option<NaiveDateTime>,
    ended_at: Option<NaiveDateTime>,
}

impl RightRow {
    fn kind(&self) -> Result<RightKind> {
        RightKind::from_db(&self.kind)
    }

    fn origin(&self) -> Result<RightOrigin> {
        RightOrigin::from_db(&self.origin)
    }

    fn is_delegation(&self) -> bool {
        self.origin == RightOrigin::Delegation.as_str()
    }

    /// Whether the registration is in force at `now`.
    fn in_force(&self, now: NaiveDateTime) -> bool {
        self.ended_at.is_none() && self.until.is_none_or(|until| until > now)
    }

    fn to_right(&self, certificate: Option<Uuid>) -> Result<Right> {
        Ok(Right {
            id: domain::id_from_db(&self.id)?,
            dataset: domain::id_from_db(&self.dataset_id)?,
            right: self.kind()?,
            holder: domain::id_from_db(&self.holder_id)?,
            origin: self.origin()?,
            granted_by: self
                .granted_by
                .as_deref()
                .map(domain::id_from_db)
                .transpose()?,
            note: self.note.clone(),
            since: domain::from_db_time(self.since),
            until: self.until.map(domain::from_db_time),
            ended_at: self.ended_at.map(domain::from_db_time),
            certificate,
        })
    }
}

/// Who holds each right of one dataset at one moment.
pub(crate) struct Holders {
    rows: Vec<RightRow>,
    now: NaiveDateTime,
}

impl Holders {
    /// Loads the registrations still in force (or delegations that ended by
    /// time only, for the record) of `dataset`.
    pub(crate) fn load(conn: &mut DbConnection, dataset: &str) -> Result<Holders> {
        let rows = rights::table
            .filter(rights::dataset_id.eq(dataset))
            .filter(rights::ended_at.is_null())
            .order(rights::since.asc())
            .select(RightRow::as_select())
            .load::<RightRow>(conn)?;
        Ok(Holders {
            rows,
            now: domain::to_db_time(domain::now()),
        })
    }

    /// The base registration of a kind.
    fn base(&self, kind: RightKind) -> Option<&RightRow> {
        self.rows
            .iter()
            .rev()
            .find(|r| r.kind == kind.as_str() && !r.is_delegation())
    }

    /// The running delegation of a kind, if any.
    fn delegation(&self, kind: RightKind) -> Option<&RightRow> {
        self.rows
            .iter()
            .rev()
            .find(|r| r.kind == kind.as_str() && r.is_delegation() && r.in_force(self.now))
    }

    /// Whether `account` holds `kind`: as base holder or as a delegate.
    pub(crate) fn holds(&self, account: Uuid, kind: RightKind) -> bool {
        let id = account.to_string();
        self.base(kind).is_some_and(|r| r.holder_id == id)
            || self.delegation(kind).is_some_and(|r| r.holder_id == id)
    }

    fn holds_any(&self, account: Uuid) -> bool {
        RightKind::ALL.iter().any(|k| self.holds(account, *k))
    }

    fn is_base_holder(&self, account: Uuid, kind: RightKind) -> bool {
        self.base(kind)
            .is_some_and(|r| r.holder_id == account.to_string())
    }
}

/// Whether `actor` may know that the dataset exists: listed ones are
/// public; everything else is for its right holders, its licensees and
/// oversight.
pub(crate) fn can_see(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    row: &DatasetRow,
) -> Result<bool> {
    if row.status == DatasetStatus::Listed.as_str() {
        return Ok(true);
    }
    let Some(actor) = actor else { return Ok(false) };
    if actor.roles.is_oversight() {
        return Ok(true);
    }
    Ok(Holders::load(conn, &row.id)?.holds_any(actor.id)
        || crate::grants::is_licensee(conn, actor, &row.id)?)
}

/// The rule book: which right allows which act.
pub(crate) fn may(
    conn: &mut DbConnection,
    actor: &Actor,
    act: Act,
    row: &DatasetRow,
) -> Result<()> {
    let holders = Holders::load(conn, &row.id)?;
    let holds = |kind| holders.holds(actor.id, kind);
    let (allowed, needs) = match act {
        Act::Edit => (
            holds(RightKind::Holding) || holds(RightKind::Operation),
            "the holding or the operation right",
        ),
        Act::AddVersion => (holds(RightKind::Holding), "the holding right"),
        Act::Publish => (holds(RightKind::Operation), "the operation right"),
        Act::Delist => (
            holds(RightKind::Holding) || holds(RightKind::Operation) || actor.has(Role::Regulator),
            "the holding or the operation right",
        ),
        Act::ReadContent => (
            holds(RightKind::Holding) || holds(RightKind::Processing),
            "the holding or the processing right",
        ),
        Act::DecideAccess => (
            holds(RightKind::Holding) || holds(RightKind::Operation),
            "the holding or the operation right",
        ),
        Act::Move(kind) => (
            holders.is_base_holder(actor.id, kind),
            match kind {
                RightKind::Holding => "to be the registered holder of the holding right",
                RightKind::Processing => "to be the registered holder of the processing right",
                RightKind::Operation => "to be the registered holder of the operation right",
            },
        ),
    };
    if allowed {
        Ok(())
    } else {
        Err(Error::refused(
            Code::NotPermitted,
            format!("this needs {needs}"),
        ))
    }
}

/// Whether `actor` may process `source` into a derived dataset: it holds
/// the holding or the processing right over it, or a grant that allows
/// processing.
pub(crate) fn may_process(
    conn: &mut DbConnection,
    actor: &Actor,
    source: &DatasetRow,
) -> Result<bool> {
    let holders = Holders::load(conn, &source.id)?;
    Ok(holders.holds(actor.id, RightKind::Holding)
        || holders.holds(actor.id, RightKind::Processing)
        || crate::grants::allows_processing(conn, actor, &source.id)?)
}

/// What certificates are signed with.
#[derive(Clone)]
pub(crate) struct Issuer {
    keys: Arc<PlatformKeys>,
    name: String,
}

impl Issuer {
    pub(crate) fn of(market: &Market) -> Issuer {
        Issuer {
            keys: market.keys.clone(),
            name: market.settings.auth.issuer.clone(),
        }
    }
}

/// Registers the creator of a new dataset as holder of all three rights,
/// each with its certificate and audit entry.
pub(crate) fn register_original(
    conn: &mut DbConnection,
    issuer: &Issuer,
    actor: &Actor,
    dataset: &DatasetRow,
) -> Result<Vec<u64>> {
    let mut indexes = Vec::new();
    for kind in RightKind::ALL {
        let right = insert_right(
            conn,
            dataset,
            *kind,
            actor.id,
            RightOrigin::Original,
            None,
            None,
            None,
        )?;
        let certificate = certificate::issue(conn, issuer, &right)?;
        indexes.push(audit::append(
            conn,
            Entry {
                actor: Some(actor.id),
                action: Action::RightRegistered,
                dataset: Some(dataset.uuid()?),
                subject: right.id.clone(),
                parties: vec![],
                detail: json!({
                    "right": kind,
                    "holder": actor.id,
                    "origin": RightOrigin::Original,
                    "certificate": certificate,
                }),
            },
        )?);
    }
    Ok(indexes)
}

#[allow(clippy::too_many_arguments)]
fn insert_right(
    conn: &mut DbConnection,
    dataset: &DatasetRow,
    kind: RightKind,
    holder: Uuid,
    origin: RightOrigin,
    granted_by: Option<Uuid>,
    note: Option<&str>,
    until: Option<NaiveDateTime>,
) -> Result<RightRow> {
    let row = RightRow {
        id: domain::new_id().to_string(),
        dataset_id: dataset.id.clone(),
        kind: kind.as_str().to_owned(),
        holder_id: holder.to_string(),
        origin: origin.as_str().to_owned(),
        granted_by: granted_by.map(|g| g.to_string()),
        note: note.map(str::to_owned),
        since: domain::to_db_time(domain::now()),
        until,
        ended_at: None,
    };
    diesel::insert_into(rights::table)
        .values((
            rights::id.eq(&row.id),
            rights::dataset_id.eq(&row.dataset_id),
            rights::kind.eq(&row.kind),
            rights::holder_id.eq(&row.holder_id),
            rights::origin.eq(&row.origin),
            rights::granted_by.eq(&row.granted_by),
            rights::note.eq(&row.note),
            rights::since.eq(row.since),
            rights::until.eq(row.until),
        ))
        .execute(conn)?;
    Ok(row)
}

/// Transfers a right for good, or delegates it until a time.
pub async fn transfer(
    market: &Market,
    actor: &Actor,
    dataset: Uuid,
    input: TransferInput,
) -> Result<Recorded<Right>> {
    let note = match input.note.as_deref().map(str::trim) {
        Some(n) if n.chars().count() > MAX_NOTE_CHARS => {
            return Err(Error::invalid(
                "note",
                format!("must be at most {MAX_NOTE_CHARS} characters"),
            ));
        }
        Some(n) if !n.is_empty() => Some(n.to_owned()),
        _ => None,
    };
    let until = match input.until {
        Some(until) if until <= Utc::now() => {
            return Err(Error::invalid("until", "must be in the future"));
        }
        other => other.map(|t| domain::to_db_time(t.trunc_subsecs_micros())),
    };
    let issuer = Issuer::of(market);
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = catalog::load_visible(conn, Some(&actor), dataset)?;
            let kind = input.right;
            may(conn, &actor, Act::Move(kind), &row)?;
            if input.to == actor.id {
                return Err(Error::invalid("to", "the right is already yours"));
            }
            let recipient = crate::accounts::find(conn, input.to)
                .map_err(|_| Error::invalid("to", "no account has this id"))?;
            if !kind
                .fitting_roles()
                .iter()
                .any(|r| recipient.roles.contains(r))
            {
                let roles: Vec<_> = kind.fitting_roles().iter().map(|r| r.as_str()).collect();
                return Err(Error::invalid(
                    "to",
                    format!(
                        "holding the {kind} right needs the {} role",
                        roles.join(" or ")
                    ),
                ));
            }
            let now = domain::to_db_time(domain::now());
            let holders = Holders::load(conn, &row.id)?;
            // A transfer ends the base registration and any delegation of the
            // kind; a new delegation replaces a running one.
            let ending: Vec<RightRow> = holders
                .rows
                .iter()
                .filter(|r| r.kind == kind.as_str() && (until.is_none() || r.is_delegation()))
                .cloned()
                .collect();
            let previous = holders.base(kind).map(|r| r.id.clone());
            let origin = if until.is_some() {
                RightOrigin::Delegation
            } else {
                RightOrigin::Transfer
            };
            let new = insert_right(
                conn,
                &row,
                kind,
                input.to,
                origin,
                Some(actor.id),
                note.as_deref(),
                until,
            )?;
            for ended in &ending {
                diesel::update(rights::table.find(&ended.id))
                    .set((rights::ended_at.eq(now), rights::ended_by.eq(&new.id)))
                    .execute(conn)?;
            }
            let certificate = certificate::issue(conn, &issuer, &new)?;
            for ended in &ending {
                certificate::supersede(conn, &ended.id, certificate)?;
            }
            if kind == RightKind::Holding && until.is_none() {
                // The holding right is what makes an account the dataset's owner.
                diesel::update(datasets::table.find(&row.id))
                    .set(datasets::provider_id.eq(input.to.to_string()))
                    .execute(conn)?;
            }
            let action = if until.is_some() {
                Action::RightDelegated
            } else {
                Action::RightTransferred
            };
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action,
                    dataset: Some(dataset),
                    subject: new.id.clone(),
                    parties: vec![input.to, domain::id_from_db(&row.provider_id)?],
                    detail: json!({
                        "right": kind,
                        "from": actor.id,
                        "to": input.to,
                        "previous": previous,
                        "ended": ending.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
                        "until": until.map(|u| domain::format_time(domain::from_db_time(u))),
                        "certificate": certificate,
                        "note": note,
                    }),
                },
            )?;
            Ok(Recorded::new(new.to_right(Some(certificate))?, vec![index]))
        })
        .await
}

/// The current holder of each right of a dataset, and the history.
pub async fn of_dataset(
    market: &Market,
    actor: Option<&Actor>,
    dataset: Uuid,
) -> Result<DatasetRights> {
    let actor = actor.cloned();
    market
        .db
        .read(move |conn| {
            let row = catalog::load_visible(conn, actor.as_ref(), dataset)?;
            let history: Vec<RightRow> = rights::table
                .filter(rights::dataset_id.eq(&row.id))
                .order((rights::since.asc(), rights::id.asc()))
                .select(RightRow::as_select())
                .load(conn)?;
            let current_certificates = certificate::current_by_right(conn, &row.id)?;
            let cert = |r: &RightRow| current_certificates.get(&r.id).copied();
            let holders = Holders::load(conn, &row.id)?;
            let mut current = Vec::new();
            for kind in RightKind::ALL {
                let Some(base) = holders.base(*kind) else {
                    continue;
                };
                let (acting, delegated_by) = match holders.delegation(*kind) {
                    Some(d) => (d, Some(domain::id_from_db(&base.holder_id)?)),
                    None => (base, None),
                };
                current.push(CurrentRight {
                    right: *kind,
                    holder: domain::id_from_db(&acting.holder_id)?,
                    origin: acting.origin()?,
                    since: domain::from_db_time(acting.since),
                    until: acting.until.map(domain::from_db_time),
                    delegated_by,
                    registration: domain::id_from_db(&acting.id)?,
                    certificate: cert(acting),
                });
            }
            let history = history
                .iter()
                .map(|r| r.to_right(cert(r)))
                .collect::<Result<Vec<_>>>()?;
            Ok(DatasetRights {
                dataset,
                current,
                history,
            })
        })
        .await
}

/// One registration, if its dataset is visible to the actor.
pub(crate) fn load_right(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    id: Uuid,
) -> Result<(RightRow, DatasetRow)> {
    let right = rights::table
        .find(id.to_string())
        .select(RightRow::as_select())
        .first::<RightRow>(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("right"))?;
    let dataset = catalog::load_visible(conn, actor, domain::id_from_db(&right.dataset_id)?)
        .map_err(|_| Error::not_found("right"))?;
    Ok((right, dataset))
}

/// Truncation to what both databases store, for values that come from
/// clients rather than from [`domain::now`].
trait TruncMicros {
    fn trunc_subsecs_micros(self) -> Self;
}

impl TruncMicros for DateTime<Utc> {
    fn trunc_subsecs_micros(self) -> Self {
        use chrono::SubsecRound;
        self.trunc_subsecs(6)
    }
}
