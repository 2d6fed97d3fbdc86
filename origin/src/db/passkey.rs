//! SQL on the `@better-auth/passkey` plugin's `passkey` table, in Better Auth's format, and
//! on edgeauth's `edgeauth_passkey_use` (when each passkey was last used).
//!
//! The signature counter moves forward in one conditional statement, so of two concurrent
//! sign-ins with the same assertion (or a cloned authenticator's) only one is accepted.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use sqlx::Connection as _;

use super::{on_pool, Db, DbError};

/// The statement reading [`PasskeyRow`]s, with the `WHERE` clause `$where` (a literal).
macro_rules! select_passkeys {
    ($where:literal) => {
        concat!(
            r#"SELECT {>p.passkey.id}, {>p.passkey.name}, {>p.passkey.publicKey}, {>p.passkey.userId}, {>p.passkey.credentialID},
    CAST(p.{passkey.counter} AS BIGINT) AS "counter", {>p.passkey.deviceType}, {>p.passkey.backedUp}, {>p.passkey.transports},
    {>p.passkey.createdAt}, {>p.passkey.aaguid}, {>u.edgeauth_passkey_use.lastUsedAt} FROM {passkey} p
               LEFT JOIN {edgeauth_passkey_use} u ON u.{edgeauth_passkey_use.passkeyId} = {~p.passkey.id}
               WHERE "#,
            $where
        )
    };
}

/// A row of `passkey`, as Better Auth's `list-user-passkeys` returns it (plus its last use,
/// which edgeauth keeps apart).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct PasskeyRow {
    /// Row id.
    pub id: String,
    /// The name the user gave it.
    pub name: Option<String>,
    /// Standard base64 (padded) of the COSE public key.
    #[sqlx(rename = "publicKey")]
    pub public_key: String,
    /// The owner.
    #[sqlx(rename = "userId")]
    pub user_id: String,
    /// The credential id, base64url without padding.
    #[sqlx(rename = "credentialID")]
    #[serde(rename = "credentialID")]
    pub credential_id: String,
    /// The last signature counter seen.
    pub counter: i64,
    /// `singleDevice` or `multiDevice` (backup eligible).
    #[sqlx(rename = "deviceType")]
    pub device_type: String,
    /// Whether the credential is backed up (synced).
    #[sqlx(rename = "backedUp")]
    pub backed_up: bool,
    /// Comma-joined transports.
    pub transports: Option<String>,
    /// When it was registered.
    #[sqlx(rename = "createdAt")]
    #[serde(serialize_with = "ser_opt_date")]
    pub created_at: Option<DateTime<Utc>>,
    /// The authenticator model (UUID text).
    pub aaguid: Option<String>,
    /// When it last signed someone in (edgeauth's own record; not a Better Auth field).
    #[sqlx(rename = "lastUsedAt")]
    #[serde(skip)]
    pub last_used_at: Option<DateTime<Utc>>,
}

fn ser_opt_date<S: serde::Serializer>(
    date: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match date {
        Some(d) => s.serialize_str(&d.to_rfc3339_opts(SecondsFormat::Millis, true)),
        None => s.serialize_none(),
    }
}

impl Db {
    /// Stores a new passkey.
    pub async fn create_passkey(&self, row: &PasskeyRow) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            self.sql(r#"INSERT INTO {passkey} ({passkey.id}, {passkey.name}, {passkey.publicKey}, {passkey.userId}, {passkey.credentialID}, {passkey.counter},
                 {passkey.deviceType}, {passkey.backedUp}, {passkey.transports}, {passkey.createdAt}, {passkey.aaguid})
               VALUES ({$1:passkey.id}, $2, $3, {$4:passkey.userId}, $5, $6, $7, $8, $9, $10, $11)"#),
        )
        .bind(&row.id)
        .bind(&row.name)
        .bind(&row.public_key)
        .bind(&row.user_id)
        .bind(&row.credential_id)
        .bind(row.counter)
        .bind(&row.device_type)
        .bind(row.backed_up)
        .bind(&row.transports)
        .bind(row.created_at)
        .bind(&row.aaguid)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// A user's passkeys, oldest first.
    pub async fn list_passkeys(&self, user_id: &str) -> Result<Vec<PasskeyRow>, DbError> {
        let sql = self.sql(select_passkeys!(
            r#"p.{passkey.userId} = {$1:passkey.userId} ORDER BY p.{passkey.createdAt}, p.{passkey.id}"#
        ));
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, PasskeyRow>(sql).bind(user_id).fetch_all(pool).await)?,
        )
    }

    /// The passkey with this credential id.
    pub async fn find_passkey_by_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<PasskeyRow>, DbError> {
        let sql = self.sql(select_passkeys!(
            r#"p.{passkey.credentialID} = $1 ORDER BY p.{passkey.id} LIMIT 1"#
        ));
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, PasskeyRow>(sql).bind(credential_id).fetch_optional(pool).await)?,
        )
    }

    /// The passkey with this row id.
    pub async fn find_passkey(&self, id: &str) -> Result<Option<PasskeyRow>, DbError> {
        if !self.schema.id_fits("passkey", "id", id) {
            return Ok(None);
        }
        let sql = self.sql(select_passkeys!(r#"p.{passkey.id} = {$1:passkey.id}"#));
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, PasskeyRow>(sql).bind(id).fetch_optional(pool).await)?,
        )
    }

    /// Renames passkey `id`: true when it existed.
    pub async fn rename_passkey(&self, id: &str, name: &str) -> Result<bool, DbError> {
        if !self.schema.id_fits("passkey", "id", id) {
            return Ok(false);
        }
        let rows = on_pool!(self, pool => sqlx::query(self.sql(r#"UPDATE {passkey} SET {passkey.name} = $2 WHERE {passkey.id} = {$1:passkey.id}"#))
            .bind(id)
            .bind(name)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Deletes passkey `id`: true when this call deleted it.
    pub async fn delete_passkey(&self, id: &str) -> Result<bool, DbError> {
        if !self.schema.id_fits("passkey", "id", id) {
            return Ok(false);
        }
        let rows = on_pool!(self, pool => sqlx::query(self.sql(r#"DELETE FROM {passkey} WHERE {passkey.id} = {$1:passkey.id}"#))
            .bind(id)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Records a sign-in with passkey `id`: its counter moves from `seen` (what the
    /// verification checked against) to `counter`, and its last use is now. False, and
    /// nothing changed, when the counter was no longer `seen` (a concurrent sign-in with the
    /// same passkey, or a clone, got there first).
    pub async fn record_passkey_use(
        &self,
        id: &str,
        seen: i64,
        counter: i64,
        backed_up: bool,
        now: DateTime<Utc>,
    ) -> Result<bool, DbError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let moved = sqlx::query(
                self.sql(r#"UPDATE {passkey} SET {passkey.counter} = $3, {passkey.backedUp} = $4
                   WHERE {passkey.id} = {$1:passkey.id} AND {passkey.counter} = $2"#),
            )
            .bind(id)
            .bind(seen)
            .bind(counter)
            .bind(backed_up)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if moved != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            sqlx::query(
                self.sql(r#"INSERT INTO {edgeauth_passkey_use} ({edgeauth_passkey_use.passkeyId}, {edgeauth_passkey_use.lastUsedAt}) VALUES ({$1:edgeauth_passkey_use.passkeyId}, $2)
                   ON CONFLICT ({edgeauth_passkey_use.passkeyId}) DO UPDATE SET {edgeauth_passkey_use.lastUsedAt} = excluded.{edgeauth_passkey_use.lastUsedAt}"#),
            )
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok::<bool, DbError>(true)
        })
    }
}
