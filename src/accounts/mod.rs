//! Accounts: registration, password authentication and access tokens.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action, Entry, Recorded};
use crate::domain::text::DisplayName;
use crate::domain::{self, Actor, Role, Roles};
use crate::error::{Code, Error, Result, on_unique_violation};
use crate::market::Market;
use crate::store::DbConnection;
use crate::store::schema::accounts;
use crate::tokens::{self, API_AUDIENCE, AccessClaims};

/// Longest password accepted; argon2 cost grows with input and an attacker
/// should not choose it.
const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub display_name: Option<String>,
    pub organization: Option<String>,
    pub roles: Vec<Role>,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    /// Login name: 3 to 64 characters of letters, digits, `.`, `_` and `-`.
    #[schema(
        example = "acme-data",
        min_length = 3,
        max_length = 64,
        pattern = "^[A-Za-z0-9][A-Za-z0-9._-]*$"
    )]
    pub name: String,
    /// At least `auth.min_password_chars` characters (10 by default), five
    /// of them different, not containing the name.
    #[schema(example = "correct horse battery staple", format = Password, min_length = 1, max_length = 1024)]
    pub password: String,
    #[schema(min_items = 1)]
    pub roles: Vec<Role>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub display_name: Option<String>,
    #[serde(default)]
    #[schema(max_length = 200)]
    pub organization: Option<String>,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[schema(max_length = 64)]
    pub name: String,
    #[schema(format = Password, max_length = 1024)]
    pub password: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct AccessToken {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the token expires.
    pub expires_in: u64,
}

/// Who is creating an account, which decides the roles it may get.
pub enum Registrar<'a> {
    /// Self-registration: provider and consumer only.
    Public,
    /// An admin over the API: any role.
    Admin(&'a Actor),
    /// The operator at the command line: any role.
    Operator,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = crate::store::schema::accounts)]
struct AccountRow {
    id: String,
    name: String,
    password_hash: String,
    roles: String,
    display_name: Option<String>,
    organization: Option<String>,
    created_at: chrono::NaiveDateTime,
}

impl AccountRow {
    fn into_account(self) -> Result<Account> {
        Ok(Account {
            id: domain::id_from_db(&self.id)?,
            name: self.name,
            display_name: self.display_name,
            organization: self.organization,
            roles: Roles::from_db(&self.roles)?.to_vec(),
            created_at: domain::from_db_time(self.created_at),
        })
    }
}

fn validate_name(name: &str) -> Result<()> {
    let ok_len = (3..=64).contains(&name.len());
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let ok_start = name
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphanumeric());
    if ok_len && ok_chars && ok_start {
        Ok(())
    } else {
        Err(Error::invalid(
            "name",
            "must be 3 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit",
        ))
    }
}

/// The password rule: long enough, not the account name, not one repeated
/// pattern. Deliberately simple and stated in the error.
fn check_password(name: &str, password: &str, min_chars: usize) -> Result<()> {
    let weak = |why: &str| {
        Err(
            Error::refused(Code::WeakPassword, format!("password {why}"))
                .with("min_chars", min_chars),
        )
    };
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::invalid(
            "password",
            format!("must be at most {MAX_PASSWORD_BYTES} bytes"),
        ));
    }
    if password.trim().is_empty() {
        return weak("must not be empty");
    }
    if password.chars().count() < min_chars {
        return weak(&format!("must have at least {min_chars} characters"));
    }
    if password.to_lowercase().contains(&name.to_lowercase()) {
        return weak("must not contain the account name");
    }
    let distinct: std::collections::HashSet<char> = password.chars().collect();
    if distinct.len() < 5 {
        return weak("must use at least 5 different characters");
    }
    Ok(())
}

fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))
}

/// A hash to verify against when the name is unknown, so that a wrong name
/// and a wrong password take the same time.
fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password for unknown names").unwrap_or_default())
}

fn verify_password(hash: &str, password: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Creates an account. Which roles are allowed depends on `registrar`.
pub async fn register(
    market: &Market,
    registrar: Registrar<'_>,
    input: NewAccount,
) -> Result<Recorded<Account>> {
    let (admin, by) = match registrar {
        Registrar::Public => {
            if let Some(role) = input.roles.iter().find(|r| !r.is_self_service()) {
                return Err(Error::refused(
                    Code::WrongRole,
                    format!("the {role} role is given by an admin, not taken at registration"),
                ));
            }
            (None, "self")
        }
        Registrar::Admin(admin) => {
            admin.require_any(&[Role::Admin])?;
            (Some(admin.id), "admin")
        }
        Registrar::Operator => (None, "operator"),
    };
    validate_name(&input.name)?;
    let roles = Roles::new(input.roles.iter().copied());
    if roles.is_empty() {
        return Err(Error::invalid("roles", "must name at least one role"));
    }
    check_password(
        &input.name,
        &input.password,
        market.settings.auth.min_password_chars,
    )?;
    let display_name = DisplayName::parse_optional("display_name", input.display_name.as_deref())?
        .map(DisplayName::into_string);
    let organization = DisplayName::parse_optional("organization", input.organization.as_deref())?
        .map(DisplayName::into_string);
    let password = input.password;
    let password_hash = crate::store::blocking(move || hash_password(&password)).await?;
    let name = input.name;
    market
        .db
        .write(move |conn| {
            let id = domain::new_id();
            let created_at = domain::now();
            diesel::insert_into(accounts::table)
                .values((
                    accounts::id.eq(id.to_string()),
                    accounts::name.eq(&name),
                    accounts::password_hash.eq(&password_hash),
                    accounts::roles.eq(roles.to_db()),
                    accounts::display_name.eq(&display_name),
                    accounts::organization.eq(&organization),
                    accounts::created_at.eq(domain::to_db_time(created_at)),
                ))
                .execute(conn)
                .map_err(|e| {
                    on_unique_violation(e, || {
                        Error::refused(
                            Code::AlreadyExists,
                            format!("an account named {name:?} exists"),
                        )
                    })
                })?;
            let index = audit::append(
                conn,
                Entry {
                    // The operator acts outside the market; a self-registered
                    // account is its own actor.
                    actor: match by {
                        "operator" => None,
                        "self" => Some(id),
                        _ => admin,
                    },
                    action: Action::AccountCreated,
                    dataset: None,
                    subject: id.to_string(),
                    parties: vec![id],
                    detail: json!({ "name": name, "roles": roles.to_vec(), "by": by }),
                },
            )?;
            Ok(Recorded::new(
                Account {
                    id,
                    name: name.clone(),
                    display_name: display_name.clone(),
                    organization: organization.clone(),
                    roles: roles.to_vec(),
                    created_at,
                },
                vec![index],
            ))
        })
        .await
}

/// Checks a name and password and issues an access token.
pub async fn issue_token(market: &Market, credentials: Credentials) -> Result<AccessToken> {
    if credentials.password.len() > MAX_PASSWORD_BYTES {
        return Err(Error::refused(
            Code::InvalidCredentials,
            "wrong name or password",
        ));
    }
    let name = credentials.name.clone();
    let row = market
        .db
        .read(move |conn| {
            accounts::table
                .filter(accounts::name.eq(name))
                .select(AccountRow::as_select())
                .first::<AccountRow>(conn)
                .optional()
                .map_err(Error::from)
        })
        .await?;
    let password = credentials.password;
    let (row, ok) = crate::store::blocking(move || {
        let hash = row
            .as_ref()
            .map_or(decoy_hash(), |r| r.password_hash.as_str());
        let ok = verify_password(hash, &password) && row.is_some();
        Ok((row, ok))
    })
    .await?;
    let account = match row {
        Some(row) if ok => row.into_account()?,
        _ => {
            return Err(Error::refused(
                Code::InvalidCredentials,
                "wrong name or password",
            ));
        }
    };
    access_token_for(market, &account)
}

/// Signs an access token for `account`.
pub fn access_token_for(market: &Market, account: &Account) -> Result<AccessToken> {
    let lifetime = market.settings.auth.token_lifetime_secs;
    let now = Utc::now().timestamp();
    let claims = AccessClaims {
        iss: market.settings.auth.issuer.clone(),
        sub: account.id,
        aud: API_AUDIENCE.to_owned(),
        iat: now,
        exp: now + lifetime as i64,
        jti: Uuid::new_v4(),
        name: account.name.clone(),
        roles: account.roles.clone(),
    };
    let access_token =
        tokens::sign(&market.keys, &claims).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(AccessToken {
        access_token,
        token_type: "Bearer",
        expires_in: lifetime,
    })
}

/// One account by id.
pub async fn get(market: &Market, id: Uuid) -> Result<Account> {
    market.db.read(move |conn| find(conn, id)).await
}

pub(crate) fn find(conn: &mut DbConnection, id: Uuid) -> Result<Account> {
    accounts::table
        .find(id.to_string())
        .select(AccountRow::as_select())
        .first::<AccountRow>(conn)
        .optional()?
        .ok_or_else(|| Error::not_found("account"))?
        .into_account()
}

/// How accounts are named to others (in provenance, for instance), by id.
pub fn labels(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>> {
    let mut labels = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, String)> = accounts::table
            .filter(accounts::id.eq_any(chunk))
            .select((accounts::id, accounts::name))
            .load(conn)?;
        labels.extend(rows);
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(check_password("alice", "", 10).is_err());
        assert!(check_password("alice", "short", 10).is_err());
        assert!(check_password("alice", "aaaaaaaaaaaaaa", 10).is_err());
        assert!(check_password("alice", "xxALICExx-2024", 10).is_err());
        assert!(check_password("alice", "tangerine-orbit-42", 10).is_ok());
        assert!(matches!(
            check_password("alice", "short", 10).unwrap_err().code(),
            Code::WeakPassword
        ));
    }

    #[test]
    fn name_rules() {
        assert!(validate_name("acme-data").is_ok());
        assert!(validate_name("ab").is_err());
        assert!(validate_name("-abc").is_err());
        assert!(validate_name("数据公司").is_err());
    }

    #[test]
    fn passwords_verify() {
        let hash = hash_password("tangerine-orbit-42").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password(&hash, "tangerine-orbit-42"));
        assert!(!verify_password(&hash, "tangerine-orbit-43"));
        assert!(!verify_password("not a hash", "x"));
    }
}
