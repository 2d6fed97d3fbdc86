//! SQL for OAuth sign-in: provider accounts (`account` rows with a `providerId` other than
//! `credential`, in Better Auth's format), the user created with the first one, and the
//! single-use consumption of a sign-in's state row in `verification`.
//!
//! A provider account is found by the provider and the subject together, never by the
//! subject alone (Better Auth's link callback looks up `accountId` only, so one provider's
//! subject could match another's account).

use chrono::{DateTime, Utc};
use sqlx::Connection as _;

use super::models::User;
use super::user::insert_user;
use super::verification::VerificationValue;
use super::{on_pool, Db, DbError};

/// A provider account's tokens and expiry dates, as stored (tokens already sealed when
/// encryption is on).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderTokens {
    /// `accessToken`.
    pub access_token: Option<String>,
    /// `refreshToken`.
    pub refresh_token: Option<String>,
    /// `idToken` (never encrypted, as Better Auth).
    pub id_token: Option<String>,
    /// `accessTokenExpiresAt`.
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// `refreshTokenExpiresAt`.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// `scope`, comma-joined.
    pub scope: Option<String>,
}

/// A provider account to write.
#[derive(Debug, Clone)]
pub struct NewProviderAccount<'a> {
    /// The row's id.
    pub id: &'a str,
    /// `providerId`.
    pub provider_id: &'a str,
    /// `accountId`: the provider's subject.
    pub account_id: &'a str,
    /// The owner.
    pub user_id: &'a str,
    /// Tokens.
    pub tokens: &'a ProviderTokens,
    /// When.
    pub now: DateTime<Utc>,
}

/// A provider account as [`Db::find_provider_account`] returns it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ProviderAccountRef {
    /// The row's id.
    pub id: String,
    /// The owner.
    #[sqlx(rename = "userId")]
    pub user_id: String,
}

/// A row of `account` without its password hash: what the account endpoints show and the
/// provider-token endpoints read.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AccountRow {
    /// The row's id.
    pub id: String,
    /// `accountId`.
    #[sqlx(rename = "accountId")]
    pub account_id: String,
    /// `providerId`.
    #[sqlx(rename = "providerId")]
    pub provider_id: String,
    /// The owner.
    #[sqlx(rename = "userId")]
    pub user_id: String,
    /// `accessToken`, as stored.
    #[sqlx(rename = "accessToken")]
    pub access_token: Option<String>,
    /// `refreshToken`, as stored.
    #[sqlx(rename = "refreshToken")]
    pub refresh_token: Option<String>,
    /// `idToken`.
    #[sqlx(rename = "idToken")]
    pub id_token: Option<String>,
    /// `accessTokenExpiresAt`.
    #[sqlx(rename = "accessTokenExpiresAt")]
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// `refreshTokenExpiresAt`.
    #[sqlx(rename = "refreshTokenExpiresAt")]
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// `scope`, comma-joined.
    pub scope: Option<String>,
    /// Creation time.
    #[sqlx(rename = "createdAt")]
    pub created_at: DateTime<Utc>,
    /// Last update time.
    #[sqlx(rename = "updatedAt")]
    pub updated_at: DateTime<Utc>,
}

/// What [`Db::unlink_account`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlink {
    /// The account was removed.
    Unlinked,
    /// It is the user's only account: kept.
    LastAccount,
    /// The user has no such account.
    NotFound,
}

macro_rules! insert_provider_account {
    ($db:expr, $account:expr) => {
        sqlx::query(
            $db.sql(r#"INSERT INTO {account} ({account.id}, {account.accountId}, {account.providerId}, {account.userId}, {account.accessToken},
                 {account.refreshToken}, {account.idToken}, {account.accessTokenExpiresAt}, {account.refreshTokenExpiresAt}, {account.scope},
                 {account.createdAt}, {account.updatedAt})
               VALUES ({$1:account.id}, $2, $3, {$4:account.userId}, $5, $6, $7, $8, $9, $10, $11, $11)"#),
        )
        .bind($account.id)
        .bind($account.account_id)
        .bind($account.provider_id)
        .bind($account.user_id)
        .bind(&$account.tokens.access_token)
        .bind(&$account.tokens.refresh_token)
        .bind(&$account.tokens.id_token)
        .bind($account.tokens.access_token_expires_at)
        .bind($account.tokens.refresh_token_expires_at)
        .bind(&$account.tokens.scope)
        .bind($account.now)
    };
}

/// The account of a provider (`$1`) and subject (`$2`): the oldest, should a Better Auth
/// server sharing the table have written two.
static FIND_PROVIDER_ACCOUNT: &str = r#"SELECT {>account.id}, {>account.userId} FROM {account}
   WHERE {account.providerId} = $1 AND {account.accountId} = $2
   ORDER BY {account.createdAt} LIMIT 1"#;

impl Db {
    /// The account of `provider_id` whose subject is `account_id`.
    pub async fn find_provider_account(
        &self,
        provider_id: &str,
        account_id: &str,
    ) -> Result<Option<ProviderAccountRef>, DbError> {
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, ProviderAccountRef>(
            self.sql(FIND_PROVIDER_ACCOUNT),
        )
        .bind(provider_id)
        .bind(account_id)
        .fetch_optional(pool)
        .await)?,
        )
    }

    /// Every account of a user (credential and providers), oldest first.
    pub async fn list_accounts(&self, user_id: &str) -> Result<Vec<AccountRow>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, AccountRow>(
            self.sql(r#"SELECT {>account.id}, {>account.accountId}, {>account.providerId}, {>account.userId}, {>account.accessToken}, {>account.refreshToken},
                 {>account.idToken}, {>account.accessTokenExpiresAt}, {>account.refreshTokenExpiresAt}, {>account.scope},
                 {>account.createdAt}, {>account.updatedAt}
               FROM {account} WHERE {account.userId} = {$1:account.userId} ORDER BY {account.createdAt}, {account.id}"#),
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?)
    }

    /// Creates a user and its first (provider) account in one transaction. A user with the
    /// same email is [`DbError::Conflict`].
    pub async fn create_provider_user(
        &self,
        user: &User,
        account: &NewProviderAccount<'_>,
    ) -> Result<(), DbError> {
        // `user.additionalFields`: their defaults (Better Auth's adapter applies them).
        let values = self.schema.user_defaults().values;
        let sql = self.insert_user_sql(&values);
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            insert_user!(self, &*sql, user, &values).execute(&mut *tx).await?;
            insert_provider_account!(self, account).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Adds a provider account to an existing user unless the identity (provider and
    /// subject) has an account already: `None` when added, else the existing account, whose
    /// owner may be another user. Two callbacks for one identity at once (a double click,
    /// two tabs, two users linking it) add one account, not two.
    ///
    /// Better Auth's `account` table has no unique index on provider and subject, and
    /// edgeauth does not add one to a table it shares. Instead the check and the insert run
    /// in one transaction that callbacks for the identity take in turn: on PostgreSQL under
    /// a transaction-level advisory lock named by the identity, on SQLite under the write
    /// lock (`BEGIN IMMEDIATE`).
    pub async fn insert_provider_account(
        &self,
        account: &NewProviderAccount<'_>,
    ) -> Result<Option<ProviderAccountRef>, DbError> {
        let key = format!("account\n{}\n{}", account.provider_id, account.account_id);
        let existing = on_pool!(self, pool => {
            let mut tx = pool.begin_with(self.writer_begin()).await?;
            if self.dialect() == "postgres" {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1))")
                    .bind(&key)
                    .execute(&mut *tx)
                    .await?;
            }
            let existing = sqlx::query_as::<_, ProviderAccountRef>(self.sql(FIND_PROVIDER_ACCOUNT))
                .bind(account.provider_id)
                .bind(account.account_id)
                .fetch_optional(&mut *tx)
                .await?;
            if existing.is_none() {
                insert_provider_account!(self, account).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, sqlx::Error>(existing)
        })?;
        Ok(existing)
    }

    /// Replaces a provider account's tokens with the defined values of `tokens` (Better
    /// Auth's `updateAccountOnSignIn`: an absent value keeps the stored one).
    pub async fn update_provider_tokens(
        &self,
        id: &str,
        tokens: &ProviderTokens,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            self.sql(r#"UPDATE {account} SET
                 {account.accessToken} = COALESCE($2, {account.accessToken}),
                 {account.refreshToken} = COALESCE($3, {account.refreshToken}),
                 {account.idToken} = COALESCE($4, {account.idToken}),
                 {account.accessTokenExpiresAt} = COALESCE($5, {account.accessTokenExpiresAt}),
                 {account.refreshTokenExpiresAt} = COALESCE($6, {account.refreshTokenExpiresAt}),
                 {account.scope} = COALESCE($7, {account.scope}),
                 {account.updatedAt} = $8
               WHERE {account.id} = {$1:account.id}"#),
        )
        .bind(id)
        .bind(&tokens.access_token)
        .bind(&tokens.refresh_token)
        .bind(&tokens.id_token)
        .bind(tokens.access_token_expires_at)
        .bind(tokens.refresh_token_expires_at)
        .bind(&tokens.scope)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Sets a user's name and image (`overrideUserInfo`).
    pub async fn set_user_profile(
        &self,
        user_id: &str,
        name: &str,
        image: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            self.sql(r#"UPDATE {user} SET {user.name} = $2, {user.image} = $3, {user.updatedAt} = $4 WHERE {user.id} = {$1:user.id}"#),
        )
        .bind(user_id)
        .bind(name)
        .bind(image)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Removes one of a user's accounts unless it is their last: `providerId` and, when
    /// given, `accountId` (else the first of that provider). One transaction that first
    /// writes the user's row, so concurrent removals of a user's accounts run one after the
    /// other (PostgreSQL's row lock, SQLite's write lock) and cannot together remove all.
    pub async fn unlink_account(
        &self,
        user_id: &str,
        provider_id: &str,
        account_id: Option<&str>,
    ) -> Result<Unlink, DbError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(self.sql(r#"UPDATE {user} SET {user.updatedAt} = {user.updatedAt} WHERE {user.id} = {$1:user.id}"#))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            let accounts: Vec<(String, String, String)> = sqlx::query_as(
                self.sql(r#"SELECT {>account.id}, {>account.providerId}, {>account.accountId} FROM {account} WHERE {account.userId} = {$1:account.userId}
                   ORDER BY {account.createdAt}, {account.id}"#),
            )
            .bind(user_id)
            .fetch_all(&mut *tx)
            .await?;
            let target = accounts.iter().find(|(_, provider, account)| {
                provider == provider_id && account_id.is_none_or(|id| id == account)
            });
            let outcome = match target {
                None => Unlink::NotFound,
                Some(_) if accounts.len() < 2 => Unlink::LastAccount,
                Some((id, _, _)) => {
                    sqlx::query(self.sql(r#"DELETE FROM {account} WHERE {account.id} = {$1:account.id}"#))
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    Unlink::Unlinked
                }
            };
            tx.commit().await?;
            Ok::<_, DbError>(outcome)
        })
    }

    /// Deletes every `verification` row named `identifier` and returns the newest, whatever
    /// its expiry (the caller decides): of two concurrent consumptions, exactly one gets it.
    pub async fn take_state_row(
        &self,
        identifier: &str,
    ) -> Result<Option<VerificationValue>, DbError> {
        let mut rows: Vec<VerificationValue> = on_pool!(self, pool => sqlx::query_as(
            self.sql(r#"DELETE FROM {verification} WHERE {verification.identifier} = $1 RETURNING {>verification.value}, {>verification.expiresAt}"#),
        )
        .bind(identifier)
        .fetch_all(pool)
        .await)?;
        rows.sort_by_key(|row| row.expires_at);
        Ok(rows.pop())
    }
}
