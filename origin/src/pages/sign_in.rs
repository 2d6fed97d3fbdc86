//! `/sign-in`, `/sign-up` and `/sign-out`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use edgeauth_token::cookie::encode_uri_component;
use serde_json::json;

use super::form::{FormToken, PageForm};
use super::{carried_callback, context, landing, notice, render, show_error, Sent};
use crate::app::AppState;
use crate::auth::issue;
use crate::auth::sign_in::{self, Completed};
use crate::auth::sign_up::{self, NewAccount};
use crate::http::cookies::{CookieHeaders, TRUST_DEVICE};
use crate::http::edge_proof::tell_edge_sessions_ended;
use crate::http::error::ApiError;
use crate::http::extract::body::{is_valid_email, within_length, MAX_NAME_LENGTH};
use crate::http::extract::client_ip::SessionClient;
use crate::http::extract::session::MaybeSession;

/// `?callbackURL=` to carry to the other page, or `""`.
pub(super) fn callback_query(callback: &str) -> String {
    if callback.is_empty() {
        String::new()
    } else {
        format!("?callbackURL={}", encode_uri_component(callback))
    }
}

/// The sign-in page's values.
fn sign_in_values(
    state: &AppState,
    csrf: &str,
    callback: &str,
    email: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut values = context(state, "Sign in", csrf);
    values.insert("landing".into(), json!(landing(state, callback)));
    values.insert("callback".into(), json!(callback));
    values.insert("callback_query".into(), json!(callback_query(callback)));
    values.insert("values".into(), json!({ "email": email }));
    values
}

/// `GET /sign-in?callbackURL=&notice=`.
pub async fn sign_in_page(
    State(state): State<AppState>,
    token: FormToken,
    Query(query): Query<HashMap<String, String>>,
) -> Sent {
    let callback = carried_callback(&state, &query);
    let mut values = sign_in_values(&state, &token.token, &callback, "");
    values.insert("notice".into(), json!(notice(query.get("notice"))));
    if let Some(code) = query.get("error") {
        // A provider sign-in that came back refused (`pages/oauth.rs`).
        values.insert("error".into(), json!(super::oauth::provider_error(code)));
    }
    let page = render(&state, StatusCode::OK, "sign-in.html", values).with_token_cookie(&token);
    Sent::page(&state, page)
}

/// `POST /sign-in {email, password, rememberMe?, callbackURL?}`: the password method and the
/// common sign-in step, then a redirect to where the browser was going.
pub async fn sign_in(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    headers: HeaderMap,
    form: PageForm,
) -> Sent {
    let email = form.text("email");
    let password = form.text("password");
    let callback = form.text("callbackURL");
    let remember = form.checked("rememberMe");
    let refuse = |status: StatusCode, error: ApiError| {
        let mut values = sign_in_values(&state, &form.token.token, &callback, &email);
        show_error(&mut values, &error, "password");
        Sent::page(&state, render(&state, status, "sign-in.html", values))
    };
    if email.is_empty() || !is_valid_email(&email) {
        let error = ApiError::validation("[body.email] Enter a valid email address");
        return refuse(StatusCode::BAD_REQUEST, error);
    }
    if password.is_empty() {
        let error = ApiError::validation("[body.password] Enter your password");
        return refuse(StatusCode::BAD_REQUEST, error);
    }
    let request = sign_in::Request {
        client: &client,
        remember,
        callback: None,
        trusted_device: state.cookies().get(&headers, TRUST_DEVICE),
    };
    let signed_in = match sign_in::password(&state, &email, &password).await {
        Ok(authenticated) => sign_in::complete(&state, authenticated, request).await,
        Err(e) => Err(e),
    };
    let (session, extra) = match signed_in {
        Ok(Completed::SignedIn(_, session, extra)) => (session, extra),
        Ok(Completed::SecondFactor(cookies)) => {
            let to = format!(
                "{}/two-factor{}",
                state.config().pages.path,
                callback_query(&callback)
            );
            let cookies = CookieHeaders::default().with_cookies(cookies);
            return Sent::see_other(&state, &to, |r| cookies.apply(r));
        }
        Err(e) => return refuse(e.status(), e),
    };
    let to = landing(&state, &callback);
    let cookies =
        CookieHeaders::new_session(&state, &session, !remember).map(|c| c.with_cookies(extra));
    match cookies {
        Ok(cookies) => Sent::see_other(&state, &to, |r| cookies.apply(r)),
        Err(e) => refuse(e.status(), e),
    }
}

/// The sign-up page's values.
fn sign_up_values(
    state: &AppState,
    csrf: &str,
    callback: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let mut values = context(state, "Create your account", csrf);
    values.insert("callback".into(), json!(callback));
    values.insert("callback_query".into(), json!(callback_query(callback)));
    values.insert("done".into(), json!(false));
    values
}

/// `GET /sign-up?callbackURL=`.
pub async fn sign_up_page(
    State(state): State<AppState>,
    token: FormToken,
    Query(query): Query<HashMap<String, String>>,
) -> Sent {
    let callback = carried_callback(&state, &query);
    let mut values = sign_up_values(&state, &token.token, &callback);
    values.insert("values".into(), json!({ "name": "", "email": "" }));
    let page = render(&state, StatusCode::OK, "sign-up.html", values).with_token_cookie(&token);
    Sent::page(&state, page)
}

/// `POST /sign-up {name, email, password, callbackURL?}`: creates the account; signed in at
/// once unless the email must be verified first.
pub async fn sign_up(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    form: PageForm,
) -> Sent {
    let name = form.text("name");
    let email = form.text("email").to_lowercase();
    let password = form.text("password");
    let callback = form.text("callbackURL");
    let refuse = |status: StatusCode, error: ApiError| {
        let mut values = sign_up_values(&state, &form.token.token, &callback);
        values.insert("values".into(), json!({ "name": name, "email": email }));
        show_error(&mut values, &error, "password");
        Sent::page(&state, render(&state, status, "sign-up.html", values))
    };
    if name.is_empty() {
        let error = ApiError::validation("[body.name] Enter your name");
        return refuse(StatusCode::BAD_REQUEST, error);
    }
    if !within_length(&name, MAX_NAME_LENGTH) {
        let error = ApiError::validation("[body.name] Enter a name of at most 256 characters");
        return refuse(StatusCode::BAD_REQUEST, error);
    }
    if email.is_empty() || !is_valid_email(&email) {
        let error = ApiError::validation("[body.email] Enter a valid email address");
        return refuse(StatusCode::BAD_REQUEST, error);
    }
    let verify_link = format!("{}/verify-email", state.config().pages.path);
    let new = NewAccount {
        name: &name,
        email: &email,
        password: &password,
        image: None,
        fields: None,
    };
    let (_, session) = match sign_up::create(&state, new, &client, true, Some(&verify_link)).await {
        Ok(created) => created,
        Err(e) => return refuse(e.status(), e),
    };
    let Some(session) = session else {
        // The email must be verified before the first sign-in.
        let mut values = sign_up_values(&state, &form.token.token, &callback);
        values.insert("title".into(), json!("Check your email"));
        values.insert("done".into(), json!(true));
        return Sent::page(
            &state,
            render(&state, StatusCode::OK, "sign-up.html", values),
        );
    };
    let to = landing(&state, &callback);
    match CookieHeaders::new_session(&state, &session, false) {
        Ok(cookies) => Sent::see_other(&state, &to, |r| cookies.apply(r)),
        Err(e) => refuse(e.status(), e),
    }
}

/// `POST /sign-out`: ends the caller's session, clears the cookies, tells the edge, and
/// shows the sign-in page.
pub async fn sign_out(
    State(state): State<AppState>,
    MaybeSession(found): MaybeSession,
    headers: axum::http::HeaderMap,
    _form: PageForm,
) -> Result<Sent, ApiError> {
    let user_id = issue::sign_out(&state, found).await?;
    let to = format!("{}/sign-in?notice=signed-out", state.config().pages.path);
    let cookies = CookieHeaders::clear(&state);
    Ok(Sent::see_other(&state, &to, |r| {
        let mut response = cookies.apply(r);
        if let Some(user_id) = &user_id {
            tell_edge_sessions_ended(&state, &headers, user_id, &mut response);
        }
        response
    }))
}
