//! SQL on `verification` (password reset and account deletion tokens, as Better Auth
//! stores them) and the lifecycle writes that consume them: each token is deleted in the
//! same transaction as the change it authorises, so of two concurrent redemptions exactly
//! one deletes the row and goes on; the other changes nothing.

use chrono::{DateTime, Utc};

use super::models::User;
use super::{on_pool, Db, DbError};
use crate::ids;

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
    /// Stores a token row (`identifier`, e.g. `reset-password:<token>`, grants `value` until
    /// `expires_at`), first deleting the rows of the same kind (`kind_prefix`, e.g. `reset-password:`) that grant the same `value`: only
    /// the newest link of a kind works, and a user's rows cannot pile up however often a
    /// link is requested. One transaction.
    pub async fn replace_verification(
        &self,
        kind_prefix: &str,
        identifier: &str,
        value: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        // `_` and `%` are LIKE wildcards; the prefixes used here contain neither.
        let pattern = format!("{kind_prefix}%");
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(r#"DELETE FROM "verification" WHERE "value" = $1 AND "identifier" LIKE $2"#)
                .bind(value)
                .bind(&pattern)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                r#"INSERT INTO "verification" ("id", "identifier", "value", "expiresAt", "createdAt", "updatedAt")
                   VALUES ($1, $2, $3, $4, $5, $5)"#,
            )
            .bind(ids::generate_id())
            .bind(identifier)
            .bind(value)
            .bind(expires_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The newest row with this identifier, whatever its expiry (the caller decides).
    pub async fn find_verification(
        &self,
        identifier: &str,
    ) -> Result<Option<VerificationValue>, DbError> {
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, VerificationValue>(
            r#"SELECT "value", "expiresAt" FROM "verification" WHERE "identifier" = $1
               ORDER BY "createdAt" DESC LIMIT 1"#,
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
    pub async fn redeem_reset_token(
        &self,
        identifier: &str,
        hash: &str,
        end_sessions: bool,
        now: DateTime<Utc>,
    ) -> Result<ResetOutcome, DbError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let rows: Vec<VerificationValue> = sqlx::query_as(
                r#"DELETE FROM "verification" WHERE "identifier" = $1 RETURNING "value", "expiresAt""#,
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
                r#"UPDATE "account" SET "password" = $2, "updatedAt" = $3
                   WHERE "userId" = $1 AND "providerId" = 'credential'"#,
            )
            .bind(&user_id)
            .bind(hash)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if updated == 0 {
                sqlx::query(
                    r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt")
                       SELECT $1, "id", 'credential', "id", $2, $3, $3 FROM "user" WHERE "id" = $4"#,
                )
                .bind(ids::generate_id())
                .bind(hash)
                .bind(now)
                .bind(&user_id)
                .execute(&mut *tx)
                .await?;
            }
            let sessions_ended = if end_sessions {
                sqlx::query(r#"DELETE FROM "session" WHERE "userId" = $1"#)
                    .bind(&user_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
            } else {
                0
            };
            let email: Option<String> =
                sqlx::query_scalar(r#"SELECT "email" FROM "user" WHERE "id" = $1"#)
                    .bind(&user_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.commit().await?;
            Ok(ResetOutcome::Reset { user_id, email, sessions_ended })
        })
    }

    /// Deletes a user and everything that is theirs: sessions, accounts and their token
    /// rows (explicitly, not by relying on `ON DELETE CASCADE`, which a schema made by
    /// another tool may lack). With `token`, only if that deletion token row is live at
    /// `now` and names this user; it is consumed in the same transaction. Returns whether
    /// the user was deleted.
    pub async fn delete_user(
        &self,
        user_id: &str,
        token: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            if let Some(identifier) = token {
                let rows: Vec<VerificationValue> = sqlx::query_as(
                    r#"DELETE FROM "verification" WHERE "identifier" = $1 AND "value" = $2
                       RETURNING "value", "expiresAt""#,
                )
                .bind(identifier)
                .bind(user_id)
                .fetch_all(&mut *tx)
                .await?;
                if !rows.iter().any(|row| row.expires_at > now) {
                    tx.commit().await?;
                    return Ok(false);
                }
            }
            for sql in [
                r#"DELETE FROM "session" WHERE "userId" = $1"#,
                r#"DELETE FROM "account" WHERE "userId" = $1"#,
                r#"DELETE FROM "verification" WHERE "value" = $1"#,
            ] {
                sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
            }
            let deleted = sqlx::query(r#"DELETE FROM "user" WHERE "id" = $1"#)
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok(deleted == 1)
        })
    }

    /// Marks the user with this address verified; returns the updated user.
    pub async fn mark_email_verified(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, User>(
            r#"UPDATE "user" SET "emailVerified" = $2, "updatedAt" = $3 WHERE "email" = $1
               RETURNING "id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt""#,
        )
        .bind(email)
        .bind(true)
        .bind(now)
        .fetch_optional(pool)
        .await)?)
    }

    /// Moves the user with address `from` to address `to` (lower-case) with the given
    /// verified flag. A taken `to` is [`DbError::Conflict`]; `None` if no user has `from`.
    pub async fn change_email(
        &self,
        from: &str,
        to: &str,
        verified: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, User>(
            r#"UPDATE "user" SET "email" = $2, "emailVerified" = $3, "updatedAt" = $4
               WHERE "email" = $1
               RETURNING "id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt""#,
        )
        .bind(from)
        .bind(to)
        .bind(verified)
        .bind(now)
        .fetch_optional(pool)
        .await)?)
    }
}
