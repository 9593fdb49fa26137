//! Delivery: payloads leave the store only to a holder of the holding or
//! processing right, or under an active grant whose policy holds at that
//! moment. A granted download is counted by one conditional update, so no
//! interleaving of concurrent downloads on any backend can pass the limit,
//! and it is recorded in the same transaction. Every delivery is on the
//! record — a holder's own downloads too — and so is every refusal.
//!
//! Where the data goes is the receiving account's registered territory, not
//! anything the client says; the grant's territory must include it. A
//! version a regulator has not yet reviewed is delivered to its holders
//! only.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::purchases;
use super::rows::GrantRow;
use super::types::GrantStatus;
use crate::access;
use crate::access::freezes::{self, Probe};
use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog::{self, ByteRange, Content, DatasetRow, VersionRow, VersionStatus};
use crate::domain::{self, Actor, RightKind};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::store::schema::grants;
use crate::store::{DbConnection, on_backend, transition};
use crate::tokens::DataClaims;

/// Who asks for a payload.
pub enum Bearer {
    /// An account token.
    Account(Actor),
    /// A data token bound to one grant.
    Data(DataClaims),
}

/// Why a grant does not allow a delivery now, if it does not.
pub(crate) fn refusal(
    row: &GrantRow,
    now: NaiveDateTime,
    territory: Option<&str>,
) -> Result<Option<Error>> {
    let refused = |code, detail: String| {
        Ok(Some(
            Error::refused(code, detail).with("grant", row.id.clone()),
        ))
    };
    match row.status {
        GrantStatus::Revoked => return refused(Code::GrantRevoked, "the grant was revoked".into()),
        GrantStatus::Expired => return refused(Code::GrantExpired, "the grant has expired".into()),
        GrantStatus::Exhausted => {
            return refused(
                Code::GrantExhausted,
                "the grant's downloads are used up".into(),
            );
        }
        GrantStatus::Active => {}
    }
    if now >= row.not_after {
        return refused(
            Code::GrantExpired,
            format!(
                "the grant ended at {}",
                domain::format_time(domain::from_db_time(row.not_after))
            ),
        );
    }
    if now < row.not_before {
        return refused(
            Code::GrantNotYetValid,
            format!(
                "the grant begins at {}",
                domain::format_time(domain::from_db_time(row.not_before))
            ),
        );
    }
    if row.downloads_used >= row.max_downloads {
        return refused(
            Code::GrantExhausted,
            format!("all {} downloads are used", row.max_downloads),
        );
    }
    if let Some(territory) = territory {
        let allowed = row.territory()?;
        if !allowed.iter().any(|t| t == territory) {
            return refused(
                Code::OutsideTerritory,
                format!(
                    "the grant allows delivery to {} only, not {territory}",
                    allowed.join(", ")
                ),
            );
        }
    }
    Ok(None)
}

fn covers(row: &GrantRow, version: i32) -> Option<Error> {
    match row.version {
        Some(pinned) if pinned != version => Some(
            Error::refused(
                Code::NoGrant,
                format!("the grant covers version {pinned} only"),
            )
            .with("grant", row.id.clone()),
        ),
        _ => None,
    }
}

/// Records that an active grant ran past its window.
pub(crate) fn record_expiry(conn: &mut DbConnection, row: &GrantRow) -> Result<Option<u64>> {
    let made = transition!(conn, grants, &row.id,
        status: [GrantStatus::Active] => GrantStatus::Expired);
    if !made.made() {
        return Ok(None);
    }
    row.record(
        conn,
        None,
        Action::GrantExpired,
        json!({ "not_after": domain::format_time(domain::from_db_time(row.not_after)) }),
    )
    .map(Some)
}

/// Records that an active grant's end is near, once: the conditional
/// update on `expiry_noticed_at` makes a second sweep (on this instance or
/// another) change nothing.
pub(crate) fn record_expiry_notice(conn: &mut DbConnection, row: &GrantRow) -> Result<Option<u64>> {
    let now = domain::to_db_time(domain::now());
    let made = diesel::update(
        grants::table
            .filter(grants::id.eq(&row.id))
            .filter(grants::status.eq(GrantStatus::Active))
            .filter(grants::expiry_noticed_at.is_null()),
    )
    .set(grants::expiry_noticed_at.eq(Some(now)))
    .execute(conn)?;
    if made == 0 {
        return Ok(None);
    }
    row.record(
        conn,
        None,
        Action::GrantExpiring,
        json!({ "not_after": domain::format_time(domain::from_db_time(row.not_after)) }),
    )
    .map(Some)
}

/// What the first look decided.
enum Plan {
    /// A right holder: no grant, no count, but on the record.
    Holder {
        version: VersionRow,
        right: RightKind,
        provider: Uuid,
    },
    /// Deliver under this grant, if the count still allows.
    Granted(GrantRow, VersionRow),
    /// Refuse, and record the refusal.
    Refuse {
        grant: Option<GrantRow>,
        error: Error,
    },
}

/// What a request for a payload gets once access is checked.
pub enum Delivery {
    /// The payload, recorded.
    Payload(Recorded<Content>),
    /// The client holds these bytes already (its `If-None-Match` named the
    /// version's SHA-256): nothing is sent, counted or recorded.
    Unchanged { sha256: String },
}

/// Opens a payload for whoever asks, checking rights or the grant.
/// `cached` tells whether the client already holds a payload of the given
/// SHA-256. The bearer's token must be verified; whether its account may
/// still act (exists, is not suspended) is checked here.
pub async fn open(
    market: &Market,
    bearer: Bearer,
    dataset: Uuid,
    number: i32,
    range: Option<ByteRange>,
    cached: impl Fn(&str) -> bool,
) -> Result<Delivery> {
    let actor = match &bearer {
        Bearer::Account(actor) => actor.id,
        Bearer::Data(claims) => claims.sub,
    };
    let home = market.settings.catalog.home_territory.clone();
    let (plan, territory) = market
        .db
        .read_short_many(move |conn| {
            // The token's account is checked here, with the plan that reads
            // it anyway, rather than by a read of its own before.
            let account = crate::accounts::find_acting(conn, actor)?;
            let territory = account.territory_or(&home).to_owned();
            let mut row = None;
            let plan = plan(conn, &bearer, dataset, number, &territory, &mut row)?;
            let destination = (territory != home).then(|| territory.clone());
            Ok((
                unless_frozen(conn, plan, row, actor, dataset, destination)?,
                territory,
            ))
        })
        .await?;
    let unchanged = match &plan {
        Plan::Holder { version, .. } | Plan::Granted(_, version) => {
            cached(&version.sha256).then(|| version.sha256.clone())
        }
        Plan::Refuse { .. } => None,
    };
    if let Some(sha256) = unchanged {
        return Ok(Delivery::Unchanged { sha256 });
    }
    match plan {
        Plan::Holder {
            version,
            right,
            provider,
        } => {
            let content = catalog::fetch(market, dataset, version, range).await?;
            let bytes = content.range.end - content.range.start;
            let sha256 = content.version.sha256.clone();
            let index = market
                .db
                .write(move |conn| {
                    audit::append(
                        conn,
                        Entry {
                            actor: Some(actor),
                            action: Action::DeliveryCompleted,
                            dataset: Some(dataset),
                            subject: format!("{dataset}/{number}"),
                            parties: vec![provider],
                            detail: json!({
                                "right": right,
                                "version": number,
                                "bytes": bytes,
                                "sha256": sha256,
                                "territory": territory,
                            }),
                        },
                    )
                })
                .await?;
            Ok(Delivery::Payload(Recorded::new(content, vec![index])))
        }
        Plan::Refuse { grant, error } => {
            Err(record_refusal(market, actor, dataset, number, &territory, grant, error).await)
        }
        Plan::Granted(grant, version) => {
            // Opened before counting, so that a store failure costs no download.
            let content = catalog::fetch(market, dataset, version, range).await?;
            let bytes = content.range.end - content.range.start;
            let sha256 = content.version.sha256.clone();
            let fee_bps = market.settings.trading.platform_fee_bps;
            let counted = market
                .db
                .write(move |conn| {
                    count(
                        conn, actor, &grant, number, &territory, bytes, &sha256, fee_bps,
                    )
                })
                .await?;
            match counted {
                Ok(indexes) => Ok(Delivery::Payload(Recorded::new(content, indexes))),
                Err(error) => Err(error),
            }
        }
    }
}

/// The plan, or its refusal when a regulator's freeze covers the dataset,
/// either party, the data's class or where it would go. Every delivery
/// passes here, a holder's own included.
fn unless_frozen(
    conn: &mut DbConnection,
    plan: Plan,
    row: Option<DatasetRow>,
    actor: Uuid,
    dataset: Uuid,
    destination: Option<String>,
) -> Result<Plan> {
    if matches!(plan, Plan::Refuse { .. }) {
        return Ok(plan);
    }
    let row = match row {
        Some(row) => row,
        None => catalog::load(conn, dataset)?.ok_or_else(|| Error::not_found("dataset"))?,
    };
    let probe = Probe {
        dataset: Some(dataset),
        accounts: vec![actor, row.provider()?],
        classification: Some(row.classification),
        destination,
    };
    Ok(match freezes::in_force(conn, &probe)? {
        None => plan,
        Some(freeze) => Plan::Refuse {
            grant: match plan {
                Plan::Granted(grant, _) => Some(grant),
                _ => None,
            },
            error: freezes::refusal(&freeze),
        },
    })
}

/// Why a version cannot go out under a grant now, if it cannot.
fn unreviewed(version: &VersionRow, grant: &GrantRow) -> Option<Error> {
    (version.status != VersionStatus::Available).then(|| {
        Error::refused(
            Code::VersionUnderReview,
            format!(
                "version {} is {} and is delivered under grants only once a regulator approves it",
                version.number, version.status
            ),
        )
        .with("grant", grant.id.clone())
    })
}

fn plan(
    conn: &mut DbConnection,
    bearer: &Bearer,
    dataset: Uuid,
    number: i32,
    territory: &str,
    loaded: &mut Option<DatasetRow>,
) -> Result<Plan> {
    let now = domain::to_db_time(domain::now());
    match bearer {
        Bearer::Account(actor) => {
            let row = loaded
                .insert(catalog::load(conn, dataset)?.ok_or_else(|| Error::not_found("dataset"))?);
            if let Some(right) = access::reading_right(conn, actor, dataset)? {
                return Ok(Plan::Holder {
                    version: catalog::find_version(conn, dataset, number)?,
                    right,
                    provider: row.provider()?,
                });
            }
            let held: Vec<GrantRow> = on_backend!(conn, c => grants::table
                .filter(grants::licensee_id.eq(actor.id.to_string()))
                .filter(grants::dataset_id.eq(&row.id))
                .order(grants::id.desc())
                .select(GrantRow::as_select())
                .load(c))?;
            if held.is_empty() {
                if !access::can_see(conn, Some(actor), &row.listing()?)? {
                    return Err(Error::not_found("dataset"));
                }
                catalog::find_version(conn, dataset, number)?;
                return Ok(Plan::Refuse {
                    grant: None,
                    error: Error::refused(
                        Code::NoGrant,
                        "you hold no grant for this dataset: request access first",
                    ),
                });
            }
            let version = catalog::find_version(conn, dataset, number)?;
            let mut first_refusal = None;
            for grant in held {
                match refusal(&grant, now, Some(territory))?
                    .or_else(|| covers(&grant, number))
                    .or_else(|| unreviewed(&version, &grant))
                {
                    None => return Ok(Plan::Granted(grant, version)),
                    Some(error) if first_refusal.is_none() => first_refusal = Some((grant, error)),
                    Some(_) => {}
                }
            }
            let (grant, error) =
                first_refusal.ok_or_else(|| Error::Internal("no grant and no refusal".into()))?;
            Ok(Plan::Refuse {
                grant: Some(grant),
                error,
            })
        }
        Bearer::Data(claims) => {
            let grant = on_backend!(conn, c => grants::table
                .find(claims.grant.to_string())
                .select(GrantRow::as_select())
                .first::<GrantRow>(c)
                .optional())?
            .filter(|g| g.licensee_id == claims.sub.to_string())
            .ok_or_else(|| {
                Error::refused(
                    Code::InvalidToken,
                    "the data token names no grant of its holder",
                )
            })?;
            if claims.dataset != dataset {
                return Ok(Plan::Refuse {
                    grant: Some(grant),
                    error: Error::refused(Code::NoGrant, "this data token is for another dataset"),
                });
            }
            if claims.version.is_some_and(|v| v != number) {
                return Ok(Plan::Refuse {
                    grant: Some(grant),
                    error: Error::refused(Code::NoGrant, "this data token is for another version"),
                });
            }
            let version = catalog::find_version(conn, dataset, number)?;
            match refusal(&grant, now, Some(territory))?
                .or_else(|| covers(&grant, number))
                .or_else(|| unreviewed(&version, &grant))
            {
                None => Ok(Plan::Granted(grant, version)),
                Some(error) => Ok(Plan::Refuse {
                    grant: Some(grant),
                    error,
                }),
            }
        }
    }
}

/// A grant's downloads used and its limit.
type Downloads = (i32, i32);

/// Counts one download with a single conditional update (and charges it,
/// under a metered order), then records it; when the update finds nothing
/// to count, or the buyer cannot pay, records the refusal instead. The
/// inner result is the delivery's verdict; the outer one is the store's.
#[allow(clippy::too_many_arguments)]
fn count(
    conn: &mut DbConnection,
    actor: Uuid,
    grant: &GrantRow,
    version: i32,
    territory: &str,
    bytes: u64,
    sha256: &str,
    fee_bps: u32,
) -> Result<Result<Vec<u64>>> {
    let now = domain::to_db_time(domain::now());
    // The count it took and the limit come back with the update: one
    // statement, where a read after it would be a second round trip.
    let take = |conn: &mut DbConnection| -> Result<Option<(Option<u64>, Downloads)>> {
        let counted: Option<Downloads> = on_backend!(conn, c => crate::store::kept::update(
            grants::table,
            grants::id
                .eq(&grant.id)
                .and(grants::status.eq(GrantStatus::Active))
                .and(grants::downloads_used.lt(grants::max_downloads))
                .and(grants::not_before.le(now))
                .and(grants::not_after.gt(now)),
            grants::downloads_used.eq(grants::downloads_used + 1),
        )
        .returning((grants::downloads_used, grants::max_downloads))
        .get_result(c)
        .optional())?;
        let Some(downloads) = counted else {
            return Ok(None);
        };
        Ok(Some((
            purchases::charge_metered(conn, grant, fee_bps)?,
            downloads,
        )))
    };
    // A download the buyer cannot pay for is not counted: under an order the
    // count and its charge share a savepoint. Without an order nothing can
    // be refused after the count, and the savepoint would cost two more
    // statements (round trips on PostgreSQL) for every download.
    let counted = if grant.order_id.is_some() {
        conn.transaction(take)
    } else {
        take(conn)
    };
    let (charge, (used, limit)) = match counted {
        Ok(Some(counted)) => counted,
        Ok(None) => {
            // Lost a race (most likely for the last download) or the grant
            // changed since the first look: refuse with what it says now.
            let fresh = grants::table
                .find(&grant.id)
                .select(GrantRow::as_select())
                .first::<GrantRow>(conn)?;
            let error = refusal(&fresh, now, Some(territory))?.unwrap_or_else(|| {
                Error::refused(Code::GrantExhausted, "the grant's downloads are used up")
            });
            append_refusal(conn, actor, &fresh, version, territory, &error)?;
            return Ok(Err(error));
        }
        Err(error) if error.code() == Code::InsufficientFunds => {
            append_refusal(conn, actor, grant, version, territory, &error)?;
            return Ok(Err(error));
        }
        Err(error) => return Err(error),
    };
    if used >= limit {
        // The count just taken was the last: only this delivery can see it
        // reach the limit, so the change to exhausted cannot race another.
        let _ = transition!(conn, grants, &grant.id,
            status: [GrantStatus::Active] => GrantStatus::Exhausted);
    }
    let index = grant.record(
        conn,
        Some(actor),
        Action::DeliveryCompleted,
        json!({
            "grant": grant.id,
            "version": version,
            "bytes": bytes,
            "sha256": sha256,
            "territory": territory,
            "download": used,
            "of": limit,
            "charge": charge,
        }),
    )?;
    Ok(Ok(charge.into_iter().chain([index]).collect()))
}

fn append_refusal(
    conn: &mut DbConnection,
    actor: Uuid,
    grant: &GrantRow,
    version: i32,
    territory: &str,
    error: &Error,
) -> Result<u64> {
    if error.code() == Code::GrantExpired {
        record_expiry(conn, grant)?;
    }
    grant.record(
        conn,
        Some(actor),
        Action::DeliveryRefused,
        json!({
            "reason": error.code().slug(),
            "grant": grant.id,
            "version": version,
            "territory": territory,
        }),
    )
}

/// Records a refusal decided at the first look and returns the refusal.
async fn record_refusal(
    market: &Market,
    actor: Uuid,
    dataset: Uuid,
    version: i32,
    territory: &str,
    grant: Option<GrantRow>,
    error: Error,
) -> Error {
    let territory = territory.to_owned();
    let slug = error.code().slug();
    let recorded = market
        .db
        .write(move |conn| match &grant {
            Some(grant) => {
                let refusal =
                    Error::refused(Code::from_slug(slug).unwrap_or(Code::NoGrant), "refused");
                append_refusal(conn, actor, grant, version, &territory, &refusal)
            }
            None => audit::append(
                conn,
                Entry {
                    actor: Some(actor),
                    action: Action::DeliveryRefused,
                    dataset: Some(dataset),
                    subject: dataset.to_string(),
                    parties: vec![],
                    detail: json!({ "reason": slug, "version": version, "territory": territory }),
                },
            ),
        })
        .await;
    match recorded {
        Ok(index) => match error {
            Error::Refused {
                code,
                detail,
                extensions,
            } => Error::Refused {
                code,
                detail,
                extensions,
            }
            .with("audit_index", index),
            other => other,
        },
        Err(store) => store,
    }
}
