//! Rights registration certificates: a compact JWS, signed with the
//! platform Ed25519 key, that anyone can verify offline against the JWKS.
//! A certificate is issued whenever a right is registered or moves; the
//! certificates of a registration that ended stay verifiable but their
//! status says `superseded`.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::register::Registration;
use crate::domain::{self, RightKind, RightOrigin, market_words};
use crate::error::{Error, Result};
use crate::keys::PlatformKeys;
use crate::store::DbConnection;
use crate::store::schema::{rights, rights_certificates};

/// The JWS `typ` of a certificate, so that it cannot pass for a token.
pub const CERTIFICATE_TYPE: &str = "rights-certificate+jwt";

/// What a certificate attests.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateClaims {
    pub iss: String,
    /// The certificate id (also `certificate`).
    pub jti: Uuid,
    pub iat: i64,
    pub certificate: Uuid,
    /// The right registration it certifies.
    pub registration: Uuid,
    pub dataset: Uuid,
    /// Hex SHA-256 of the dataset's latest version when issued; null before
    /// the first version.
    pub payload_sha256: Option<String>,
    pub right: RightKind,
    pub holder: Uuid,
    pub origin: RightOrigin,
    pub issued_at: String,
    /// End of a delegation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
}

market_words!(
    /// Where a certificate stands.
    CertificateState {
        Current = "current",
        Superseded = "superseded",
        Expired = "expired",
    }
);

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Certificate {
    pub id: Uuid,
    pub registration: Uuid,
    /// The compact JWS; verify it with the JWKS at /.well-known/jwks.json.
    pub jws: String,
    pub claims: CertificateClaims,
    pub status: CertificateState,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CertificateStatus {
    pub certificate: Uuid,
    pub registration: Uuid,
    pub status: CertificateState,
    pub issued_at: DateTime<Utc>,
    pub valid_until: Option<DateTime<Utc>>,
    pub superseded_at: Option<DateTime<Utc>>,
    /// The certificate that replaced it.
    pub superseded_by: Option<Uuid>,
}

/// What certificates are signed with, and the issuer they name.
#[derive(Clone)]
pub struct Issuer {
    keys: Arc<PlatformKeys>,
    name: String,
}

impl Issuer {
    pub fn new(keys: Arc<PlatformKeys>, name: impl Into<String>) -> Issuer {
        Issuer {
            keys,
            name: name.into(),
        }
    }
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = crate::store::schema::rights_certificates)]
pub struct CertificateRow {
    pub id: String,
    pub right_id: String,
    pub jws: String,
    pub issued_at: NaiveDateTime,
    pub superseded_at: Option<NaiveDateTime>,
    pub superseded_by: Option<String>,
}

/// Signs and stores a certificate for a registration; returns its id.
/// `payload_sha256` is the dataset's latest version's digest, if it has one.
pub fn issue(
    conn: &mut DbConnection,
    issuer: &Issuer,
    right: &Registration,
    payload_sha256: Option<String>,
) -> Result<Uuid> {
    let id = domain::new_id();
    let issued_at = domain::now();
    let claims = CertificateClaims {
        iss: issuer.name.clone(),
        jti: id,
        iat: issued_at.timestamp(),
        certificate: id,
        registration: domain::id_from_db(&right.id)?,
        dataset: domain::id_from_db(&right.dataset_id)?,
        payload_sha256,
        right: right.kind,
        holder: domain::id_from_db(&right.holder_id)?,
        origin: right.origin,
        issued_at: domain::format_time(issued_at),
        valid_until: right
            .until
            .map(|u| domain::format_time(domain::from_db_time(u))),
    };
    let key = issuer.keys.active();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(key.kid().to_owned());
    header.typ = Some(CERTIFICATE_TYPE.to_owned());
    let jws = jsonwebtoken::encode(&header, &claims, key.encoding_key())
        .map_err(|e| Error::Internal(format!("cannot sign a certificate: {e}")))?;
    diesel::insert_into(rights_certificates::table)
        .values((
            rights_certificates::id.eq(id.to_string()),
            rights_certificates::right_id.eq(&right.id),
            rights_certificates::jws.eq(&jws),
            rights_certificates::issued_at.eq(domain::to_db_time(issued_at)),
        ))
        .execute(conn)?;
    Ok(id)
}

/// Marks the current certificates of registration `right_id` superseded by
/// certificate `by`.
pub fn supersede(conn: &mut DbConnection, right_id: &str, by: Uuid) -> Result<()> {
    diesel::update(
        rights_certificates::table
            .filter(rights_certificates::right_id.eq(right_id))
            .filter(rights_certificates::superseded_at.is_null()),
    )
    .set((
        rights_certificates::superseded_at.eq(domain::to_db_time(domain::now())),
        rights_certificates::superseded_by.eq(by.to_string()),
    ))
    .execute(conn)?;
    Ok(())
}

/// The current certificate of each registration of a dataset.
pub fn current_by_registration(
    conn: &mut DbConnection,
    dataset: Uuid,
) -> Result<HashMap<String, Uuid>> {
    let dataset = dataset.to_string();
    let rows: Vec<(String, String)> = rights_certificates::table
        .filter(rights_certificates::superseded_at.is_null())
        .filter(
            rights_certificates::right_id.eq_any(
                rights::table
                    .filter(rights::dataset_id.eq(dataset))
                    .select(rights::id),
            ),
        )
        .order(rights_certificates::issued_at.asc())
        .select((rights_certificates::right_id, rights_certificates::id))
        .load(conn)?;
    rows.into_iter()
        .map(|(right, cert)| Ok((right, domain::id_from_db(&cert)?)))
        .collect()
}

/// Where a certificate stands now.
pub fn state(row: &CertificateRow, right: &Registration) -> CertificateState {
    if row.superseded_at.is_some() {
        CertificateState::Superseded
    } else if right
        .until
        .is_some_and(|u| u <= domain::to_db_time(domain::now()))
    {
        CertificateState::Expired
    } else {
        CertificateState::Current
    }
}

/// The latest certificate of a registration.
pub fn latest_of(
    conn: &mut DbConnection,
    registration: &Registration,
) -> Result<Option<CertificateRow>> {
    Ok(rights_certificates::table
        .filter(rights_certificates::right_id.eq(&registration.id))
        .order((
            rights_certificates::issued_at.desc(),
            rights_certificates::id.desc(),
        ))
        .select(CertificateRow::as_select())
        .first(conn)
        .optional()?)
}

/// One certificate by id.
pub fn find(conn: &mut DbConnection, id: Uuid) -> Result<Option<CertificateRow>> {
    Ok(rights_certificates::table
        .find(id.to_string())
        .select(CertificateRow::as_select())
        .first(conn)
        .optional()?)
}

/// Reads the claims of a certificate this service signed and stored.
pub fn decode_unverified(jws: &str) -> Result<CertificateClaims> {
    use base64::Engine;
    let payload = jws
        .split('.')
        .nth(1)
        .and_then(|p| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(p)
                .ok()
        })
        .ok_or_else(|| Error::Internal("stored certificate is not a compact JWS".into()))?;
    serde_json::from_slice(&payload)
        .map_err(|e| Error::Internal(format!("stored certificate claims: {e}")))
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("not a compact JWS certificate: {0}")]
    Malformed(String),
    #[error("the certificate is signed with {0:?}, not EdDSA")]
    WrongAlgorithm(jsonwebtoken::Algorithm),
    #[error("the certificate's type is {0:?}, not {CERTIFICATE_TYPE}")]
    WrongType(Option<String>),
    #[error("the JWKS has no key {0:?}")]
    UnknownKey(String),
    #[error("the JWKS is not valid: {0}")]
    Jwks(String),
    #[error(
        "the signature does not verify: the certificate was altered or not signed by this platform"
    )]
    BadSignature,
}

/// Verifies a certificate offline against a JWKS and returns what it says.
pub fn verify(
    jws: &str,
    jwks: &serde_json::Value,
) -> std::result::Result<CertificateClaims, VerifyError> {
    let header =
        jsonwebtoken::decode_header(jws).map_err(|e| VerifyError::Malformed(e.to_string()))?;
    if header.alg != jsonwebtoken::Algorithm::EdDSA {
        return Err(VerifyError::WrongAlgorithm(header.alg));
    }
    if header.typ.as_deref() != Some(CERTIFICATE_TYPE) {
        return Err(VerifyError::WrongType(header.typ));
    }
    let kid = header.kid.unwrap_or_default();
    let set: jsonwebtoken::jwk::JwkSet =
        serde_json::from_value(jwks.clone()).map_err(|e| VerifyError::Jwks(e.to_string()))?;
    let jwk = set
        .find(&kid)
        .ok_or_else(|| VerifyError::UnknownKey(kid.clone()))?;
    let key =
        jsonwebtoken::DecodingKey::from_jwk(jwk).map_err(|e| VerifyError::Jwks(e.to_string()))?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    // A certificate does not expire as a token does; `valid_until` is a claim
    // the reader weighs, not a reason to reject the signature.
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    jsonwebtoken::decode::<CertificateClaims>(jws, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => VerifyError::BadSignature,
            other => VerifyError::Malformed(format!("{other:?}")),
        })
}
