//! The JWT plugin's key set at run time: which key signs, which keys `/jwks` lists.
//!
//! Keys live in the `jwks` table (see [`super::row`] for the row format). The newest key
//! without an end signs; a key retired by `edgeauth keys rotate` keeps being listed for the
//! grace period after its `expiresAt`, so tokens it signed still verify at the edge. The
//! first key is created on first use, as Better Auth does, and once however many processes
//! ask at the same time ([`Db::insert_jwk_unless`]). Decrypted keys are cached for
//! [`CACHE_TTL`], so a rotation made by another process is picked up within that time.

use std::sync::{Arc, RwLock};

use chrono::{DateTime, Duration, Utc};
use edgeauth_token::{Jwk, Jwks, SigningKey};
use tokio::sync::Mutex;

use super::minted::MintCache;
use super::row::{self as keys, KeyError, StoredKey};
use crate::db::{Db, DbError, JwkRow};

/// How long a loaded key set is used before the table is read again.
pub const CACHE_TTL: Duration = Duration::seconds(60);

/// Default time a retired public key stays in `/jwks` (Better Auth: 30 days).
pub const DEFAULT_GRACE_PERIOD: Duration = Duration::days(30);

/// Why no key could be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbError),
    /// A row is unusable (wrong secret, corrupted).
    #[error(transparent)]
    Key(#[from] KeyError),
    /// The claims could not be built (the user did not serialise to a JSON object).
    #[error("the user did not serialise to a JSON object")]
    Claims,
}

struct Loaded {
    at: DateTime<Utc>,
    signer: Arc<SigningKey>,
    /// The signer's `createdAt`.
    signer_created_at: DateTime<Utc>,
    jwks: Arc<Jwks>,
}

/// The signing key and the public key set, loaded from `jwks` and cached.
///
/// Reads of a fresh cache take a read lock only (every `get-session` mints a JWT, so this is
/// a hot path); a reload is done by one task at a time, behind `refreshing`.
pub struct KeyStore {
    db: Db,
    secret: String,
    grace: Duration,
    current: RwLock<Option<Arc<Loaded>>>,
    refreshing: Mutex<()>,
    minted: MintCache,
}

fn stored(row: &JwkRow) -> StoredKey {
    StoredKey {
        id: row.id.clone(),
        public_key: row.public_key.clone(),
        private_key: row.private_key.clone(),
    }
}

impl KeyStore {
    /// A store over `db`'s `jwks` table, decrypting with `secret`.
    pub fn new(db: Db, secret: String, grace: Duration) -> Self {
        KeyStore {
            db,
            secret,
            grace,
            current: RwLock::new(None),
            refreshing: Mutex::new(()),
            minted: MintCache::default(),
        }
    }

    /// The key that signs now (created if there is none).
    pub async fn signer(&self, now: DateTime<Utc>) -> Result<Arc<SigningKey>, KeyStoreError> {
        Ok(self.loaded(now).await?.signer.clone())
    }

    /// The tokens minted for sessions, for reuse ([`super::mint_reusable`]).
    pub fn minted(&self) -> &MintCache {
        &self.minted
    }

    /// The public keys `/jwks` serves now (a first key is created if there is none).
    pub async fn jwks(&self, now: DateTime<Utc>) -> Result<Arc<Jwks>, KeyStoreError> {
        Ok(self.loaded(now).await?.jwks.clone())
    }

    /// When the signing key was created, as last loaded (stale or not; `None` before the
    /// first load). For metrics: reads the cache only, never the database.
    pub fn signer_created_at(&self) -> Option<DateTime<Utc>> {
        let current = self.current.read().ok()?;
        current.as_ref().map(|l| l.signer_created_at)
    }

    /// The cached key set if it is fresh at `now`.
    fn fresh(&self, now: DateTime<Utc>) -> Option<Arc<Loaded>> {
        let current = self.current.read().ok()?;
        current
            .as_ref()
            .filter(|l| now - l.at < CACHE_TTL && now >= l.at)
            .cloned()
    }

    async fn loaded(&self, now: DateTime<Utc>) -> Result<Arc<Loaded>, KeyStoreError> {
        if let Some(loaded) = self.fresh(now) {
            return Ok(loaded);
        }
        let _one_at_a_time = self.refreshing.lock().await;
        // Another task may have reloaded while this one waited.
        if let Some(loaded) = self.fresh(now) {
            return Ok(loaded);
        }
        let loaded = Arc::new(self.load(now).await?);
        if let Ok(mut current) = self.current.write() {
            *current = Some(loaded.clone());
        }
        Ok(loaded)
    }

    /// Reads the table (creating a first key if none signs now) and decrypts the signer.
    async fn load(&self, now: DateTime<Utc>) -> Result<Loaded, KeyStoreError> {
        let mut rows = self.db.list_jwks().await?;
        if !rows.iter().any(|r| signs_at(r, now)) {
            // Processes starting together on an empty table all get here: the database
            // lets one of them add the key, and the others read it.
            let (row, _) = keys::new_stored_key(&self.secret, self.db.row_id("jwks").await?)?;
            let created = self
                .db
                .insert_jwk_unless(
                    &JwkRow {
                        id: row.id,
                        public_key: row.public_key,
                        private_key: row.private_key,
                        created_at: now,
                        expires_at: None,
                    },
                    |r| signs_at(r, now),
                )
                .await?;
            if created {
                tracing::info!("created a JWT signing key");
            }
            rows = self.db.list_jwks().await?;
        }
        // Rows are newest first: the first that signs now is the signer.
        let signer_row = rows
            .iter()
            .find(|r| signs_at(r, now))
            .ok_or(KeyError::Malformed("no signing key after creating one"))?;
        let signer = Arc::new(keys::signing_key(&self.secret, &stored(signer_row))?);
        let keys: Vec<Jwk> = rows
            .iter()
            .filter(|r| r.expires_at.is_none_or(|end| end + self.grace > now))
            .map(|r| keys::public_jwk(&stored(r)))
            .collect::<Result<_, _>>()?;
        Ok(Loaded {
            at: now,
            signer,
            signer_created_at: signer_row.created_at,
            jwks: Arc::new(Jwks { keys }),
        })
    }
}

fn signs_at(row: &JwkRow, now: DateTime<Utc>) -> bool {
    row.expires_at.is_none_or(|end| end > now)
}

/// Retires the current keys and adds a new signing key: `edgeauth keys rotate`.
pub async fn rotate(db: &Db, secret: &str, now: DateTime<Utc>) -> Result<String, KeyStoreError> {
    // Check the secret opens the current keys first: a rotation under the wrong secret
    // would leave a table no process can fully use.
    for row in db.list_jwks().await? {
        if signs_at(&row, now) {
            keys::signing_key(secret, &stored(&row))?;
        }
    }
    let (row, _) = keys::new_stored_key(secret, db.row_id("jwks").await?)?;
    let kid = row.id.clone();
    db.rotate_jwks(
        now,
        &JwkRow {
            id: row.id,
            public_key: row.public_key,
            private_key: row.private_key,
            // A millisecond later than the retirement, so the new key sorts newest.
            created_at: now + Duration::milliseconds(1),
            expires_at: None,
        },
    )
    .await?;
    Ok(kid)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    /// Two pools on one SQLite file, as two processes would have.
    async fn two_processes(name: &str) -> (Db, Db, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "edgeauth-keys-{name}-{}-{}.db",
            std::process::id(),
            crate::ids::random_string(8)
        ));
        let url = format!("sqlite://{}?mode=rwc", path.display());
        let first = Db::connect(Some(&url)).unwrap();
        first.migrate().await.unwrap();
        (first, Db::connect(Some(&url)).unwrap(), path)
    }

    fn cleanup(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn processes_asking_at_once_create_one_key() {
        let (a, b, path) = two_processes("once").await;
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let stores: Vec<Arc<KeyStore>> = [&a, &b, &a, &b]
            .into_iter()
            .map(|db| {
                Arc::new(KeyStore::new(
                    db.clone(),
                    "s".repeat(32),
                    DEFAULT_GRACE_PERIOD,
                ))
            })
            .collect();
        let start = Arc::new(tokio::sync::Barrier::new(stores.len()));
        let tasks: Vec<_> = stores
            .iter()
            .map(|store| {
                let (store, start) = (store.clone(), start.clone());
                tokio::spawn(async move {
                    start.wait().await;
                    store.signer(now).await.unwrap().kid().to_string()
                })
            })
            .collect();
        let mut kids = Vec::new();
        for task in tasks {
            kids.push(task.await.unwrap());
        }
        assert_eq!(a.list_jwks().await.unwrap().len(), 1);
        assert!(kids.iter().all(|kid| *kid == kids[0]), "{kids:?}");
        assert_eq!(stores[0].signer_created_at(), Some(now));

        // A rotation retires it and adds one; a store reloading later creates none.
        let new_kid = rotate(&b, &"s".repeat(32), now).await.unwrap();
        let later = now + CACHE_TTL + Duration::seconds(1);
        assert_eq!(stores[0].signer(later).await.unwrap().kid(), new_kid);
        let rows = a.list_jwks().await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows.iter().filter(|r| signs_at(r, later)).count(), 1);
        cleanup(&path);
    }
}
