//! The client's address, and the key a per-address limit counts under.
//!
//! One function decides who the client is, for the rate limits, the session records and the
//! request id alike, so that no two parts of the server can disagree about it. It knows
//! nothing of the application's state: it takes the socket's peer, the headers and the
//! trusted proxies.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use actix_web::http::header::HeaderMap;
use ipnet::IpNet;

/// Whether `ip` is one of the proxies whose `X-Forwarded-For` is believed.
pub fn is_trusted(ip: IpAddr, trusted: &[IpNet]) -> bool {
    let ip = ip.to_canonical();
    trusted.iter().any(|net| net.contains(&ip))
}

/// The client's address: the socket's peer, unless the peer is a trusted proxy.
///
/// Behind trusted proxies `X-Forwarded-For` is read from the right, the end each proxy appends
/// to, so every entry read was written by a proxy we trust until the first entry that is not a
/// trusted proxy: that one is the client. Everything left of it was written by the client and
/// proves nothing. The walk never skips an entry: it also stops at one that does not parse,
/// and then the client is the last address a trusted proxy vouched for. (Reading from the
/// left, or skipping unparsable entries, lets a client put any address it likes in front.)
///
/// `None` only when the request did not come over a socket with a peer address.
pub fn client_ip(
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> Option<IpAddr> {
    let mut client = peer?.ip().to_canonical();
    if !is_trusted(client, trusted) {
        return Some(client);
    }
    // Several X-Forwarded-For headers are one list, in order (RFC 9110, section 5.3).
    let headers: Vec<&[u8]> = headers
        .get_all("x-forwarded-for")
        .map(|v| v.as_bytes())
        .collect();
    for entry in headers.iter().rev().flat_map(|v| v.rsplit(|&b| b == b',')) {
        let Some(ip) = parse_entry(entry) else {
            break;
        };
        client = ip;
        if !is_trusted(ip, trusted) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`192.0.2.1:443`,
/// `[2001:db8::1]:443`, `[2001:db8::1]`). IPv4-mapped IPv6 addresses read as IPv4.
fn parse_entry(raw: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(raw).ok()?.trim();
    let ip = if let Ok(ip) = s.parse::<IpAddr>() {
        ip
    } else if let Ok(with_port) = s.parse::<SocketAddr>() {
        with_port.ip()
    } else {
        s.strip_prefix('[')?
            .strip_suffix(']')?
            .parse::<Ipv6Addr>()
            .ok()?
            .into()
    };
    Some(ip.to_canonical())
}

/// What a per-address limit counts under: the address itself for IPv4, its /64 for IPv6. One
/// IPv6 subscriber is usually given a whole /64 and can pick any address in it, so counting
/// single IPv6 addresses would give them 2^64 budgets.
///
/// An IPv6 address that carries an IPv4 client counts as that IPv4 address: 6to4
/// (`2002::/16`, one IPv4 host owns 2^16 /64s), NAT64 (`64:ff9b::/96`, every IPv4 client of a
/// translator in one /64), IPv4-compatible (`::a.b.c.d`) and Teredo (`2001::/32`, whose /64
/// is the Teredo server shared by all its clients; the client is the last 32 bits, inverted).
pub fn limit_key(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match embedded_ipv4(&v6) {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                let net = Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0);
                format!("{net}/64")
            }
        },
    }
}

/// The IPv4 client an IPv6 address stands for, in the transition schemes that carry one.
fn embedded_ipv4(v6: &Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let v4 = |hi: u16, lo: u16| Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo));
    match s {
        // 6to4: 2002:AABB:CCDD::/48 is the IPv4 host AA.BB.CC.DD.
        [0x2002, hi, lo, ..] => Some(v4(hi, lo)),
        // Teredo: 2001:0000:<server>:<flags>:<port>:<client, inverted>.
        [0x2001, 0, _, _, _, _, hi, lo] => Some(v4(!hi, !lo)),
        // NAT64's well-known prefix: 64:ff9b::a.b.c.d.
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(v4(hi, lo)),
        // IPv4-compatible ::a.b.c.d (deprecated), but not :: or ::1.
        [0, 0, 0, 0, 0, 0, hi, lo] if hi != 0 => Some(v4(hi, lo)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use actix_web::http::header::{HeaderName, HeaderValue};

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(
                HeaderName::from_static("x-forwarded-for"),
                HeaderValue::from_str(v).expect("header value"),
            );
        }
        map
    }

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|n| n.parse().expect("CIDR")).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    fn client(peer: &str, xff: &[&str], trusted: &[&str]) -> Option<IpAddr> {
        let peer: SocketAddr = peer.parse().expect("peer");
        client_ip(Some(peer), &headers(xff), &nets(trusted))
    }

    const PROXY: &str = "10.0.0.2:40000";
    const TRUSTED: &[&str] = &["10.0.0.0/8"];

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        assert_eq!(
            client("198.51.100.9:5000", &["203.0.113.1"], TRUSTED),
            Some(ip("198.51.100.9"))
        );
    }

    #[test]
    fn behind_a_proxy_the_rightmost_untrusted_entry_is_the_client() {
        let xff = ["198.51.100.7, 203.0.113.1, 10.1.2.3"];
        assert_eq!(client(PROXY, &xff, TRUSTED), Some(ip("203.0.113.1")));
    }

    #[test]
    fn garbage_left_of_the_real_client_changes_nothing() {
        let xff = ["1.2.3.4, garbage, 203.0.113.5"];
        assert_eq!(client(PROXY, &xff, TRUSTED), Some(ip("203.0.113.5")));
        let xff = ["1.2.3.4, , 203.0.113.5"];
        assert_eq!(client(PROXY, &xff, TRUSTED), Some(ip("203.0.113.5")));
    }

    #[test]
    fn the_walk_stops_at_garbage_and_never_skips_past_it() {
        // Only trusted hops to the right of the garbage: the client is the last of them,
        // never the address the client wrote in front.
        let xff = ["1.2.3.4, garbage, 10.9.9.9"];
        assert_eq!(client(PROXY, &xff, TRUSTED), Some(ip("10.9.9.9")));
        let xff = ["1.2.3.4, garbage"];
        assert_eq!(client(PROXY, &xff, TRUSTED), Some(ip("10.0.0.2")));
    }

    #[test]
    fn several_headers_are_one_list_in_order() {
        let xff = ["198.51.100.7", "203.0.113.1", "10.1.2.3"];
        assert_eq!(client(PROXY, &xff, TRUSTED), Some(ip("203.0.113.1")));
    }

    #[test]
    fn ports_and_brackets_are_accepted() {
        assert_eq!(
            client(PROXY, &["203.0.113.1:4711"], TRUSTED),
            Some(ip("203.0.113.1"))
        );
        assert_eq!(
            client(PROXY, &["[2001:db8::1]:4711"], TRUSTED),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            client(PROXY, &["[2001:db8::1]"], TRUSTED),
            Some(ip("2001:db8::1"))
        );
        assert_eq!(
            client(PROXY, &["2001:db8::1"], TRUSTED),
            Some(ip("2001:db8::1"))
        );
    }

    #[test]
    fn ipv4_mapped_addresses_read_as_ipv4() {
        assert_eq!(
            client("[::ffff:10.0.0.2]:40000", &["::ffff:203.0.113.1"], TRUSTED),
            Some(ip("203.0.113.1"))
        );
    }

    #[test]
    fn only_trusted_entries_make_the_leftmost_the_client() {
        let xff = ["10.3.3.3, 10.1.2.3"];
        assert_eq!(client(PROXY, &xff, TRUSTED), Some(ip("10.3.3.3")));
        assert_eq!(client(PROXY, &[], TRUSTED), Some(ip("10.0.0.2")));
    }

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        assert_eq!(limit_key(ip("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
        assert_eq!(
            limit_key(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(limit_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
        assert_eq!(limit_key(ip("192.0.2.1")), "192.0.2.1");
        assert_eq!(limit_key(ip("::1")), "::/64");
    }

    #[test]
    fn ipv6_addresses_that_carry_an_ipv4_client_count_as_it() {
        // 6to4: every /64 under 2002:c000:201::/48 is the one host 192.0.2.1.
        assert_eq!(limit_key(ip("2002:c000:201:1::1")), "192.0.2.1");
        assert_eq!(limit_key(ip("2002:c000:201:ffff::9")), "192.0.2.1");
        // NAT64 and IPv4-compatible: each IPv4 client its own budget, not one /64 for all.
        assert_eq!(limit_key(ip("64:ff9b::198.51.100.7")), "198.51.100.7");
        assert_eq!(limit_key(ip("64:ff9b::198.51.100.8")), "198.51.100.8");
        assert_eq!(limit_key(ip("::198.51.100.7")), "198.51.100.7");
        // Teredo: the client's address is the last 32 bits, inverted (RFC 4380's example).
        assert_eq!(
            limit_key(ip("2001:0:4136:e378:8000:63bf:3fff:fdd2")),
            "192.0.2.45"
        );
    }
}
