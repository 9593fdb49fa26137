//! The regulators' review queue of listings: datasets waiting for a
//! regulator (a listing of important data, a listing lowered below its
//! reviewed class, or a version added after review), those in the asking
//! regulator's jurisdiction, newest first.

use diesel::prelude::*;

use super::rows::DatasetRow;
use super::types::{DatasetPage, VersionStatus};
use crate::domain::{Actor, DatasetStatus, Role};
use crate::error::Result;
use crate::market::Market;
use crate::page;
use crate::store::schema::{dataset_versions, datasets};

/// Datasets of providers registered in any of some regions, as a subquery.
pub type OfProvidersIn = diesel::dsl::Select<
    diesel::dsl::Filter<
        datasets::table,
        diesel::dsl::EqAny<datasets::provider_id, crate::accounts::InRegions>,
    >,
    datasets::id,
>;

/// The datasets whose provider is registered in any of `regions`.
pub fn of_providers_in(regions: Vec<String>) -> OfProvidersIn {
    datasets::table
        .filter(datasets::provider_id.eq_any(crate::accounts::in_regions(regions)))
        .select(datasets::id)
}

pub async fn review_queue(
    market: &Market,
    actor: &Actor,
    limit: u32,
    cursor: Option<String>,
) -> Result<DatasetPage> {
    actor.require_any(&[Role::Regulator, Role::Auditor])?;
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let scope = crate::accounts::jurisdiction_of(conn, &actor)?;
            let waiting_versions = dataset_versions::table
                .filter(dataset_versions::status.eq(VersionStatus::PendingReview))
                .select(dataset_versions::dataset_id);
            let mut query = datasets::table
                .filter(
                    datasets::status
                        .eq(DatasetStatus::PendingReview)
                        .or(datasets::id.eq_any(waiting_versions)),
                )
                .order(datasets::id.desc())
                .limit(i64::from(limit) + 1)
                .select(DatasetRow::as_select())
                .into_boxed();
            if let Some(regions) = scope.regions() {
                query = query.filter(
                    datasets::provider_id.eq_any(crate::accounts::in_regions(regions.to_vec())),
                );
            }
            if let Some(sectors) = scope.sectors() {
                query = query.filter(datasets::sector.eq_any(sectors));
            }
            if let Some(cursor) = cursor {
                query = query.filter(datasets::id.lt(cursor.to_string()));
            }
            let rows: Vec<DatasetRow> = query.load(conn)?;
            dataset_page(rows, limit)
        })
        .await
}

/// The datasets whose access the actor decides (it holds the holding or
/// the operation right), whatever their status, newest first: a
/// provider's own listings, drafts included.
pub async fn decided_by(
    market: &Market,
    actor: &Actor,
    limit: u32,
    cursor: Option<String>,
) -> Result<DatasetPage> {
    let cursor = page::parse_cursor(cursor.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .read(move |conn| {
            let mut query = datasets::table
                .filter(datasets::id.eq_any(crate::access::decided_datasets(&actor)))
                .order(datasets::id.desc())
                .limit(i64::from(limit) + 1)
                .select(DatasetRow::as_select())
                .into_boxed();
            if let Some(cursor) = cursor {
                query = query.filter(datasets::id.lt(cursor.to_string()));
            }
            let rows: Vec<DatasetRow> = query.load(conn)?;
            dataset_page(rows, limit)
        })
        .await
}

/// One page of datasets: `limit` of the rows loaded (one more shows there
/// is a next page), as listings.
fn dataset_page(rows: Vec<DatasetRow>, limit: u32) -> Result<DatasetPage> {
    let (rows, next_cursor) = page::split(rows, limit, |r| &r.id);
    Ok(DatasetPage {
        items: rows
            .into_iter()
            .map(DatasetRow::into_dataset)
            .collect::<Result<_>>()?,
        next_cursor,
    })
}
