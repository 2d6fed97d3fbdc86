//! SQL on `jwks` (the JWT plugin's signing keys).

use chrono::{DateTime, Utc};
use sqlx::Connection as _;

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

/// The `INSERT` of one row, ready to execute.
macro_rules! insert_jwk {
    ($db:expr, $row:expr) => {
        sqlx::query(
            $db.sql(r#"INSERT INTO {jwks} ({jwks.id}, {jwks.publicKey}, {jwks.privateKey}, {jwks.createdAt}, {jwks.expiresAt})
               VALUES ({$1:jwks.id}, $2, $3, $4, $5)"#),
        )
        .bind(&$row.id)
        .bind(&$row.public_key)
        .bind(&$row.private_key)
        .bind($row.created_at)
        .bind($row.expires_at)
    };
}

impl Db {
    /// Every key, newest first.
    pub async fn list_jwks(&self) -> Result<Vec<JwkRow>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, JwkRow>(
            self.sql(r#"SELECT {>jwks.id}, {>jwks.publicKey}, {>jwks.privateKey}, {>jwks.createdAt}, {>jwks.expiresAt}
               FROM {jwks} ORDER BY {jwks.createdAt} DESC"#),
        )
        .fetch_all(pool)
        .await)?)
    }

    /// Adds `row` unless a key for which `signs` holds is there already, and says whether
    /// it did: the first key is created once however many processes ask at once.
    ///
    /// One transaction that writers of `jwks` take in turn: on PostgreSQL the table is
    /// locked in `SHARE ROW EXCLUSIVE` mode (which conflicts with itself and with every
    /// write, not with reads), on SQLite the transaction is `BEGIN IMMEDIATE` (the write
    /// lock first); the check reads the table after the lock, so a second creator sees the
    /// first one's key and adds nothing.
    pub async fn insert_jwk_unless(
        &self,
        row: &JwkRow,
        signs: impl Fn(&JwkRow) -> bool,
    ) -> Result<bool, DbError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(self.writer_begin()).await?;
            if let Some(lock) = self.jwks_writer_lock() {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            let rows = sqlx::query_as::<_, JwkRow>(
                self.sql(r#"SELECT {>jwks.id}, {>jwks.publicKey}, {>jwks.privateKey}, {>jwks.createdAt}, {>jwks.expiresAt} FROM {jwks}"#),
            )
            .fetch_all(&mut *tx)
            .await?;
            if rows.iter().any(signs) {
                tx.rollback().await?;
                return Ok(false);
            }
            insert_jwk!(self, row).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Retires every key that has no end yet (it stops signing at `at`) and adds `row`, in
    /// one transaction taken in turn with [`Db::insert_jwk_unless`]: `edgeauth keys rotate`.
    pub async fn rotate_jwks(&self, at: DateTime<Utc>, row: &JwkRow) -> Result<(), DbError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin_with(self.writer_begin()).await?;
            if let Some(lock) = self.jwks_writer_lock() {
                sqlx::query(lock).execute(&mut *tx).await?;
            }
            sqlx::query(self.sql(r#"UPDATE {jwks} SET {jwks.expiresAt} = $1 WHERE {jwks.expiresAt} IS NULL"#))
                .bind(at)
                .execute(&mut *tx)
                .await?;
            insert_jwk!(self, row).execute(&mut *tx).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The statement that serialises writers of `jwks` on PostgreSQL, first in the
    /// transaction.
    fn jwks_writer_lock(&self) -> Option<&'static str> {
        match self.dialect() {
            "postgres" => Some(self.sql(r#"LOCK TABLE {jwks} IN SHARE ROW EXCLUSIVE MODE"#)),
            _ => None,
        }
    }
}
