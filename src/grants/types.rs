//! The grants service's words on the wire: request and grant states, the
//! inputs that create and decide requests, policies, and pages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::{Decision, market_words};

market_words!(
    /// Where an access request stands.
    RequestState {
        Pending = "pending",
        UnderReview = "under_review",
        Approved = "approved",
        Rejected = "rejected",
        Withdrawn = "withdrawn",
        Expired = "expired",
    }
);

market_words!(
    /// Where a grant stands.
    GrantStatus {
        Active = "active",
        Revoked = "revoked",
        Expired = "expired",
        Exhausted = "exhausted",
    }
);

market_words!(
    /// What a transfer abroad rests on, after the 2024 Provisions on
    /// Promoting and Regulating Cross-Border Data Flows: a security
    /// assessment, a filed standard contract, a personal information
    /// protection certification, or an exemption from all three.
    LegalBasis {
        SecurityAssessment = "security_assessment",
        StandardContract = "standard_contract",
        Certification = "certification",
        Exemption = "exemption",
    }
);

market_words!(
    /// Which side of a request to list.
    RequestRole {
        Incoming = "incoming",
        Outgoing = "outgoing",
    }
);

market_words!(
    /// Which side of a grant to list.
    GrantRole {
        Licensor = "licensor",
        Licensee = "licensee",
    }
);

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRequest {
    pub dataset: Uuid,
    /// What the data will be used for; required for personal data.
    #[serde(default)]
    #[schema(max_length = 500)]
    pub purpose: String,
    /// At most `grants.max_duration_days` (3650 by default).
    #[schema(minimum = 1)]
    pub duration_days: u32,
    /// At most `grants.max_downloads` (1,000,000 by default).
    #[schema(minimum = 1)]
    pub max_downloads: u32,
    /// Whether the data will be processed into other data.
    pub processing: bool,
    /// Whether the data will be sent abroad.
    pub cross_border: bool,
    /// ISO 3166-1 alpha-2; required when `cross_border`.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub destination_country: Option<String>,
    /// What the transfer abroad rests on; required when `cross_border`,
    /// and no weaker than the data and `personal_information_subjects`
    /// need (see docs/grants.md).
    #[serde(default)]
    pub legal_basis: Option<LegalBasis>,
    /// How many individuals' personal information would leave (0 for data
    /// without any); required when `cross_border`.
    #[serde(default)]
    #[schema(minimum = 0)]
    pub personal_information_subjects: Option<u64>,
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub message: Option<String>,
}

/// Narrowing changes the approver makes to what was asked for.
#[derive(Clone, Debug, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_before: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub max_downloads: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processing: Option<bool>,
    /// A subset of the territories asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub territory: Option<Vec<String>>,
    /// Pin the grant to one version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApproveInput {
    #[serde(default)]
    pub policy: Option<PolicyOverride>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonInput {
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestReviewInput {
    pub decision: Decision,
    /// Required when rejecting.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
    /// The reference of the security assessment, filed standard contract or
    /// certification the approval rests on; required when approving, not
    /// taken when rejecting.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub assessment_reference: Option<String>,
    /// When that assessment (or contract filing, or certification) lapses:
    /// in the future; required when approving, not taken when rejecting.
    /// The grant ends no later.
    #[serde(default)]
    pub assessment_expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DataTokenInput {
    /// Bind the token to one version.
    #[serde(default)]
    #[schema(minimum = 1)]
    pub version: Option<i32>,
}

/// The terms of a grant, enforced at every delivery.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Policy {
    pub purposes: Vec<String>,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub max_downloads: u32,
    /// Territories (ISO 3166-1 alpha-2) the data may be delivered to.
    pub territory: Vec<String>,
    /// Whether the licensee may process the data into derived datasets.
    pub processing: bool,
    /// Always false: the licensee may not pass the data on.
    pub redistribution: bool,
    /// The one version covered, or all when null.
    pub version: Option<i32>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Verdict {
    pub by: Uuid,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AccessRequest {
    pub id: Uuid,
    pub dataset: Uuid,
    pub consumer: Uuid,
    pub purpose: String,
    pub duration_days: u32,
    pub max_downloads: u32,
    pub processing: bool,
    pub cross_border: bool,
    pub destination_country: Option<String>,
    /// What a cross-border request's transfer rests on (null otherwise).
    pub legal_basis: Option<LegalBasis>,
    /// How many individuals' personal information would leave (null for a
    /// request that is not cross-border).
    pub personal_information_subjects: Option<u64>,
    /// The regulator's assessment reference, once it approved.
    pub assessment_reference: Option<String>,
    /// When that assessment lapses; the grant ends no later.
    pub assessment_expires_at: Option<DateTime<Utc>>,
    pub message: Option<String>,
    pub state: RequestState,
    /// Whether a regulator must review it after the holder approves.
    pub requires_review: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When it expires if nobody decides.
    pub expires_at: DateTime<Utc>,
    /// The holder's (or broker's) decision.
    pub decision: Option<Verdict>,
    /// The regulator's review.
    pub review: Option<Verdict>,
    /// The grant approval created.
    pub grant: Option<Uuid>,
    /// The order this request carries: its terms are the offer's, and its
    /// decision settles or refunds the order.
    pub order: Option<Uuid>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Grant {
    pub id: Uuid,
    pub request: Uuid,
    pub dataset: Uuid,
    pub licensor: Uuid,
    pub licensee: Uuid,
    pub policy: Policy,
    pub downloads_used: u32,
    pub downloads_remaining: u32,
    /// The status now (an active grant past its window reads `expired`).
    pub status: GrantStatus,
    pub created_at: DateTime<Utc>,
    pub revocation: Option<Verdict>,
    /// The order that bought this grant.
    pub order: Option<Uuid>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RequestPage {
    pub items: Vec<AccessRequest>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GrantPage {
    pub items: Vec<Grant>,
    pub next_cursor: Option<String>,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DataToken {
    /// A JWT with audience `datamarket-data`, accepted only by the content endpoint.
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub grant: Uuid,
    pub dataset: Uuid,
    pub version: Option<i32>,
}
