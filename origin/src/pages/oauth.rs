//! "Continue with <provider>" on the sign-in and sign-up pages, for the providers of
//! `EDGEAUTH_GENERIC_OAUTH`: a form post (forgery-checked like every page form) that starts
//! the provider flow and sends the browser to the provider. The provider's answer comes back
//! to the API's callback, which lands on the page's `callbackURL`, or back on the sign-in
//! page with `?error=` (shown as one of the fixed messages of [`provider_error`]).

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::form::PageForm;
use super::sign_in::callback_query;
use super::{context, landing, render, show_error, Sent};
use crate::app::AppState;
use crate::auth::oauth::flow;
use crate::auth::oauth::state::Requested;
use crate::http::cookies::CookieHeaders;

/// The message the sign-in page shows for a provider sign-in that came back with `?error=`:
/// fixed texts, never the URL's own.
pub fn provider_error(code: &str) -> &'static str {
    match code {
        "account_not_linked" => {
            "An account already uses this email address. Sign in to it another way, then link \
             the provider from your account page."
        }
        "signup_disabled" => {
            "No account uses this email address, and this provider cannot create one."
        }
        "email_not_verified" => "Your email address is not verified yet.",
        "access_denied" => "The sign-in was cancelled at the provider.",
        "email_is_missing" => "The provider did not share an email address.",
        _ => "The sign-in with the provider did not succeed. Try again.",
    }
}

/// `POST /sign-in/provider {providerId, callbackURL?}`.
pub async fn continue_with(State(state): State<AppState>, form: PageForm) -> Sent {
    let prefix = state.config().pages.path.clone();
    let callback = form.text("callbackURL");
    let back = format!("{prefix}/sign-in{}", callback_query(&callback));
    let Some(provider) = state
        .config()
        .oauth
        .generic_provider(&form.text("providerId"))
    else {
        return Sent::see_other(&state, &back, |r| r);
    };
    let requested = Requested {
        callback_url: Some(landing(&state, &callback)),
        error_url: Some(back),
        ..Requested::default()
    };
    match flow::authorize(&state, provider, requested, &[]).await {
        Ok(authorization) => {
            let cookies = CookieHeaders::default().with_cookies([authorization.cookie]);
            Sent::see_other(&state, &authorization.url, |r| cookies.apply(r))
        }
        Err(e) => {
            let mut values = context(&state, "Sign in", &form.token.token);
            values.insert("callback".into(), json!(callback));
            values.insert("callback_query".into(), json!(callback_query(&callback)));
            values.insert("landing".into(), json!(landing(&state, &callback)));
            show_error(&mut values, &e, "password");
            let status = if e.status().is_server_error() {
                e.status()
            } else {
                StatusCode::BAD_REQUEST
            };
            Sent::page(&state, render(&state, status, "sign-in.html", values))
        }
    }
}
