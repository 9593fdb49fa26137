//! Grant policies: what approval turns a request into (the requested terms,
//! narrowed by the approver, never widened), and the same policy as an
//! ODRL 2.2 Agreement.

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::rows::{GrantRow, RequestRow};
use super::types::{Policy, PolicyOverride};
use crate::catalog;
use crate::domain;
use crate::error::{Error, Result};
use crate::store::DbConnection;

/// The policy a grant gets: by default what was requested (the window
/// starts now and lasts `duration_days`; the territory is home plus the
/// stated destination), narrowed by `overrides`.
pub(crate) fn resolve(
    conn: &mut DbConnection,
    request: &RequestRow,
    overrides: &PolicyOverride,
    now: DateTime<Utc>,
    home: &str,
) -> Result<Policy> {
    let latest_end = now + Duration::days(i64::from(request.duration_days));
    let not_before = overrides.not_before.map(trunc).unwrap_or(now);
    if not_before < now - Duration::seconds(1) {
        return Err(Error::invalid(
            "policy.not_before",
            "must not lie in the past",
        ));
    }
    let not_after = overrides.not_after.map(trunc).unwrap_or(latest_end);
    if not_after > latest_end {
        return Err(Error::invalid(
            "policy.not_after",
            format!(
                "may not extend the {} days requested",
                request.duration_days
            ),
        ));
    }
    if not_after <= not_before {
        return Err(Error::invalid(
            "policy.not_after",
            "must come after not_before",
        ));
    }
    let requested_downloads = request.max_downloads.max(0) as u32;
    let max_downloads = overrides.max_downloads.unwrap_or(requested_downloads);
    if max_downloads == 0 || max_downloads > requested_downloads {
        return Err(Error::invalid(
            "policy.max_downloads",
            format!("must be between 1 and the {requested_downloads} requested"),
        ));
    }
    let processing = overrides.processing.unwrap_or(request.processing);
    if processing && !request.processing {
        return Err(Error::invalid(
            "policy.processing",
            "was not requested and cannot be granted",
        ));
    }
    let mut asked = vec![home.to_owned()];
    if let Some(destination) = &request.destination_country {
        asked.push(destination.clone());
    }
    let territory = match &overrides.territory {
        None => asked,
        Some(narrowed) => {
            if narrowed.is_empty() || narrowed.iter().any(|t| !asked.contains(t)) {
                return Err(Error::invalid(
                    "policy.territory",
                    format!("must be a non-empty subset of {}", asked.join(", ")),
                ));
            }
            let mut narrowed = narrowed.clone();
            narrowed.sort();
            narrowed.dedup();
            narrowed
        }
    };
    if let Some(version) = overrides.version
        && !catalog::version_exists(conn, request.dataset()?, version)?
    {
        return Err(Error::invalid(
            "policy.version",
            "the dataset has no such version",
        ));
    }
    let purposes = if request.purpose.is_empty() {
        vec![]
    } else {
        vec![request.purpose.clone()]
    };
    Ok(Policy {
        purposes,
        not_before,
        not_after,
        max_downloads,
        territory,
        processing,
        redistribution: false,
        version: overrides.version,
    })
}

fn trunc(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::SubsecRound;
    t.trunc_subsecs(6)
}

fn date_time(t: DateTime<Utc>) -> Value {
    json!({ "@value": domain::format_time(t), "@type": "xsd:dateTime" })
}

/// The grant's policy as an ODRL 2.2 `Agreement` in JSON-LD: permission to
/// `use` (and to `modify`, when processing is allowed) under purpose,
/// date-time, count and spatial constraints; `distribute` prohibited.
pub(crate) fn odrl(grant: &GrantRow) -> Result<Value> {
    let policy = grant.policy()?;
    let target = match policy.version {
        Some(v) => format!("urn:datamarket:dataset:{}:version:{v}", grant.dataset_id),
        None => format!("urn:datamarket:dataset:{}", grant.dataset_id),
    };
    let assigner = format!("urn:datamarket:account:{}", grant.licensor_id);
    let assignee = format!("urn:datamarket:account:{}", grant.licensee_id);
    let mut constraints = vec![
        json!({"leftOperand": "dateTime", "operator": "gteq", "rightOperand": date_time(policy.not_before)}),
        json!({"leftOperand": "dateTime", "operator": "lt", "rightOperand": date_time(policy.not_after)}),
        json!({"leftOperand": "count", "operator": "lteq", "rightOperand": policy.max_downloads}),
        json!({"leftOperand": "spatial", "operator": "isAnyOf", "rightOperand": policy.territory}),
    ];
    if !policy.purposes.is_empty() {
        constraints.insert(
            0,
            json!({"leftOperand": "purpose", "operator": "isAnyOf", "rightOperand": policy.purposes}),
        );
    }
    let mut permissions = vec![json!({
        "target": target,
        "assigner": assigner,
        "assignee": assignee,
        "action": "use",
        "constraint": constraints,
    })];
    if policy.processing {
        permissions.push(json!({
            "target": target,
            "assigner": assigner,
            "assignee": assignee,
            "action": "modify",
            "constraint": constraints,
        }));
    }
    Ok(json!({
        "@context": "http://www.w3.org/ns/odrl.jsonld",
        "@type": "Agreement",
        "uid": format!("urn:datamarket:grant:{}", grant.id),
        "assigner": assigner,
        "assignee": assignee,
        "target": target,
        "permission": permissions,
        "prohibition": [{
            "target": target,
            "assigner": assigner,
            "assignee": assignee,
            "action": "distribute",
        }],
    }))
}
