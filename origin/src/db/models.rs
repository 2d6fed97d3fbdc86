//! Rows of Better Auth's tables, as the origin reads and writes them.
//!
//! The `Serialize` forms are Better Auth's JSON: camelCase names, dates as JavaScript's
//! `Date#toJSON` (`2026-12-03T20:03:00.812Z`), server-only fields (`password`, provider
//! tokens) never present.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Serialize, Serializer};

use super::fields::{Extra, FieldValue};

/// JavaScript's `Date#toJSON`: UTC, millisecond precision, `Z`.
pub fn js_date(date: &DateTime<Utc>) -> String {
    date.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ser_date<S: Serializer>(date: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&js_date(date))
}

/// A row of `user`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// 32-character id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Lower-cased email address.
    pub email: String,
    /// Whether the address was verified.
    #[sqlx(rename = "emailVerified")]
    pub email_verified: bool,
    /// Avatar URL.
    pub image: Option<String>,
    /// Creation time.
    #[sqlx(rename = "createdAt")]
    #[serde(serialize_with = "ser_date")]
    pub created_at: DateTime<Utc>,
    /// Last update time.
    #[sqlx(rename = "updatedAt")]
    #[serde(serialize_with = "ser_date")]
    pub updated_at: DateTime<Utc>,
    /// Whether a second factor is required to sign in (Better Auth's twoFactor plugin column;
    /// `false` when unset).
    #[sqlx(rename = "twoFactorEnabled")]
    pub two_factor_enabled: bool,
    /// `user.additionalFields` with `returned` on, by key (empty without any declared).
    #[sqlx(skip)]
    #[serde(flatten)]
    pub extra: Extra,
}

/// A user to create.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// The new user.
    pub user: User,
    /// The credential account's password hash.
    pub password_hash: String,
    /// `user.additionalFields` values to write (see [`crate::db::FieldInput`]).
    pub values: Vec<(&'static str, FieldValue)>,
}

/// A row of `session`.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// 32-character id.
    pub id: String,
    /// When the session ends unless refreshed.
    #[sqlx(rename = "expiresAt")]
    #[serde(serialize_with = "ser_date")]
    pub expires_at: DateTime<Utc>,
    /// The 32-character session token (the cookie's value before signing).
    pub token: String,
    /// Creation time.
    #[sqlx(rename = "createdAt")]
    #[serde(serialize_with = "ser_date")]
    pub created_at: DateTime<Utc>,
    /// Last refresh time.
    #[sqlx(rename = "updatedAt")]
    #[serde(serialize_with = "ser_date")]
    pub updated_at: DateTime<Utc>,
    /// Client address at creation, or `""`.
    #[sqlx(rename = "ipAddress")]
    pub ip_address: Option<String>,
    /// User agent at creation, or `""`.
    #[sqlx(rename = "userAgent")]
    pub user_agent: Option<String>,
    /// The owner.
    #[sqlx(rename = "userId")]
    pub user_id: String,
    /// `session.additionalFields` with `returned` on, by key (empty without any declared).
    #[sqlx(skip)]
    #[serde(flatten)]
    pub extra: Extra,
}

/// A session and its user, as `get-session` returns them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionWithUser {
    /// The session.
    pub session: Session,
    /// Its user.
    pub user: User,
}

/// A row of `account` (the credential account, for email and password).
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Account {
    /// 32-character id.
    pub id: String,
    /// For the credential provider: the user id.
    #[sqlx(rename = "accountId")]
    pub account_id: String,
    /// `credential` for email and password.
    #[sqlx(rename = "providerId")]
    pub provider_id: String,
    /// The owner.
    #[sqlx(rename = "userId")]
    pub user_id: String,
    /// The password hash (argon2id PHC string, or Better Auth's scrypt `salt:key`).
    pub password: Option<String>,
}
