//! The audit trail.

use actix_web::{get, web};
use serde::Deserialize;
use uuid::Uuid;

use crate::audit::{self, EntryFilter, EntryPage};
use crate::gateway::auth::Caller;
use crate::gateway::problem::{ApiResult, Problem};
use crate::market::Market;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EntryParams {
    /// Entries with an index greater than this.
    pub after: Option<u64>,
    #[param(minimum = 1)]
    pub limit: Option<u32>,
    /// The changed thing's id (dataset, account, version as `dataset/n`...).
    pub subject: Option<String>,
    /// The acting account.
    pub actor: Option<Uuid>,
    /// Entries whose actor or parties include this account.
    pub account: Option<Uuid>,
    /// e.g. `dataset.published`.
    pub action: Option<String>,
    /// Entries about this dataset.
    pub dataset: Option<Uuid>,
}

/// The audit trail, filtered, in log order (auditors and regulators).
#[utoipa::path(tag = "audit", params(EntryParams), security(("bearer" = [])), responses(
    (status = 200, body = EntryPage),
    (status = 400, description = "invalid-parameter", body = Problem, content_type = "application/problem+json"),
    (status = 401, description = "unauthenticated, invalid-token", body = Problem, content_type = "application/problem+json"),
    (status = 403, description = "wrong-role: needs auditor or regulator", body = Problem, content_type = "application/problem+json"),
))]
#[get("/audit/entries")]
pub async fn entries(
    market: web::Data<Market>,
    caller: Caller,
    params: web::Query<EntryParams>,
) -> ApiResult<web::Json<EntryPage>> {
    let p = params.into_inner();
    let limit = crate::gateway::page_size(&market, p.limit)?;
    let filter = EntryFilter {
        after: p.after,
        limit,
        subject: p.subject,
        actor: p.actor,
        account: p.account,
        action: p.action,
        dataset: p.dataset,
    };
    Ok(web::Json(audit::list(&market.db, &caller.0, filter).await?))
}
