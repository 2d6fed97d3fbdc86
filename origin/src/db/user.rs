//! SQL on `user`: the sign-up transaction that also writes `account` and `session`, email
//! verification and change, and the deletion of a user with everything that is theirs (in
//! one transaction that also consumes the deletion token, if any).

use chrono::{DateTime, Utc};
use sqlx::Connection as _;

use std::borrow::Cow;

use super::fields::{self, FieldValue, WithExtra};
use super::models::{NewUser, Session, User};
use super::outbox::{insert_outbox, OutboxMail};
use super::schema::quote;
use super::session::insert_session;
use super::verification::VerificationValue;
use super::{on_pool, Db, DbError};

/// The columns of [`User`], in every `SELECT` and `RETURNING` of a user (a literal).
macro_rules! user_columns {
    () => {
        r#"{>user.id}, {>user.name}, {>user.email}, {>user.emailVerified}, {>user.image}, {>user.createdAt}, {>user.updatedAt},
    "#
    };
}

/// `$db.sql` of the statement `$before` user columns `$after`: with two-factor on,
/// `twoFactorEnabled` is the twoFactor plugin's column (`NULL` read as false); without, the
/// column may not exist, and is read as false.
macro_rules! with_user_columns {
    ($db:expr, $before:literal, $after:literal) => {
        if $db.two_factor_column {
            $db.sql(concat!(
                $before,
                user_columns!(),
                r#"COALESCE({user.twoFactorEnabled}, FALSE) AS "twoFactorEnabled"{*user}"#,
                $after
            ))
        } else {
            $db.sql(concat!(
                $before,
                user_columns!(),
                r#"FALSE AS "twoFactorEnabled"{*user}"#,
                $after
            ))
        }
    };
}

/// The `INSERT` of a user's own columns, without the closing `)` of its values (the
/// additional fields' columns and values are added before them).
const INSERT_USER_COLUMNS: &str = r#"INSERT INTO {user} ({user.id}, {user.name}, {user.email}, {user.emailVerified}, {user.image}, {user.createdAt}, {user.updatedAt}"#;
const INSERT_USER_VALUES: &str = r#")
               VALUES ({$1:user.id}, $2, $3, $4, $5, $6, $7"#;

/// Binds `$value` (a [`FieldValue`]) to the query `$q`.
macro_rules! bind_field {
    ($q:expr, $value:expr) => {
        match $value {
            $crate::db::FieldValue::Text(v) => $q.bind(v.clone()),
            $crate::db::FieldValue::Int(v) => $q.bind(*v),
            $crate::db::FieldValue::Float(v) => $q.bind(*v),
            $crate::db::FieldValue::Bool(v) => $q.bind(*v),
            $crate::db::FieldValue::Date(v) => $q.bind(*v),
            $crate::db::FieldValue::Json(v) => $q.bind(v.clone()),
        }
    };
}
pub(super) use bind_field;

/// The statement inserting `$u` (a [`User`]) with the additional fields' `$values` into
/// `user`, its text in `$sql` (from [`Db::insert_user_sql`]): one place for the column list,
/// shared by sign-up and provider sign-up.
macro_rules! insert_user {
    ($db:expr, $sql:expr, $u:expr, $values:expr) => {{
        let mut q = sqlx::query($sql)
            .bind(&$u.id)
            .bind(&$u.name)
            .bind(&$u.email)
            .bind($u.email_verified)
            .bind(&$u.image)
            .bind($u.created_at)
            .bind($u.updated_at);
        for (_, value) in $values {
            q = $crate::db::user::bind_field!(q, value);
        }
        q
    }};
}
pub(super) use insert_user;

impl Db {
    /// The text of [`insert_user!`] for these additional fields' values: the cached
    /// statement without any.
    pub(super) fn insert_user_sql(
        &self,
        values: &[(&'static str, FieldValue)],
    ) -> Cow<'static, str> {
        if values.is_empty() {
            return Cow::Borrowed(self.sql(concat!(
                r#"INSERT INTO {user} ({user.id}, {user.name}, {user.email}, {user.emailVerified}, {user.image}, {user.createdAt}, {user.updatedAt}"#,
                r#")
               VALUES ({$1:user.id}, $2, $3, $4, $5, $6, $7"#,
                ")"
            )));
        }
        let mut columns = self.schema.render(INSERT_USER_COLUMNS);
        let mut params = self.schema.render(INSERT_USER_VALUES);
        for (i, (field, value)) in values.iter().enumerate() {
            columns.push_str(&format!(", {}", quote(self.schema.column("user", field))));
            params.push_str(&format!(", {}", self.field_param(value, 8 + i)));
        }
        Cow::Owned(format!("{columns}{params})"))
    }

    /// Parameter `$n` for an additional field's `value`: JSON, bound as text, is cast to
    /// `jsonb` on PostgreSQL (a `json` or text column takes that by assignment).
    fn field_param(&self, value: &FieldValue, n: usize) -> String {
        match (value, self.dialect()) {
            (FieldValue::Json(_), "postgres") => format!("CAST(${n} AS jsonb)"),
            _ => format!("${n}"),
        }
    }

    /// The user of a row read with its additional fields.
    pub(super) fn user_of(&self, row: WithExtra<User>) -> User {
        let WithExtra(mut user, raw) = row;
        user.extra = fields::decode(self.schema.user_fields(), "user", &raw);
        user
    }
}

impl Db {
    /// Creates a user, its credential account, (optionally) a first session and (optionally)
    /// the verification mail, in one transaction. A second user with the same email is
    /// [`DbError::Conflict`].
    pub async fn create_user(
        &self,
        new: &NewUser,
        session: Option<&Session>,
        mail: Option<&OutboxMail>,
    ) -> Result<(), DbError> {
        let user = &new.user;
        let account_id = self.row_id("account").await?;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let sql = self.insert_user_sql(&new.values);
            insert_user!(self, &*sql, user, &new.values).execute(&mut *tx).await?;
            sqlx::query(
                self.sql(r#"INSERT INTO {account} ({account.id}, {account.accountId}, {account.providerId}, {account.userId}, {account.password}, {account.createdAt}, {account.updatedAt})
                   VALUES ({$1:account.id}, $2, 'credential', {$3:account.userId}, $4, $5, $6)"#),
            )
            .bind(&account_id)
            .bind(&user.id)
            .bind(&user.id)
            .bind(&new.password_hash)
            .bind(user.created_at)
            .bind(user.updated_at)
            .execute(&mut *tx)
            .await?;
            if let Some(session) = session {
                insert_session!(self, session).execute(&mut *tx).await?;
            }
            if let Some(mail) = mail {
                insert_outbox!(self, mail).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The user with this id.
    pub async fn find_user_by_id(&self, id: &str) -> Result<Option<User>, DbError> {
        if !self.schema.id_fits("user", "id", id) {
            return Ok(None);
        }
        let sql = with_user_columns!(
            self,
            "SELECT ",
            r#" FROM {user} WHERE {user.id} = {$1:user.id}"#
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, WithExtra<User>>(sql).bind(id).fetch_optional(pool).await)?
                .map(|w| self.user_of(w)),
        )
    }

    /// The user with this (lower-cased) email.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, DbError> {
        let sql = with_user_columns!(self, "SELECT ", r#" FROM {user} WHERE {user.email} = $1"#);
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, WithExtra<User>>(sql).bind(email).fetch_optional(pool).await)?
                .map(|w| self.user_of(w)),
        )
    }

    /// Updates name and/or image and the additional fields' `values`; returns the updated
    /// user.
    pub async fn update_user(
        &self,
        id: &str,
        name: Option<&str>,
        image: Option<Option<&str>>,
        values: &[(&'static str, FieldValue)],
        now: DateTime<Utc>,
    ) -> Result<Option<User>, DbError> {
        let sql = with_user_columns!(
            self,
            r#"UPDATE {user} SET
                 {user.name} = COALESCE($2, {user.name}),
                 {user.image} = CASE WHEN $3 THEN $4 ELSE {user.image} END,
                 {user.updatedAt} = $5
               WHERE {user.id} = {$1:user.id}
               RETURNING "#,
            ""
        );
        let sql: Cow<'static, str> = if values.is_empty() {
            Cow::Borrowed(sql)
        } else {
            // `SET ..., "plan" = $6 WHERE`: built per request (update-user is rare).
            let set: String = values
                .iter()
                .enumerate()
                .map(|(i, (field, value))| {
                    format!(
                        ", {} = {}",
                        quote(self.schema.column("user", field)),
                        self.field_param(value, 6 + i)
                    )
                })
                .collect();
            let Some((head, tail)) = sql.split_once(" WHERE ") else {
                return Err(DbError::Other("update-user statement without WHERE".into()));
            };
            Cow::Owned(format!("{head}{set} WHERE {tail}"))
        };
        Ok(on_pool!(self, pool => {
            let mut q = sqlx::query_as::<_, WithExtra<User>>(&sql)
                .bind(id)
                .bind(name)
                .bind(image.is_some())
                .bind(image.flatten())
                .bind(now);
            for (_, value) in values {
                q = bind_field!(q, value);
            }
            q.fetch_optional(pool).await
        })?
        .map(|w| self.user_of(w)))
    }

    /// Deletes a user and everything that is theirs: sessions, accounts, their token rows and
    /// their mail in the outbox, sent or not (explicitly, not by relying on `ON DELETE CASCADE`, which a schema made by
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
                    self.sql(r#"DELETE FROM {verification} WHERE {verification.identifier} = $1 AND {verification.value} = $2
                       RETURNING {>verification.value}, {>verification.expiresAt}"#),
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
                self.sql(r#"DELETE FROM {session} WHERE {session.userId} = {$1:session.userId}"#),
                self.sql(r#"DELETE FROM {account} WHERE {account.userId} = {$1:account.userId}"#),
                self.sql(r#"DELETE FROM {twoFactor} WHERE {twoFactor.userId} = {$1:twoFactor.userId}"#),
                self.sql(r#"DELETE FROM {passkey} WHERE {passkey.userId} = {$1:passkey.userId}"#),
                self.sql(r#"DELETE FROM {edgeauth_two_factor_pending} WHERE {edgeauth_two_factor_pending.userId} = {$1:edgeauth_two_factor_pending.userId}"#),
                self.sql(r#"DELETE FROM {edgeauth_two_factor_guard} WHERE {edgeauth_two_factor_guard.userId} = {$1:edgeauth_two_factor_guard.userId}"#),
                self.sql(r#"DELETE FROM {verification} WHERE {verification.value} = $1"#),
                self.sql(r#"DELETE FROM {edgeauth_mail_outbox} WHERE {edgeauth_mail_outbox.userId} = {$1:edgeauth_mail_outbox.userId}"#),
            ] {
                sqlx::query(sql).bind(user_id).execute(&mut *tx).await?;
            }
            let deleted = sqlx::query(self.sql(r#"DELETE FROM {user} WHERE {user.id} = {$1:user.id}"#))
                .bind(user_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
            Ok::<_, DbError>(deleted == 1)
        })
    }

    /// Marks the user with this address verified; returns the updated user.
    pub async fn mark_email_verified(
        &self,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, DbError> {
        let sql = with_user_columns!(
            self,
            r#"UPDATE {user} SET {user.emailVerified} = $2, {user.updatedAt} = $3 WHERE {user.email} = $1
               RETURNING "#,
            ""
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, WithExtra<User>>(sql)
        .bind(email)
        .bind(true)
        .bind(now)
        .fetch_optional(pool)
        .await)?
            .map(|w| self.user_of(w)),
        )
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
        let sql = with_user_columns!(
            self,
            r#"UPDATE {user} SET {user.email} = $2, {user.emailVerified} = $3, {user.updatedAt} = $4
               WHERE {user.email} = $1
               RETURNING "#,
            ""
        );
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, WithExtra<User>>(sql)
        .bind(from)
        .bind(to)
        .bind(verified)
        .bind(now)
        .fetch_optional(pool)
        .await)?
            .map(|w| self.user_of(w)),
        )
    }
}
