//! Profiles and the HTTP session of the client commands.
//!
//! A profile is a server and the login made there, kept in the user's
//! configuration directory: `$XDG_CONFIG_HOME/datamarket/profiles/` or
//! `$HOME/.config/datamarket/profiles/`, as `NAME.json` (server, account)
//! and `NAME.token` (the access token, mode 0600, in a directory of mode
//! 0700). `DATAMARKET_SERVER` and `DATAMARKET_TOKEN` override a profile, so
//! that a CI job needs no files at all.

use std::path::{Path, PathBuf};

use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{Failure, Kind, Result};

/// The profile used when none is named and no profile matches the server.
pub const DEFAULT_PROFILE: &str = "default";

/// The environment variable whose token overrides a profile's.
pub const TOKEN_ENV: &str = "DATAMARKET_TOKEN";

/// The user's configuration directory for the command:
/// `$XDG_CONFIG_HOME/datamarket`, else `$HOME/.config/datamarket`.
pub fn config_dir() -> Result<PathBuf> {
    let nonempty = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(xdg) = nonempty("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(xdg).join("datamarket"));
    }
    if let Some(home) = nonempty("HOME") {
        return Ok(PathBuf::from(home).join(".config").join("datamarket"));
    }
    Err(Failure::usage(
        "no configuration directory: set XDG_CONFIG_HOME or HOME",
    ))
}

/// What a profile remembers besides its token.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Profile {
    /// The server's base URL, e.g. `https://market.example`.
    pub server: String,
    /// The account logged in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// When the saved token expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
}

/// The profiles directory.
pub struct Profiles {
    dir: PathBuf,
}

impl Profiles {
    /// The profiles in the user's configuration directory.
    pub fn open() -> Result<Profiles> {
        Ok(Profiles::at(config_dir()?.join("profiles")))
    }

    pub fn at(dir: PathBuf) -> Profiles {
        Profiles { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, name: &str, extension: &str) -> Result<PathBuf> {
        check_name(name)?;
        Ok(self.dir.join(format!("{name}.{extension}")))
    }

    pub fn token_file(&self, name: &str) -> Result<PathBuf> {
        self.file(name, "token")
    }

    /// The profile `name`, if it exists.
    pub fn load(&self, name: &str) -> Result<Option<Profile>> {
        let path = self.file(name, "json")?;
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .map_err(|e| Failure::other(format!("{} is damaged: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::other(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// The saved token of profile `name`, if any.
    pub fn token(&self, name: &str) -> Result<Option<String>> {
        let path = self.token_file(name)?;
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_owned()).filter(|t| !t.is_empty())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Failure::other(format!(
                "cannot read {}: {e}",
                path.display()
            ))),
        }
    }

    /// The name of the profile for `server`, if one was saved for it.
    pub fn for_server(&self, server: &str) -> Result<Option<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(Failure::other(format!(
                    "cannot read {}: {e}",
                    self.dir.display()
                )));
            }
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".json"))
                    .map(str::to_owned)
            })
            .filter(|n| check_name(n).is_ok())
            .collect();
        // The default profile first, then by name: the same answer every time.
        names.sort_by_key(|n| (n != DEFAULT_PROFILE, n.clone()));
        for name in names {
            if let Some(profile) = self.load(&name)?
                && same_server(&profile.server, server)
            {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// Saves profile `name` with its token: the directory is made private
    /// (0700) and the token file readable by the user alone (0600).
    pub fn save(&self, name: &str, profile: &Profile, token: &str) -> Result<PathBuf> {
        let json = self.file(name, "json")?;
        let token_path = self.token_file(name)?;
        create_private_dir(&self.dir)?;
        let text =
            serde_json::to_string_pretty(profile).map_err(|e| Failure::other(e.to_string()))?;
        write_private(&json, text.as_bytes(), false)?;
        write_private(&token_path, token.as_bytes(), true)?;
        Ok(token_path)
    }

    /// Deletes profile `name`'s token; true if there was one.
    pub fn remove_token(&self, name: &str) -> Result<bool> {
        let path = self.token_file(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(Failure::other(format!(
                "cannot delete {}: {e}",
                path.display()
            ))),
        }
    }
}

/// Profile names become file names: letters, digits, `.`, `_`, `-`.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Failure::usage(format!(
            "invalid profile name {name:?}: use letters, digits, '.', '_' and '-'"
        )))
    }
}

/// A server URL without trailing slashes.
pub fn normalize_server(url: &str) -> String {
    url.trim().trim_end_matches('/').to_owned()
}

fn same_server(a: &str, b: &str) -> bool {
    normalize_server(a) == normalize_server(b)
}

fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::other(format!("cannot create {}: {e}", dir.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Failure::other(format!("cannot protect {}: {e}", dir.display())))?;
    }
    Ok(())
}

/// Writes a file through a temporary sibling renamed into place; a secret
/// one is created with mode 0600, never readable by others even briefly.
fn write_private(path: &Path, bytes: &[u8], secret: bool) -> Result<()> {
    use std::io::Write;
    let fail = |e: std::io::Error| Failure::other(format!("cannot write {}: {e}", path.display()));
    let temporary = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    let _ = std::fs::remove_file(&temporary);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let mut file = options.open(&temporary).map_err(fail)?;
    file.write_all(bytes).map_err(fail)?;
    file.sync_all().map_err(fail)?;
    drop(file);
    std::fs::rename(&temporary, path).map_err(fail)
}

/// How the command line names the server and the login to use.
#[derive(Clone, Debug, Default)]
pub struct Target {
    /// `--server` or `DATAMARKET_SERVER`.
    pub server: Option<String>,
    /// `--profile` or `DATAMARKET_PROFILE`.
    pub profile: Option<String>,
}

/// Where a session's token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenSource {
    None,
    Environment,
    Profile,
}

/// A server to talk to, as whom, over one HTTP client.
pub struct Session {
    pub server: String,
    pub profile: String,
    token: Option<String>,
    token_source: TokenSource,
    http: reqwest::Client,
}

/// The HTTP client of the commands: a user agent naming the command and a
/// connect timeout, but no overall one (payloads may be large).
pub fn http_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .user_agent(concat!("datamarket-cli/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(std::time::Duration::from_secs(15))
        .build()
        .map_err(|e| Failure::other(format!("cannot set up HTTP: {e}")))
}

impl Session {
    /// Resolves the server and token: the profile is `--profile`, else the
    /// one saved for `--server`, else `default`; the server is `--server`,
    /// else the profile's; the token is `DATAMARKET_TOKEN`, else the
    /// profile's saved one (only if the profile is for that server).
    pub fn resolve(target: &Target) -> Result<Session> {
        let profiles = Profiles::open()?;
        let server = target
            .server
            .as_deref()
            .map(normalize_server)
            .filter(|s| !s.is_empty());
        let name = match (&target.profile, &server) {
            (Some(name), _) => name.clone(),
            (None, Some(server)) => profiles
                .for_server(server)?
                .unwrap_or_else(|| DEFAULT_PROFILE.to_owned()),
            (None, None) => DEFAULT_PROFILE.to_owned(),
        };
        let profile = profiles.load(&name)?;
        let server = match (server, &profile) {
            (Some(server), _) => server,
            (None, Some(profile)) => normalize_server(&profile.server),
            (None, None) if target.profile.is_some() => {
                return Err(Failure::usage(format!(
                    "no profile {name:?}: log in first with `datamarket login --profile {name} --server URL`"
                )));
            }
            (None, None) => {
                return Err(Failure::usage(
                    "no server: pass --server URL, set DATAMARKET_SERVER, or log in with `datamarket login --server URL`",
                ));
            }
        };
        let (token, token_source) = match std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty()) {
            Some(token) => (Some(token), TokenSource::Environment),
            None => match &profile {
                Some(p) if same_server(&p.server, &server) => match profiles.token(&name)? {
                    Some(token) => (Some(token), TokenSource::Profile),
                    None => (None, TokenSource::None),
                },
                _ => (None, TokenSource::None),
            },
        };
        Ok(Session {
            server,
            profile: name,
            token,
            token_source,
            http: http_client()?,
        })
    }

    /// A session for `server` with an explicit token (or none).
    pub fn with_token(server: &str, token: Option<String>) -> Result<Session> {
        Ok(Session {
            server: normalize_server(server),
            profile: DEFAULT_PROFILE.to_owned(),
            token_source: if token.is_some() {
                TokenSource::Environment
            } else {
                TokenSource::None
            },
            token,
            http: http_client()?,
        })
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The URL of an API path (`/datasets` → `SERVER/api/v1/datasets`).
    pub fn api(&self, path: &str) -> String {
        format!("{}/api/v1{path}", self.server)
    }

    /// A request to an API path, with the session's token if it has one.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.request_as(method, path, self.token.as_deref())
    }

    /// A request to an API path with the given bearer token (or none).
    pub fn request_as(&self, method: Method, path: &str, token: Option<&str>) -> RequestBuilder {
        let builder = self.http.request(method, self.api(path));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// Sends a request; a success is returned as it is, an error answer
    /// becomes a [`Failure`] with the server's problem document.
    pub async fn send(&self, what: &str, request: RequestBuilder) -> Result<Response> {
        let response = request
            .send()
            .await
            .map_err(|e| Failure::transport(what, &e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.failure(what, response).await)
    }

    /// The failure an error answer stands for.
    pub async fn failure(&self, what: &str, response: Response) -> Failure {
        let status = response.status().as_u16();
        let request_id = response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.bytes().await.unwrap_or_default();
        let failure = Failure::from_answer(what, status, request_id.as_deref(), &body);
        if failure.kind != Kind::Auth {
            return failure;
        }
        match self.token_source {
            TokenSource::None => failure.with_hint(&format!(
                "log in first: datamarket login --server {} --name NAME",
                self.server
            )),
            TokenSource::Profile => failure.with_hint(&format!(
                "the token of profile {:?} may have expired: datamarket login --profile {}",
                self.profile, self.profile
            )),
            TokenSource::Environment => failure.with_hint("check DATAMARKET_TOKEN"),
        }
    }

    /// Sends a request and reads its JSON answer.
    pub async fn json(&self, what: &str, request: RequestBuilder) -> Result<Value> {
        Ok(self.json_with_headers(what, request).await?.0)
    }

    /// Sends a request and reads its JSON answer and its headers.
    pub async fn json_with_headers(
        &self,
        what: &str,
        request: RequestBuilder,
    ) -> Result<(Value, HeaderMap)> {
        let response = self.send(what, request).await?;
        let headers = response.headers().clone();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| Failure::transport(what, &e))?;
        if bytes.is_empty() {
            return Ok((Value::Null, headers));
        }
        let value = serde_json::from_slice(&bytes)
            .map_err(|e| Failure::other(format!("{what}: the server's answer is not JSON: {e}")))?;
        Ok((value, headers))
    }

    /// GET an API path with query parameters, as JSON.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let what = format!("GET {path}");
        self.json(&what, self.request(Method::GET, path).query(query))
            .await
    }

    /// POST a JSON body (or none) to an API path, as JSON.
    pub async fn post(&self, path: &str, body: Option<&Value>) -> Result<Value> {
        let what = format!("POST {path}");
        let mut request = self.request(Method::POST, path);
        if let Some(body) = body {
            request = request.json(body);
        }
        self.json(&what, request).await
    }

    /// PATCH an API path with a JSON body, as JSON.
    pub async fn patch(&self, path: &str, body: &Value) -> Result<Value> {
        let what = format!("PATCH {path}");
        self.json(&what, self.request(Method::PATCH, path).json(body))
            .await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn profiles_are_saved_privately_and_found_by_server() {
        let dir = tempfile::tempdir().unwrap();
        let profiles = Profiles::at(dir.path().join("profiles"));
        assert_eq!(profiles.load("default").unwrap(), None);
        assert_eq!(profiles.for_server("http://x").unwrap(), None);
        let profile = Profile {
            server: "http://127.0.0.1:8080".into(),
            account: Some("acme".into()),
            ..Profile::default()
        };
        let token_file = profiles.save("work", &profile, "tok").unwrap();
        assert_eq!(profiles.load("work").unwrap(), Some(profile));
        assert_eq!(profiles.token("work").unwrap().as_deref(), Some("tok"));
        assert_eq!(
            profiles
                .for_server("http://127.0.0.1:8080/")
                .unwrap()
                .as_deref(),
            Some("work")
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&token_file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let mode = std::fs::metadata(profiles.dir())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o700);
        }
        assert!(profiles.remove_token("work").unwrap());
        assert!(!profiles.remove_token("work").unwrap());
        assert_eq!(profiles.token("work").unwrap(), None);
    }

    #[test]
    fn profile_names_are_file_names() {
        assert!(check_name("ci-prod_2.eu").is_ok());
        for bad in ["", "../x", ".hidden", "a/b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
