//! Where things belong for oversight: an account's region (a subdivision of
//! its territory, ISO 3166-2, such as `CN-SH`), a listing's sector, and a
//! regulator's jurisdiction over regions and sectors.

use serde::{Deserialize, Serialize};

use super::market_words;

market_words!(
    /// The sector of the economy a listing's data comes from, as sector
    /// regulators divide the market.
    Sector {
        Agriculture = "agriculture",
        Industry = "industry",
        Energy = "energy",
        Transport = "transport",
        Finance = "finance",
        Health = "health",
        Education = "education",
        Science = "science",
        Telecom = "telecom",
        Commerce = "commerce",
        Environment = "environment",
        PublicAdministration = "public_administration",
        Other = "other",
    }
);

/// An ISO 3166-2 subdivision code within `territory`: the country code, a
/// hyphen, and one to three capitals or digits.
pub fn is_region_of(region: &str, territory: &str) -> bool {
    match region.split_once('-') {
        Some((country, rest)) => {
            country == territory
                && (1..=3).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        }
        None => false,
    }
}

/// The regions and sectors a regulator oversees. An empty list does not
/// restrict: a regulator with neither oversees the whole market.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Jurisdiction {
    /// ISO 3166-2 subdivision codes of the home territory, e.g. `CN-SH`.
    #[serde(default)]
    pub regions: Vec<String>,
    #[serde(default)]
    pub sectors: Vec<Sector>,
}

impl Jurisdiction {
    /// Whether it oversees the whole market.
    pub fn is_national(&self) -> bool {
        self.regions.is_empty() && self.sectors.is_empty()
    }

    /// The regions it is limited to, if it is.
    pub fn regions(&self) -> Option<&[String]> {
        (!self.regions.is_empty()).then_some(self.regions.as_slice())
    }

    /// The sectors it is limited to, if it is.
    pub fn sectors(&self) -> Option<Vec<String>> {
        (!self.sectors.is_empty())
            .then(|| self.sectors.iter().map(|s| s.as_str().to_owned()).collect())
    }

    /// Whether a participant registered in `region` falls in it, whatever
    /// the sector (a participant is not of one sector).
    pub fn covers_region(&self, region: Option<&str>) -> bool {
        self.regions.is_empty() || region.is_some_and(|r| self.regions.iter().any(|x| x == r))
    }

    /// Whether something in `region` and `sector` falls in it. Something
    /// with no region (or no sector) falls only in jurisdictions not
    /// limited by region (or sector).
    pub fn covers(&self, region: Option<&str>, sector: Option<&str>) -> bool {
        let region_ok = self.covers_region(region);
        let sector_ok = self.sectors.is_empty()
            || sector.is_some_and(|s| self.sectors.iter().any(|x| x.as_str() == s));
        region_ok && sector_ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_subdivisions_of_their_territory() {
        assert!(is_region_of("CN-SH", "CN"));
        assert!(is_region_of("CN-44", "CN"));
        assert!(!is_region_of("SG-01", "CN"));
        assert!(!is_region_of("CN-", "CN"));
        assert!(!is_region_of("CN-ABCD", "CN"));
        assert!(!is_region_of("cn-sh", "CN"));
        assert!(!is_region_of("CNSH", "CN"));
    }

    #[test]
    fn a_jurisdiction_covers_what_is_in_all_its_limits() {
        let national = Jurisdiction::default();
        assert!(national.covers(None, None));
        let shanghai_finance = Jurisdiction {
            regions: vec!["CN-SH".into()],
            sectors: vec![Sector::Finance],
        };
        assert!(shanghai_finance.covers(Some("CN-SH"), Some("finance")));
        assert!(!shanghai_finance.covers(Some("CN-SH"), Some("health")));
        assert!(!shanghai_finance.covers(Some("CN-GD"), Some("finance")));
        assert!(!shanghai_finance.covers(None, Some("finance")));
        assert!(!shanghai_finance.covers(Some("CN-SH"), None));
        let shanghai = Jurisdiction {
            regions: vec!["CN-SH".into()],
            sectors: vec![],
        };
        assert!(shanghai.covers(Some("CN-SH"), None));
    }
}
