//! The steps of a provider sign-in: [`authorize`] at the start, then at the callback
//! [`identify`] (code exchange, ID-token verification, user info) and [`resolve_user`]
//! (the account by provider and subject, else linking or a new user), and
//! [`complete_sign_in`], where it ends as every sign-in does.

use axum::http::{HeaderMap, StatusCode};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::id_token::{self, Expected};
use super::state::{self, LinkTarget, Requested, StateData};
use super::{ProviderError, Resolved};
use crate::app::AppState;
use crate::auth::email_verification::send_verification;
use crate::auth::issue::Client;
use crate::auth::sign_in::{self, Completed};
use crate::config::{ClientAuthentication, GenericProvider, ProviderKind};
use crate::db::{DbError, NewProviderAccount, ProviderAccountRef, ProviderTokens, User};
use crate::http::cookies::TRUST_DEVICE;
use crate::http::error::ApiError;
use crate::http::extract::body::{is_valid_email, MAX_IMAGE_LENGTH, MAX_NAME_LENGTH};

/// How a callback fails: a redirect to the error URL with Better Auth's `error` code, or
/// an error of the origin itself (the database down).
#[derive(Debug)]
pub enum Failure {
    /// Redirect with `?error=<code>`.
    Redirect(&'static str),
    /// Answer with this error.
    Api(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Failure::Api(e)
    }
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        Failure::Api(e.into())
    }
}

/// The provider could not be reached or described itself unusably (logged; the answer says
/// only that).
fn unavailable(provider: &GenericProvider, e: &ProviderError) -> ApiError {
    tracing::warn!(provider = %provider.provider_id, error = %e, "OAuth provider unavailable");
    ApiError::with_code(
        StatusCode::BAD_GATEWAY,
        "PROVIDER_UNAVAILABLE",
        "The sign-in provider could not be reached",
    )
}

/// At the callback (a browser navigation), a provider that cannot be reached ends in the
/// error redirect `provider_unavailable`, logged.
fn unreachable_at_callback(provider: &GenericProvider, e: &ProviderError) -> Failure {
    tracing::warn!(provider = %provider.provider_id, error = %e, "OAuth provider unavailable");
    Failure::Redirect("provider_unavailable")
}

/// Whether PKCE is sent: when configured, and whenever discovery lists S256.
fn uses_pkce(provider: &GenericProvider, resolved: &Resolved) -> bool {
    provider.pkce || resolved.s256
}

/// `base64url(SHA-256(verifier))`, RFC 7636's S256.
pub fn code_challenge(verifier: &str) -> String {
    use base64ct::{Base64UrlUnpadded, Encoding};
    use sha2::{Digest, Sha256};
    Base64UrlUnpadded::encode_string(&Sha256::digest(verifier.as_bytes()))
}

/// The callback URL registered with the provider: Better Auth's `/callback/<id>` for a
/// built-in provider, `/oauth2/callback/<id>` for a `genericOAuth` one.
pub fn redirect_uri(state: &AppState, provider: &GenericProvider) -> String {
    let path = if provider.kind.is_social() {
        "/callback"
    } else {
        "/oauth2/callback"
    };
    provider
        .redirect_uri
        .clone()
        .unwrap_or_else(|| state.auth_url(&format!("{path}/{}", provider.provider_id)))
}

/// A sign-in's start: the provider's authorization URL and the state cookie.
#[derive(Debug, Clone)]
pub struct Authorization {
    /// Where to send the browser.
    pub url: String,
    /// `Set-Cookie` of `better-auth.state`.
    pub cookie: String,
}

/// Starts a sign-in: stores the state and builds the authorization URL, with Better Auth's
/// parameters in its order (`response_type, client_id, state, scope, redirect_uri`, then
/// `prompt`, `access_type`, `login_hint`, `response_mode`, `nonce`, PKCE, and the
/// configured extras). `scopes` are the request's, asked before the configured ones
/// (`genericOAuth`) or after them (built-in providers, as Better Auth). Apple is asked
/// `response_type=code id_token` with `response_mode=form_post`, as Better Auth asks it.
pub async fn authorize(
    state: &AppState,
    provider: &GenericProvider,
    mut requested: Requested,
    scopes: &[String],
) -> Result<Authorization, ApiError> {
    let engine = state.oauth();
    let resolved = engine
        .resolve(provider, state.now())
        .await
        .map_err(|e| unavailable(provider, &e))?;
    requested.with_nonce = resolved.jwks.is_some();
    requested.provider_id = Some(provider.provider_id.clone());
    let login_hint = requested.login_hint.take();
    let created = state::create(state, requested).await?;
    let mut url = url::Url::parse(&resolved.authorization).map_err(ApiError::internal)?;
    let ordered: Vec<&String> = if provider.kind.is_social() {
        provider.scopes.iter().chain(scopes).collect()
    } else {
        scopes.iter().chain(&provider.scopes).collect()
    };
    let scope = ordered
        .into_iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let apple = provider.kind == ProviderKind::Apple;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair(
                "response_type",
                if apple { "code id_token" } else { "code" },
            )
            .append_pair("client_id", &provider.client_id)
            .append_pair("state", &created.state)
            .append_pair("scope", &scope)
            .append_pair("redirect_uri", &redirect_uri(state, provider));
        if let Some(prompt) = &provider.prompt {
            query.append_pair("prompt", prompt);
        }
        if let Some(access_type) = &provider.access_type {
            query.append_pair("access_type", access_type);
        }
        if let Some(hint) = &login_hint {
            query.append_pair("login_hint", hint);
        }
        if apple {
            query.append_pair("response_mode", "form_post");
        }
        if let Some(nonce) = &created.data.nonce {
            query.append_pair("nonce", nonce);
        }
        if uses_pkce(provider, &resolved) {
            query
                .append_pair("code_challenge_method", "S256")
                .append_pair(
                    "code_challenge",
                    &code_challenge(&created.data.code_verifier),
                );
        }
        for (name, value) in &provider.authorization_url_params {
            query.append_pair(name, value);
        }
    }
    Ok(Authorization {
        url: url.into(),
        cookie: created.cookie,
    })
}

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's subject (`accountId`).
    pub subject: String,
    /// The email address, lower-cased.
    pub email: Option<String>,
    /// Whether the provider asserts the address is verified.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Avatar URL.
    pub image: Option<String>,
    /// The tokens, as they will be stored (sealed if so configured).
    pub tokens: ProviderTokens,
}

fn as_bool(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s == "true",
        _ => false,
    }
}

fn as_subject(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

fn seconds_from(now: DateTime<Utc>, value: Option<&Value>) -> Option<DateTime<Utc>> {
    let seconds = match value? {
        Value::Number(n) => n.as_i64()?,
        Value::String(s) => s.parse().ok()?,
        _ => return None,
    };
    (0..=10 * 365 * 24 * 3600)
        .contains(&seconds)
        .then(|| now + Duration::seconds(seconds))
}

/// Exchanges the code, verifies the ID token (if the provider has a JWKS) and reads the
/// identity from its claims, or from the user-info endpoint (whose `sub` must then be the
/// token's).
pub async fn identify(
    state: &AppState,
    provider: &GenericProvider,
    data: &StateData,
    code: &str,
    iss: Option<&str>,
) -> Result<Identity, Failure> {
    identify_with(state, provider, data, code, iss, None).await
}

/// [`identify`], with Apple's `user` form field of the first callback (the only place
/// Apple ever gives the user's name).
pub async fn identify_with(
    state: &AppState,
    provider: &GenericProvider,
    data: &StateData,
    code: &str,
    iss: Option<&str>,
    form_user: Option<&str>,
) -> Result<Identity, Failure> {
    let engine = state.oauth();
    let now = state.now();
    let resolved = engine
        .resolve(provider, now)
        .await
        .map_err(|e| unreachable_at_callback(provider, &e))?;
    // RFC 9207: an `iss` parameter must be the provider's issuer.
    match (iss, &resolved.issuer) {
        (Some(iss), Some(issuer)) if iss != issuer => {
            return Err(Failure::Redirect("issuer_mismatch"))
        }
        (None, _) if provider.require_issuer_validation => {
            return Err(Failure::Redirect("issuer_missing"))
        }
        _ => {}
    }

    let redirect = redirect_uri(state, provider);
    let mut form: Vec<(&str, &str)> = vec![("grant_type", "authorization_code"), ("code", code)];
    if uses_pkce(provider, &resolved) {
        form.push(("code_verifier", &data.code_verifier));
    }
    form.push(("redirect_uri", &redirect));
    let basic = client_authentication(provider, &mut form);
    for (name, value) in &provider.token_url_params {
        form.push((name, value));
    }
    let answer = engine.http().post_form(&resolved.token, &form, basic).await;
    let tokens = match answer {
        Ok((200..=299, Some(tokens)))
            if tokens.get("access_token").is_some_and(Value::is_string) =>
        {
            tokens
        }
        Ok((status, body)) => {
            let error = body
                .as_ref()
                .and_then(|b| b.get("error"))
                .and_then(Value::as_str)
                .unwrap_or("");
            tracing::info!(provider = %provider.provider_id, status, error, "code exchange refused");
            return Err(Failure::Redirect("oauth_code_verification_failed"));
        }
        Err(e) => {
            tracing::warn!(provider = %provider.provider_id, error = %e, "code exchange failed");
            return Err(Failure::Redirect("oauth_code_verification_failed"));
        }
    };
    let text = |name: &str| tokens.get(name).and_then(Value::as_str);
    let access_token = text("access_token").unwrap_or_default().to_string();
    let id_token = text("id_token").map(str::to_owned);

    // The ID token, verified, when the provider publishes keys; never trusted otherwise.
    let mut claims = None;
    if let (Some(jwks_url), Some(token)) = (&resolved.jwks, &id_token) {
        let refused = |why: id_token::IdTokenError| {
            tracing::info!(provider = %provider.provider_id, %why, "ID token refused");
            Failure::Redirect("invalid_id_token")
        };
        let untrusted = id_token::parse(token).map_err(refused)?;
        let keys = engine
            .keys(provider, jwks_url, untrusted.kid.as_deref(), now)
            .await
            .map_err(|e| unreachable_at_callback(provider, &e))?;
        let key = id_token::select(&untrusted, &keys)
            .ok_or_else(|| refused(id_token::IdTokenError::UnknownKey))?;
        let (Some(issuer), Some(nonce)) = (&resolved.issuer, &data.nonce) else {
            return Err(refused(id_token::IdTokenError::Issuer));
        };
        let expected = Expected {
            issuer,
            also_issuer: also_issuer(provider, issuer),
            client_id: &provider.client_id,
            nonce: Some(nonce),
            now: now.timestamp(),
        };
        claims = Some(id_token::verify(&untrusted, key, &expected).map_err(refused)?);
    }

    let mut profile = claims.as_ref().map(|c| c.claims.clone());
    let has_email = profile
        .as_ref()
        .is_some_and(|p| p.get("email").is_some_and(Value::is_string));
    if !has_email {
        if let Some(user_info) = &resolved.user_info {
            let info = engine
                .http()
                .get_json(user_info, Some(&access_token))
                .await
                .map_err(|e| {
                    tracing::warn!(provider = %provider.provider_id, error = %e, "user info failed");
                    Failure::Redirect("user_info_is_missing")
                })?;
            let Value::Object(info) = info else {
                return Err(Failure::Redirect("user_info_is_missing"));
            };
            let info_subject = as_subject(info.get("sub").or_else(|| info.get("id")));
            if let Some(verified) = &claims {
                if info_subject.as_deref() != Some(verified.subject.as_str()) {
                    tracing::info!(provider = %provider.provider_id, "user info of another subject");
                    return Err(Failure::Redirect("user_info_is_missing"));
                }
            }
            profile = Some(info);
        }
    }
    let Some(mut profile) = profile else {
        return Err(Failure::Redirect("user_info_is_missing"));
    };
    if provider.kind == ProviderKind::GitHub {
        github_email(state, provider, &access_token, &mut profile).await;
    }
    map_user_info(provider, &mut profile);
    adapt_profile(provider.kind, &mut profile, form_user)?;
    let subject = match &claims {
        Some(verified) => verified.subject.clone(),
        None => as_subject(profile.get("sub").or_else(|| profile.get("id")))
            .ok_or(Failure::Redirect("user_info_is_missing"))?,
    };
    let (email, email_verified, name, image) = profile_fields(&profile)?;

    let seal = |token: Option<&str>| {
        token.map(|t| {
            if state.config().oauth.encrypt_tokens {
                crate::crypto::seal(&state.config().secret, t)
            } else {
                t.to_string()
            }
        })
    };
    let scope = match tokens.get("scope") {
        Some(Value::String(s)) => Some(s.split_whitespace().collect::<Vec<_>>().join(",")),
        Some(Value::Array(a)) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        _ => None,
    };
    Ok(Identity {
        subject,
        email_verified,
        email,
        name,
        image,
        tokens: ProviderTokens {
            access_token: seal(Some(&access_token)),
            refresh_token: seal(text("refresh_token")),
            id_token,
            access_token_expires_at: seconds_from(now, tokens.get("expires_in")),
            refresh_token_expires_at: seconds_from(now, tokens.get("refresh_token_expires_in")),
            scope,
        },
    })
}

/// Applies the provider's `userInfoMapping`: each mapped field is copied from its path to
/// the OpenID Connect name the rest of the flow reads (`sub`, `email`, `email_verified`,
/// `name`, `picture`); a path that leads nowhere leaves the field unset. A subject given as
/// a number becomes its decimal string, and `"true"` / `"false"` booleans.
fn map_user_info(provider: &GenericProvider, profile: &mut serde_json::Map<String, Value>) {
    let Some(mapping) = &provider.user_info_mapping else {
        return;
    };
    let mapped: Vec<(&str, Value)> = mapping
        .fields()
        .map(|(path, to, _)| {
            let mut segments = path.split('.');
            let first = segments.next().and_then(|key| profile.get(key));
            let found = segments.fold(first, |value, key| value.and_then(|v| v.get(key)));
            let value = match (to, found) {
                ("sub", Some(Value::Number(n))) => Value::String(n.to_string()),
                ("email_verified", Some(Value::String(s))) => Value::Bool(s == "true"),
                (_, Some(v)) => v.clone(),
                (_, None) => Value::Null,
            };
            (to, value)
        })
        .collect();
    for (to, value) in mapped {
        profile.insert(to.to_string(), value);
    }
}

/// The client's credentials at the token endpoint: added to `form` (`post`, Better Auth's
/// default), or returned for HTTP Basic (`basic`).
fn client_authentication<'a>(
    provider: &'a GenericProvider,
    form: &mut Vec<(&'a str, &'a str)>,
) -> Option<(&'a str, Option<&'a str>)> {
    match provider.authentication {
        ClientAuthentication::Post => {
            form.push(("client_id", &provider.client_id));
            if let Some(secret) = &provider.client_secret {
                form.push(("client_secret", secret));
            }
            None
        }
        ClientAuthentication::Basic => Some((
            provider.client_id.as_str(),
            provider.client_secret.as_deref(),
        )),
    }
}

/// The other spelling of an issuer a provider signs with: Google's tokens say
/// `accounts.google.com` as often as `https://accounts.google.com` (Better Auth accepts
/// both).
fn also_issuer<'a>(provider: &GenericProvider, issuer: &str) -> Option<&'a str> {
    (provider.kind == ProviderKind::Google && issuer == "https://accounts.google.com")
        .then_some("accounts.google.com")
}

/// GitHub's `/user` often has no (public) email: the primary address of `/user/emails`
/// (else the first) is taken, and it is verified only if `/user/emails` says so (Better
/// Auth's rule). A failed `/user/emails` leaves the address unverified.
async fn github_email(
    state: &AppState,
    provider: &GenericProvider,
    access_token: &str,
    profile: &mut serde_json::Map<String, Value>,
) {
    let emails = match &provider.emails_url {
        Some(url) => match state
            .oauth()
            .http()
            .get_json_list(url, Some(access_token))
            .await
        {
            Ok(list) => list,
            Err(e) => {
                tracing::info!(provider = %provider.provider_id, error = %e, "GitHub emails unavailable");
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let email_of = |e: &Value| e.get("email").and_then(Value::as_str).map(str::to_owned);
    let has_email = profile
        .get("email")
        .and_then(Value::as_str)
        .is_some_and(|e| !e.is_empty());
    if !has_email {
        let chosen = emails
            .iter()
            .find(|e| e.get("primary") == Some(&Value::Bool(true)))
            .or_else(|| emails.first())
            .and_then(email_of);
        if let Some(email) = chosen {
            profile.insert("email".into(), Value::String(email));
        }
    }
    let email = profile.get("email").and_then(Value::as_str);
    let verified = emails
        .iter()
        .find(|e| email.is_some() && email_of(e).as_deref() == email)
        .is_some_and(|e| e.get("verified") == Some(&Value::Bool(true)));
    profile.insert("email_verified".into(), Value::Bool(verified));
}

/// Discord's avatar URL, as Better Auth makes it: the user's own avatar (animated ones as
/// GIF), else one of the default avatars.
fn discord_avatar(profile: &serde_json::Map<String, Value>) -> Option<String> {
    let id = as_subject(profile.get("id"))?;
    match profile.get("avatar").and_then(Value::as_str) {
        Some(avatar) => {
            let format = if avatar.starts_with("a_") {
                "gif"
            } else {
                "png"
            };
            Some(format!(
                "https://cdn.discordapp.com/avatars/{id}/{avatar}.{format}"
            ))
        }
        None => {
            let discriminator = profile
                .get("discriminator")
                .and_then(Value::as_str)
                .unwrap_or("0");
            let index = if discriminator == "0" {
                (id.parse::<u64>().ok()? >> 22) % 6
            } else {
                discriminator.parse::<u64>().ok()? % 5
            };
            Some(format!(
                "https://cdn.discordapp.com/embed/avatars/{index}.png"
            ))
        }
    }
}

/// Better Auth's profile mapping of each built-in provider, written into the OpenID names
/// the rest of the flow reads (`name`, `picture`, `email_verified`).
fn adapt_profile(
    kind: ProviderKind,
    profile: &mut serde_json::Map<String, Value>,
    form_user: Option<&str>,
) -> Result<(), Failure> {
    let text = |p: &serde_json::Map<String, Value>, name: &str| {
        p.get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    match kind {
        ProviderKind::Generic | ProviderKind::Google => {}
        ProviderKind::GitHub => {
            let name = text(profile, "name").or_else(|| text(profile, "login"));
            profile.insert("name".into(), name.map_or(Value::Null, Value::String));
            let image = text(profile, "avatar_url");
            profile.insert("picture".into(), image.map_or(Value::Null, Value::String));
        }
        ProviderKind::Microsoft => {
            if profile.get("email_verified").is_none() {
                let email = text(profile, "email");
                let listed = |name: &str| {
                    profile
                        .get(name)
                        .and_then(Value::as_array)
                        .is_some_and(|l| l.iter().any(|e| e.as_str() == email.as_deref()))
                };
                let verified = email.is_some()
                    && (listed("verified_primary_email") || listed("verified_secondary_email"));
                profile.insert("email_verified".into(), Value::Bool(verified));
            }
        }
        ProviderKind::Apple => {
            let user: Option<Value> = form_user.and_then(|u| serde_json::from_str(u).ok());
            let given = user.as_ref().and_then(|u| u.get("name")).map(|n| {
                let part = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                format!("{} {}", part("firstName"), part("lastName"))
                    .trim()
                    .to_string()
            });
            if let Some(name) = given.filter(|n| !n.is_empty()) {
                profile.insert("name".into(), Value::String(name));
            }
            // Apple's ID tokens carry no picture.
            profile.remove("picture");
        }
        ProviderKind::Discord => {
            let name = text(profile, "global_name").or_else(|| text(profile, "username"));
            profile.insert("name".into(), name.map_or(Value::Null, Value::String));
            let verified = profile
                .get("verified")
                .cloned()
                .unwrap_or(Value::Bool(false));
            profile.insert("email_verified".into(), verified);
            let image = discord_avatar(profile);
            profile.insert("picture".into(), image.map_or(Value::Null, Value::String));
        }
        ProviderKind::GitLab => {
            // Better Auth refuses a blocked or locked GitLab user (no user info).
            let active = profile.get("state").and_then(Value::as_str) == Some("active");
            if !active || as_bool(profile.get("locked")) {
                return Err(Failure::Redirect("user_info_is_missing"));
            }
            let name = text(profile, "name").or_else(|| text(profile, "username"));
            profile.insert("name".into(), name.map_or(Value::Null, Value::String));
            let image = text(profile, "avatar_url");
            profile.insert("picture".into(), image.map_or(Value::Null, Value::String));
        }
    }
    Ok(())
}

/// The email (lower-cased, checked), whether it is verified, the name and the image of a
/// profile in OpenID names.
#[allow(clippy::type_complexity)]
fn profile_fields(
    profile: &serde_json::Map<String, Value>,
) -> Result<(Option<String>, bool, Option<String>, Option<String>), Failure> {
    let field = |name: &str| profile.get(name).and_then(Value::as_str).map(str::to_owned);
    let email = field("email").map(|e| e.trim().to_lowercase());
    if email.as_deref().is_some_and(|e| !is_valid_email(e)) {
        return Err(Failure::Redirect("email_is_missing"));
    }
    Ok((
        email,
        as_bool(profile.get("email_verified")),
        field("name")
            .filter(|n| !n.trim().is_empty())
            .map(|n| n.chars().take(MAX_NAME_LENGTH).collect()),
        field("picture")
            .or_else(|| field("image"))
            .filter(|i| i.len() <= MAX_IMAGE_LENGTH),
    ))
}

/// A built-in provider's profile (`/account-info`): `data` is what its user-info endpoint
/// answered, or the claims of the account's stored ID token for the providers Better Auth
/// reads from the ID token; mapped as at sign-in into `{id, name, email, image,
/// emailVerified}`.
pub async fn account_profile(
    state: &AppState,
    provider: &GenericProvider,
    access_token: &str,
    data: &serde_json::Map<String, Value>,
    account_id: &str,
) -> Result<Value, Failure> {
    let mut profile = data.clone();
    if provider.kind == ProviderKind::GitHub {
        github_email(state, provider, access_token, &mut profile).await;
    }
    map_user_info(provider, &mut profile);
    adapt_profile(provider.kind, &mut profile, None)?;
    let (email, email_verified, name, image) = profile_fields(&profile)?;
    let id = as_subject(profile.get("sub").or_else(|| profile.get("id")))
        .unwrap_or_else(|| account_id.to_string());
    Ok(serde_json::json!({
        "id": id, "name": name, "email": email, "image": image, "emailVerified": email_verified,
    }))
}

/// The claims of a stored ID token, read without verification: it was verified when the
/// account signed in, and is only shown to its owner.
pub fn stored_claims(id_token: &str) -> Option<serde_json::Map<String, Value>> {
    use base64ct::{Base64UrlUnpadded, Encoding};
    let payload = id_token.split('.').nth(1)?;
    let bytes = Base64UrlUnpadded::decode_vec(payload.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// The longest an ID token of the `idToken` flow may have been issued before (Better
/// Auth's `maxTokenAge: "1h"`).
pub const ID_TOKEN_MAX_AGE_SECS: i64 = 3600;

/// Why `/sign-in/social`'s `idToken` flow refused a token.
#[derive(Debug)]
pub enum IdTokenRefusal {
    /// The provider has no ID-token sign-in (404 `id_token not supported`).
    NotSupported,
    /// The token does not verify (401 `Invalid token`).
    Invalid,
    /// The token is fine but says nothing usable (401 `Failed to get user info`).
    NoUserInfo,
}

/// `/sign-in/social`'s `idToken` flow: a token the client obtained from Google, Apple or
/// Microsoft itself, verified like a callback's (signature against the provider's JWKS,
/// `iss`, `aud` among the provider's audiences, `azp`, `exp`, `iat` within the last hour)
/// and against the client's `nonce` when it names one (as Better Auth). Only the access
/// token of the request is kept (as Better Auth).
pub async fn identify_id_token(
    state: &AppState,
    provider: &GenericProvider,
    token: &str,
    nonce: Option<&str>,
    access_token: Option<&str>,
) -> Result<Identity, IdTokenRefusal> {
    if !provider.kind.supports_id_token_sign_in() {
        return Err(IdTokenRefusal::NotSupported);
    }
    if provider.disable_id_token_sign_in {
        return Err(IdTokenRefusal::Invalid);
    }
    let engine = state.oauth();
    let now = state.now();
    let refused = |why: id_token::IdTokenError| {
        tracing::info!(provider = %provider.provider_id, %why, "ID token refused");
        IdTokenRefusal::Invalid
    };
    let resolved = engine.resolve(provider, now).await.map_err(|e| {
        tracing::warn!(provider = %provider.provider_id, error = %e, "OAuth provider unavailable");
        IdTokenRefusal::Invalid
    })?;
    let (Some(jwks_url), Some(issuer)) = (&resolved.jwks, &resolved.issuer) else {
        return Err(IdTokenRefusal::NotSupported);
    };
    let untrusted = id_token::parse(token).map_err(refused)?;
    let keys = engine
        .keys(provider, jwks_url, untrusted.kid.as_deref(), now)
        .await
        .map_err(|e| {
            tracing::warn!(provider = %provider.provider_id, error = %e, "JWKS unavailable");
            IdTokenRefusal::Invalid
        })?;
    let key = id_token::select(&untrusted, &keys)
        .ok_or_else(|| refused(id_token::IdTokenError::UnknownKey))?;
    let mut result = Err(id_token::IdTokenError::Audience);
    for audience in &provider.id_token_audiences {
        let expected = Expected {
            issuer,
            also_issuer: also_issuer(provider, issuer),
            client_id: audience,
            nonce,
            now: now.timestamp(),
        };
        result = id_token::verify(&untrusted, key, &expected);
        if !matches!(result, Err(id_token::IdTokenError::Audience)) {
            break;
        }
    }
    let verified = result.map_err(refused)?;
    let iat = verified
        .claims
        .get("iat")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if iat < now.timestamp() - ID_TOKEN_MAX_AGE_SECS {
        return Err(refused(id_token::IdTokenError::Time));
    }
    let mut profile = verified.claims.clone();
    adapt_profile(provider.kind, &mut profile, None).map_err(|_| IdTokenRefusal::NoUserInfo)?;
    let (email, email_verified, name, image) =
        profile_fields(&profile).map_err(|_| IdTokenRefusal::NoUserInfo)?;
    let access_token = access_token.map(|t| {
        if state.config().oauth.encrypt_tokens {
            crate::crypto::seal(&state.config().secret, t)
        } else {
            t.to_string()
        }
    });
    Ok(Identity {
        subject: verified.subject,
        email,
        email_verified,
        name,
        image,
        tokens: ProviderTokens {
            access_token,
            ..ProviderTokens::default()
        },
    })
}

/// Whether a provider identity may be added to an existing user found by email: linking
/// on, the provider asserting the address verified, and the local address verified too. A
/// local account whose address was never verified may have been registered by someone
/// else (pre-account takeover): it is never linked, trusted provider or not; its owner
/// signs in and links from the account page.
pub fn may_link(state: &AppState, identity: &Identity, user: &User) -> bool {
    let oauth = &state.config().oauth;
    oauth.linking
        && !oauth.disable_implicit_linking
        && identity.email_verified
        && user.email_verified
}

/// Ends a provider sign-in as every sign-in ends ([`sign_in::complete`]: the verified-email
/// rule, the second factor, the session), remembered, with the request's trusted-device
/// cookie.
pub async fn complete_sign_in(
    state: &AppState,
    user: User,
    client: &Client,
    callback: Option<&str>,
    headers: &HeaderMap,
) -> Result<Completed, ApiError> {
    let authenticated = sign_in::Authenticated {
        attempted_as: user.email.clone(),
        user,
        method: sign_in::Method::OAuth,
    };
    let request = sign_in::Request {
        client,
        remember: true,
        callback,
        trusted_device: state.cookies().get(headers, TRUST_DEVICE),
    };
    sign_in::complete(state, authenticated, request).await
}

/// The user a provider identity signs in as: the owner of the account with this provider
/// and subject; else the user with the same email, if [`may_link`] (the account is added);
/// else a new user with the account (unless sign-up is off), mailed the verification link
/// (ending at `callback`) when the provider does not vouch for the address. `true` with a
/// new user.
///
/// A callback that loses a race for the same identity (another one made its account or
/// user first: a double click, two tabs) looks again, and signs in as the winner did.
pub async fn resolve_user(
    state: &AppState,
    provider: &GenericProvider,
    identity: &Identity,
    request_sign_up: bool,
    callback: Option<&str>,
) -> Result<(User, bool), Failure> {
    for _ in 0..2 {
        if let Some(resolved) =
            resolve_once(state, provider, identity, request_sign_up, callback).await?
        {
            return Ok(resolved);
        }
    }
    Err(Failure::Redirect("unable_to_create_user"))
}

/// [`resolve_user`]'s one look: `None` when a concurrent callback made the identity's
/// account, or a user with its email, between the look and the write.
async fn resolve_once(
    state: &AppState,
    provider: &GenericProvider,
    identity: &Identity,
    request_sign_up: bool,
    callback: Option<&str>,
) -> Result<Option<(User, bool)>, Failure> {
    let db = state.db();
    let now = state.now();
    if let Some(account) = db
        .find_provider_account(&provider.provider_id, &identity.subject)
        .await?
    {
        let mut user = db
            .find_user_by_id(&account.user_id)
            .await?
            .ok_or(Failure::Redirect("user_info_is_missing"))?;
        db.update_provider_tokens(&account.id, &identity.tokens, now)
            .await?;
        // The provider vouches for the user's own address: it is verified now (as Better
        // Auth does). Only the same address: a provider's other address proves nothing here.
        if identity.email_verified
            && !user.email_verified
            && identity
                .email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&user.email))
        {
            if let Some(verified) = db.mark_email_verified(&user.email, now).await? {
                tracing::info!(user = %user.id, provider = %provider.provider_id, "email verified by the provider");
                user = verified;
            }
        }
        if provider.override_user_info {
            let name = identity.name.as_deref().unwrap_or(&user.name).to_string();
            db.set_user_profile(&user.id, &name, identity.image.as_deref(), now)
                .await?;
            user.name = name;
            user.image = identity.image.clone();
        }
        return Ok(Some((user, false)));
    }
    let email = identity
        .email
        .clone()
        .ok_or(Failure::Redirect("email_is_missing"))?;
    if let Some(user) = db.find_user_by_email(&email).await? {
        if !may_link(state, identity, &user) {
            tracing::info!(user = %user.id, provider = %provider.provider_id, "provider identity not linked");
            return Err(Failure::Redirect("account_not_linked"));
        }
        if add_account(state, provider, identity, &user.id)
            .await?
            .is_some()
        {
            return Ok(None);
        }
        return Ok(Some((user, false)));
    }
    if provider.disable_sign_up || (provider.disable_implicit_sign_up && !request_sign_up) {
        return Err(Failure::Redirect("signup_disabled"));
    }
    let user = User {
        id: db.row_id("user").await?,
        name: identity.name.clone().unwrap_or_else(|| email.clone()),
        email,
        email_verified: identity.email_verified,
        image: identity.image.clone(),
        created_at: now,
        updated_at: now,
        two_factor_enabled: false,
        extra: db.schema().user_defaults().shown,
    };
    let id = db.row_id("account").await?;
    let account = NewProviderAccount {
        id: &id,
        provider_id: &provider.provider_id,
        account_id: &identity.subject,
        user_id: &user.id,
        tokens: &identity.tokens,
        now,
    };
    match db.create_provider_user(&user, &account).await {
        Ok(()) => {}
        // The email is taken: by a concurrent callback for this identity, or a sign-up.
        Err(DbError::Conflict) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user = %user.id, provider = %provider.provider_id, "user created from provider");
    // An address the provider does not vouch for gets the sign-up verification mail, as a
    // password sign-up's does. The user exists already: a mail that cannot be queued is
    // logged, not a failed sign-in (the user can ask for another).
    if !user.email_verified
        && state.config().lifecycle.verification_on_sign_up
        && state.mailer().enabled()
    {
        if let Err(e) = send_verification(state, &user, callback).await {
            tracing::warn!(user = %user.id, status = %e.status(), "verification mail not queued");
        }
    }
    Ok(Some((user, true)))
}

/// Adds `identity` as an account of `user_id` ([`crate::db::Db::insert_provider_account`]): `None`
/// when added, else the account a concurrent callback gave it first (nothing written).
async fn add_account(
    state: &AppState,
    provider: &GenericProvider,
    identity: &Identity,
    user_id: &str,
) -> Result<Option<ProviderAccountRef>, Failure> {
    let db = state.db();
    let id = db.row_id("account").await?;
    let existing = db
        .insert_provider_account(&NewProviderAccount {
            id: &id,
            provider_id: &provider.provider_id,
            account_id: &identity.subject,
            user_id,
            tokens: &identity.tokens,
            now: state.now(),
        })
        .await?;
    if existing.is_none() {
        tracing::info!(user = %user_id, provider = %provider.provider_id, "provider identity linked");
    }
    Ok(existing)
}

/// A link flow's end (`/oauth2/link`, Better Auth's core rules, which its genericOAuth skips):
/// linking on, the provider trusted or asserting the address verified
/// (`unable_to_link_account`), the provider's address the user's own unless
/// `allowDifferentEmails` (`email_doesn't_match`), and the identity, found by provider and
/// subject, not another user's (`account_already_linked_to_different_user`). Already the
/// user's: its tokens are refreshed. A new link copies the provider's name and image with
/// `updateUserInfoOnLink`.
pub async fn link_identity(
    state: &AppState,
    provider: &GenericProvider,
    identity: &Identity,
    link: &LinkTarget,
) -> Result<(), Failure> {
    let oauth = &state.config().oauth;
    let trusted = oauth.trusted_providers.contains(&provider.provider_id);
    if !oauth.linking || !(trusted || identity.email_verified) {
        return Err(Failure::Redirect("unable_to_link_account"));
    }
    let db = state.db();
    let now = state.now();
    let user = db
        .find_user_by_id(&link.user_id)
        .await?
        .ok_or(Failure::Redirect("unable_to_link_account"))?;
    if !oauth.allow_different_emails
        && identity.email.as_deref() != Some(user.email.to_lowercase().as_str())
    {
        return Err(Failure::Redirect("email_doesn't_match"));
    }
    match db
        .find_provider_account(&provider.provider_id, &identity.subject)
        .await?
    {
        Some(account) if account.user_id != user.id => Err(Failure::Redirect(
            "account_already_linked_to_different_user",
        )),
        Some(account) => {
            db.update_provider_tokens(&account.id, &identity.tokens, now)
                .await?;
            Ok(())
        }
        None => {
            // Linked by a concurrent callback meanwhile: to this user, done; to another,
            // refused as if it had come first.
            if let Some(account) = add_account(state, provider, identity, &user.id).await? {
                return if account.user_id == user.id {
                    Ok(())
                } else {
                    Err(Failure::Redirect(
                        "account_already_linked_to_different_user",
                    ))
                };
            }
            if oauth.update_user_info_on_link {
                let name = identity.name.as_deref().unwrap_or(&user.name);
                db.set_user_profile(&user.id, name, identity.image.as_deref(), now)
                    .await?;
            }
            Ok(())
        }
    }
}

/// A stored provider token in the clear: opened when it is sealed (Better Auth's
/// `encryptOAuthTokens` format, lower-case hex of at least nonce and tag), as it is when it
/// is not (written with encryption off, by edgeauth or Better Auth). `None`: sealed under
/// another secret, or damaged.
pub fn open_token(state: &AppState, stored: &str) -> Option<String> {
    let sealed_shape = stored.len() >= 2 * (crate::crypto::NONCE_LEN + 16)
        && stored.len() % 2 == 0
        && stored
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    if sealed_shape {
        crate::crypto::open(&state.config().secret, stored).ok()
    } else {
        Some(stored.to_string())
    }
}

/// Tokens fresh from a refresh, in the clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refreshed {
    /// The new access token.
    pub access_token: String,
    /// The new refresh token, or the old one when the provider sent none.
    pub refresh_token: String,
    /// When the access token expires.
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// When the refresh token expires.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// The scopes granted, comma-joined (the old ones when the provider names none).
    pub scope: Option<String>,
}

/// Refreshes a provider account's tokens (`grant_type=refresh_token`) and stores them
/// (sealed if so configured). A new ID token in the answer is not stored: it is kept only
/// from a sign-in, where it was verified with its nonce.
pub async fn refresh(
    state: &AppState,
    provider: &GenericProvider,
    account: &crate::db::AccountRow,
    refresh_token: &str,
) -> Result<Refreshed, Failure> {
    let engine = state.oauth();
    let now = state.now();
    let resolved = engine
        .resolve(provider, now)
        .await
        .map_err(|e| unreachable_at_callback(provider, &e))?;
    let mut form: Vec<(&str, &str)> = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ];
    // Better Auth asks Microsoft for the configured scopes again on refresh.
    let scope = provider.scopes.join(" ");
    if provider.kind == ProviderKind::Microsoft {
        form.push(("scope", &scope));
    }
    let basic = client_authentication(provider, &mut form);
    let tokens = match engine.http().post_form(&resolved.token, &form, basic).await {
        Ok((200..=299, Some(tokens)))
            if tokens.get("access_token").is_some_and(Value::is_string) =>
        {
            tokens
        }
        Ok((status, _)) => {
            tracing::info!(provider = %provider.provider_id, status, "token refresh refused");
            return Err(Failure::Redirect("refresh_failed"));
        }
        Err(e) => {
            tracing::warn!(provider = %provider.provider_id, error = %e, "token refresh failed");
            return Err(Failure::Redirect("refresh_failed"));
        }
    };
    let text = |name: &str| tokens.get(name).and_then(Value::as_str);
    let scope = match tokens.get("scope") {
        Some(Value::String(s)) => Some(s.split_whitespace().collect::<Vec<_>>().join(",")),
        _ => account.scope.clone(),
    };
    let refreshed = Refreshed {
        access_token: text("access_token").unwrap_or_default().to_string(),
        refresh_token: text("refresh_token").unwrap_or(refresh_token).to_string(),
        access_token_expires_at: seconds_from(now, tokens.get("expires_in")),
        refresh_token_expires_at: seconds_from(now, tokens.get("refresh_token_expires_in"))
            .or(account.refresh_token_expires_at),
        scope,
    };
    let seal = |token: &str| {
        if state.config().oauth.encrypt_tokens {
            crate::crypto::seal(&state.config().secret, token)
        } else {
            token.to_string()
        }
    };
    let stored = ProviderTokens {
        access_token: Some(seal(&refreshed.access_token)),
        refresh_token: Some(seal(&refreshed.refresh_token)),
        id_token: None,
        access_token_expires_at: refreshed.access_token_expires_at,
        refresh_token_expires_at: refreshed.refresh_token_expires_at,
        scope: refreshed.scope.clone(),
    };
    state
        .db()
        .update_provider_tokens(&account.id, &stored, now)
        .await?;
    Ok(refreshed)
}
