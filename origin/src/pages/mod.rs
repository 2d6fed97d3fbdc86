//! The hosted pages: sign-in, sign-up, password reset, email verification and the account,
//! for people in browsers, under `EDGEAUTH_PAGES_PATH` (default `/auth`).
//!
//! Server-rendered HTML from templates ([`render`]); every page works without JavaScript:
//! plain forms, each post answered by a redirect (post/redirect/get) or, when it is refused,
//! by the same page with the error next to its field and the typed values kept (never a
//! password). The pages call the same domain as the API ([`crate::auth`]), so their rules,
//! limits and messages are the API's.
//!
//! Every page is sent with a strict Content-Security-Policy (no script at all,
//! `frame-ancestors 'none'`), `X-Frame-Options: DENY`, a referrer policy that sends nothing
//! to other sites (`no-referrer` on the reset page, whose URL carries the token) and
//! `Cache-Control: no-store` (after sign-out, the back button shows nothing private). Form posts are checked against cross-site request
//! forgery ([`form`]) and rate-limited like the API's endpoints ([`RATE_LIMITS`]).

mod account;
pub mod form;
#[cfg(test)]
mod http_tests;
mod oauth;
mod password;
pub mod render;
mod sign_in;
mod two_factor;

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};

pub use self::account::SECTIONS;
use self::form::FormToken;
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::rate_limit::{PathRule, Rule};

/// Rate-limit rules for the pages' form posts, relative to the pages' path, beside the
/// API's (`/sign-in` and `/sign-up` already have the API's strict rule): the same budgets
/// as the API endpoints they stand for. The per-account limit on failed sign-ins is the
/// same counter for both.
pub const RATE_LIMITS: &[PathRule] = &[
    PathRule {
        prefix: "/forgot-password",
        rule: Rule::MAIL,
    },
    PathRule {
        prefix: "/account/password",
        rule: Rule::STRICT,
    },
    PathRule {
        prefix: "/account/email",
        rule: Rule::STRICT,
    },
    // Two-factor's rule (Better Auth's, 3 per 10 s), for the sign-in step and the section.
    PathRule {
        prefix: "/two-factor",
        rule: Rule::STRICT,
    },
    PathRule {
        prefix: "/account/two-factor",
        rule: Rule::STRICT,
    },
];

/// The pages' routes, relative to their path (the router nests them there).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/style.css", get(style))
        .route("/passkey.js", get(passkey_script))
        .route(
            "/sign-in",
            get(sign_in::sign_in_page).post(sign_in::sign_in),
        )
        .route("/sign-in/provider", post(oauth::continue_with))
        .route(
            "/sign-up",
            get(sign_in::sign_up_page).post(sign_in::sign_up),
        )
        .route("/sign-out", post(sign_in::sign_out))
        .route(
            "/forgot-password",
            get(password::forgot_page).post(password::forgot),
        )
        .route(
            "/reset-password",
            get(password::reset_page).post(password::reset),
        )
        .route("/verify-email", get(verify_email))
        .route("/account", get(account::account_page))
        .route("/account/name", post(account::rename))
        .route("/account/email", post(account::change_email))
        .route("/account/password", post(account::change_password))
        .route("/account/sessions/end", post(account::end_session))
        .route(
            "/account/sign-out-everywhere",
            post(account::sign_out_everywhere),
        )
        .route("/account/delete", post(account::delete))
        .route(
            "/two-factor",
            get(two_factor::step_page).post(two_factor::verify),
        )
        .route("/two-factor/send", post(two_factor::send_code))
        .route("/account/two-factor/enable", post(two_factor::enable))
        .route("/account/two-factor/confirm", post(two_factor::confirm))
        .route(
            "/account/two-factor/backup-codes",
            post(two_factor::regenerate),
        )
        .route("/account/two-factor/disable", post(two_factor::disable))
        .route("/account/passkeys/rename", post(account::rename_passkey))
        .route("/account/passkeys/remove", post(account::remove_passkey))
        .route("/account/providers/link", post(oauth::link))
        .route("/account/providers/unlink", post(oauth::unlink))
}

/// A rendered page with its status and the cookies it sets.
#[derive(Debug)]
pub struct Page {
    status: StatusCode,
    html: String,
    set_cookies: Vec<String>,
    /// The page's URL carries a secret (a reset token): no referrer at all.
    secret_in_url: bool,
}

impl Page {
    /// Marks a page whose URL carries a secret: `Referrer-Policy: no-referrer`.
    fn with_secret_in_url(mut self) -> Self {
        self.secret_in_url = true;
        self
    }

    /// Adds the form token cookie, when the browser had none.
    fn with_token_cookie(mut self, token: &FormToken) -> Self {
        self.set_cookies.extend(token.set_cookie.clone());
        self
    }
}

/// The security headers of every page. The referrer policy is `same-origin`: nothing goes to
/// other sites, and the pages' own form posts name their origin (under `no-referrer` a
/// browser sends `Origin: null`), except on a page whose URL carries a secret, which is
/// sent as `no-referrer` by [`Sent::page`].
fn page_headers(response: &mut Response, state: &AppState) {
    let headers = response.headers_mut();
    // Providers' authorization endpoints: "Continue with" posts a form that redirects there,
    // and browsers hold a form's redirects to `form-action` too.
    let form_action = std::iter::once("'self'".to_string())
        .chain(state.config().trusted_origins.iter().cloned())
        .chain(state.oauth().authorization_origins(&state.config().oauth))
        .collect::<Vec<_>>()
        .join(" ");
    // Passkeys need the one script file and its calls to the API on this origin.
    let passkey = if state.config().passkey.enabled {
        "script-src 'self'; connect-src 'self'; "
    } else {
        ""
    };
    let csp = format!(
        "default-src 'none'; {passkey}style-src 'self'; img-src 'self' https: data:; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// A page answer, ready to send: the page, or a redirect with cookies.
pub struct Sent {
    state: AppState,
    response: Response,
}

impl IntoResponse for Sent {
    fn into_response(self) -> Response {
        let mut response = self.response;
        page_headers(&mut response, &self.state);
        response
    }
}

impl Sent {
    /// Sends `page`.
    fn page(state: &AppState, page: Page) -> Self {
        let mut response = (
            page.status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            page.html,
        )
            .into_response();
        for cookie in page.set_cookies {
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().append(header::SET_COOKIE, value);
            }
        }
        if page.secret_in_url {
            response.headers_mut().insert(
                header::REFERRER_POLICY,
                HeaderValue::from_static("no-referrer"),
            );
        }
        Sent {
            state: state.clone(),
            response,
        }
    }

    /// A 303 to `location` (post/redirect/get), through `finish` (cookies, the edge told).
    fn see_other(
        state: &AppState,
        location: &str,
        finish: impl FnOnce(Response) -> Response,
    ) -> Self {
        Sent {
            state: state.clone(),
            response: finish(Redirect::to(location).into_response()),
        }
    }
}

/// Why a page could not be served as asked.
#[derive(Debug)]
pub enum PageError {
    /// A form post failed the forgery checks.
    Forbidden,
    /// An error the API would answer (unreadable body, database down).
    Api(Box<ApiError>),
}

/// What every page template gets (see `templates/base.html`), then the page's own values.
fn context(state: &AppState, title: &str, csrf: &str) -> Map<String, Value> {
    let pages = &state.config().pages;
    let Value::Object(map) = json!({
        "title": title,
        "app_name": state.config().lifecycle.app_name,
        "logo_url": pages.logo_url,
        "prefix": pages.path,
        "csrf": csrf,
        "callback": "",
        "callback_query": "",
        "notice": null,
        "error": null,
        "values": {},
        "errors": {},
        "wide": false,
        "password_min": state.config().password_min_length,
        "passkeys_enabled": state.config().passkey.enabled,
        "providers": state
            .config()
            .oauth
            .providers()
            .map(|p| json!({ "id": p.provider_id, "name": p.display_name() }))
            .collect::<Vec<_>>(),
        "api": edgeauth_token::wire::AUTH_PREFIX,
        "landing": "",
    }) else {
        return Map::new();
    };
    map
}

/// Renders template `name` with `values` on top of the common context.
fn render(state: &AppState, status: StatusCode, name: &str, values: Map<String, Value>) -> Page {
    let renderer = state.pages();
    let html = renderer
        .ok_or_else(|| "the pages are off".to_string())
        .and_then(|r| r.render(name, &Value::Object(values)));
    match html {
        Ok(html) => Page {
            status,
            html,
            set_cookies: Vec::new(),
            secret_in_url: false,
        },
        Err(e) => {
            tracing::error!(error = %e, "page did not render");
            Page {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                html: "<!doctype html><title>Error</title><p>Something went wrong.</p>".into(),
                set_cookies: Vec::new(),
                secret_in_url: false,
            }
        }
    }
}

/// The fixed notices a redirect may ask a page to show (`?notice=`): never free text from
/// the URL.
fn notice(code: Option<&String>) -> Option<&'static str> {
    Some(match code?.as_str() {
        "signed-out" => "You are signed out.",
        "signed-out-everywhere" => "You are signed out on every device.",
        "account-deleted" => "Your account is deleted.",
        "password-reset" => "Your password is changed. Sign in with the new one.",
        "name-saved" => "Your name is saved.",
        "email-sent" => "Check your inbox: we sent a link to confirm the new address.",
        "password-changed" => "Your password is changed.",
        "session-ended" => "The session is ended.",
        "delete-link-sent" => "Check your inbox: we sent a link to confirm the deletion.",
        "signed-in-required" => "Sign in to continue.",
        "two-factor-expired" => "Your sign-in expired or took too many wrong codes. Sign in again.",
        "passkey-added" => "Your passkey is added.",
        "passkey-renamed" => "Your passkey is renamed.",
        "passkey-removed" => "Your passkey is removed.",
        "provider-linked" => "The provider is linked: you can sign in with it.",
        "provider-unlinked" => "The provider is unlinked.",
        "two-factor-on" => "Two-factor authentication is on.",
        "two-factor-off" => "Two-factor authentication is off. Your other sessions are signed out.",
        _ => return None,
    })
}

/// Where a browser goes after signing in: its `callbackURL` when that is a safe relative
/// path or a trusted origin (the API's rule), else the configured landing page.
fn landing(state: &AppState, callback: &str) -> String {
    if !callback.is_empty() && state.check_redirect(callback).is_ok() {
        callback.to_string()
    } else {
        state.config().pages.home.clone()
    }
}

/// The `callbackURL` to carry along from a query, when it is an acceptable target.
fn carried_callback(state: &AppState, query: &HashMap<String, String>) -> String {
    query
        .get("callbackURL")
        .filter(|c| !c.is_empty() && state.check_redirect(c).is_ok())
        .cloned()
        .unwrap_or_default()
}

/// A refusal from the domain as the page shows it: the field it concerns (if any) and the
/// message. Better Auth's messages are meant for people; validation messages
/// (`[body.email] Invalid email address`) name their field.
fn field_error(error: &ApiError, password_field: &str) -> (Option<String>, String) {
    let message = error
        .message()
        .unwrap_or("Something went wrong. Try again.");
    if let Some(rest) = message.strip_prefix("[body.") {
        if let Some((field, text)) = rest.split_once("] ") {
            return (Some(field.to_string()), text.to_string());
        }
    }
    if error.status() == StatusCode::TOO_MANY_REQUESTS {
        let wait = error.retry_after().unwrap_or(10);
        return (
            None,
            format!("Too many attempts. Try again in {wait} seconds."),
        );
    }
    if error.status().is_server_error() {
        return (None, "Something went wrong on our side. Try again.".into());
    }
    let field = match error.code().unwrap_or("") {
        "INVALID_EMAIL_OR_PASSWORD"
        | "INVALID_PASSWORD"
        | "PASSWORD_TOO_SHORT"
        | "PASSWORD_TOO_LONG"
        | "PASSWORD_COMPROMISED" => Some(password_field.to_string()),
        "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL" | "INVALID_EMAIL" => Some("email".to_string()),
        _ => None,
    };
    (field, message.to_string())
}

/// Puts `error` into a page's values: next to its field, or at the top.
fn show_error(values: &mut Map<String, Value>, error: &ApiError, password_field: &str) {
    match field_error(error, password_field) {
        (Some(field), message) => {
            values.insert("errors".into(), json!({ field: message }));
        }
        (None, message) => {
            values.insert("error".into(), json!(message));
        }
    }
}

/// The pages' root: the account when signed in, else sign-in.
async fn index(State(state): State<AppState>) -> Sent {
    let to = format!("{}/account", state.config().pages.path);
    Sent::see_other(&state, &to, |r| r)
}

/// The stylesheet (no account data: cacheable for a few minutes).
async fn style(State(state): State<AppState>) -> Response {
    let css = state
        .pages()
        .map(|p| p.css().to_string())
        .unwrap_or_default();
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        css,
    )
        .into_response()
}

/// The passkey controls' script (served only with passkeys on).
async fn passkey_script(State(state): State<AppState>) -> Response {
    if !state.config().passkey.enabled {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        PASSKEY_SCRIPT,
    )
        .into_response()
}

/// The passkey controls' script.
const PASSKEY_SCRIPT: &str = include_str!("templates/passkey.js");

/// `GET /verify-email?error=`: where a verification link lands (the API's `verify-email`
/// redirects here), with what happened.
async fn verify_email(
    State(state): State<AppState>,
    token: FormToken,
    Query(query): Query<HashMap<String, String>>,
) -> Sent {
    let change = query.get("step").is_some_and(|s| s == "change");
    let (status, title, message) = match query.get("error").map(String::as_str) {
        None if change => (
            StatusCode::OK,
            "Email confirmed",
            "Thank you. If a link went to your new address, follow it to finish the change.",
        ),
        None => (
            StatusCode::OK,
            "Email verified",
            "Your email address is verified.",
        ),
        Some("token_expired") => (
            StatusCode::BAD_REQUEST,
            "Link expired",
            "This link has expired. Sign in to get a new one.",
        ),
        Some("user_not_found") => (
            StatusCode::BAD_REQUEST,
            "Link not valid",
            "No account matches this link.",
        ),
        Some(_) => (
            StatusCode::BAD_REQUEST,
            "Link not valid",
            "This link is not valid. Sign in to get a new one.",
        ),
    };
    let mut values = context(&state, title, &token.token);
    values.insert("message".into(), json!(message));
    let page = render(&state, status, "verify-email.html", values).with_token_cookie(&token);
    Sent::page(&state, page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_land_next_to_their_field() {
        let e = ApiError::validation("[body.email] Invalid email address");
        assert_eq!(
            field_error(&e, "password"),
            (Some("email".into()), "Invalid email address".into())
        );
        let e = ApiError::new(
            StatusCode::UNAUTHORIZED,
            crate::http::error::messages::INVALID_EMAIL_OR_PASSWORD,
        );
        assert_eq!(field_error(&e, "password").0.as_deref(), Some("password"));
        let e = ApiError::too_many_requests(7);
        assert_eq!(
            field_error(&e, "password"),
            (None, "Too many attempts. Try again in 7 seconds.".into())
        );
        let e = ApiError::internal("secret detail");
        assert!(!field_error(&e, "password").1.contains("secret"));
        assert_eq!(notice(Some(&"<script>".to_string())), None);
    }
}
