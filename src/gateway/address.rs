//! The client's address, as the security events in the audit log and the
//! login throttle see it.

use std::net::IpAddr;

use actix_web::HttpRequest;

use crate::market::Market;

/// The peer address, or with `throttle.trust_forwarded_for` (behind a load
/// balancer that sets it) the first forwarded address.
pub fn client_address(market: &Market, req: &HttpRequest) -> Option<IpAddr> {
    let info = req.connection_info();
    let text = if market.settings.throttle.trust_forwarded_for {
        info.realip_remote_addr()
    } else {
        info.peer_addr()
    }?;
    text.parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<std::net::SocketAddr>().ok().map(|s| s.ip()))
}
