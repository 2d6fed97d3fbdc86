//! SQL on `jwks` (the JWT plugin's signing keys).

use chrono::{DateTime, Utc};

use super::{on_pool, Db, DbError};

/// A row of `jwks`.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct JwkRow {
    /// The key id (the JWT header's `kid`).
    pub id: String,
    /// JSON text of the public JWK.
    #[sqlx(rename = "publicKey")]
    pub public_key: String,
    /// The private JWK, encrypted (see `keys.rs`).
    #[sqlx(rename = "privateKey")]
    pub private_key: String,
    /// Creation time: the newest unexpired key signs.
    #[sqlx(rename = "createdAt")]
    pub created_at: DateTime<Utc>,
    /// When the key stopped (or stops) signing; `None`: no end.
    #[sqlx(rename = "expiresAt")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl Db {
    /// Every key, newest first.
    pub async fn list_jwks(&self) -> Result<Vec<JwkRow>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, JwkRow>(
            r#"SELECT "id", "publicKey", "privateKey", "createdAt", "expiresAt"
               FROM "jwks" ORDER BY "createdAt" DESC"#,
        )
        .fetch_all(pool)
        .await)?)
    }

    /// Adds a key.
    pub async fn insert_jwk(&self, row: &JwkRow) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            r#"INSERT INTO "jwks" ("id", "publicKey", "privateKey", "createdAt", "expiresAt")
               VALUES ($1, $2, $3, $4, $5)"#,
        )
        .bind(&row.id)
        .bind(&row.public_key)
        .bind(&row.private_key)
        .bind(row.created_at)
        .bind(row.expires_at)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Retires every key that has no end yet: it stops signing at `at`.
    pub async fn retire_jwks(&self, at: DateTime<Utc>) -> Result<u64, DbError> {
        Ok(on_pool!(self, pool => sqlx::query(
            r#"UPDATE "jwks" SET "expiresAt" = $1 WHERE "expiresAt" IS NULL"#,
        )
        .bind(at)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }
}
