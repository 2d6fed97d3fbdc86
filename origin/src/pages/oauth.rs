//! `Continue with <provider>` on the sign-in and sign-up pages, for the providers of
//! `EDGEAUTH_GENERIC_OAUTH` and `EDGEAUTH_SOCIAL_PROVIDERS`: a form post (forgery-checked like every page form) that starts
//! the provider flow and sends the browser to the provider. The provider's answer comes back
//! to the API's callback, which lands on the page's `callbackURL`, or back on the sign-in
//! page with `?error=` (shown as one of the fixed messages of [`provider_error`]).
//!
//! The account page's "Sign-in methods" section links a provider to the signed-in user
//! (the API's link flow: `/oauth2/link`'s rules) and unlinks one (never the last way to
//! sign in, and only from a fresh session, as `/unlink-account`).

use axum::extract::State;
use axum::http::StatusCode;
use serde_json::json;

use super::form::PageForm;
use super::sign_in::callback_query;
use super::{context, landing, render, show_error, Sent};
use crate::app::AppState;
use crate::auth::oauth::flow;
use crate::auth::oauth::messages;
use crate::auth::oauth::state::{LinkTarget, Requested};
use crate::db::Unlink;
use crate::features::passkey::require_fresh;
use crate::http::cookies::CookieHeaders;
use crate::http::error::ApiError;

use super::account::AccountPost;

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
        "email_is_missing" | "email_not_found" => "The provider did not share an email address.",
        "email_doesn't_match" => "The provider's email address is not this account's.",
        "unable_to_link_account" => {
            "The provider did not confirm the email address, so it cannot be linked."
        }
        "account_already_linked_to_different_user" => {
            "This provider account is already linked to another account."
        }
        _ => "The sign-in with the provider did not succeed. Try again.",
    }
}

/// `POST /sign-in/provider {providerId, callbackURL?}`.
pub async fn continue_with(State(state): State<AppState>, form: PageForm) -> Sent {
    let prefix = state.config().pages.path.clone();
    let callback = form.text("callbackURL");
    let back = format!("{prefix}/sign-in{}", callback_query(&callback));
    let Some(provider) = state.config().oauth.provider(&form.text("providerId")) else {
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

/// `POST /account/providers/link {providerId}`: starts linking a provider to the signed-in
/// user; it comes back to the account page with a notice, or with `?error=`.
pub async fn link(
    State(state): State<AppState>,
    AccountPost { current, form }: AccountPost,
) -> Result<Sent, ApiError> {
    let account = format!("{}/account", state.config().pages.path);
    let Some(provider) = state.config().oauth.provider(&form.text("providerId")) else {
        return Ok(Sent::see_other(&state, &account, |r| r));
    };
    let user = &current.found.user;
    let requested = Requested {
        callback_url: Some(format!("{account}?notice=provider-linked")),
        error_url: Some(account.clone()),
        link: Some(LinkTarget {
            email: user.email.clone(),
            user_id: user.id.clone(),
        }),
        ..Requested::default()
    };
    let authorization = flow::authorize(&state, provider, requested, &[]).await?;
    let cookies = CookieHeaders::default().with_cookies([authorization.cookie]);
    Ok(Sent::see_other(&state, &authorization.url, |r| {
        cookies.apply(r)
    }))
}

/// `POST /account/providers/unlink {providerId, accountId}`.
pub async fn unlink(
    State(state): State<AppState>,
    AccountPost { current, form }: AccountPost,
) -> Result<Sent, ApiError> {
    let path = &state.config().pages.path;
    let refusal = match require_fresh(&state, &current) {
        Err(e) => Some(e),
        Ok(()) => {
            let account_id = form.text("accountId");
            let account_id = (!account_id.is_empty()).then_some(account_id.as_str());
            match state
                .db()
                .unlink_account(&current.found.user.id, &form.text("providerId"), account_id)
                .await?
            {
                Unlink::Unlinked => None,
                Unlink::LastAccount => Some(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    messages::FAILED_TO_UNLINK_LAST_ACCOUNT,
                )),
                Unlink::NotFound => Some(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    messages::ACCOUNT_NOT_FOUND,
                )),
            }
        }
    };
    match refusal {
        None => {
            let to = format!("{path}/account?notice=provider-unlinked");
            Ok(Sent::see_other(&state, &to, |r| r))
        }
        Some(error) => {
            let mut values =
                super::account::account_values(&state, &current, &form.token.token).await?;
            show_error(&mut values, &error, "password");
            Ok(Sent::page(
                &state,
                render(&state, error.status(), "account.html", values),
            ))
        }
    }
}
