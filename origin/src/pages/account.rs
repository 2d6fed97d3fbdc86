//! `/account`: the signed-in user's name and email, password, sessions, and deletion.
//!
//! The page is a list of sections ([`SECTIONS`]), each a template of its own
//! (`account-<name>.html`); a capability that adds to the account page (linked sign-in
//! methods, two-factor, passkeys) adds its template and its name here. Every action is a
//! form post to `/account/<action>` answered by a redirect back with a notice, or by the
//! page with the error in the section it concerns.

use std::collections::HashMap;

use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{json, Map, Value};

use super::form::{FormToken, PageForm};
use super::{context, notice, render, show_error, Sent};
use crate::app::AppState;
use crate::auth::account::{self, Deletion};
use crate::auth::passkey::ceremony as passkey;
use crate::http::cookies::CookieHeaders;
use crate::http::edge_proof::tell_edge_sessions_ended;
use crate::http::error::ApiError;
use crate::http::extract::body::{is_valid_email, within_length, MAX_NAME_LENGTH};
use crate::http::extract::client_ip::SessionClient;
use crate::http::extract::session::{lookup, Current, Lookup};

/// The account page's sections, in order (`two-factor`, `passkeys` and `sign-in-methods`
/// only when they are on).
pub const SECTIONS: [&str; 8] = [
    "profile",
    "email",
    "password",
    "sign-in-methods",
    "two-factor",
    "passkeys",
    "sessions",
    "delete",
];

/// A short description of the device a session was created from, by its `User-Agent`.
fn device(user_agent: &str) -> String {
    let browser = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("node", "Node.js"),
    ]
    .into_iter()
    .find(|(needle, _)| user_agent.contains(needle))
    .map_or("Unknown browser", |(_, name)| name);
    let system = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ]
    .into_iter()
    .find(|(needle, _)| user_agent.contains(needle))
    .map(|(_, name)| name);
    match system {
        Some(system) => format!("{browser} on {system}"),
        None => browser.to_string(),
    }
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The account page for `current`, with `extra` values (errors, typed values, a notice).
pub(super) async fn account_values(
    state: &AppState,
    current: &Current,
    csrf: &str,
) -> Result<Map<String, Value>, ApiError> {
    let now = state.now();
    let user = &current.found.user;
    let mut sessions: Vec<_> = state
        .db()
        .list_sessions(&user.id)
        .await?
        .into_iter()
        .filter(|s| s.expires_at > now)
        .collect();
    sessions.sort_by_key(|s| std::cmp::Reverse(s.created_at));
    let sessions: Vec<Value> = sessions
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "device": device(s.user_agent.as_deref().unwrap_or("")),
                "created": when(s.created_at),
                "ip": s.ip_address.as_deref().unwrap_or(""),
                "current": s.id == current.found.session.id,
            })
        })
        .collect();
    let mut values = context(state, "Your account", csrf);
    values.insert("wide".into(), json!(true));
    values.insert(
        "user".into(),
        json!({ "name": user.name, "email": user.email, "emailVerified": user.email_verified }),
    );
    values.insert("sessions".into(), json!(sessions));
    let config = state.config();
    let sections: Vec<&str> = SECTIONS
        .into_iter()
        .filter(|s| match *s {
            "two-factor" => config.two_factor.enabled,
            "passkeys" => config.passkey.enabled,
            "sign-in-methods" => config.oauth.has_providers(),
            _ => true,
        })
        .collect();
    if config.passkey.enabled {
        let passkeys: Vec<Value> = state
            .db()
            .list_passkeys(&user.id)
            .await?
            .iter()
            .map(|p| {
                json!({
                    "id": p.id,
                    "name": p.name.clone().unwrap_or_else(|| "Passkey".to_string()),
                    "created": p.created_at.map(when),
                    "last_used": p.last_used_at.map(when),
                })
            })
            .collect();
        values.insert("passkeys".into(), json!(passkeys));
    }
    // The user's accounts: read once, for the password sections and the sign-in methods.
    let accounts = state.db().list_accounts(&user.id).await?;
    // A person who signs in only with a provider has no password to confirm actions with:
    // the sections that ask for one say so instead (Better Auth's forms just fail).
    let has_password = accounts.iter().any(|a| a.provider_id == "credential");
    values.insert("has_password".into(), json!(has_password));
    values.insert(
        "fresh_minutes".into(),
        json!(config.lifecycle.session_fresh_age.div_ceil(60)),
    );
    if config.oauth.has_providers() {
        let mut methods: Vec<Value> = accounts
            .iter()
            .map(|a| {
                if a.provider_id == "credential" {
                    json!({
                        "label": "Password",
                        "provider": null,
                        "account": null,
                        "linked": true,
                        "created": null,
                    })
                } else {
                    let label = config
                        .oauth
                        .provider(&a.provider_id)
                        .map_or(a.provider_id.as_str(), |p| p.display_name());
                    json!({
                        "label": label,
                        "provider": a.provider_id,
                        "account": a.account_id,
                        "linked": true,
                        "created": when(a.created_at),
                    })
                }
            })
            .collect();
        for provider in config.oauth.providers() {
            if !accounts
                .iter()
                .any(|a| a.provider_id == provider.provider_id)
            {
                methods.push(json!({
                    "label": provider.display_name(),
                    "provider": provider.provider_id,
                    "account": null,
                    "linked": false,
                    "created": null,
                }));
            }
        }
        values.insert("methods".into(), json!(methods));
        values.insert("can_unlink".into(), json!(accounts.len() > 1));
    }
    values.insert("sections".into(), json!(sections));
    values.insert(
        "two_factor".into(),
        json!({ "enabled": user.two_factor_enabled }),
    );
    values.insert("values".into(), json!({ "name": "", "newEmail": "" }));
    Ok(values)
}

/// The sign-in page's address for a browser without a session, coming back here after.
fn sign_in_first(state: &AppState) -> String {
    let path = &state.config().pages.path;
    format!("{path}/sign-in?callbackURL={path}%2Faccount&notice=signed-in-required")
}

/// The caller's live session; without one, the browser is sent to sign in first (and back
/// to the account page after).
async fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<Current, Response> {
    match lookup(state, headers, state.now()).await {
        Ok(Lookup::Live(current)) => Ok(*current),
        Ok(_) => Err(Sent::see_other(state, &sign_in_first(state), |r| r).into_response()),
        Err(e) => Err(e.into_response()),
    }
}

/// Extractor for the account page: the caller's live session ([`signed_in`]).
pub struct SignedIn(Current);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        signed_in(state, &parts.headers).await.map(SignedIn)
    }
}

/// Extractor for an account action: the form, checked against forgery first (a forged post
/// is refused the same whether or not it carries a session), then the caller's session.
pub struct AccountPost {
    /// The caller's session.
    pub(super) current: Current,
    /// The form.
    pub(super) form: PageForm,
}

impl FromRequest<AppState> for AccountPost {
    type Rejection = Response;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Response> {
        let headers = request.headers().clone();
        let form = PageForm::from_request(request, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let current = signed_in(state, &headers).await?;
        Ok(AccountPost { current, form })
    }
}

/// `GET /account?notice=`.
pub async fn account_page(
    State(state): State<AppState>,
    token: FormToken,
    SignedIn(current): SignedIn,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Sent, ApiError> {
    let mut values = account_values(&state, &current, &token.token).await?;
    values.insert("notice".into(), json!(notice(query.get("notice"))));
    if let Some(code) = query.get("error") {
        // A provider link that came back refused (`pages/oauth.rs`).
        values.insert("error".into(), json!(super::oauth::provider_error(code)));
    }
    let page = render(&state, StatusCode::OK, "account.html", values).with_token_cookie(&token);
    Ok(Sent::page(&state, page))
}

/// What an account action did: where to go next, or the page again with an error.
enum Outcome {
    /// Back to the account page with this notice.
    Done(&'static str),
    /// Refused: the page again, with the error and the typed values.
    Refused(ApiError, &'static str, Value),
}

/// Runs `action` for the signed-in caller and answers it.
async fn act<F, Fut>(
    state: &AppState,
    current: Current,
    form: &PageForm,
    action: F,
) -> Result<Sent, ApiError>
where
    F: FnOnce(AppState, Current) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, ApiError>>,
{
    let outcome = action(state.clone(), current.clone()).await?;
    Ok(match outcome {
        Outcome::Done(code) => {
            let to = format!("{}/account?notice={code}", state.config().pages.path);
            Sent::see_other(state, &to, |r| r)
        }
        Outcome::Refused(error, password_field, typed) => {
            let mut values = account_values(state, &current, &form.token.token).await?;
            values.insert("values".into(), typed);
            show_error(&mut values, &error, password_field);
            Sent::page(state, render(state, error.status(), "account.html", values))
        }
    })
}

/// Domain refusals (4xx) become [`Outcome::Refused`]; failures (5xx) stay errors.
fn refused(
    error: ApiError,
    password_field: &'static str,
    typed: Value,
) -> Result<Outcome, ApiError> {
    if error.status().is_client_error() {
        Ok(Outcome::Refused(error, password_field, typed))
    } else {
        Err(error)
    }
}

/// `POST /account/name {name}`.
pub async fn rename(
    State(state): State<AppState>,
    AccountPost { current, form }: AccountPost,
) -> Result<Sent, ApiError> {
    let name = form.text("name");
    act(&state, current, &form, |state, current| async move {
        let typed = json!({ "name": name, "newEmail": "" });
        if name.is_empty() || !within_length(&name, MAX_NAME_LENGTH) {
            let error = ApiError::validation("[body.name] Enter a name of at most 256 characters");
            return refused(error, "password", typed);
        }
        state
            .db()
            .update_user(&current.found.user.id, Some(&name), None, &[], state.now())
            .await?;
        Ok(Outcome::Done("name-saved"))
    })
    .await
}

/// `POST /account/email {newEmail}`: mails the confirmation link(s); the address changes
/// when the last one is followed.
pub async fn change_email(
    State(state): State<AppState>,
    AccountPost { current, form }: AccountPost,
) -> Result<Sent, ApiError> {
    let new_email = form.text("newEmail").to_lowercase();
    act(&state, current, &form, |state, current| async move {
        let typed = json!({ "name": "", "newEmail": new_email });
        if new_email.is_empty() || !is_valid_email(&new_email) {
            let error = ApiError::validation("[body.newEmail] Enter a valid email address");
            return refused(error, "password", typed);
        }
        let back = format!("{}/verify-email?step=change", state.config().pages.path);
        match account::request_email_change(&state, &current.found.user, &new_email, Some(&back))
            .await
        {
            Ok(()) => Ok(Outcome::Done("email-sent")),
            Err(e) => {
                let e = if e.code() == Some("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
                    || e.code() == Some("EMAIL_IS_THE_SAME")
                {
                    ApiError::validation(format!(
                        "[body.newEmail] {}",
                        e.message().unwrap_or("Choose another address")
                    ))
                } else {
                    e
                };
                refused(e, "password", typed)
            }
        }
    })
    .await
}

/// `POST /account/password {currentPassword, newPassword, revokeOtherSessions?}`: with
/// "sign out my other sessions", every other session ends (at the edge too) and this
/// browser gets a new one.
pub async fn change_password(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    headers: HeaderMap,
    AccountPost { current, form }: AccountPost,
) -> Result<Sent, ApiError> {
    let current_password = form.text("currentPassword");
    let new_password = form.text("newPassword");
    let revoke_others = form.checked("revokeOtherSessions");
    let replaced = account::change_password(
        &state,
        &current,
        &current_password,
        &new_password,
        revoke_others,
        &client,
    )
    .await;
    let user_id = current.found.user.id.clone();
    match replaced {
        Ok(session) => {
            let to = format!(
                "{}/account?notice=password-changed",
                state.config().pages.path
            );
            let cookies = match &session {
                Some(session) => Some(CookieHeaders::new_session(
                    &state,
                    session,
                    current.dont_remember,
                )?),
                None => None,
            };
            Ok(Sent::see_other(&state, &to, |response| {
                let Some(cookies) = cookies else {
                    return response;
                };
                let mut response = cookies.apply(response);
                tell_edge_sessions_ended(&state, &headers, &user_id, &mut response);
                response
            }))
        }
        Err(e) if e.status().is_client_error() => {
            let field = if e.code() == Some("INVALID_PASSWORD") {
                "currentPassword"
            } else {
                "newPassword"
            };
            let mut values = account_values(&state, &current, &form.token.token).await?;
            show_error(&mut values, &e, field);
            Ok(Sent::page(
                &state,
                render(&state, e.status(), "account.html", values),
            ))
        }
        Err(e) => Err(e),
    }
}

/// `POST /account/sessions/end {session}`: ends one of the caller's other sessions (at the
/// edge too).
pub async fn end_session(
    State(state): State<AppState>,
    headers: HeaderMap,
    AccountPost { current, form }: AccountPost,
) -> Result<Sent, ApiError> {
    let id = form.text("session");
    let user_id = current.found.user.id.clone();
    let ended = !id.is_empty()
        && id != current.found.session.id
        && state.db().delete_user_session_by_id(&user_id, &id).await?;
    let to = format!("{}/account?notice=session-ended", state.config().pages.path);
    Ok(Sent::see_other(&state, &to, |mut response| {
        if ended {
            tell_edge_sessions_ended(&state, &headers, &user_id, &mut response);
        }
        response
    }))
}

/// `POST /account/sign-out-everywhere`: ends every session of the user, this one included.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    headers: HeaderMap,
    AccountPost { current, .. }: AccountPost,
) -> Result<Sent, ApiError> {
    let user_id = current.found.user.id.clone();
    state.db().delete_user_sessions(&user_id, None).await?;
    tracing::info!(user = %user_id, "signed out everywhere");
    let to = format!(
        "{}/sign-in?notice=signed-out-everywhere",
        state.config().pages.path
    );
    let cookies = CookieHeaders::clear(&state);
    Ok(Sent::see_other(&state, &to, |response| {
        let mut response = cookies.apply(response);
        tell_edge_sessions_ended(&state, &headers, &user_id, &mut response);
        response
    }))
}

/// `POST /account/delete {password?}`: deletes the account (with the password, or from a
/// fresh session), or mails a confirmation link when so configured.
pub async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    AccountPost { current, form }: AccountPost,
) -> Result<Sent, ApiError> {
    let password = form.text("password");
    let password = (!password.is_empty()).then_some(password.as_str());
    let path = &state.config().pages.path;
    let after = format!("{path}/sign-in?notice=account-deleted");
    match account::delete(&state, &current, password, Some(&after)).await {
        Ok(Deletion::Deleted) => {
            let user_id = current.found.user.id.clone();
            let cookies = CookieHeaders::clear(&state);
            Ok(Sent::see_other(&state, &after, |response| {
                let mut response = cookies.apply(response);
                tell_edge_sessions_ended(&state, &headers, &user_id, &mut response);
                response
            }))
        }
        Ok(Deletion::LinkSent) => {
            let to = format!("{path}/account?notice=delete-link-sent");
            Ok(Sent::see_other(&state, &to, |r| r))
        }
        Err(e) if e.status().is_client_error() => {
            let mut values = account_values(&state, &current, &form.token.token).await?;
            show_error(&mut values, &e, "password");
            Ok(Sent::page(
                &state,
                render(&state, e.status(), "account.html", values),
            ))
        }
        Err(e) => Err(e),
    }
}

/// `POST /account/passkeys/rename {id, name}`.
pub async fn rename_passkey(
    State(state): State<AppState>,
    AccountPost { current, form }: AccountPost,
) -> Result<Sent, ApiError> {
    let (id, name) = (form.text("id"), form.text("name"));
    act(&state, current, &form, |state, current| async move {
        match passkey::rename(&state, &current.found.user, &id, &name).await {
            Ok(_) => Ok(Outcome::Done("passkey-renamed")),
            Err(e) => refused(e, "password", json!({ "name": "", "newEmail": "" })),
        }
    })
    .await
}

/// `POST /account/passkeys/remove {id}`.
pub async fn remove_passkey(
    State(state): State<AppState>,
    AccountPost { current, form }: AccountPost,
) -> Result<Sent, ApiError> {
    let id = form.text("id");
    act(&state, current, &form, |state, current| async move {
        match passkey::remove(&state, &current.found.user, &id).await {
            Ok(()) => Ok(Outcome::Done("passkey-removed")),
            Err(e) => refused(e, "password", json!({ "name": "", "newEmail": "" })),
        }
    })
    .await
}
