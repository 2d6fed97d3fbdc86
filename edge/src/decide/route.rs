//! Which way a request goes, decided from its method and its *normalised* path.
//!
//! Every decision (health check, auth API, protected or public) is made on the path after
//! [`normalize_path`] (the wire contract's one normalisation, the origin's too), and that normalised path is also the one forwarded, so the edge and
//! whatever sits behind it see the same path: `//admin`, `/x/../admin`, `/%61dmin` and
//! `/admin` are all `/admin` (Better Auth GHSA-x732-6j76-qmhm was `//path` read as `/path`
//! by one layer and not by another). Paths that could be read two ways are refused instead:
//! an encoded `/` or `\` (`%2F`, `%5C`, which some servers decode into separators), control
//! characters, and broken `%` escapes.
//!
//! Protected prefixes match on segment boundaries (`/app` covers `/app` and `/app/x`, not
//! `/application`), ASCII case-insensitively, and ignoring `;params` in a path segment, so
//! servers that route case-insensitively (Express's default) or drop matrix parameters
//! (Java servlet containers) cannot be reached around the check: when in doubt, a path is
//! protected.

use std::net::IpAddr;

use edgeauth_token::wire::{normalize_path, PathError, AUTH_PREFIX};

/// The health-check path the edge answers itself, without configuration or origin.
pub const HEALTH_PATH: &str = "/__edge/ok";

/// The edge's own namespace: nothing under it is forwarded anywhere.
pub const EDGE_PREFIX: &str = "/__edge";

/// The name the health check reports, so a caller can tell the edge from the origin.
pub const SERVICE_NAME: &str = "edgeauth-edge";

/// The non-empty segments of a normalised path.
fn segments(path: &str) -> impl Iterator<Item = &str> {
    path.split('/').filter(|s| !s.is_empty())
}

/// A path segment without its `;params` (servlet containers route `/app;x=1` as `/app`).
fn without_params(segment: &str) -> &str {
    match segment.find(';') {
        Some(at) => &segment[..at],
        None => segment,
    }
}

/// Whether normalised `path` is `prefix` or below it, on segment boundaries, ASCII
/// case-insensitively, ignoring `;params` in the path's segments. The prefix `/` matches
/// every path.
pub fn matches_prefix(path: &str, prefix: &str) -> bool {
    let mut path_segments = segments(path);
    segments(prefix).all(|wanted| {
        path_segments
            .next()
            .is_some_and(|seg| without_params(seg).eq_ignore_ascii_case(wanted))
    })
}

/// A `PROTECTED_PATHS` entry in the form [`matches_prefix`] compares: normalised, without a
/// trailing `/` (except the root itself). `None` if the entry is not a usable prefix.
pub fn prefix_from_config(entry: &str) -> Option<String> {
    if !entry.starts_with('/') || entry.contains(';') {
        return None;
    }
    let normalised = normalize_path(entry).ok()?;
    let trimmed = normalised.trim_end_matches('/');
    Some(if trimmed.is_empty() {
        "/".to_string()
    } else {
        trimmed.to_string()
    })
}

/// What the worker does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /__edge/ok`: the edge's own liveness check (needs no configuration).
    Health,
    /// Anything else under `/__edge`: the JSON 404.
    EdgeNotFound,
    /// `/api/auth/*`: proxied to the origin.
    AuthApi,
    /// The origin's hosted pages (`PAGES_PATH`, default `/auth/*`): proxied to the origin.
    Pages,
    /// Under a protected prefix: needs a verified identity, then goes to the upstream.
    Protected,
    /// Anything else (and CORS preflights): to the upstream, untouched apart from the
    /// stripping of `x-edgeauth-*` headers.
    Public,
}

/// The edge's own routes, decided before any configuration is read; `None` for the rest.
pub fn edge_route(method: &str, path: &str) -> Option<Route> {
    if !matches_prefix(path, EDGE_PREFIX) {
        return None;
    }
    Some(if method == "GET" && path == HEALTH_PATH {
        Route::Health
    } else {
        Route::EdgeNotFound
    })
}

/// Whether normalised `path` is Better Auth's API.
pub fn is_auth_api(path: &str) -> bool {
    path == AUTH_PREFIX
        || path
            .strip_prefix(AUTH_PREFIX)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The route of a request that is not the edge's own: the auth API and the hosted pages
/// first (they must stay reachable without credentials, whatever `protected` lists), then the
/// protected prefixes. The pages match on segment boundaries and case-sensitively, as the
/// origin's router does. A CORS preflight carries no credentials by design, so it is never
/// refused: it goes to the upstream like a public request, without identity headers.
pub fn app_route(path: &str, pages: Option<&str>, protected: &[String], preflight: bool) -> Route {
    let is_pages = pages.is_some_and(|prefix| {
        path == prefix
            || path
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('/'))
    });
    if is_auth_api(path) {
        Route::AuthApi
    } else if is_pages {
        Route::Pages
    } else if !preflight && protected.iter().any(|prefix| matches_prefix(path, prefix)) {
        Route::Protected
    } else {
        Route::Public
    }
}

/// The parts of an absolute `http`/`https` URL: (`scheme://authority`, path, query). The
/// authority must be a plain host (name, IPv4 or bracketed IPv6) with an optional port: no
/// userinfo. A fragment is dropped. `None` for anything else. (A small parser of our own:
/// the `url` crate's IDNA tables would double the worker's size.)
pub fn split_http_url(url: &str) -> Option<(&str, &str, Option<&str>)> {
    let scheme_len = if url.starts_with("https://") {
        8
    } else if url.starts_with("http://") {
        7
    } else {
        return None;
    };
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    let (before_query, query) = match url.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (url, None),
    };
    let authority_end = before_query[scheme_len..]
        .find('/')
        .map_or(before_query.len(), |at| scheme_len + at);
    let authority = &before_query[scheme_len..authority_end];
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && !port.contains(']') => (host, Some(port)),
        _ => (authority, None),
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
    };
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let rest_ok = url.bytes().all(|b| b.is_ascii_graphic());
    (host_ok && port_ok && rest_ok).then(|| {
        (
            &before_query[..authority_end],
            &before_query[authority_end..],
            query,
        )
    })
}

/// The query of a serialised URL (after the first `?`, before any `#`), whatever its host.
pub fn query_of(url: &str) -> Option<&str> {
    let url = url.split_once('#').map_or(url, |(before, _)| before);
    url.split_once('?').map(|(_, query)| query)
}

/// What the edge needs to know about a request before deciding anything, read once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestInfo {
    /// The method, as sent.
    pub method: String,
    /// The normalised path, or why it was refused.
    pub path: Result<String, PathError>,
    /// The query string without `?` (`None` when absent or empty).
    pub query: Option<String>,
    /// Whether the client asked for HTML (`Accept` mentions `text/html`): a browser
    /// navigation, which is redirected to sign in rather than refused with 401.
    pub wants_html: bool,
    /// Whether this is a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`).
    pub preflight: bool,
    /// The client's address from `CF-Connecting-IP`, when it is one IP address.
    pub client_ip: Option<String>,
}

impl RequestInfo {
    /// Reads the parts of a request; `query` is the URL's query without `?`.
    pub fn new(
        method: &str,
        raw_path: &str,
        query: Option<&str>,
        accept: Option<&str>,
        access_control_request_method: bool,
        cf_connecting_ip: Option<&str>,
    ) -> Self {
        RequestInfo {
            method: method.to_string(),
            path: normalize_path(raw_path),
            query: query.filter(|q| !q.is_empty()).map(str::to_string),
            wants_html: accept.is_some_and(|a| a.to_ascii_lowercase().contains("text/html")),
            preflight: method == "OPTIONS" && access_control_request_method,
            client_ip: cf_connecting_ip
                .map(str::trim)
                .filter(|ip| ip.parse::<IpAddr>().is_ok())
                .map(str::to_string),
        }
    }

    /// The normalised path and query, as a sign-in page's `callbackURL` (`/` if the path was
    /// refused). Starts with exactly one `/`, so it is never a scheme-relative URL.
    pub fn return_to(&self) -> String {
        let mut target = self.path.clone().unwrap_or_else(|_| "/".to_string());
        if let Some(query) = &self.query {
            target.push('?');
            target.push_str(query);
        }
        target
    }

    /// The normalised path followed by the original query, for the forwarded URL.
    pub fn path_and_query(&self, path: &str) -> String {
        match &self.query {
            Some(query) => format!("{path}?{query}"),
            None => path.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(p: &str) -> String {
        normalize_path(p).unwrap_or_else(|e| panic!("{p:?}: {e}"))
    }

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert!(matches_prefix("/app", "/app"));
        assert!(matches_prefix("/app/", "/app"));
        assert!(matches_prefix("/app/x/y", "/app"));
        assert!(!matches_prefix("/application", "/app"));
        assert!(!matches_prefix("/ap", "/app"));
        assert!(!matches_prefix("/", "/app"));
        assert!(matches_prefix("/api/private/x", "/api/private"));
        assert!(!matches_prefix("/api/privateer", "/api/private"));
        assert!(!matches_prefix("/api", "/api/private"));
        // The root prefix covers everything.
        assert!(matches_prefix("/", "/"));
        assert!(matches_prefix("/anything", "/"));
    }

    #[test]
    fn prefixes_match_case_insensitively_and_ignore_matrix_params() {
        assert!(matches_prefix("/APP/x", "/app"));
        assert!(matches_prefix("/App", "/app"));
        assert!(matches_prefix("/app;jsessionid=1/x", "/app"));
        assert!(matches_prefix("/api;x/private", "/api/private"));
        assert!(!matches_prefix("/apps;x", "/app"));
    }

    #[test]
    fn dodges_end_up_protected_after_normalisation() {
        let protected = vec!["/admin".to_string(), "/api/private".to_string()];
        for raw in [
            "/admin",
            "//admin",
            "/admin/../admin",
            "/public/../admin/x",
            "/%61dmin",
            "/./admin",
            "/ADMIN",
            "/admin;x=1",
            "//api//private/",
            "/api/public/../private",
        ] {
            let path = norm(raw);
            assert_eq!(
                app_route(&path, Some("/auth"), &protected, false),
                Route::Protected,
                "{raw:?} -> {path:?}"
            );
        }
        for raw in ["/", "/administrator", "/public/admin", "/api/privacy"] {
            assert_eq!(
                app_route(&norm(raw), Some("/auth"), &protected, false),
                Route::Public,
                "{raw:?}"
            );
        }
    }

    #[test]
    fn the_hosted_pages_go_to_the_origin_whatever_is_protected() {
        let everything = vec!["/".to_string()];
        for path in ["/auth", "/auth/sign-in", "/auth/account/name"] {
            assert_eq!(
                app_route(&norm(path), Some("/auth"), &everything, false),
                Route::Pages,
                "{path}"
            );
        }
        assert_eq!(
            app_route(&norm("//auth/./sign-in"), Some("/auth"), &everything, false),
            Route::Pages
        );
        // Segment boundaries, case-sensitive (as the origin's router), and off when unset.
        for (path, pages) in [
            ("/authors", Some("/auth")),
            ("/AUTH/sign-in", Some("/auth")),
            ("/auth/sign-in", None),
        ] {
            assert_eq!(
                app_route(path, pages, &everything, false),
                Route::Protected,
                "{path} {pages:?}"
            );
        }
    }

    #[test]
    fn the_auth_api_wins_over_protected_prefixes_and_is_case_sensitive() {
        let protected = vec!["/api".to_string()];
        assert_eq!(
            app_route("/api/auth/get-session", Some("/auth"), &protected, false),
            Route::AuthApi
        );
        assert_eq!(
            app_route("/api/auth", Some("/auth"), &protected, false),
            Route::AuthApi
        );
        assert_eq!(
            app_route("/api/authx", Some("/auth"), &protected, false),
            Route::Protected
        );
        assert_eq!(
            app_route("/API/AUTH/get-session", Some("/auth"), &protected, false),
            Route::Protected
        );
        assert_eq!(
            app_route(&norm("//api/auth/sign-out"), Some("/auth"), &[], false),
            Route::AuthApi
        );
    }

    #[test]
    fn preflights_are_public() {
        let protected = vec!["/app".to_string()];
        assert_eq!(
            app_route("/app/x", Some("/auth"), &protected, true),
            Route::Public
        );
        let info = RequestInfo::new("OPTIONS", "/app", None, None, true, None);
        assert!(info.preflight);
        let not_preflight = RequestInfo::new("OPTIONS", "/app", None, None, false, None);
        assert!(!not_preflight.preflight);
        let get = RequestInfo::new("GET", "/app", None, None, true, None);
        assert!(!get.preflight);
    }

    #[test]
    fn edge_routes() {
        assert_eq!(edge_route("GET", "/__edge/ok"), Some(Route::Health));
        assert_eq!(edge_route("POST", "/__edge/ok"), Some(Route::EdgeNotFound));
        assert_eq!(edge_route("GET", "/__edge/ok/"), Some(Route::EdgeNotFound));
        assert_eq!(edge_route("GET", "/__edge"), Some(Route::EdgeNotFound));
        assert_eq!(edge_route("GET", "/__EDGE/x"), Some(Route::EdgeNotFound));
        assert_eq!(edge_route("GET", "/__edgex"), None);
        assert_eq!(edge_route("GET", "/app"), None);
        // `//__edge/ok` normalises to the health path.
        assert_eq!(edge_route("GET", &norm("//__edge/ok")), Some(Route::Health));
    }

    #[test]
    fn config_prefixes_are_normalised() {
        assert_eq!(prefix_from_config("/app/"), Some("/app".into()));
        assert_eq!(prefix_from_config("//app"), Some("/app".into()));
        assert_eq!(prefix_from_config("/"), Some("/".into()));
        assert_eq!(prefix_from_config("/a/../b"), Some("/b".into()));
        assert_eq!(prefix_from_config("app"), None);
        assert_eq!(prefix_from_config("/a;b"), None);
        assert_eq!(prefix_from_config("/a%2Fb"), None);
    }

    #[test]
    fn http_urls_split_into_origin_path_and_query() {
        assert_eq!(
            split_http_url("https://app.example/a/b?x=1#frag"),
            Some(("https://app.example", "/a/b", Some("x=1")))
        );
        assert_eq!(
            split_http_url("http://127.0.0.1:8787"),
            Some(("http://127.0.0.1:8787", "", None))
        );
        assert_eq!(
            split_http_url("http://[::1]:3000/x?"),
            Some(("http://[::1]:3000", "/x", Some("")))
        );
        assert_eq!(
            split_http_url("http://[::1]/"),
            Some(("http://[::1]", "/", None))
        );
        assert_eq!(
            split_http_url("http://my_app:8080/x"),
            Some(("http://my_app:8080", "/x", None))
        );
        assert_eq!(query_of("http://h/p?a=1&b=2#f"), Some("a=1&b=2"));
        assert_eq!(query_of("http://h/p#f?x"), None);
        assert_eq!(query_of("http://h/p"), None);
        for bad in [
            "ftp://x.example",
            "http://",
            "http:///path",
            "http://user:pw@x.example",
            "http://x.example:port",
            "http://x.example:123456",
            "http://x.example:",
            "http://[::1",
            "http://[nope]",
            "http://x y.example",
            "http://x.example/a b",
            "HTTP://x.example",
            "x.example",
            "http://exa mple.com",
        ] {
            assert_eq!(split_http_url(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn request_info_reads_accept_query_and_client_ip() {
        let info = RequestInfo::new(
            "GET",
            "//app/../app/x",
            Some("a=1&b=2"),
            Some("text/html,application/xhtml+xml,*/*;q=0.8"),
            false,
            Some(" 203.0.113.7 "),
        );
        assert_eq!(info.path, Ok("/app/x".to_string()));
        assert!(info.wants_html);
        assert_eq!(info.client_ip.as_deref(), Some("203.0.113.7"));
        assert_eq!(info.return_to(), "/app/x?a=1&b=2");
        assert_eq!(info.path_and_query("/app/x"), "/app/x?a=1&b=2");

        let api = RequestInfo::new(
            "GET",
            "/app",
            Some(""),
            Some("application/json"),
            false,
            None,
        );
        assert!(!api.wants_html);
        assert_eq!(api.query, None);
        assert_eq!(api.return_to(), "/app");

        for bad in ["", "unknown", "1.2.3.4, 5.6.7.8", "[::1]", "1.2.3.4:80"] {
            let info = RequestInfo::new("GET", "/", None, None, false, Some(bad));
            assert_eq!(info.client_ip, None, "{bad:?}");
        }
        let v6 = RequestInfo::new("GET", "/", None, None, false, Some("2001:db8::1"));
        assert_eq!(v6.client_ip.as_deref(), Some("2001:db8::1"));
    }

    #[test]
    fn return_to_never_starts_with_two_slashes() {
        let info = RequestInfo::new("GET", "//evil.example/x", None, None, false, None);
        assert_eq!(info.return_to(), "/evil.example/x");
        let refused = RequestInfo::new("GET", "/a%2Fb", Some("q=1"), None, false, None);
        assert_eq!(refused.return_to(), "/?q=1");
    }
}
