//! The pages over HTTP, in-process: forgery checks, headers, escaping, redirects, rate
//! limits and bad input. (The flows a person goes through are tested in a real browser by
//! `tests/browser/`.)

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use tower::ServiceExt;

use crate::app::test_app::app;

const ORIGIN: &str = "http://localhost:3000";
const PASSWORD: &str = "correct horse battery staple";

/// A browser in miniature: a cookie jar, and the form token of the last page it saw.
struct Browser {
    app: Router,
    cookies: HashMap<String, String>,
    csrf: String,
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

impl Browser {
    fn new(app: &Router) -> Self {
        Browser {
            app: app.clone(),
            cookies: HashMap::new(),
            csrf: String::new(),
        }
    }

    async fn send(&mut self, request: axum::http::request::Builder, body: Body) -> Answer {
        let cookie = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ");
        let request = if cookie.is_empty() {
            request
        } else {
            request.header(header::COOKIE, cookie)
        };
        let response = self
            .app
            .clone()
            .oneshot(request.body(body).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        for set in headers.get_all(header::SET_COOKIE) {
            let set = set.to_str().unwrap();
            let (pair, _) = set.split_once(';').unwrap_or((set, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        // minijinja escapes `/` in attributes as `&#x2f;`, which a browser reads as `/`.
        let body = String::from_utf8_lossy(&bytes).replace("&#x2f;", "/");
        if let Some(at) = body.find("name=\"csrf\" value=\"") {
            let rest = &body[at + 19..];
            self.csrf = rest[..rest.find('"').unwrap()].to_string();
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&mut self, path: &str) -> Answer {
        self.send(Request::get(path), Body::empty()).await
    }

    /// Posts a form from `origin` (`None`: no `Origin` header), with the last form token.
    async fn post_from(
        &mut self,
        origin: Option<&str>,
        path: &str,
        fields: &[(&str, &str)],
    ) -> Answer {
        let mut all: Vec<(&str, &str)> = vec![("csrf", &self.csrf)];
        all.extend_from_slice(fields);
        let body = serde_urlencoded::to_string(&all).unwrap();
        let mut request =
            Request::post(path).header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(origin) = origin {
            request = request.header(header::ORIGIN, origin);
        }
        // The form token is read before `send` borrows self again.
        let _ = &self.csrf;
        self.send(request, Body::from(body)).await
    }

    async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Answer {
        self.post_from(Some(ORIGIN), path, fields).await
    }

    async fn sign_up(&mut self, email: &str) -> Answer {
        self.get("/auth/sign-up").await;
        self.post(
            "/auth/sign-up",
            &[("name", "Ada"), ("email", email), ("password", PASSWORD)],
        )
        .await
    }
}

async fn fresh(extra: &[&str]) -> (Router, std::path::PathBuf) {
    let (app, _clock, path) = app(extra).await;
    (app, path)
}

fn cleanup(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[tokio::test]
async fn every_page_has_the_security_headers() {
    let (app, path) = fresh(&[]).await;
    let mut browser = Browser::new(&app);
    for page in [
        "/auth/sign-in",
        "/auth/sign-up",
        "/auth/forgot-password",
        "/auth/reset-password?token=abc",
        "/auth/verify-email",
    ] {
        let answer = browser.get(page).await;
        assert!(
            answer.status.is_success() || answer.status == StatusCode::BAD_REQUEST,
            "{page}"
        );
        let h = &answer.headers;
        let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{page}: {csp}");
        assert!(csp.contains("default-src 'none'"), "{page}: {csp}");
        assert!(!csp.contains("script-src"), "{page}: {csp}");
        assert_eq!(h[header::X_FRAME_OPTIONS], "DENY", "{page}");
        let referrer = if page.contains("token=") {
            "no-referrer"
        } else {
            "same-origin"
        };
        assert_eq!(h[header::REFERRER_POLICY], referrer, "{page}");
        assert_eq!(h[header::CACHE_CONTROL], "no-store", "{page}");
        assert!(!answer.body.contains("<script"), "{page}");
    }
    let css = browser.get("/auth/style.css").await;
    assert_eq!(css.status, StatusCode::OK);
    assert!(css.body.starts_with(":root { --accent: #4338ca;"));
    cleanup(&path);
}

#[tokio::test]
async fn forged_form_posts_are_refused_and_change_nothing() {
    let (app, path) = fresh(&["--rate-limit", "off"]).await;
    let mut owner = Browser::new(&app);
    assert_eq!(
        owner.sign_up("owner@example.com").await.status,
        StatusCode::SEE_OTHER
    );
    owner.get("/auth/account").await;
    let good_token = owner.csrf.clone();
    for (origin, token) in [
        (Some("https://evil.example"), good_token.as_str()),
        (Some("null"), good_token.as_str()),
        (None, good_token.as_str()),
        (Some(ORIGIN), "forged"),
        (Some(ORIGIN), ""),
    ] {
        for (page, fields) in [
            ("/auth/account/name", vec![("name", "Mallory")]),
            ("/auth/account/sign-out-everywhere", vec![]),
            ("/auth/account/delete", vec![]),
            ("/auth/sign-out", vec![]),
        ] {
            owner.csrf = token.to_string();
            let answer = owner.post_from(origin, page, &fields).await;
            assert_eq!(
                answer.status,
                StatusCode::FORBIDDEN,
                "{page} from {origin:?}"
            );
            assert!(answer.body.contains("Request refused"), "{page}");
        }
    }
    // A cross-site navigation post is refused even with the right token and origin.
    owner.csrf = good_token.clone();
    let mut request = Request::post("/auth/account/name")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, ORIGIN)
        .header("sec-fetch-site", "cross-site");
    request = request.header("sec-fetch-mode", "navigate");
    let body = format!("csrf={good_token}&name=Mallory");
    assert_eq!(
        owner.send(request, Body::from(body)).await.status,
        StatusCode::FORBIDDEN
    );
    // `Origin: null` (a no-referrer page's post) passes only with the browser's own word
    // that the post is same-origin.
    for (site, status) in [
        (None, StatusCode::FORBIDDEN),
        (Some("same-site"), StatusCode::FORBIDDEN),
        (Some("same-origin"), StatusCode::SEE_OTHER),
    ] {
        let mut request = Request::post("/auth/account/name")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ORIGIN, "null");
        if let Some(site) = site {
            request = request.header("sec-fetch-site", site);
        }
        let body = format!("csrf={good_token}&name=Ada");
        assert_eq!(
            owner.send(request, Body::from(body)).await.status,
            status,
            "{site:?}"
        );
    }
    // Another browser's token does not work with this browser's cookie.
    let mut other = Browser::new(&app);
    other.get("/auth/sign-in").await;
    owner.csrf = other.csrf.clone();
    let answer = owner
        .post("/auth/account/name", &[("name", "Mallory")])
        .await;
    assert_eq!(answer.status, StatusCode::FORBIDDEN);
    // Nothing changed: still signed in, same name.
    owner.csrf = good_token;
    let account = owner.get("/auth/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(
        account.body.contains("<dd id=\"profile-name\">Ada</dd>"),
        "{}",
        account.body
    );
    cleanup(&path);
}

#[tokio::test]
async fn sign_in_lands_where_it_was_asked_if_that_is_safe() {
    let (app, path) = fresh(&["--rate-limit", "off"]).await;
    let mut browser = Browser::new(&app);
    browser.sign_up("ada@example.com").await;
    for (callback, landing) in [
        ("/app/page?tab=2", "/app/page?tab=2"),
        ("", "/"),
        ("https://evil.example/x", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("http://localhost:3000/ok", "http://localhost:3000/ok"),
    ] {
        let mut fresh_browser = Browser::new(&app);
        fresh_browser.get("/auth/sign-in").await;
        let answer = fresh_browser
            .post(
                "/auth/sign-in",
                &[
                    ("email", "ada@example.com"),
                    ("password", PASSWORD),
                    ("callbackURL", callback),
                ],
            )
            .await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{callback}");
        assert_eq!(answer.location(), landing, "{callback}");
        assert!(
            fresh_browser
                .cookies
                .contains_key("better-auth.session_token"),
            "{callback}"
        );
    }
    // The sign-in page carries only an acceptable callback along.
    let page = browser
        .get("/auth/sign-in?callbackURL=%2F%2Fevil.example")
        .await;
    assert!(!page.body.contains("evil.example"), "{}", page.body);
    let page = browser.get("/auth/sign-in?callbackURL=%2Fapp").await;
    assert!(
        page.body.contains("name=\"callbackURL\" value=\"/app\""),
        "{}",
        page.body
    );
    cleanup(&path);
}

#[tokio::test]
async fn refusals_keep_the_typed_values_escaped_and_never_the_password() {
    let (app, path) = fresh(&["--rate-limit", "off"]).await;
    let mut browser = Browser::new(&app);
    browser.sign_up("ada@example.com").await;
    let mut visitor = Browser::new(&app);
    visitor.get("/auth/sign-in").await;
    let wrong = visitor
        .post(
            "/auth/sign-in",
            &[
                ("email", "ada@example.com"),
                ("password", "not the password at all"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.body.contains("Invalid email or password"));
    assert!(wrong.body.contains("value=\"ada@example.com\""));
    assert!(!wrong.body.contains("not the password at all"));
    assert!(wrong.body.contains("aria-invalid=\"true\""));
    let hostile = "\"><script>alert(1)</script>@x.example";
    let refused = visitor
        .post(
            "/auth/sign-up",
            &[("name", "<b>x</b>"), ("email", hostile), ("password", "p")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    assert!(!refused.body.contains("<script>alert"), "{}", refused.body);
    assert!(!refused.body.contains("<b>x</b>"), "{}", refused.body);
    let taken = visitor
        .post(
            "/auth/sign-up",
            &[
                ("name", "Eve"),
                ("email", "ADA@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(taken.body.contains("User already exists"), "{}", taken.body);
    let short = visitor
        .post(
            "/auth/sign-up",
            &[
                ("name", "Eve"),
                ("email", "eve@example.com"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    assert!(short.body.contains("Password too short"), "{}", short.body);
    cleanup(&path);
}

#[tokio::test]
async fn malformed_and_oversize_posts_get_clear_answers() {
    let (app, path) = fresh(&["--rate-limit", "off"]).await;
    let mut browser = Browser::new(&app);
    browser.get("/auth/sign-in").await;
    let token = browser.csrf.clone();
    for (content_type, body, status) in [
        (
            "application/x-www-form-urlencoded",
            format!("csrf={token}&email=%ZZ"),
            400,
        ),
        ("text/plain", format!("csrf={token}"), 415),
        (
            "application/x-www-form-urlencoded",
            format!("csrf={token}&email={}", "a".repeat(70 * 1024)),
            413,
        ),
    ] {
        let request = Request::post("/auth/sign-in")
            .header(header::CONTENT_TYPE, content_type)
            .header(header::ORIGIN, ORIGIN);
        let answer = browser.send(request, Body::from(body)).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{content_type}: {}",
            answer.body
        );
        assert!(answer.body.contains("<h1>"), "{}", answer.body);
    }
    // Empty fields are errors next to the field, not failures.
    let answer = browser.post("/auth/sign-in", &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert!(answer.body.contains("Enter a valid email address"));
    let reset = browser
        .post(
            "/auth/reset-password",
            &[("token", "nope"), ("newPassword", PASSWORD)],
        )
        .await;
    assert_eq!(reset.status, StatusCode::BAD_REQUEST);
    assert!(
        reset.body.contains("This link is invalid or has expired"),
        "{}",
        reset.body
    );
    // The API's bounds hold on the pages: an address over RFC 5321's lengths, a name over
    // 256 characters.
    browser.get("/auth/sign-up").await;
    let long_local = format!("{}@example.com", "a".repeat(65));
    for (name, email, message) in [
        ("Ada", long_local.as_str(), "Enter a valid email address"),
        (
            &"n".repeat(257) as &str,
            "long-name@example.com",
            "Enter a name of at most 256 characters",
        ),
    ] {
        let answer = browser
            .post(
                "/auth/sign-up",
                &[("name", name), ("email", email), ("password", PASSWORD)],
            )
            .await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{email}");
        assert!(answer.body.contains(message), "{}", answer.body);
    }
    cleanup(&path);
}

#[tokio::test]
async fn concurrent_sign_ups_for_one_address_create_one_account() {
    let (app, path) = fresh(&["--rate-limit", "off"]).await;
    let mut tasks = Vec::new();
    for n in 0..8 {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            let mut browser = Browser::new(&app);
            browser.get("/auth/sign-up").await;
            let name = format!("Twin {n}");
            browser
                .post(
                    "/auth/sign-up",
                    &[
                        ("name", &name),
                        ("email", "twin@example.com"),
                        ("password", PASSWORD),
                    ],
                )
                .await
                .status
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let created = statuses
        .iter()
        .filter(|s| **s == StatusCode::SEE_OTHER)
        .count();
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNPROCESSABLE_ENTITY)
        .count();
    assert_eq!((created, refused), (1, 7), "{statuses:?}");
    cleanup(&path);
}

#[tokio::test]
async fn page_posts_are_limited_like_the_api_and_views_are_not() {
    let (app, path) = fresh(&[]).await;
    let mut browser = Browser::new(&app);
    for _ in 0..10 {
        assert_eq!(browser.get("/auth/sign-in").await.status, StatusCode::OK);
    }
    for _ in 0..3 {
        let answer = browser
            .post(
                "/auth/sign-in",
                &[("email", "x@example.com"), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    }
    let limited = browser
        .post(
            "/auth/sign-in",
            &[("email", "x@example.com"), ("password", "wrong password!")],
        )
        .await;
    assert_eq!(
        limited.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{}",
        limited.body
    );
    // Another client address has its own budget, as with the API.
    let request = Request::post("/auth/sign-in")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header(header::ORIGIN, ORIGIN);
    let mut request = request
        .body(Body::from(format!(
            "csrf={}&email=x%40example.com&password=wrong+password%21",
            browser.csrf
        )))
        .unwrap();
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::from((
            [192, 0, 2, 9],
            40000,
        ))));
    let cookie = browser
        .cookies
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("; ");
    request
        .headers_mut()
        .insert(header::COOKIE, cookie.parse().unwrap());
    let other = app.clone().oneshot(request).await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
    cleanup(&path);
}

#[tokio::test]
async fn the_account_page_needs_a_session_and_shows_no_token() {
    let (app, path) = fresh(&["--rate-limit", "off"]).await;
    let mut visitor = Browser::new(&app);
    let answer = visitor.get("/auth/account").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(
        answer
            .location()
            .starts_with("/auth/sign-in?callbackURL=/auth%2Faccount")
            || answer
                .location()
                .starts_with("/auth/sign-in?callbackURL=%2Fauth%2Faccount")
    );
    let mut ada = Browser::new(&app);
    ada.sign_up("ada@example.com").await;
    let token = ada.cookies["better-auth.session_token"].clone();
    let raw = token.split('.').next().unwrap().to_string();
    let account = ada.get("/auth/account").await;
    assert_eq!(account.status, StatusCode::OK);
    assert!(account.body.contains("ada@example.com"));
    assert!(
        !account.body.contains(&raw),
        "the session token is in the page"
    );
    // Renaming goes through and comes back with a notice.
    let renamed = ada.post("/auth/account/name", &[("name", "Ada L.")]).await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER);
    assert_eq!(renamed.location(), "/auth/account?notice=name-saved");
    let account = ada.get(renamed.location()).await;
    assert!(account.body.contains("Your name is saved."));
    assert!(account.body.contains("<dd id=\"profile-name\">Ada L.</dd>"));
    // Signing out clears the cookie and the account page is gone.
    let out = ada.post("/auth/sign-out", &[]).await;
    assert_eq!(out.location(), "/auth/sign-in?notice=signed-out");
    assert!(!ada.cookies.contains_key("better-auth.session_token"));
    assert_eq!(ada.get("/auth/account").await.status, StatusCode::SEE_OTHER);
    cleanup(&path);
}

#[tokio::test]
async fn pages_can_be_turned_off_or_moved() {
    let (app, path) = fresh(&["--pages", "off"]).await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.get("/auth/sign-in").await.status,
        StatusCode::NOT_FOUND
    );
    cleanup(&path);
    let (app, path) = fresh(&["--pages-path", "/login"]).await;
    let mut browser = Browser::new(&app);
    assert_eq!(
        browser.get("/auth/sign-in").await.status,
        StatusCode::NOT_FOUND
    );
    let page = browser.get("/login/sign-in").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("action=\"/login/sign-in\""));
    cleanup(&path);
}

/// The secret an enrolment page shows, decoded (the page shows base32 in groups of four).
fn shown_secret(body: &str) -> String {
    let at = body
        .find("id=\"totp-secret\"")
        .expect("no secret on the page");
    let rest = &body[at..];
    let text = &rest[rest.find('>').unwrap() + 1..rest.find("</code>").unwrap()];
    let bytes = data_encoding::BASE32_NOPAD
        .decode(text.replace(' ', "").as_bytes())
        .unwrap();
    String::from_utf8(bytes).unwrap()
}

#[tokio::test]
async fn two_factor_pages_enrol_ask_for_the_code_and_refuse_bad_or_late_input() {
    use crate::auth::two_factor::totp;
    use crate::clock::Clock;
    let (app, clock, path) = app(&["--rate-limit", "off", "--two-factor", "on"]).await;
    let mut ada = Browser::new(&app);
    ada.sign_up("ada@example.com").await;
    let account = ada.get("/auth/account").await;
    assert!(account.body.contains("Two-factor authentication is off."));

    // Set-up needs the password; the secret and codes are shown once, never again.
    let wrong = ada
        .post(
            "/auth/account/two-factor/enable",
            &[("twoFactorPassword", "nope")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("Invalid password"), "{}", wrong.body);
    let enrolment = ada
        .post(
            "/auth/account/two-factor/enable",
            &[("twoFactorPassword", PASSWORD)],
        )
        .await;
    assert_eq!(enrolment.status, StatusCode::OK);
    assert!(enrolment
        .body
        .contains(r#"<svg role="img" aria-label="QR code for your authenticator app""#));
    assert!(!enrolment.body.contains("<script"));
    let secret = shown_secret(&enrolment.body);
    assert_eq!(secret.len(), totp::SECRET_LEN);
    let later = ada.get("/auth/account").await;
    assert!(
        !later.body.contains("totp-secret"),
        "the secret is shown again"
    );
    let step = totp::step_at(clock.now().timestamp());
    let confirmed = ada
        .post(
            "/auth/account/two-factor/confirm",
            &[("twoFactorCode", &totp::code_at(&secret, step))],
        )
        .await;
    assert_eq!(confirmed.location(), "/auth/account?notice=two-factor-on");

    // Signing in stops at the code step; bad input is an error on that page.
    ada.post("/auth/sign-out", &[]).await;
    ada.get("/auth/sign-in").await;
    let signed_in = ada
        .post(
            "/auth/sign-in",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(signed_in.location(), "/auth/two-factor");
    assert!(!ada.cookies.contains_key("better-auth.session_token"));
    let step_page = ada.get("/auth/two-factor").await;
    assert!(step_page.body.contains("<h1>Verification code</h1>"));
    for (code, message) in [
        ("", "Enter the code"),
        (&"9".repeat(5000) as &str, "Enter the code"),
        // NUL is refused with every form field holding it, before the page sees the form.
        ("000000\u{0}", "What was sent could not be read"),
    ] {
        let answer = ada
            .post("/auth/two-factor", &[("method", "totp"), ("code", code)])
            .await;
        assert!(answer.status.is_client_error(), "{code:?}");
        assert!(answer.body.contains(message), "{code:?}: {}", answer.body);
    }

    // Eleven minutes later the pending sign-in has expired on the server: the right code
    // sends the browser back to sign in, with no session.
    clock.advance(chrono::Duration::minutes(11));
    let step = totp::step_at(clock.now().timestamp());
    let late = ada
        .post(
            "/auth/two-factor",
            &[("method", "totp"), ("code", &totp::code_at(&secret, step))],
        )
        .await;
    assert_eq!(
        late.location(),
        "/auth/sign-in?notice=two-factor-expired",
        "{}",
        late.body
    );
    assert!(!ada.cookies.contains_key("better-auth.session_token"));
    let without = Browser::new(&app).get("/auth/two-factor").await;
    assert_eq!(
        without.location(),
        "/auth/sign-in?notice=two-factor-expired"
    );
    cleanup(&path);
}

#[tokio::test]
async fn the_passkey_script_is_allowed_only_with_passkeys_on() {
    let (off, off_path) = fresh(&[]).await;
    let mut browser = Browser::new(&off);
    assert_eq!(
        browser.get("/auth/passkey.js").await.status,
        StatusCode::NOT_FOUND
    );
    let page = browser.get("/auth/sign-in").await;
    assert!(!page.body.contains("passkey.js"));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(!csp.contains("script-src"), "{csp}");

    let (on, on_path) = fresh(&[
        "--passkey",
        "on",
        "--passkey-rp-id",
        "localhost",
        "--passkey-origins",
        "http://localhost:8787",
    ])
    .await;
    let mut browser = Browser::new(&on);
    let script = browser.get("/auth/passkey.js").await;
    assert_eq!(script.status, StatusCode::OK);
    assert!(script.headers[header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .starts_with("text/javascript"));
    let page = browser.get("/auth/sign-in").await;
    assert!(page
        .body
        .contains(r#"<script src="/auth/passkey.js" defer></script>"#));
    assert!(page.body.contains("Sign in with a passkey"));
    // No inline script: the one file, from this origin, and calls to this origin only.
    assert_eq!(page.body.matches("<script").count(), 1);
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(
        csp.contains("script-src 'self'; connect-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    cleanup(&off_path);
    cleanup(&on_path);
}

#[tokio::test]
async fn the_two_factor_section_regenerates_codes_and_turns_it_off() {
    use crate::auth::two_factor::totp;
    use crate::clock::Clock;
    let (app, clock, path) = app(&["--rate-limit", "off", "--two-factor", "on"]).await;
    let mut ada = Browser::new(&app);
    ada.sign_up("ada@example.com").await;
    ada.get("/auth/account").await;
    let enrolment = ada
        .post(
            "/auth/account/two-factor/enable",
            &[("twoFactorPassword", PASSWORD)],
        )
        .await;
    let secret = shown_secret(&enrolment.body);
    let code = totp::code_at(&secret, totp::step_at(clock.now().timestamp()));
    ada.post(
        "/auth/account/two-factor/confirm",
        &[("twoFactorCode", &code)],
    )
    .await;
    let account = ada.get("/auth/account?notice=two-factor-on").await;
    assert!(account.body.contains("Two-factor authentication is on."));
    assert!(!account.body.contains("aria-label=\"Backup codes\""));

    // New backup codes need the password, and are shown once.
    let wrong = ada
        .post(
            "/auth/account/two-factor/backup-codes",
            &[("twoFactorPassword", "nope")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(wrong.body.contains("Invalid password"));
    let fresh_codes = ada
        .post(
            "/auth/account/two-factor/backup-codes",
            &[("twoFactorPassword", PASSWORD)],
        )
        .await;
    assert_eq!(fresh_codes.status, StatusCode::OK);
    assert_eq!(fresh_codes.body.matches("<li><code>").count(), 10);
    assert!(fresh_codes.body.contains(r#"download="backup-codes.txt""#));
    assert!(!ada.get("/auth/account").await.body.contains("<li><code>"));

    // Turning it off needs the password, ends the other sessions, and sign-in asks for no
    // code again.
    let mut other = Browser::new(&app);
    other.get("/auth/sign-in").await;
    let pending = other
        .post(
            "/auth/sign-in",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(pending.location(), "/auth/two-factor");
    let refused = ada
        .post(
            "/auth/account/two-factor/disable",
            &[("twoFactorPassword", "nope")],
        )
        .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST);
    let off = ada
        .post(
            "/auth/account/two-factor/disable",
            &[("twoFactorPassword", PASSWORD)],
        )
        .await;
    assert_eq!(off.location(), "/auth/account?notice=two-factor-off");
    let account = ada.get(off.location()).await;
    assert!(account.body.contains("Two-factor authentication is off."));
    // The pending sign-in ended with it.
    let step = totp::step_at(clock.now().timestamp()) + 1;
    let late = other
        .post(
            "/auth/two-factor",
            &[("method", "totp"), ("code", &totp::code_at(&secret, step))],
        )
        .await;
    assert_eq!(late.location(), "/auth/sign-in?notice=two-factor-expired");
    other.get("/auth/sign-in").await;
    let direct = other
        .post(
            "/auth/sign-in",
            &[("email", "ada@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(direct.location(), "/");
    assert!(other.cookies.contains_key("better-auth.session_token"));
    cleanup(&path);
}
