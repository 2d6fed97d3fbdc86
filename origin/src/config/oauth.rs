//! OAuth 2.0 / OpenID Connect sign-in's settings: the providers of Better Auth's
//! `genericOAuth({config})` plugin as JSON (`EDGEAUTH_GENERIC_OAUTH`), token encryption at
//! rest (`account.encryptOAuthTokens`) and the account-linking rules
//! (`account.accountLinking`).
//!
//! The JSON is parsed once at start-up into [`GenericProvider`]s; a field of the wrong type,
//! an unknown field (Better Auth's function-valued options such as `getUserInfo` cannot be
//! written in JSON, and a misspelt option must not be silently ignored) or an unusable value
//! stops the start with a message naming the provider and the field.

use std::collections::BTreeMap;

use clap::Args;
use serde::Deserialize;

use super::social::{parse_social, ProviderKind};
use super::{url_origin, ConfigError, Environment, Switch};

/// `serve`'s flags for OAuth sign-in.
#[derive(Clone, Args)]
pub struct OAuthArgs {
    /// OAuth 2.0 / OpenID Connect providers, as JSON in the shape of Better Auth's
    /// `genericOAuth({config})`: a list of `{providerId, clientId, clientSecret,
    /// discoveryUrl | authorizationUrl + tokenUrl [+ userInfoUrl], scopes, pkce, …}`.
    /// Unset: no provider, and `/sign-in/oauth2` is not served.
    #[arg(long, env = "EDGEAUTH_GENERIC_OAUTH", hide_env_values = true)]
    pub generic_oauth: Option<String>,

    /// Better Auth's built-in social providers, as JSON in the shape of its
    /// `socialProviders`: `{"github": {clientId, clientSecret, scope, …}, "google": …}`
    /// (google, github, microsoft, apple, discord, gitlab). Unset: none, and
    /// `/sign-in/social` is not served.
    #[arg(long, env = "EDGEAUTH_SOCIAL_PROVIDERS", hide_env_values = true)]
    pub social_providers: Option<String>,

    /// Providers' access and refresh tokens are stored encrypted (Better Auth's
    /// `account.encryptOAuthTokens` format). On by default; `off` when a Better Auth server
    /// on the same database without `encryptOAuthTokens` must read them.
    #[arg(
        long,
        env = "EDGEAUTH_ENCRYPT_OAUTH_TOKENS",
        value_enum,
        default_value = "on"
    )]
    pub encrypt_oauth_tokens: Switch,

    /// Account linking (Better Auth's `account.accountLinking`): `on` (a provider identity
    /// whose verified email matches a local user's verified email is added to that user),
    /// `off` (never; such a sign-in is refused with `account_not_linked`), or the option
    /// object as JSON: `{"enabled", "trustedProviders", "allowDifferentEmails",
    /// "disableImplicitLinking", "updateUserInfoOnLink"}`.
    #[arg(long, env = "EDGEAUTH_ACCOUNT_LINKING", default_value = "on")]
    pub account_linking: String,

    /// Provider ids trusted to link accounts (Better Auth's
    /// `account.accountLinking.trustedProviders`), comma-separated.
    #[arg(long, env = "EDGEAUTH_TRUSTED_PROVIDERS", value_delimiter = ',')]
    pub trusted_providers: Vec<String>,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuthentication {
    /// `client_id` and `client_secret` in the form body (Better Auth's default).
    #[default]
    Post,
    /// HTTP Basic with the client id and secret.
    Basic,
}

/// One `genericOAuth` entry as written in the JSON (Better Auth's field names).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawProvider {
    provider_id: String,
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    discovery_url: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    require_issuer_validation: bool,
    #[serde(default)]
    authorization_url: Option<String>,
    #[serde(default)]
    token_url: Option<String>,
    #[serde(default)]
    user_info_url: Option<String>,
    /// An edgeauth addition: the JWKS of a provider configured without discovery, so its
    /// ID tokens can be verified.
    #[serde(default)]
    jwks_url: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default, rename = "redirectURI")]
    redirect_uri: Option<String>,
    #[serde(default)]
    response_type: Option<String>,
    #[serde(default)]
    response_mode: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    pkce: bool,
    #[serde(default)]
    access_type: Option<String>,
    #[serde(default)]
    authorization_url_params: BTreeMap<String, String>,
    #[serde(default)]
    token_url_params: BTreeMap<String, String>,
    #[serde(default)]
    authentication: ClientAuthentication,
    #[serde(default)]
    disable_implicit_sign_up: bool,
    #[serde(default)]
    disable_sign_up: bool,
    #[serde(default)]
    override_user_info: bool,
    /// An edgeauth addition: the name on the pages' buttons (default: the id).
    #[serde(default)]
    display_name: Option<String>,
    /// An edgeauth addition standing in for Better Auth's `mapProfileToUser` function: where
    /// in the provider's user info each field is, as a key or a dotted path.
    #[serde(default)]
    user_info_mapping: Option<UserInfoMapping>,
}

/// Where a plain OAuth 2.0 provider's user info keeps the user's fields (`userInfoMapping`):
/// each a key of the answer or a dotted path into it (`data.attributes.email`). Unset fields
/// are read from the OpenID Connect names (`sub` or `id`, `email`, `email_verified`, `name`,
/// `picture`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct UserInfoMapping {
    /// The subject (a string or a number).
    #[serde(default)]
    pub id: Option<String>,
    /// The email address.
    #[serde(default)]
    pub email: Option<String>,
    /// Whether the provider verified the address (a boolean, or the strings "true"/"false").
    #[serde(default)]
    pub email_verified: Option<String>,
    /// The display name.
    #[serde(default)]
    pub name: Option<String>,
    /// The picture's URL.
    #[serde(default)]
    pub image: Option<String>,
}

impl UserInfoMapping {
    /// `(path, OpenID Connect name, field name)` for each mapped field.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &'static str, &'static str)> {
        [
            (&self.id, "sub", "id"),
            (&self.email, "email", "email"),
            (&self.email_verified, "email_verified", "emailVerified"),
            (&self.name, "name", "name"),
            (&self.image, "picture", "image"),
        ]
        .into_iter()
        .filter_map(|(path, to, field)| path.as_deref().map(|p| (p, to, field)))
    }
}

/// Where a provider's endpoints come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoints {
    /// OpenID Connect discovery: fetched (and cached) on first use.
    Discovery(String),
    /// Given explicitly.
    Explicit {
        /// The authorization endpoint.
        authorization: String,
        /// The token endpoint.
        token: String,
        /// The user-info endpoint, if any.
        user_info: Option<String>,
        /// The JWKS, if any (without it an ID token is never trusted).
        jwks: Option<String>,
    },
}

/// A validated `genericOAuth` provider.
#[derive(Clone, PartialEq, Eq)]
pub struct GenericProvider {
    /// Its id: the `providerId` of its account rows and the last segment of its callback.
    pub provider_id: String,
    /// The OAuth client id.
    pub client_id: String,
    /// The OAuth client secret (never printed).
    pub client_secret: Option<String>,
    /// Discovery or explicit endpoints.
    pub endpoints: Endpoints,
    /// The expected issuer (`iss` of ID tokens and RFC 9207's `iss` parameter); from
    /// discovery when not given.
    pub issuer: Option<String>,
    /// Whether the callback must carry RFC 9207's `iss`.
    pub require_issuer_validation: bool,
    /// Scopes asked for, after the request's own.
    pub scopes: Vec<String>,
    /// The redirect URI, when not `BASE/oauth2/callback/<providerId>`.
    pub redirect_uri: Option<String>,
    /// `prompt`.
    pub prompt: Option<String>,
    /// `pkce: true`: always send PKCE (it is also sent whenever discovery lists S256).
    pub pkce: bool,
    /// `access_type`.
    pub access_type: Option<String>,
    /// Extra authorization parameters.
    pub authorization_url_params: BTreeMap<String, String>,
    /// Extra token request parameters.
    pub token_url_params: BTreeMap<String, String>,
    /// Client authentication at the token endpoint.
    pub authentication: ClientAuthentication,
    /// No new users unless the sign-in asks (`requestSignUp`).
    pub disable_implicit_sign_up: bool,
    /// No new users at all.
    pub disable_sign_up: bool,
    /// Refresh the user's name and image from the provider on each sign-in.
    pub override_user_info: bool,
    /// Which provider's quirks apply (a built-in social provider's, or none).
    pub kind: ProviderKind,
    /// GitHub's `/user/emails` endpoint.
    pub emails_url: Option<String>,
    /// The audiences an ID token of `/sign-in/social`'s `idToken` flow may name (Better
    /// Auth's `clientId`s, or Apple's `audience` / `appBundleIdentifier`).
    pub id_token_audiences: Vec<String>,
    /// `disableIdTokenSignIn`: the `idToken` flow is refused.
    pub disable_id_token_sign_in: bool,
    /// `displayName`: the name on the pages.
    pub display_name: Option<String>,
    /// `userInfoMapping`: where the user's fields are in the user info.
    pub user_info_mapping: Option<UserInfoMapping>,
}

impl GenericProvider {
    /// The name shown on the pages: the configured `displayName`, a built-in provider's
    /// ("GitHub"), else the id.
    pub fn display_name(&self) -> &str {
        self.display_name
            .as_deref()
            .or(self.kind.display_name())
            .unwrap_or(&self.provider_id)
    }
}

impl std::fmt::Debug for GenericProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GenericProvider")
            .field("provider_id", &self.provider_id)
            .field("client_id", &self.client_id)
            .field(
                "client_secret",
                &self.client_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("endpoints", &self.endpoints)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// OAuth sign-in, validated.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OAuth {
    /// The `genericOAuth` providers (empty: the feature is off).
    pub generic: Vec<GenericProvider>,
    /// The built-in social providers (empty: `/sign-in/social` is off).
    pub social: Vec<GenericProvider>,
    /// Whether access and refresh tokens are sealed at rest.
    pub encrypt_tokens: bool,
    /// Whether provider identities may be linked to existing users.
    pub linking: bool,
    /// Providers trusted to link.
    pub trusted_providers: Vec<String>,
    /// Whether a signed-in user may link a provider identity with another address
    /// (`allowDifferentEmails`).
    pub allow_different_emails: bool,
    /// Whether a sign-in never links to the user with the same address
    /// (`disableImplicitLinking`); explicit links from a signed-in account are unaffected.
    pub disable_implicit_linking: bool,
    /// Whether an explicit link copies the provider's name and image to the user
    /// (`updateUserInfoOnLink`).
    pub update_user_info_on_link: bool,
}

/// `EDGEAUTH_ACCOUNT_LINKING` as JSON: Better Auth's `account.accountLinking`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct LinkingOptions {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    trusted_providers: Vec<String>,
    #[serde(default)]
    allow_different_emails: bool,
    #[serde(default)]
    disable_implicit_linking: bool,
    #[serde(default)]
    update_user_info_on_link: bool,
    /// Accepted only as `false`: the last way to sign in is never unlinked.
    #[serde(default)]
    allow_unlinking_all: bool,
}

fn yes() -> bool {
    true
}

/// Reads `EDGEAUTH_ACCOUNT_LINKING`: `on`, `off`, or [`LinkingOptions`] as JSON.
fn parse_linking(value: &str) -> Result<LinkingOptions, ConfigError> {
    const LINKING: &str = "EDGEAUTH_ACCOUNT_LINKING";
    let value = value.trim();
    let switch = |enabled| LinkingOptions {
        enabled,
        trusted_providers: Vec::new(),
        allow_different_emails: false,
        disable_implicit_linking: false,
        update_user_info_on_link: false,
        allow_unlinking_all: false,
    };
    if value.eq_ignore_ascii_case("on") {
        return Ok(switch(true));
    }
    if value.eq_ignore_ascii_case("off") {
        return Ok(switch(false));
    }
    if !value.starts_with('{') {
        return Err(ConfigError::OAuth(format!(
            "{LINKING} must be on, off or a JSON object like Better Auth's account.accountLinking, not {value:?}"
        )));
    }
    let options: LinkingOptions =
        serde_json::from_str(value).map_err(|e| ConfigError::OAuth(format!("{LINKING}: {e}")))?;
    if options.allow_unlinking_all {
        return Err(ConfigError::OAuth(format!(
            "{LINKING}.allowUnlinkingAll: not supported: the last way to sign in is never unlinked"
        )));
    }
    Ok(options)
}

impl OAuth {
    /// Validates the flags. `production` requires https endpoints (loopback aside).
    pub fn from_args(args: &OAuthArgs, env: Environment) -> Result<Self, ConfigError> {
        let generic = match args.generic_oauth.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(json) => parse_generic(json, env)?,
        };
        let taken: Vec<&str> = generic.iter().map(|p| p.provider_id.as_str()).collect();
        let social = match args.social_providers.as_deref().map(str::trim) {
            None | Some("") => Vec::new(),
            Some(json) => parse_social(json, env, &taken)?,
        };
        let linking = parse_linking(&args.account_linking)?;
        let mut trusted_providers: Vec<String> = args
            .trusted_providers
            .iter()
            .chain(&linking.trusted_providers)
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect();
        trusted_providers.sort();
        trusted_providers.dedup();
        Ok(OAuth {
            generic,
            social,
            encrypt_tokens: args.encrypt_oauth_tokens == Switch::On,
            linking: linking.enabled,
            trusted_providers,
            allow_different_emails: linking.allow_different_emails,
            disable_implicit_linking: linking.disable_implicit_linking,
            update_user_info_on_link: linking.update_user_info_on_link,
        })
    }

    /// The generic provider with this id.
    pub fn generic_provider(&self, id: &str) -> Option<&GenericProvider> {
        self.generic.iter().find(|p| p.provider_id == id)
    }

    /// The built-in social provider with this id.
    pub fn social_provider(&self, id: &str) -> Option<&GenericProvider> {
        self.social.iter().find(|p| p.provider_id == id)
    }

    /// Every provider: the `genericOAuth` ones, then the built-in ones.
    pub fn providers(&self) -> impl Iterator<Item = &GenericProvider> {
        self.generic.iter().chain(&self.social)
    }

    /// The provider with this id, generic or built in (ids are distinct).
    pub fn provider(&self, id: &str) -> Option<&GenericProvider> {
        self.providers().find(|p| p.provider_id == id)
    }

    /// Whether any provider is configured.
    pub fn has_providers(&self) -> bool {
        !self.generic.is_empty() || !self.social.is_empty()
    }
}

const VAR: &str = "EDGEAUTH_GENERIC_OAUTH";

fn field_error(index: usize, field: &str, why: &str) -> ConfigError {
    ConfigError::OAuth(format!("{VAR}[{index}].{field}: {why}"))
}

/// Parses and validates the JSON list.
fn parse_generic(json: &str, env: Environment) -> Result<Vec<GenericProvider>, ConfigError> {
    let values: Vec<serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| ConfigError::OAuth(format!("{VAR} must be a JSON array of providers: {e}")))?;
    let mut providers: Vec<GenericProvider> = Vec::with_capacity(values.len());
    for (index, value) in values.into_iter().enumerate() {
        let raw: RawProvider = serde_json::from_value(value)
            .map_err(|e| ConfigError::OAuth(format!("{VAR}[{index}]: {e}")))?;
        let provider = validate(index, raw, env)?;
        if providers
            .iter()
            .any(|p| p.provider_id == provider.provider_id)
        {
            return Err(field_error(index, "providerId", "used twice"));
        }
        providers.push(provider);
    }
    Ok(providers)
}

/// An endpoint URL: absolute http(s); https in production unless on a loopback host.
fn endpoint(index: usize, field: &str, url: &str, env: Environment) -> Result<String, ConfigError> {
    let parsed = url::Url::parse(url)
        .ok()
        .filter(|_| url_origin(url).is_some())
        .ok_or_else(|| field_error(index, field, "must be an absolute http(s) URL"))?;
    let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if env == Environment::Production && parsed.scheme() != "https" && !loopback {
        return Err(field_error(index, field, "must be https in production"));
    }
    Ok(url.to_string())
}

fn validate(
    index: usize,
    raw: RawProvider,
    env: Environment,
) -> Result<GenericProvider, ConfigError> {
    let id_ok = !raw.provider_id.is_empty()
        && raw.provider_id.len() <= 64
        && raw
            .provider_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !id_ok {
        return Err(field_error(
            index,
            "providerId",
            "must be 1 to 64 characters of [A-Za-z0-9_-]",
        ));
    }
    if raw.provider_id == "credential" {
        return Err(field_error(
            index,
            "providerId",
            "\"credential\" is reserved",
        ));
    }
    if raw.client_id.trim().is_empty() {
        return Err(field_error(index, "clientId", "must not be empty"));
    }
    if raw.response_type.as_deref().is_some_and(|t| t != "code") {
        return Err(field_error(
            index,
            "responseType",
            "only \"code\" is supported",
        ));
    }
    if raw.response_mode.as_deref().is_some_and(|m| m != "query") {
        // Better Auth's genericOAuth callback is GET only: form_post cannot work there either.
        return Err(field_error(
            index,
            "responseMode",
            "only \"query\" is supported",
        ));
    }
    let endpoints = match (&raw.discovery_url, &raw.authorization_url, &raw.token_url) {
        (Some(discovery), _, _) => {
            Endpoints::Discovery(endpoint(index, "discoveryUrl", discovery, env)?)
        }
        (None, Some(authorization), Some(token)) => Endpoints::Explicit {
            authorization: endpoint(index, "authorizationUrl", authorization, env)?,
            token: endpoint(index, "tokenUrl", token, env)?,
            user_info: raw
                .user_info_url
                .as_deref()
                .map(|u| endpoint(index, "userInfoUrl", u, env))
                .transpose()?,
            jwks: raw
                .jwks_url
                .as_deref()
                .map(|u| endpoint(index, "jwksUrl", u, env))
                .transpose()?,
        },
        (None, None, _) => {
            return Err(field_error(
                index,
                "authorizationUrl",
                "required without discoveryUrl",
            ))
        }
        (None, Some(_), None) => {
            return Err(field_error(
                index,
                "tokenUrl",
                "required without discoveryUrl",
            ))
        }
    };
    if let Endpoints::Explicit {
        user_info: None,
        jwks: None,
        ..
    } = &endpoints
    {
        return Err(field_error(
            index,
            "userInfoUrl",
            "required without discoveryUrl or jwksUrl (nothing would say who signed in)",
        ));
    }
    if let Some(issuer) = &raw.issuer {
        endpoint(index, "issuer", issuer, env)?;
    }
    if let Some(redirect) = &raw.redirect_uri {
        endpoint(index, "redirectURI", redirect, env)?;
    }
    if raw
        .scopes
        .iter()
        .any(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(field_error(
            index,
            "scopes",
            "each scope must be non-empty, without spaces",
        ));
    }
    if let Some(name) = &raw.display_name {
        if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control)
        {
            return Err(field_error(
                index,
                "displayName",
                "must be 1 to 64 characters, without control characters",
            ));
        }
    }
    if let Some(mapping) = &raw.user_info_mapping {
        for (path, _, field) in mapping.fields() {
            if path.split('.').any(str::is_empty) {
                let field = format!("userInfoMapping.{field}");
                return Err(field_error(
                    index,
                    &field,
                    "must be a key or a dotted path of keys",
                ));
            }
        }
    }
    Ok(GenericProvider {
        provider_id: raw.provider_id,
        client_id: raw.client_id,
        client_secret: raw.client_secret.filter(|s| !s.is_empty()),
        endpoints,
        issuer: raw.issuer,
        require_issuer_validation: raw.require_issuer_validation,
        scopes: raw.scopes,
        redirect_uri: raw.redirect_uri,
        prompt: raw.prompt,
        pkce: raw.pkce,
        access_type: raw.access_type,
        authorization_url_params: raw.authorization_url_params,
        token_url_params: raw.token_url_params,
        authentication: raw.authentication,
        disable_implicit_sign_up: raw.disable_implicit_sign_up,
        disable_sign_up: raw.disable_sign_up,
        override_user_info: raw.override_user_info,
        kind: ProviderKind::Generic,
        emails_url: None,
        id_token_audiences: Vec::new(),
        disable_id_token_sign_in: true,
        display_name: raw.display_name.map(|n| n.trim().to_string()),
        user_info_mapping: raw.user_info_mapping,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(json: &str) -> OAuthArgs {
        OAuthArgs {
            generic_oauth: Some(json.into()),
            social_providers: None,
            encrypt_oauth_tokens: Switch::On,
            account_linking: "on".into(),
            trusted_providers: vec![" corp ".into(), String::new()],
        }
    }

    #[test]
    fn better_auths_shape_is_read() {
        let config = OAuth::from_args(
            &args(
                r#"[{"providerId":"corp","discoveryUrl":"https://id.example/.well-known/openid-configuration",
                    "clientId":"cid","clientSecret":"cs","scopes":["openid","email"],"pkce":true,
                    "authentication":"basic","authorizationUrlParams":{"hd":"example.com"}},
                   {"providerId":"plain","authorizationUrl":"https://p.example/a","tokenUrl":"https://p.example/t",
                    "userInfoUrl":"https://p.example/u","clientId":"c2"}]"#,
            ),
            Environment::Production,
        )
        .unwrap();
        assert_eq!(config.generic.len(), 2);
        let corp = config.generic_provider("corp").unwrap();
        assert!(corp.pkce);
        assert_eq!(corp.authentication, ClientAuthentication::Basic);
        assert_eq!(corp.scopes, ["openid", "email"]);
        assert_eq!(config.trusted_providers, ["corp"]);
        assert!(config.encrypt_tokens && config.linking);
        let printed = format!("{corp:?}");
        assert!(!printed.contains("\"cs\""), "{printed}");
    }

    #[test]
    fn account_linking_takes_on_off_or_better_auths_object() {
        let with = |linking: &str| {
            let mut a = args("[]");
            a.account_linking = linking.into();
            OAuth::from_args(&a, Environment::Production)
        };
        assert!(with("on").unwrap().linking);
        assert!(!with("OFF").unwrap().linking);
        let config = with(
            r#"{"enabled":true,"trustedProviders":["github","corp"],"allowDifferentEmails":true,
                "disableImplicitLinking":true,"updateUserInfoOnLink":true,"allowUnlinkingAll":false}"#,
        )
        .unwrap();
        assert!(config.linking && config.allow_different_emails);
        assert!(config.disable_implicit_linking && config.update_user_info_on_link);
        // Merged with EDGEAUTH_TRUSTED_PROVIDERS (" corp ").
        assert_eq!(config.trusted_providers, ["corp", "github"]);
        let off = with(r#"{"enabled":false}"#).unwrap();
        assert!(!off.linking && !off.allow_different_emails && !off.disable_implicit_linking);
        for (value, named) in [
            ("yes", "must be on, off or a JSON object"),
            (r#"{"allowUnlinkingAll":true}"#, "allowUnlinkingAll"),
            (r#"{"allowDiferentEmails":true}"#, "allowDiferentEmails"),
            (r#"{"enabled":"yes"}"#, "EDGEAUTH_ACCOUNT_LINKING"),
        ] {
            let error = with(value).unwrap_err().to_string();
            assert!(error.contains(named), "{value}: {error}");
        }
    }

    #[test]
    fn refusals_name_the_provider_and_the_field() {
        for (json, field) in [
            ("{}", "JSON array"),
            (
                r#"[{"clientId":"c","discoveryUrl":"https://x.example"}]"#,
                "providerId",
            ),
            (
                r#"[{"providerId":"p","clientId":"c","discoveryUrl":"https://x.example","displayName":" "}]"#,
                "[0].displayName",
            ),
            (
                r#"[{"providerId":"p","clientId":"c","discoveryUrl":"https://x.example","userInfoMapping":{"email":"a..b"}}]"#,
                "[0].userInfoMapping.email",
            ),
            (
                r#"[{"providerId":"p","clientId":"c","discoveryUrl":"https://x.example","userInfoMapping":{"mail":"a"}}]"#,
                "mail",
            ),
            (
                r#"[{"providerId":"a b","clientId":"c","discoveryUrl":"https://x.example"}]"#,
                "[0].providerId",
            ),
            (
                r#"[{"providerId":"a","clientId":"c","discoveryURL":"https://x.example"}]"#,
                "discoveryURL",
            ),
            (
                r#"[{"providerId":"a","clientId":"c"}]"#,
                "[0].authorizationUrl",
            ),
            (
                r#"[{"providerId":"a","clientId":"c","authorizationUrl":"https://x.example/a"}]"#,
                "[0].tokenUrl",
            ),
            (
                r#"[{"providerId":"a","clientId":"c","discoveryUrl":"http://x.example/d"}]"#,
                "[0].discoveryUrl: must be https",
            ),
            (
                r#"[{"providerId":"a","clientId":"c","discoveryUrl":"https://x.example","pkce":"yes"}]"#,
                "[0]: invalid type",
            ),
            (
                r#"[{"providerId":"a","clientId":"c","discoveryUrl":"https://x.example","responseMode":"form_post"}]"#,
                "[0].responseMode",
            ),
            (
                r#"[{"providerId":"a","clientId":"c","discoveryUrl":"https://x.example"},
                    {"providerId":"a","clientId":"c","discoveryUrl":"https://x.example"}]"#,
                "[1].providerId: used twice",
            ),
        ] {
            let error = OAuth::from_args(&args(json), Environment::Production)
                .unwrap_err()
                .to_string();
            assert!(error.contains("EDGEAUTH_GENERIC_OAUTH"), "{error}");
            assert!(error.contains(field), "{field}: {error}");
        }
        // Loopback providers over http are fine in development and in production.
        assert!(OAuth::from_args(
            &args(r#"[{"providerId":"a","clientId":"c","discoveryUrl":"http://127.0.0.1:9/d"}]"#),
            Environment::Production
        )
        .is_ok());
    }
}
