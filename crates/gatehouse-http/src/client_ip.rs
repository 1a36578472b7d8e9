//! The client's IP address, believing `X-Forwarded-For` and `Forwarded` only from trusted proxies.
//!
//! The chain is read from the right (the hop nearest to us) and every address in a trusted range
//! is skipped; the first untrusted address is the client. A client can prepend anything it likes
//! to these headers, so nothing to the left of the first untrusted hop is ever believed.

use std::net::{IpAddr, SocketAddr};

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request};
use http::HeaderMap;
use ipnet::IpNet;

/// The resolved client address, in the request's extensions. `None` when the server was driven
/// without a socket (in-process tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub Option<IpAddr>);

/// The socket peer of a request (the proxy, when there is one), in the request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerIp(pub Option<IpAddr>);

impl PeerIp {
    /// Whether the peer is one of `trusted` (never, when there is no socket).
    pub fn is_trusted(self, trusted: &[IpNet]) -> bool {
        self.0.is_some_and(|peer| trusted.iter().any(|net| net.contains(&canonical(peer))))
    }
}

/// The client address of a request, and its socket peer (or axum's `MockConnectInfo` in
/// in-process tests): the client is the peer resolved through the forwarding headers of trusted
/// proxies.
pub(crate) fn of_request(request: &Request, trusted: &[IpNet]) -> (ClientIp, PeerIp) {
    let extensions = request.extensions();
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
        .or_else(|| extensions.get::<MockConnectInfo<SocketAddr>>().map(|mock| mock.0))
        .map(|addr| addr.ip());
    (ClientIp(peer.map(|peer| resolve(peer, request.headers(), trusted))), PeerIp(peer))
}

/// Resolves the client address from the socket peer and the forwarding headers.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(&canonical(*ip)));
    if !is_trusted(&peer) {
        return peer;
    }
    let hops = forwarded_for(headers).or_else(|| x_forwarded_for(headers)).unwrap_or_default();
    let mut client = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) => {
                client = *ip;
                if !is_trusted(ip) {
                    return client;
                }
            }
            // An entry we cannot parse ends the chain: nothing beyond it can be believed.
            None => return client,
        }
    }
    client
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) compare as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

fn x_forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let text = value.to_str().ok()?;
        hops.extend(text.split(',').map(|hop| parse_node(hop.trim())));
    }
    (!hops.is_empty()).then_some(hops)
}

/// The `for=` parameters of RFC 7239 `Forwarded` headers, in order.
fn forwarded_for(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut hops = Vec::new();
    for value in headers.get_all("forwarded") {
        let text = value.to_str().ok()?;
        for element in text.split(',') {
            let node = element.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                key.trim().eq_ignore_ascii_case("for").then(|| value.trim().trim_matches('"'))
            });
            if let Some(node) = node {
                hops.push(parse_node(node));
            }
        }
    }
    (!hops.is_empty()).then_some(hops)
}

/// Parses `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:5678`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip);
    }
    node.parse::<SocketAddr>()
        .ok()
        .map(|addr| addr.ip())
        .or_else(|| node.strip_prefix('[').and_then(|rest| rest.split_once(']')).and_then(|(ip, _)| ip.parse().ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|s| s.parse().expect("cidr")).collect()
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header"));
        }
        map
    }

    #[test]
    fn untrusted_peers_cannot_spoof_their_address() {
        let h = headers(&[("x-forwarded-for", "1.1.1.1")]);
        assert_eq!(resolve(ip("203.0.113.9"), &h, &nets(&["10.0.0.0/8"])), ip("203.0.113.9"));
        assert_eq!(resolve(ip("10.0.0.2"), &h, &[]), ip("10.0.0.2"));
    }

    #[test]
    fn the_first_untrusted_hop_from_the_right_is_the_client() {
        let trusted = nets(&["10.0.0.0/8"]);
        let h = headers(&[("x-forwarded-for", "6.6.6.6, 198.51.100.7, 10.0.0.5")]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &trusted), ip("198.51.100.7"));
        let split = headers(&[("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(resolve(ip("10.0.0.2"), &split, &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn all_trusted_hops_yield_the_leftmost() {
        let h = headers(&[("x-forwarded-for", "10.1.1.1, 10.0.0.5")]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &nets(&["10.0.0.0/8"])), ip("10.1.1.1"));
    }

    #[test]
    fn garbage_ends_the_chain_at_the_last_trusted_hop() {
        let h = headers(&[("x-forwarded-for", "6.6.6.6, not-an-ip, 10.0.0.5")]);
        assert_eq!(resolve(ip("10.0.0.2"), &h, &nets(&["10.0.0.0/8"])), ip("10.0.0.5"));
    }

    #[test]
    fn forwarded_header_is_understood_and_preferred() {
        let h = headers(&[
            ("forwarded", r#"for=192.0.2.60;proto=https, for="[2001:db8::17]:4711""#),
            ("x-forwarded-for", "6.6.6.6"),
        ]);
        assert_eq!(resolve(ip("::1"), &h, &nets(&["::1/128"])), ip("2001:db8::17"));
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_ranges() {
        let h = headers(&[("x-forwarded-for", "198.51.100.7")]);
        assert_eq!(resolve(ip("::ffff:10.0.0.2"), &h, &nets(&["10.0.0.0/8"])), ip("198.51.100.7"));
    }
}
