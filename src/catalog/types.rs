//! The catalog's words on the wire: listings, their versions, the inputs
//! that create and change them, and search pages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::lineage::{ActivityInput, SourceRef};
use crate::domain::jurisdiction::Sector;
use crate::domain::{Classification, DatasetStatus, Decision, market_words};

market_words!(
    /// Whether a version may be delivered under grants: `available` ones
    /// are; a version added to a listing a regulator already reviewed is
    /// `pending_review`, delivered to its holders only until a regulator
    /// approves it; a `rejected` one stays with its holders.
    VersionStatus {
        Available = "available",
        PendingReview = "pending_review",
        Rejected = "rejected",
    }
);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// In the currency's minor unit (fen for CNY).
    #[schema(minimum = 0, maximum = 1_000_000_000_000_000_i64)]
    pub amount: i64,
    /// ISO 4217 code.
    #[schema(example = "CNY", pattern = "^[A-Z]{3}$")]
    pub currency: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Review {
    pub reason: Option<String>,
    pub reviewer: Uuid,
    pub at: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Dataset {
    pub id: Uuid,
    /// The account holding the holding right: the listing's owner.
    pub provider: Uuid,
    pub title: String,
    pub description: String,
    pub tags: Vec<String>,
    pub classification: Classification,
    pub personal_data: bool,
    pub license: String,
    pub price: Price,
    pub status: DatasetStatus,
    pub review: Option<Review>,
    pub latest_version: Option<i32>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub listed_at: Option<DateTime<Utc>>,
    /// The highest classification among the sources it was derived from:
    /// its own classification is never lower.
    pub inherited_classification: Option<Classification>,
    /// Whether a source holds personal data: then so does it.
    pub inherited_personal_data: bool,
    /// The sector its data comes from, which decides which sector
    /// regulators oversee it.
    pub sector: Option<Sector>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDataset {
    #[schema(example = "城市交通流量", min_length = 1, max_length = 200)]
    pub title: String,
    #[serde(default)]
    #[schema(max_length = 20000)]
    pub description: String,
    /// Single words of 1 to 50 characters.
    #[serde(default)]
    #[schema(max_items = 20)]
    pub tags: Vec<String>,
    pub classification: Classification,
    pub personal_data: bool,
    #[schema(min_length = 1, max_length = 4000)]
    pub license: String,
    pub price: Price,
    /// The sector its data comes from.
    #[serde(default)]
    pub sector: Option<Sector>,
    /// Source versions this dataset was derived from; the caller must hold
    /// the processing right over each.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub derived_from: Vec<SourceRef>,
    /// The processing step, required with `derived_from`.
    #[serde(default)]
    pub activity: Option<ActivityInput>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetPatch {
    #[schema(min_length = 1, max_length = 200)]
    pub title: Option<String>,
    #[schema(max_length = 20000)]
    pub description: Option<String>,
    #[schema(max_items = 20)]
    pub tags: Option<Vec<String>>,
    pub classification: Option<Classification>,
    pub personal_data: Option<bool>,
    #[schema(min_length = 1, max_length = 4000)]
    pub license: Option<String>,
    pub price: Option<Price>,
    pub sector: Option<Sector>,
    /// Records a further derivation of this draft from these sources.
    #[serde(default)]
    #[schema(max_items = 100)]
    pub derived_from: Vec<SourceRef>,
    #[serde(default)]
    pub activity: Option<ActivityInput>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    pub decision: Decision,
    /// Required when rejecting.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DelistInput {
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Version {
    pub version: i32,
    /// Hex SHA-256 of the payload.
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
    pub created_at: DateTime<Utc>,
    pub status: VersionStatus,
    /// A regulator's decision on this version, when it needed one.
    pub review: Option<Review>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionReviewInput {
    pub decision: Decision,
    /// Required when rejecting.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
}

market_words!(
    /// The order of a catalog search's results.
    SearchOrder {
        Newest = "newest",
        PriceAsc = "price_asc",
        PriceDesc = "price_desc",
    }
);

#[derive(Clone, Debug, Default)]
pub struct SearchQuery {
    pub q: Option<String>,
    pub tag: Option<String>,
    pub classification: Option<Classification>,
    pub provider: Option<Uuid>,
    /// Only listings priced in this currency (ISO 4217).
    pub currency: Option<String>,
    /// Price bounds, inclusive, in minor units of the listing's currency.
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub sort: Option<SearchOrder>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DatasetPage {
    pub items: Vec<Dataset>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}
