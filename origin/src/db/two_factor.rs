//! SQL on Better Auth's `twoFactor` table and `user.twoFactorEnabled`, and on edgeauth's own
//! two-factor state (`edgeauth_two_factor_guard`, `edgeauth_two_factor_pending`).
//!
//! Every single-use thing is consumed by one conditional statement, so of two concurrent
//! uses exactly one changes a row and goes on: a TOTP step (an upsert that only moves the
//! last step forward), a backup code (the column replaced only if it still holds what was
//! read), a pending sign-in and an emailed code (deleted, one row or none). Attempt counts
//! are taken before a code is checked, in one statement, so concurrent guesses cannot slip
//! past a limit.

use chrono::{DateTime, Utc};
use sqlx::Connection as _;

use super::{on_pool, Db, DbError, Pool};

/// A row of `twoFactor`: the sealed secret and backup codes of one user.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TwoFactorRow {
    /// Row id.
    pub id: String,
    /// The TOTP secret, sealed (`crypto::seal`).
    pub secret: String,
    /// The JSON array of remaining backup codes, sealed.
    #[sqlx(rename = "backupCodes")]
    pub backup_codes: String,
    /// The owner.
    #[sqlx(rename = "userId")]
    pub user_id: String,
}

/// A sign-in waiting for its second factor.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PendingSignIn {
    /// Its name, carried by the signed `two_factor` cookie (`2fa-<20 characters>`).
    pub id: String,
    /// Who signed in with the first factor.
    #[sqlx(rename = "userId")]
    pub user_id: String,
    /// The sign-in's `rememberMe`.
    #[sqlx(rename = "rememberMe")]
    pub remember: bool,
    /// Wrong codes counted against it so far.
    pub failures: i32,
    /// When it ends, in Unix milliseconds.
    #[sqlx(rename = "expiresAt")]
    pub expires_at: i64,
}

impl Db {
    /// This pool reads and writes `user.twoFactorEnabled` (two-factor is on; the column
    /// must exist: [`Db::add_two_factor_column`]). Without it, users read as `false` and the
    /// column is never named, so a database without the plugin's column works unchanged.
    pub fn with_two_factor_column(mut self) -> Self {
        self.two_factor_column = true;
        self
    }

    /// Adds the plugin's column `user.twoFactorEnabled` (boolean, default false) unless it
    /// exists: what Better Auth's CLI adds with the plugin. The only change edgeauth ever
    /// makes to a Better Auth table, and only when two-factor is turned on.
    pub async fn add_two_factor_column(&self) -> Result<(), DbError> {
        if self.has_two_factor_column().await? {
            return Ok(());
        }
        let sql = match &self.pool {
            Pool::Postgres(_) => {
                self.sql(r#"ALTER TABLE {user} ADD COLUMN IF NOT EXISTS {user.twoFactorEnabled} boolean DEFAULT false"#)
            }
            Pool::Sqlite(_) => {
                self.sql(r#"ALTER TABLE {user} ADD COLUMN {user.twoFactorEnabled} integer DEFAULT 0"#)
            }
        };
        on_pool!(self, pool => sqlx::query(sql).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Whether `user.twoFactorEnabled` exists.
    pub async fn has_two_factor_column(&self) -> Result<bool, DbError> {
        let column = self.schema.column("user", "twoFactorEnabled");
        Ok(self
            .describe_table(self.schema.table("user"))
            .await?
            .is_some_and(|columns| columns.iter().any(|c| c.name == column)))
    }

    /// The user's `twoFactor` row, if any.
    pub async fn find_two_factor(&self, user_id: &str) -> Result<Option<TwoFactorRow>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, TwoFactorRow>(
            self.sql(r#"SELECT {>twoFactor.id}, {>twoFactor.secret}, {>twoFactor.backupCodes}, {>twoFactor.userId} FROM {twoFactor} WHERE {twoFactor.userId} = {$1:twoFactor.userId}
               ORDER BY {twoFactor.id} LIMIT 1"#),
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Replaces the user's `twoFactor` row (Better Auth's enable: delete, then create), in
    /// one transaction. `twoFactorEnabled` is left as it is.
    pub async fn replace_two_factor(
        &self,
        user_id: &str,
        secret: &str,
        backup_codes: &str,
    ) -> Result<(), DbError> {
        let id = self.row_id("twoFactor").await?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(self.sql(r#"DELETE FROM {twoFactor} WHERE {twoFactor.userId} = {$1:twoFactor.userId}"#))
                .bind(user_id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                self.sql(r#"INSERT INTO {twoFactor} ({twoFactor.id}, {twoFactor.secret}, {twoFactor.backupCodes}, {twoFactor.userId}) VALUES ({$1:twoFactor.id}, $2, $3, {$4:twoFactor.userId})"#),
            )
            .bind(&id)
            .bind(secret)
            .bind(backup_codes)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Sets `user.twoFactorEnabled`; false when no such user.
    pub async fn set_two_factor_enabled(
        &self,
        user_id: &str,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        let rows = on_pool!(self, pool => sqlx::query(
            self.sql(r#"UPDATE {user} SET {user.twoFactorEnabled} = $2, {user.updatedAt} = $3 WHERE {user.id} = {$1:user.id}"#),
        )
        .bind(user_id)
        .bind(enabled)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Turns two-factor off for a user, in one transaction: the flag, the `twoFactor` row,
    /// the trusted devices (`trust-device-*` rows granting to the user), the pending sign-ins,
    /// and every session but `keep_token`'s. Returns the sessions ended.
    pub async fn disable_two_factor(
        &self,
        user_id: &str,
        keep_token: &str,
        now: DateTime<Utc>,
    ) -> Result<u64, DbError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(self.sql(r#"UPDATE {user} SET {user.twoFactorEnabled} = $2, {user.updatedAt} = $3 WHERE {user.id} = {$1:user.id}"#))
                .bind(user_id)
                .bind(false)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            for sql in [
                self.sql(r#"DELETE FROM {twoFactor} WHERE {twoFactor.userId} = {$1:twoFactor.userId}"#),
                self.sql(r#"DELETE FROM {edgeauth_two_factor_pending} WHERE {edgeauth_two_factor_pending.userId} = {$1:edgeauth_two_factor_pending.userId}"#),
                self.sql(r#"DELETE FROM {verification} WHERE {verification.value} = $1 AND {verification.identifier} LIKE 'trust-device-%'"#),
            ] {
                sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
            }
            let ended = sqlx::query(self.sql(r#"DELETE FROM {session} WHERE {session.userId} = {$1:session.userId} AND {session.token} <> $2"#))
                .bind(user_id)
                .bind(keep_token)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, DbError>(ended)
        })
    }

    /// Replaces row `id`'s backup codes with `new` only if they are still `old` (what the
    /// caller read and checked): true when this call made the change.
    pub async fn swap_backup_codes(&self, id: &str, old: &str, new: &str) -> Result<bool, DbError> {
        let rows = on_pool!(self, pool => sqlx::query(
            self.sql(r#"UPDATE {twoFactor} SET {twoFactor.backupCodes} = $3 WHERE {twoFactor.id} = {$1:twoFactor.id} AND {twoFactor.backupCodes} = $2"#),
        )
        .bind(id)
        .bind(old)
        .bind(new)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Records that the user used TOTP step `step`: true if it is later than every step
    /// used before (the code is fresh), false if it was used already or an earlier one is
    /// newer. One statement.
    pub async fn claim_totp_step(&self, user_id: &str, step: i64) -> Result<bool, DbError> {
        let rows = on_pool!(self, pool => sqlx::query(
            self.sql(r#"INSERT INTO {edgeauth_two_factor_guard} ({edgeauth_two_factor_guard.userId}, {edgeauth_two_factor_guard.lastTotpStep}) VALUES ({$1:edgeauth_two_factor_guard.userId}, $2)
               ON CONFLICT ({edgeauth_two_factor_guard.userId}) DO UPDATE SET {edgeauth_two_factor_guard.lastTotpStep} = excluded.{edgeauth_two_factor_guard.lastTotpStep}
               WHERE {edgeauth_two_factor_guard}.{edgeauth_two_factor_guard.lastTotpStep} IS NULL
                  OR {edgeauth_two_factor_guard}.{edgeauth_two_factor_guard.lastTotpStep} < excluded.{edgeauth_two_factor_guard.lastTotpStep}"#),
        )
        .bind(user_id)
        .bind(step)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Counts a code attempt for the user before it is checked: false (and nothing counted)
    /// when `limit` attempts were counted since the last success and the last of them is
    /// less than `window_ms` old. Times are Unix milliseconds.
    pub async fn count_code_attempt(
        &self,
        user_id: &str,
        limit: i32,
        window_ms: i64,
        now_ms: i64,
    ) -> Result<bool, DbError> {
        let rows = on_pool!(self, pool => sqlx::query(
            self.sql(r#"INSERT INTO {edgeauth_two_factor_guard} ({edgeauth_two_factor_guard.userId}, {edgeauth_two_factor_guard.failures}, {edgeauth_two_factor_guard.lastAttempt}) VALUES ({$1:edgeauth_two_factor_guard.userId}, 1, $2)
               ON CONFLICT ({edgeauth_two_factor_guard.userId}) DO UPDATE SET
                 {edgeauth_two_factor_guard.failures} = CASE WHEN {edgeauth_two_factor_guard}.{edgeauth_two_factor_guard.lastAttempt} <= $2 - $4 THEN 1
                                   ELSE {edgeauth_two_factor_guard}.{edgeauth_two_factor_guard.failures} + 1 END,
                 {edgeauth_two_factor_guard.lastAttempt} = $2
               WHERE {edgeauth_two_factor_guard}.{edgeauth_two_factor_guard.failures} < $3
                  OR {edgeauth_two_factor_guard}.{edgeauth_two_factor_guard.lastAttempt} <= $2 - $4"#),
        )
        .bind(user_id)
        .bind(now_ms)
        .bind(limit)
        .bind(window_ms)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Clears the user's attempt count (a second factor verified).
    pub async fn clear_code_attempts(&self, user_id: &str) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            self.sql(r#"UPDATE {edgeauth_two_factor_guard} SET {edgeauth_two_factor_guard.failures} = 0 WHERE {edgeauth_two_factor_guard.userId} = {$1:edgeauth_two_factor_guard.userId}"#),
        )
        .bind(user_id)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Stores a pending sign-in, first deleting the ones that have ended.
    pub async fn create_pending_sign_in(
        &self,
        pending: &PendingSignIn,
        now_ms: i64,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => {
            sqlx::query(self.sql(r#"DELETE FROM {edgeauth_two_factor_pending} WHERE {edgeauth_two_factor_pending.expiresAt} <= $1"#))
                .bind(now_ms)
                .execute(&mut *pool)
                .await?;
            sqlx::query(
                self.sql(r#"INSERT INTO {edgeauth_two_factor_pending} ({edgeauth_two_factor_pending.id}, {edgeauth_two_factor_pending.userId}, {edgeauth_two_factor_pending.rememberMe}, {edgeauth_two_factor_pending.failures}, {edgeauth_two_factor_pending.expiresAt})
                   VALUES ({$1:edgeauth_two_factor_pending.id}, {$2:edgeauth_two_factor_pending.userId}, $3, $4, $5)"#),
            )
            .bind(&pending.id)
            .bind(&pending.user_id)
            .bind(pending.remember)
            .bind(pending.failures)
            .bind(pending.expires_at)
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    /// The pending sign-in `id`, whatever its expiry (the caller decides).
    pub async fn find_pending_sign_in(&self, id: &str) -> Result<Option<PendingSignIn>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, PendingSignIn>(
            self.sql(r#"SELECT {>edgeauth_two_factor_pending.id}, {>edgeauth_two_factor_pending.userId}, {>edgeauth_two_factor_pending.rememberMe}, {>edgeauth_two_factor_pending.failures}, {>edgeauth_two_factor_pending.expiresAt}
               FROM {edgeauth_two_factor_pending} WHERE {edgeauth_two_factor_pending.id} = {$1:edgeauth_two_factor_pending.id}"#),
        )
        .bind(id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Counts a code attempt against pending sign-in `id` before the code is checked: the
    /// sign-in as counted, or `None` when it does not exist or already has `limit` attempts.
    pub async fn count_pending_attempt(
        &self,
        id: &str,
        limit: i32,
    ) -> Result<Option<PendingSignIn>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, PendingSignIn>(
            self.sql(r#"UPDATE {edgeauth_two_factor_pending} SET {edgeauth_two_factor_pending.failures} = {edgeauth_two_factor_pending.failures} + 1
               WHERE {edgeauth_two_factor_pending.id} = {$1:edgeauth_two_factor_pending.id} AND {edgeauth_two_factor_pending.failures} < $2
               RETURNING {>edgeauth_two_factor_pending.id}, {>edgeauth_two_factor_pending.userId}, {>edgeauth_two_factor_pending.rememberMe}, {>edgeauth_two_factor_pending.failures}, {>edgeauth_two_factor_pending.expiresAt}"#),
        )
        .bind(id)
        .bind(limit)
        .fetch_optional(pool)
        .await)?)
    }

    /// Marks pending sign-in `id` as out of attempts (`failures` set to `ended_at`), without
    /// deleting it: true when it exists.
    pub async fn exhaust_pending_sign_in(&self, id: &str, ended_at: i32) -> Result<bool, DbError> {
        let rows = on_pool!(self, pool => sqlx::query(
            self.sql(r#"UPDATE {edgeauth_two_factor_pending} SET {edgeauth_two_factor_pending.failures} = $2 WHERE {edgeauth_two_factor_pending.id} = {$1:edgeauth_two_factor_pending.id}"#),
        )
        .bind(id)
        .bind(ended_at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Ends pending sign-in `id`: true when this call ended it (it existed).
    pub async fn take_pending_sign_in(&self, id: &str) -> Result<bool, DbError> {
        let rows = on_pool!(self, pool => sqlx::query(
            self.sql(r#"DELETE FROM {edgeauth_two_factor_pending} WHERE {edgeauth_two_factor_pending.id} = {$1:edgeauth_two_factor_pending.id}"#),
        )
        .bind(id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Deletes the `verification` row `identifier` if it still holds `value`: true when this
    /// call deleted it (a single-use code or a trusted device consumed).
    pub async fn take_verification(&self, identifier: &str, value: &str) -> Result<bool, DbError> {
        let rows = on_pool!(self, pool => sqlx::query(
            self.sql(r#"DELETE FROM {verification} WHERE {verification.identifier} = $1 AND {verification.value} = $2"#),
        )
        .bind(identifier)
        .bind(value)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows >= 1)
    }
}
