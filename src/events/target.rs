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
/// this machine or a private network. A name is resolved only to its public
/// addresses when it is sent to: [`client`].
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

/// Loopback, private, link-local, unspecified, multicast, reserved or
/// otherwise not a public address — also an IPv4 one carried inside IPv6
/// (mapped, compatible, NAT64, 6to4).
pub fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_documentation()
                || v4.is_multicast()
                || a == 0
                // 100.64.0.0/10, carrier-grade NAT
                || (a == 100 && (b & 0xC0) == 64)
                // 198.18.0.0/15, benchmarking
                || (a == 198 && (b & 0xFE) == 18)
                // 240.0.0.0/4, reserved
                || a >= 240
        }
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            let embedded = |high: u16, low: u16| {
                let [h1, h2] = high.to_be_bytes();
                let [l1, l2] = low.to_be_bytes();
                std::net::Ipv4Addr::new(h1, h2, l1, l2)
            };
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_private(IpAddr::V4(v4));
            }
            // ::a.b.c.d (IPv4-compatible) and 64:ff9b::/96 (NAT64)
            if segments[..6] == [0, 0, 0, 0, 0, 0] && !v6.is_loopback() && !v6.is_unspecified()
                || segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0]
            {
                return is_private(IpAddr::V4(embedded(segments[6], segments[7])));
            }
            // 2002::/16 (6to4) carries its IPv4 address in the next 32 bits.
            if segments[0] == 0x2002 {
                return is_private(IpAddr::V4(embedded(segments[1], segments[2])));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local
                || (segments[0] & 0xFE00) == 0xFC00
                || (segments[0] & 0xFFC0) == 0xFE80
                || (segments[0] & 0xFFC0) == 0xFEC0
        }
    }
}

/// The HTTP client the market sends with on its own initiative. It follows
/// no redirect (one could lead past the rule) and, unless private targets
/// are allowed, resolves names with [`PublicOnly`]: the addresses checked
/// are the addresses connected to, so a name cannot show one address to a
/// check and another to the connection. (An address written out in a URL
/// is not resolved: [`check_url`] refuses it, at registration and again
/// before each send.)
pub fn client(allow_private: bool, user_agent: &str) -> reqwest::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(user_agent);
    if !allow_private {
        builder = builder.dns_resolver(std::sync::Arc::new(PublicOnly));
    }
    builder.build()
}

/// A resolver that gives out a name's public addresses only, and fails
/// when it has none.
struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let found = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let public: Vec<std::net::SocketAddr> = found.filter(|a| !is_private(a.ip())).collect();
            if public.is_empty() {
                return Err(format!("{host} resolves to no public address").into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
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
        for hidden in [
            "::ffff:10.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "2002:7f00:1::",
            "fec0::1",
            "ff02::1",
            "198.18.0.1",
            "240.0.0.1",
            "224.0.0.1",
        ] {
            assert!(
                is_private(hidden.parse().unwrap()),
                "{hidden} passed as public"
            );
        }
        for public in ["93.184.216.34", "2606:2800:220:1::", "2002:5db8:d822::"] {
            assert!(
                !is_private(public.parse().unwrap()),
                "{public} taken for private"
            );
        }
    }
}
