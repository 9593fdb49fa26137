//! The cross-border pathway, after the 2024 Provisions on Promoting and
//! Regulating Cross-Border Data Flows: a request (or an order) that sends
//! data abroad names its legal basis and how many individuals' personal
//! information would leave; [`required`] says which bases the law accepts
//! for that data, and anything but an exemption goes to a regulator, whose
//! assessment then bounds the grant.

use crate::catalog::DatasetRow;
use crate::config::CrossBorderSettings;
use crate::domain::Classification;
use crate::error::{Error, Result};

use super::types::LegalBasis;

/// The weakest basis the law accepts for one transfer, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Required {
    /// Any basis, an exemption included.
    Any,
    /// A security assessment, a standard contract or a certification.
    ContractOrBetter(String),
    /// Only a security assessment.
    Assessment(String),
}

impl Required {
    pub fn accepts(&self, basis: LegalBasis) -> bool {
        match self {
            Required::Any => true,
            Required::ContractOrBetter(_) => basis != LegalBasis::Exemption,
            Required::Assessment(_) => basis == LegalBasis::SecurityAssessment,
        }
    }
}

/// What the law needs before data leaves: important data, or personal
/// information of `assessment_subjects` individuals or more, only after a
/// security assessment; personal information of `exemption_subjects` or
/// more under a standard contract or a certification at least; anything
/// else under any basis, an exemption included.
pub fn required(
    important: bool,
    personal: bool,
    subjects: u64,
    rules: &CrossBorderSettings,
) -> Required {
    if important {
        Required::Assessment("important data leaves only after a security assessment".into())
    } else if personal && subjects >= rules.assessment_subjects {
        Required::Assessment(format!(
            "personal information of {subjects} individuals (from {} on) leaves only after a security assessment",
            rules.assessment_subjects
        ))
    } else if personal && subjects >= rules.exemption_subjects {
        Required::ContractOrBetter(format!(
            "personal information of {subjects} individuals (from {} on) leaves only after a security assessment, under a standard contract or with a certification",
            rules.exemption_subjects
        ))
    } else {
        Required::Any
    }
}

/// A transfer abroad the law allows on the basis it names. Only
/// [`Transfer::admit`] makes one, so no request is written cross-border
/// without its basis checked.
#[derive(Clone, Debug)]
pub(crate) struct Transfer {
    destination: String,
    basis: LegalBasis,
    subjects: u64,
}

impl Transfer {
    /// Admits sending `dataset` to `destination` on `basis`, or refuses
    /// (422 on `legal_basis`) a basis weaker than the data needs, saying
    /// what it needs and why.
    pub fn admit(
        dataset: &DatasetRow,
        destination: String,
        basis: LegalBasis,
        subjects: u64,
        rules: &CrossBorderSettings,
    ) -> Result<Transfer> {
        let needed = required(
            dataset.classification == Classification::Important,
            dataset.personal_data || dataset.inherited_personal_data,
            subjects,
            rules,
        );
        if let Required::ContractOrBetter(why) | Required::Assessment(why) = &needed
            && !needed.accepts(basis)
        {
            return Err(Error::invalid(
                "legal_basis",
                format!("{why}; {basis} is not enough"),
            ));
        }
        Ok(Transfer {
            destination,
            basis,
            subjects,
        })
    }

    pub fn destination(&self) -> &str {
        &self.destination
    }

    pub fn basis(&self) -> LegalBasis {
        self.basis
    }

    pub fn subjects(&self) -> u64 {
        self.subjects
    }

    /// A regulator looks at every transfer but an exempted one.
    pub fn requires_review(&self) -> bool {
        self.basis != LegalBasis::Exemption
    }
}

/// The basis and subject count a client stated, checked against whether
/// the request is cross-border: both are needed when it is (refused with
/// `required`), neither is taken when it is not (refused with `only`).
pub(crate) fn stated(
    cross_border: bool,
    required: &str,
    only: &str,
    basis: Option<LegalBasis>,
    subjects: Option<u64>,
) -> Result<Option<(LegalBasis, u64)>> {
    match (cross_border, basis, subjects) {
        // Stored as a signed 64-bit number; nobody sends that many people's data.
        (true, Some(_), Some(subjects)) if i64::try_from(subjects).is_err() => Err(Error::invalid(
            "personal_information_subjects",
            format!("must be at most {}", i64::MAX),
        )),
        (true, Some(basis), Some(subjects)) => Ok(Some((basis, subjects))),
        (true, None, _) => Err(Error::invalid("legal_basis", required)),
        (true, Some(_), None) => Err(Error::invalid("personal_information_subjects", required)),
        (false, Some(_), _) => Err(Error::invalid("legal_basis", only)),
        (false, None, Some(_)) => Err(Error::invalid("personal_information_subjects", only)),
        (false, None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use LegalBasis::*;

    const RULES: CrossBorderSettings = CrossBorderSettings {
        assessment_subjects: 1_000_000,
        exemption_subjects: 100_000,
    };

    fn accepted(important: bool, personal: bool, subjects: u64) -> Vec<LegalBasis> {
        let needed = required(important, personal, subjects, &RULES);
        LegalBasis::ALL
            .iter()
            .copied()
            .filter(|b| needed.accepts(*b))
            .collect()
    }

    #[test]
    fn important_data_needs_a_security_assessment_whatever_the_count() {
        for personal in [false, true] {
            for subjects in [0, 10, 150_000, 2_000_000] {
                assert_eq!(
                    accepted(true, personal, subjects),
                    [SecurityAssessment],
                    "{personal} {subjects}"
                );
            }
        }
        let Required::Assessment(why) = required(true, false, 0, &RULES) else {
            panic!("an assessment")
        };
        assert_eq!(
            why,
            "important data leaves only after a security assessment"
        );
    }

    #[test]
    fn personal_information_by_the_number_of_individuals() {
        assert_eq!(accepted(false, true, 0), LegalBasis::ALL);
        assert_eq!(accepted(false, true, 99_999), LegalBasis::ALL);
        assert_eq!(
            accepted(false, true, 100_000),
            [SecurityAssessment, StandardContract, Certification]
        );
        assert_eq!(
            accepted(false, true, 999_999),
            [SecurityAssessment, StandardContract, Certification]
        );
        assert_eq!(accepted(false, true, 1_000_000), [SecurityAssessment]);
        assert_eq!(accepted(false, true, u64::MAX), [SecurityAssessment]);
        let Required::ContractOrBetter(why) = required(false, true, 150_000, &RULES) else {
            panic!("a contract or better")
        };
        assert!(why.contains("150000 individuals (from 100000 on)"), "{why}");
    }

    #[test]
    fn data_without_personal_information_may_go_on_any_basis() {
        assert_eq!(required(false, false, 0, &RULES), Required::Any);
        // a count stated for data that holds none does not raise the bar
        assert_eq!(required(false, false, 5_000_000, &RULES), Required::Any);
    }

    #[test]
    fn the_thresholds_are_the_configured_ones() {
        let strict = CrossBorderSettings {
            assessment_subjects: 10,
            exemption_subjects: 0,
        };
        assert!(!required(false, true, 0, &strict).accepts(Exemption));
        assert!(!required(false, true, 10, &strict).accepts(Certification));
    }

    #[test]
    fn both_fields_with_and_only_with_cross_border() {
        assert_eq!(
            stated(true, "x", "y", Some(Exemption), Some(3)).unwrap(),
            Some((Exemption, 3))
        );
        assert_eq!(stated(false, "x", "y", None, None).unwrap(), None);
        for (cross_border, basis, subjects, field) in [
            (true, None, Some(3), "legal_basis"),
            (true, None, None, "legal_basis"),
            (true, Some(Exemption), None, "personal_information_subjects"),
            (false, Some(Exemption), Some(3), "legal_basis"),
            (false, None, Some(3), "personal_information_subjects"),
            (
                true,
                Some(Exemption),
                Some(u64::MAX),
                "personal_information_subjects",
            ),
        ] {
            let err = stated(cross_border, "x", "y", basis, subjects).unwrap_err();
            assert!(err.to_string().starts_with(field), "{err}");
        }
    }
}
