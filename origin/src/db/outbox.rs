//! SQL on `edgeauth_mail_outbox`: the durable mail queue ([`crate::mail`]).
//!
//! Rows are written in the transaction of the token their mail carries (here, in
//! `verification.rs`, `user.rs` and `two_factor.rs`). Workers take due rows with one
//! statement that claims them for a lease: on PostgreSQL the candidates are locked with
//! `FOR UPDATE SKIP LOCKED`, so processes sharing the database never take the same row, and a
//! row whose claimer died (its lease passed) is due again; on SQLite the one statement is
//! atomic by itself (SQLite runs one writer at a time). The outcome of an attempt is written
//! only while the claim still holds (a sent mail is recorded whoever holds it).
//!
//! Times are Unix milliseconds of the wall clock.

use chrono::{DateTime, Utc};
use sqlx::Connection as _;

use super::{on_pool, Db, DbError};

/// A row to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMail {
    /// Row id.
    pub id: String,
    /// A mail kind's name, or a request's (`request:<mail kind>`).
    pub kind: String,
    /// The address it goes to (a request: the address to look up).
    pub recipient: String,
    /// The user it concerns, if known.
    pub user_id: Option<String>,
    /// What it is rendered from, sealed.
    pub payload: String,
    /// The `Message-ID` every attempt sends.
    pub message_id: String,
    /// When it was written (and is first due).
    pub created_at: i64,
    /// When it stops being worth sending.
    pub expires_at: i64,
}

/// A claimed row.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ClaimedMail {
    /// Row id.
    pub id: String,
    /// See [`OutboxMail::kind`].
    pub kind: String,
    /// See [`OutboxMail::recipient`].
    pub recipient: String,
    /// See [`OutboxMail::user_id`].
    #[sqlx(rename = "userId")]
    pub user_id: Option<String>,
    /// See [`OutboxMail::payload`].
    pub payload: String,
    /// See [`OutboxMail::message_id`].
    #[sqlx(rename = "messageId")]
    pub message_id: String,
    /// Attempts so far, this one included.
    pub attempts: i32,
    /// See [`OutboxMail::expires_at`].
    #[sqlx(rename = "expiresAt")]
    pub expires_at: i64,
}

/// A row as `edgeauth users` and the tests read it (no payload).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxStatus {
    /// Row id.
    pub id: String,
    /// See [`OutboxMail::kind`].
    pub kind: String,
    /// See [`OutboxMail::recipient`].
    pub recipient: String,
    /// See [`OutboxMail::message_id`].
    #[sqlx(rename = "messageId")]
    pub message_id: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// Why the last attempt failed.
    #[sqlx(rename = "lastError")]
    pub last_error: Option<String>,
}

/// The `INSERT` of one [`OutboxMail`], ready to execute.
macro_rules! insert_outbox {
    ($db:expr, $m:expr) => {
        sqlx::query(
            $db.sql(r#"INSERT INTO {edgeauth_mail_outbox} ({edgeauth_mail_outbox.id}, {edgeauth_mail_outbox.kind}, {edgeauth_mail_outbox.recipient}, {edgeauth_mail_outbox.userId}, {edgeauth_mail_outbox.payload}, {edgeauth_mail_outbox.messageId},
                 {edgeauth_mail_outbox.status}, {edgeauth_mail_outbox.attempts}, {edgeauth_mail_outbox.nextAttemptAt}, {edgeauth_mail_outbox.createdAt}, {edgeauth_mail_outbox.expiresAt})
               VALUES ({$1:edgeauth_mail_outbox.id}, $2, $3, {$4:edgeauth_mail_outbox.userId}, $5, $6, 'pending', 0, $7, $7, $8)"#),
        )
        .bind(&$m.id)
        .bind(&$m.kind)
        .bind(&$m.recipient)
        .bind(&$m.user_id)
        .bind(&$m.payload)
        .bind(&$m.message_id)
        .bind($m.created_at)
        .bind($m.expires_at)
    };
}
pub(super) use insert_outbox;

/// The claim: due rows (pending, next attempt reached, no live lease), oldest due first,
/// taken for `claimedBy` = $1 until $2, the attempt counted. PostgreSQL's takes them
/// `FOR UPDATE SKIP LOCKED` (nothing to skip on SQLite, which has one writer).
macro_rules! claim_sql {
    ($lock:literal) => {
        concat!(
            r#"UPDATE {edgeauth_mail_outbox}
           SET {edgeauth_mail_outbox.claimedBy} = $1, {edgeauth_mail_outbox.claimedUntil} = $2, {edgeauth_mail_outbox.attempts} = {edgeauth_mail_outbox.attempts} + 1
           WHERE {edgeauth_mail_outbox.id} IN (
             SELECT {edgeauth_mail_outbox.id} FROM {edgeauth_mail_outbox}
             WHERE {edgeauth_mail_outbox.status} = 'pending' AND {edgeauth_mail_outbox.nextAttemptAt} <= $3
               AND ({edgeauth_mail_outbox.claimedUntil} IS NULL OR {edgeauth_mail_outbox.claimedUntil} <= $3)
             ORDER BY {edgeauth_mail_outbox.nextAttemptAt}, {edgeauth_mail_outbox.id}
             LIMIT $4 "#,
            $lock,
            r#")
           RETURNING {>edgeauth_mail_outbox.id}, {>edgeauth_mail_outbox.kind}, {>edgeauth_mail_outbox.recipient}, {>edgeauth_mail_outbox.userId}, {>edgeauth_mail_outbox.payload}, {>edgeauth_mail_outbox.messageId}, {>edgeauth_mail_outbox.attempts}, {>edgeauth_mail_outbox.expiresAt}"#
        )
    };
}

impl Db {
    /// Writes one row on its own (a mail whose token is stateless or that carries none).
    pub async fn enqueue_mail(&self, mail: &OutboxMail) -> Result<(), DbError> {
        on_pool!(self, pool => insert_outbox!(self, mail).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Claims up to `limit` due rows at `now` for `claimer` until `lease_until`.
    pub async fn claim_mail(
        &self,
        claimer: &str,
        now: i64,
        lease_until: i64,
        limit: i64,
    ) -> Result<Vec<ClaimedMail>, DbError> {
        let sql = self.sql(match self.dialect() {
            "postgres" => claim_sql!("FOR UPDATE SKIP LOCKED"),
            _ => claim_sql!(""),
        });
        Ok(on_pool!(self, pool => sqlx::query_as::<_, ClaimedMail>(sql)
            .bind(claimer)
            .bind(lease_until)
            .bind(now)
            .bind(limit)
            .fetch_all(pool)
            .await)?)
    }

    /// Records row `id` as sent at `now`, its payload emptied (whoever holds the claim: it
    /// was sent). False if it was not pending any more.
    pub async fn mail_sent(&self, id: &str, now: i64) -> Result<bool, DbError> {
        let rows = on_pool!(self, pool => sqlx::query(
            self.sql(r#"UPDATE {edgeauth_mail_outbox}
               SET {edgeauth_mail_outbox.status} = 'sent', {edgeauth_mail_outbox.payload} = '', {edgeauth_mail_outbox.finishedAt} = $2, {edgeauth_mail_outbox.claimedBy} = NULL,
                   {edgeauth_mail_outbox.claimedUntil} = NULL, {edgeauth_mail_outbox.lastError} = NULL
               WHERE {edgeauth_mail_outbox.id} = {$1:edgeauth_mail_outbox.id} AND {edgeauth_mail_outbox.status} = 'pending'"#),
        )
        .bind(id)
        .bind(now)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Releases `claimer`'s claim on row `id`, due again at `next` (`error`: why this
    /// attempt failed). False if the claim was lost (the lease passed and another took it).
    pub async fn mail_retry(
        &self,
        id: &str,
        claimer: &str,
        next: i64,
        error: &str,
    ) -> Result<bool, DbError> {
        let rows = on_pool!(self, pool => sqlx::query(
            self.sql(r#"UPDATE {edgeauth_mail_outbox}
               SET {edgeauth_mail_outbox.nextAttemptAt} = $3, {edgeauth_mail_outbox.lastError} = $4, {edgeauth_mail_outbox.claimedBy} = NULL, {edgeauth_mail_outbox.claimedUntil} = NULL
               WHERE {edgeauth_mail_outbox.id} = {$1:edgeauth_mail_outbox.id} AND {edgeauth_mail_outbox.claimedBy} = $2 AND {edgeauth_mail_outbox.status} = 'pending'"#),
        )
        .bind(id)
        .bind(claimer)
        .bind(next)
        .bind(error)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Marks row `id`, claimed by `claimer`, failed at `now` (kept, its payload emptied).
    pub async fn mail_failed(
        &self,
        id: &str,
        claimer: &str,
        now: i64,
        error: &str,
    ) -> Result<bool, DbError> {
        let rows = on_pool!(self, pool => sqlx::query(
            self.sql(r#"UPDATE {edgeauth_mail_outbox}
               SET {edgeauth_mail_outbox.status} = 'failed', {edgeauth_mail_outbox.payload} = '', {edgeauth_mail_outbox.finishedAt} = $3, {edgeauth_mail_outbox.lastError} = $4,
                   {edgeauth_mail_outbox.claimedBy} = NULL, {edgeauth_mail_outbox.claimedUntil} = NULL
               WHERE {edgeauth_mail_outbox.id} = {$1:edgeauth_mail_outbox.id} AND {edgeauth_mail_outbox.claimedBy} = $2 AND {edgeauth_mail_outbox.status} = 'pending'"#),
        )
        .bind(id)
        .bind(claimer)
        .bind(now)
        .bind(error)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(rows == 1)
    }

    /// Completes request row `id` (claimed by `claimer`) by deleting it and writing what it
    /// led to, in one transaction: `token` (a `verification` row replacing the user's earlier
    /// ones of its kind, as [`Db::replace_verification`]) and `mail`. Nothing is written, and
    /// false returned, if the claim was lost.
    pub async fn complete_mail_request(
        &self,
        id: &str,
        claimer: &str,
        token: Option<&TokenRow<'_>>,
        mail: Option<&OutboxMail>,
    ) -> Result<bool, DbError> {
        let verification_id = match token {
            Some(_) => self.row_id("verification").await?,
            None => String::new(),
        };
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let taken = sqlx::query(
                self.sql(r#"DELETE FROM {edgeauth_mail_outbox} WHERE {edgeauth_mail_outbox.id} = {$1:edgeauth_mail_outbox.id} AND {edgeauth_mail_outbox.claimedBy} = $2 AND {edgeauth_mail_outbox.status} = 'pending'"#),
            )
            .bind(id)
            .bind(claimer)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if taken != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            if let Some(token) = token {
                super::verification::replace_verification!(self, tx, token, &verification_id);
            }
            if let Some(mail) = mail {
                insert_outbox!(self, mail).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(true)
    }

    /// Deletes sent rows finished before `before`; returns how many.
    pub async fn purge_sent_mail(&self, before: i64) -> Result<u64, DbError> {
        Ok(on_pool!(self, pool => sqlx::query(
            self.sql(r#"DELETE FROM {edgeauth_mail_outbox} WHERE {edgeauth_mail_outbox.status} = 'sent' AND {edgeauth_mail_outbox.finishedAt} < $1"#),
        )
        .bind(before)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }

    /// How many rows are pending (queued or being delivered, by any process sharing the
    /// database): the `edgeauth_mail_pending` gauge.
    pub async fn count_pending_mail(&self) -> Result<i64, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, i64>(
            self.sql(r#"SELECT COUNT(*) FROM {edgeauth_mail_outbox} WHERE {edgeauth_mail_outbox.status} = 'pending'"#),
        )
        .fetch_one(pool)
        .await)?)
    }

    /// Every row, oldest first, without payloads (tests and diagnostics).
    pub async fn list_mail(&self) -> Result<Vec<OutboxStatus>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, OutboxStatus>(
            self.sql(r#"SELECT {>edgeauth_mail_outbox.id}, {>edgeauth_mail_outbox.kind}, {>edgeauth_mail_outbox.recipient}, {>edgeauth_mail_outbox.messageId}, {>edgeauth_mail_outbox.status}, {>edgeauth_mail_outbox.attempts}, {>edgeauth_mail_outbox.lastError}
               FROM {edgeauth_mail_outbox} ORDER BY {edgeauth_mail_outbox.createdAt}, {edgeauth_mail_outbox.id}"#),
        )
        .fetch_all(pool)
        .await)?)
    }
}

/// A `verification` row written with a mail: `identifier` grants `value` until
/// `expires_at`, replacing the rows of the same kind (`kind_prefix`) that grant `value`.
#[derive(Debug, Clone, Copy)]
pub struct TokenRow<'a> {
    /// The kind's identifier prefix (`reset-password:`).
    pub kind_prefix: &'a str,
    /// The row's identifier (`reset-password:<token>`).
    pub identifier: &'a str,
    /// What it grants to (a user id).
    pub value: &'a str,
    /// When it stops working.
    pub expires_at: DateTime<Utc>,
    /// Now (`createdAt`).
    pub now: DateTime<Utc>,
}
