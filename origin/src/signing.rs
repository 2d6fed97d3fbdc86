//! The JWT plugin's key set at run time: which key signs, which keys `/jwks` lists.
//!
//! Keys live in the `jwks` table (see [`crate::keys`] for the row format). The newest key
//! without an end signs; a key retired by `edgeauth keys rotate` keeps being listed for the
//! grace period after its `expiresAt`, so tokens it signed still verify at the edge. The
//! first key is created on first use, as Better Auth does. Decrypted keys are cached for
//! [`CACHE_TTL`], so a rotation made by another process is picked up within that time.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use edgeauth_token::{Jwk, Jwks, SigningKey};
use tokio::sync::Mutex;

use crate::db::{Db, DbError, JwkRow};
use crate::ids;
use crate::keys::{self, KeyError, StoredKey};

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
}

struct Loaded {
    at: DateTime<Utc>,
    signer: Arc<SigningKey>,
    jwks: Arc<Jwks>,
}

/// The signing key and the public key set, loaded from `jwks` and cached.
pub struct KeyStore {
    db: Db,
    secret: String,
    grace: Duration,
    loaded: Mutex<Option<Loaded>>,
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
            loaded: Mutex::new(None),
        }
    }

    /// The key that signs now (created if there is none).
    pub async fn signer(&self, now: DateTime<Utc>) -> Result<Arc<SigningKey>, KeyStoreError> {
        let mut loaded = self.loaded.lock().await;
        self.refresh(&mut loaded, now).await
    }

    /// The public keys `/jwks` serves now (a first key is created if there is none).
    pub async fn jwks(&self, now: DateTime<Utc>) -> Result<Arc<Jwks>, KeyStoreError> {
        let mut loaded = self.loaded.lock().await;
        self.refresh(&mut loaded, now).await?;
        Ok(loaded.as_ref().map(|l| l.jwks.clone()).unwrap_or_default())
    }

    /// Forgets the cache (after a rotation in this process).
    pub async fn invalidate(&self) {
        *self.loaded.lock().await = None;
    }

    async fn refresh(
        &self,
        loaded: &mut Option<Loaded>,
        now: DateTime<Utc>,
    ) -> Result<Arc<SigningKey>, KeyStoreError> {
        if let Some(l) = loaded.as_ref() {
            if now - l.at < CACHE_TTL && now >= l.at {
                return Ok(l.signer.clone());
            }
        }
        let mut rows = self.db.list_jwks().await?;
        if !rows.iter().any(|r| signs_at(r, now)) {
            let (row, _) = keys::new_stored_key(&self.secret, ids::generate_id())?;
            self.db
                .insert_jwk(&JwkRow {
                    id: row.id,
                    public_key: row.public_key,
                    private_key: row.private_key,
                    created_at: now,
                    expires_at: None,
                })
                .await?;
            tracing::info!("created a JWT signing key");
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
        *loaded = Some(Loaded {
            at: now,
            signer: signer.clone(),
            jwks: Arc::new(Jwks { keys }),
        });
        Ok(signer)
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
    let (row, _) = keys::new_stored_key(secret, ids::generate_id())?;
    let kid = row.id.clone();
    db.retire_jwks(now).await?;
    db.insert_jwk(&JwkRow {
        id: row.id,
        public_key: row.public_key,
        private_key: row.private_key,
        // A millisecond later than the retirement, so the new key sorts newest.
        created_at: now + Duration::milliseconds(1),
        expires_at: None,
    })
    .await?;
    Ok(kid)
}
