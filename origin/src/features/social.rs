//! Sign-in with Better Auth's built-in social providers (Google, GitHub, Microsoft Entra
//! ID, Apple, Discord, GitLab), served when `EDGEAUTH_SOCIAL_PROVIDERS` or
//! `EDGEAUTH_GENERIC_OAUTH` configures a provider (as in Better Auth, `/sign-in/social`
//! and `/link-social` also take `genericOAuth` ids). The flow is [`crate::auth::oauth`]'s,
//! the one `genericOAuth` uses; a built-in provider is only a description of endpoints,
//! scopes, parameters and profile mapping ([`crate::config::ProviderKind`]).
//!
//! | endpoint | body / query | answer |
//! |---|---|---|
//! | `POST /sign-in/social` | `{provider, callbackURL?, errorCallbackURL?, newUserCallbackURL?, disableRedirect?, scopes?, requestSignUp?, loginHint?, idToken?}` | redirect flow: `{url, redirect}` (+ `Location`) and the state cookie; `idToken` flow: `{redirect: false, token, user}` and the session cookie |
//! | `POST /link-social` (session) | `{provider, callbackURL?, errorCallbackURL?, scopes?, disableRedirect?, idToken?}` | `{url, redirect}` and the state cookie; `idToken` flow: `{url: "", status: true, redirect: false}` |
//! | `GET /callback/:providerId` | `code, state` or `error, error_description?` (Apple: `form_post`, see below) | 302 to the callback URL signed in, or to the error URL with `?error=` |
//! | `POST /callback/:providerId` | Apple's `form_post`: `code, state, user?` | 302 to `GET /callback/:providerId` |

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Json;
use chrono::Duration;
use serde_json::{json, Map, Value};

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, INVALID_INPUT, NO_SESSION,
    UNTRUSTED_ORIGIN,
};
use super::generic_oauth::{
    finish_callback, query_params, scopes, target, DISABLE_REDIRECT, ERROR_CALLBACK_URL,
    NEW_USER_CALLBACK_URL, REQUEST_SIGN_UP, SCOPES,
};
use super::Feature;
use crate::app::AppState;
use crate::auth::oauth::flow::{self, Failure, IdTokenRefusal};
use crate::auth::oauth::state::{LinkTarget, Requested};
use crate::auth::sign_in::Completed;
use crate::config::GenericProvider;
use crate::http::cookies::CookieHeaders;
use crate::http::error::{derive_code, ApiError};
use crate::http::extract::body::{optional_bool, optional_str, required_str, RawBody};
use crate::http::extract::client_ip::SessionClient;
use crate::http::extract::session::CurrentSession;
use crate::http::redirect::{found, with_query};
use crate::ids;

/// `/sign-in/social` and `/link-social` (behind the origin check).
pub const FEATURE: Feature = Feature {
    name: "social",
    routes,
    origin_checked: true,
    // `/sign-in/social` falls under email-password's `/sign-in` rule (3 per 10 s).
    rate_limits: &[],
};

/// `/callback/:providerId`: a provider's redirect, which for Apple is a cross-site form
/// post and so carries no trusted `Origin` (nor the browser's SameSite=Lax cookies); it
/// changes nothing until the state is checked against the browser's cookie.
pub const CALLBACK_FEATURE: Feature = Feature {
    name: "social-callback",
    routes: callback_routes,
    origin_checked: false,
    rate_limits: &[],
};

fn routes(state: &AppState) -> ApiRoutes {
    if !state.config().oauth.has_providers() {
        return ApiRoutes::new();
    }
    ApiRoutes::new()
        .route(&SIGN_IN_SOCIAL, post(sign_in_social))
        .route(&LINK_SOCIAL, post(link_social))
}

fn callback_routes(state: &AppState) -> ApiRoutes {
    if state.config().oauth.social.is_empty() {
        return ApiRoutes::new();
    }
    ApiRoutes::new()
        .route(&CALLBACK, get(callback))
        .route(&CALLBACK_POST, post(callback_post))
}

const REDIRECT_TO_PROVIDER: Reply = Reply::ok(
    "The provider's authorization URL (the state cookie is set; with redirect, also in \
     Location), or with idToken the session",
    Shape::Object(&[
        Field::optional("url", Type::String, "Where to send the browser"),
        Field::required(
            "redirect",
            Type::Boolean,
            "Whether the client should go there",
        ),
        Field::optional("token", Type::String, "idToken flow: the session token"),
        Field::optional("user", Type::Object, "idToken flow: the user"),
        Field::optional(
            "twoFactorRedirect",
            Type::Boolean,
            "idToken flow: a second factor is needed",
        ),
    ]),
);

static SIGN_IN_SOCIAL: Endpoint = Endpoint {
    description: "Redirect flow: state bound to the browser (signed cookie, single use, 10 \
                  minutes), PKCE S256 where the provider supports it, a nonce to OpenID \
                  providers; every callback URL is validated. idToken flow (Google, Apple, \
                  Microsoft): the token is verified against the provider's JWKS (iss, aud, \
                  azp, exp, iat within the hour, and the nonce when given).",
    body: Some(&[
        Field::required(
            "provider",
            Type::String,
            "google, github, microsoft, apple, discord, gitlab, or a genericOAuth id",
        ),
        Field::optional("callbackURL", Type::String, "Where to land signed in"),
        ERROR_CALLBACK_URL,
        NEW_USER_CALLBACK_URL,
        DISABLE_REDIRECT,
        SCOPES,
        REQUEST_SIGN_UP,
        Field::optional("loginHint", Type::String, "Sent as login_hint"),
        Field::optional(
            "idToken",
            Type::Object,
            "{token, nonce?, accessToken?, refreshToken?, expiresAt?}: sign in with an ID \
             token the client obtained",
        ),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/sign-in/social",
        "Start a sign-in with a social provider, or sign in with its ID token",
        Caller::Anyone,
        &[
            REDIRECT_TO_PROVIDER,
            INVALID_INPUT,
            Reply::error(401, "idToken flow: the token does not verify, or no user"),
            Reply::error(
                403,
                "A callback URL that is not trusted, or an untrusted origin",
            ),
            Reply::error(404, "No such provider, or no idToken flow for it"),
        ],
    )
};

static LINK_SOCIAL: Endpoint = Endpoint {
    description: "The callback links only under Better Auth's core rules (linking on; the \
                  provider trusted or asserting the address verified; the same address), \
                  and finds accounts by provider and subject together.",
    body: Some(&[
        Field::required(
            "provider",
            Type::String,
            "A configured provider's id (built in or genericOAuth)",
        ),
        Field::optional("callbackURL", Type::String, "Where to land once linked"),
        ERROR_CALLBACK_URL,
        SCOPES,
        DISABLE_REDIRECT,
        Field::optional(
            "idToken",
            Type::Object,
            "{token, nonce?, accessToken?}: link the identity of an ID token",
        ),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/link-social",
        "Link a social provider identity to the caller's account",
        Caller::Session,
        &[
            Reply::ok(
                "The provider's authorization URL (the state cookie is set), or with \
                 idToken {url: \"\", status: true, redirect: false}",
                Shape::Object(&[
                    Field::required("url", Type::String, "Where to send the browser"),
                    Field::required(
                        "redirect",
                        Type::Boolean,
                        "Whether the client should go there",
                    ),
                    Field::optional("status", Type::Boolean, "idToken flow: linked"),
                ]),
            ),
            INVALID_INPUT,
            NO_SESSION,
            Reply::error(401, "idToken flow: invalid token, or linking refused"),
            UNTRUSTED_ORIGIN,
            Reply::error(404, "No such provider"),
        ],
    )
};

const CALLBACK_REPLY: &[Reply] = &[Reply::redirect(
    302,
    "To the callback URL signed in (the session cookie is set), to the two-factor step, \
     or to the error URL with ?error=",
)];

static CALLBACK: Endpoint = Endpoint {
    description: "Verifies the state against this browser's cookie, exchanges the code, \
                  verifies the ID token (signature, iss, aud, azp, exp, iat, nonce), reads \
                  the provider's profile, then signs in, signs up or links under the linking \
                  rules.",
    query: &[
        Field::optional("code", Type::String, "The authorization code"),
        Field::optional("state", Type::String, "The state sent to the provider"),
        Field::optional("error", Type::String, "The provider's error"),
        Field::optional(
            "error_description",
            Type::String,
            "The provider's error text",
        ),
        Field::optional(
            "form_post",
            Type::String,
            "Set by POST /callback: names the parameters Apple posted",
        ),
    ],
    ..Endpoint::new(
        Method::Get,
        "/callback/{providerId}",
        "A social provider sends the browser back here",
        Caller::Anyone,
        CALLBACK_REPLY,
    )
};

static CALLBACK_POST: Endpoint = Endpoint {
    description: "Apple's response_mode=form_post. The posted parameters are kept for a \
                  minute under a random name and the browser is sent to GET \
                  /callback/{providerId}?form_post=<name>, a top-level navigation that \
                  carries the SameSite=Lax state cookie; the authorization code never \
                  appears in a URL.",
    body: Some(&[
        Field::optional("code", Type::String, "The authorization code"),
        Field::optional("state", Type::String, "The state sent to the provider"),
        Field::optional(
            "user",
            Type::String,
            "Apple, first sign-in only: the user's name, as JSON",
        ),
        Field::optional("error", Type::String, "The provider's error"),
    ]),
    ..Endpoint::new(
        Method::Post,
        "/callback/{providerId}",
        "A social provider posts its answer here (Apple)",
        Caller::Anyone,
        &[Reply::redirect(302, "To GET /callback/{providerId}")],
    )
};

/// How long the parameters of a form post wait for the browser's GET.
const FORM_POST_TTL_SECS: i64 = 60;
/// The longest value kept from a form post (Apple's `id_token` is a few KiB).
const MAX_FORM_VALUE: usize = 16 * 1024;
/// The most kept from one form post, all fields together.
const MAX_FORM_POST: usize = 32 * 1024;
/// Length of a `state` (Better Auth's 32 characters).
const STATE_LEN: usize = 32;
/// The longest `loginHint`.
const MAX_LOGIN_HINT: usize = 320;

fn not_found() -> ApiError {
    let message = "Provider not found";
    ApiError::with_code(StatusCode::NOT_FOUND, derive_code(message), message)
}

fn provider<'s>(state: &'s AppState, id: &str) -> Result<&'s GenericProvider, ApiError> {
    state.config().oauth.provider(id).ok_or_else(not_found)
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::with_code(
        StatusCode::UNAUTHORIZED,
        derive_code(message),
        message.to_string(),
    )
}

/// An `idToken` of a body: `(token, nonce, accessToken)`.
type IdTokenBody = (String, Option<String>, Option<String>);

/// The body's `idToken`, if any.
fn id_token_of(body: &Map<String, Value>) -> Result<Option<IdTokenBody>, ApiError> {
    match body.get("idToken") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(id_token)) => {
            let token = required_str(id_token, "token")
                .map_err(|_| ApiError::validation("[body.idToken.token] Invalid input"))?;
            let text = |name: &str| {
                optional_str(id_token, name)
                    .map(|v| v.map(str::to_owned))
                    .map_err(|_| {
                        ApiError::validation(format!("[body.idToken.{name}] Invalid input"))
                    })
            };
            Ok(Some((
                token.to_string(),
                text("nonce")?,
                text("accessToken")?,
            )))
        }
        Some(_) => Err(ApiError::validation(
            "[body.idToken] Invalid input: expected object",
        )),
    }
}

/// The redirect flow's answer: `{url, redirect}`, with `Location` too when redirecting
/// (Better Auth sets it on the 200).
fn to_provider(authorization: flow::Authorization, redirect: bool) -> Response {
    let mut response = CookieHeaders::default()
        .with_cookies([authorization.cookie])
        .apply(Json(
            json!({ "url": authorization.url, "redirect": redirect }),
        ));
    if redirect {
        if let Ok(location) = HeaderValue::from_str(&authorization.url) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    response
}

fn id_token_refusal(refusal: IdTokenRefusal) -> ApiError {
    match refusal {
        IdTokenRefusal::NotSupported => {
            let message = "id_token not supported";
            ApiError::with_code(StatusCode::NOT_FOUND, derive_code(message), message)
        }
        IdTokenRefusal::Invalid => unauthorized("Invalid token"),
        IdTokenRefusal::NoUserInfo => unauthorized("Failed to get user info"),
    }
}

/// `POST /sign-in/social`.
async fn sign_in_social(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    headers: HeaderMap,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let provider = provider(&state, required_str(&body, "provider")?)?;
    let callback_url = target(&state, &body, "callbackURL")?;
    let error_url = target(&state, &body, "errorCallbackURL")?;
    let new_user_url = target(&state, &body, "newUserCallbackURL")?;
    let request_sign_up = optional_bool(&body, "requestSignUp")?;
    let scopes = scopes(&body)?;
    let disable_redirect = optional_bool(&body, "disableRedirect")?.unwrap_or(false);
    let login_hint = optional_str(&body, "loginHint")?
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.len() > MAX_LOGIN_HINT || h.chars().any(char::is_control) {
                Err(ApiError::validation("[body.loginHint] Invalid input"))
            } else {
                Ok(h.to_string())
            }
        })
        .transpose()?;

    if let Some((token, nonce, access_token)) = id_token_of(&body)? {
        let identity = flow::identify_id_token(
            &state,
            provider,
            &token,
            nonce.as_deref(),
            access_token.as_deref(),
        )
        .await
        .map_err(id_token_refusal)?;
        if identity.email.is_none() {
            return Err(unauthorized("User email not found"));
        }
        let (user, _) = match flow::resolve_user(
            &state,
            provider,
            &identity,
            request_sign_up.unwrap_or(false),
            callback_url.as_deref(),
        )
        .await
        {
            Ok(found) => found,
            // Better Auth answers the error text of `handleOAuthUserInfo`.
            Err(Failure::Redirect(code)) => return Err(unauthorized(&code.replace('_', " "))),
            Err(Failure::Api(e)) => return Err(e),
        };
        let completed =
            flow::complete_sign_in(&state, user, &client, callback_url.as_deref(), &headers)
                .await?;
        return match completed {
            Completed::SignedIn(user, session, extra) => {
                Ok(CookieHeaders::new_session(&state, &session, false)?
                    .with_cookies(extra)
                    .apply(Json(
                        json!({ "redirect": false, "token": session.token, "user": user }),
                    )))
            }
            // A second factor is still asked, unlike Better Auth 1.4 (whose two-factor
            // plugin does not hook `/sign-in/social`).
            Completed::SecondFactor(cookies) => Ok(CookieHeaders::default()
                .with_cookies(cookies)
                .apply(Json(json!({ "twoFactorRedirect": true })))),
        };
    }

    let requested = Requested {
        callback_url,
        error_url,
        new_user_url,
        request_sign_up,
        login_hint,
        ..Requested::default()
    };
    let authorization = flow::authorize(&state, provider, requested, &scopes).await?;
    Ok(to_provider(authorization, !disable_redirect))
}

/// `POST /link-social`: starts adding a provider identity to the signed-in user (the
/// callback links under [`flow::link_identity`]'s rules), or with `idToken` adds it at
/// once under the same rules.
async fn link_social(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let provider = provider(&state, required_str(&body, "provider")?)?;
    let user = &current.found.user;
    let link = LinkTarget {
        email: user.email.clone(),
        user_id: user.id.clone(),
    };
    if let Some((token, nonce, access_token)) = id_token_of(&body)? {
        let identity = flow::identify_id_token(
            &state,
            provider,
            &token,
            nonce.as_deref(),
            access_token.as_deref(),
        )
        .await
        .map_err(|refusal| match refusal {
            IdTokenRefusal::NotSupported => id_token_refusal(refusal),
            _ => unauthorized("Invalid token"),
        })?;
        if identity.email.is_none() {
            return Err(unauthorized("User email not found"));
        }
        return match flow::link_identity(&state, provider, &identity, &link).await {
            Ok(()) => {
                Ok(Json(json!({ "url": "", "status": true, "redirect": false })).into_response())
            }
            Err(Failure::Redirect("email_doesn't_match")) => Err(unauthorized(
                "Account not linked - different emails not allowed",
            )),
            Err(Failure::Redirect("account_already_linked_to_different_user")) => {
                Err(unauthorized("Account already linked to a different user"))
            }
            Err(Failure::Redirect(_)) => {
                Err(unauthorized("Account not linked - linking not allowed"))
            }
            Err(Failure::Api(e)) => Err(e),
        };
    }
    let requested = Requested {
        callback_url: target(&state, &body, "callbackURL")?,
        error_url: target(&state, &body, "errorCallbackURL")?,
        link: Some(link),
        ..Requested::default()
    };
    let scopes = scopes(&body)?;
    let disable_redirect = optional_bool(&body, "disableRedirect")?.unwrap_or(false);
    let authorization = flow::authorize(&state, provider, requested, &scopes).await?;
    Ok(to_provider(authorization, !disable_redirect))
}

/// `GET /callback/:providerId`: the query's parameters, or those Apple posted (kept by
/// [`callback_post`] under `form_post`).
async fn callback(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    Path(provider_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let mut params = query_params(raw.as_deref());
    let handle = params
        .iter()
        .find(|(name, _)| name == "form_post")
        .map(|(_, value)| value.clone());
    if let Some(handle) = handle {
        params = Vec::new();
        if handle.len() == FORM_POST_HANDLE_LEN {
            if let Some(row) = state.db().take_state_row(&form_post_key(&handle)).await? {
                if row.expires_at > state.now() {
                    params = serde_json::from_str(&row.value).unwrap_or_default();
                }
            }
        }
    }
    let provider = state.config().oauth.social_provider(&provider_id);
    finish_callback(&state, &client, provider, &provider_id, &params, &headers).await
}

/// Length of the random name of a form post's parameters.
const FORM_POST_HANDLE_LEN: usize = 32;

/// The `verification` row a form post's parameters are kept in.
fn form_post_key(handle: &str) -> String {
    format!("oauth-form-post:{handle}")
}

/// `POST /callback/:providerId` (Apple's `form_post`).
///
/// Better Auth answers this post with a redirect to the GET carrying every posted field in
/// the URL, the authorization code included, so the code lands in the browser's history
/// and in access logs. Here the posted fields are kept server-side for a minute in a
/// `verification` row named by a fresh random value, and only that name goes into the URL.
/// Nothing is weakened: the GET (a top-level navigation, so the SameSite=Lax state cookie
/// is sent, which this cross-site post lacks) still checks the posted `state` against the
/// browser's cookie, and the name works once. Someone who learns the name learns no code,
/// and without the victim's state cookie gets `state_mismatch`.
async fn callback_post(
    State(state): State<AppState>,
    Path(provider_id): Path<String>,
    RawQuery(raw): RawQuery,
    body: RawBody,
) -> Result<Response, ApiError> {
    // Only a configured provider's id (plain [a-z]) goes into the URL.
    if state.config().oauth.social_provider(&provider_id).is_none() {
        return Ok(found(&with_query(
            &state.auth_url("/error"),
            "error",
            "oauth_provider_not_found",
        )));
    }
    // Better Auth merges the body and the query, the query winning.
    let posted = body.object(true, true).unwrap_or_default();
    let mut params: Vec<(String, String)> = query_params(raw.as_deref());
    for (name, value) in posted {
        if params.iter().any(|(n, _)| *n == name) {
            continue;
        }
        let value = match value {
            Value::String(s) => s,
            Value::Null => continue,
            other => other.to_string(),
        };
        if value.len() <= MAX_FORM_VALUE && params.len() < 16 {
            params.push((name, value));
        }
    }
    let back = state.auth_url(&format!("/callback/{provider_id}"));
    // Nothing is kept for a post that cannot be a state's answer (no state of the right
    // shape, or more than an answer holds): the GET then says so (`state_not_found`).
    let stateful = params
        .iter()
        .any(|(n, v)| n == "state" && v.len() == STATE_LEN);
    let size: usize = params.iter().map(|(n, v)| n.len() + v.len()).sum();
    if !stateful || size > MAX_FORM_POST {
        return Ok(found(&back));
    }
    let handle = ids::random_string(FORM_POST_HANDLE_LEN);
    let now = state.now();
    let value = serde_json::to_string(&params).map_err(ApiError::internal)?;
    state
        .db()
        .insert_verification(
            &form_post_key(&handle),
            &value,
            now + Duration::seconds(FORM_POST_TTL_SECS),
            now,
        )
        .await?;
    Ok(found(&with_query(&back, "form_post", &handle)))
}
