//! Money as the market counts it: integer minor units of an ISO 4217
//! currency, shares in basis points, and the royalty rule — exact to the
//! minor unit, with every remainder accounted for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The largest amount one price, payment or payout may carry, in minor
/// units (10^15: far beyond any trade, and far enough below `i64::MAX`
/// that balances cannot overflow).
pub const MAX_AMOUNT: i64 = 1_000_000_000_000_000;

/// Basis points in a whole.
pub const WHOLE_BPS: u32 = 10_000;

/// The most a dataset's sources may take, together, of what it earns: the
/// rest always stays with its own provider.
pub const MAX_ROYALTY_BPS: u32 = 9_000;

/// How many steps up the lineage royalties travel; a source further up
/// keeps nothing from this sale (its nearer descendant keeps its share).
pub const MAX_ROYALTY_DEPTH: usize = 8;

/// An ISO 4217 code: three capital letters.
pub fn check_currency(field: &str, currency: &str) -> Result<()> {
    if currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            "must be an ISO 4217 code such as \"CNY\"",
        ))
    }
}

/// `amount × bps / 10000`, rounded down (never more than was there).
pub fn share(amount: i64, bps: u32) -> i64 {
    ((i128::from(amount) * i128::from(bps)) / i128::from(WHOLE_BPS)) as i64
}

/// A source a dataset was derived from, and the royalty its processing
/// licence set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceShare {
    pub source: String,
    pub bps: u32,
}

/// Splits `amount`, earned by selling `dataset`, between the dataset and the
/// sources it was derived from, recursively up the lineage: each dataset
/// passes to each of its sources that source's royalty (in basis points) of
/// what it received — rounded down, sources taken in order of id, together
/// at most [`MAX_ROYALTY_BPS`] — and keeps the rest, remainders included.
/// Returns what each dataset keeps; the kept amounts always sum to
/// `amount` exactly. `sources` gives a dataset's sources.
pub fn royalty_split(
    dataset: &str,
    amount: i64,
    sources: &mut dyn FnMut(&str) -> Result<Vec<SourceShare>>,
) -> Result<BTreeMap<String, i64>> {
    let mut kept = BTreeMap::new();
    distribute(dataset, amount, 0, sources, &mut kept)?;
    Ok(kept)
}

fn distribute(
    dataset: &str,
    amount: i64,
    depth: usize,
    sources: &mut dyn FnMut(&str) -> Result<Vec<SourceShare>>,
    kept: &mut BTreeMap<String, i64>,
) -> Result<()> {
    let mut keeps = amount;
    if depth < MAX_ROYALTY_DEPTH && amount > 0 {
        let mut edges = sources(dataset)?;
        edges.sort_by(|a, b| a.source.cmp(&b.source));
        let mut used = 0u32;
        for edge in edges {
            let bps = edge.bps.min(MAX_ROYALTY_BPS - used);
            used += bps;
            let passed = share(amount, bps);
            if passed > 0 {
                keeps -= passed;
                distribute(&edge.source, passed, depth + 1, sources, kept)?;
            }
        }
    }
    *kept.entry(dataset.to_owned()).or_insert(0) += keeps;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(edges: &[(&str, &str, u32)]) -> impl FnMut(&str) -> Result<Vec<SourceShare>> {
        let edges: Vec<(String, String, u32)> = edges
            .iter()
            .map(|(d, s, b)| (d.to_string(), s.to_string(), *b))
            .collect();
        move |dataset: &str| {
            Ok(edges
                .iter()
                .filter(|(d, _, _)| d == dataset)
                .map(|(_, s, b)| SourceShare {
                    source: s.clone(),
                    bps: *b,
                })
                .collect())
        }
    }

    #[test]
    fn a_diamond_sums_to_the_sale() {
        // D from B (10%) and C (20%); B and C both from A (30%, 15%).
        let mut sources = graph(&[
            ("D", "B", 1000),
            ("D", "C", 2000),
            ("B", "A", 3000),
            ("C", "A", 1500),
        ]);
        let kept = royalty_split("D", 9_999, &mut sources).unwrap();
        // B gets 999 (floor of 999.9), passes 299 to A, keeps 700.
        // C gets 1999, passes 299 to A, keeps 1700. D keeps 9999-999-1999.
        assert_eq!(kept["B"], 700);
        assert_eq!(kept["C"], 1700);
        assert_eq!(kept["A"], 299 + 299);
        assert_eq!(kept["D"], 9_999 - 999 - 1_999);
        assert_eq!(kept.values().sum::<i64>(), 9_999);
    }

    #[test]
    fn shares_are_capped_below_the_whole() {
        let mut sources = graph(&[("D", "A", 6000), ("D", "B", 6000)]);
        let kept = royalty_split("D", 1_000, &mut sources).unwrap();
        assert_eq!(kept["A"], 600);
        assert_eq!(kept["B"], 300, "only what is left of 90%");
        assert_eq!(kept["D"], 100);
    }

    #[test]
    fn depth_is_capped_and_nothing_is_lost() {
        let chain: Vec<(String, String, u32)> = (0..20)
            .map(|i| (format!("d{i:02}"), format!("d{:02}", i + 1), 9000))
            .collect();
        let refs: Vec<(&str, &str, u32)> = chain
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), *c))
            .collect();
        let mut sources = graph(&refs);
        let kept = royalty_split("d00", 1_000_000_007, &mut sources).unwrap();
        assert!(kept.len() <= MAX_ROYALTY_DEPTH + 1);
        assert_eq!(kept.values().sum::<i64>(), 1_000_000_007);
    }

    #[test]
    fn shares_round_down() {
        assert_eq!(share(1, 9999), 0);
        assert_eq!(share(10_001, 5000), 5000);
        assert_eq!(share(i64::MAX, 10_000), i64::MAX);
    }
}
