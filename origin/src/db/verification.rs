//! SQL on `verification` (password reset and account deletion tokens, as Better Auth
//! stores them) and the password reset that consumes a token. Every token is deleted in the
//! same transaction as the change it authorises (here, and in `user.rs` for a deletion), so
//! of two concurrent redemptions exactly one deletes the row and goes on; the other changes
//! nothing.

use chrono::{DateTime, Utc};
use sqlx::Connection as _;

use super::outbox::{insert_outbox, OutboxMail, TokenRow};
use super::{on_pool, Db, DbError};

/// Runs, in transaction `$tx`, the statements of [`Db::replace_verification`] for `$token`
/// (a [`TokenRow`]).
macro_rules! replace_verification {
    ($db:expr, $tx:ident, $token:expr, $id:expr) => {{
        let token: &$crate::db::TokenRow<'_> = $token;
        // `_` and `%` are LIKE wildcards; the prefixes used here contain neither.
        let pattern = format!("{}%", token.kind_prefix);
        sqlx::query($db.sql(r#"DELETE FROM {verification} WHERE {verification.value} = $1 AND {verification.identifier} LIKE $2"#))
            .bind(token.value)
            .bind(&pattern)
            .execute(&mut *$tx)
            .await?;
        sqlx::query(
            $db.sql(r#"INSERT INTO {verification} ({verification.id}, {verification.identifier}, {verification.value}, {verification.expiresAt}, {verification.createdAt}, {verification.updatedAt})
               VALUES ({$1:verification.id}, $2, $3, $4, $5, $5)"#),
        )
        .bind($id)
        .bind(token.identifier)
        .bind(token.value)
        .bind(token.expires_at)
        .bind(token.now)
        .execute(&mut *$tx)
        .await?;
    }};
}
pub(super) use replace_verification;

/// A `verification` row's payload.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VerificationValue {
    /// What the token grants to (a user id for reset and deletion tokens).
    pub value: String,
    /// When it stops working.
    #[sqlx(rename = "expiresAt")]
    pub expires_at: DateTime<Utc>,
}

/// What a password reset did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetOutcome {
    /// The password of this user was replaced.
    Reset {
        /// The user.
        user_id: String,
        /// The user's address (absent if the user was deleted meanwhile).
        email: Option<String>,
        /// Sessions ended (when asked to end them).
        sessions_ended: u64,
    },
    /// No live token: unknown, used, or expired (an expired one is deleted).
    InvalidToken,
}

impl Db {
    /// Stores a token row ([`TokenRow`]: `identifier`, e.g. `reset-password:<token>`, grants
    /// `value` until `expires_at`), first deleting the rows of the same kind (`kind_prefix`,
    /// e.g. `reset-password:`) that grant the same `value`: only the newest link of a kind
    /// works, and a user's rows cannot pile up however often a link is requested. With
    /// `mail`, the mail carrying the token is queued in the same transaction.
    pub async fn replace_verification(
        &self,
        token: &TokenRow<'_>,
        mail: Option<&OutboxMail>,
    ) -> Result<(), DbError> {
        let id = self.row_id("verification").await?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            replace_verification!(self, tx, token, &id);
            if let Some(mail) = mail {
                insert_outbox!(self, mail).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Stores a row (`identifier` grants `value` until `expires_at`) beside any others.
    pub async fn insert_verification(
        &self,
        identifier: &str,
        value: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        let id = self.row_id("verification").await?;
        on_pool!(self, pool => sqlx::query(
            self.sql(r#"INSERT INTO {verification} ({verification.id}, {verification.identifier}, {verification.value}, {verification.expiresAt}, {verification.createdAt}, {verification.updatedAt})
               VALUES ({$1:verification.id}, $2, $3, $4, $5, $5)"#),
        )
        .bind(&id)
        .bind(identifier)
        .bind(value)
        .bind(expires_at)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Replaces every row with this identifier by one granting `value` until `expires_at`
    /// (an emailed sign-in code), and queues `mail`, which carries it: one transaction.
    pub async fn replace_code(
        &self,
        identifier: &str,
        value: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
        mail: Option<&OutboxMail>,
    ) -> Result<(), DbError> {
        let id = self.row_id("verification").await?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(self.sql(r#"DELETE FROM {verification} WHERE {verification.identifier} = $1"#))
                .bind(identifier)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                self.sql(r#"INSERT INTO {verification} ({verification.id}, {verification.identifier}, {verification.value}, {verification.expiresAt}, {verification.createdAt}, {verification.updatedAt})
                   VALUES ({$1:verification.id}, $2, $3, $4, $5, $5)"#),
            )
            .bind(&id)
            .bind(identifier)
            .bind(value)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            if let Some(mail) = mail {
                insert_outbox!(self, mail).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Deletes every row with this identifier.
    pub async fn delete_verification(&self, identifier: &str) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(self.sql(r#"DELETE FROM {verification} WHERE {verification.identifier} = $1"#))
            .bind(identifier)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The newest row with this identifier, whatever its expiry (the caller decides).
    pub async fn find_verification(
        &self,
        identifier: &str,
    ) -> Result<Option<VerificationValue>, DbError> {
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, VerificationValue>(
            self.sql(r#"SELECT {>verification.value}, {>verification.expiresAt} FROM {verification} WHERE {verification.identifier} = $1
               ORDER BY {verification.createdAt} DESC LIMIT 1"#),
        )
        .bind(identifier)
        .fetch_optional(pool)
        .await)?,
        )
    }

    /// Redeems a password reset token: deletes its row and, if it was live at `now`, sets
    /// the user's credential password to `hash` (creating the credential account if there
    /// is none, as Better Auth does) and, with `end_sessions`, deletes every session of the
    /// user. One transaction.
    ///
    /// A reset is authorised by its token, not by a password, so it replaces whatever hash
    /// is stored; what races it is guarded on the other side: a password change or a
    /// sign-in's hash upgrade that verified the hash this replaces writes nothing
    /// ([`Db::change_password`]), so a reset is never undone by a change that started
    /// before it. In PostgreSQL the `UPDATE` here and the change's guarded one lock the same
    /// row, so whichever commits second sees the other's hash; SQLite serialises the writes.
    pub async fn redeem_reset_token(
        &self,
        identifier: &str,
        hash: &str,
        end_sessions: bool,
        now: DateTime<Utc>,
    ) -> Result<ResetOutcome, DbError> {
        // The credential account's id, should the user have none (a provider-only user).
        let account_id = self.row_id("account").await?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows: Vec<VerificationValue> = sqlx::query_as(
                self.sql(r#"DELETE FROM {verification} WHERE {verification.identifier} = $1 RETURNING {>verification.value}, {>verification.expiresAt}"#),
            )
            .bind(identifier)
            .fetch_all(&mut *tx)
            .await?;
            let Some(user_id) = rows
                .into_iter()
                .find(|row| row.expires_at > now)
                .map(|row| row.value)
            else {
                tx.commit().await?;
                return Ok(ResetOutcome::InvalidToken);
            };
            let updated = sqlx::query(
                self.sql(r#"UPDATE {account} SET {account.password} = $2, {account.updatedAt} = $3
                   WHERE {account.userId} = {$1:account.userId} AND {account.providerId} = 'credential'"#),
            )
            .bind(&user_id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    self.sql(r#"INSERT INTO {account} ({account.id}, {account.accountId}, {account.providerId}, {account.userId}, {account.password}, {account.createdAt}, {account.updatedAt})
                       SELECT {$1:account.id}, {>user.id} AS "accountId", 'credential', {user.id}, $2, $3, $3 FROM {user} WHERE {user.id} = {$4:user.id}"#),
                )
                .bind(&account_id)
                .bind(hash)
                .bind(now)
                .bind(&user_id)
                .execute(&mut *tx)
                .await?;
            }
            let sessions_ended = if end_sessions {
                sqlx::query(self.sql(r#"DELETE FROM {session} WHERE {session.userId} = {$1:session.userId}"#))
                    .bind(&user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            } else {
                0
            };
            let email: Option<String> =
                sqlx::query_scalar(self.sql(r#"SELECT {>user.email} FROM {user} WHERE {user.id} = {$1:user.id}"#))
                    .bind(&user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.commit().await?;
            Ok::<_, DbError>(ResetOutcome::Reset { user_id, email, sessions_ended })
        })
    }
}
