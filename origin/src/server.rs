//! Assembling a running origin from `serve`'s arguments: configuration, database,
//! migrations, password pool, keys. Shared by `edgeauth serve` and the in-process tests.

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::{Config, PasswordHashSetting, ServeArgs, Switch};
use crate::db::Db;
use crate::http::AppState;
use crate::password::{HashPool, HashScheme, Hasher};
use crate::signing::{KeyStore, DEFAULT_GRACE_PERIOD};

/// Validates `args`, connects (and migrates, unless disabled) and builds the app state.
pub async fn prepare(args: &ServeArgs, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let config = Config::from_args(args)?;
    let db = Db::connect(args.common.database_url.as_deref())?;
    if args.migrate == Switch::On {
        db.migrate().await?;
        tracing::info!(database = db.dialect(), "migrations applied");
    }
    let scheme = match config.password_hash {
        PasswordHashSetting::Argon2id => HashScheme::Argon2id,
        PasswordHashSetting::Scrypt => HashScheme::BetterAuthScrypt,
    };
    let passwords = HashPool::with_size(Hasher::new(scheme), config.hash_concurrency);
    let keys = KeyStore::new(db.clone(), config.secret.clone(), DEFAULT_GRACE_PERIOD);
    Ok(AppState::new(config, db, passwords, keys, clock))
}
