//! Better Auth's core social providers (`socialProviders`), as JSON in
//! `EDGEAUTH_SOCIAL_PROVIDERS`: an object keyed by the provider's id (`google`, `github`,
//! `microsoft`, `apple`, `discord`, `gitlab`), each value in Better Auth's option shape
//! (`clientId`, `clientSecret`, `scope`, `redirectURI`, `disableDefaultScope`, `prompt`, …,
//! and the provider's own options such as Microsoft's `tenantId`).
//!
//! Each provider becomes a [`GenericProvider`] with its [`ProviderKind`]: Better Auth's
//! endpoints, default scopes and authorization parameters are filled in here, its
//! profile mapping is applied by the flow ([`crate::auth::oauth::flow`]). So the built-in
//! providers run through the same flow as `genericOAuth`'s, not a second one.
//!
//! edgeauth additions, so tests and sovereign deployments can point a provider elsewhere:
//! `authorizationEndpoint`, `tokenEndpoint`, `userInfoEndpoint`, `emailsEndpoint`
//! (GitHub's `/user/emails`), `jwksUrl` and `idTokenIssuer` (the `iss` its ID tokens carry).
//!
//! Like `EDGEAUTH_GENERIC_OAUTH`, an unknown provider, an unknown or misplaced field (an
//! option of another provider, or a function-valued one such as `mapProfileToUser`) or an
//! unusable value stops the start with a message naming the provider and the field.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::oauth::{ClientAuthentication, Endpoints, GenericProvider};
use super::{url_origin, ConfigError, Environment};

const VAR: &str = "EDGEAUTH_SOCIAL_PROVIDERS";

/// Which provider's quirks apply: a `genericOAuth` provider, or one of Better Auth's
/// built-in social providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProviderKind {
    /// A `genericOAuth` provider.
    #[default]
    Generic,
    /// Google (OpenID Connect; the profile is the ID token's).
    Google,
    /// GitHub (`/user`, then `/user/emails` for the primary verified address).
    GitHub,
    /// Microsoft Entra ID (OpenID Connect; the profile is the ID token's).
    Microsoft,
    /// Sign in with Apple (`form_post`; the name only in the first callback's `user`).
    Apple,
    /// Discord (`/users/@me`).
    Discord,
    /// GitLab (`/api/v4/user`).
    GitLab,
}

impl ProviderKind {
    /// Every built-in provider, with its Better Auth id.
    pub const SOCIAL: [(&'static str, ProviderKind); 6] = [
        ("google", ProviderKind::Google),
        ("github", ProviderKind::GitHub),
        ("microsoft", ProviderKind::Microsoft),
        ("apple", ProviderKind::Apple),
        ("discord", ProviderKind::Discord),
        ("gitlab", ProviderKind::GitLab),
    ];

    /// Whether it is one of the built-in social providers (served under `/sign-in/social`
    /// and `/callback/<id>`).
    pub fn is_social(self) -> bool {
        self != ProviderKind::Generic
    }

    /// The name shown on the pages ("Continue with GitHub").
    pub fn display_name(self) -> Option<&'static str> {
        match self {
            ProviderKind::Generic => None,
            ProviderKind::Google => Some("Google"),
            ProviderKind::GitHub => Some("GitHub"),
            ProviderKind::Microsoft => Some("Microsoft"),
            ProviderKind::Apple => Some("Apple"),
            ProviderKind::Discord => Some("Discord"),
            ProviderKind::GitLab => Some("GitLab"),
        }
    }

    /// Whether Better Auth verifies ID tokens of this provider in `/sign-in/social`'s
    /// `idToken` flow.
    pub fn supports_id_token_sign_in(self) -> bool {
        matches!(
            self,
            ProviderKind::Google | ProviderKind::Apple | ProviderKind::Microsoft
        )
    }
}

/// A string or a list of strings (Better Auth's `clientId` and Apple's `audience`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// One provider's options as written (Better Auth's names, plus edgeauth's endpoint
/// overrides).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawSocial {
    client_id: OneOrMany,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default, alias = "scopes")]
    scope: Vec<String>,
    #[serde(default, rename = "redirectURI")]
    redirect_uri: Option<String>,
    #[serde(default)]
    disable_default_scope: bool,
    #[serde(default)]
    disable_id_token_sign_in: bool,
    #[serde(default)]
    disable_implicit_sign_up: bool,
    #[serde(default)]
    disable_sign_up: bool,
    #[serde(default)]
    override_user_info_on_sign_in: bool,
    #[serde(default)]
    prompt: Option<String>,
    // Google.
    #[serde(default)]
    access_type: Option<String>,
    #[serde(default)]
    display: Option<String>,
    #[serde(default)]
    hd: Option<String>,
    // Microsoft.
    #[serde(default)]
    tenant_id: Option<String>,
    #[serde(default)]
    authority: Option<String>,
    #[serde(default)]
    disable_profile_photo: Option<bool>,
    #[serde(default)]
    profile_photo_size: Option<u32>,
    // Apple.
    #[serde(default)]
    app_bundle_identifier: Option<String>,
    #[serde(default)]
    audience: Option<OneOrMany>,
    // Discord.
    #[serde(default)]
    permissions: Option<u64>,
    // GitLab: the instance's base URL.
    #[serde(default)]
    issuer: Option<String>,
    // edgeauth's overrides.
    #[serde(default)]
    authorization_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint: Option<String>,
    #[serde(default)]
    user_info_endpoint: Option<String>,
    #[serde(default)]
    emails_endpoint: Option<String>,
    #[serde(default)]
    jwks_url: Option<String>,
    #[serde(default)]
    id_token_issuer: Option<String>,
}

fn field_error(id: &str, field: &str, why: &str) -> ConfigError {
    ConfigError::OAuth(format!("{VAR}.{id}.{field}: {why}"))
}

/// An endpoint URL: absolute http(s); https in production unless on a loopback host.
fn endpoint(id: &str, field: &str, url: &str, env: Environment) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|_| url_origin(url).is_some())
        .ok_or_else(|| field_error(id, field, "must be an absolute http(s) URL"))?;
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if env == Environment::Production && parsed.scheme() != "https" && !loopback {
        return Err(field_error(id, field, "must be https in production"));
    }
    Ok(url.to_string())
}

/// Parses `EDGEAUTH_SOCIAL_PROVIDERS`. `taken` are the `genericOAuth` ids: a built-in
/// provider may not share one (both would answer to the same `providerId` in the account
/// rows).
pub fn parse_social(
    json: &str,
    env: Environment,
    taken: &[&str],
) -> Result<Vec<GenericProvider>, ConfigError> {
    let values: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(json).map_err(|e| {
            ConfigError::OAuth(format!(
                "{VAR} must be a JSON object of providers by id: {e}"
            ))
        })?;
    let mut providers = Vec::with_capacity(values.len());
    for (id, value) in values {
        let Some((_, kind)) = ProviderKind::SOCIAL.iter().find(|(name, _)| *name == id) else {
            let known: Vec<&str> = ProviderKind::SOCIAL.iter().map(|(n, _)| *n).collect();
            return Err(ConfigError::OAuth(format!(
                "{VAR}.{id}: unknown provider (built in: {})",
                known.join(", ")
            )));
        };
        if taken.contains(&id.as_str()) {
            return Err(ConfigError::OAuth(format!(
                "{VAR}.{id}: the id is also a providerId of EDGEAUTH_GENERIC_OAUTH"
            )));
        }
        let raw: RawSocial = serde_json::from_value(value)
            .map_err(|e| ConfigError::OAuth(format!("{VAR}.{id}: {e}")))?;
        providers.push(build(&id, *kind, raw, env)?);
    }
    Ok(providers)
}

/// Refuses an option given to a provider it does not belong to.
fn only_for(id: &str, field: &str, given: bool, owner: &str) -> Result<(), ConfigError> {
    if given && id != owner {
        return Err(field_error(
            id,
            field,
            &format!("an option of {owner} only"),
        ));
    }
    Ok(())
}

fn build(
    id: &str,
    kind: ProviderKind,
    raw: RawSocial,
    env: Environment,
) -> Result<GenericProvider, ConfigError> {
    only_for(id, "accessType", raw.access_type.is_some(), "google")?;
    only_for(id, "display", raw.display.is_some(), "google")?;
    only_for(id, "hd", raw.hd.is_some(), "google")?;
    only_for(id, "tenantId", raw.tenant_id.is_some(), "microsoft")?;
    only_for(id, "authority", raw.authority.is_some(), "microsoft")?;
    only_for(
        id,
        "disableProfilePhoto",
        raw.disable_profile_photo.is_some(),
        "microsoft",
    )?;
    only_for(
        id,
        "profilePhotoSize",
        raw.profile_photo_size.is_some(),
        "microsoft",
    )?;
    only_for(
        id,
        "appBundleIdentifier",
        raw.app_bundle_identifier.is_some(),
        "apple",
    )?;
    only_for(id, "audience", raw.audience.is_some(), "apple")?;
    only_for(id, "permissions", raw.permissions.is_some(), "discord")?;
    only_for(id, "issuer", raw.issuer.is_some(), "gitlab")?;
    only_for(
        id,
        "emailsEndpoint",
        raw.emails_endpoint.is_some(),
        "github",
    )?;
    let has_id_tokens = matches!(
        kind,
        ProviderKind::Google | ProviderKind::Microsoft | ProviderKind::Apple
    );
    if !has_id_tokens {
        let which = "google, microsoft and apple";
        only_for(id, "jwksUrl", raw.jwks_url.is_some(), which)?;
        only_for(id, "idTokenIssuer", raw.id_token_issuer.is_some(), which)?;
    }
    if has_id_tokens {
        // Their profile is the ID token's (as Better Auth's).
        only_for(
            id,
            "userInfoEndpoint",
            raw.user_info_endpoint.is_some(),
            "github, discord and gitlab",
        )?;
    }

    let client_ids = raw.client_id.into_vec();
    let Some(client_id) = client_ids.first().filter(|c| !c.trim().is_empty()).cloned() else {
        return Err(field_error(id, "clientId", "must not be empty"));
    };
    let client_secret = raw.client_secret.filter(|s| !s.is_empty());
    if client_secret.is_none() {
        // Every one of these providers authenticates the client at its token endpoint
        // (Apple's secret is the pre-made client-secret JWT, as Better Auth takes it).
        return Err(field_error(id, "clientSecret", "required"));
    }
    let check_scopes = |field: &str, scopes: &[String]| {
        if scopes
            .iter()
            .any(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            return Err(field_error(
                id,
                field,
                "each scope must be non-empty, without spaces",
            ));
        }
        Ok(())
    };
    check_scopes("scope", &raw.scope)?;
    if let Some(redirect) = &raw.redirect_uri {
        endpoint(id, "redirectURI", redirect, env)?;
    }

    // Better Auth's endpoints, default scopes and parameters.
    let mut params = BTreeMap::new();
    let Described {
        scopes: defaults,
        authorization,
        token,
        user_info,
        jwks,
        issuer,
        pkce,
    } = match kind {
        ProviderKind::Google => {
            params.insert("include_granted_scopes".to_string(), "true".to_string());
            if let Some(display) = &raw.display {
                params.insert("display".into(), display.clone());
            }
            if let Some(hd) = &raw.hd {
                params.insert("hd".into(), hd.clone());
            }
            described(
                &["email", "profile", "openid"],
                "https://accounts.google.com/o/oauth2/v2/auth".into(),
                "https://oauth2.googleapis.com/token".into(),
                None,
                Some("https://www.googleapis.com/oauth2/v3/certs".into()),
                Some("https://accounts.google.com".into()),
                true,
            )
        }
        ProviderKind::GitHub => described(
            &["read:user", "user:email"],
            "https://github.com/login/oauth/authorize".into(),
            "https://github.com/login/oauth/access_token".into(),
            Some("https://api.github.com/user".into()),
            None,
            None,
            true,
        ),
        ProviderKind::Microsoft => {
            let tenant = raw.tenant_id.clone().unwrap_or_else(|| "common".into());
            if tenant.is_empty()
                || !tenant
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            {
                return Err(field_error(
                    id,
                    "tenantId",
                    "must be a tenant id, a domain, or common/organizations/consumers",
                ));
            }
            let authority = match &raw.authority {
                Some(a) => endpoint(id, "authority", a, env)?
                    .trim_end_matches('/')
                    .to_string(),
                None => "https://login.microsoftonline.com".to_string(),
            };
            // Multi-tenant endpoints: the issuer is the signing-in user's tenant's, checked
            // against the token's own `tid` (Microsoft's documented template).
            let issuer_tenant =
                if matches!(tenant.as_str(), "common" | "organizations" | "consumers") {
                    "{tenantid}"
                } else {
                    tenant.as_str()
                };
            described(
                &["openid", "profile", "email", "User.Read", "offline_access"],
                format!("{authority}/{tenant}/oauth2/v2.0/authorize"),
                format!("{authority}/{tenant}/oauth2/v2.0/token"),
                None,
                Some(format!("{authority}/{tenant}/discovery/v2.0/keys")),
                Some(format!("{authority}/{issuer_tenant}/v2.0")),
                true,
            )
        }
        ProviderKind::Apple => described(
            &["email", "name"],
            "https://appleid.apple.com/auth/authorize".into(),
            "https://appleid.apple.com/auth/token".into(),
            None,
            Some("https://appleid.apple.com/auth/keys".into()),
            Some("https://appleid.apple.com".into()),
            false,
        ),
        ProviderKind::Discord => {
            if let Some(permissions) = raw.permissions {
                if raw.scope.iter().any(|s| s == "bot") {
                    params.insert("permissions".into(), permissions.to_string());
                }
            }
            described(
                &["identify", "email"],
                "https://discord.com/api/oauth2/authorize".into(),
                "https://discord.com/api/oauth2/token".into(),
                Some("https://discord.com/api/users/@me".into()),
                None,
                None,
                false,
            )
        }
        ProviderKind::GitLab => {
            let base = match &raw.issuer {
                Some(issuer) => endpoint(id, "issuer", issuer, env)?
                    .trim_end_matches('/')
                    .to_string(),
                None => "https://gitlab.com".to_string(),
            };
            described(
                &["read_user"],
                format!("{base}/oauth/authorize"),
                format!("{base}/oauth/token"),
                Some(format!("{base}/api/v4/user")),
                None,
                None,
                true,
            )
        }
        ProviderKind::Generic => unreachable_generic(id)?,
    };
    let over = |field: &str, given: &Option<String>, default: Option<String>| {
        given
            .as_deref()
            .map(|u| endpoint(id, field, u, env))
            .transpose()
            .map(|o| o.or(default))
    };
    let authorization = over(
        "authorizationEndpoint",
        &raw.authorization_endpoint,
        Some(authorization),
    )?
    .unwrap_or_default();
    let token = over("tokenEndpoint", &raw.token_endpoint, Some(token))?.unwrap_or_default();
    let user_info = over("userInfoEndpoint", &raw.user_info_endpoint, user_info)?;
    let jwks = over("jwksUrl", &raw.jwks_url, jwks)?;
    let emails_url = match kind {
        ProviderKind::GitHub => over(
            "emailsEndpoint",
            &raw.emails_endpoint,
            Some("https://api.github.com/user/emails".into()),
        )?,
        _ => None,
    };
    let issuer = match &raw.id_token_issuer {
        Some(i) if i.trim().is_empty() => {
            return Err(field_error(id, "idTokenIssuer", "must not be empty"))
        }
        Some(i) => Some(i.clone()),
        None => issuer,
    };

    let mut scopes: Vec<String> = if raw.disable_default_scope {
        Vec::new()
    } else {
        defaults.iter().map(|s| s.to_string()).collect()
    };
    scopes.extend(raw.scope);
    let prompt = match kind {
        // Better Auth always sends Discord a prompt, `none` unless configured.
        ProviderKind::Discord => Some(raw.prompt.unwrap_or_else(|| "none".into())),
        _ => raw.prompt,
    };
    // The ID tokens of the `idToken` flow may name these audiences: the client ids, and for
    // Apple its `audience` or `appBundleIdentifier` (Better Auth's order).
    let mut audiences = client_ids;
    if kind == ProviderKind::Apple {
        if let Some(audience) = raw.audience {
            audiences = audience.into_vec();
        } else if let Some(bundle) = raw.app_bundle_identifier {
            audiences = vec![bundle];
        }
    }
    audiences.retain(|a| !a.is_empty());
    Ok(GenericProvider {
        provider_id: id.to_string(),
        client_id,
        client_secret,
        endpoints: Endpoints::Explicit {
            authorization,
            token,
            user_info,
            jwks,
        },
        issuer,
        require_issuer_validation: false,
        scopes,
        redirect_uri: raw.redirect_uri,
        prompt,
        pkce,
        access_type: raw.access_type,
        authorization_url_params: params,
        token_url_params: BTreeMap::new(),
        authentication: ClientAuthentication::Post,
        disable_implicit_sign_up: raw.disable_implicit_sign_up,
        disable_sign_up: raw.disable_sign_up,
        override_user_info: raw.override_user_info_on_sign_in,
        kind,
        emails_url,
        id_token_audiences: audiences,
        disable_id_token_sign_in: raw.disable_id_token_sign_in,
        display_name: None,
        user_info_mapping: None,
    })
}

/// A built-in provider's description, as Better Auth has it.
struct Described {
    scopes: &'static [&'static str],
    authorization: String,
    token: String,
    user_info: Option<String>,
    jwks: Option<String>,
    issuer: Option<String>,
    pkce: bool,
}

fn described(
    scopes: &'static [&'static str],
    authorization: String,
    token: String,
    user_info: Option<String>,
    jwks: Option<String>,
    issuer: Option<String>,
    pkce: bool,
) -> Described {
    Described {
        scopes,
        authorization,
        token,
        user_info,
        jwks,
        issuer,
        pkce,
    }
}

fn unreachable_generic<T>(id: &str) -> Result<T, ConfigError> {
    Err(ConfigError::OAuth(format!("{VAR}.{id}: unknown provider")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Vec<GenericProvider>, ConfigError> {
        parse_social(json, Environment::Production, &["corp"])
    }

    #[test]
    fn better_auths_endpoints_and_default_scopes() {
        let providers = parse(
            r#"{"google":{"clientId":"g","clientSecret":"s","scope":["https://www.googleapis.com/auth/drive.file"],"accessType":"offline","hd":"example.com"},
                "github":{"clientId":"h","clientSecret":"s","disableDefaultScope":true,"scopes":["repo"]},
                "microsoft":{"clientId":"m","clientSecret":"s","tenantId":"contoso.onmicrosoft.com"},
                "apple":{"clientId":"com.example.web","clientSecret":"jwt","appBundleIdentifier":"com.example.app"},
                "discord":{"clientId":"d","clientSecret":"s"},
                "gitlab":{"clientId":"l","clientSecret":"s","issuer":"https://gitlab.example/"}}"#,
        )
        .unwrap();
        let by = |id: &str| providers.iter().find(|p| p.provider_id == id).unwrap();
        let google = by("google");
        assert_eq!(google.kind, ProviderKind::Google);
        assert_eq!(
            google.scopes,
            [
                "email",
                "profile",
                "openid",
                "https://www.googleapis.com/auth/drive.file"
            ]
        );
        assert!(google.pkce);
        assert_eq!(google.access_type.as_deref(), Some("offline"));
        assert_eq!(google.authorization_url_params["hd"], "example.com");
        assert_eq!(by("github").scopes, ["repo"]);
        assert_eq!(
            by("github").emails_url.as_deref(),
            Some("https://api.github.com/user/emails")
        );
        let Endpoints::Explicit { token, jwks, .. } = &by("microsoft").endpoints else {
            panic!("explicit endpoints");
        };
        assert_eq!(
            token,
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(
            jwks.as_deref(),
            Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/discovery/v2.0/keys")
        );
        assert_eq!(
            by("microsoft").issuer.as_deref(),
            Some("https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0")
        );
        assert!(!by("apple").pkce);
        assert_eq!(by("apple").id_token_audiences, ["com.example.app"]);
        assert_eq!(by("discord").prompt.as_deref(), Some("none"));
        let Endpoints::Explicit { user_info, .. } = &by("gitlab").endpoints else {
            panic!("explicit endpoints");
        };
        assert_eq!(
            user_info.as_deref(),
            Some("https://gitlab.example/api/v4/user")
        );
    }

    #[test]
    fn multi_tenant_microsoft_checks_the_tokens_own_tenant() {
        let providers = parse(r#"{"microsoft":{"clientId":"m","clientSecret":"s"}}"#).unwrap();
        assert_eq!(
            providers[0].issuer.as_deref(),
            Some("https://login.microsoftonline.com/{tenantid}/v2.0")
        );
    }

    #[test]
    fn refusals_name_the_provider_and_the_field() {
        for (json, expected) in [
            ("[]", "JSON object"),
            (
                r#"{"twitter":{"clientId":"c","clientSecret":"s"}}"#,
                "EDGEAUTH_SOCIAL_PROVIDERS.twitter: unknown provider",
            ),
            (
                r#"{"corp":{"clientId":"c","clientSecret":"s"}}"#,
                "EDGEAUTH_SOCIAL_PROVIDERS.corp: unknown provider",
            ),
            (
                r#"{"github":{"clientId":"","clientSecret":"s"}}"#,
                "github.clientId",
            ),
            (r#"{"github":{"clientId":"c"}}"#, "github.clientSecret"),
            (
                r#"{"github":{"clientId":"c","clientSecret":"s","mapProfileToUser":"x"}}"#,
                "github: unknown field `mapProfileToUser`",
            ),
            (
                r#"{"google":{"clientId":"c","clientSecret":"s","tenantId":"t"}}"#,
                "google.tenantId: an option of microsoft only",
            ),
            (
                r#"{"gitlab":{"clientId":"c","clientSecret":"s","issuer":"http://gitlab.example"}}"#,
                "gitlab.issuer: must be https",
            ),
            (
                r#"{"github":{"clientId":"c","clientSecret":"s","tokenEndpoint":"nope"}}"#,
                "github.tokenEndpoint: must be an absolute",
            ),
            (
                r#"{"discord":{"clientId":"c","clientSecret":"s","scope":["a b"]}}"#,
                "discord.scope",
            ),
            (
                r#"{"microsoft":{"clientId":"c","clientSecret":"s","tenantId":"a/b"}}"#,
                "microsoft.tenantId",
            ),
        ] {
            let error = parse(json).unwrap_err().to_string();
            assert!(error.contains(expected), "{expected}: {error}");
        }
        let error = parse_social(
            r#"{"github":{"clientId":"c","clientSecret":"s"}}"#,
            Environment::Production,
            &["github"],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.contains("github: the id is also a providerId"),
            "{error}"
        );
    }
}
