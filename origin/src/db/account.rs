//! SQL on `account` (the credential account holding the password hash).
//!
//! A password hash is only ever replaced by compare-and-set: the write names the hash the
//! caller verified a password against, and changes nothing when the stored one is no longer
//! it. Verifying takes tens of milliseconds on the hashing pool, so without this two
//! requests that verified the same hash would both write, and the last would silently win:
//! twenty concurrent changes with the right current password were all answered 200, with
//! only one of the twenty new passwords in force; an attacker's change racing the owner's
//! could leave the attacker's password in force while the owner was told theirs was set.

use chrono::{DateTime, Utc};
use sqlx::Connection as _;

use super::models::{Account, Session};
use super::session::insert_session;
use super::{on_pool, Db, DbError};

/// A replacement of a credential account's password hash, as [`Db::change_password`]
/// writes it.
#[derive(Debug, Clone, Copy)]
pub struct PasswordChange<'a> {
    /// The credential account.
    pub account_id: &'a str,
    /// The stored hash the caller verified a password against: the change is made only if
    /// it is still the stored one.
    pub verified_hash: &'a str,
    /// The new hash.
    pub new_hash: &'a str,
    /// When.
    pub now: DateTime<Utc>,
    /// With `revokeOtherSessions`: every session of the owner (`user_id`) ends and this one
    /// replaces them.
    pub replacement: Option<&'a Session>,
}

impl Db {
    /// The providers of the user's accounts (`credential`, `google`, ...), sorted.
    pub async fn list_account_providers(&self, user_id: &str) -> Result<Vec<String>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_scalar::<_, String>(
            self.sql(r#"SELECT {>account.providerId} FROM {account} WHERE {account.userId} = {$1:account.userId} ORDER BY {account.providerId}"#),
        )
        .bind(user_id)
        .fetch_all(pool)
        .await)?)
    }

    /// The user's credential (email and password) account.
    pub async fn find_credential_account(&self, user_id: &str) -> Result<Option<Account>, DbError> {
        Ok(on_pool!(self, pool => sqlx::query_as::<_, Account>(
            self.sql(r#"SELECT {>account.id}, {>account.accountId}, {>account.providerId}, {>account.userId}, {>account.password}
               FROM {account} WHERE {account.userId} = {$1:account.userId} AND {account.providerId} = 'credential'"#),
        )
        .bind(user_id)
        .fetch_optional(pool)
        .await)?)
    }

    /// Replaces an account's password hash if it is still `change.verified_hash`, and with
    /// `change.replacement` also ends every session of its owner and creates the
    /// replacement, all in one transaction: either all of it happens or none. Returns
    /// `false`, having changed nothing, when the stored hash is no longer the verified one
    /// (a concurrent change, a password reset, or the account gone).
    ///
    /// The guarded `UPDATE` comes first, so it takes the account row's lock (PostgreSQL)
    /// or the write lock (SQLite) before anything else: a concurrent writer waits, then
    /// finds the hash changed and writes nothing.
    pub async fn change_password(&self, change: &PasswordChange<'_>) -> Result<bool, DbError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let replaced = sqlx::query(
                self.sql(r#"UPDATE {account} SET {account.password} = $3, {account.updatedAt} = $4
                   WHERE {account.id} = {$1:account.id} AND {account.password} = $2"#),
            )
            .bind(change.account_id)
            .bind(change.verified_hash)
            .bind(change.new_hash)
            .bind(change.now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if replaced != 1 {
                tx.rollback().await?;
                return Ok(false);
            }
            if let Some(session) = change.replacement {
                sqlx::query(self.sql(r#"DELETE FROM {session} WHERE {session.userId} = {$1:session.userId}"#))
                    .bind(&session.user_id)
                    .execute(&mut *tx)
                    .await?;
                insert_session!(self, session).execute(&mut *tx).await?;
            }
            tx.commit().await?;
            Ok::<_, DbError>(true)
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::db::{NewUser, ResetOutcome, User};

    async fn sqlite() -> (Db, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "edgeauth-account-{}-{}.db",
            std::process::id(),
            crate::ids::random_string(8)
        ));
        let db = Db::connect(Some(&format!("sqlite://{}?mode=rwc", path.display()))).unwrap();
        db.migrate().await.unwrap();
        (db, path)
    }

    fn cleanup(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    fn session(user_id: &str) -> Session {
        Session {
            id: crate::ids::generate_id(),
            expires_at: now() + chrono::Duration::days(7),
            token: crate::ids::generate_id(),
            created_at: now(),
            updated_at: now(),
            ip_address: None,
            user_agent: None,
            user_id: user_id.to_string(),
            extra: Default::default(),
        }
    }

    /// A user whose password hash is `hash`, with one session; the account's id.
    async fn user(db: &Db, hash: &str) -> (String, String, Session) {
        let user = User {
            id: crate::ids::generate_id(),
            name: "Ada".into(),
            email: format!(
                "{}@example.com",
                crate::ids::random_string(8).to_lowercase()
            ),
            email_verified: false,
            image: None,
            created_at: now(),
            updated_at: now(),
            two_factor_enabled: false,
            extra: Default::default(),
        };
        let first = session(&user.id);
        let new = NewUser {
            user: user.clone(),
            password_hash: hash.into(),
            values: Vec::new(),
        };
        db.create_user(&new, Some(&first), None).await.unwrap();
        let account = db.find_credential_account(&user.id).await.unwrap().unwrap();
        (user.id, account.id, first)
    }

    fn change<'a>(
        account_id: &'a str,
        verified_hash: &'a str,
        new_hash: &'a str,
        replacement: Option<&'a Session>,
    ) -> PasswordChange<'a> {
        PasswordChange {
            account_id,
            verified_hash,
            new_hash,
            now: now(),
            replacement,
        }
    }

    async fn stored(db: &Db, user_id: &str) -> String {
        let account = db.find_credential_account(user_id).await.unwrap().unwrap();
        account.password.unwrap()
    }

    #[tokio::test]
    async fn a_hash_is_replaced_only_while_it_is_the_verified_one() {
        let (db, path) = sqlite().await;
        let (user_id, account, first) = user(&db, "h0").await;
        assert!(db
            .change_password(&change(&account, "h0", "h1", None))
            .await
            .unwrap());
        // A second change that verified the same hash: nothing is written.
        assert!(!db
            .change_password(&change(&account, "h0", "h2", None))
            .await
            .unwrap());
        assert_eq!(stored(&db, &user_id).await, "h1");

        // A reset between a change's check (of h1) and its write: the write loses, and so
        // does everything it came with.
        let identifier = "reset-password:token";
        let expires = now() + chrono::Duration::hours(1);
        let token = crate::db::TokenRow {
            kind_prefix: "reset-password:",
            identifier,
            value: &user_id,
            expires_at: expires,
            now: now(),
        };
        db.replace_verification(&token, None).await.unwrap();
        let reset = db
            .redeem_reset_token(identifier, "h-reset", false, now())
            .await
            .unwrap();
        assert!(matches!(reset, ResetOutcome::Reset { .. }));
        let replacement = session(&user_id);
        let late = change(&account, "h1", "h3", Some(&replacement));
        assert!(!db.change_password(&late).await.unwrap());
        assert_eq!(stored(&db, &user_id).await, "h-reset");
        let tokens: Vec<String> = db
            .list_sessions(&user_id)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.token)
            .collect();
        assert_eq!(tokens, [first.token]);

        // Over the stored hash, with a replacement: the other sessions end, the new one is
        // the only one left.
        let current = change(&account, "h-reset", "h4", Some(&replacement));
        assert!(db.change_password(&current).await.unwrap());
        assert_eq!(stored(&db, &user_id).await, "h4");
        let sessions = db.list_sessions(&user_id).await.unwrap();
        assert_eq!(sessions, [replacement]);
        db.close().await;
        cleanup(&path);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn of_concurrent_changes_over_one_hash_exactly_one_is_made() {
        let (db, path) = sqlite().await;
        let (user_id, account, _) = user(&db, "h0").await;
        let tasks: Vec<_> = (0..20)
            .map(|i| {
                let (db, account) = (db.clone(), account.clone());
                tokio::spawn(async move {
                    let new = format!("h-{i}");
                    let made = db
                        .change_password(&change(&account, "h0", &new, None))
                        .await
                        .unwrap();
                    made.then_some(new)
                })
            })
            .collect();
        let mut made = Vec::new();
        for task in tasks {
            made.extend(task.await.unwrap());
        }
        assert_eq!(made.len(), 1, "{made:?}");
        assert_eq!(stored(&db, &user_id).await, made[0]);
        db.close().await;
        cleanup(&path);
    }
}
