//! Free text as the market keeps it. Every title, description, purpose,
//! note, reason and name a client sends is parsed once, here, by one rule:
//!
//! * Unicode NFC, so that the same words are the same bytes in the database,
//!   in search and in the audit log's canonical entries;
//! * surrounding white space trimmed;
//! * length counted in characters (a Chinese title of 200 characters is as
//!   long as an English one), within the kind's bounds;
//! * control characters refused, with a 422 naming the field. Kinds that hold
//!   paragraphs (descriptions, notes, reasons) allow line breaks and tabs;
//!   one-line kinds allow none.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

use crate::error::{Error, Result};

/// The bounds of one kind of text.
#[derive(Clone, Copy, Debug)]
pub struct Rule {
    pub min_chars: usize,
    pub max_chars: usize,
    pub multiline: bool,
}

impl Rule {
    /// Applies the rule to `raw`, naming `field` in the refusal.
    pub fn apply(self, field: &str, raw: &str) -> Result<String> {
        let text: String = raw.trim().nfc().collect();
        if let Some(c) = text
            .chars()
            .find(|c| c.is_control() && !(self.multiline && matches!(c, '\n' | '\t' | '\r')))
        {
            return Err(Error::invalid(
                field,
                format!(
                    "must not contain control characters (found U+{:04X})",
                    c as u32
                ),
            ));
        }
        let chars = text.chars().count();
        if chars < self.min_chars {
            return Err(Error::invalid(
                field,
                if self.min_chars == 1 {
                    "must not be empty".to_owned()
                } else {
                    format!("must be at least {} characters", self.min_chars)
                },
            ));
        }
        if chars > self.max_chars {
            return Err(Error::invalid(
                field,
                format!("must be at most {} characters", self.max_chars),
            ));
        }
        Ok(text)
    }
}

/// Declares a kind of free text with its rule.
macro_rules! free_text {
    ($($(#[$meta:meta])* $name:ident { min: $min:expr, max: $max:expr, multiline: $multi:expr })+) => {
        $(
            $(#[$meta])*
            #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
            #[serde(transparent)]
            pub struct $name(String);

            impl $name {
                pub const RULE: Rule = Rule { min_chars: $min, max_chars: $max, multiline: $multi };

                /// Parses a value a client sent in `field`.
                pub fn parse(field: &str, raw: &str) -> Result<Self> {
                    Self::RULE.apply(field, raw).map($name)
                }

                /// Parses an optional value; absent or blank is `None`.
                pub fn parse_optional(field: &str, raw: Option<&str>) -> Result<Option<Self>> {
                    match raw.map(str::trim).filter(|r| !r.is_empty()) {
                        None => Ok(None),
                        Some(raw) => Rule { min_chars: 0, ..Self::RULE }.apply(field, raw).map(|t| Some($name(t))),
                    }
                }

                pub fn as_str(&self) -> &str {
                    &self.0
                }

                pub fn into_string(self) -> String {
                    self.0
                }
            }

            impl AsRef<str> for $name {
                fn as_ref(&self) -> &str {
                    &self.0
                }
            }

            impl ::std::fmt::Display for $name {
                fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                    f.write_str(&self.0)
                }
            }
        )+
    };
}

free_text! {
    /// A listing's title.
    Title { min: 1, max: 200, multiline: false }
    /// A listing's description.
    Description { min: 0, max: 20_000, multiline: true }
    /// A listing's licence terms.
    LicenceText { min: 1, max: 4_000, multiline: true }
    /// One tag: a single word (checked separately: no spaces).
    Tag { min: 1, max: 50, multiline: false }
    /// What a consumer will use the data for.
    Purpose { min: 0, max: 500, multiline: false }
    /// A consumer's message to the provider.
    Message { min: 0, max: 2_000, multiline: true }
    /// Why a decision, review, revocation or delisting was made.
    Reason { min: 1, max: 2_000, multiline: true }
    /// A note on a transfer of a right.
    Note { min: 0, max: 2_000, multiline: true }
    /// A processing step's name.
    ActivityName { min: 1, max: 200, multiline: false }
    /// A processing step's description.
    ActivityDescription { min: 0, max: 4_000, multiline: true }
    /// An account's display name or organisation.
    DisplayName { min: 0, max: 200, multiline: false }
    /// What happened in an incident.
    IncidentText { min: 1, max: 4_000, multiline: true }
    /// What a complaint is about, in the complainant's words.
    ComplaintText { min: 1, max: 4_000, multiline: true }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Code;

    #[test]
    fn text_is_trimmed_and_normalised() {
        // "é" as e + combining acute becomes the one code point.
        let t = Title::parse("title", "  Caf\u{65}\u{301}  ").unwrap();
        assert_eq!(t.as_str(), "Caf\u{e9}");
    }

    #[test]
    fn length_counts_characters() {
        assert!(Title::parse("title", &"交".repeat(200)).is_ok());
        let err = Title::parse("title", &"交".repeat(201)).unwrap_err();
        assert_eq!(err.code(), Code::ValidationFailed);
        assert!(Title::parse("title", "   ").is_err());
    }

    #[test]
    fn control_characters_are_refused_and_the_field_named() {
        let err = Purpose::parse("purpose", "model\u{7}").unwrap_err();
        assert_eq!(err.code(), Code::ValidationFailed);
        assert!(err.to_string().starts_with("purpose:"), "{err}");
        assert!(Purpose::parse("purpose", "two\nlines").is_err());
        assert!(Note::parse_optional("note", Some("two\nlines")).is_ok());
        assert!(Note::parse_optional("note", Some("esc\u{1b}[31m")).is_err());
    }

    #[test]
    fn optional_blank_is_none() {
        assert_eq!(Reason::parse_optional("reason", Some("  ")).unwrap(), None);
        assert_eq!(Reason::parse_optional("reason", None).unwrap(), None);
        assert!(Reason::parse("reason", "").is_err());
    }
}
