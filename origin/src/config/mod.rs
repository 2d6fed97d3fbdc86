//! The origin's configuration: environment variables (Better Auth's names where Better Auth
//! has one) and the matching flags, parsed once into a typed [`Config`].
//!
//! Secrets are never printed: [`Config`]'s `Debug` redacts the secret, and nothing logs it.

use std::fmt;
use std::net::SocketAddr;

use axum::http::HeaderName;
use clap::{Args, ValueEnum};

mod lifecycle;
mod oauth;
mod pages;
mod passkey;
mod social;
mod two_factor;

pub use lifecycle::{
    smtp_tls, ChangeEmail, DeleteUser, Lifecycle, LifecycleArgs, MailTransport, SmtpTls,
};
pub use oauth::{ClientAuthentication, Endpoints, GenericProvider, OAuth, OAuthArgs};
pub use pages::{Pages, PagesArgs};
pub use passkey::{Passkey, PasskeyArgs};
pub use social::ProviderKind;
pub use two_factor::{TwoFactor, TwoFactorArgs};

/// Better Auth's hard-coded fallback secret. Accepted in development (with a warning) so a
/// new user can start without configuring anything; refused in production.
pub const DEFAULT_SECRET: &str = "better-auth-secret-12345678901234567890";

/// Shortest secret accepted in production, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// Where the embedded SQLite database lives when `DATABASE_URL` is not set.
pub const DEFAULT_SQLITE_URL: &str = "sqlite://edgeauth.db?mode=rwc";

/// Deployment mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Environment {
    /// Local development: permissive defaults (rate limiting off, default secret allowed).
    Development,
    /// Production: secure cookies, rate limiting on, a real secret required.
    Production,
}

/// An on/off switch that can also be left to the environment's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Where rate-limit counters live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RateLimitStorage {
    /// In this process's memory: each origin process counts on its own.
    Memory,
    /// In the database's `rateLimit` table (Better Auth's): every origin process on the
    /// database shares one budget per client.
    Database,
}

/// Default of `EDGEAUTH_SIGNIN_FAILURE_LIMIT`.
pub const DEFAULT_SIGNIN_FAILURE_LIMIT: u32 = 10;

/// Highest `EDGEAUTH_SIGNIN_FAILURE_LIMIT` accepted: NIST SP 800-63B's ceiling of 100
/// consecutive failed attempts per account.
pub const MAX_SIGNIN_FAILURE_LIMIT: u32 = 100;

/// Default of `EDGEAUTH_SIGNIN_FAILURE_WINDOW`, in seconds (15 minutes).
pub const DEFAULT_SIGNIN_FAILURE_WINDOW: u64 = 15 * 60;

/// Longest `EDGEAUTH_SIGNIN_FAILURE_WINDOW` accepted, in seconds (one day): a lock an
/// attacker can trigger must end on its own.
pub const MAX_SIGNIN_FAILURE_WINDOW: u64 = 24 * 60 * 60;

/// Default of `EDGEAUTH_HEADER_TIMEOUT`, in seconds: ample for a request head (a few
/// hundred bytes) on a slow network, and longer than Node's 5 s keep-alive idle timeout
/// that Better Auth servers run with.
pub const DEFAULT_HEADER_TIMEOUT: u64 = 10;

/// `EDGEAUTH_DB_STATEMENT_TIMEOUT`'s default, in seconds.
pub const DEFAULT_STATEMENT_TIMEOUT: u64 = 5;

/// Default of `EDGEAUTH_MAX_CONNECTIONS`: with hyper's 8 KiB read buffer each, 4096 slow
/// connections hold about 32 MiB.
pub const DEFAULT_MAX_CONNECTIONS: u64 = 4096;

/// The format of the log on stderr (`EDGEAUTH_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines (tracing's default format).
    Text,
    /// One JSON object per line, with the same fields.
    Json,
}

impl LogFormat {
    /// The format `EDGEAUTH_LOG_FORMAT` names: `text` or `json`.
    pub fn parse(value: &str) -> Result<Self, ConfigError> {
        match value {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(ConfigError::LogFormat(other.to_string())),
        }
    }
}

/// The metrics listener's address `EDGEAUTH_METRICS_LISTEN` names (`None`: unset, metrics
/// off). An empty or unparsable value is an error naming the variable.
pub fn metrics_listen(value: Option<&str>) -> Result<Option<SocketAddr>, ConfigError> {
    value
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| ConfigError::MetricsListen(v.to_string()))
        })
        .transpose()
}

/// The password hash new passwords are written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PasswordHashSetting {
    /// argon2id (m=19456 KiB, t=2, p=1): the default. Weaker stored hashes, Better Auth's
    /// scrypt included, are upgraded on the next successful sign-in.
    Argon2id,
    /// Better Auth's scrypt format, for deployments whose Better Auth server must still read
    /// the hashes edgeauth writes.
    Scrypt,
}

/// Options shared by every subcommand that touches the database or signs tokens.
#[derive(Clone, Args)]
pub struct CommonArgs {
    /// Secret for signing cookies and encrypting the JWT signing keys (shared with Better
    /// Auth). At least 32 bytes of randomness; required in production.
    #[arg(long, env = "BETTER_AUTH_SECRET", hide_env_values = true)]
    pub secret: Option<String>,

    /// Database URL: `postgres://...` for PostgreSQL, `sqlite://FILE` for SQLite. Unset: an
    /// embedded SQLite database in ./edgeauth.db.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// The tables' names when they are not Better Auth's defaults: JSON in Better Auth's
    /// option shapes (`{"casing": "snake_case", "user": {"modelName": "users", "fields":
    /// {...}}, "generateId": "uuid"}`), or the path of a file holding it (docs/schema.md).
    #[arg(long, env = "EDGEAUTH_SCHEMA")]
    pub schema: Option<String>,
}

impl CommonArgs {
    /// The configured schema (Better Auth's defaults when `EDGEAUTH_SCHEMA` is unset); an
    /// invalid setting is an error naming the field.
    pub fn schema(&self) -> Result<crate::db::Schema, crate::db::DbError> {
        let schema = match self.schema.as_deref() {
            None => crate::db::Schema::default(),
            Some(setting) => {
                crate::db::Schema::from_setting(setting).map_err(crate::db::DbError::Other)?
            }
        };
        let postgres = self
            .database_url
            .as_deref()
            .is_some_and(|url| url.starts_with("postgres:") || url.starts_with("postgresql:"));
        if schema.generate_id() == crate::db::GenerateId::Serial && !postgres {
            return Err(crate::db::DbError::Other(
                "EDGEAUTH_SCHEMA.generateId: \"serial\" needs PostgreSQL (it takes ids from the id columns' sequences)"
                    .into(),
            ));
        }
        Ok(schema)
    }

    /// Connects lazily to the configured database with the configured schema ([`Db::connect`]).
    ///
    /// [`Db::connect`]: crate::db::Db::connect
    pub fn connect(&self) -> Result<crate::db::Db, crate::db::DbError> {
        let schema = self.schema()?;
        Ok(crate::db::Db::connect(self.database_url.as_deref())?.with_schema(schema))
    }
}

/// Options of `edgeauth serve`.
#[derive(Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,

    /// Public base URL of the auth server (its origin is the JWT issuer and audience, and
    /// an https URL makes cookies `Secure`).
    #[arg(long, env = "BETTER_AUTH_URL", default_value = "http://localhost:3000")]
    pub base_url: String,

    /// Extra trusted origins, comma-separated (the base URL's origin is always trusted).
    #[arg(long, env = "BETTER_AUTH_TRUSTED_ORIGINS", value_delimiter = ',')]
    pub trusted_origins: Vec<String>,

    /// Address to listen on (host:port).
    #[arg(long, env = "EDGEAUTH_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,

    /// Seconds a connection has to send a request's line and headers, counted from its
    /// opening or from the end of its previous response: a slower connection, or one kept
    /// alive and idle for longer, is closed. 1 to 300.
    #[arg(long, env = "EDGEAUTH_HEADER_TIMEOUT", default_value_t = DEFAULT_HEADER_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub header_timeout: u64,

    /// Client connections open at once, 1 to 1,000,000; beyond, new connections wait to be
    /// accepted until one closes. Lowered, with a warning, to the open-files limit less 256.
    #[arg(long, env = "EDGEAUTH_MAX_CONNECTIONS", default_value_t = DEFAULT_MAX_CONNECTIONS,
          value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_connections: u64,

    /// Address of the Prometheus metrics listener (IP:port, e.g. 127.0.0.1:9464), a
    /// listener of its own serving `GET /metrics` (never served on the main listener). Unset:
    /// no metrics are kept.
    #[arg(long, env = "EDGEAUTH_METRICS_LISTEN")]
    pub metrics_listen: Option<String>,

    /// Log format on stderr: `text` (human-readable lines) or `json` (one JSON object per
    /// line, with the same fields).
    #[arg(long, env = "EDGEAUTH_LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// Seconds one SQL statement may run (on PostgreSQL, waiting for a lock included) before
    /// it is cancelled and its request answered 503, so that a slow database or a held lock
    /// cannot hold requests for the whole request timeout. 1 to 300. (SQLite waits at most
    /// 5 s for a lock, whatever this says.)
    #[arg(long, env = "EDGEAUTH_DB_STATEMENT_TIMEOUT", default_value_t = DEFAULT_STATEMENT_TIMEOUT,
          value_parser = clap::value_parser!(u64).range(1..=300))]
    pub db_statement_timeout: u64,

    /// Deployment mode.
    #[arg(long, env = "EDGEAUTH_ENV", value_enum, default_value = "development")]
    pub env: Environment,

    /// Rate limiting; by default on in production and off in development. Better Auth's
    /// limits per client address and path under /api/auth (10 s windows: 3 requests for
    /// /sign-in*, /sign-up*, /change-password*, /change-email*, 100 for the rest; 429 with
    /// X-Retry-After), plus the per-account sign-in failure limit below.
    #[arg(long, env = "EDGEAUTH_RATE_LIMIT", value_enum)]
    pub rate_limit: Option<Switch>,

    /// Where rate-limit counters live: `memory` (per process) or `database` (Better Auth's
    /// `rateLimit` table, shared by every origin process on the database).
    #[arg(
        long,
        env = "EDGEAUTH_RATE_LIMIT_STORAGE",
        value_enum,
        default_value = "memory"
    )]
    pub rate_limit_storage: RateLimitStorage,

    /// Request header holding the client's address, set by the proxy in front of the
    /// origin (e.g. `cf-connecting-ip`, or the header the edge worker sets). The proxy must
    /// overwrite it on every request with a single IP address; a missing or malformed value
    /// makes the address unknown (all such requests share one rate-limit budget). Unset: the
    /// TCP peer address, never X-Forwarded-For. Behind a proxy, set this, or every client
    /// shares the proxy's budget.
    #[arg(long, env = "EDGEAUTH_TRUSTED_IP_HEADER")]
    pub trusted_ip_header: Option<String>,

    /// Secret shared with the edge worker (at least 32 bytes), which sends it in the
    /// `x-edgeauth-edge-secret` header of every request it forwards, with the client's
    /// address in `x-edgeauth-client-ip` (name that as the trusted IP header). When set, the
    /// trusted IP header is honoured only on requests carrying this proof (compared in
    /// constant time); any other request gets the TCP peer address, whatever it claims. It also
    /// enables `GET /api/auth/edge/session/{id}`, the edge's session liveness check, which
    /// answers only requests carrying the proof. Unset: no proof is asked for or accepted.
    #[arg(long, env = "EDGEAUTH_EDGE_SECRET", hide_env_values = true)]
    pub edge_secret: Option<String>,

    /// Failed sign-ins for one email address (from any client address) after which
    /// further sign-ins for it are refused with 429 until the window passes; at most 100.
    /// A successful sign-in resets the count. Only with rate limiting on.
    #[arg(long, env = "EDGEAUTH_SIGNIN_FAILURE_LIMIT", default_value_t = DEFAULT_SIGNIN_FAILURE_LIMIT)]
    pub signin_failure_limit: u32,

    /// The sign-in failure window in seconds (at most one day): failures less than this
    /// apart accumulate, and a locked address is released this long after its last failure.
    #[arg(long, env = "EDGEAUTH_SIGNIN_FAILURE_WINDOW", default_value_t = DEFAULT_SIGNIN_FAILURE_WINDOW)]
    pub signin_failure_window: u64,

    /// Apply database migrations at start-up.
    #[arg(long, env = "EDGEAUTH_MIGRATE", value_enum, default_value = "on")]
    pub migrate: Switch,

    /// Hash scheme for new passwords.
    #[arg(
        long,
        env = "EDGEAUTH_PASSWORD_HASH",
        value_enum,
        default_value = "argon2id"
    )]
    pub password_hash: PasswordHashSetting,

    /// Minimum password length (JavaScript string length, as Better Auth counts).
    #[arg(long, env = "EDGEAUTH_PASSWORD_MIN_LENGTH", default_value_t = 8)]
    pub password_min_length: usize,

    /// Maximum password length.
    #[arg(long, env = "EDGEAUTH_PASSWORD_MAX_LENGTH", default_value_t = 128)]
    pub password_max_length: usize,

    /// Password hashes computed at once (the rest queue); default: the number of CPUs.
    #[arg(long, env = "EDGEAUTH_HASH_CONCURRENCY")]
    pub hash_concurrency: Option<usize>,

    /// JWT lifetime in seconds (Better Auth's JWT plugin: 15 minutes).
    #[arg(long, env = "EDGEAUTH_JWT_EXPIRES_IN", default_value_t = 900)]
    pub jwt_expires_in: u64,

    #[command(flatten)]
    pub lifecycle: LifecycleArgs,

    #[command(flatten)]
    pub pages: PagesArgs,

    #[command(flatten)]
    pub two_factor: TwoFactorArgs,

    #[command(flatten)]
    pub passkey: PasskeyArgs,

    #[command(flatten)]
    pub oauth: OAuthArgs,
}

impl fmt::Debug for CommonArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CommonArgs")
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl fmt::Debug for ServeArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServeArgs")
            .field("common", &self.common)
            .field("base_url", &self.base_url)
            .field("listen", &self.listen)
            .field("env", &self.env)
            .field("lifecycle", &self.lifecycle)
            .finish_non_exhaustive()
    }
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// Production without `BETTER_AUTH_SECRET`.
    #[error("BETTER_AUTH_SECRET is required in production")]
    MissingSecret,
    /// Production with Better Auth's public default secret.
    #[error("BETTER_AUTH_SECRET is Better Auth's public default; set a random secret")]
    DefaultSecret,
    /// Production with a short secret.
    #[error("BETTER_AUTH_SECRET must be at least {MIN_SECRET_LEN} bytes in production")]
    ShortSecret,
    /// An unusable URL.
    #[error("{0}")]
    InvalidUrl(String),
    /// Inconsistent password length limits.
    #[error("password length limits must satisfy 1 <= min <= max")]
    PasswordLimits,
    /// `EDGEAUTH_TRUSTED_IP_HEADER` is not a header name.
    #[error("EDGEAUTH_TRUSTED_IP_HEADER must be an HTTP header name, got {0:?}")]
    TrustedIpHeader(String),
    /// `EDGEAUTH_METRICS_LISTEN` is not an address and port.
    #[error(
        "EDGEAUTH_METRICS_LISTEN must be an IP address and port such as 127.0.0.1:9464, got {0:?}"
    )]
    MetricsListen(String),
    /// `EDGEAUTH_LOG_FORMAT` is neither `text` nor `json`.
    #[error("EDGEAUTH_LOG_FORMAT must be text or json, got {0:?}")]
    LogFormat(String),
    /// `EDGEAUTH_EDGE_SECRET` too short.
    #[error("EDGEAUTH_EDGE_SECRET must be at least {MIN_SECRET_LEN} bytes")]
    ShortEdgeSecret,
    /// `EDGEAUTH_SIGNIN_FAILURE_LIMIT` out of range.
    #[error("EDGEAUTH_SIGNIN_FAILURE_LIMIT must be between 1 and {MAX_SIGNIN_FAILURE_LIMIT}")]
    SigninFailureLimit,
    /// `EDGEAUTH_SIGNIN_FAILURE_WINDOW` out of range.
    #[error(
        "EDGEAUTH_SIGNIN_FAILURE_WINDOW must be between 1 and {MAX_SIGNIN_FAILURE_WINDOW} seconds"
    )]
    SigninFailureWindow,
    /// Unusable mail or account lifecycle settings.
    #[error("{0}")]
    Mail(String),
    /// Unusable hosted pages settings.
    #[error("{0}")]
    Pages(String),
    /// Unusable two-factor settings.
    #[error("{0}")]
    TwoFactor(String),
    /// Unusable passkey settings.
    #[error("{0}")]
    Passkey(String),
    /// Unusable OAuth provider settings.
    #[error("{0}")]
    OAuth(String),
}

/// The secret, resolved: the configured one, or Better Auth's default in development.
pub fn resolve_secret(secret: Option<&str>, env: Environment) -> Result<String, ConfigError> {
    match (secret, env) {
        (None, Environment::Production) => Err(ConfigError::MissingSecret),
        (Some(DEFAULT_SECRET), Environment::Production) => Err(ConfigError::DefaultSecret),
        (Some(s), Environment::Production) if s.len() < MIN_SECRET_LEN => {
            Err(ConfigError::ShortSecret)
        }
        (Some(s), _) => Ok(s.to_string()),
        (None, Environment::Development) => Ok(DEFAULT_SECRET.to_string()),
    }
}

/// The origin (`scheme://host[:port]`) of an http(s) URL, lower-cased, without a default
/// port, or `None` when the text is not an absolute http(s) URL with a plain host.
pub fn url_origin(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') || authority.contains('\\') {
        return None;
    }
    let authority = authority.to_ascii_lowercase();
    let authority = match (scheme.as_str(), authority.rsplit_once(':')) {
        ("http", Some((host, "80"))) | ("https", Some((host, "443"))) => host.to_string(),
        _ => authority,
    };
    if !authority
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
    {
        return None;
    }
    Some(format!("{scheme}://{authority}"))
}

/// The validated settings the server runs with.
#[derive(Clone)]
pub struct Config {
    /// The secret (cookie HMAC key; SHA-256 of it encrypts the signing keys).
    pub secret: String,
    /// `BETTER_AUTH_URL` as configured.
    pub base_url: String,
    /// Origin of the base URL: the JWT issuer and audience.
    pub base_origin: String,
    /// Every trusted origin, the base URL's first.
    pub trusted_origins: Vec<String>,
    /// Deployment mode.
    pub env: Environment,
    /// Whether cookies get `Secure` and the `__Secure-` prefix.
    pub secure_cookies: bool,
    /// Whether rate limiting is on (the per-address limits and the sign-in failure limit).
    pub rate_limit: bool,
    /// Where rate-limit counters live.
    pub rate_limit_storage: RateLimitStorage,
    /// The header the client address comes from (lower-case); `None`: the TCP peer.
    pub trusted_ip_header: Option<HeaderName>,
    /// The secret proving a request came through the edge (`x-edgeauth-edge-secret`).
    pub edge_secret: Option<String>,
    /// Failed sign-ins per email address before further attempts are refused.
    pub signin_failure_limit: u32,
    /// The sign-in failure window, in seconds.
    pub signin_failure_window: u64,
    /// Hash scheme for new passwords.
    pub password_hash: PasswordHashSetting,
    /// Password length limits.
    pub password_min_length: usize,
    /// Password length limits.
    pub password_max_length: usize,
    /// Concurrent password hashes.
    pub hash_concurrency: usize,
    /// JWT lifetime in seconds.
    pub jwt_expires_in: u64,
    /// Session lifetime in seconds (Better Auth: 7 days).
    pub session_expires_in: i64,
    /// Session refresh age in seconds (Better Auth: 1 day).
    pub session_update_age: i64,
    /// Email verification, password reset, email change, deletion, and mail delivery.
    pub lifecycle: Lifecycle,
    /// The hosted pages.
    pub pages: Pages,
    /// Two-factor authentication.
    pub two_factor: TwoFactor,
    /// Passkeys.
    pub passkey: Passkey,
    /// The metrics listener's address; `None`: no metrics.
    pub metrics_listen: Option<SocketAddr>,
    /// The log format.
    pub log_format: LogFormat,
    /// OAuth / OpenID Connect sign-in.
    pub oauth: OAuth,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("secret", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("trusted_origins", &self.trusted_origins)
            .field("env", &self.env)
            .field("secure_cookies", &self.secure_cookies)
            .field("rate_limit", &self.rate_limit)
            .field("rate_limit_storage", &self.rate_limit_storage)
            .field("trusted_ip_header", &self.trusted_ip_header)
            .field(
                "edge_secret",
                &self.edge_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("lifecycle", &self.lifecycle)
            .field("pages", &self.pages)
            .field("two_factor", &self.two_factor)
            .field("passkey", &self.passkey)
            .field("metrics_listen", &self.metrics_listen)
            .field("log_format", &self.log_format)
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// Validates `serve`'s arguments.
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let secret = resolve_secret(args.common.secret.as_deref(), args.env)?;
        let base_origin = url_origin(&args.base_url).ok_or_else(|| {
            ConfigError::InvalidUrl(format!(
                "BETTER_AUTH_URL must be an absolute http(s) URL, got {:?}",
                args.base_url
            ))
        })?;
        let mut trusted_origins = vec![base_origin.clone()];
        for entry in args
            .trusted_origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
        {
            let origin = url_origin(entry).ok_or_else(|| {
                ConfigError::InvalidUrl(format!(
                    "BETTER_AUTH_TRUSTED_ORIGINS entries must be http(s) origins, got {entry:?}"
                ))
            })?;
            if !trusted_origins.contains(&origin) {
                trusted_origins.push(origin);
            }
        }
        if args.password_min_length == 0 || args.password_min_length > args.password_max_length {
            return Err(ConfigError::PasswordLimits);
        }
        let trusted_ip_header = match args.trusted_ip_header.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| ConfigError::TrustedIpHeader(name.to_string()))?,
            ),
        };
        if args
            .edge_secret
            .as_ref()
            .is_some_and(|s| s.len() < MIN_SECRET_LEN)
        {
            return Err(ConfigError::ShortEdgeSecret);
        }
        if !(1..=MAX_SIGNIN_FAILURE_LIMIT).contains(&args.signin_failure_limit) {
            return Err(ConfigError::SigninFailureLimit);
        }
        if !(1..=MAX_SIGNIN_FAILURE_WINDOW).contains(&args.signin_failure_window) {
            return Err(ConfigError::SigninFailureWindow);
        }
        let metrics_listen = metrics_listen(args.metrics_listen.as_deref())?;
        let log_format = LogFormat::parse(&args.log_format)?;
        let production = args.env == Environment::Production;
        let lifecycle = Lifecycle::from_args(&args.lifecycle, args.env)?;
        let pages = Pages::from_args(&args.pages)?;
        let two_factor = TwoFactor::from_args(&args.two_factor)?;
        let passkey = Passkey::from_args(&args.passkey, &args.base_url, &args.lifecycle.app_name)?;
        let oauth = OAuth::from_args(&args.oauth, args.env)?;
        Ok(Config {
            secret,
            secure_cookies: base_origin.starts_with("https://") || production,
            base_url: args.base_url.clone(),
            base_origin,
            trusted_origins,
            env: args.env,
            rate_limit: match args.rate_limit {
                Some(switch) => switch == Switch::On,
                None => production,
            },
            rate_limit_storage: args.rate_limit_storage,
            trusted_ip_header,
            edge_secret: args.edge_secret.clone(),
            signin_failure_limit: args.signin_failure_limit,
            signin_failure_window: args.signin_failure_window,
            password_hash: args.password_hash,
            password_min_length: args.password_min_length,
            password_max_length: args.password_max_length,
            hash_concurrency: args
                .hash_concurrency
                .filter(|n| *n > 0)
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            jwt_expires_in: args.jwt_expires_in,
            session_expires_in: 7 * 24 * 60 * 60,
            session_update_age: 24 * 60 * 60,
            lifecycle,
            pages,
            two_factor,
            passkey,
            metrics_listen,
            log_format,
            oauth,
        })
    }

    /// Whether `origin` (an `Origin` header value) is trusted: exact match on the parsed
    /// origin, never a prefix or substring.
    pub fn is_trusted_origin(&self, origin: &str) -> bool {
        url_origin(origin).is_some_and(|o| self.trusted_origins.contains(&o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_refuses_weak_secrets() {
        let prod = Environment::Production;
        assert_eq!(resolve_secret(None, prod), Err(ConfigError::MissingSecret));
        assert_eq!(
            resolve_secret(Some(DEFAULT_SECRET), prod),
            Err(ConfigError::DefaultSecret)
        );
        assert_eq!(
            resolve_secret(Some("short"), prod),
            Err(ConfigError::ShortSecret)
        );
        assert!(resolve_secret(Some(&"x".repeat(32)), prod).is_ok());
        assert_eq!(
            resolve_secret(None, Environment::Development).unwrap(),
            DEFAULT_SECRET
        );
    }

    fn parse(extra: &[&str]) -> Result<Config, ConfigError> {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            serve: ServeArgs,
        }
        let secret = "s".repeat(32);
        let argv = ["edgeauth", "--secret", &secret]
            .into_iter()
            .chain(extra.iter().copied());
        Config::from_args(&Cli::try_parse_from(argv).unwrap().serve)
    }

    #[test]
    fn serial_ids_need_postgresql() {
        use clap::Parser;
        #[derive(Parser)]
        struct Cli {
            #[command(flatten)]
            common: CommonArgs,
        }
        let common = |url: &str| {
            Cli::try_parse_from([
                "edgeauth",
                "--database-url",
                url,
                "--schema",
                r#"{"generateId": "serial"}"#,
            ])
            .unwrap()
            .common
        };
        let refused = common("sqlite://edgeauth.db").schema().unwrap_err();
        assert!(refused.to_string().contains("generateId"), "{refused}");
        assert!(common("postgres://localhost/app").schema().is_ok());
    }

    #[test]
    fn rate_limit_settings_are_validated() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.rate_limit_storage, RateLimitStorage::Memory);
        assert_eq!(config.trusted_ip_header, None);
        assert_eq!(config.signin_failure_limit, 10);
        assert_eq!(config.signin_failure_window, 900);
        let config = parse(&[
            "--trusted-ip-header",
            " CF-Connecting-IP ",
            "--rate-limit-storage",
            "database",
        ])
        .unwrap();
        assert_eq!(
            config.trusted_ip_header.unwrap().as_str(),
            "cf-connecting-ip"
        );
        assert_eq!(config.rate_limit_storage, RateLimitStorage::Database);
        assert_eq!(
            parse(&["--trusted-ip-header", ""])
                .unwrap()
                .trusted_ip_header,
            None
        );
        assert!(matches!(
            parse(&["--trusted-ip-header", "bad header"]),
            Err(ConfigError::TrustedIpHeader(_))
        ));
        assert!(parse(&["--signin-failure-limit", "100"]).is_ok());
        for bad in ["0", "101"] {
            assert!(matches!(
                parse(&["--signin-failure-limit", bad]),
                Err(ConfigError::SigninFailureLimit)
            ));
        }
        for bad in ["0", "86401"] {
            assert!(matches!(
                parse(&["--signin-failure-window", bad]),
                Err(ConfigError::SigninFailureWindow)
            ));
        }
    }

    #[test]
    fn metrics_and_log_settings_are_validated() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.metrics_listen, None);
        assert_eq!(config.log_format, LogFormat::Text);
        let config =
            parse(&["--metrics-listen", "127.0.0.1:9464", "--log-format", "json"]).unwrap();
        assert_eq!(
            config.metrics_listen,
            Some("127.0.0.1:9464".parse().unwrap())
        );
        assert_eq!(config.log_format, LogFormat::Json);
        for bad in ["", "9464", "localhost:9464", "127.0.0.1", "127.0.0.1:99999"] {
            let error = parse(&["--metrics-listen", bad]).unwrap_err();
            assert_eq!(error, ConfigError::MetricsListen(bad.into()));
            assert!(error.to_string().contains("EDGEAUTH_METRICS_LISTEN"));
        }
        for bad in ["", "JSON", "xml"] {
            let error = parse(&["--log-format", bad]).unwrap_err();
            assert_eq!(error, ConfigError::LogFormat(bad.into()));
            assert!(error.to_string().contains("EDGEAUTH_LOG_FORMAT"));
        }
    }

    #[test]
    fn edge_secret_is_long_and_never_printed() {
        assert_eq!(parse(&[]).unwrap().edge_secret, None);
        for short in ["", "e"] {
            let short = short.repeat(31);
            assert_eq!(
                parse(&["--edge-secret", &short]).unwrap_err(),
                ConfigError::ShortEdgeSecret
            );
        }
        let secret = "edge-secret-".repeat(3);
        let config = parse(&["--edge-secret", &secret]).unwrap();
        assert_eq!(config.edge_secret.as_deref(), Some(secret.as_str()));
        let printed = format!("{config:?}");
        assert!(!printed.contains(&secret), "{printed}");
        assert!(
            printed.contains("edge_secret: Some(\"<redacted>\")"),
            "{printed}"
        );
    }

    #[test]
    fn origins_are_parsed_not_prefix_matched() {
        assert_eq!(
            url_origin("https://App.Example.com/x?y").unwrap(),
            "https://app.example.com"
        );
        assert_eq!(
            url_origin("http://localhost:3000").unwrap(),
            "http://localhost:3000"
        );
        assert_eq!(
            url_origin("https://a.example:443/").unwrap(),
            "https://a.example"
        );
        for bad in [
            "//evil.example",
            "https:evil.example",
            "https://user@evil.example",
            "https://a.example\\@evil",
            "javascript:alert(1)",
            "ftp://a.example",
            "https://",
            "/relative",
        ] {
            assert_eq!(url_origin(bad), None, "{bad}");
        }
    }
}

/// The documentation stays true: every environment variable `serve` reads is in
/// `.env.example` and in the configuration reference (`docs/configuration.md`).
#[cfg(test)]
mod documented {
    use clap::CommandFactory;

    use crate::cli::Cli;

    #[test]
    fn every_variable_is_documented() {
        let env_example = include_str!("../../../.env.example");
        let reference = include_str!("../../../docs/configuration.md");
        let cli = Cli::command();
        let mut seen = 0;
        for sub in cli.get_subcommands() {
            for arg in sub.get_arguments() {
                let Some(name) = arg.get_env().and_then(|n| n.to_str()) else {
                    continue;
                };
                seen += 1;
                assert!(
                    env_example.contains(&format!("{name}=")),
                    "{name} missing from .env.example"
                );
                assert!(
                    reference.contains(&format!("`{name}`")),
                    "{name} missing from docs/configuration.md"
                );
            }
        }
        assert!(seen >= 17, "only {seen} variables found");
    }
}
