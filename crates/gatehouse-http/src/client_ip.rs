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

    mod properties {
        use std::net::{Ipv4Addr, Ipv6Addr};

        use proptest::prelude::*;

        use super::*;

        const TRUSTED: [&str; 3] = ["10.0.0.0/8", "192.168.0.0/16", "fd00::/8"];

        fn addresses() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
                any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
                // Inside the trusted ranges, and IPv4-mapped ones.
                any::<[u8; 3]>().prop_map(|b| IpAddr::V4(Ipv4Addr::new(10, b[0], b[1], b[2]))),
                any::<[u8; 2]>().prop_map(|b| IpAddr::V4(Ipv4Addr::new(192, 168, b[0], b[1]))),
                any::<u16>().prop_map(|n| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, n))),
                any::<[u8; 3]>().prop_map(|b| IpAddr::V6(Ipv4Addr::new(10, b[0], b[1], b[2]).to_ipv6_mapped())),
            ]
        }

        /// Addresses inside the trusted ranges (the proxies).
        fn proxies() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<[u8; 3]>().prop_map(|b| IpAddr::V4(Ipv4Addr::new(10, b[0], b[1], b[2]))),
                any::<u16>().prop_map(|n| IpAddr::V6(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, n))),
                any::<[u8; 3]>().prop_map(|b| IpAddr::V6(Ipv4Addr::new(10, b[0], b[1], b[2]).to_ipv6_mapped())),
            ]
        }

        /// Addresses outside them.
        fn outsiders() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))),
                any::<[u16; 8]>().prop_map(|s| IpAddr::V6(Ipv6Addr::from(s))),
            ]
            .prop_filter("outside the trusted ranges", |ip| !trusted(ip))
        }

        fn trusted(ip: &IpAddr) -> bool {
            nets(&TRUSTED).iter().any(|net| net.contains(&canonical(*ip)))
        }

        /// The chain as X-Forwarded-For, in one header or one header per hop, and as Forwarded
        /// (IPv6 quoted and bracketed, some hops with ports).
        fn written(hops: &[IpAddr], style: u8, ports: &[bool]) -> HeaderMap {
            let mut map = HeaderMap::new();
            let node = |(i, ip): (usize, &IpAddr)| match (ip, ports[i % ports.len()]) {
                (IpAddr::V4(v4), true) => format!("{v4}:4711"),
                (IpAddr::V6(v6), true) => format!("\"[{v6}]:4711\""),
                (IpAddr::V6(v6), false) => format!("\"[{v6}]\""),
                (IpAddr::V4(v4), false) => v4.to_string(),
            };
            match style {
                0 => {
                    let list: Vec<String> = hops.iter().map(ToString::to_string).collect();
                    map.append("x-forwarded-for", HeaderValue::from_str(&list.join(", ")).expect("header"));
                }
                1 => {
                    for hop in hops {
                        map.append("x-forwarded-for", HeaderValue::from_str(&hop.to_string()).expect("header"));
                    }
                }
                _ => {
                    let list: Vec<String> =
                        hops.iter().enumerate().map(|hop| format!("for={};proto=https", node(hop))).collect();
                    map.append("forwarded", HeaderValue::from_str(&list.join(", ")).expect("header"));
                }
            }
            map
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4_000))]

            /// A peer outside the trusted proxies is the client, whatever it claims.
            #[test]
            fn an_untrusted_peer_is_the_client_whatever_it_sends(
                peer in outsiders(),
                xff in "[0-9a-f.:, \\[\\]]{0,60}",
                forwarded in "[a-z0-9=;,.:\" \\[\\]]{0,60}",
            ) {
                let mut map = HeaderMap::new();
                map.append("x-forwarded-for", HeaderValue::from_str(&xff).expect("header"));
                map.append("forwarded", HeaderValue::from_str(&forwarded).expect("header"));
                prop_assert_eq!(resolve(peer, &map, &nets(&TRUSTED)), peer);
            }

            /// Through trusted proxies the client is the nearest hop outside them (the leftmost
            /// when all are inside), and every way of writing the chain gives the same answer.
            #[test]
            fn the_client_is_the_nearest_untrusted_hop_however_the_chain_is_written(
                peer in proxies(),
                hops in proptest::collection::vec(addresses(), 0..8),
                ports in proptest::collection::vec(any::<bool>(), 1..8),
            ) {
                let expected = match hops.iter().rposition(|hop| !trusted(hop)) {
                    Some(nearest) => hops[nearest],
                    None => hops.first().copied().unwrap_or(peer),
                };
                for style in 0..3 {
                    let map = written(&hops, style, &ports);
                    prop_assert_eq!(resolve(peer, &map, &nets(&TRUSTED)), expected, "style {}", style);
                }
            }

            /// Any header bytes are read without a panic; the answer is the peer or an address
            /// the headers named.
            #[test]
            fn any_forwarding_headers_are_read_safely(
                peer in proxies(),
                raw in proptest::collection::vec(any::<u8>(), 0..200),
                name in prop_oneof![Just("x-forwarded-for"), Just("forwarded")],
            ) {
                if let Ok(value) = HeaderValue::from_bytes(&raw) {
                    let mut map = HeaderMap::new();
                    map.append(name, value);
                    let client = resolve(peer, &map, &nets(&TRUSTED));
                    let sent = String::from_utf8_lossy(&raw).to_ascii_lowercase();
                    let named = match client {
                        IpAddr::V4(v4) => sent.contains(&v4.to_string()),
                        IpAddr::V6(_) => sent.contains(':'),
                    };
                    prop_assert!(client == peer || named, "{} from {:?}", client, sent);
                }
            }
        }
    }
}
