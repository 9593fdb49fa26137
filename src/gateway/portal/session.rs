//! A visit to the portal: its language, its session and its CSRF token.
//!
//! The session is the account's access token in an `HttpOnly`,
//! `SameSite=Lax` cookie (`Secure` when the public URL is https), checked on
//! every page exactly as a bearer token is on the API (signature, expiry,
//! the account existing and not suspended); it ends when the token does, or
//! at sign-out. Every form carries a CSRF token that must equal the
//! `dm_csrf` cookie (double submit): another site can make a browser send
//! the cookie, but cannot read it to put it in the form.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieAge};
use actix_web::{HttpRequest, HttpResponseBuilder, http::header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;

use super::i18n::{Locale, Tr};
use crate::domain::Actor;
use crate::market::Market;

pub const SESSION: &str = "dm_session";
pub const CSRF: &str = "dm_csrf";
pub const LANG: &str = "dm_lang";

/// A cookie's name as this site sets it: behind https with the `__Host-`
/// prefix, which a browser accepts only from this host, secure, for the
/// whole site, so that a sibling subdomain cannot plant a CSRF token or a
/// session.
pub fn named(secure: bool, name: &'static str) -> String {
    if secure {
        format!("__Host-{name}")
    } else {
        name.to_owned()
    }
}

/// Who is visiting, in which language, with which CSRF token.
pub struct Visit {
    pub tr: Tr,
    pub actor: Option<Actor>,
    /// The account's name, for the header.
    pub name: Option<String>,
    pub csrf: String,
    /// The CSRF cookie must be set (it was missing or malformed).
    new_csrf: bool,
    /// A session cookie was sent that no longer stands for an account.
    stale_session: bool,
    secure: bool,
}

fn new_csrf() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

fn well_formed(token: &str) -> bool {
    token.len() == 43
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether the public URL says cookies travel over https only.
pub fn secure(market: &Market) -> bool {
    market.settings.server.public_url.starts_with("https://")
}

impl Visit {
    pub async fn of(req: &HttpRequest, market: &Market) -> Visit {
        let secure = secure(market);
        let locale = req
            .cookie(&named(secure, LANG))
            .and_then(|c| Locale::from_tag(c.value()))
            .unwrap_or_else(|| {
                Locale::negotiate(
                    req.headers()
                        .get(header::ACCEPT_LANGUAGE)
                        .and_then(|v| v.to_str().ok()),
                )
            });
        let (csrf, new) = match req.cookie(&named(secure, CSRF)) {
            Some(c) if well_formed(c.value()) => (c.value().to_owned(), false),
            _ => (new_csrf(), true),
        };
        let mut visit = Visit {
            tr: Tr { locale },
            actor: None,
            name: None,
            csrf,
            new_csrf: new,
            stale_session: false,
            secure,
        };
        if let Some(token) = req.cookie(&named(secure, SESSION)) {
            match crate::gateway::auth::session_actor(req, token.value()).await {
                Ok(actor) => {
                    visit.name = crate::accounts::get(market, actor.id)
                        .await
                        .ok()
                        .map(|a| a.name);
                    visit.actor = Some(actor);
                }
                Err(_) => visit.stale_session = true,
            }
        }
        visit
    }

    /// Whether a submitted form's token is this visit's: present, well
    /// formed, equal to the cookie (compared in constant time).
    pub fn csrf_ok(&self, submitted: &str) -> bool {
        use subtle_eq::eq;
        !self.new_csrf && well_formed(submitted) && eq(submitted.as_bytes(), self.csrf.as_bytes())
    }

    /// The cookies this visit must set or clear on its answer.
    pub fn cookies(&self, response: &mut HttpResponseBuilder) {
        if self.new_csrf {
            response.cookie(self.cookie(CSRF, self.csrf.clone(), None));
        }
        if self.stale_session {
            response.cookie(self.cookie(SESSION, String::new(), Some(0)));
        }
    }

    /// A cookie as the portal sets them: for the whole site, never to
    /// scripts, not sent along cross-site subrequests or posts.
    pub fn cookie(
        &self,
        name: &'static str,
        value: String,
        max_age: Option<i64>,
    ) -> Cookie<'static> {
        let mut cookie = Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .same_site(SameSite::Lax)
            .secure(self.secure)
            .finish();
        if let Some(secs) = max_age {
            cookie.set_max_age(CookieAge::seconds(secs));
        }
        cookie
    }

    /// A fresh CSRF token, as a sign-in issues (the old one may have been
    /// seen before the session existed).
    pub fn rotate_csrf(&mut self) {
        self.csrf = new_csrf();
        self.new_csrf = true;
    }
}

/// Equality whose time does not depend on where the inputs differ.
mod subtle_eq {
    pub fn eq(a: &[u8], b: &[u8]) -> bool {
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}
