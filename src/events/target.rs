//! Where the market sends on its own initiative — webhooks, and the
//! Dataspace Protocol's callbacks to consumers: only to a URL it accepts,
//! and, unless `events.allow_private_targets` is on, never into this
//! machine or a private network (a request the market makes for someone
//! must not reach what only the market can reach).

use std::net::IpAddr;

use crate::error::{Error, Result};

/// The longest URL accepted.
const MAX_URL_CHARS: usize = 2000;

/// A URL as the market accepts one to send to (`field` names it in the
/// refusal): http or https, no credentials or fragment, and — unless the
/// market allows it (`events.allow_private_targets`) — no host that names
/// this machine or a private network. A name is resolved and checked again
/// before each send: [`public_target`].
pub fn check_url(url: &str, field: &str, allow_private: bool) -> Result<reqwest::Url> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(Error::invalid(
            field,
            format!("at most {MAX_URL_CHARS} characters"),
        ));
    }
    let parsed = reqwest::Url::parse(url).map_err(|e| Error::invalid(field, e))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(Error::invalid(field, "must be an http or https URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::invalid(field, "must not carry credentials"));
    }
    if parsed.fragment().is_some() {
        return Err(Error::invalid(field, "must not have a fragment"));
    }
    let Some(host) = parsed.host() else {
        return Err(Error::invalid(field, "must name a host"));
    };
    if !allow_private {
        let private = match host {
            url::Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name == "localhost" || name.ends_with(".localhost")
            }
            url::Host::Ipv4(ip) => is_private(IpAddr::V4(ip)),
            url::Host::Ipv6(ip) => is_private(IpAddr::V6(ip)),
        };
        if private {
            return Err(Error::invalid(
                "url",
                "must not point at this machine or a private network",
            ));
        }
    }
    Ok(parsed)
}

/// Loopback, private, link-local, unspecified or otherwise not a public
/// address.
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.octets()[0] == 0
                // 100.64.0.0/10, carrier-grade NAT
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xC0) == 64)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                // fc00::/7 unique local, fe80::/10 link-local
                || (v6.segments()[0] & 0xFE00) == 0xFC00
                || (v6.segments()[0] & 0xFFC0) == 0xFE80
        }
    }
}

/// Refuses a target whose name resolves to this machine or a private
/// network, as the check at registration refuses such an address written
/// out. (Between this lookup and the connection the name could change;
/// a receiver's DNS is trusted that far.)
pub async fn public_target(url: &reqwest::Url) -> std::result::Result<(), String> {
    let host = url.host_str().ok_or("the URL names no host")?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port_or_known_default().unwrap_or(443);
    let addresses: Vec<IpAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("cannot resolve the host: {e}"))?
        .map(|a| a.ip())
        .collect();
    if addresses.is_empty() || addresses.into_iter().any(is_private) {
        return Err("the host resolves to a private address".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked() {
        assert!(check_url("https://hooks.example.com/market?k=1", "url", false).is_ok());
        for bad in [
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#x",
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://10.1.2.3/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://169.254.169.254/latest/meta-data",
            "not a url",
        ] {
            assert!(check_url(bad, "url", false).is_err(), "{bad} was accepted");
        }
        assert!(check_url("http://127.0.0.1:8080/", "url", true).is_ok());
    }
}
