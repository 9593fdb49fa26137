//! Offers: a listing's price plans. An offer is versioned: revising it
//! writes a new version and leaves every earlier one as it was, so an order
//! always reads the terms it bought. Only the holder of the dataset's
//! operation right (数据产品经营权) makes and changes offers.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use super::money::{MAX_AMOUNT, MAX_ROYALTY_BPS, check_currency};
use crate::access::Act;
use crate::audit::{self, Action, Entry, Recorded};
use crate::catalog;
use crate::domain::text::Purpose;
use crate::domain::{self, Actor, DatasetStatus, market_words};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::store::schema::{offer_versions, offers};
use crate::store::{DbConnection, lock_row};

const MAX_PURPOSES: usize = 10;

market_words!(
    /// How an offer charges: once, once per period, or per download.
    Plan {
        OneOff = "one_off",
        Subscription = "subscription",
        Metered = "metered",
    }
);

market_words!(
    /// What a one-off licence covers: every version, or the one that is
    /// latest when it is bought.
    Covers {
        AllVersions = "all_versions",
        LatestVersion = "latest_version",
    }
);

market_words!(
    /// Whether an offer takes orders.
    OfferStatus {
        Active = "active",
        Withdrawn = "withdrawn",
    }
);

/// An amount in a currency's minor units.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Money {
    /// Minor units (fen for CNY): one-off price, price per period, or price
    /// per download.
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub amount: i64,
    #[schema(example = "CNY", pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferInput {
    pub plan: Plan,
    /// One-off licences: every version (default) or the latest at purchase.
    #[serde(default)]
    pub covers: Option<Covers>,
    pub price: Money,
    /// Subscriptions: the length of one paid period.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub period_days: Option<u32>,
    /// One-off and metered licences: how long the grant lasts (default 365).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 3650)]
    pub term_days: Option<u32>,
    /// Downloads the grant allows (per period for subscriptions).
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub max_downloads: u32,
    /// The purposes the licence is for; the grant's policy names them.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub purposes: Vec<String>,
    /// Whether the licensee may process the data into derived datasets.
    pub processing: bool,
    /// Territories abroad (ISO 3166-1 alpha-2) the data may also go to.
    #[serde(default)]
    pub territory: Vec<String>,
    /// Processing licences: what a derived product owes this dataset on
    /// each of its sales, in basis points (at most 9000).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 9000)]
    pub royalty_bps: u32,
    /// Bought without the provider's approval (when no regulator's review
    /// is needed); otherwise each order waits for the provider.
    pub instant: bool,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Offer {
    pub id: Uuid,
    pub dataset: Uuid,
    /// The version these terms are; orders name it.
    pub version: i32,
    /// The offer's current version.
    pub current_version: i32,
    pub status: OfferStatus,
    pub plan: Plan,
    pub covers: Covers,
    pub price: Money,
    pub period_days: Option<u32>,
    pub term_days: u32,
    pub max_downloads: u32,
    pub purposes: Vec<String>,
    pub processing: bool,
    pub territory: Vec<String>,
    pub royalty_bps: u32,
    pub instant: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::offers)]
struct OfferRow {
    id: String,
    dataset_id: String,
    version: i32,
    status: OfferStatus,
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::offer_versions)]
pub(crate) struct OfferVersionRow {
    pub offer_id: String,
    pub version: i32,
    pub plan: Plan,
    pub covers: Covers,
    pub amount: i64,
    pub currency: String,
    pub period_days: Option<i32>,
    pub term_days: i32,
    pub max_downloads: i32,
    pub purposes: String,
    pub processing: bool,
    pub territory: String,
    pub royalty_bps: i32,
    pub instant: bool,
    pub created_at: NaiveDateTime,
}

/// An offer's terms at one version, as orders read them.
#[derive(Clone, Debug)]
pub struct Terms {
    pub offer: Uuid,
    pub version: i32,
    pub dataset: Uuid,
    pub status: OfferStatus,
    pub plan: Plan,
    pub covers: Covers,
    pub amount: i64,
    pub currency: String,
    pub period_days: Option<u32>,
    pub term_days: u32,
    pub max_downloads: u32,
    pub purposes: Vec<String>,
    pub processing: bool,
    pub territory: Vec<String>,
    pub royalty_bps: u32,
    pub instant: bool,
}

impl OfferVersionRow {
    fn terms(&self, head: &OfferRow) -> Result<Terms> {
        let json = |what: &str, text: &str| -> Result<Vec<String>> {
            serde_json::from_str(text)
                .map_err(|e| Error::Internal(format!("stored offer {what}: {e}")))
        };
        Ok(Terms {
            offer: domain::id_from_db(&self.offer_id)?,
            version: self.version,
            dataset: domain::id_from_db(&head.dataset_id)?,
            status: head.status,
            plan: self.plan,
            covers: self.covers,
            amount: self.amount,
            currency: self.currency.clone(),
            period_days: self.period_days.map(|d| d.max(0) as u32),
            term_days: self.term_days.max(0) as u32,
            max_downloads: self.max_downloads.max(0) as u32,
            purposes: json("purposes", &self.purposes)?,
            processing: self.processing,
            territory: json("territory", &self.territory)?,
            royalty_bps: self.royalty_bps.max(0) as u32,
            instant: self.instant,
        })
    }
}

impl Terms {
    fn offer(&self, current_version: i32, created_at: NaiveDateTime) -> Offer {
        Offer {
            id: self.offer,
            dataset: self.dataset,
            version: self.version,
            current_version,
            status: self.status,
            plan: self.plan,
            covers: self.covers,
            price: Money {
                amount: self.amount,
                currency: self.currency.clone(),
            },
            period_days: self.period_days,
            term_days: self.term_days,
            max_downloads: self.max_downloads,
            purposes: self.purposes.clone(),
            processing: self.processing,
            territory: self.territory.clone(),
            royalty_bps: self.royalty_bps,
            instant: self.instant,
            created_at: domain::from_db_time(created_at),
        }
    }
}

/// Checked terms, ready to be written as a version.
struct Checked {
    plan: Plan,
    covers: Covers,
    price: Money,
    period_days: Option<i32>,
    term_days: i32,
    max_downloads: i32,
    purposes: Vec<String>,
    processing: bool,
    territory: Vec<String>,
    royalty_bps: i32,
    instant: bool,
}

fn check(input: &OfferInput, home: &str, max_downloads: u32) -> Result<Checked> {
    check_currency("price.currency", &input.price.currency)?;
    if !(0..=MAX_AMOUNT).contains(&input.price.amount) {
        return Err(Error::invalid(
            "price.amount",
            format!("must be between 0 and {MAX_AMOUNT}"),
        ));
    }
    let period_days = match (input.plan, input.period_days) {
        (Plan::Subscription, Some(days)) if (1..=3650).contains(&days) => Some(days as i32),
        (Plan::Subscription, _) => {
            return Err(Error::invalid(
                "period_days",
                "a subscription names its period, 1 to 3650 days",
            ));
        }
        (_, Some(_)) => {
            return Err(Error::invalid(
                "period_days",
                "only subscriptions have a period",
            ));
        }
        (_, None) => None,
    };
    let term_days = match (input.plan, input.term_days) {
        (Plan::Subscription, Some(_)) => {
            return Err(Error::invalid(
                "term_days",
                "a subscription lasts its period; give period_days",
            ));
        }
        (Plan::Subscription, None) => period_days.unwrap_or(1),
        (_, Some(days)) if (1..=3650).contains(&days) => days as i32,
        (_, Some(_)) => return Err(Error::invalid("term_days", "must be 1 to 3650 days")),
        (_, None) => 365,
    };
    let covers = match (input.plan, input.covers) {
        (Plan::OneOff, covers) => covers.unwrap_or(Covers::AllVersions),
        (_, None | Some(Covers::AllVersions)) => Covers::AllVersions,
        (_, Some(Covers::LatestVersion)) => {
            return Err(Error::invalid(
                "covers",
                "only one-off licences may cover the latest version alone",
            ));
        }
    };
    if !(1..=max_downloads).contains(&input.max_downloads) {
        return Err(Error::invalid(
            "max_downloads",
            format!("must be between 1 and {max_downloads}"),
        ));
    }
    if input.purposes.len() > MAX_PURPOSES {
        return Err(Error::invalid(
            "purposes",
            format!("at most {MAX_PURPOSES} purposes"),
        ));
    }
    let mut purposes = Vec::new();
    for purpose in &input.purposes {
        let purpose = Purpose::parse("purposes", purpose)?.into_string();
        if purpose.is_empty() {
            return Err(Error::invalid("purposes", "a purpose must not be empty"));
        }
        if !purposes.contains(&purpose) {
            purposes.push(purpose);
        }
    }
    let mut territory = Vec::new();
    for t in &input.territory {
        if !domain::is_country_code(t) || t == home {
            return Err(Error::invalid(
                "territory",
                format!("each must be an ISO 3166-1 alpha-2 code other than {home}"),
            ));
        }
        if !territory.contains(t) {
            territory.push(t.clone());
        }
    }
    territory.sort();
    if input.royalty_bps > MAX_ROYALTY_BPS {
        return Err(Error::invalid(
            "royalty_bps",
            format!("must be at most {MAX_ROYALTY_BPS}"),
        ));
    }
    if input.royalty_bps > 0 && !input.processing {
        return Err(Error::invalid(
            "royalty_bps",
            "a royalty is owed by derived products: only processing licences carry one",
        ));
    }
    Ok(Checked {
        plan: input.plan,
        covers,
        price: input.price.clone(),
        period_days,
        term_days,
        max_downloads: input.max_downloads as i32,
        purposes,
        processing: input.processing,
        territory,
        royalty_bps: input.royalty_bps as i32,
        instant: input.instant,
    })
}

fn insert_version(
    conn: &mut DbConnection,
    offer: &str,
    version: i32,
    terms: &Checked,
) -> Result<()> {
    diesel::insert_into(offer_versions::table)
        .values((
            offer_versions::offer_id.eq(offer),
            offer_versions::version.eq(version),
            offer_versions::plan.eq(terms.plan.as_str()),
            offer_versions::covers.eq(terms.covers.as_str()),
            offer_versions::amount.eq(terms.price.amount),
            offer_versions::currency.eq(&terms.price.currency),
            offer_versions::period_days.eq(terms.period_days),
            offer_versions::term_days.eq(terms.term_days),
            offer_versions::max_downloads.eq(terms.max_downloads),
            offer_versions::purposes.eq(json!(terms.purposes).to_string()),
            offer_versions::processing.eq(terms.processing),
            offer_versions::territory.eq(json!(terms.territory).to_string()),
            offer_versions::royalty_bps.eq(terms.royalty_bps),
            offer_versions::instant.eq(terms.instant),
            offer_versions::created_at.eq(domain::to_db_time(domain::now())),
        ))
        .execute(conn)?;
    Ok(())
}

fn load_head(conn: &mut DbConnection, id: Uuid) -> Result<OfferRow> {
    offers::table
        .find(id.to_string())
        .select(OfferRow::as_select())
        .first::<OfferRow>(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("offer"))
}

/// Locks an offer for a change by the holder of its dataset's operation
/// right; others get "not found" or "not permitted" as for the listing.
fn lock_for_change(
    conn: &mut DbConnection,
    actor: &Actor,
    id: Uuid,
) -> Result<(OfferRow, catalog::DatasetRow)> {
    lock_row!(conn, offers, id.to_string());
    let head = load_head(conn, id)?;
    let dataset = domain::id_from_db(&head.dataset_id)?;
    let row = catalog::load_for(conn, actor, dataset, Act::Sell).map_err(|e| {
        if e.code() == Code::NotFound {
            Error::not_found("offer")
        } else {
            e
        }
    })?;
    Ok((head, row))
}

/// An offer's terms at a version (its current one by default), if the
/// actor may see its dataset.
pub(crate) fn terms(
    conn: &mut DbConnection,
    actor: Option<&Actor>,
    id: Uuid,
    version: Option<i32>,
) -> Result<(Terms, OfferHead)> {
    let head = load_head(conn, id)?;
    catalog::load_visible(conn, actor, domain::id_from_db(&head.dataset_id)?)
        .map_err(|_| Error::not_found("offer"))?;
    version_of(conn, &head, version)
}

/// The terms an order bought: its offer at its version, whoever asks.
pub(crate) fn terms_at(conn: &mut DbConnection, id: Uuid, version: i32) -> Result<Terms> {
    let head = load_head(conn, id)?;
    Ok(version_of(conn, &head, Some(version))?.0)
}

fn version_of(
    conn: &mut DbConnection,
    head: &OfferRow,
    version: Option<i32>,
) -> Result<(Terms, OfferHead)> {
    let version = version.unwrap_or(head.version);
    let row = offer_versions::table
        .find((head.id.clone(), version))
        .select(OfferVersionRow::as_select())
        .first::<OfferVersionRow>(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("offer version"))?;
    let terms = row.terms(head)?;
    Ok((
        terms,
        OfferHead {
            current_version: head.version,
            created_at: row.created_at,
        },
    ))
}

/// What else an offer's answer shows.
pub(crate) struct OfferHead {
    pub current_version: i32,
    pub created_at: NaiveDateTime,
}

fn audit_offer(
    conn: &mut DbConnection,
    actor: &Actor,
    action: Action,
    offer: &Offer,
    provider: Uuid,
) -> Result<u64> {
    audit::append(
        conn,
        Entry {
            actor: Some(actor.id),
            action,
            dataset: Some(offer.dataset),
            subject: offer.id.to_string(),
            parties: vec![provider],
            detail: json!({
                "version": offer.version,
                "status": offer.status,
                "plan": offer.plan,
                "price": offer.price,
                "term_days": offer.term_days,
                "period_days": offer.period_days,
                "max_downloads": offer.max_downloads,
                "processing": offer.processing,
                "royalty_bps": offer.royalty_bps,
                "instant": offer.instant,
            }),
        },
    )
}

/// Puts an offer on a listing (the operation right's holder).
pub async fn create(
    market: &Market,
    actor: &Actor,
    dataset: Uuid,
    input: OfferInput,
) -> Result<Recorded<Offer>> {
    let home = market.settings.catalog.home_territory.clone();
    let max_downloads = market.settings.grants.max_downloads;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let row = catalog::load_for(conn, &actor, dataset, Act::Sell)?;
            // Terms are checked for whoever may make them, not for others.
            let checked = check(&input, &home, max_downloads)?;
            if row.status == DatasetStatus::Rejected {
                return Err(Error::refused(
                    Code::InvalidState,
                    "a rejected listing takes no offers",
                ));
            }
            let id = domain::new_id();
            let now = domain::to_db_time(domain::now());
            diesel::insert_into(offers::table)
                .values((
                    offers::id.eq(id.to_string()),
                    offers::dataset_id.eq(dataset.to_string()),
                    offers::version.eq(1),
                    offers::status.eq(OfferStatus::Active.as_str()),
                    offers::created_by.eq(actor.id.to_string()),
                    offers::created_at.eq(now),
                    offers::updated_at.eq(now),
                ))
                .execute(conn)?;
            insert_version(conn, &id.to_string(), 1, &checked)?;
            let (terms, extra) = terms(conn, Some(&actor), id, None)?;
            let offer = terms.offer(extra.current_version, extra.created_at);
            let index = audit_offer(conn, &actor, Action::OfferCreated, &offer, row.provider()?)?;
            Ok(Recorded::new(offer, vec![index]))
        })
        .await
}

/// Writes a new version of an offer's terms; orders placed before keep
/// the version they bought.
pub async fn revise(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: OfferInput,
) -> Result<Recorded<Offer>> {
    let home = market.settings.catalog.home_territory.clone();
    let max_downloads = market.settings.grants.max_downloads;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (head, row) = lock_for_change(conn, &actor, id)?;
            let checked = check(&input, &home, max_downloads)?;
            if head.status != OfferStatus::Active {
                return Err(Error::refused(
                    Code::InvalidState,
                    "a withdrawn offer is not revised; make a new one",
                )
                .with("current_status", head.status.as_str()));
            }
            let version = head.version + 1;
            insert_version(conn, &head.id, version, &checked)?;
            diesel::update(offers::table.find(&head.id))
                .set((
                    offers::version.eq(version),
                    offers::updated_at.eq(domain::to_db_time(domain::now())),
                ))
                .execute(conn)?;
            let (terms, extra) = terms(conn, Some(&actor), id, None)?;
            let offer = terms.offer(extra.current_version, extra.created_at);
            let index = audit_offer(conn, &actor, Action::OfferRevised, &offer, row.provider()?)?;
            Ok(Recorded::new(offer, vec![index]))
        })
        .await
}

/// Stops an offer taking orders; orders already placed go on.
pub async fn withdraw(market: &Market, actor: &Actor, id: Uuid) -> Result<Recorded<Offer>> {
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let (head, row) = lock_for_change(conn, &actor, id)?;
            let changed = diesel::update(
                offers::table
                    .filter(offers::id.eq(&head.id))
                    .filter(offers::status.eq(OfferStatus::Active.as_str())),
            )
            .set((
                offers::status.eq(OfferStatus::Withdrawn.as_str()),
                offers::updated_at.eq(domain::to_db_time(domain::now())),
            ))
            .execute(conn)?;
            if changed != 1 {
                return Err(
                    Error::refused(Code::InvalidState, "the offer is already withdrawn")
                        .with("current_status", OfferStatus::Withdrawn.as_str()),
                );
            }
            let (terms, extra) = terms(conn, Some(&actor), id, None)?;
            let offer = terms.offer(extra.current_version, extra.created_at);
            let index = audit_offer(
                conn,
                &actor,
                Action::OfferWithdrawn,
                &offer,
                row.provider()?,
            )?;
            Ok(Recorded::new(offer, vec![index]))
        })
        .await
}

/// One offer, at its current version or the one asked for.
pub async fn get(
    market: &Market,
    actor: Option<&Actor>,
    id: Uuid,
    version: Option<i32>,
) -> Result<Offer> {
    let actor = actor.cloned();
    market
        .db
        .read(move |conn| {
            let (terms, extra) = terms(conn, actor.as_ref(), id, version)?;
            Ok(terms.offer(extra.current_version, extra.created_at))
        })
        .await
}

/// A listing's active offers, at their current versions, oldest first.
pub async fn of_dataset(
    market: &Market,
    actor: Option<&Actor>,
    dataset: Uuid,
) -> Result<Vec<Offer>> {
    let actor = actor.cloned();
    market
        .db
        .read(move |conn| {
            catalog::load_visible(conn, actor.as_ref(), dataset)?;
            let ids: Vec<String> = offers::table
                .filter(offers::dataset_id.eq(dataset.to_string()))
                .filter(offers::status.eq(OfferStatus::Active.as_str()))
                .order(offers::id.asc())
                .select(offers::id)
                .load(conn)?;
            ids.iter()
                .map(|id| {
                    let (terms, extra) =
                        terms(conn, actor.as_ref(), domain::id_from_db(id)?, None)?;
                    Ok(terms.offer(extra.current_version, extra.created_at))
                })
                .collect()
        })
        .await
}

/// The active offers of several listed datasets, at their current
/// versions, oldest first, by dataset: what the public catalog states.
/// Offers of listings that are not listed are left out.
pub async fn active_of_listed(
    market: &Market,
    datasets: Vec<Uuid>,
) -> Result<std::collections::HashMap<Uuid, Vec<Offer>>> {
    market
        .db
        .read(move |conn| {
            let ids: Vec<String> = datasets.iter().map(Uuid::to_string).collect();
            let mut found: std::collections::HashMap<Uuid, Vec<Offer>> =
                std::collections::HashMap::new();
            for chunk in ids.chunks(500) {
                let listed: Vec<String> = catalog::load_many(conn, chunk)?
                    .into_iter()
                    .filter(|row| row.status == DatasetStatus::Listed)
                    .map(|row| row.id)
                    .collect();
                let heads: Vec<OfferRow> = offers::table
                    .filter(offers::dataset_id.eq_any(&listed))
                    .filter(offers::status.eq(OfferStatus::Active.as_str()))
                    .order(offers::id.asc())
                    .select(OfferRow::as_select())
                    .load(conn)?;
                for head in heads {
                    let (terms, extra) = version_of(conn, &head, None)?;
                    found
                        .entry(terms.dataset)
                        .or_default()
                        .push(terms.offer(extra.current_version, extra.created_at));
                }
            }
            Ok(found)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input() -> OfferInput {
        OfferInput {
            plan: Plan::OneOff,
            covers: None,
            price: Money {
                amount: 9900,
                currency: "CNY".into(),
            },
            period_days: None,
            term_days: None,
            max_downloads: 10,
            purposes: vec!["research".into()],
            processing: false,
            territory: vec![],
            royalty_bps: 0,
            instant: true,
        }
    }

    #[test]
    fn terms_are_checked() {
        assert!(check(&input(), "CN", 100).is_ok());
        let mut bad = input();
        bad.royalty_bps = 500;
        assert!(
            check(&bad, "CN", 100).is_err(),
            "royalty without processing"
        );
        let mut bad = input();
        bad.plan = Plan::Subscription;
        assert!(
            check(&bad, "CN", 100).is_err(),
            "subscription without a period"
        );
        let mut bad = input();
        bad.price.currency = "cny".into();
        assert!(check(&bad, "CN", 100).is_err());
        let mut bad = input();
        bad.territory = vec!["CN".into()];
        assert!(check(&bad, "CN", 100).is_err(), "home is not abroad");
        let mut sub = input();
        sub.plan = Plan::Subscription;
        sub.period_days = Some(30);
        assert_eq!(check(&sub, "CN", 100).unwrap().term_days, 30);
    }
}
