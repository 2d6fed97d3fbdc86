//! Two-factor authentication's pages: the sign-in's "Verification code" step
//! (`/two-factor`) and the account page's section (`/account/two-factor/*`): set up with a
//! QR code (SVG, drawn on the server) and the secret as text, confirm with a first code,
//! backup codes shown once with a download, regenerate, turn off.
//!
//! The secret and backup codes are shown only in the answer to the post that made them
//! (password required), never on a later visit, so a borrowed session cannot read them.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use edgeauth_token::cookie::encode_uri_component;
use qrcode::render::svg;
use qrcode::QrCode;
use serde_json::{json, Map, Value};

use super::account::{account_values, AccountPost};
use super::form::{FormToken, PageForm};
use super::sign_in::callback_query;
use super::{carried_callback, context, landing, render, show_error, Sent};
use crate::app::AppState;
use crate::auth::two_factor::challenge::{self, Verifier};
use crate::auth::two_factor::enrolment::{self, Enrolment};
use crate::auth::two_factor::Factor;
use crate::http::cookies::CookieHeaders;
use crate::http::edge_proof::tell_edge_sessions_ended;
use crate::http::error::ApiError;
use crate::http::extract::client_ip::SessionClient;

/// The ways to offer the second factor on the sign-in step.
fn method(value: Option<&str>) -> &'static str {
    match value {
        Some("backup") => "backup",
        Some("email") => "email",
        _ => "totp",
    }
}

/// The form's `callbackURL`, when it is an acceptable target (else `""`).
fn posted_callback(state: &AppState, form: &PageForm) -> String {
    let callback = form.text("callbackURL");
    if state.check_redirect(&callback).is_ok() {
        callback
    } else {
        String::new()
    }
}

/// Back to sign-in: the pending sign-in is gone (expired, used, or too many wrong codes).
fn start_over(state: &AppState, callback: &str) -> Sent {
    let to = format!(
        "{}/sign-in?notice=two-factor-expired{}",
        state.config().pages.path,
        callback_query(callback).replacen('?', "&", 1)
    );
    Sent::see_other(state, &to, |r| r)
}

/// The step's values.
fn step_values(
    state: &AppState,
    csrf: &str,
    callback: &str,
    method: &str,
    email: &str,
) -> Map<String, Value> {
    let mut values = context(state, "Verification code", csrf);
    values.insert("callback".into(), json!(callback));
    values.insert("callback_query".into(), json!(callback_query(callback)));
    values.insert(
        "callback_query_and".into(),
        json!(callback_query(callback).replacen('?', "&", 1)),
    );
    values.insert("method".into(), json!(method));
    values.insert("email".into(), json!(email));
    values.insert("can_email".into(), json!(state.mailer().enabled()));
    values
}

/// `GET /two-factor?method=&callbackURL=`: the step after the password. Without a live
/// pending sign-in, back to sign-in; with a session, on to where sign-in would go.
pub async fn step_page(
    State(state): State<AppState>,
    token: FormToken,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Sent, ApiError> {
    let callback = carried_callback(&state, &query);
    let verifier = match challenge::verifier(&state, &headers).await {
        Ok(verifier) => verifier,
        Err(e) if e.status().is_client_error() => return Ok(start_over(&state, &callback)),
        Err(e) => return Err(e),
    };
    if let Verifier::Session(_) = verifier {
        return Ok(Sent::see_other(&state, &landing(&state, &callback), |r| r));
    }
    let method = method(query.get("method").map(String::as_str));
    let values = step_values(
        &state,
        &token.token,
        &callback,
        method,
        &verifier.user().email,
    );
    let page = render(&state, StatusCode::OK, "two-factor.html", values).with_token_cookie(&token);
    Ok(Sent::page(&state, page))
}

/// `POST /two-factor {method, code, trustDevice?, callbackURL?}`: the code checked; signed
/// in and on to the callback, or the step again with the error.
pub async fn verify(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    headers: HeaderMap,
    form: PageForm,
) -> Result<Sent, ApiError> {
    let callback = posted_callback(&state, &form);
    let method = method(Some(form.text("method").as_str()));
    let code = form.text("code");
    let verifier = match challenge::verifier(&state, &headers).await {
        Ok(Verifier::Pending(pending, user)) => Verifier::Pending(pending, user),
        Ok(Verifier::Session(_)) => {
            return Ok(Sent::see_other(&state, &landing(&state, &callback), |r| r))
        }
        Err(e) if e.status().is_client_error() => return Ok(start_over(&state, &callback)),
        Err(e) => return Err(e),
    };
    let email = verifier.user().email.clone();
    let factor = match method {
        "backup" => Factor::BackupCode(&code),
        "email" => Factor::EmailCode(&code),
        _ => Factor::Totp(&code),
    };
    let checked = if code.is_empty() || code.len() > 64 {
        Err(ApiError::validation("[body.code] Enter the code"))
    } else {
        challenge::check(&state, &verifier, factor).await
    };
    if let Err(e) = checked {
        if e.code() == Some("TOO_MANY_ATTEMPTS_SIGN_IN_AGAIN") {
            return Ok(start_over(&state, &callback));
        }
        if e.status().is_server_error() {
            return Err(e);
        }
        let mut values = step_values(&state, &form.token.token, &callback, method, &email);
        show_error(&mut values, &e, "code");
        return Ok(Sent::page(
            &state,
            render(&state, e.status(), "two-factor.html", values),
        ));
    }
    let trust = form.checked("trustDevice");
    let passed = match challenge::pass(&state, verifier, factor, &client, trust).await {
        Ok(passed) => passed,
        Err(e) if e.status().is_client_error() => return Ok(start_over(&state, &callback)),
        Err(e) => return Err(e),
    };
    let cookies = CookieHeaders::new_session(&state, &passed.session, passed.dont_remember)?
        .with_cookies(passed.cookies);
    Ok(Sent::see_other(&state, &landing(&state, &callback), |r| {
        cookies.apply(r)
    }))
}

/// `POST /two-factor/send {callbackURL?}`: mails a code, then the step asks for it.
pub async fn send_code(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: PageForm,
) -> Result<Sent, ApiError> {
    let callback = posted_callback(&state, &form);
    let verifier = match challenge::verifier(&state, &headers).await {
        Ok(verifier @ Verifier::Pending(..)) => verifier,
        Ok(Verifier::Session(_)) => {
            return Ok(Sent::see_other(&state, &landing(&state, &callback), |r| r))
        }
        Err(e) if e.status().is_client_error() => return Ok(start_over(&state, &callback)),
        Err(e) => return Err(e),
    };
    if let Err(e) = challenge::send_code(&state, &verifier).await {
        if e.status().is_server_error() {
            return Err(e);
        }
        let email = verifier.user().email.clone();
        let mut values = step_values(&state, &form.token.token, &callback, "totp", &email);
        show_error(&mut values, &e, "code");
        return Ok(Sent::page(
            &state,
            render(&state, e.status(), "two-factor.html", values),
        ));
    }
    let to = format!(
        "{}/two-factor?method=email{}",
        state.config().pages.path,
        callback_query(&callback).replacen('?', "&", 1)
    );
    Ok(Sent::see_other(&state, &to, |r| r))
}

/// The QR code of `uri` as inline SVG, named for assistive technology.
fn qr_svg(uri: &str) -> Result<String, ApiError> {
    let code = QrCode::new(uri.as_bytes()).map_err(ApiError::internal)?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    let start = image.find("<svg").unwrap_or(0);
    Ok(image[start..].replacen(
        "<svg",
        r#"<svg role="img" aria-label="QR code for your authenticator app""#,
        1,
    ))
}

/// The account page with the two-factor section showing `shown` (an enrolment to confirm,
/// or backup codes), or an error.
async fn account_with(
    state: &AppState,
    post: &AccountPost,
    status: StatusCode,
    enrolment: Option<&Enrolment>,
    codes: Option<&[String]>,
    error: Option<&ApiError>,
) -> Result<Sent, ApiError> {
    let mut values = account_values(state, &post.current, &post.form.token.token).await?;
    let mut section = json!({ "enabled": post.current.found.user.two_factor_enabled });
    if let Some(enrolment) = enrolment {
        section["enrolment"] = json!({
            "qr": qr_svg(&enrolment.totp_uri)?,
            "secret": enrolment.typed_secret,
        });
    }
    if let Some(codes) = codes {
        section["codes"] = json!(codes);
        // A download with no request: the codes never reach a server log or a cache.
        section["codes_href"] = json!(format!(
            "data:text/plain;charset=utf-8,{}",
            encode_uri_component(&format!("{}\n", codes.join("\n")))
        ));
    }
    values.insert("two_factor".into(), section);
    if let Some(error) = error {
        show_error(&mut values, error, "twoFactorPassword");
    }
    Ok(Sent::page(
        state,
        render(state, status, "account.html", values),
    ))
}

/// A refusal (4xx) shown on the account page; failures stay errors.
async fn refused(state: &AppState, post: &AccountPost, error: ApiError) -> Result<Sent, ApiError> {
    if error.status().is_server_error() {
        return Err(error);
    }
    account_with(state, post, error.status(), None, None, Some(&error)).await
}

fn password(post: &AccountPost) -> Option<String> {
    Some(post.form.text("twoFactorPassword")).filter(|p| !p.is_empty())
}

/// `POST /account/two-factor/enable {twoFactorPassword}`: a new secret, shown once with
/// its QR code and the backup codes, and the form to confirm it.
pub async fn enable(State(state): State<AppState>, post: AccountPost) -> Result<Sent, ApiError> {
    let password = password(&post);
    match enrolment::enable(&state, &post.current, password.as_deref(), None).await {
        Ok(enrolment) => {
            let codes = enrolment.backup_codes.clone();
            account_with(
                &state,
                &post,
                StatusCode::OK,
                Some(&enrolment),
                Some(&codes),
                None,
            )
            .await
        }
        Err(e) => refused(&state, &post, e).await,
    }
}

/// `POST /account/two-factor/confirm {twoFactorCode}`: the first code turns it on.
pub async fn confirm(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    post: AccountPost,
) -> Result<Sent, ApiError> {
    let code = post.form.text("twoFactorCode");
    let verifier = Verifier::Session(Box::new(post.current.clone()));
    let factor = Factor::Totp(&code);
    let checked = if code.is_empty() || code.len() > 64 {
        Err(ApiError::validation(
            "[body.twoFactorCode] Enter the code your app shows",
        ))
    } else {
        challenge::check(&state, &verifier, factor).await
    };
    if let Err(e) = checked {
        return refused(&state, &post, e).await;
    }
    challenge::pass(&state, verifier, factor, &client, false).await?;
    let to = format!("{}/account?notice=two-factor-on", state.config().pages.path);
    Ok(Sent::see_other(&state, &to, |r| r))
}

/// `POST /account/two-factor/backup-codes {twoFactorPassword}`: a new set, shown once.
pub async fn regenerate(
    State(state): State<AppState>,
    post: AccountPost,
) -> Result<Sent, ApiError> {
    let password = password(&post);
    match enrolment::regenerate_backup_codes(&state, &post.current, password.as_deref()).await {
        Ok(codes) => account_with(&state, &post, StatusCode::OK, None, Some(&codes), None).await,
        Err(e) => refused(&state, &post, e).await,
    }
}

/// `POST /account/two-factor/disable {twoFactorPassword}`: off; the other sessions end (at
/// the edge too).
pub async fn disable(
    State(state): State<AppState>,
    headers: HeaderMap,
    post: AccountPost,
) -> Result<Sent, ApiError> {
    let password = password(&post);
    if let Err(e) = enrolment::disable(&state, &post.current, password.as_deref()).await {
        return refused(&state, &post, e).await;
    }
    let user_id = post.current.found.user.id.clone();
    let to = format!(
        "{}/account?notice=two-factor-off",
        state.config().pages.path
    );
    Ok(Sent::see_other(&state, &to, |mut response| {
        tell_edge_sessions_ended(&state, &headers, &user_id, &mut response);
        response
    }))
}
