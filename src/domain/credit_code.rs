//! The unified social credit code (统一社会信用代码) every organisation in
//! China registers under, GB 32100-2015: 18 characters from a 31-character
//! alphabet, the last a check character over the first 17.

use std::fmt;

use crate::error::{Error, Result};

/// The code's alphabet: digits and capitals without I, O, S, V and Z.
const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// The weight of position i (from 0) is 3^i mod 31.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// A unified social credit code whose check character is right.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreditCode(String);

impl CreditCode {
    /// Parses `text` (surrounding spaces ignored, letters upper-cased).
    pub fn parse(field: &str, text: &str) -> Result<CreditCode> {
        let code = text.trim().to_ascii_uppercase();
        let values: Option<Vec<u32>> = code
            .bytes()
            .map(|b| ALPHABET.iter().position(|&a| a == b).map(|v| v as u32))
            .collect();
        let Some(values) = values.filter(|v| v.len() == 18) else {
            return Err(Error::invalid(
                field,
                "must be 18 characters of digits and capitals other than I, O, S, V and Z (GB 32100-2015)",
            ));
        };
        let sum: u32 = values[..17].iter().zip(WEIGHTS).map(|(v, w)| v * w).sum();
        let check = (31 - sum % 31) % 31;
        if values[17] != check {
            return Err(Error::invalid(
                field,
                format!(
                    "the check character should be {} (GB 32100-2015): the code is mistyped",
                    ALPHABET[check as usize] as char
                ),
            ));
        }
        Ok(CreditCode(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_powers_of_three_mod_31() {
        let mut w = 1;
        for weight in WEIGHTS {
            assert_eq!(weight, w);
            w = w * 3 % 31;
        }
    }

    #[test]
    fn published_codes_check() {
        // python-stdnum's cn.uscc examples and codes printed on business
        // licences.
        for code in [
            "91110000600037341L",
            "91350100M000100Y43",
            "9111000071093123XX",
        ] {
            assert_eq!(CreditCode::parse("c", code).unwrap().as_str(), code);
        }
        assert_eq!(
            CreditCode::parse("c", " 91110000600037341l ")
                .unwrap()
                .as_str(),
            "91110000600037341L"
        );
    }

    #[test]
    fn mistakes_are_caught() {
        // One character changed, two swapped, wrong length, forbidden letter.
        for code in [
            "91110000600037341M",
            "91110000600037314L",
            "9111000060003734L",
            "91110000600037341LL",
            "9111000060003734IL",
            "",
        ] {
            assert!(CreditCode::parse("c", code).is_err(), "{code}");
        }
    }
}
