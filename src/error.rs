//! The services' one error type. A refusal carries a stable [`Code`] (the
//! problem `type` clients program against) and a sentence for people; the
//! gateway alone decides which HTTP status each code gets.

use serde_json::{Map, Value};

/// Declares the problem codes: their stable slug and a short title.
macro_rules! problem_codes {
    ($($variant:ident = $slug:literal, $title:literal;)+) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code { $($variant),+ }

        impl Code {
            pub const ALL: &'static [Code] = &[$(Code::$variant),+];

            /// The stable machine-readable name, the last segment of the
            /// problem `type` URI.
            pub fn slug(self) -> &'static str {
                match self { $(Code::$variant => $slug),+ }
            }

            pub fn title(self) -> &'static str {
                match self { $(Code::$variant => $title),+ }
            }

            pub fn from_slug(slug: &str) -> Option<Code> {
                match slug { $($slug => Some(Code::$variant),)+ _ => None }
            }
        }
    };
}

problem_codes! {
    MalformedBody = "malformed-body", "The request body is not well-formed";
    InvalidBody = "invalid-body", "The request body does not match the expected shape";
    InvalidParameter = "invalid-parameter", "A path or query parameter is invalid";
    InvalidCursor = "invalid-cursor", "The pagination cursor is not valid";
    InvalidProofRequest = "invalid-proof-request", "The tree sizes or index do not describe a proof";
    Unauthenticated = "unauthenticated", "Authentication is required";
    InvalidToken = "invalid-token", "The bearer token is not valid";
    InvalidCredentials = "invalid-credentials", "The name or password is wrong";
    WrongRole = "wrong-role", "Your roles do not allow this";
    AccountSuspended = "account-suspended", "The account is suspended";
    UnverifiedParticipant = "unverified-participant", "A regulator has not verified the participant";
    NotPermitted = "not-permitted", "You hold no right that allows this";
    LacksProcessingRight = "lacks-processing-right", "A source lacks the processing right";
    NoGrant = "no-grant", "No grant allows this delivery";
    GrantNotYetValid = "grant-not-yet-valid", "The grant's validity window has not begun";
    GrantExpired = "grant-expired", "The grant has expired";
    GrantRevoked = "grant-revoked", "The grant was revoked";
    GrantExhausted = "grant-exhausted", "The grant's downloads are used up";
    OutsideTerritory = "outside-territory", "Delivery to this territory is not granted";
    VersionUnderReview = "version-under-review", "The version awaits a regulator's review";
    NotFound = "not-found", "Not found";
    MethodNotAllowed = "method-not-allowed", "The method is not allowed on this resource";
    AlreadyExists = "already-exists", "It already exists";
    InvalidState = "invalid-state", "Not allowed in the current state";
    InsufficientFunds = "insufficient-funds", "The wallet does not hold enough";
    Frozen = "frozen", "A regulator has frozen this";
    OutsideJurisdiction = "outside-jurisdiction", "This is outside your jurisdiction as a regulator";
    IdempotencyKeyReused = "idempotency-key-reused", "The Idempotency-Key was used for another request";
    InvalidSignature = "invalid-signature", "The request's signature does not verify";
    PayloadTooLarge = "payload-too-large", "The request body is too large";
    UnsupportedMediaType = "unsupported-media-type", "The content type is not accepted";
    NotAcceptable = "not-acceptable", "No acceptable representation";
    RangeNotSatisfiable = "range-not-satisfiable", "The requested range is not satisfiable";
    ValidationFailed = "validation-failed", "A field has an invalid value";
    WeakPassword = "weak-password", "The password is too weak";
    CoreDataNotTradable = "core-data-not-tradable", "Core data cannot be traded";
    NoVersion = "no-version", "The dataset has no version";
    PurposeRequired = "purpose-required", "Personal data needs a stated purpose";
    DerivationCycle = "derivation-cycle", "A dataset cannot derive from itself or its descendants";
    TooManyRequests = "too-many-requests", "Too many requests";
    Internal = "internal", "Internal error";
    Unavailable = "unavailable", "Temporarily unavailable";
}

impl Code {
    /// The reasons a delivery under a grant is refused.
    pub fn is_delivery_refusal(self) -> bool {
        matches!(
            self,
            Code::NoGrant
                | Code::GrantNotYetValid
                | Code::GrantExpired
                | Code::GrantRevoked
                | Code::GrantExhausted
                | Code::OutsideTerritory
                | Code::VersionUnderReview
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request was understood and refused; the caller can act on `code`.
    #[error("{detail}")]
    Refused {
        code: Code,
        detail: String,
        /// Extra members of the problem document (e.g. the current state).
        extensions: Map<String, Value>,
    },
    #[error("database error: {0}")]
    Database(#[from] diesel::result::Error),
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("object store error: {0}")]
    Objects(#[from] object_store::Error),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn refused(code: Code, detail: impl Into<String>) -> Self {
        Error::Refused {
            code,
            detail: detail.into(),
            extensions: Map::new(),
        }
    }

    pub fn not_found(what: &str) -> Self {
        Error::refused(Code::NotFound, format!("{what} not found"))
    }

    pub fn invalid(field: &str, why: impl std::fmt::Display) -> Self {
        Error::refused(Code::ValidationFailed, format!("{field}: {why}"))
            .with("field", Value::String(field.to_owned()))
    }

    /// Adds a member to the problem document.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Error::Refused { extensions, .. } = &mut self {
            extensions.insert(key.to_owned(), value.into());
        }
        self
    }

    /// The code a client sees; everything not refused on purpose is internal.
    pub fn code(&self) -> Code {
        match self {
            Error::Refused { code, .. } => *code,
            Error::Unavailable(_) => Code::Unavailable,
            _ => Code::Internal,
        }
    }

    /// Whether the transaction lost a race the database resolved for us and
    /// may simply be run again.
    pub fn is_retryable(&self) -> bool {
        use diesel::result::{DatabaseErrorKind, Error as D};
        match self {
            Error::Database(D::DatabaseError(DatabaseErrorKind::SerializationFailure, _)) => true,
            Error::Database(D::DatabaseError(_, info)) => {
                let message = info.message();
                // PostgreSQL deadlocks (40P01) and SQLite lock timeouts under
                // contention carry no dedicated diesel kind.
                message.contains("deadlock detected") || message.contains("database is locked")
            }
            _ => false,
        }
    }
}

/// Turns a unique-constraint violation into the given refusal and leaves
/// every other database error as it is.
pub fn on_unique_violation(err: diesel::result::Error, refusal: impl FnOnce() -> Error) -> Error {
    use diesel::result::{DatabaseErrorKind, Error as D};
    match err {
        D::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => refusal(),
        other => Error::Database(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(seen.insert(code.slug()), "duplicate slug {}", code.slug());
            assert_eq!(Code::from_slug(code.slug()), Some(*code));
        }
    }
}
