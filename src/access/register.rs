//! The register the rule book reads: every registration of a right (who
//! holds which of the three rights over which dataset, since when, how
//! obtained, until when) and every licence a grant confers. The rule book
//! owns these tables; services change them only through the functions here,
//! inside their own transactions, and record the change in the audit log.
//!
//! A right's *base* registration (origin `original` or `transfer`) lasts
//! until its holder transfers it. Its holder may also *delegate* it until a
//! time; the delegate then holds it as well, and it falls back when the
//! time passes. Only the base holder moves a right.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use uuid::Uuid;

use super::certificate::{self, Issuer};
use crate::domain::{self, RightKind, RightOrigin};
use crate::error::{Error, Result};
use crate::store::schema::{licences, rights};
use crate::store::{DbConnection, on_backend};

/// Rows per `IN (…)` list, well under both backends' bind limits.
const CHUNK: usize = 500;

/// One registration of a right.
#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::rights)]
pub struct Registration {
    pub id: String,
    pub dataset_id: String,
    pub kind: RightKind,
    pub holder_id: String,
    pub origin: RightOrigin,
    pub granted_by: Option<String>,
    pub note: Option<String>,
    pub since: NaiveDateTime,
    pub until: Option<NaiveDateTime>,
    pub ended_at: Option<NaiveDateTime>,
}

impl Registration {
    pub fn uuid(&self) -> Result<Uuid> {
        domain::id_from_db(&self.id)
    }

    pub fn holder(&self) -> Result<Uuid> {
        domain::id_from_db(&self.holder_id)
    }

    pub fn dataset(&self) -> Result<Uuid> {
        domain::id_from_db(&self.dataset_id)
    }

    fn is_delegation(&self) -> bool {
        self.origin == RightOrigin::Delegation
    }

    /// Whether the registration is in force at `now`.
    pub fn in_force(&self, now: NaiveDateTime) -> bool {
        self.ended_at.is_none() && self.until.is_none_or(|until| until > now)
    }
}

/// A registration to make.
pub struct NewRegistration<'a> {
    pub dataset: Uuid,
    pub kind: RightKind,
    pub holder: Uuid,
    pub origin: RightOrigin,
    pub granted_by: Option<Uuid>,
    pub note: Option<&'a str>,
    pub until: Option<NaiveDateTime>,
}

/// Who holds each right of one dataset at one moment.
pub struct Holders {
    rows: Vec<Registration>,
    now: NaiveDateTime,
}

impl Holders {
    /// Loads the registrations of `dataset` that no transfer has ended
    /// (delegations that ran out stay, for the record).
    pub fn load(conn: &mut DbConnection, dataset: Uuid) -> Result<Holders> {
        let rows = on_backend!(conn, c => rights::table
            .filter(rights::dataset_id.eq(dataset.to_string()))
            .filter(rights::ended_at.is_null())
            .order(rights::since.asc())
            .select(Registration::as_select())
            .load::<Registration>(c))?;
        Ok(Holders {
            rows,
            now: domain::to_db_time(domain::now()),
        })
    }

    /// The base registration of a kind.
    pub fn base(&self, kind: RightKind) -> Option<&Registration> {
        self.rows
            .iter()
            .rev()
            .find(|r| r.kind == kind && !r.is_delegation())
    }

    /// The running delegation of a kind, if any.
    pub fn delegation(&self, kind: RightKind) -> Option<&Registration> {
        self.rows
            .iter()
            .rev()
            .find(|r| r.kind == kind && r.is_delegation() && r.in_force(self.now))
    }

    /// Whether `account` holds `kind`: as base holder or as a delegate.
    pub fn holds(&self, account: Uuid, kind: RightKind) -> bool {
        let id = account.to_string();
        self.base(kind).is_some_and(|r| r.holder_id == id)
            || self.delegation(kind).is_some_and(|r| r.holder_id == id)
    }

    pub fn holds_any(&self, account: Uuid) -> bool {
        RightKind::ALL.iter().any(|k| self.holds(account, *k))
    }

    pub fn is_base_holder(&self, account: Uuid, kind: RightKind) -> bool {
        self.base(kind)
            .is_some_and(|r| r.holder_id == account.to_string())
    }
}

/// Registers one right.
pub fn register(conn: &mut DbConnection, new: NewRegistration<'_>) -> Result<Registration> {
    let row = Registration {
        id: domain::new_id().to_string(),
        dataset_id: new.dataset.to_string(),
        kind: new.kind,
        holder_id: new.holder.to_string(),
        origin: new.origin,
        granted_by: new.granted_by.map(|g| g.to_string()),
        note: new.note.map(str::to_owned),
        since: domain::to_db_time(domain::now()),
        until: new.until,
        ended_at: None,
    };
    diesel::insert_into(rights::table)
        .values((
            rights::id.eq(&row.id),
            rights::dataset_id.eq(&row.dataset_id),
            rights::kind.eq(row.kind),
            rights::holder_id.eq(&row.holder_id),
            rights::origin.eq(row.origin),
            rights::granted_by.eq(&row.granted_by),
            rights::note.eq(&row.note),
            rights::since.eq(row.since),
            rights::until.eq(row.until),
        ))
        .execute(conn)?;
    Ok(row)
}

/// Registers the creator of a new dataset as holder of all three rights,
/// each with its certificate (a new dataset has no payload yet).
pub fn register_original(
    conn: &mut DbConnection,
    issuer: &Issuer,
    dataset: Uuid,
    holder: Uuid,
) -> Result<Vec<(Registration, Uuid)>> {
    let mut made = Vec::with_capacity(RightKind::ALL.len());
    for kind in RightKind::ALL {
        let registration = register(
            conn,
            NewRegistration {
                dataset,
                kind: *kind,
                holder,
                origin: RightOrigin::Original,
                granted_by: None,
                note: None,
                until: None,
            },
        )?;
        let certificate = certificate::issue(conn, issuer, &registration, None)?;
        made.push((registration, certificate));
    }
    Ok(made)
}

/// What moving a right changed in the register.
pub struct Moved {
    pub registration: Registration,
    /// The registrations it ended.
    pub ended: Vec<Registration>,
    /// The base registration before the move.
    pub previous: Option<String>,
}

/// Moves a right: a transfer (no `until`) ends the base registration and
/// any delegation of the kind; a delegation replaces a running one and
/// leaves the base in place. `seen` is the register as the caller checked
/// it. Returns `None`, having changed nothing, when another move of this
/// right got there first: the base registration is locked before anything
/// is written, and the move goes ahead only if the register still reads as
/// it did when the caller checked it.
pub fn move_right(
    conn: &mut DbConnection,
    seen: &Holders,
    new: NewRegistration<'_>,
) -> Result<Option<Moved>> {
    let kind = new.kind;
    let Some(base) = seen.base(kind) else {
        return Ok(None);
    };
    // A no-op update of the base row: on PostgreSQL it waits for a
    // concurrent move of the same right to commit and then re-checks that
    // the row is still in force; SQLite's write transaction already holds
    // the whole database.
    let locked = diesel::update(
        rights::table
            .filter(rights::id.eq(&base.id))
            .filter(rights::ended_at.is_null()),
    )
    .set(rights::ended_at.eq(None::<NaiveDateTime>))
    .execute(conn)?;
    if locked != 1 {
        return Ok(None);
    }
    let now_register = Holders::load(conn, new.dataset)?;
    let same =
        |a: Option<&Registration>, b: Option<&Registration>| a.map(|r| &r.id) == b.map(|r| &r.id);
    // The mover must still be the base holder in the register as it is
    // once locked, not only in the one it was checked against.
    let mover_holds = new
        .granted_by
        .is_some_and(|mover| now_register.is_base_holder(mover, kind));
    if !mover_holds
        || !same(now_register.base(kind), seen.base(kind))
        || !same(now_register.delegation(kind), seen.delegation(kind))
    {
        return Ok(None);
    }
    let delegating = new.until.is_some();
    let ending: Vec<Registration> = now_register
        .rows
        .iter()
        .filter(|r| r.kind == kind && (!delegating || r.is_delegation()))
        .cloned()
        .collect();
    let previous = Some(base.id.clone());
    let registration = register(conn, new)?;
    let now = domain::to_db_time(domain::now());
    for ended in &ending {
        let changed = diesel::update(
            rights::table
                .filter(rights::id.eq(&ended.id))
                .filter(rights::ended_at.is_null()),
        )
        .set((
            rights::ended_at.eq(now),
            rights::ended_by.eq(&registration.id),
        ))
        .execute(conn)?;
        if changed != 1 {
            return Err(Error::Internal(format!(
                "registration {} ended while its right was locked",
                ended.id
            )));
        }
    }
    Ok(Some(Moved {
        registration,
        ended: ending,
        previous,
    }))
}

/// Every registration of a dataset, oldest first.
pub fn history(conn: &mut DbConnection, dataset: Uuid) -> Result<Vec<Registration>> {
    Ok(rights::table
        .filter(rights::dataset_id.eq(dataset.to_string()))
        .order((rights::since.asc(), rights::id.asc()))
        .select(Registration::as_select())
        .load(conn)?)
}

/// One registration.
pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<Registration>> {
    Ok(rights::table
        .find(id.to_string())
        .select(Registration::as_select())
        .first::<Registration>(conn)
        .optional()?)
}

/// Which of `datasets` the account holds some right over now.
pub(super) fn held_among(
    conn: &mut DbConnection,
    account: Uuid,
    datasets: &[Uuid],
) -> Result<Vec<Uuid>> {
    let now = domain::to_db_time(domain::now());
    let mut held = Vec::new();
    let ids: Vec<String> = datasets.iter().map(Uuid::to_string).collect();
    for chunk in ids.chunks(CHUNK) {
        let found: Vec<String> = rights::table
            .filter(rights::holder_id.eq(account.to_string()))
            .filter(rights::dataset_id.eq_any(chunk))
            .filter(rights::ended_at.is_null())
            .filter(rights::until.is_null().or(rights::until.gt(now)))
            .select(rights::dataset_id)
            .load(conn)?;
        for id in found {
            held.push(domain::id_from_db(&id)?);
        }
    }
    Ok(held)
}

type HeldBy = diesel::dsl::Filter<rights::table, diesel::dsl::Eq<rights::holder_id, String>>;
type HeldDeciding = diesel::dsl::Filter<HeldBy, diesel::dsl::EqAny<rights::kind, [RightKind; 2]>>;
type HeldInForce = diesel::dsl::Filter<
    diesel::dsl::Filter<HeldDeciding, diesel::dsl::IsNull<rights::ended_at>>,
    diesel::dsl::Or<
        diesel::dsl::IsNull<rights::until>,
        diesel::dsl::Gt<rights::until, NaiveDateTime>,
    >,
>;
/// The subquery [`super::decided_datasets`] hands out.
pub type DecidedDatasets = diesel::dsl::Select<HeldInForce, rights::dataset_id>;

pub(super) fn decided_datasets(account: Uuid) -> DecidedDatasets {
    let now = domain::to_db_time(domain::now());
    rights::table
        .filter(rights::holder_id.eq(account.to_string()))
        .filter(rights::kind.eq_any([RightKind::Holding, RightKind::Operation]))
        .filter(rights::ended_at.is_null())
        .filter(rights::until.is_null().or(rights::until.gt(now)))
        .select(rights::dataset_id)
}

// ---------------------------------------------------------------------------
// Licences

/// What a grant confers on its licensee, as the rule book needs to know it:
/// sight of the dataset while the grant lasts, and the processing right
/// when the grant allows processing. The grant itself (its policy, its
/// download count) stays with the grants service.
pub struct Licence {
    /// The grant that confers it.
    pub grant: Uuid,
    pub dataset: Uuid,
    pub licensee: Uuid,
    pub processing: bool,
    pub not_before: NaiveDateTime,
    pub not_after: NaiveDateTime,
    /// For a processing licence bought under an offer: what a product
    /// derived from the dataset owes it on each sale.
    pub royalty_bps: u32,
}

/// Records the licence a new grant confers.
pub fn record_licence(conn: &mut DbConnection, licence: &Licence) -> Result<()> {
    diesel::insert_into(licences::table)
        .values((
            licences::grant_id.eq(licence.grant.to_string()),
            licences::dataset_id.eq(licence.dataset.to_string()),
            licences::licensee_id.eq(licence.licensee.to_string()),
            licences::processing.eq(licence.processing),
            licences::not_before.eq(licence.not_before),
            licences::not_after.eq(licence.not_after),
            licences::royalty_bps.eq(licence.royalty_bps as i32),
        ))
        .execute(conn)?;
    Ok(())
}

/// Every account that holds or held a licence over one of `datasets`, with
/// the dataset: whoever may have a copy.
pub fn licensees_of(conn: &mut DbConnection, datasets: &[Uuid]) -> Result<Vec<(Uuid, Uuid)>> {
    let mut found = Vec::new();
    let ids: Vec<String> = datasets.iter().map(Uuid::to_string).collect();
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String)> = licences::table
            .filter(licences::dataset_id.eq_any(chunk))
            .select((licences::dataset_id, licences::licensee_id))
            .distinct()
            .load(conn)?;
        for (dataset, account) in rows {
            found.push((domain::id_from_db(&dataset)?, domain::id_from_db(&account)?));
        }
    }
    found.sort();
    Ok(found)
}

/// The highest royalty among the account's processing licences in force
/// over the dataset.
pub(super) fn processing_royalty(
    conn: &mut DbConnection,
    account: Uuid,
    dataset: Uuid,
) -> Result<u32> {
    let now = domain::to_db_time(domain::now());
    let bps: Option<i32> = licences::table
        .filter(licences::licensee_id.eq(account.to_string()))
        .filter(licences::dataset_id.eq(dataset.to_string()))
        .filter(licences::ended_at.is_null())
        .filter(licences::processing.eq(true))
        .filter(licences::not_before.le(now))
        .filter(licences::not_after.gt(now))
        .select(diesel::dsl::max(licences::royalty_bps))
        .first(conn)?;
    Ok(bps.unwrap_or(0).max(0) as u32)
}

/// Ends the licence of a revoked grant.
pub fn end_licence(conn: &mut DbConnection, grant: Uuid, at: NaiveDateTime) -> Result<()> {
    let ended = diesel::update(
        licences::table
            .filter(licences::grant_id.eq(grant.to_string()))
            .filter(licences::ended_at.is_null()),
    )
    .set(licences::ended_at.eq(at))
    .execute(conn)?;
    if ended == 1 {
        Ok(())
    } else {
        Err(Error::Internal(format!(
            "grant {grant} has no licence in force to end"
        )))
    }
}

/// Whether the account holds a licence over the dataset that is not
/// ended and not run out; with `processing`, one that allows processing
/// and has begun.
pub(super) fn licensed(
    conn: &mut DbConnection,
    account: Uuid,
    dataset: Uuid,
    processing: bool,
) -> Result<bool> {
    let now = domain::to_db_time(domain::now());
    let mut query = licences::table
        .filter(licences::licensee_id.eq(account.to_string()))
        .filter(licences::dataset_id.eq(dataset.to_string()))
        .filter(licences::ended_at.is_null())
        .filter(licences::not_after.gt(now))
        .into_boxed();
    if processing {
        query = query
            .filter(licences::processing.eq(true))
            .filter(licences::not_before.le(now));
    }
    let count: i64 = query.count().get_result(conn)?;
    Ok(count > 0)
}
