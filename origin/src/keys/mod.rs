//! JWT signing keys: their rows in Better Auth's `jwks` table ([`row`]), the key set at run
//! time and rotation ([`store`]), and minting the JWT plugin's tokens ([`mint`], and
//! [`mint_reusable`] with the per-session reuse of [`minted`]).

pub mod minted;
pub mod row;
pub mod store;

use chrono::{DateTime, Utc};
use edgeauth_token::{ClaimsBuilder, SigningKey};
use serde_json::{json, Value};

pub use self::row::{
    decrypt_private_key, encrypt_private_key, new_stored_key, public_jwk, signing_key, KeyError,
    StoredKey,
};
pub use self::store::{rotate, KeyStore, KeyStoreError, CACHE_TTL, DEFAULT_GRACE_PERIOD};
use crate::db::SessionWithUser;

/// What a JWT for a session says about where it comes from and how long it lives.
#[derive(Debug, Clone, Copy)]
pub struct Issuer<'a> {
    /// `iss`, and the one `aud`: the base URL's origin.
    pub origin: &'a str,
    /// Lifetime in seconds.
    pub expires_in: u64,
}

/// A JWT in the JWT plugin's format for this session: the user object plus `sub`, `iat`,
/// `exp`, `iss` and `aud` (the base URL's origin), and `sid`, the session id, so the edge can
/// refuse the JWTs of a revoked session.
pub async fn mint(
    keys: &KeyStore,
    issuer: Issuer<'_>,
    found: &SessionWithUser,
    now: DateTime<Utc>,
) -> Result<String, KeyStoreError> {
    let key = keys.signer(now).await?;
    sign(&key, issuer, found, now)
}

/// [`mint`], but the token minted earlier for this session is handed out again while
/// [`minted::MintCache`] allows it (same user, same key, most of its lifetime left).
pub async fn mint_reusable(
    keys: &KeyStore,
    issuer: Issuer<'_>,
    found: &SessionWithUser,
    now: DateTime<Utc>,
) -> Result<String, KeyStoreError> {
    let key = keys.signer(now).await?;
    let cache = keys.minted();
    let session = found.session.id.as_str();
    if let Some(jwt) = cache.get(session, &found.user, key.kid(), issuer.expires_in, now) {
        return Ok(jwt);
    }
    let jwt = sign(&key, issuer, found, now)?;
    cache.put(session, &found.user, key.kid(), now, &jwt);
    Ok(jwt)
}

fn sign(
    key: &SigningKey,
    issuer: Issuer<'_>,
    found: &SessionWithUser,
    now: DateTime<Utc>,
) -> Result<String, KeyStoreError> {
    let Value::Object(user) = json!(found.user) else {
        return Err(KeyStoreError::Claims);
    };
    let iat = u64::try_from(now.timestamp()).unwrap_or(0);
    let claims = ClaimsBuilder::better_auth(
        user,
        &found.user.id,
        iat,
        issuer.expires_in,
        issuer.origin,
        &[issuer.origin],
    )
    .insert("sid", found.session.id.as_str());
    Ok(key.sign(&claims))
}
