//! SQL on `session`.

use chrono::{DateTime, Utc};

use super::fields::{self, WithExtra};
use super::models::{Session, SessionWithUser, User};
use super::{on_pool, Db, DbError};

/// The columns of [`Session`] (a literal).
macro_rules! session_columns {
    () => {
        r#"{>session.id}, {>session.expiresAt}, {>session.token}, {>session.createdAt}, {>session.updatedAt}, {>session.ipAddress}, {>session.userAgent}, {>session.userId}{*session}"#
    };
}

/// The session-and-user join, with `$two_factor` the expression of `u_two_factor_enabled`.
macro_rules! find_session_sql {
    ($two_factor:literal) => {
        concat!(
            r#"SELECT {>s.session.id}, {>s.session.expiresAt}, {>s.session.token}, {>s.session.createdAt}, {>s.session.updatedAt},
                            {>s.session.ipAddress}, {>s.session.userAgent}, {>s.session.userId}{*s.session},
                            {>u.user.id} AS u_id, {>u.user.name} AS u_name, {>u.user.email} AS u_email,
                            {>u.user.emailVerified} AS u_email_verified, {>u.user.image} AS u_image,
                            {>u.user.createdAt} AS u_created_at, {>u.user.updatedAt} AS u_updated_at,
                            "#,
            $two_factor,
            r#" AS u_two_factor_enabled{*u.user}
                     FROM {session} s JOIN {user} u ON u.{user.id} = s.{session.userId}
                     WHERE s.{session.token} = $1"#
        )
    };
}

/// One row of the session-and-user join.
#[derive(sqlx::FromRow)]
struct Joined {
    #[sqlx(flatten)]
    session: Session,
    u_id: String,
    u_name: String,
    u_email: String,
    u_email_verified: bool,
    u_image: Option<String>,
    u_created_at: DateTime<Utc>,
    u_updated_at: DateTime<Utc>,
    u_two_factor_enabled: bool,
}

/// The `INSERT` of a session, bound, ready to run on a pool or a transaction of either
/// dialect (a macro because the query's database type is only known where it runs).
macro_rules! insert_session {
    ($db:expr, $s:expr) => {
        sqlx::query(
            $db.sql(r#"INSERT INTO {session} ({session.id}, {session.expiresAt}, {session.token}, {session.createdAt}, {session.updatedAt}, {session.ipAddress}, {session.userAgent}, {session.userId}{+session.columns})
               VALUES ({$1:session.id}, $2, $3, $4, $5, $6, $7, {$8:session.userId}{+session.defaults})"#),
        )
        .bind(&$s.id)
        .bind($s.expires_at)
        .bind(&$s.token)
        .bind($s.created_at)
        .bind($s.updated_at)
        .bind(&$s.ip_address)
        .bind(&$s.user_agent)
        .bind(&$s.user_id)
    };
}
pub(super) use insert_session;

impl Db {
    /// The session of a row read with its additional fields.
    fn session_of(&self, row: WithExtra<Session>) -> Session {
        let WithExtra(mut session, raw) = row;
        session.extra = fields::decode(self.schema.session_fields(), "session", &raw);
        session
    }

    /// Creates a session.
    pub async fn create_session(&self, session: &Session) -> Result<(), DbError> {
        on_pool!(self, pool => insert_session!(self, session).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// The session with this token and its user, whatever its expiry (the caller decides).
    pub async fn find_session(&self, token: &str) -> Result<Option<SessionWithUser>, DbError> {
        let sql = if self.two_factor_column {
            self.sql(find_session_sql!(
                r#"COALESCE(u.{user.twoFactorEnabled}, FALSE)"#
            ))
        } else {
            self.sql(find_session_sql!("FALSE"))
        };
        let row = on_pool!(self, pool => sqlx::query_as::<_, WithExtra<Joined>>(sql).bind(token).fetch_optional(pool).await)?;
        Ok(row.map(|WithExtra(j, raw)| SessionWithUser {
            session: Session {
                extra: fields::decode(self.schema.session_fields(), "session", &raw),
                ..j.session
            },
            user: User {
                id: j.u_id,
                name: j.u_name,
                email: j.u_email,
                email_verified: j.u_email_verified,
                image: j.u_image,
                created_at: j.u_created_at,
                updated_at: j.u_updated_at,
                two_factor_enabled: j.u_two_factor_enabled,
                extra: fields::decode(self.schema.user_fields(), "user", &raw),
            },
        }))
    }

    /// The session with this id (not token), whatever its expiry (the caller decides).
    pub async fn find_session_by_id(&self, id: &str) -> Result<Option<Session>, DbError> {
        if !self.schema.id_fits("session", "id", id) {
            return Ok(None);
        }
        let sql = self.sql(concat!(
            "SELECT ",
            session_columns!(),
            r#" FROM {session} WHERE {session.id} = {$1:session.id}"#
        ));
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, WithExtra<Session>>(sql).bind(id).fetch_optional(pool).await)?
                .map(|w| self.session_of(w)),
        )
    }

    /// All of a user's sessions, newest first.
    pub async fn list_sessions(&self, user_id: &str) -> Result<Vec<Session>, DbError> {
        let sql = self.sql(concat!(
            "SELECT ",
            session_columns!(),
            r#" FROM {session} WHERE {session.userId} = {$1:session.userId} ORDER BY {session.createdAt} DESC"#
        ));
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, WithExtra<Session>>(sql).bind(user_id).fetch_all(pool).await)?
                .into_iter()
                .map(|w| self.session_of(w))
                .collect(),
        )
    }

    /// Moves a session's expiry (the sliding refresh).
    pub async fn extend_session(
        &self,
        token: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(
            self.sql(r#"UPDATE {session} SET {session.expiresAt} = $2, {session.updatedAt} = $3 WHERE {session.token} = $1"#),
        )
        .bind(token)
        .bind(expires_at)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Deletes the session with this token. Returns whether one was deleted.
    pub async fn delete_session(&self, token: &str) -> Result<bool, DbError> {
        let done = on_pool!(self, pool => sqlx::query(self.sql(r#"DELETE FROM {session} WHERE {session.token} = $1"#))
            .bind(token)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Deletes the session with this token if it belongs to `user_id`.
    pub async fn delete_user_session(&self, user_id: &str, token: &str) -> Result<bool, DbError> {
        let done = on_pool!(self, pool => sqlx::query(
            self.sql(r#"DELETE FROM {session} WHERE {session.token} = $1 AND {session.userId} = {$2:session.userId}"#),
        )
        .bind(token)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Deletes the session with this id if it belongs to `user_id` (the account page names
    /// sessions by id: tokens never appear in a page).
    pub async fn delete_user_session_by_id(
        &self,
        user_id: &str,
        id: &str,
    ) -> Result<bool, DbError> {
        if !self.schema.id_fits("session", "id", id) {
            return Ok(false);
        }
        let done = on_pool!(self, pool => sqlx::query(
            self.sql(r#"DELETE FROM {session} WHERE {session.id} = {$1:session.id} AND {session.userId} = {$2:session.userId}"#),
        )
        .bind(id)
        .bind(user_id)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done > 0)
    }

    /// Deletes every session of a user except the one with `keep_token` (if given).
    pub async fn delete_user_sessions(
        &self,
        user_id: &str,
        keep_token: Option<&str>,
    ) -> Result<u64, DbError> {
        Ok(on_pool!(self, pool => sqlx::query(
            self.sql(r#"DELETE FROM {session} WHERE {session.userId} = {$1:session.userId} AND ($2 IS NULL OR {session.token} <> $2)"#),
        )
        .bind(user_id)
        .bind(keep_token)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?)
    }
}

#[cfg(test)]
impl Db {
    /// Makes every later `statement` (`INSERT` or `DELETE`) on `session` fail, as a
    /// connection lost midway through a transaction would (SQLite only; for tests of
    /// atomicity). [`Db::stop_failing_session_writes`] undoes it.
    pub async fn fail_session_writes(&self, statement: &str) -> Result<(), DbError> {
        assert!(matches!(statement, "INSERT" | "DELETE"), "{statement}");
        let sql = format!(
            r#"CREATE TRIGGER "edgeauth_test_fail_{statement}" BEFORE {statement} ON "session"
               BEGIN SELECT RAISE(ABORT, 'injected failure'); END"#
        );
        on_pool!(self, pool => sqlx::query(&sql).execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// Undoes [`Db::fail_session_writes`].
    pub async fn stop_failing_session_writes(&self, statement: &str) -> Result<(), DbError> {
        let sql = format!(r#"DROP TRIGGER IF EXISTS "edgeauth_test_fail_{statement}""#);
        on_pool!(self, pool => sqlx::query(&sql).execute(pool).await.map(|_| ()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::db::Schema;

    /// The default schema renders the session-and-user join exactly as it was written before
    /// schemas were configurable (get-session's statement, the hot path).
    #[test]
    fn the_default_schema_renders_get_sessions_join_unchanged() {
        let two_factor = r#"COALESCE(u."twoFactorEnabled", FALSE)"#;
        let before = format!(
            r#"SELECT s."id", s."expiresAt", s."token", s."createdAt", s."updatedAt",
                            s."ipAddress", s."userAgent", s."userId",
                            u."id" AS u_id, u."name" AS u_name, u."email" AS u_email,
                            u."emailVerified" AS u_email_verified, u."image" AS u_image,
                            u."createdAt" AS u_created_at, u."updatedAt" AS u_updated_at,
                            {two_factor} AS u_two_factor_enabled
                     FROM "session" s JOIN "user" u ON u."id" = s."userId"
                     WHERE s."token" = $1"#
        );
        assert_eq!(
            Schema::default().render(find_session_sql!(
                r#"COALESCE(u.{user.twoFactorEnabled}, FALSE)"#
            )),
            before
        );
        assert_eq!(
            Schema::default().render(concat!("SELECT ", session_columns!(), " FROM {session}")),
            r#"SELECT "id", "expiresAt", "token", "createdAt", "updatedAt", "ipAddress", "userAgent", "userId" FROM "session""#
        );
    }

    /// Not a test: the cost on get-session's path of the statement lookup against the
    /// `format!` it replaces (`cargo test -p edgeauth-origin --release --lib
    /// statement_lookup_cost -- --ignored --nocapture`; BENCHMARKS.md).
    #[tokio::test]
    #[ignore = "timing report, not a test"]
    async fn statement_lookup_cost() {
        let db = crate::db::Db::connect(Some("sqlite::memory:"))
            .unwrap()
            .with_two_factor_column();
        const N: u32 = 1_000_000;
        let mut total = 0usize;
        let start = std::time::Instant::now();
        for _ in 0..N {
            total += db
                .sql(find_session_sql!(
                    r#"COALESCE(u.{user.twoFactorEnabled}, FALSE)"#
                ))
                .len();
        }
        let lookup = start.elapsed() / N;
        let start = std::time::Instant::now();
        for _ in 0..N {
            let two_factor = std::hint::black_box(r#"COALESCE(u."twoFactorEnabled", FALSE)"#);
            let sql = format!(
                r#"SELECT s."id", s."expiresAt", s."token", s."createdAt", s."updatedAt",
                            s."ipAddress", s."userAgent", s."userId",
                            u."id" AS u_id, u."name" AS u_name, u."email" AS u_email,
                            u."emailVerified" AS u_email_verified, u."image" AS u_image,
                            u."createdAt" AS u_created_at, u."updatedAt" AS u_updated_at,
                            {two_factor} AS u_two_factor_enabled
                     FROM "session" s JOIN "user" u ON u."id" = s."userId"
                     WHERE s."token" = $1"#
            );
            total += sql.len();
        }
        let formatted = start.elapsed() / N;
        println!("statement lookup {lookup:?}, format! before {formatted:?} ({total})");
    }
}
