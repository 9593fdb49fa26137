//! The market's vocabulary as types: roles, classifications, lifecycle
//! states, right kinds. Each is stored and sent as the same lowercase word, so
//! the database, the API and the audit log read alike; at the diesel boundary
//! a word column reads and writes the enum itself, so no service compares
//! state strings. Free text is parsed once, by one rule, in [`text`].

pub mod credit_code;
pub mod jurisdiction;
pub mod text;

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDateTime, SubsecRound, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::Error;

/// Declares a closed set of market words with their one spelling.
macro_rules! market_words {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
            diesel::expression::AsExpression, diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// Reads a value the store wrote; anything else means the row was
            /// altered outside the service.
            pub fn from_db(text: &str) -> Result<Self, $crate::error::Error> {
                Self::parse(text).ok_or_else(|| {
                    $crate::error::Error::Internal(format!(concat!("stored ", stringify!($name), " {:?} is not valid"), text))
                })
            }
        }

        // Written out rather than derived: the derive does not see the serde
        // renames through the macro and would document the variant names.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some([$($text),+]))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}

        // Generic over the backend, so that it holds for SQLite, PostgreSQL
        // and the multi-connection backend over both alike.
        impl<DB> diesel::deserialize::FromSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            String: diesel::deserialize::FromSql<diesel::sql_types::Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = <String as diesel::deserialize::FromSql<diesel::sql_types::Text, DB>>::from_sql(bytes)?;
                Self::parse(&text).ok_or_else(|| {
                    format!(concat!("stored ", stringify!($name), " {:?} is not valid"), text).into()
                })
            }
        }

        impl<DB> diesel::serialize::ToSql<diesel::sql_types::Text, DB> for $name
        where
            DB: diesel::backend::Backend,
            str: diesel::serialize::ToSql<diesel::sql_types::Text, DB>,
        {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, DB>,
            ) -> diesel::serialize::Result {
                <str as diesel::serialize::ToSql<diesel::sql_types::Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use market_words;

market_words!(
    /// What an account may do in the market; an account can hold several.
    Role {
        Provider = "provider",
        Consumer = "consumer",
        Regulator = "regulator",
        Auditor = "auditor",
        Admin = "admin",
    }
);

market_words!(
    /// What kind of entity a participant is.
    EntityType {
        Enterprise = "enterprise",
        Government = "government",
        Research = "research",
        SocialOrganisation = "social_organisation",
        Individual = "individual",
    }
);

market_words!(
    /// Data classification under the Data Security Law.
    Classification {
        General = "general",
        Important = "important",
        Core = "core",
    }
);

market_words!(
    /// Where a listing is in its lifecycle.
    DatasetStatus {
        Draft = "draft",
        PendingReview = "pending_review",
        Listed = "listed",
        Delisted = "delisted",
        Rejected = "rejected",
    }
);

market_words!(
    /// A reviewer's verdict.
    Decision {
        Approve = "approve",
        Reject = "reject",
    }
);

market_words!(
    /// The three separated data property rights: holding (数据资源持有权),
    /// processing (数据加工使用权) and operation (数据产品经营权).
    RightKind {
        Holding = "holding",
        Processing = "processing",
        Operation = "operation",
    }
);

market_words!(
    /// How a registration of a right came about.
    RightOrigin {
        Original = "original",
        Transfer = "transfer",
        Delegation = "delegation",
    }
);

impl RightKind {
    /// The roles an account needs to hold this right.
    pub fn fitting_roles(self) -> &'static [Role] {
        match self {
            RightKind::Holding | RightKind::Operation => &[Role::Provider],
            RightKind::Processing => &[Role::Provider, Role::Consumer],
        }
    }
}

impl Role {
    /// Roles anyone may take by registering; the rest are given by an admin.
    pub fn is_self_service(self) -> bool {
        matches!(self, Role::Provider | Role::Consumer)
    }
}

/// The set of roles an account holds, stored as one comma-joined word list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Roles(BTreeSet<Role>);

impl Roles {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Self {
        Roles(roles.into_iter().collect())
    }
    pub fn contains(&self, role: Role) -> bool {
        self.0.contains(&role)
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
    /// Regulators and auditors see every listing and the whole audit trail.
    pub fn is_oversight(&self) -> bool {
        self.contains(Role::Regulator) || self.contains(Role::Auditor)
    }
    pub fn to_db(&self) -> String {
        self.0
            .iter()
            .map(|r| r.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }
    pub fn from_db(text: &str) -> Result<Self, Error> {
        text.split(',')
            .filter(|s| !s.is_empty())
            .map(Role::from_db)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Roles)
    }
    pub fn to_vec(&self) -> Vec<Role> {
        self.0.iter().copied().collect()
    }
}

/// Who is acting: an authenticated account and the roles its token carries.
#[derive(Clone, Debug)]
pub struct Actor {
    pub id: Uuid,
    pub roles: Roles,
}

impl Actor {
    pub fn has(&self, role: Role) -> bool {
        self.roles.contains(role)
    }

    /// Refuses with 403 unless the actor holds one of `roles`.
    pub fn require_any(&self, roles: &[Role]) -> Result<(), Error> {
        if roles.iter().any(|r| self.has(*r)) {
            Ok(())
        } else {
            let names = roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(" or ");
            Err(Error::refused(
                crate::error::Code::WrongRole,
                format!("this needs the {names} role"),
            ))
        }
    }
}

/// The current time at the precision both databases keep (microseconds), so
/// a value reads back exactly as it was written and hashed.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub fn to_db_time(t: DateTime<Utc>) -> NaiveDateTime {
    t.naive_utc()
}

pub fn from_db_time(t: NaiveDateTime) -> DateTime<Utc> {
    DateTime::from_naive_utc_and_offset(t, Utc)
}

/// RFC 3339 with exactly six fractional digits and `Z`: one spelling per
/// instant, which the audit log's canonical bytes rely on.
pub fn format_time(t: DateTime<Utc>) -> String {
    use chrono::{Datelike, Timelike};
    // Written out rather than through a format string, which chrono parses
    // anew on every call: this runs for every audit entry.
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() % 1_000_000_000 / 1_000
    )
}

/// A new identifier: UUIDv7, so that identifiers sort by creation time and
/// lists ordered by id are stable and roughly chronological.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}

/// Parses an identifier the store wrote.
pub fn id_from_db(text: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(text).map_err(|_| Error::Internal(format!("stored id {text:?} is not a UUID")))
}

/// An ISO 3166-1 alpha-2 shaped code (two ASCII capitals).
pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && code.bytes().all(|b| b.is_ascii_uppercase())
}

/// A signed-note key name (C2SP signed-note): one non-empty word without
/// spaces or `+`. The audit log's origin is one, so the configuration
/// checks it too.
pub fn is_note_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_round_trip() {
        for s in DatasetStatus::ALL {
            assert_eq!(DatasetStatus::parse(s.as_str()), Some(*s));
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
        assert!(Classification::from_db("secret").is_err());
    }

    #[test]
    fn roles_are_stored_sorted() {
        let roles = Roles::new([Role::Consumer, Role::Provider, Role::Consumer]);
        assert_eq!(roles.to_db(), "provider,consumer");
        assert_eq!(Roles::from_db("provider,consumer").unwrap(), roles);
        assert!(Roles::from_db("provider,king").is_err());
    }

    #[test]
    fn time_has_one_spelling() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.1Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(format_time(t), "2026-01-02T03:04:05.100000Z");
        assert_eq!(from_db_time(to_db_time(t)), t);
    }
}
