//! Authentication: the one extractor that turns a bearer token into the
//! acting account. A token's signature, issuer, audience and lifetime are
//! checked here, and then that its account still exists and is not
//! suspended (`accounts::authenticate`, on every request, so a suspension
//! reaches every instance at once; for payloads, `ContentCaller` leaves
//! that to the delivery, which reads the account with its plan). Role and
//! right checks happen in the services.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};

use std::collections::HashMap;
use std::sync::Mutex;

use futures_util::future::LocalBoxFuture;
use sha2::{Digest, Sha256};

use crate::domain::{Actor, Roles};
use crate::error::Code;
use crate::gateway::problem::ApiError;
use crate::grants::delivery::Bearer;
use crate::market::Market;
use crate::tokens::{self, API_AUDIENCE, AccessClaims, DATA_AUDIENCE, DataClaims, TokenError};

/// The authenticated account; a handler that takes it answers 401 without
/// a valid account token.
pub struct Caller(pub Actor);

/// An account if a token was sent. A token that was sent but is invalid is
/// still a 401: a client must not silently become anonymous.
pub struct MaybeCaller(pub Option<Actor>);

/// The bearer token of a request, if any; a malformed header is an error.
pub(crate) fn bearer_token(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::new(Code::InvalidToken, "the Authorization header is not ASCII"))?;
    match value.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::new(
            Code::InvalidToken,
            "use the Authorization header as \"Bearer <token>\"",
        )),
    }
}

pub(crate) fn market(req: &HttpRequest) -> Result<&Market, ApiError> {
    req.app_data::<web::Data<Market>>()
        .map(|m| m.get_ref())
        .ok_or_else(|| {
            ApiError(crate::error::Error::Internal(
                "market is not configured".into(),
            ))
        })
}

pub(crate) fn token_error(e: TokenError) -> ApiError {
    let detail = match e {
        TokenError::Signing(_) => "the token is not valid".to_owned(),
        other => other.to_string(),
    };
    ApiError::new(Code::InvalidToken, detail)
}

/// Tokens whose signature, issuer, audience and lifetime were verified,
/// until they expire: checking an Ed25519 signature costs more than the
/// rest of a small request. Keyed by the token's SHA-256, so the map holds
/// no usable token. Only the signature check is cached — whether the
/// account may still act is read on every request — so a suspension still
/// applies at once.
pub struct TokenCache {
    verified: Mutex<HashMap<[u8; 32], Verified>>,
}

#[derive(Clone)]
enum Verified {
    Account(Actor, i64),
    Data(Box<DataClaims>),
}

impl Verified {
    fn expires(&self) -> i64 {
        match self {
            Verified::Account(_, exp) => *exp,
            Verified::Data(claims) => claims.exp,
        }
    }
}

/// Entries kept before the expired ones are swept out (and, if that is not
/// enough, the whole cache is dropped: it is only a cache).
const TOKEN_CACHE_ENTRIES: usize = 100_000;

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache {
            verified: Mutex::new(HashMap::new()),
        }
    }
}

impl TokenCache {
    fn key(token: &str) -> [u8; 32] {
        Sha256::digest(token.as_bytes()).into()
    }

    fn get(&self, token: &str) -> Option<Verified> {
        let now = chrono::Utc::now().timestamp();
        let verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        verified
            .get(&Self::key(token))
            .filter(|v| v.expires() > now)
            .cloned()
    }

    fn put(&self, token: &str, verified: Verified) {
        let now = chrono::Utc::now().timestamp();
        let mut map = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= TOKEN_CACHE_ENTRIES {
            map.retain(|_, v| v.expires() > now);
            if map.len() >= TOKEN_CACHE_ENTRIES {
                map.clear();
            }
        }
        map.insert(Self::key(token), verified);
    }
}

fn cache(req: &HttpRequest) -> Option<web::Data<TokenCache>> {
    req.app_data::<web::Data<TokenCache>>().cloned()
}

fn actor_from(market: &Market, cache: Option<&TokenCache>, token: &str) -> Result<Actor, ApiError> {
    if let Some(Verified::Account(actor, _)) = cache.and_then(|c| c.get(token)) {
        return Ok(actor);
    }
    let claims: AccessClaims = tokens::verify(
        &market.keys,
        token,
        &market.settings.auth.issuer,
        API_AUDIENCE,
    )
    .map_err(token_error)?;
    let actor = Actor {
        id: claims.sub,
        roles: Roles::new(claims.roles),
    };
    if let Some(cache) = cache {
        cache.put(token, Verified::Account(actor.clone(), claims.exp));
    }
    Ok(actor)
}

/// When the request's account token expires (Unix seconds): an answer that
/// outlives its request, as the event stream does, ends then.
pub(crate) fn token_expiry(req: &HttpRequest, market: &Market) -> Result<i64, ApiError> {
    let token = bearer_token(req)?
        .ok_or_else(|| ApiError::new(Code::Unauthenticated, "a bearer token is required"))?;
    let claims: AccessClaims = tokens::verify(
        &market.keys,
        token,
        &market.settings.auth.issuer,
        API_AUDIENCE,
    )
    .map_err(token_error)?;
    Ok(claims.exp)
}

fn data_claims_from(
    market: &Market,
    cache: Option<&TokenCache>,
    token: &str,
) -> Result<DataClaims, TokenError> {
    if let Some(Verified::Data(claims)) = cache.and_then(|c| c.get(token)) {
        return Ok(*claims);
    }
    let claims: DataClaims = tokens::verify(
        &market.keys,
        token,
        &market.settings.auth.issuer,
        DATA_AUDIENCE,
    )?;
    if let Some(cache) = cache {
        cache.put(token, Verified::Data(Box::new(claims.clone())));
    }
    Ok(claims)
}

/// The account behind a verified token, if it may still act.
async fn checked(market: &Market, actor: Actor) -> Result<Actor, ApiError> {
    crate::accounts::authenticate(market, actor.id).await?;
    Ok(actor)
}

/// The account a portal session's token stands for, if the token verifies
/// and the account may still act: the same checks as a bearer token.
pub(crate) async fn session_actor(req: &HttpRequest, token: &str) -> Result<Actor, ApiError> {
    let market = market(req)?.clone();
    let cache = cache(req);
    let actor = actor_from(&market, cache.as_ref().map(|c| c.get_ref()), token)?;
    checked(&market, actor).await
}

/// What a request carries: a token (or none), read before any await so the
/// future owns everything it needs.
type Prepared = (Market, Option<String>, Option<web::Data<TokenCache>>);

fn prepare(req: &HttpRequest) -> Result<Prepared, ApiError> {
    let market = market(req)?.clone();
    let token = bearer_token(req)?.map(str::to_owned);
    Ok((market, token, cache(req)))
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let prepared = prepare(req);
        Box::pin(async move {
            let (market, token, cache) = prepared?;
            let token = token.ok_or_else(|| {
                ApiError::new(
                    Code::Unauthenticated,
                    "send an access token as \"Authorization: Bearer <token>\"",
                )
            })?;
            let actor = actor_from(&market, cache.as_ref().map(|c| c.get_ref()), &token)?;
            Ok(Caller(checked(&market, actor).await?))
        })
    }
}

impl FromRequest for MaybeCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let prepared = prepare(req);
        Box::pin(async move {
            let (market, token, cache) = prepared?;
            match token {
                None => Ok(MaybeCaller(None)),
                Some(token) => {
                    let actor = actor_from(&market, cache.as_ref().map(|c| c.get_ref()), &token)?;
                    Ok(MaybeCaller(Some(checked(&market, actor).await?)))
                }
            }
        })
    }
}

/// Whoever may fetch payloads: an account, or a pipeline holding a data
/// token (audience `datamarket-data`), which no other endpoint accepts.
/// The token is verified here; whether its account may still act is
/// checked by [`crate::grants::delivery::open`], in the same read as the
/// delivery's plan (which reads the account anyway).
pub struct ContentCaller(pub Bearer);

impl FromRequest for ContentCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let prepared = prepare(req);
        Box::pin(async move {
            let (market, token, cache) = prepared?;
            let token = token.ok_or_else(|| {
                ApiError::new(
                    Code::Unauthenticated,
                    "send an access token or a data token as \"Authorization: Bearer <token>\"",
                )
            })?;
            match actor_from(&market, cache.as_ref().map(|c| c.get_ref()), &token) {
                Ok(actor) => Ok(ContentCaller(Bearer::Account(actor))),
                Err(account_error) => {
                    let claims =
                        data_claims_from(&market, cache.as_ref().map(|c| c.get_ref()), &token)
                            .map_err(|_| account_error)?;
                    Ok(ContentCaller(Bearer::Data(claims)))
                }
            }
        })
    }
}
