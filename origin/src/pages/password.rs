//! `/forgot-password` and `/reset-password` (where the mailed reset link lands).

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde_json::json;

use super::form::{FormToken, PageForm};
use super::{context, render, show_error, Sent};
use crate::app::AppState;
use crate::auth::password_reset;
use crate::http::edge_proof::tell_edge_sessions_ended;
use crate::http::error::ApiError;
use crate::http::extract::body::is_valid_email;

/// `GET /forgot-password?sent=1`.
pub async fn forgot_page(
    State(state): State<AppState>,
    token: FormToken,
    Query(query): Query<HashMap<String, String>>,
) -> Sent {
    let sent = query.contains_key("sent");
    let title = if sent {
        "Check your email"
    } else {
        "Reset your password"
    };
    let mut values = context(&state, title, &token.token);
    values.insert("sent".into(), json!(sent));
    values.insert("values".into(), json!({ "email": "" }));
    let page =
        render(&state, StatusCode::OK, "forgot-password.html", values).with_token_cookie(&token);
    Sent::page(&state, page)
}

/// `POST /forgot-password {email}`: the same answer whether or not the address is
/// registered (the request is recorded in the mail outbox; the lookup and the mail
/// happen afterwards, in its worker).
pub async fn forgot(State(state): State<AppState>, form: PageForm) -> Sent {
    let email = form.text("email").to_lowercase();
    let refuse = |error: ApiError| {
        let mut values = context(&state, "Reset your password", &form.token.token);
        values.insert("sent".into(), json!(false));
        values.insert("values".into(), json!({ "email": email }));
        show_error(&mut values, &error, "email");
        Sent::page(
            &state,
            render(&state, error.status(), "forgot-password.html", values),
        )
    };
    if !state.mailer().enabled() {
        return refuse(ApiError::new(
            StatusCode::BAD_REQUEST,
            crate::http::error::messages::RESET_PASSWORD_ISNT_ENABLED,
        ));
    }
    if email.is_empty() || !is_valid_email(&email) {
        return refuse(ApiError::validation(
            "[body.email] Enter a valid email address",
        ));
    }
    let reset_page = format!("{}/reset-password", state.config().pages.path);
    if let Err(e) = password_reset::request(&state, &email, &reset_page).await {
        return refuse(e);
    }
    let to = format!("{}/forgot-password?sent=1", state.config().pages.path);
    Sent::see_other(&state, &to, |r| r)
}

/// The reset page's values.
fn reset_values(
    state: &AppState,
    csrf: &str,
    token: &str,
) -> serde_json::Map<String, serde_json::Value> {
    let title = if token.is_empty() {
        "Link not valid"
    } else {
        "Choose a new password"
    };
    let mut values = context(state, title, csrf);
    values.insert("token".into(), json!(token));
    values
}

/// `GET /reset-password?token=` (or `?error=INVALID_TOKEN`): the API's reset link redirects
/// here. The token stays in the page, never in a request to another site
/// (`Referrer-Policy: no-referrer`).
pub async fn reset_page(
    State(state): State<AppState>,
    token: FormToken,
    Query(query): Query<HashMap<String, String>>,
) -> Sent {
    let reset_token = query
        .get("token")
        .filter(|t| !query.contains_key("error") && !t.is_empty() && t.len() <= 64)
        .cloned()
        .unwrap_or_default();
    let status = if reset_token.is_empty() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let values = reset_values(&state, &token.token, &reset_token);
    let page = render(&state, status, "reset-password.html", values)
        .with_token_cookie(&token)
        .with_secret_in_url();
    Sent::page(&state, page)
}

/// `POST /reset-password {token, newPassword}`: sets the password (every session ends, at
/// the edge too, unless configured otherwise), then the sign-in page.
pub async fn reset(State(state): State<AppState>, headers: HeaderMap, form: PageForm) -> Sent {
    let reset_token = form.text("token");
    let new_password = form.text("newPassword");
    let refuse = |error: ApiError| {
        let mut values = reset_values(&state, &form.token.token, &reset_token);
        if error.code() == Some("INVALID_TOKEN") {
            values = reset_values(&state, &form.token.token, "");
        }
        show_error(&mut values, &error, "newPassword");
        Sent::page(
            &state,
            render(&state, error.status(), "reset-password.html", values),
        )
    };
    match password_reset::redeem(&state, &reset_token, &new_password).await {
        Ok(redeemed) => {
            let to = format!(
                "{}/sign-in?notice=password-reset",
                state.config().pages.path
            );
            Sent::see_other(&state, &to, |mut response| {
                if redeemed.sessions_ended {
                    tell_edge_sessions_ended(&state, &headers, &redeemed.user_id, &mut response);
                }
                response
            })
        }
        Err(e) => refuse(e),
    }
}
