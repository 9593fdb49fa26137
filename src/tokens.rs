//! Bearer tokens: EdDSA-signed JWTs under the platform key. Account tokens
//! (audience `datamarket-api`) authenticate people and systems; data tokens
//! (audience `datamarket-data`) let a pipeline fetch content under one grant.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::domain::Role;
use crate::keys::PlatformKeys;

pub const API_AUDIENCE: &str = "datamarket-api";
pub const DATA_AUDIENCE: &str = "datamarket-data";

/// Seconds of clock skew tolerated between the issuer and a verifier.
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is malformed")]
    Malformed,
    #[error("the token is not signed with EdDSA")]
    WrongAlgorithm,
    #[error("the token names no platform key")]
    UnknownKey,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid: {0}")]
    Invalid(String),
    #[error("could not sign a token: {0}")]
    Signing(String),
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: Uuid,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub name: String,
    pub roles: Vec<Role>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DataClaims {
    pub iss: String,
    /// The licensee the grant was made to.
    pub sub: Uuid,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: Uuid,
    pub grant: Uuid,
    pub dataset: Uuid,
    /// When set, the token fetches only this version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i32>,
}

/// Signs `claims` with the active platform key, `kid` in the header.
pub fn sign<T: Serialize>(keys: &PlatformKeys, claims: &T) -> Result<String, TokenError> {
    let key = keys.active();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(key.kid().to_owned());
    jsonwebtoken::encode(&header, claims, key.encoding_key())
        .map_err(|e| TokenError::Signing(e.to_string()))
}

/// Verifies signature, algorithm, issuer, audience and lifetime.
pub fn verify<T: serde::de::DeserializeOwned>(
    keys: &PlatformKeys,
    token: &str,
    issuer: &str,
    audience: &str,
) -> Result<T, TokenError> {
    // The header is parsed before anything is trusted; an `alg` this
    // library does not know (such as "none") fails right here.
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Malformed)?;
    if header.alg != jsonwebtoken::Algorithm::EdDSA {
        return Err(TokenError::WrongAlgorithm);
    }
    let key = header
        .kid
        .as_deref()
        .and_then(|kid| keys.get(kid))
        .ok_or(TokenError::UnknownKey)?;
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.leeway = LEEWAY_SECS;
    validation.set_audience(&[audience]);
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["exp", "iat", "sub", "aud", "iss"]);
    jsonwebtoken::decode::<T>(token, key.decoding_key(), &validation)
        .map(|data| data.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
            other => TokenError::Invalid(format!("{other:?}")),
        })
}
