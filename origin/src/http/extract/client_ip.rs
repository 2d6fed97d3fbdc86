//! The client's address, from a source the operator trusts, normalised.
//!
//! Better Auth reads the address from `X-Forwarded-For` by default, a header any client can
//! set, and keyed its rate limits on the raw text (GHSA-p6v2-xcpg-h6xw: alternate IPv6
//! spellings and /64 rotation got fresh budgets). Here the address comes from exactly one
//! place:
//!
//! - with `EDGEAUTH_TRUSTED_IP_HEADER` set, that header, which the proxy in front of the
//!   origin (our edge worker, Cloudflare's `cf-connecting-ip`, ...) must overwrite on every
//!   request: exactly one value, a bare IP address. Anything else (missing, repeated, a
//!   list, a port, junk) makes the address *unknown*: the TCP peer is the proxy then, not
//!   the client, so it is not used;
//! - otherwise the TCP peer address (`ConnectInfo`). `X-Forwarded-For`, `Forwarded` and the
//!   like are never read.
//!
//! With `EDGEAUTH_EDGE_SECRET` set as well, the header is honoured only on requests carrying
//! the edge's proof ([`crate::http::edge_proof::has_proof`]); on any other request it is ignored as if
//! absent, and the address is the TCP peer's. A client that reaches the origin directly
//! thus cannot choose its address.
//!
//! Normalisation: an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`) is the IPv4 address.
//! Sessions record the full address ([`ClientIp::session_value`]); rate limits key IPv4 on
//! the address and IPv6 on its /64 network ([`ClientIp::limit_key`]), since one subscriber
//! usually holds a whole /64.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderName};

use crate::app::AppState;
use crate::auth::issue::Client;
use crate::config::Config;
use crate::http::edge_proof;

/// The limiter key of requests whose address is unknown: they share one budget.
pub const UNKNOWN: &str = "unknown";

/// The client's address, or unknown. An extractor: handlers take it as an argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(Option<IpAddr>);

impl ClientIp {
    /// A known address (normalised).
    pub fn known(ip: IpAddr) -> Self {
        ClientIp(Some(normalize(ip)))
    }

    /// An unknown address.
    pub fn unknown() -> Self {
        ClientIp(None)
    }

    /// The address of a request: from `trusted_header` when one is configured, else from
    /// the peer address axum records in the extensions (`ConnectInfo<SocketAddr>`; absent
    /// when the router is driven without a socket, as in tests, which reads as unknown).
    pub fn from_request(
        headers: &HeaderMap,
        extensions: &Extensions,
        trusted_header: Option<&HeaderName>,
    ) -> Self {
        match trusted_header {
            Some(name) => ClientIp(header_ip(headers, name)),
            None => ClientIp(
                extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(peer)| normalize(peer.ip())),
            ),
        }
    }

    /// [`ClientIp::from_request`], except that with an `edge_secret` configured the
    /// trusted header counts only on a request carrying the edge's proof: without it (or
    /// with a wrong one) the header is ignored and the address is the TCP peer's.
    pub fn from_proxied_request(
        headers: &HeaderMap,
        extensions: &Extensions,
        trusted_header: Option<&HeaderName>,
        edge_secret: Option<&str>,
    ) -> Self {
        let trusted_header = match edge_secret {
            Some(_) if !edge_proof::has_proof(headers, edge_secret) => None,
            _ => trusted_header,
        };
        Self::from_request(headers, extensions, trusted_header)
    }

    /// The address of a request under `config` (its trusted header and edge secret).
    pub fn from_config(headers: &HeaderMap, extensions: &Extensions, config: &Config) -> Self {
        Self::from_proxied_request(
            headers,
            extensions,
            config.trusted_ip_header.as_ref(),
            config.edge_secret.as_deref(),
        )
    }

    /// The address, if known.
    pub fn address(&self) -> Option<IpAddr> {
        self.0
    }

    /// What the session row's `ipAddress` gets: the full address, or `""` when unknown
    /// (Better Auth writes `""` too).
    pub fn session_value(&self) -> String {
        self.0.map(|ip| ip.to_string()).unwrap_or_default()
    }

    /// The rate limiter's address key: an IPv4 address as is, an IPv6 address as its /64
    /// network (`2001:db8:1:2::/64`), [`UNKNOWN`] when unknown. IPv6 is printed in its
    /// canonical form (RFC 5952), so every spelling of one address gives one key.
    pub fn limit_key(&self) -> String {
        match self.0 {
            Some(IpAddr::V4(v4)) => v4.to_string(),
            Some(IpAddr::V6(v6)) => format!("{}/64", ipv6_network_64(v6)),
            None => UNKNOWN.to_string(),
        }
    }
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(ClientIp::from_config(
            &parts.headers,
            &parts.extensions,
            state.config(),
        ))
    }
}

/// Extractor: who a session created by this request is issued to (the client's address as
/// a session row stores it, and its `User-Agent`).
#[derive(Debug, Clone)]
pub struct SessionClient(pub Client);

impl FromRequestParts<AppState> for SessionClient {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        let ip = ClientIp::from_config(&parts.headers, &parts.extensions, state.config());
        Ok(SessionClient(Client {
            ip_address: ip.session_value(),
            user_agent: parts
                .headers
                .get(axum::http::header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string(),
        }))
    }
}

/// The single IP address in header `name`, or `None` when the header is missing, repeated,
/// or anything but one bare address (surrounding spaces aside).
pub fn header_ip(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    let mut values = headers.get_all(name).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    let text = value.to_str().ok()?.trim();
    text.parse::<IpAddr>().ok().map(normalize)
}

/// An IPv4-mapped IPv6 address becomes the IPv4 address; others are unchanged.
pub fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// The address with its low 64 bits cleared.
fn ipv6_network_64(ip: Ipv6Addr) -> Ipv6Addr {
    Ipv6Addr::from(u128::from(ip) & !u128::from(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn header(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-client-ip", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn from_header(values: &[&str]) -> ClientIp {
        let name = HeaderName::from_static("x-client-ip");
        ClientIp::from_request(&header(values), &Extensions::new(), Some(&name))
    }

    #[test]
    fn trusted_header_takes_one_bare_address() {
        assert_eq!(from_header(&["203.0.113.9"]).session_value(), "203.0.113.9");
        assert_eq!(
            from_header(&[" 203.0.113.9 "]).session_value(),
            "203.0.113.9"
        );
        assert_eq!(from_header(&["2001:DB8::1"]).session_value(), "2001:db8::1");
        for junk in [
            "",
            "unknown",
            "203.0.113.9, 198.51.100.1",
            "203.0.113.9:443",
            "[2001:db8::1]",
            "[2001:db8::1]:443",
            "fe80::1%eth0",
            "203.0.113.009",
            "0203.0.113.9",
            "203.0.113",
            "1.2.3.4.5",
            "::ffff:1.2.3.4.5",
            "2001:db8::1/64",
        ] {
            assert_eq!(from_header(&[junk]), ClientIp::unknown(), "{junk:?}");
        }
        // Repeated headers are ambiguous: unknown, whatever the values.
        assert_eq!(
            from_header(&["203.0.113.9", "203.0.113.9"]),
            ClientIp::unknown()
        );
        assert_eq!(from_header(&[]), ClientIp::unknown());
        assert_eq!(from_header(&[]).session_value(), "");
        assert_eq!(from_header(&[]).limit_key(), UNKNOWN);
    }

    #[test]
    fn forwarded_headers_are_ignored_without_configuration() {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.7"));
        headers.insert("x-real-ip", HeaderValue::from_static("198.51.100.7"));
        headers.insert("forwarded", HeaderValue::from_static("for=198.51.100.7"));
        let mut extensions = Extensions::new();
        assert_eq!(
            ClientIp::from_request(&headers, &extensions, None),
            ClientIp::unknown()
        );
        extensions.insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 4], 50000))));
        assert_eq!(
            ClientIp::from_request(&headers, &extensions, None).session_value(),
            "192.0.2.4"
        );
        // A configured header wins over the peer, and a missing one is not replaced by it.
        let name = HeaderName::from_static("x-client-ip");
        assert_eq!(
            ClientIp::from_request(&headers, &extensions, Some(&name)),
            ClientIp::unknown()
        );
    }

    #[test]
    fn with_an_edge_secret_the_header_needs_the_proof() {
        const SECRET: &str = "edge-secret-edge-secret-edge-secret";
        let name = HeaderName::from_static(edge_proof::EDGE_CLIENT_IP_HEADER);
        let mut extensions = Extensions::new();
        extensions.insert(ConnectInfo(SocketAddr::from(([192, 0, 2, 4], 50000))));
        let request = |proof: Option<&str>, ip: Option<&str>| {
            let mut headers = HeaderMap::new();
            if let Some(proof) = proof {
                headers.insert(
                    edge_proof::EDGE_SECRET_HEADER,
                    HeaderValue::from_str(proof).unwrap(),
                );
            }
            if let Some(ip) = ip {
                headers.insert(&name, HeaderValue::from_str(ip).unwrap());
            }
            headers
        };
        let resolve = |headers: &HeaderMap, secret: Option<&str>| {
            ClientIp::from_proxied_request(headers, &extensions, Some(&name), secret)
                .session_value()
        };
        // The right proof: the header is the address (and a bad one is unknown, not the peer).
        let proved = request(Some(SECRET), Some("203.0.113.9"));
        assert_eq!(resolve(&proved, Some(SECRET)), "203.0.113.9");
        assert_eq!(
            resolve(&request(Some(SECRET), Some("junk")), Some(SECRET)),
            ""
        );
        assert_eq!(resolve(&request(Some(SECRET), None), Some(SECRET)), "");
        // No proof or a wrong one: the header is ignored, the peer is the address.
        for proof in [None, Some(""), Some("wrong"), Some(&SECRET[1..])] {
            let headers = request(proof, Some("203.0.113.9"));
            assert_eq!(resolve(&headers, Some(SECRET)), "192.0.2.4", "{proof:?}");
            assert_eq!(
                resolve(&request(proof, None), Some(SECRET)),
                "192.0.2.4",
                "{proof:?}"
            );
        }
        // Two proofs are no proof.
        let mut twice = proved.clone();
        twice.append(
            edge_proof::EDGE_SECRET_HEADER,
            HeaderValue::from_static(SECRET),
        );
        assert_eq!(resolve(&twice, Some(SECRET)), "192.0.2.4");
        // Without an edge secret, nothing changes: the header counts, proof or not.
        assert_eq!(resolve(&proved, None), "203.0.113.9");
        assert_eq!(
            resolve(&request(Some("wrong"), Some("203.0.113.9")), None),
            "203.0.113.9"
        );
        assert_eq!(resolve(&request(None, None), None), "");
        // No trusted header configured: the peer, proof or not.
        assert_eq!(
            ClientIp::from_proxied_request(&proved, &extensions, None, Some(SECRET))
                .session_value(),
            "192.0.2.4"
        );
    }

    #[test]
    fn mapped_ipv4_is_ipv4() {
        assert_eq!(
            from_header(&["::ffff:192.0.2.1"]),
            from_header(&["192.0.2.1"])
        );
        assert_eq!(
            from_header(&["::FFFF:c000:0201"]).session_value(),
            "192.0.2.1"
        );
        assert_eq!(from_header(&["::ffff:192.0.2.1"]).limit_key(), "192.0.2.1");
        let mut extensions = Extensions::new();
        let peer: SocketAddr = "[::ffff:192.0.2.1]:4000".parse().unwrap();
        extensions.insert(ConnectInfo(peer));
        assert_eq!(
            ClientIp::from_request(&HeaderMap::new(), &extensions, None).limit_key(),
            "192.0.2.1"
        );
        // Not mapped: stays IPv6.
        assert_eq!(from_header(&["::1"]).limit_key(), "::/64");
        assert_eq!(
            from_header(&["64:ff9b::c000:201"]).session_value(),
            "64:ff9b::c000:201"
        );
    }

    #[test]
    fn ipv6_is_keyed_on_its_64() {
        let key = |s: &str| from_header(&[s]).limit_key();
        assert_eq!(key("2001:db8:1:2::1"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
        assert_eq!(
            key("2001:0DB8:0001:0002:0000:0000:0000:0009"),
            "2001:db8:1:2::/64"
        );
        assert_eq!(key("2001:db8:1:2:0:0:0:1"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::1"), key("2001:db8:1:2::1"));
        // Sessions keep the full address.
        assert_eq!(
            from_header(&["2001:0db8:0001:0002:0000:0000:0000:0009"]).session_value(),
            "2001:db8:1:2::9"
        );
        // IPv4 is keyed on the address itself.
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
        assert_ne!(key("192.0.2.1"), key("192.0.2.2"));
    }
}
