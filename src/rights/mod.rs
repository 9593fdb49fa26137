//! The rights service: moving the three separated data property rights
//! (transfers and time-limited delegations), who holds them now and who
//! held them, and their registration certificates ([`certificate`]). The
//! register itself and the rule that says who may move a right belong to
//! the rule book ([`crate::access`]); this service decides, records and
//! answers.

pub mod certificate;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::access::certificate::{self as certificates, Issuer};
use crate::access::register::{self, Holders, NewRegistration, Registration};
use crate::access::{self, Act};
use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog::{self, DatasetRow};
use crate::domain::text::Note;
pub use crate::domain::{RightKind, RightOrigin};

use crate::domain::{self, Actor};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::store::DbConnection;

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

fn to_right(row: &Registration, certificate: Option<Uuid>) -> Result<Right> {
    Ok(Right {
        id: row.uuid()?,
        dataset: row.dataset()?,
        right: row.kind,
        holder: row.holder()?,
        origin: row.origin,
        granted_by: row
            .granted_by
            .as_deref()
            .map(domain::id_from_db)
            .transpose()?,
        note: row.note.clone(),
        since: domain::from_db_time(row.since),
        until: row.until.map(domain::from_db_time),
        ended_at: row.ended_at.map(domain::from_db_time),
        certificate,
    })
}

/// Transfers a right for good, or delegates it until a time.
pub async fn transfer(
    market: &Market,
    actor: &Actor,
    dataset: Uuid,
    input: TransferInput,
) -> Result<Recorded<Right>> {
    let note = Note::parse_optional("note", input.note.as_deref())?;
    let until = match input.until {
        Some(until) if until <= Utc::now() => {
            return Err(Error::invalid("until", "must be in the future"));
        }
        other => other.map(|t| domain::to_db_time(t.trunc_subsecs_micros())),
    };
    let issuer = Issuer::new(market.keys.clone(), market.settings.auth.issuer.clone());
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = catalog::load_visible(conn, Some(&actor), dataset)?;
            let kind = input.right;
            access::may(conn, &actor, Act::Move(kind), dataset)?;
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
            let holders = Holders::load(conn, dataset)?;
            let origin = if until.is_some() {
                RightOrigin::Delegation
            } else {
                RightOrigin::Transfer
            };
            let Some(moved) = register::move_right(
                conn,
                &holders,
                NewRegistration {
                    dataset,
                    kind,
                    holder: input.to,
                    origin,
                    granted_by: Some(actor.id),
                    note: note.as_ref().map(Note::as_str),
                    until,
                },
            )?
            else {
                let now = Holders::load(conn, dataset)?;
                let holder = now.base(kind).map(|r| r.holder_id.clone());
                return Err(Error::refused(
                    Code::InvalidState,
                    format!("the {kind} right was moved by another request meanwhile"),
                )
                .with("current_holder", holder));
            };
            let payload = catalog::latest_sha256(conn, dataset)?;
            let certificate = certificates::issue(conn, &issuer, &moved.registration, payload)?;
            for ended in &moved.ended {
                certificates::supersede(conn, &ended.id, certificate)?;
            }
            if kind == RightKind::Holding && until.is_none() {
                // The holding right is what makes an account the dataset's owner.
                catalog::set_provider(conn, dataset, input.to)?;
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
                    subject: moved.registration.id.clone(),
                    parties: vec![input.to, row.provider()?],
                    detail: json!({
                        "right": kind,
                        "from": actor.id,
                        "to": input.to,
                        "previous": moved.previous,
                        "ended": moved.ended.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
                        "until": until.map(|u| domain::format_time(domain::from_db_time(u))),
                        "certificate": certificate,
                        "note": note,
                    }),
                },
            )?;
            Ok(Recorded::new(
                to_right(&moved.registration, Some(certificate))?,
                vec![index],
            ))
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
            catalog::load_visible(conn, actor.as_ref(), dataset)?;
            let history = register::history(conn, dataset)?;
            let current_certificates = certificates::current_by_registration(conn, dataset)?;
            let cert = |r: &Registration| current_certificates.get(&r.id).copied();
            let holders = Holders::load(conn, dataset)?;
            let mut current = Vec::new();
            for kind in RightKind::ALL {
                let Some(base) = holders.base(*kind) else {
                    continue;
                };
                let (acting, delegated_by) = match holders.delegation(*kind) {
                    Some(d) => (d, Some(base.holder()?)),
                    None => (base, None),
                };
                current.push(CurrentRight {
                    right: *kind,
                    holder: acting.holder()?,
                    origin: acting.origin,
                    since: domain::from_db_time(acting.since),
                    until: acting.until.map(domain::from_db_time),
                    delegated_by,
                    registration: acting.uuid()?,
                    certificate: cert(acting),
                });
            }
            let history = history
                .iter()
                .map(|r| to_right(r, cert(r)))
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
fn load_right(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    id: Uuid,
) -> Result<(Registration, DatasetRow)> {
    let right = register::find(conn, id)?.ok_or_else(|| Error::not_found("right"))?;
    let dataset = catalog::load_visible(conn, actor, right.dataset()?)
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
