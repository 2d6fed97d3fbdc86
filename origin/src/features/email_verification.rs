//! `POST /send-verification-email`, `GET /verify-email`, `POST /change-email`.
//!
//! Links carry Better Auth's stateless HS256 token ([`crate::auth::email_token`], minted
//! and mailed by [`crate::auth::email_verification`]); `verify-email` completes plain
//! verification and both steps of an email change.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::json;

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, INVALID_INPUT, NO_SESSION,
    UNTRUSTED_ORIGIN,
};
use super::Feature;
use crate::app::AppState;
use crate::auth::account;
use crate::auth::email_token::{
    self, EmailClaims, EmailTokenError, CHANGE_EMAIL_CONFIRMATION, CHANGE_EMAIL_VERIFICATION,
};
use crate::auth::email_verification::{
    mail_required, request_verification, send_verification, verification_link,
};
use crate::auth::issue::{new_session, Client};
use crate::config::ChangeEmail;
use crate::db::{DbError, User};
use crate::http::cookies::CookieHeaders;
use crate::http::error::{messages, ApiError};
use crate::http::extract::body::{is_valid_email, optional_str, required_str, RawBody};
use crate::http::extract::client_ip::SessionClient;
use crate::http::extract::session::{Current, CurrentSession, Lookup, MaybeSession};
use crate::http::redirect::{found, with_query};
use crate::mail::{Mail, MailKind};
use crate::rate_limit::{PathRule, Rule};

/// Email verification and email change.
pub const FEATURE: Feature = Feature {
    name: "email-verification",
    routes,
    origin_checked: true,
    rate_limits: &[
        PathRule {
            prefix: "/send-verification-email",
            rule: Rule::MAIL,
        },
        PathRule {
            prefix: "/change-email",
            rule: Rule::STRICT,
        },
    ],
};

fn routes(_: &AppState) -> ApiRoutes {
    ApiRoutes::new()
        .route(&SEND_VERIFICATION_EMAIL, post(send_verification_email))
        .route(&VERIFY_EMAIL, get(verify_email))
        .route(&CHANGE_EMAIL, post(change_email))
}

static SEND_VERIFICATION_EMAIL: Endpoint = Endpoint {
    description: "Signed out, the answer is the same whether or not the address is registered \
                  (it is looked up after answering).",
    body: Some(&[
        Field::required("email", Type::String, "The address to verify"),
        Field::optional(
            "callbackURL",
            Type::String,
            "Where the link leads once followed",
        ),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/send-verification-email",
        "Mail a verification link",
        Caller::MaybeSession,
        &[
            Reply::ok("Queued", Shape::Named("Status")),
            Reply::error(
                400,
                "Invalid input, or the session's address is already verified",
            ),
            UNTRUSTED_ORIGIN,
        ],
    )
};

static VERIFY_EMAIL: Endpoint = Endpoint {
    description: "Verifies the address, or performs a step of an email change. A link \
                  without `callbackURL` answers JSON; with it, a redirect (with `?error=` on \
                  failure).",
    query: &[
        Field::required("token", Type::String, "The mailed token"),
        Field::optional("callbackURL", Type::String, "Where to send the browser"),
    ],
    ..Endpoint::new(
        Method::Get,
        "/verify-email",
        "Follow a mailed verification link",
        Caller::MaybeSession,
        &[
            Reply::ok("Verified", Shape::Named("Status")),
            Reply::redirect(302, "Verified, or refused (`?error=`): on to `callbackURL`"),
            Reply::error(401, "The token is invalid or expired"),
            INVALID_INPUT,
        ],
    )
};

static CHANGE_EMAIL: Endpoint = Endpoint {
    description: "The address changes once the last mailed link is followed \
                  (`EDGEAUTH_CHANGE_EMAIL`: confirmed from the current address first by default).",
    body: Some(&[
        Field::required("newEmail", Type::String, "The new address"),
        Field::optional(
            "callbackURL",
            Type::String,
            "Where the links lead once followed",
        ),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/change-email",
        "Change the caller's email address",
        Caller::Session,
        &[
            Reply::ok("The first mail is queued", Shape::Named("Status")),
            Reply::error(400, "Invalid input, or changing the email is off"),
            NO_SESSION,
            UNTRUSTED_ORIGIN,
        ],
    )
};

/// `POST /send-verification-email {email, callbackURL?}`: `{"status":true}`. Signed in, the
/// address must be the session's and unverified; signed out, the answer is the same
/// whether or not the address is registered, and the lookup happens after it.
pub async fn send_verification_email(
    State(state): State<AppState>,
    MaybeSession(session_lookup): MaybeSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    mail_required(&state)?;
    let body = body.object(false, false)?;
    let email = required_str(&body, "email")?;
    let callback = optional_str(&body, "callbackURL")?;
    if let Some(callback) = callback {
        state.check_redirect(callback)?;
    }
    if !is_valid_email(email) {
        return Err(ApiError::validation("[body.email] Invalid email address"));
    }
    let email = email.to_lowercase();
    let ok = Json(json!({ "status": true })).into_response();
    if let Lookup::Live(current) = session_lookup {
        let user = &current.found.user;
        if user.email.to_lowercase() != email {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                messages::EMAIL_MISMATCH,
            ));
        }
        if user.email_verified {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                messages::EMAIL_ALREADY_VERIFIED,
            ));
        }
        send_verification(&state, user, callback).await?;
        return Ok(ok);
    }
    request_verification(&state, &email, callback).await?;
    Ok(ok)
}

/// `verify-email`'s refusal: with a callback, a redirect to it with `?error=<code>`
/// (`token_expired`, `invalid_token`, `user_not_found`, `unauthorized`); without, 401
/// `{"code": "<CODE>", "message": "<code>"}`, as Better Auth answers.
fn refuse(callback: Option<&str>, code: &'static str) -> Response {
    match callback {
        Some(callback) => found(&with_query(callback, "error", code)),
        None => {
            ApiError::with_code(StatusCode::UNAUTHORIZED, code.to_uppercase(), code).into_response()
        }
    }
}

/// The end of a successful `verify-email`: the callback, or `{"status": true, "user"}`.
fn done(callback: Option<&str>, user: Option<&User>, cookies: Option<CookieHeaders>) -> Response {
    let response = match callback {
        Some(callback) => found(callback),
        None => Json(json!({ "status": true, "user": user })).into_response(),
    };
    match cookies {
        Some(cookies) => cookies.apply(response),
        None => response,
    }
}

/// `GET /verify-email?token&callbackURL`: verifies the address, or performs a step of an
/// email change. Unlike Better Auth, following an email change link never creates a
/// session: only the verification of a sign-up may sign in (with
/// `EDGEAUTH_AUTO_SIGN_IN_AFTER_VERIFICATION`).
pub async fn verify_email(
    State(state): State<AppState>,
    MaybeSession(session_lookup): MaybeSession,
    SessionClient(client): SessionClient,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Response, ApiError> {
    let Some(token) = query.get("token") else {
        return Err(ApiError::validation(
            "[query.token] Invalid input: expected string, received undefined",
        ));
    };
    let callback = query.get("callbackURL").map(String::as_str);
    if let Some(callback) = callback {
        state.check_redirect(callback)?;
    }
    let now = state.now();
    let claims = match email_token::verify(&state.config().secret, token, now) {
        Ok(claims) => claims,
        Err(EmailTokenError::Expired) => return Ok(refuse(callback, "token_expired")),
        Err(EmailTokenError::Invalid) => return Ok(refuse(callback, "invalid_token")),
    };
    let Some(user) = state.db().find_user_by_email(&claims.email).await? else {
        return Ok(refuse(callback, "user_not_found"));
    };
    let current = match session_lookup {
        Lookup::Live(current) => Some(*current),
        _ => None,
    };
    let step = Step {
        state: &state,
        callback,
        current: current.as_ref(),
        now,
    };
    match claims.update_to.as_deref() {
        Some(update_to) => step.change_email(&claims, &user, update_to).await,
        None => step.verify(&user, &client).await,
    }
}

/// One `verify-email` request, once its token is verified and its user found.
struct Step<'a> {
    state: &'a AppState,
    callback: Option<&'a str>,
    /// The caller's session, if signed in.
    current: Option<&'a Current>,
    now: DateTime<Utc>,
}

impl Step<'_> {
    /// A step of an email change: the current address approved (mail the new one), or the
    /// new address verified (change the email). The link is refused to a session of another
    /// user.
    async fn change_email(
        &self,
        claims: &EmailClaims,
        user: &User,
        update_to: &str,
    ) -> Result<Response, ApiError> {
        let (state, callback) = (self.state, self.callback);
        if self
            .current
            .is_some_and(|c| c.found.user.email != claims.email)
        {
            return Ok(refuse(callback, "unauthorized"));
        }
        if claims.request_type.as_deref() == Some(CHANGE_EMAIL_CONFIRMATION) {
            let next = EmailClaims {
                email: claims.email.clone(),
                update_to: Some(update_to.to_string()),
                request_type: Some(CHANGE_EMAIL_VERIFICATION.to_string()),
            };
            let url = verification_link(state, &next, callback)?;
            let mail = Mail {
                kind: MailKind::VerifyEmail,
                to: update_to.to_string(),
                user_id: user.id.clone(),
                name: user.name.clone(),
                email: update_to.to_string(),
                new_email: update_to.to_string(),
                url,
                code: String::new(),
                expires_in: state.config().lifecycle.verification_expires_in,
            };
            state.mailer().send(state.db(), mail).await?;
            return Ok(done(callback, None, None));
        }
        // The new address is verified by this very link; a legacy link (no request type)
        // leaves it unverified and mails a verification to it, as Better Auth does.
        let verified = claims.request_type.as_deref() == Some(CHANGE_EMAIL_VERIFICATION);
        let updated = match state
            .db()
            .change_email(&claims.email, update_to, verified, self.now)
            .await
        {
            Ok(Some(updated)) => updated,
            Ok(None) => return Ok(refuse(callback, "user_not_found")),
            Err(DbError::Conflict) => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    messages::USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL,
                ))
            }
            Err(e) => return Err(e.into()),
        };
        tracing::info!(user = %updated.id, "email changed");
        if !verified {
            send_verification(state, &updated, callback).await?;
        }
        let cookies = self.current.map(|c| self.session_cookie(c)).transpose()?;
        Ok(done(callback, Some(&updated), cookies))
    }

    /// Plain verification: marks the address verified and, with auto sign-in, sets the
    /// session cookie (the caller's session if it is this user's, else a new one).
    async fn verify(&self, user: &User, client: &Client) -> Result<Response, ApiError> {
        let (state, callback, now) = (self.state, self.callback, self.now);
        if user.email_verified {
            return Ok(done(callback, None, None));
        }
        let Some(updated) = state.db().mark_email_verified(&user.email, now).await? else {
            return Ok(refuse(callback, "user_not_found"));
        };
        tracing::info!(user = %updated.id, "email verified");
        // A mailed link is one factor: a user with two-factor on signs in with both.
        let second_factor_required =
            state.config().two_factor.enabled && updated.two_factor_enabled;
        if !state.config().lifecycle.auto_sign_in_after_verification || second_factor_required {
            return Ok(done(callback, None, None));
        }
        let cookies = match self.current {
            Some(c) if c.found.user.id == updated.id => self.session_cookie(c)?,
            _ => {
                let session = new_session(state, client, &updated.id, true, now).await?;
                state.db().create_session(&session).await?;
                CookieHeaders::session(state, &session.token, session.expires_at, now, false)?
            }
        };
        Ok(done(callback, None, Some(cookies)))
    }

    /// The caller's session cookie again (its user changed).
    fn session_cookie(&self, current: &Current) -> Result<CookieHeaders, ApiError> {
        let session = &current.found.session;
        CookieHeaders::session(
            self.state,
            &session.token,
            session.expires_at,
            self.now,
            current.dont_remember,
        )
    }
}

/// `POST /change-email {newEmail, callbackURL?}`: `{"status":true}` once the first mail of
/// the configured flow is queued (see [`ChangeEmail`]); the email changes when the last
/// link is followed.
pub async fn change_email(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    if state.config().lifecycle.change_email == ChangeEmail::Off {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            messages::CHANGE_EMAIL_IS_DISABLED,
        ));
    }
    mail_required(&state)?;
    let body = body.object(false, false)?;
    let new_email = required_str(&body, "newEmail")?;
    let callback = optional_str(&body, "callbackURL")?;
    if let Some(callback) = callback {
        state.check_redirect(callback)?;
    }
    if !is_valid_email(new_email) {
        return Err(ApiError::validation(
            "[body.newEmail] Invalid email address",
        ));
    }
    let new_email = new_email.to_lowercase();
    account::request_email_change(&state, &current.found.user, &new_email, callback).await?;
    Ok(Json(json!({ "status": true })).into_response())
}
