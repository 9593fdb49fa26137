//! The catalog: listings ([`listings`]), their immutable versions and
//! payloads ([`versions`]), search ([`search`]) and the lineage that ties a
//! derived listing to its sources ([`lineage`]). It owns the tables
//! `datasets`, `dataset_tags`, `dataset_versions`, `derivations` and
//! `dataset_sources`; other services read them through the functions here.
//! Before it changes anything it asks the rule book ([`crate::access`]).

pub mod dcat;
pub mod freshness;
pub mod lineage;
pub mod listings;
pub mod queue;
mod rows;
pub mod search;
pub mod types;
pub mod versions;

pub use listings::{create, delist, get, publish, review, set_provider, update};
pub use queue::{decided_by, of_providers_in, review_queue};
pub use rows::{
    DatasetRow, VersionRow, find_version, latest_sha256, latest_version, load, load_for, load_many,
    load_visible, payloads, require_within, version_exists, versions_of,
};
pub use search::search;
pub use types::{
    Dataset, DatasetPage, DatasetPatch, DelistInput, NewDataset, Price, Review, ReviewInput,
    SearchOrder, SearchQuery, Version, VersionReviewInput, VersionStatus,
};
pub use versions::{ByteRange, Content, add_version, fetch, review_version, versions};

/// The datasets of any of some sectors, as a subquery.
pub type InSectors = diesel::dsl::Select<
    diesel::dsl::Filter<
        crate::store::schema::datasets::table,
        diesel::dsl::EqAny<crate::store::schema::datasets::sector, Vec<String>>,
    >,
    crate::store::schema::datasets::id,
>;

/// The datasets of any of `sectors`, as a subquery.
pub fn in_sectors(sectors: Vec<String>) -> InSectors {
    use crate::store::schema::datasets;
    use diesel::prelude::*;
    datasets::table
        .filter(datasets::sector.eq_any(sectors))
        .select(datasets::id)
}

/// Listings now, counted by classification and status, and by sector and
/// status; and how many listed ones hold or derive from personal
/// information (for oversight's statistics).
pub fn tally_listings(
    conn: &mut crate::store::DbConnection,
    scope: &crate::store::tally::Scope,
) -> crate::error::Result<(
    Vec<crate::store::tally::Count2>,
    Vec<crate::store::tally::Count2>,
    i64,
)> {
    use diesel::RunQueryDsl;
    let within = scope.condition("id");
    let counts = diesel::sql_query(format!(
        "SELECT classification AS key, status AS key2, COUNT(*) AS n
         FROM datasets WHERE 1 = 1 {within}
         GROUP BY classification, status ORDER BY classification, status"
    ))
    .load(conn)?;
    let by_sector = diesel::sql_query(format!(
        "SELECT COALESCE(sector, '') AS key, status AS key2, COUNT(*) AS n
         FROM datasets WHERE 1 = 1 {within} GROUP BY sector, status ORDER BY sector, status"
    ))
    .load(conn)?;
    let personal: crate::store::tally::Count = diesel::sql_query(format!(
        "SELECT 'listed' AS key, COUNT(*) AS n FROM datasets
         WHERE status = 'listed' AND (personal_data OR inherited_personal_data) {within}"
    ))
    .get_result(conn)?;
    Ok((counts, by_sector, personal.n))
}
