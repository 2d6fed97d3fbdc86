//! SQL on `user` (and the sign-up transaction that also writes `account` and `session`).

use chrono::{DateTime, Utc};

use super::models::{NewUser, Session, User};
use super::session::insert_session;
use super::{on_pool, Db, DbError};
use crate::ids;

const USER_COLUMNS: &str =
    r#""id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt""#;

impl Db {
    /// Creates a user, its credential account and (optionally) a first session, in one
    /// transaction. A second user with the same email is [`DbError::Conflict`].
    pub async fn create_user(
        &self,
        new: &NewUser,
        session: Option<&Session>,
    ) -> Result<(), DbError> {
        let user = &new.user;
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(
                r#"INSERT INTO "user" ("id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt")
                   VALUES ($1, $2, $3, $4, $5, $6, $7)"#,
            )
            .bind(&user.id)
            .bind(&user.name)
            .bind(&user.email)
            .bind(user.email_verified)
            .bind(&user.image)
            .bind(user.created_at)
            .bind(user.updated_at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                r#"INSERT INTO "account" ("id", "accountId", "providerId", "userId", "password", "createdAt", "updatedAt")
                   VALUES ($1, $2, 'credential', $3, $4, $5, $6)"#,
            )
            .bind(ids::generate_id())
            .bind(&user.id)
            .bind(&user.id)
            .bind(&new.password_hash)
            .bind(user.created_at)
            .bind(user.updated_at)
            .execute(&mut *tx)
            .await?;
            if let Some(session) = session {
                insert_session!(session).execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// The user with this (lower-cased) email.
    pub async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, DbError> {
        let sql = format!(r#"SELECT {USER_COLUMNS} FROM "user" WHERE "email" = $1"#);
        Ok(
            on_pool!(self, pool => sqlx::query_as::<_, User>(&sql).bind(email).fetch_optional(pool).await)?,
        )
    }

    /// Updates name and/or image; returns the updated user.
    pub async fn update_user(
        &self,
        id: &str,
        name: Option<&str>,
        image: Option<Option<&str>>,
        now: DateTime<Utc>,
    ) -> Result<Option<User>, DbError> {
        let sql = format!(
            r#"UPDATE "user" SET
                 "name" = COALESCE($2, "name"),
                 "image" = CASE WHEN $3 THEN $4 ELSE "image" END,
                 "updatedAt" = $5
               WHERE "id" = $1
               RETURNING {USER_COLUMNS}"#
        );
        Ok(on_pool!(self, pool => sqlx::query_as::<_, User>(&sql)
            .bind(id)
            .bind(name)
            .bind(image.is_some())
            .bind(image.flatten())
            .bind(now)
            .fetch_optional(pool)
            .await)?)
    }
}
