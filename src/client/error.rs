//! What can go wrong in a client command, sorted into the kinds a script
//! can branch on: each kind is one exit code (docs/cli.md).

use std::fmt;

use serde_json::Value;

/// The kind of a failure; [`Kind::exit_code`] is the command's exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Anything not below (exit 1).
    Other,
    /// The command line is wrong, or the server found a parameter malformed
    /// (400) (exit 2, as for clap's own usage errors).
    Usage,
    /// Not authenticated: no token, or a missing, expired or invalid one
    /// (401), or a failed login (exit 3).
    Auth,
    /// No such thing, or one the caller may not know exists (404) (exit 4).
    NotFound,
    /// The market's rules refuse it: 403, 409, 413, 422 (exit 5).
    Refused,
    /// The server cannot be reached or cannot answer now: connection errors,
    /// timeouts, 429, 5xx (exit 6).
    Unavailable,
    /// A payload does not match its SHA-256 (exit 7).
    Integrity,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Other => 1,
            Kind::Usage => 2,
            Kind::Auth => 3,
            Kind::NotFound => 4,
            Kind::Refused => 5,
            Kind::Unavailable => 6,
            Kind::Integrity => 7,
        }
    }

    /// The kind of an HTTP error status.
    pub fn of_status(status: u16) -> Kind {
        match status {
            400 => Kind::Usage,
            401 => Kind::Auth,
            404 | 410 => Kind::NotFound,
            403 | 409 | 413 | 422 => Kind::Refused,
            429 | 500..=599 => Kind::Unavailable,
            _ => Kind::Other,
        }
    }
}

/// A failed command: its kind, a sentence, and the server's problem
/// document when the server refused.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
    /// The RFC 9457 problem document the server answered with, if any.
    pub problem: Option<Value>,
}

impl Failure {
    pub fn new(kind: Kind, message: impl Into<String>) -> Failure {
        Failure {
            kind,
            message: message.into(),
            problem: None,
        }
    }

    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Usage, message)
    }

    pub fn other(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Other, message)
    }

    pub fn integrity(message: impl Into<String>) -> Failure {
        Failure::new(Kind::Integrity, message)
    }

    /// A transport error: the server could not be reached or stopped
    /// answering.
    pub fn transport(what: &str, error: &reqwest::Error) -> Failure {
        let mut message = format!("{what}: {error}");
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        Failure::new(Kind::Unavailable, message)
    }

    /// An error answer from the server: the problem document's `detail` and
    /// `type` when it sent one.
    pub fn from_answer(what: &str, status: u16, request_id: Option<&str>, body: &[u8]) -> Failure {
        let problem: Option<Value> = serde_json::from_slice(body)
            .ok()
            .filter(|v: &Value| v.is_object());
        let kind = Kind::of_status(status);
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let message = match problem.as_ref() {
            Some(p) => {
                let detail = p["detail"].as_str().or(p["title"].as_str()).unwrap_or("");
                let kind_of = p["type"].as_str().unwrap_or("about:blank");
                format!("{what}: {detail}\n  problem: {kind_of} ({status} {reason})")
            }
            None => {
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                if text.is_empty() {
                    format!("{what}: {status} {reason}")
                } else {
                    format!("{what}: {status} {reason}: {}", truncate(text, 300))
                }
            }
        };
        let message = match (kind, request_id) {
            (Kind::Unavailable, Some(id)) => format!("{message}\n  request id: {id}"),
            _ => message,
        };
        Failure {
            kind,
            message,
            problem,
        }
    }

    pub fn with_hint(mut self, hint: &str) -> Failure {
        self.message.push_str("\n  hint: ");
        self.message.push_str(hint);
        self
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

pub type Result<T, E = Failure> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_stable_kinds() {
        assert_eq!(Kind::of_status(401).exit_code(), 3);
        assert_eq!(Kind::of_status(404).exit_code(), 4);
        for refused in [403, 409, 413, 422] {
            assert_eq!(Kind::of_status(refused).exit_code(), 5, "{refused}");
        }
        for down in [429, 500, 502, 503] {
            assert_eq!(Kind::of_status(down).exit_code(), 6, "{down}");
        }
        assert_eq!(Kind::of_status(400).exit_code(), 2);
        assert_eq!(Kind::of_status(415).exit_code(), 1);
        assert_eq!(Kind::Integrity.exit_code(), 7);
    }

    #[test]
    fn a_problem_document_gives_its_detail_and_type() {
        let body = br#"{"type":"/problems/grant-revoked","title":"Grant revoked","status":403,"detail":"the grant was revoked: end of pilot"}"#;
        let failure = Failure::from_answer("GET /x", 403, None, body);
        assert_eq!(failure.kind, Kind::Refused);
        assert!(
            failure
                .message
                .contains("the grant was revoked: end of pilot")
        );
        assert!(failure.message.contains("/problems/grant-revoked"));
        assert_eq!(failure.problem.unwrap()["status"], 403);
    }
}
