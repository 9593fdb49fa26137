//! The grants service's rows as the store keeps them.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use uuid::Uuid;

use super::types::{AccessRequest, Grant, GrantStatus, LegalBasis, Policy, RequestState, Verdict};
use crate::audit::{self, Action, Entry};
use crate::domain;
use crate::error::{Error, Result};
use crate::store::DbConnection;

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::access_requests)]
pub(crate) struct RequestRow {
    pub id: String,
    pub dataset_id: String,
    pub consumer_id: String,
    pub purpose: String,
    pub duration_days: i32,
    pub max_downloads: i32,
    pub processing: bool,
    pub cross_border: bool,
    pub destination_country: Option<String>,
    pub message: Option<String>,
    pub state: RequestState,
    pub requires_review: bool,
    pub created_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
    pub expires_at: NaiveDateTime,
    pub decided_by: Option<String>,
    pub decided_at: Option<NaiveDateTime>,
    pub decision_reason: Option<String>,
    pub policy: Option<String>,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<NaiveDateTime>,
    pub review_reason: Option<String>,
    pub grant_id: Option<String>,
    pub order_id: Option<String>,
    pub legal_basis: Option<LegalBasis>,
    pub personal_information_subjects: Option<i64>,
    pub assessment_reference: Option<String>,
    pub assessment_expires_at: Option<NaiveDateTime>,
}

pub fn verdict(
    by: &Option<String>,
    at: Option<NaiveDateTime>,
    reason: &Option<String>,
) -> Result<Option<Verdict>> {
    match (by, at) {
        (Some(by), Some(at)) => Ok(Some(Verdict {
            by: domain::id_from_db(by)?,
            at: domain::from_db_time(at),
            reason: reason.clone(),
        })),
        _ => Ok(None),
    }
}

impl RequestRow {
    pub fn dataset(&self) -> Result<Uuid> {
        domain::id_from_db(&self.dataset_id)
    }

    pub fn consumer(&self) -> Result<Uuid> {
        domain::id_from_db(&self.consumer_id)
    }

    pub fn to_request(&self) -> Result<AccessRequest> {
        Ok(AccessRequest {
            id: domain::id_from_db(&self.id)?,
            dataset: domain::id_from_db(&self.dataset_id)?,
            consumer: domain::id_from_db(&self.consumer_id)?,
            purpose: self.purpose.clone(),
            duration_days: self.duration_days.max(0) as u32,
            max_downloads: self.max_downloads.max(0) as u32,
            processing: self.processing,
            cross_border: self.cross_border,
            destination_country: self.destination_country.clone(),
            legal_basis: self.legal_basis,
            personal_information_subjects: self
                .personal_information_subjects
                .map(|n| n.max(0) as u64),
            assessment_reference: self.assessment_reference.clone(),
            assessment_expires_at: self.assessment_expires_at.map(domain::from_db_time),
            message: self.message.clone(),
            state: self.state,
            requires_review: self.requires_review,
            created_at: domain::from_db_time(self.created_at),
            updated_at: domain::from_db_time(self.updated_at),
            expires_at: domain::from_db_time(self.expires_at),
            decision: verdict(&self.decided_by, self.decided_at, &self.decision_reason)?,
            review: verdict(&self.reviewed_by, self.reviewed_at, &self.review_reason)?,
            grant: self
                .grant_id
                .as_deref()
                .map(domain::id_from_db)
                .transpose()?,
            order: self
                .order_id
                .as_deref()
                .map(domain::id_from_db)
                .transpose()?,
        })
    }
}

#[derive(Queryable, Selectable, Clone, Debug)]
#[diesel(table_name = crate::store::schema::grants)]
pub(crate) struct GrantRow {
    pub id: String,
    pub request_id: String,
    pub dataset_id: String,
    pub version: Option<i32>,
    pub licensor_id: String,
    pub licensee_id: String,
    pub purposes: String,
    pub not_before: NaiveDateTime,
    pub not_after: NaiveDateTime,
    pub max_downloads: i32,
    pub downloads_used: i32,
    pub territory: String,
    pub processing: bool,
    pub status: GrantStatus,
    pub created_at: NaiveDateTime,
    pub revoked_at: Option<NaiveDateTime>,
    pub revoked_by: Option<String>,
    pub revoke_reason: Option<String>,
    pub order_id: Option<String>,
}

impl GrantRow {
    pub fn territory(&self) -> Result<Vec<String>> {
        serde_json::from_str(&self.territory)
            .map_err(|e| Error::Internal(format!("stored territory: {e}")))
    }

    pub fn policy(&self) -> Result<Policy> {
        Ok(Policy {
            purposes: serde_json::from_str(&self.purposes)
                .map_err(|e| Error::Internal(format!("stored purposes: {e}")))?,
            not_before: domain::from_db_time(self.not_before),
            not_after: domain::from_db_time(self.not_after),
            max_downloads: self.max_downloads.max(0) as u32,
            territory: self.territory()?,
            processing: self.processing,
            redistribution: false,
            version: self.version,
        })
    }

    /// The status as of `now`: an active grant past its window is expired
    /// even before the sweep records it.
    pub fn status_at(&self, now: NaiveDateTime) -> Result<GrantStatus> {
        Ok(match self.status {
            GrantStatus::Active if now >= self.not_after => GrantStatus::Expired,
            GrantStatus::Active if self.downloads_used >= self.max_downloads => {
                GrantStatus::Exhausted
            }
            other => other,
        })
    }

    pub fn to_grant(&self) -> Result<Grant> {
        let now = domain::to_db_time(domain::now());
        Ok(Grant {
            id: domain::id_from_db(&self.id)?,
            request: domain::id_from_db(&self.request_id)?,
            dataset: domain::id_from_db(&self.dataset_id)?,
            licensor: domain::id_from_db(&self.licensor_id)?,
            licensee: domain::id_from_db(&self.licensee_id)?,
            policy: self.policy()?,
            downloads_used: self.downloads_used.max(0) as u32,
            downloads_remaining: (self.max_downloads - self.downloads_used).max(0) as u32,
            status: self.status_at(now)?,
            created_at: domain::from_db_time(self.created_at),
            revocation: verdict(&self.revoked_by, self.revoked_at, &self.revoke_reason)?,
            order: self
                .order_id
                .as_deref()
                .map(domain::id_from_db)
                .transpose()?,
        })
    }

    /// Records something that happened to this grant; its licensor and
    /// licensee are parties to it.
    pub fn record(
        &self,
        conn: &mut DbConnection,
        actor: Option<Uuid>,
        action: Action,
        detail: serde_json::Value,
    ) -> Result<u64> {
        audit::append(
            conn,
            Entry {
                actor,
                action,
                dataset: Some(domain::id_from_db(&self.dataset_id)?),
                subject: self.id.clone(),
                parties: vec![
                    domain::id_from_db(&self.licensor_id)?,
                    domain::id_from_db(&self.licensee_id)?,
                ],
                detail,
            },
        )
    }
}
