//! Listings and their lifecycle: `draft → listed` (general data) or
//! `draft → pending_review → listed | rejected` (important data);
//! `listed | pending_review → delisted`; a delisted listing may be published
//! again, a rejected one is edited back to draft first. Core data is never
//! listed.

use diesel::prelude::*;
use serde_json::json;
use uuid::Uuid;

use super::lineage;
use super::rows::{DatasetRow, audit_dataset, invalid_state, load, load_locked_for, load_visible};
use super::types::{Dataset, DatasetPatch, DelistInput, NewDataset, Price, ReviewInput};
use crate::access::certificate::Issuer;
use crate::access::{self, Act};
use crate::audit::{self, Action, Entry, Recorded};
use crate::domain::text::{Description, LicenceText, Reason, Tag, Title};
use crate::domain::{self, Actor, Classification, DatasetStatus, Decision, Role};
use crate::error::{Code, Error, Result};
use crate::market::Market;
use crate::store::schema::{dataset_tags, datasets};
use crate::store::{DbConnection, lock_row, transition};

const MAX_TAGS: usize = 20;
const MAX_PRICE: i64 = 1_000_000_000_000_000;

fn clean_tags(tags: &[String]) -> Result<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid("tags", format!("at most {MAX_TAGS} tags")));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        let tag = Tag::parse("tags", tag)?.into_string();
        if tag.contains(char::is_whitespace) {
            return Err(Error::invalid("tags", "a tag is one word without spaces"));
        }
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    Ok(clean)
}

fn check_price(price: &Price) -> Result<()> {
    if !(0..=MAX_PRICE).contains(&price.amount) {
        return Err(Error::invalid(
            "price.amount",
            format!("must be between 0 and {MAX_PRICE}"),
        ));
    }
    if !(price.currency.len() == 3 && price.currency.bytes().all(|b| b.is_ascii_uppercase())) {
        return Err(Error::invalid(
            "price.currency",
            "must be an ISO 4217 code such as \"CNY\"",
        ));
    }
    Ok(())
}

/// What search matches against: the words of title, description and tags,
/// lower-cased once here so that no query lower-cases every row.
fn search_text(title: &str, description: &str, tags: &[String]) -> String {
    format!("{title}\n{description}\n{}", tags.join(" ")).to_lowercase()
}

fn replace_tags(conn: &mut DbConnection, id: Uuid, tags: &[String]) -> Result<()> {
    diesel::delete(dataset_tags::table.filter(dataset_tags::dataset_id.eq(id.to_string())))
        .execute(conn)?;
    for tag in tags {
        diesel::insert_into(dataset_tags::table)
            .values((
                dataset_tags::dataset_id.eq(id.to_string()),
                dataset_tags::tag.eq(tag),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The refusal for a change another request made first: the state the
/// listing is in now.
fn lost(conn: &mut DbConnection, id: Uuid, doing: &str) -> Result<Error> {
    Ok(invalid_state(&reload(conn, id)?, doing))
}

fn reload(conn: &mut DbConnection, id: Uuid) -> Result<DatasetRow> {
    load(conn, id)?.ok_or_else(|| Error::not_found("dataset"))
}

/// Creates a draft listing owned by `actor`, who is registered as holder of
/// its three rights, each with its certificate.
pub async fn create(
    market: &Market,
    actor: &Actor,
    input: NewDataset,
) -> Result<Recorded<Dataset>> {
    actor.require_any(&[Role::Provider])?;
    let title = Title::parse("title", &input.title)?;
    let description = Description::parse("description", &input.description)?;
    let tags = clean_tags(&input.tags)?;
    let license = LicenceText::parse("license", &input.license)?;
    check_price(&input.price)?;
    let derivation = lineage::DerivationInput::parse(&input.derived_from, input.activity.as_ref())?;
    let actor = actor.clone();
    let issuer = Issuer::new(market.keys.clone(), market.settings.auth.issuer.clone());
    market
        .db
        .write(move |conn| {
            let id = domain::new_id();
            let now = domain::to_db_time(domain::now());
            diesel::insert_into(datasets::table)
                .values((
                    datasets::id.eq(id.to_string()),
                    datasets::provider_id.eq(actor.id.to_string()),
                    datasets::title.eq(title.as_str()),
                    datasets::description.eq(description.as_str()),
                    datasets::tags.eq(json!(tags).to_string()),
                    datasets::classification.eq(input.classification),
                    datasets::personal_data.eq(input.personal_data),
                    datasets::license.eq(license.as_str()),
                    datasets::price_amount.eq(input.price.amount),
                    datasets::price_currency.eq(&input.price.currency),
                    datasets::status.eq(DatasetStatus::Draft),
                    datasets::sector.eq(input.sector),
                    datasets::latest_version.eq(0),
                    datasets::search_text.eq(search_text(
                        title.as_str(),
                        description.as_str(),
                        &tags,
                    )),
                    datasets::created_at.eq(now),
                    datasets::updated_at.eq(now),
                ))
                .execute(conn)?;
            replace_tags(conn, id, &tags)?;
            let row =
                load(conn, id)?.ok_or_else(|| Error::Internal("new dataset vanished".into()))?;
            let index = audit_dataset(
                conn,
                &actor,
                Action::DatasetCreated,
                &row,
                json!({
                    "title": title,
                    "classification": input.classification,
                    "personal_data": input.personal_data,
                    "sector": input.sector,
                }),
            )?;
            let mut indexes = vec![index];
            for (right, certificate) in
                access::register::register_original(conn, &issuer, id, actor.id)?
            {
                indexes.push(audit::append(
                    conn,
                    Entry {
                        actor: Some(actor.id),
                        action: Action::RightRegistered,
                        dataset: Some(id),
                        subject: right.id.clone(),
                        parties: vec![],
                        detail: json!({
                            "right": right.kind,
                            "holder": actor.id,
                            "origin": right.origin,
                            "certificate": certificate,
                        }),
                    },
                )?);
            }
            if let Some(derivation) = &derivation {
                indexes.push(lineage::record_derivation(conn, &actor, &row, derivation)?);
            }
            Ok(Recorded::new(reload(conn, id)?.into_dataset()?, indexes))
        })
        .await
}

/// Edits a draft (or a rejected listing, which returns to draft).
pub async fn update(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    patch: DatasetPatch,
) -> Result<Recorded<Dataset>> {
    let title = patch
        .title
        .as_deref()
        .map(|t| Title::parse("title", t))
        .transpose()?;
    let description = patch
        .description
        .as_deref()
        .map(|d| Description::parse("description", d))
        .transpose()?;
    let tags = patch.tags.as_deref().map(clean_tags).transpose()?;
    let license = patch
        .license
        .as_deref()
        .map(|l| LicenceText::parse("license", l))
        .transpose()?;
    if let Some(price) = &patch.price {
        check_price(price)?;
    }
    let derivation = lineage::DerivationInput::parse(&patch.derived_from, patch.activity.as_ref())?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            // Decided on the row as it is once locked (see store::lock_row!).
            let row = load_locked_for(conn, &actor, id, Act::Edit)?;
            if !matches!(row.status, DatasetStatus::Draft | DatasetStatus::Rejected) {
                return Err(invalid_state(&row, "edit"));
            }
            let new_title = title
                .as_ref()
                .map_or_else(|| row.title.clone(), |t| t.as_str().to_owned());
            let new_description = description
                .as_ref()
                .map_or_else(|| row.description.clone(), |d| d.as_str().to_owned());
            let new_tags = match &tags {
                Some(t) => t.clone(),
                None => row.tag_list()?,
            };
            let new_tags_json = json!(new_tags).to_string();
            let new_license = license
                .as_ref()
                .map_or_else(|| row.license.clone(), |l| l.as_str().to_owned());
            let new_price = patch.price.clone().unwrap_or(Price {
                amount: row.price_amount,
                currency: row.price_currency.clone(),
            });
            let new_classification = patch.classification.unwrap_or(row.classification);
            let new_personal = patch.personal_data.unwrap_or(row.personal_data);
            let new_sector = patch.sector.or(row.sector);
            if let Some(floor) = row.inherited_classification
                && new_classification < floor
            {
                return Err(Error::invalid(
                    "classification",
                    format!("it is derived from {floor} data and cannot be classified lower"),
                ));
            }
            if row.inherited_personal_data && !new_personal {
                return Err(Error::invalid(
                    "personal_data",
                    "it is derived from personal data and holds personal data",
                ));
            }
            let changed: Vec<&str> = [
                ("title", new_title != row.title),
                ("description", new_description != row.description),
                ("tags", new_tags_json != row.tags),
                ("classification", new_classification != row.classification),
                ("personal_data", new_personal != row.personal_data),
                ("license", new_license != row.license),
                ("sector", new_sector != row.sector),
                (
                    "price",
                    new_price.amount != row.price_amount
                        || new_price.currency != row.price_currency,
                ),
            ]
            .into_iter()
            .filter(|(_, differs)| *differs)
            .map(|(field, _)| field)
            .collect();
            let updated_at = domain::to_db_time(domain::now());
            let made = transition!(conn, datasets, id.to_string(),
                status: [DatasetStatus::Draft, DatasetStatus::Rejected] => DatasetStatus::Draft,
                title = &new_title,
                description = &new_description,
                tags = &new_tags_json,
                classification = new_classification,
                personal_data = new_personal,
                sector = new_sector,
                license = &new_license,
                price_amount = new_price.amount,
                price_currency = &new_price.currency,
                updated_at = updated_at);
            if !made.made() {
                return Err(lost(conn, id, "edit")?);
            }
            // Only when its words changed: the search index (a trigger on
            // this column) is rewritten whenever the column is set at all.
            if changed
                .iter()
                .any(|f| matches!(*f, "title" | "description" | "tags"))
            {
                diesel::update(datasets::table.find(id.to_string()))
                    .set(datasets::search_text.eq(search_text(
                        &new_title,
                        &new_description,
                        &new_tags,
                    )))
                    .execute(conn)?;
            }
            if tags.is_some() {
                replace_tags(conn, id, &new_tags)?;
            }
            let index = audit_dataset(
                conn,
                &actor,
                Action::DatasetUpdated,
                &row,
                if new_classification == row.classification {
                    json!({ "changed": changed, "status": DatasetStatus::Draft })
                } else {
                    // What it was, is, and was last reviewed at: the
                    // early-warning watch looks for a class lowered after review.
                    json!({
                        "changed": changed,
                        "status": DatasetStatus::Draft,
                        "classification": {
                            "from": row.classification,
                            "to": new_classification,
                            "reviewed": row.reviewed_classification,
                        },
                    })
                },
            )?;
            // The row as the update left it, without reading it again: the
            // update set every field that differs (the row was locked, and
            // `updated_at` is already in the database's precision).
            let edited = DatasetRow {
                status: DatasetStatus::Draft,
                title: new_title,
                description: new_description,
                tags: new_tags_json,
                classification: new_classification,
                personal_data: new_personal,
                sector: new_sector,
                license: new_license,
                price_amount: new_price.amount,
                price_currency: new_price.currency,
                updated_at,
                ..row
            };
            let mut indexes = vec![index];
            let Some(derivation) = &derivation else {
                return Ok(Recorded::new(edited.into_dataset()?, indexes));
            };
            indexes.push(lineage::record_derivation(
                conn, &actor, &edited, derivation,
            )?);
            Ok(Recorded::new(reload(conn, id)?.into_dataset()?, indexes))
        })
        .await
}

/// Submits a listing: general data is listed at once, important data waits
/// for a regulator, core data is refused.
pub async fn publish(market: &Market, actor: &Actor, id: Uuid) -> Result<Recorded<Dataset>> {
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            // Decided on the row as it is once locked (see store::lock_row!).
            let row = load_locked_for(conn, &actor, id, Act::Publish)?;
            if row.classification == Classification::Core {
                return Err(Error::refused(
                    Code::CoreDataNotTradable,
                    "core data is never listed: the Data Security Law puts it outside the market",
                ));
            }
            if !matches!(row.status, DatasetStatus::Draft | DatasetStatus::Delisted) {
                return Err(invalid_state(&row, "publish"));
            }
            if row.latest_version == 0 {
                return Err(Error::refused(
                    Code::NoVersion,
                    "add a version with the payload before publishing",
                ));
            }
            if row.classification == Classification::Important {
                crate::accounts::find(conn, row.provider()?)?
                    .require_verified("listing important data")?;
            }
            let now = domain::to_db_time(domain::now());
            // Important data waits for a regulator; so does a listing whose
            // classification was lowered below what a regulator last
            // reviewed it at: only a review lowers it.
            let lowered = row
                .reviewed_classification
                .is_some_and(|reviewed| row.classification < reviewed);
            let status = if row.classification == Classification::Important || lowered {
                DatasetStatus::PendingReview
            } else {
                DatasetStatus::Listed
            };
            let made = transition!(conn, datasets, id.to_string(),
                status: [DatasetStatus::Draft, DatasetStatus::Delisted] => status,
                updated_at = now,
                listed_at = (status == DatasetStatus::Listed).then_some(now));
            if !made.made() {
                return Err(lost(conn, id, "publish")?);
            }
            let index = audit_dataset(
                conn,
                &actor,
                Action::DatasetPublished,
                &row,
                json!({ "status": status, "classification": row.classification }),
            )?;
            Ok(Recorded::new(
                reload(conn, id)?.into_dataset()?,
                vec![index],
            ))
        })
        .await
}

/// A regulator's decision on important data waiting for review.
pub async fn review(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: ReviewInput,
) -> Result<Recorded<Dataset>> {
    actor.require_any(&[Role::Regulator])?;
    let reason = Reason::parse_optional("reason", input.reason.as_deref())?;
    if input.decision == Decision::Reject && reason.is_none() {
        return Err(Error::invalid("reason", "a rejection needs a reason"));
    }
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            // Decided on the row as it is once locked (see store::lock_row!).
            lock_row!(conn, datasets, id.to_string());
            let row = load_visible(conn, Some(&actor), id)?;
            super::rows::require_within(conn, &actor, &row)?;
            if row.status != DatasetStatus::PendingReview {
                return Err(invalid_state(&row, "review"));
            }
            let now = domain::to_db_time(domain::now());
            let status = match input.decision {
                Decision::Approve => DatasetStatus::Listed,
                Decision::Reject => DatasetStatus::Rejected,
            };
            let made = transition!(conn, datasets, id.to_string(),
                status: [DatasetStatus::PendingReview] => status,
                review_reason = reason.as_ref().map(Reason::as_str),
                reviewed_by = actor.id.to_string(),
                reviewed_at = now,
                reviewed_classification = Some(row.classification),
                updated_at = now,
                listed_at = (status == DatasetStatus::Listed).then_some(now));
            if !made.made() {
                return Err(lost(conn, id, "review")?);
            }
            // Approving the listing approves the versions it was shown with.
            let versions_approved = if status == DatasetStatus::Listed {
                super::versions::approve_pending(conn, id, actor.id)?
            } else {
                0
            };
            let index = audit_dataset(
                conn,
                &actor,
                Action::DatasetReviewed,
                &row,
                json!({
                    "decision": input.decision,
                    "reason": reason,
                    "status": status,
                    "classification": row.classification,
                    "versions_approved": versions_approved,
                }),
            )?;
            Ok(Recorded::new(
                reload(conn, id)?.into_dataset()?,
                vec![index],
            ))
        })
        .await
}

/// Takes a listing off the market (its owner, or a regulator).
pub async fn delist(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: DelistInput,
) -> Result<Recorded<Dataset>> {
    let reason = Reason::parse_optional("reason", input.reason.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            // Decided on the row as it is once locked (see store::lock_row!).
            let row = load_locked_for(conn, &actor, id, Act::Delist)?;
            // A regulator delists as a regulator only within its
            // jurisdiction; as the listing's holder it needs none.
            if actor.has(Role::Regulator) && !access::may_decide(conn, &actor, id)? {
                super::rows::require_within(conn, &actor, &row)?;
            }
            if !matches!(
                row.status,
                DatasetStatus::Listed | DatasetStatus::PendingReview
            ) {
                return Err(invalid_state(&row, "delist"));
            }
            let made = transition!(conn, datasets, id.to_string(),
                status: [DatasetStatus::Listed, DatasetStatus::PendingReview] => DatasetStatus::Delisted,
                updated_at = domain::to_db_time(domain::now()));
            if !made.made() {
                return Err(lost(conn, id, "delist")?);
            }
            let index = audit_dataset(
                conn,
                &actor,
                Action::DatasetDelisted,
                &row,
                json!({ "reason": reason, "status": DatasetStatus::Delisted }),
            )?;
            Ok(Recorded::new(
                reload(conn, id)?.into_dataset()?,
                vec![index],
            ))
        })
        .await
}

/// One listing, if the actor may see it.
pub async fn get(market: &Market, actor: Option<&Actor>, id: Uuid) -> Result<Dataset> {
    let actor = actor.cloned();
    market
        .db
        .read_short(move |conn| load_visible(conn, actor.as_ref(), id)?.into_dataset())
        .await
}

/// Records the listing's new owner after its holding right moved; the
/// rights service calls it in the transfer's transaction.
pub fn set_provider(conn: &mut DbConnection, id: Uuid, provider: Uuid) -> Result<()> {
    diesel::update(datasets::table.find(id.to_string()))
        .set(datasets::provider_id.eq(provider.to_string()))
        .execute(conn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_cleaned() {
        assert_eq!(
            clean_tags(&["交通".into(), " traffic ".into(), "交通".into()]).unwrap(),
            vec!["交通".to_owned(), "traffic".to_owned()]
        );
        assert!(clean_tags(&["two words".into()]).is_err());
        assert!(clean_tags(&["".into()]).is_err());
    }
}
