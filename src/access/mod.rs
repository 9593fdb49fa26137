//! The rule book: who may do what to which dataset, answered in one place.
//!
//! Every service asks it — the catalog before editing or publishing, the
//! rights service before moving a right, grants before deciding a request
//! or delivering a payload, lineage before drawing a node — and it asks no
//! service: it reads only its own register ([`register`]: the rights and
//! the licences grants confer) and the facts a caller hands it about a
//! dataset ([`Listing`]).

pub mod certificate;
pub mod freezes;
pub mod register;

use std::collections::HashSet;

use uuid::Uuid;

use crate::domain::{Actor, DatasetStatus, RightKind, Role};
use crate::error::{Code, Error, Result};
use crate::store::DbConnection;

pub use register::{Holders, Licence, NewRegistration, Registration};

/// What the rule book needs to know about a dataset, from its owner (the
/// catalog): which one, and where it stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listing {
    pub id: Uuid,
    pub status: DatasetStatus,
}

/// What someone wants to do with a dataset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
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
    /// Approve or reject access requests, and revoke grants.
    DecideAccess,
    /// Put offers on the listing and change them: the operation right.
    Sell,
    /// Transfer or delegate a right of this kind.
    Move(RightKind),
}

/// The rule book: which right allows which act.
pub fn may(conn: &mut DbConnection, actor: &Actor, act: Act, dataset: Uuid) -> Result<()> {
    let holders = Holders::load(conn, dataset)?;
    rule(&holders, actor, act)
}

/// [`can_see`] and then [`may`], from one read of the register: 404 for a
/// dataset the actor may not know of, 403 for one it sees but may not act
/// on.
pub fn require(conn: &mut DbConnection, actor: &Actor, act: Act, dataset: &Listing) -> Result<()> {
    let holders = Holders::load(conn, dataset.id)?;
    let visible = dataset.status == DatasetStatus::Listed
        || actor.roles.is_oversight()
        || holders.holds_any(actor.id)
        || is_licensee(conn, actor, dataset.id)?;
    if !visible {
        return Err(Error::not_found("dataset"));
    }
    rule(&holders, actor, act)
}

fn rule(holders: &Holders, actor: &Actor, act: Act) -> Result<()> {
    let holds = |kind| holders.holds(actor.id, kind);
    let (allowed, needs) = match act {
        Act::Edit => (
            holds(RightKind::Holding) || holds(RightKind::Operation),
            "the holding or the operation right",
        ),
        Act::AddVersion => (holds(RightKind::Holding), "the holding right"),
        Act::Publish | Act::Sell => (holds(RightKind::Operation), "the operation right"),
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

/// Which right lets the actor read the dataset's payloads without a grant:
/// the holding right, else the processing right, else none.
pub fn reading_right(
    conn: &mut DbConnection,
    actor: &Actor,
    dataset: Uuid,
) -> Result<Option<RightKind>> {
    let holders = Holders::load(conn, dataset)?;
    Ok([RightKind::Holding, RightKind::Processing]
        .into_iter()
        .find(|kind| holders.holds(actor.id, *kind)))
}

/// Whether the actor may decide access to the dataset now.
pub fn may_decide(conn: &mut DbConnection, actor: &Actor, dataset: Uuid) -> Result<bool> {
    Ok(may(conn, actor, Act::DecideAccess, dataset).is_ok())
}

/// Whether `actor` may know that the dataset exists: listed ones are
/// public; everything else is for its right holders, its licensees and
/// oversight.
pub fn can_see(conn: &mut DbConnection, actor: Option<&Actor>, dataset: &Listing) -> Result<bool> {
    if dataset.status == DatasetStatus::Listed {
        return Ok(true);
    }
    let Some(actor) = actor else { return Ok(false) };
    if actor.roles.is_oversight() {
        return Ok(true);
    }
    Ok(Holders::load(conn, dataset.id)?.holds_any(actor.id)
        || is_licensee(conn, actor, dataset.id)?)
}

/// Whether `actor` may process `source` into a derived dataset: it holds
/// the holding or the processing right over it, or a licence in force that
/// allows processing.
pub fn may_process(conn: &mut DbConnection, actor: &Actor, source: Uuid) -> Result<bool> {
    let holders = Holders::load(conn, source)?;
    Ok(holders.holds(actor.id, RightKind::Holding)
        || holders.holds(actor.id, RightKind::Processing)
        || register::licensed(conn, actor.id, source, true)?)
}

/// What a product derived from `source` owes it on each sale, in basis
/// points: nothing when the actor holds the holding or processing right
/// itself, else the royalty of the processing licence it holds (the
/// highest, if several are in force).
pub fn processing_royalty(conn: &mut DbConnection, actor: &Actor, source: Uuid) -> Result<u32> {
    let holders = Holders::load(conn, source)?;
    if holders.holds(actor.id, RightKind::Holding) || holders.holds(actor.id, RightKind::Processing)
    {
        return Ok(0);
    }
    register::processing_royalty(conn, actor.id, source)
}

/// Whether `actor` holds a licence over the dataset that has not been
/// revoked or run out, which lets it see the dataset after a delisting.
pub fn is_licensee(conn: &mut DbConnection, actor: &Actor, dataset: Uuid) -> Result<bool> {
    register::licensed(conn, actor.id, dataset, false)
}

/// The datasets among `listings` the actor may see, for drawing graphs
/// and lists without asking once per dataset.
pub fn visible_among(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    listings: &[Listing],
) -> Result<HashSet<Uuid>> {
    let mut visible: HashSet<Uuid> = listings
        .iter()
        .filter(|l| l.status == DatasetStatus::Listed)
        .map(|l| l.id)
        .collect();
    let Some(actor) = actor else {
        return Ok(visible);
    };
    if actor.roles.is_oversight() {
        return Ok(listings.iter().map(|l| l.id).collect());
    }
    let hidden: Vec<Uuid> = listings
        .iter()
        .map(|l| l.id)
        .filter(|id| !visible.contains(id))
        .collect();
    visible.extend(register::held_among(conn, actor.id, &hidden)?);
    Ok(visible)
}

/// The datasets whose access the actor decides now (holding or operation
/// right in force), as a subquery for the lists of incoming requests and
/// administered grants.
pub fn decided_datasets(actor: &Actor) -> register::DecidedDatasets {
    register::decided_datasets(actor.id)
}

/// Refuses with 404 unless the actor may see the dataset, so that drafts
/// do not leak through the difference between 403 and 404.
pub fn require_visible(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    dataset: &Listing,
    what: &str,
) -> Result<()> {
    if can_see(conn, actor, dataset)? {
        Ok(())
    } else {
        Err(Error::not_found(what))
    }
}
