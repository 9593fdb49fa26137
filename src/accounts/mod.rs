//! Accounts: registration, password authentication ([`login`]) and access
//! tokens, suspension, and the check every authenticated request makes
//! that its account still exists and is not suspended.

pub mod login;

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Action, Entry, Recorded};
use crate::domain::credit_code::CreditCode;
use crate::domain::jurisdiction::{self, Jurisdiction};
use crate::domain::text::{DisplayName, Reason};
use crate::domain::{self, Actor, EntityType, Role, Roles, market_words};
use crate::error::{Code, Error, Result, on_unique_violation};
use crate::market::Market;
use crate::store::schema::accounts;
use crate::store::{DbConnection, transition};
use crate::tokens::{self, API_AUDIENCE, AccessClaims};

/// Longest password accepted; argon2 cost grows with input and an attacker
/// should not choose it.
const MAX_PASSWORD_BYTES: usize = 1024;

market_words!(
    /// Whether an account may act.
    AccountStatus {
        Active = "active",
        Suspended = "suspended",
    }
);

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Account {
    pub id: Uuid,
    pub name: String,
    pub display_name: Option<String>,
    pub organization: Option<String>,
    pub roles: Vec<Role>,
    /// Registered territory (ISO 3166-1 alpha-2): where data delivered to
    /// this account goes. Null for accounts registered before territories
    /// were recorded: the market's home territory.
    pub territory: Option<String>,
    /// Registered region: an ISO 3166-2 subdivision of the territory (e.g.
    /// `CN-SH`), which decides which regional regulators oversee it.
    pub region: Option<String>,
    /// A regulator's jurisdiction (regulators only; empty lists = the whole
    /// market).
    pub jurisdiction: Option<Jurisdiction>,
    pub status: AccountStatus,
    pub suspension: Option<Suspension>,
    /// What kind of entity the participant is.
    pub entity_type: EntityType,
    /// An organisation's unified social credit code (GB 32100-2015).
    pub credit_code: Option<String>,
    /// A regulator's verification of the participant, if made.
    pub verification: Option<Verification>,
    pub created_at: DateTime<Utc>,
}

impl Account {
    /// The rule on verified participants: listing important data, and
    /// requesting or buying important or personal data, need an account a
    /// regulator has verified.
    pub fn require_verified(&self, to: &str) -> Result<()> {
        if self.verification.is_some() {
            return Ok(());
        }
        Err(Error::refused(
            Code::UnverifiedParticipant,
            format!("{to} needs a participant a regulator has verified; ask a regulator to verify the account"),
        )
        .with("account", self.id.to_string()))
    }

    /// The territory data delivered to this account goes to.
    pub fn territory_or<'a>(&'a self, home: &'a str) -> &'a str {
        self.territory.as_deref().unwrap_or(home)
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Suspension {
    pub by: Uuid,
    pub at: DateTime<Utc>,
    pub reason: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Verification {
    pub by: Uuid,
    pub at: DateTime<Utc>,
    /// The regulator's reference for what was checked (a file number).
    pub reference: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyInput {
    /// The regulator's reference for what was checked (a file number).
    #[schema(min_length = 1, max_length = 2000)]
    pub reference: String,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SuspendInput {
    /// Why the account is suspended; recorded in the audit log.
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReinstateInput {
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub reason: Option<String>,
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
    /// Registered territory (ISO 3166-1 alpha-2); defaults to the market's
    /// home territory. Data delivered to the account goes there.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{2}$")]
    pub territory: Option<String>,
    /// What kind of entity registers; default `individual`.
    #[serde(default)]
    pub entity_type: Option<EntityType>,
    /// An organisation's unified social credit code (GB 32100-2015, 18
    /// characters with a check character): required of every entity type
    /// but `individual`, refused for individuals.
    #[serde(default)]
    #[schema(min_length = 18, max_length = 18)]
    pub credit_code: Option<String>,
    /// An ISO 3166-2 subdivision of the territory, e.g. `CN-SH`.
    #[serde(default)]
    #[schema(pattern = "^[A-Z]{2}-[A-Z0-9]{1,3}$")]
    pub region: Option<String>,
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
    territory: Option<String>,
    status: AccountStatus,
    suspended_at: Option<chrono::NaiveDateTime>,
    suspended_by: Option<String>,
    suspension_reason: Option<String>,
    entity_type: String,
    credit_code: Option<String>,
    verified_at: Option<chrono::NaiveDateTime>,
    verified_by: Option<String>,
    verification_reference: Option<String>,
    region: Option<String>,
    jurisdiction: Option<String>,
}

impl AccountRow {
    fn into_account(self) -> Result<Account> {
        let suspension = match (self.status, self.suspended_by, self.suspended_at) {
            (AccountStatus::Suspended, Some(by), Some(at)) => Some(Suspension {
                by: domain::id_from_db(&by)?,
                at: domain::from_db_time(at),
                reason: self.suspension_reason.unwrap_or_default(),
            }),
            _ => None,
        };
        let verification = match (self.verified_by, self.verified_at) {
            (Some(by), Some(at)) => Some(Verification {
                by: domain::id_from_db(&by)?,
                at: domain::from_db_time(at),
                reference: self.verification_reference.unwrap_or_default(),
            }),
            _ => None,
        };
        Ok(Account {
            id: domain::id_from_db(&self.id)?,
            name: self.name,
            display_name: self.display_name,
            organization: self.organization,
            roles: Roles::from_db(&self.roles)?.to_vec(),
            territory: self.territory,
            region: self.region,
            jurisdiction: self
                .jurisdiction
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .map_err(|e| Error::Internal(format!("stored jurisdiction: {e}")))?,
            status: self.status,
            suspension,
            entity_type: EntityType::from_db(&self.entity_type)?,
            credit_code: self.credit_code,
            verification,
            created_at: domain::from_db_time(self.created_at),
        })
    }
}

/// The key a login name is stored and looked up by: `Acme` and `acme` are
/// one account. Names are ASCII (see `validate_name`), so lower-casing is
/// the whole of the comparison.
pub fn name_key(name: &str) -> String {
    name.trim().to_ascii_lowercase()
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
    let home = market.settings.catalog.home_territory.clone();
    let territory = match input.territory.as_deref() {
        None => home,
        Some(t) if domain::is_country_code(t) => t.to_owned(),
        Some(_) => {
            return Err(Error::invalid(
                "territory",
                "must be an ISO 3166-1 alpha-2 code such as \"CN\"",
            ));
        }
    };
    let region = match input.region {
        Some(region) if jurisdiction::is_region_of(&region, &territory) => Some(region),
        Some(_) => {
            return Err(Error::invalid(
                "region",
                format!(
                    "must be an ISO 3166-2 subdivision of {territory}, such as \"{territory}-SH\""
                ),
            ));
        }
        None => None,
    };
    let entity_type = input.entity_type.unwrap_or(EntityType::Individual);
    let credit_code = match (entity_type, input.credit_code.as_deref()) {
        (EntityType::Individual, None) => None,
        (EntityType::Individual, Some(_)) => {
            return Err(Error::invalid(
                "credit_code",
                "is an organisation's: an individual registers without one",
            ));
        }
        (_, None) => {
            return Err(Error::invalid(
                "credit_code",
                format!("is required of an organisation ({entity_type})"),
            ));
        }
        (_, Some(code)) => Some(CreditCode::parse("credit_code", code)?),
    };
    let password = input.password;
    let password_hash = crate::store::blocking(move || hash_password(&password)).await?;
    let name = input.name;
    market
        .db
        .write(move |conn| {
            if let Some(code) = &credit_code {
                let taken: i64 = accounts::table
                    .filter(accounts::credit_code.eq(code.as_str()))
                    .count()
                    .get_result(conn)?;
                if taken > 0 {
                    return Err(Error::refused(
                        Code::AlreadyExists,
                        format!("an account with credit code {code} exists: one organisation, one account"),
                    ));
                }
            }
            let id = domain::new_id();
            let created_at = domain::now();
            diesel::insert_into(accounts::table)
                .values((
                    accounts::id.eq(id.to_string()),
                    accounts::name.eq(&name),
                    accounts::name_key.eq(name_key(&name)),
                    accounts::territory.eq(&territory),
                    accounts::region.eq(&region),
                    accounts::password_hash.eq(&password_hash),
                    accounts::roles.eq(roles.to_db()),
                    accounts::display_name.eq(&display_name),
                    accounts::organization.eq(&organization),
                    accounts::created_at.eq(domain::to_db_time(created_at)),
                    accounts::entity_type.eq(entity_type.as_str()),
                    accounts::credit_code.eq(credit_code.as_ref().map(CreditCode::as_str)),
                ))
                .execute(conn)
                .map_err(|e| {
                    on_unique_violation(e, || {
                        Error::refused(
                            Code::AlreadyExists,
                            if credit_code.is_some() {
                                format!("an account named {name:?}, or with this credit code, exists")
                            } else {
                                format!("an account named {name:?} exists")
                            },
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
                    detail: json!({
                        "name": name, "roles": roles.to_vec(), "by": by, "territory": territory, "region": region,
                        "entity_type": entity_type, "credit_code": credit_code.as_ref().map(CreditCode::as_str),
                    }),
                },
            )?;
            Ok(Recorded::new(
                Account {
                    id,
                    name: name.clone(),
                    display_name: display_name.clone(),
                    organization: organization.clone(),
                    roles: roles.to_vec(),
                    territory: Some(territory.clone()),
                    region: region.clone(),
                    jurisdiction: roles.contains(Role::Regulator).then(Jurisdiction::default),
                    status: AccountStatus::Active,
                    suspension: None,
                    entity_type,
                    credit_code: credit_code.as_ref().map(|c| c.to_string()),
                    verification: None,
                    created_at,
                },
                vec![index],
            ))
        })
        .await
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
    find_row(conn, id)?
        .ok_or_else(|| Error::not_found("account"))?
        .into_account()
}

fn find_row(conn: &mut DbConnection, id: Uuid) -> Result<Option<AccountRow>> {
    Ok(crate::store::on_backend!(conn, c => accounts::table
        .find(id.to_string())
        .select(AccountRow::as_select())
        .first::<AccountRow>(c)
        .optional())?)
}

/// How accounts are named to others (in provenance, for instance), by id:
/// the display name, else the organisation, else a neutral label. Never the
/// login name, which would hand out half of a credential (and the target
/// of a lock-out).
pub fn labels(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<std::collections::HashMap<String, String>> {
    let mut labels = std::collections::HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        let rows: Vec<(String, Option<String>, Option<String>)> = accounts::table
            .filter(accounts::id.eq_any(chunk))
            .select((accounts::id, accounts::display_name, accounts::organization))
            .load(conn)?;
        for (id, display_name, organization) in rows {
            let label = display_name
                .or(organization)
                .unwrap_or_else(|| format!("account {}", id.get(..8).unwrap_or(&id)));
            labels.insert(id, label);
        }
    }
    Ok(labels)
}

/// The names accounts show under (display name, organisation, or a short
/// id), for pages that list holders.
pub async fn names(
    market: &Market,
    ids: Vec<Uuid>,
) -> Result<std::collections::HashMap<Uuid, String>> {
    market
        .db
        .read(move |conn| {
            let wanted: Vec<String> = ids.iter().map(Uuid::to_string).collect();
            Ok(labels(conn, &wanted)?
                .into_iter()
                .filter_map(|(id, label)| Uuid::parse_str(&id).ok().map(|id| (id, label)))
                .collect())
        })
        .await
}

/// What the gateway asks of every token (a payload's in [`find_acting`]
/// instead): that its account still exists and is not suspended. Read from
/// the database on every request, so that a suspension reaches every
/// instance at once.
pub async fn authenticate(market: &Market, id: Uuid) -> Result<()> {
    let status: Option<AccountStatus> = market
        .db
        .read_short(move |conn| {
            Ok(crate::store::on_backend!(conn, c => accounts::table
                .find(id.to_string())
                .select(accounts::status)
                .first::<AccountStatus>(c)
                .optional())?)
        })
        .await?;
    may_act(status)
}

/// The account a verified token names, read with the rest of a request's
/// work (a delivery's plan reads it anyway): refused as [`authenticate`]
/// refuses, when it no longer exists or is suspended.
pub(crate) fn find_acting(conn: &mut DbConnection, id: Uuid) -> Result<Account> {
    let row = find_row(conn, id)?;
    may_act(row.as_ref().map(|row| row.status))?;
    row.ok_or_else(|| Error::not_found("account"))?
        .into_account()
}

/// Whether an account of this status (none: it no longer exists) may act.
fn may_act(status: Option<AccountStatus>) -> Result<()> {
    match status {
        Some(AccountStatus::Active) => Ok(()),
        Some(AccountStatus::Suspended) => Err(suspended()),
        None => Err(Error::refused(
            Code::InvalidToken,
            "the token's account no longer exists",
        )),
    }
}

pub(crate) fn suspended() -> Error {
    Error::refused(
        Code::AccountSuspended,
        "this account is suspended; its tokens are refused until it is reinstated",
    )
}

/// Suspends an account at once (an admin or a regulator, with a reason):
/// from its next request on, on every instance, its access and data tokens
/// are refused.
pub async fn suspend(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: SuspendInput,
) -> Result<Recorded<Account>> {
    actor.require_any(&[Role::Admin, Role::Regulator])?;
    let reason = Reason::parse("reason", &input.reason)?;
    if id == actor.id {
        return Err(Error::invalid("id", "an account cannot suspend itself"));
    }
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let account = find(conn, id)?;
            require_over(conn, &actor, &account)?;
            let now = domain::to_db_time(domain::now());
            let made = transition!(conn, accounts, id.to_string(),
                status: [AccountStatus::Active] => AccountStatus::Suspended,
                suspended_at = Some(now),
                suspended_by = Some(actor.id.to_string()),
                suspension_reason = Some(reason.as_str()));
            if !made.made() {
                return Err(wrong_status(&find(conn, id)?, "suspend"));
            }
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::AccountSuspended,
                    dataset: None,
                    subject: id.to_string(),
                    parties: vec![id],
                    detail: json!({ "reason": reason }),
                },
            )?;
            Ok(Recorded::new(find(conn, id)?, vec![index]))
        })
        .await
}

/// Lifts a suspension (an admin or a regulator).
pub async fn reinstate(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: ReinstateInput,
) -> Result<Recorded<Account>> {
    actor.require_any(&[Role::Admin, Role::Regulator])?;
    let reason = Reason::parse_optional("reason", input.reason.as_deref())?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let account = find(conn, id)?;
            require_over(conn, &actor, &account)?;
            let made = transition!(conn, accounts, id.to_string(),
                status: [AccountStatus::Suspended] => AccountStatus::Active,
                suspended_at = None::<chrono::NaiveDateTime>,
                suspended_by = None::<String>,
                suspension_reason = None::<String>);
            if !made.made() {
                return Err(wrong_status(&find(conn, id)?, "reinstate"));
            }
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::AccountReinstated,
                    dataset: None,
                    subject: id.to_string(),
                    parties: vec![id],
                    detail: json!({ "reason": reason }),
                },
            )?;
            Ok(Recorded::new(find(conn, id)?, vec![index]))
        })
        .await
}

/// A regulator verifies a participant (once), with a reference for what
/// was checked: from then on it may list important data and request or buy
/// important or personal data.
pub async fn verify(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    input: VerifyInput,
) -> Result<Recorded<Account>> {
    actor.require_any(&[Role::Regulator])?;
    let reference = Reason::parse("reference", &input.reference)?;
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let account = find(conn, id)?;
            require_over(conn, &actor, &account)?;
            let changed = diesel::update(
                accounts::table
                    .filter(accounts::id.eq(id.to_string()))
                    .filter(accounts::verified_at.is_null()),
            )
            .set((
                accounts::verified_at.eq(Some(domain::to_db_time(domain::now()))),
                accounts::verified_by.eq(Some(actor.id.to_string())),
                accounts::verification_reference.eq(Some(reference.as_str())),
            ))
            .execute(conn)?;
            if changed == 0 {
                return Err(
                    Error::refused(Code::InvalidState, "the account is verified already")
                        .with("current_state", "verified"),
                );
            }
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::AccountVerified,
                    dataset: None,
                    subject: id.to_string(),
                    parties: vec![id],
                    detail: json!({ "reference": reference }),
                },
            )?;
            Ok(Recorded::new(find(conn, id)?, vec![index]))
        })
        .await
}

/// An admin sets what a regulator oversees: regions of the home territory
/// and sectors, none of either for the whole market.
pub async fn set_jurisdiction(
    market: &Market,
    actor: &Actor,
    id: Uuid,
    mut input: Jurisdiction,
) -> Result<Recorded<Account>> {
    actor.require_any(&[Role::Admin])?;
    let home = &market.settings.catalog.home_territory;
    if let Some(bad) = input
        .regions
        .iter()
        .find(|r| !jurisdiction::is_region_of(r, home))
    {
        return Err(Error::invalid(
            "regions",
            format!("{bad:?} is not an ISO 3166-2 subdivision of {home}"),
        ));
    }
    input.regions.sort();
    input.regions.dedup();
    input.sectors.sort();
    input.sectors.dedup();
    let actor = actor.clone();
    market
        .db
        .write(move |conn| {
            let account = find(conn, id)?;
            if !account.roles.contains(&Role::Regulator) {
                return Err(Error::invalid("id", "only a regulator has a jurisdiction"));
            }
            let stored =
                serde_json::to_string(&input).map_err(|e| Error::Internal(e.to_string()))?;
            diesel::update(accounts::table.find(id.to_string()))
                .set(accounts::jurisdiction.eq(Some(stored)))
                .execute(conn)?;
            let index = audit::append(
                conn,
                Entry {
                    actor: Some(actor.id),
                    action: Action::AccountJurisdictionSet,
                    dataset: None,
                    subject: id.to_string(),
                    parties: vec![id],
                    detail: json!({ "regions": input.regions, "sectors": input.sectors }),
                },
            )?;
            Ok(Recorded::new(find(conn, id)?, vec![index]))
        })
        .await
}

/// A regulator acting on a participant acts within its jurisdiction's
/// regions (an admin is not limited).
fn require_over(conn: &mut DbConnection, actor: &Actor, account: &Account) -> Result<()> {
    if actor.roles.contains(Role::Admin)
        || jurisdiction_of(conn, actor)?.covers_region(account.region.as_deref())
    {
        return Ok(());
    }
    Err(Error::refused(
        Code::OutsideJurisdiction,
        format!(
            "the participant is registered in {}, outside your jurisdiction",
            account.region.as_deref().unwrap_or("no region")
        ),
    )
    .with("region", account.region.clone()))
}

/// What a regulator oversees; the whole market for anyone else (auditors
/// read everything, and other roles are refused before this matters).
pub fn jurisdiction_of(conn: &mut DbConnection, actor: &Actor) -> Result<Jurisdiction> {
    if !actor.roles.contains(Role::Regulator) {
        return Ok(Jurisdiction::default());
    }
    let stored: Option<String> = accounts::table
        .find(actor.id.to_string())
        .select(accounts::jurisdiction)
        .first(conn)?;
    stored
        .as_deref()
        .map(serde_json::from_str)
        .transpose()
        .map(Option::unwrap_or_default)
        .map_err(|e| Error::Internal(format!("stored jurisdiction: {e}")))
}

/// An account's registered region.
pub fn region_of(conn: &mut DbConnection, id: Uuid) -> Result<Option<String>> {
    Ok(accounts::table
        .find(id.to_string())
        .select(accounts::region)
        .first::<Option<String>>(conn)
        .optional()?
        .flatten())
}

/// The accounts registered in any of some regions, as a subquery.
pub type InRegions = diesel::dsl::Select<
    diesel::dsl::Filter<accounts::table, diesel::dsl::EqAny<accounts::region, Vec<String>>>,
    accounts::id,
>;

/// The accounts registered in any of `regions`, as a subquery.
pub fn in_regions(regions: Vec<String>) -> InRegions {
    accounts::table
        .filter(accounts::region.eq_any(regions))
        .select(accounts::id)
}

/// The rule on jurisdictions: a regulator acts only on what falls in its
/// jurisdiction (the region of the participant concerned, the sector of the
/// data); anyone else is not limited by one.
pub fn require_within(
    conn: &mut DbConnection,
    actor: &Actor,
    region: Option<&str>,
    sector: Option<&str>,
) -> Result<()> {
    if !actor.roles.contains(Role::Regulator) {
        return Ok(());
    }
    if jurisdiction_of(conn, actor)?.covers(region, sector) {
        return Ok(());
    }
    Err(Error::refused(
        Code::OutsideJurisdiction,
        format!(
            "this concerns region {} and sector {}, outside your jurisdiction",
            region.unwrap_or("(none)"),
            sector.unwrap_or("(none)")
        ),
    )
    .with("region", region)
    .with("sector", sector))
}

fn wrong_status(account: &Account, doing: &str) -> Error {
    Error::refused(
        Code::InvalidState,
        format!("cannot {doing} an account that is {}", account.status),
    )
    .with("current_status", account.status.as_str())
}

/// One account by id, for oversight (admins and regulators).
pub async fn get_for(market: &Market, actor: &Actor, id: Uuid) -> Result<Account> {
    if actor.id != id {
        actor.require_any(&[Role::Admin, Role::Regulator])?;
    }
    get(market, id).await
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
