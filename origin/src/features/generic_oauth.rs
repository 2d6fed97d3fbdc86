//! Sign-in with OAuth 2.0 / OpenID Connect providers (Better Auth's `genericOAuth` plugin),
//! served when `EDGEAUTH_GENERIC_OAUTH` configures at least one provider. The rules are in
//! [`crate::auth::oauth`].
//!
//! | endpoint | body / query | answer |
//! |---|---|---|
//! | `POST /sign-in/oauth2` | `{providerId, callbackURL?, errorCallbackURL?, newUserCallbackURL?, disableRedirect?, scopes?, requestSignUp?}` | `{url, redirect}` and the state cookie |
//! | `POST /oauth2/link` (session) | `{providerId, callbackURL, errorCallbackURL?, scopes?}` | `{url, redirect: true}` and the state cookie |
//! | `GET /oauth2/callback/:providerId` | `code, state, iss?` or `error, error_description?` | 302 to `newUserCallbackURL` / `callbackURL` with the session cookie, or to the error URL with `?error=` |
//!
//! Every callback URL is validated like every redirect target (403 `Invalid callbackURL`,
//! `Invalid errorCallbackURL`, `Invalid newUserCallbackURL`), and every value put in a
//! redirect is percent-encoded.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Json;
use serde_json::{json, Value};

use super::endpoint::{
    ApiRoutes, Caller, Endpoint, Field, Method, Reply, Shape, Type, INVALID_INPUT, NO_SESSION,
    UNTRUSTED_ORIGIN,
};
use super::Feature;
use crate::app::AppState;
use crate::auth::oauth::flow::{self, Failure};
use crate::auth::oauth::state::{self, LinkTarget, Requested, STATE_COOKIE};
use crate::auth::sign_in::Completed;
use crate::config::GenericProvider;
use crate::http::cookies::CookieHeaders;
use crate::http::error::{derive_code, ApiError};
use crate::http::extract::body::{optional_bool, optional_str, required_str, RawBody};
use crate::http::extract::client_ip::SessionClient;
use crate::http::extract::session::CurrentSession;
use crate::http::redirect::{found, with_query};

/// Sign-in with `genericOAuth` providers.
pub const FEATURE: Feature = Feature {
    name: "generic-oauth",
    routes,
    origin_checked: true,
    // `/sign-in/oauth2` falls under email-password's `/sign-in` rule (3 per 10 s).
    rate_limits: &[],
};

fn routes(state: &AppState) -> ApiRoutes {
    if state.config().oauth.generic.is_empty() {
        return ApiRoutes::new();
    }
    ApiRoutes::new()
        .route(&SIGN_IN_OAUTH2, post(sign_in_oauth2))
        .route(&LINK, post(link))
        .route(&CALLBACK, get(callback))
}

const REDIRECT_TO_PROVIDER: Reply = Reply::ok(
    "The provider's authorization URL (the state cookie is set)",
    Shape::Object(&[
        Field::required("url", Type::String, "Where to send the browser"),
        Field::required(
            "redirect",
            Type::Boolean,
            "Whether the client should go there",
        ),
    ]),
);

/// Body fields the provider endpoints share (here and in [`super::social`]).
pub(super) const ERROR_CALLBACK_URL: Field = Field::optional(
    "errorCallbackURL",
    Type::String,
    "Where to land on an error",
);
pub(super) const NEW_USER_CALLBACK_URL: Field =
    Field::optional("newUserCallbackURL", Type::String, "Where a new user lands");
pub(super) const DISABLE_REDIRECT: Field = Field::optional(
    "disableRedirect",
    Type::Boolean,
    "Answer redirect: false (the client goes itself)",
);
pub(super) const SCOPES: Field = Field::optional(
    "scopes",
    Type::Strings,
    "Scopes to ask for besides the configured ones",
);
pub(super) const REQUEST_SIGN_UP: Field = Field::optional(
    "requestSignUp",
    Type::Boolean,
    "Create the user even when sign-up is implicit-off",
);

static SIGN_IN_OAUTH2: Endpoint = Endpoint {
    description: "State is bound to the browser (signed cookie, single use, 10 minutes); \
                  PKCE S256 and a nonce are sent; every callback URL is validated.",
    body: Some(&[
        Field::required("providerId", Type::String, "The configured provider's id"),
        Field::optional("callbackURL", Type::String, "Where to land signed in"),
        ERROR_CALLBACK_URL,
        NEW_USER_CALLBACK_URL,
        DISABLE_REDIRECT,
        SCOPES,
        REQUEST_SIGN_UP,
    ]),
    ..Endpoint::new(
        Method::Post,
        "/sign-in/oauth2",
        "Start a sign-in with an OAuth 2.0 / OpenID Connect provider",
        Caller::Anyone,
        &[
            REDIRECT_TO_PROVIDER,
            INVALID_INPUT,
            Reply::error(
                403,
                "A callback URL that is not trusted, or an untrusted origin",
            ),
            Reply::error(404, "No such provider"),
        ],
    )
};

static LINK: Endpoint = Endpoint {
    body: Some(&[
        Field::required("providerId", Type::String, "The configured provider's id"),
        Field::required("callbackURL", Type::String, "Where to land once linked"),
        ERROR_CALLBACK_URL,
        SCOPES,
    ]),
    ..Endpoint::new(
        Method::Post,
        "/oauth2/link",
        "Link a provider identity to the caller's account",
        Caller::Session,
        &[
            REDIRECT_TO_PROVIDER,
            INVALID_INPUT,
            NO_SESSION,
            UNTRUSTED_ORIGIN,
            Reply::error(404, "No such provider"),
        ],
    )
};

static CALLBACK: Endpoint = Endpoint {
    description: "Verifies the state against this browser's cookie, exchanges the code (with \
                  the PKCE verifier), verifies the ID token (signature, iss, aud, azp, exp, \
                  iat, nonce), then signs in, signs up or links under the linking rules.",
    query: &[
        Field::optional("code", Type::String, "The authorization code"),
        Field::optional("state", Type::String, "The state sent to the provider"),
        Field::optional("iss", Type::String, "The provider's issuer (RFC 9207)"),
        Field::optional("error", Type::String, "The provider's error"),
        Field::optional(
            "error_description",
            Type::String,
            "The provider's error text",
        ),
    ],
    ..Endpoint::new(
        Method::Get,
        "/oauth2/callback/{providerId}",
        "The provider sends the browser back here",
        Caller::Anyone,
        &[Reply::redirect(
            302,
            "To the callback URL signed in (the session cookie is set), to the two-factor \
             step, or to the error URL with ?error=",
        )],
    )
};

/// Most scopes a request may add.
const MAX_SCOPES: usize = 32;
/// Longest provider error text carried into a redirect.
const MAX_ERROR_TEXT: usize = 256;

fn provider<'s>(state: &'s AppState, id: &str) -> Result<&'s GenericProvider, ApiError> {
    state.config().oauth.generic_provider(id).ok_or_else(|| {
        let message = format!("No config found for provider {id}");
        ApiError::with_code(StatusCode::BAD_REQUEST, derive_code(&message), message)
    })
}

/// An optional redirect target of the body, validated: 403 `Invalid <field>`.
pub(crate) fn target(
    state: &AppState,
    body: &serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ApiError> {
    let Some(value) = optional_str(body, field)? else {
        return Ok(None);
    };
    if crate::http::redirect::is_allowed(state.config(), value) {
        Ok(Some(value.to_string()))
    } else {
        let message = format!("Invalid {field}");
        Err(ApiError::with_code(
            StatusCode::FORBIDDEN,
            derive_code(&message),
            message,
        ))
    }
}

pub(crate) fn scopes(body: &serde_json::Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let invalid = || ApiError::validation("[body.scopes] Invalid input: expected array of scopes");
    match body.get("scopes") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) if items.len() <= MAX_SCOPES => items
            .iter()
            .map(|item| match item.as_str() {
                Some(s)
                    if !s.is_empty()
                        && s.len() <= 128
                        && !s.chars().any(|c| c.is_whitespace() || c.is_control()) =>
                {
                    Ok(s.to_string())
                }
                _ => Err(invalid()),
            })
            .collect(),
        Some(_) => Err(invalid()),
    }
}

/// `POST /sign-in/oauth2`: stores the state and answers the provider's authorization URL.
async fn sign_in_oauth2(
    State(state): State<AppState>,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let provider = provider(&state, required_str(&body, "providerId")?)?;
    let requested = Requested {
        callback_url: target(&state, &body, "callbackURL")?,
        error_url: target(&state, &body, "errorCallbackURL")?,
        new_user_url: target(&state, &body, "newUserCallbackURL")?,
        request_sign_up: optional_bool(&body, "requestSignUp")?,
        with_nonce: false,
        link: None,
        provider_id: None,
        login_hint: None,
    };
    let scopes = scopes(&body)?;
    let disable_redirect = optional_bool(&body, "disableRedirect")?.unwrap_or(false);
    let authorization = flow::authorize(&state, provider, requested, &scopes).await?;
    Ok(CookieHeaders::default()
        .with_cookies([authorization.cookie])
        .apply(Json(
            json!({ "url": authorization.url, "redirect": !disable_redirect }),
        )))
}

/// `POST /oauth2/link`: starts adding a provider identity to the signed-in user. The
/// callback adds it only under Better Auth's core linking rules (see
/// [`flow::link_identity`]); the session is not changed.
async fn link(
    State(state): State<AppState>,
    CurrentSession(current): CurrentSession,
    body: RawBody,
) -> Result<Response, ApiError> {
    let body = body.object(false, false)?;
    let provider = provider(&state, required_str(&body, "providerId")?)?;
    required_str(&body, "callbackURL")?;
    let user = &current.found.user;
    let requested = Requested {
        callback_url: target(&state, &body, "callbackURL")?,
        error_url: target(&state, &body, "errorCallbackURL")?,
        new_user_url: None,
        request_sign_up: None,
        with_nonce: false,
        link: Some(LinkTarget {
            email: user.email.clone(),
            user_id: user.id.clone(),
        }),
        provider_id: None,
        login_hint: None,
    };
    let scopes = scopes(&body)?;
    let authorization = flow::authorize(&state, provider, requested, &scopes).await?;
    Ok(CookieHeaders::default()
        .with_cookies([authorization.cookie])
        .apply(Json(json!({ "url": authorization.url, "redirect": true }))))
}

/// The callback's query parameters (the first of each name).
pub(crate) fn query_params(raw: Option<&str>) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> =
        serde_urlencoded::from_str(raw.unwrap_or("")).unwrap_or_default();
    let mut seen = std::collections::HashSet::new();
    params.retain(|(name, _)| seen.insert(name.clone()));
    params
}

fn bounded(text: &str) -> String {
    text.chars().take(MAX_ERROR_TEXT).collect()
}

/// `GET /oauth2/callback/:providerId`.
async fn callback(
    State(state): State<AppState>,
    SessionClient(client): SessionClient,
    Path(provider_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let params = query_params(raw.as_deref());
    let provider = state.config().oauth.generic_provider(&provider_id);
    finish_callback(&state, &client, provider, &provider_id, &params, &headers).await
}

/// Better Auth's core callback (`/callback/:id`) names some failures differently from its
/// genericOAuth one: a built-in provider's redirect says what Better Auth's would.
fn social_code(code: &'static str) -> &'static str {
    match code {
        "oAuth_code_missing" => "no_code",
        "oauth_code_verification_failed" => "invalid_code",
        "user_info_is_missing" => "unable_to_get_user_info",
        "email_is_missing" => "email_not_found",
        other => other,
    }
}

/// A provider's callback, from its parameters (the query's, or for Apple's `form_post`
/// the posted ones): the state checked against this browser's cookie, then sign-in,
/// sign-up or link. `provider` is the one configured under `provider_id`, if any.
pub(crate) async fn finish_callback(
    state: &AppState,
    client: &crate::auth::issue::Client,
    provider: Option<&GenericProvider>,
    provider_id: &str,
    params: &[(String, String)],
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let provider_id = provider_id.to_string();
    let social = provider.is_some_and(|p| p.kind.is_social());
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let expire_state = state.cookies().delete(STATE_COOKIE);
    let default_error = state.auth_url("/error");
    let fail = |target: &str, code: &'static str| {
        let code = if social { social_code(code) } else { code };
        CookieHeaders::default()
            .with_cookies([expire_state.clone()])
            .apply(found(&with_query(target, "error", code)))
    };
    let Some(provider) = provider else {
        return Ok(fail(&default_error, "oauth_provider_not_found"));
    };
    if social && param("state").is_none() {
        // Better Auth's core callback says this one with `state=`, not `error=`.
        return Ok(CookieHeaders::default()
            .with_cookies([expire_state])
            .apply(found(&with_query(
                &default_error,
                "state",
                "state_not_found",
            ))));
    }
    let cookie = state.cookies().get(headers, STATE_COOKIE);
    let data = match state::consume(state, param("state"), cookie, state.now()).await? {
        Ok(data) => data,
        Err(refused) => {
            tracing::info!(provider = %provider_id, error = refused.code(), "OAuth state refused");
            return Ok(fail(&default_error, refused.code()));
        }
    };
    if data.provider_id.as_deref() != Some(provider_id.as_str()) {
        // A flow started with one provider, answered at another's callback (mix-up): its
        // code must not be sent to this provider.
        tracing::info!(provider = %provider_id, "OAuth state of another provider");
        return Ok(fail(&default_error, "state_mismatch"));
    }
    let error_url = data.error_url.clone().unwrap_or(default_error);
    if let Some(error) = param("error") {
        let mut target = with_query(&error_url, "error", &bounded(error));
        if let Some(description) = param("error_description") {
            target = with_query(&target, "error_description", &bounded(description));
        }
        return Ok(CookieHeaders::default()
            .with_cookies([expire_state])
            .apply(found(&target)));
    }
    let Some(code) = param("code").filter(|c| !c.is_empty() && c.len() <= 2048) else {
        return Ok(fail(&error_url, "oAuth_code_missing"));
    };
    if let Some(link) = &data.link {
        let linked = async {
            let identity =
                flow::identify_with(state, provider, &data, code, param("iss"), param("user"))
                    .await?;
            flow::link_identity(state, provider, &identity, link).await
        }
        .await;
        return match linked {
            Ok(()) => Ok(CookieHeaders::default()
                .with_cookies([expire_state])
                .apply(found(&data.callback_url))),
            Err(Failure::Redirect(code)) => Ok(fail(&error_url, code)),
            Err(Failure::Api(e)) => Err(e),
        };
    }
    let outcome = async {
        let identity =
            flow::identify_with(state, provider, &data, code, param("iss"), param("user")).await?;
        flow::resolve_user(
            state,
            provider,
            &identity,
            data.request_sign_up.unwrap_or(false),
            Some(&data.callback_url),
        )
        .await
    }
    .await;
    let (user, new_user) = match outcome {
        Ok(found) => found,
        Err(Failure::Redirect(code)) => return Ok(fail(&error_url, code)),
        Err(Failure::Api(e)) => return Err(e),
    };
    let completed = match flow::complete_sign_in(
        state,
        user,
        client,
        Some(&data.callback_url),
        headers,
    )
    .await
    {
        Ok(completed) => completed,
        Err(e) if e.status() == StatusCode::FORBIDDEN => {
            return Ok(fail(&error_url, "email_not_verified"))
        }
        Err(e) => return Err(e),
    };
    match completed {
        Completed::SignedIn(_, session, extra) => {
            let target = match (&data.new_user_url, new_user) {
                (Some(url), true) => url.clone(),
                _ => data.callback_url.clone(),
            };
            Ok(CookieHeaders::new_session(state, &session, false)?
                .with_cookies(extra)
                .with_cookies([expire_state])
                .apply(found(&target)))
        }
        Completed::SecondFactor(cookies) => {
            // The pending sign-in's cookie is set; the second factor is asked on the hosted
            // page when there is one, else by the application at its callback URL.
            let pages = &state.config().pages;
            let target = if pages.enabled {
                with_query(
                    &format!("{}/two-factor", pages.path),
                    "callbackURL",
                    &data.callback_url,
                )
            } else {
                with_query(&data.callback_url, "twoFactorRedirect", "true")
            };
            Ok(CookieHeaders::default()
                .with_cookies(cookies)
                .with_cookies([expire_state])
                .apply(found(&target)))
        }
    }
}

#[cfg(test)]
#[path = "generic_oauth_tests.rs"]
mod tests;
