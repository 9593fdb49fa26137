//! The catalog as the protocol shows it: each listed dataset a `Dataset`
//! with its ODRL offers (`hasPolicy`): the request-based offer (the
//! listing's licence, decided by its holder as an access request) and the
//! listing's priced offers, and one HTTP-pull distribution.

use serde_json::{Value, json};
use uuid::Uuid;

use super::messages::CONTEXT;
use super::{HTTP_PULL, OFFER_DAYS, OFFER_DOWNLOADS, request_offer_id, urn};
use crate::catalog::{self, Dataset, SearchQuery};
use crate::domain::{Actor, DatasetStatus};
use crate::error::{Error, Result};
use crate::market::Market;
use crate::trading::{self, Offer};

/// The data service every distribution names.
fn service_id(base: &str) -> String {
    format!("{base}/dsp")
}

/// The offer a request for access makes: use, within the listing's home
/// territory, at most `OFFER_DOWNLOADS` downloads over `OFFER_DAYS` days.
fn request_offer(dataset: &Dataset, home: &str) -> Value {
    json!({
        "@id": request_offer_id(dataset.id),
        "@type": "Offer",
        "permission": [{
            "action": "use",
            "constraint": [
                {"leftOperand": "count", "operator": "lteq", "rightOperand": OFFER_DOWNLOADS.to_string()},
                {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": format!("P{OFFER_DAYS}D")},
                {"leftOperand": "spatial", "operator": "eq", "rightOperand": home},
            ],
        }],
        "prohibition": [{"action": "distribute"}],
    })
}

/// A priced offer (bought through the API's orders, not negotiated here).
fn priced_offer(offer: &Offer) -> Value {
    let mut permission = json!({
        "action": "use",
        "constraint": [
            {"leftOperand": "count", "operator": "lteq", "rightOperand": offer.max_downloads.to_string()},
            {"leftOperand": "elapsedTime", "operator": "lteq", "rightOperand": format!("P{}D", offer.term_days)},
            {"leftOperand": "spatial", "operator": "isAnyOf", "rightOperand": offer.territory.join(",")},
        ],
    });
    if offer.processing {
        permission = json!([permission, {"action": "derive"}]);
    } else {
        permission = json!([permission]);
    }
    json!({
        "@id": urn(offer.id),
        "@type": "Offer",
        "permission": permission,
    })
}

/// One dataset as the protocol shows it.
fn dataset_entry(dataset: &Dataset, offers: &[Offer], base: &str, home: &str) -> Value {
    let mut policies = vec![request_offer(dataset, home)];
    policies.extend(offers.iter().map(priced_offer));
    json!({
        "@id": urn(dataset.id),
        "@type": "Dataset",
        "title": dataset.title,
        "description": dataset.description,
        "keyword": dataset.tags,
        "license": dataset.license,
        "hasPolicy": policies,
        "distribution": [{
            "@type": "Distribution",
            "format": HTTP_PULL,
            "accessService": service_id(base),
        }],
    })
}

/// The catalog: the listed datasets (the newest `limit`), each with its offers.
pub async fn catalog(
    market: &Market,
    actor: Option<&Actor>,
    base: &str,
    limit: u32,
) -> Result<Value> {
    let page = catalog::search(
        market,
        SearchQuery {
            limit: Some(limit),
            ..SearchQuery::default()
        },
    )
    .await?;
    let home = market.settings.catalog.home_territory.clone();
    let mut datasets = Vec::with_capacity(page.items.len());
    for dataset in page
        .items
        .iter()
        .filter(|d| d.status == DatasetStatus::Listed)
    {
        let offers = trading::offers::of_dataset(market, actor, dataset.id).await?;
        datasets.push(dataset_entry(dataset, &offers, base, &home));
    }
    Ok(json!({
        "@context": [CONTEXT],
        "@id": format!("{base}/dsp/catalog"),
        "@type": "Catalog",
        "participantId": format!("{base}/dsp"),
        "service": [{
            "@id": service_id(base),
            "@type": "DataService",
            "endpointURL": format!("{base}/dsp"),
        }],
        "dataset": datasets,
    }))
}

/// One listed dataset; anything else is "not found".
pub async fn dataset(
    market: &Market,
    actor: Option<&Actor>,
    id: Uuid,
    base: &str,
) -> Result<Value> {
    let dataset = catalog::get(market, actor, id).await?;
    if dataset.status != DatasetStatus::Listed {
        return Err(Error::not_found("dataset"));
    }
    let offers = trading::offers::of_dataset(market, actor, id).await?;
    let home = market.settings.catalog.home_territory.clone();
    let mut entry = dataset_entry(&dataset, &offers, base, &home);
    if let Value::Object(map) = &mut entry {
        map.insert("@context".into(), json!([CONTEXT]));
    }
    Ok(entry)
}
