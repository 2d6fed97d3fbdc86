//! Assembling a running origin from `serve`'s arguments: configuration, database,
//! migrations, password pool, keys. Shared by `edgeauth serve` and the in-process tests.

use std::sync::Arc;

use super::AppState;
use crate::clock::Clock;
use crate::config::{
    Config, MailTransport, PasswordHashSetting, RateLimitStorage, ServeArgs, Switch,
};
use crate::db::{Db, DbError};
use crate::keys::{KeyStore, DEFAULT_GRACE_PERIOD};
use crate::mail::Mailer;
use crate::pages::render::Renderer;
use crate::password::{HashPool, HashScheme, Hasher};

/// Validates `args`, connects (and migrates, unless disabled) and builds the app state.
pub async fn prepare(args: &ServeArgs, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let config = Config::from_args(args)?;
    let schema = args.common.schema()?;
    let mut db = Db::connect_with(
        args.common.database_url.as_deref(),
        Some(std::time::Duration::from_secs(args.db_statement_timeout)),
    )?
    .with_schema(schema);
    // Migrations never touch a deployment's own tables: with EDGEAUTH_SCHEMA naming them,
    // edgeauth's migrations (written for Better Auth's default names) do not run.
    let migrate = args.migrate == Switch::On && !db.schema().is_custom();
    if migrate {
        db.migrate().await?;
        tracing::info!(database = db.dialect(), "migrations applied");
    } else if args.migrate == Switch::On {
        db.create_own_tables().await?;
        tracing::info!(
            "EDGEAUTH_SCHEMA names the deployment's own tables: migrations not run, \
             edgeauth's own tables created if missing"
        );
    }
    if config.two_factor.enabled {
        prepare_two_factor_column(&db, migrate).await?;
        db = db.with_two_factor_column();
    }
    if config.rate_limit && config.rate_limit_storage == RateLimitStorage::Database {
        check_rate_limit_table(&db).await?;
    }
    let db = check_schema(db, &config).await?;
    let scheme = match config.password_hash {
        PasswordHashSetting::Argon2id => HashScheme::Argon2id,
        PasswordHashSetting::Scrypt => HashScheme::BetterAuthScrypt,
    };
    let passwords = HashPool::with_size(Hasher::new(scheme), config.hash_concurrency);
    let keys = KeyStore::new(db.clone(), config.secret.clone(), DEFAULT_GRACE_PERIOD);
    let mailer = Mailer::start(&config, &db, clock.clone())?;
    match &config.lifecycle.transport {
        MailTransport::Disabled => tracing::warn!(
            "EDGEAUTH_SMTP_URL is not set: email verification, password reset, email change \
             and emailed deletion links are off"
        ),
        MailTransport::Log => tracing::warn!(
            "EDGEAUTH_SMTP_URL is not set: mail is printed to this log (development only)"
        ),
        MailTransport::Smtp { .. } => {}
    }
    let pages = if config.pages.enabled {
        Some(Renderer::load(&config.pages)?)
    } else {
        None
    };
    Ok(AppState::new(
        config, db, passwords, keys, clock, mailer, pages,
    ))
}

/// With two-factor on, `user.twoFactorEnabled` must exist: added when migrating (as Better
/// Auth's CLI does with the plugin), else required.
async fn prepare_two_factor_column(db: &Db, migrate: bool) -> anyhow::Result<()> {
    if migrate {
        db.add_two_factor_column().await?;
        return Ok(());
    }
    if !db.has_two_factor_column().await? {
        let schema = db.schema();
        anyhow::bail!(
            "EDGEAUTH_TWO_FACTOR=on needs the column \"{}\".\"{}\" (boolean, default \
             false): start once with EDGEAUTH_MIGRATE=on (Better Auth's default names only), \
             or run `@better-auth/cli migrate` (or the project's own migration) with the \
             twoFactor plugin",
            schema.table("user"),
            schema.column("user", "twoFactorEnabled")
        );
    }
    Ok(())
}

/// Refuses to start on a database whose tables edgeauth cannot read or write (the report
/// `edgeauth doctor` prints). A database that is not up yet is only a warning: the server
/// starts, answers 503 until it is, and the doctor can be run then.
///
/// The column types found (timestamps without time zone, uuid ids) decide how statements
/// read and bind them: the returned database is `db` with them.
async fn check_schema(db: Db, config: &Config) -> anyhow::Result<Db> {
    match crate::doctor::run(&db, crate::cli::doctor::uses(config), true).await {
        Ok(report) if report.ok => Ok(report.apply(db)),
        Ok(report) => anyhow::bail!(
            "the database does not have the schema edgeauth needs:\n{}",
            report.render()
        ),
        Err(crate::db::DbError::Unavailable(e)) => {
            tracing::warn!(error = %e, "database unreachable at start: schema not checked");
            // A deployment's own layout may have timestamps without time zone: read them
            // in a way right for both until the next start examines them.
            if db.schema().is_custom() && db.dialect() == "postgres" {
                let schema = db.schema().with_unknown_timestamps();
                return Ok(db.with_schema(schema));
            }
            Ok(db)
        }
        Err(e) => Err(e.into()),
    }
}

/// With `EDGEAUTH_RATE_LIMIT_STORAGE=database`, the `rateLimit` table must exist (Better
/// Auth's CLI only creates it for `rateLimit.storage: "database"`); a database that is not
/// up yet is only a warning (the limiter counts in memory until it answers).
async fn check_rate_limit_table(db: &Db) -> anyhow::Result<()> {
    match db.rate_limit_probe().await {
        Ok(()) => Ok(()),
        Err(DbError::Unavailable(e)) => {
            tracing::warn!(error = %e, "cannot check the rateLimit table: database unavailable");
            Ok(())
        }
        Err(e) => Err(anyhow::anyhow!(
            "EDGEAUTH_RATE_LIMIT_STORAGE=database needs the \"{}\" table \
             (run `edgeauth migrate`, or the project's own migration): {e}",
            db.schema().table("rateLimit")
        )),
    }
}
