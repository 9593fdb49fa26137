//! The listed catalog with its offers, as DCAT-AP 3: every page of the
//! public catalog ([`catalog::dcat::listed`]), the active offers of each
//! page's listings, rendered by [`catalog::dcat::render`]. Offers are
//! trading's, and the catalog sits below trading: this is where the two
//! meet.

use crate::catalog::{self, dcat};
use crate::error::{Error, Result};
use crate::market::Market;

pub use dcat::Format;

/// The whole listed catalog in `format`, its IRIs under `base` (the
/// market's public base URL). The catalog is read a page at a time; the
/// document is built in memory.
pub async fn dcat_catalog(market: &Market, base: &str, format: Format) -> Result<Vec<u8>> {
    let mut entries = Vec::new();
    let mut cursor = None;
    loop {
        let (mut page, next) = dcat::listed(market, cursor).await?;
        let ids = page.iter().map(|e| e.dataset.id).collect();
        let mut offers = super::offers::active_of_listed(market, ids).await?;
        for entry in &mut page {
            entry.offers = offers
                .remove(&entry.dataset.id)
                .unwrap_or_default()
                .into_iter()
                .map(|o| dcat::OfferTerms {
                    id: o.id,
                    version: o.version,
                    plan: o.plan.as_str().to_owned(),
                    amount: o.price.amount,
                    currency: o.price.currency,
                    period_days: o.period_days,
                    term_days: o.term_days,
                    max_downloads: o.max_downloads,
                    purposes: o.purposes,
                    processing: o.processing,
                    territory: o.territory,
                    royalty_bps: o.royalty_bps,
                })
                .collect();
        }
        entries.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let base = base.to_owned();
    tokio::task::spawn_blocking(move || catalog::dcat::render(&base, &entries, format))
        .await
        .map_err(|e| Error::Internal(format!("rendering the catalog: {e}")))?
}
