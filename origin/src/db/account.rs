//! SQL on `account` (the credential account holding the password hash).

use chrono::{DateTime, Utc};

use super::models::Account;
use super::{on_pool, Db, DbError};

impl Db {
    /// The user's credential (email and password) account.
    pub async fn find_credential_account(&self, user_id: &str) -> Result<Option<Account>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, Account>(
            r#"SELECT "id", "accountId", "providerId", "userId", "password"
               FROM "account" WHERE "userId" = $1 AND "providerId" = 'credential'"#,
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Replaces an account's password hash.
    pub async fn set_account_password(
        &self,
        account_id: &str,
        hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            r#"UPDATE "account" SET "password" = $2, "updatedAt" = $3 WHERE "id" = $1"#,
        )
        .bind(account_id)
        .bind(hash)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }
}
