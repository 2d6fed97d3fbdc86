//! edgeauth's own tables on a deployment's own schema (`EDGEAUTH_SCHEMA`), where the
//! migrations do not run: created if missing, under their configured names, without the
//! foreign keys the migrations give them (their targets are the deployment's tables, whose
//! id types may differ; edgeauth deletes a user's rows explicitly anyway). Nothing else is
//! created or altered.

use super::{on_pool, Db, DbError};

/// The statements for PostgreSQL.
const POSTGRES: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS {edgeauth_two_factor_guard} (
    {edgeauth_two_factor_guard.userId} text NOT NULL PRIMARY KEY,
    {edgeauth_two_factor_guard.lastTotpStep} bigint,
    {edgeauth_two_factor_guard.failures} integer NOT NULL DEFAULT 0,
    {edgeauth_two_factor_guard.lastAttempt} bigint NOT NULL DEFAULT 0
)"#,
    r#"CREATE TABLE IF NOT EXISTS {edgeauth_two_factor_pending} (
    {edgeauth_two_factor_pending.id} text NOT NULL PRIMARY KEY,
    {edgeauth_two_factor_pending.userId} text NOT NULL,
    {edgeauth_two_factor_pending.rememberMe} boolean NOT NULL,
    {edgeauth_two_factor_pending.failures} integer NOT NULL DEFAULT 0,
    {edgeauth_two_factor_pending.expiresAt} bigint NOT NULL
)"#,
    r#"CREATE TABLE IF NOT EXISTS {edgeauth_passkey_use} (
    {edgeauth_passkey_use.passkeyId} text NOT NULL PRIMARY KEY,
    {edgeauth_passkey_use.lastUsedAt} timestamptz NOT NULL
)"#,
    r#"CREATE TABLE IF NOT EXISTS {edgeauth_mail_outbox} (
    {edgeauth_mail_outbox.id} text NOT NULL PRIMARY KEY,
    {edgeauth_mail_outbox.kind} text NOT NULL,
    {edgeauth_mail_outbox.recipient} text NOT NULL,
    {edgeauth_mail_outbox.userId} text,
    {edgeauth_mail_outbox.payload} text NOT NULL,
    {edgeauth_mail_outbox.messageId} text NOT NULL UNIQUE,
    {edgeauth_mail_outbox.status} text NOT NULL,
    {edgeauth_mail_outbox.attempts} integer NOT NULL DEFAULT 0,
    {edgeauth_mail_outbox.nextAttemptAt} bigint NOT NULL,
    {edgeauth_mail_outbox.claimedBy} text,
    {edgeauth_mail_outbox.claimedUntil} bigint,
    {edgeauth_mail_outbox.lastError} text,
    {edgeauth_mail_outbox.createdAt} bigint NOT NULL,
    {edgeauth_mail_outbox.expiresAt} bigint NOT NULL,
    {edgeauth_mail_outbox.finishedAt} bigint
)"#,
];

/// The statements for SQLite.
const SQLITE: &[&str] = &[
    r#"CREATE TABLE IF NOT EXISTS {edgeauth_two_factor_guard} (
    {edgeauth_two_factor_guard.userId} text NOT NULL PRIMARY KEY,
    {edgeauth_two_factor_guard.lastTotpStep} integer,
    {edgeauth_two_factor_guard.failures} integer NOT NULL DEFAULT 0,
    {edgeauth_two_factor_guard.lastAttempt} integer NOT NULL DEFAULT 0
)"#,
    r#"CREATE TABLE IF NOT EXISTS {edgeauth_two_factor_pending} (
    {edgeauth_two_factor_pending.id} text NOT NULL PRIMARY KEY,
    {edgeauth_two_factor_pending.userId} text NOT NULL,
    {edgeauth_two_factor_pending.rememberMe} integer NOT NULL,
    {edgeauth_two_factor_pending.failures} integer NOT NULL DEFAULT 0,
    {edgeauth_two_factor_pending.expiresAt} integer NOT NULL
)"#,
    r#"CREATE TABLE IF NOT EXISTS {edgeauth_passkey_use} (
    {edgeauth_passkey_use.passkeyId} text NOT NULL PRIMARY KEY,
    {edgeauth_passkey_use.lastUsedAt} text NOT NULL
)"#,
    r#"CREATE TABLE IF NOT EXISTS {edgeauth_mail_outbox} (
    {edgeauth_mail_outbox.id} text NOT NULL PRIMARY KEY,
    {edgeauth_mail_outbox.kind} text NOT NULL,
    {edgeauth_mail_outbox.recipient} text NOT NULL,
    {edgeauth_mail_outbox.userId} text,
    {edgeauth_mail_outbox.payload} text NOT NULL,
    {edgeauth_mail_outbox.messageId} text NOT NULL UNIQUE,
    {edgeauth_mail_outbox.status} text NOT NULL,
    {edgeauth_mail_outbox.attempts} integer NOT NULL DEFAULT 0,
    {edgeauth_mail_outbox.nextAttemptAt} integer NOT NULL,
    {edgeauth_mail_outbox.claimedBy} text,
    {edgeauth_mail_outbox.claimedUntil} integer,
    {edgeauth_mail_outbox.lastError} text,
    {edgeauth_mail_outbox.createdAt} integer NOT NULL,
    {edgeauth_mail_outbox.expiresAt} integer NOT NULL,
    {edgeauth_mail_outbox.finishedAt} integer
)"#,
];

/// The indexes, in both dialects.
const INDEXES: &[&str] = &[
    r#"CREATE INDEX IF NOT EXISTS "edgeauth_two_factor_pending_userId_idx" ON {edgeauth_two_factor_pending} ({edgeauth_two_factor_pending.userId})"#,
    r#"CREATE INDEX IF NOT EXISTS "edgeauth_mail_outbox_due_idx" ON {edgeauth_mail_outbox} ({edgeauth_mail_outbox.status}, {edgeauth_mail_outbox.nextAttemptAt})"#,
    r#"CREATE INDEX IF NOT EXISTS "edgeauth_mail_outbox_userId_idx" ON {edgeauth_mail_outbox} ({edgeauth_mail_outbox.userId})"#,
];

impl Db {
    /// Creates edgeauth's own tables that are missing, under the schema's names (see the
    /// module documentation): what `serve` (with `EDGEAUTH_MIGRATE=on`) and `edgeauth
    /// migrate` do instead of the migrations when `EDGEAUTH_SCHEMA` names the deployment's
    /// own tables.
    pub async fn create_own_tables(&self) -> Result<(), DbError> {
        let tables = match self.dialect() {
            "postgres" => POSTGRES,
            _ => SQLITE,
        };
        for template in tables.iter().chain(INDEXES) {
            let sql = self.sql(template);
            on_pool!(self, pool => sqlx::query(sql).execute(pool).await.map(|_| ()))?;
        }
        Ok(())
    }
}
