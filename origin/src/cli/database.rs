//! `edgeauth migrate` and `edgeauth keys`: database maintenance.

use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::clock::{Clock, SystemClock};
use crate::config::{resolve_secret, CommonArgs, Environment};
use crate::keys;

/// Options of `edgeauth migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    common: CommonArgs,
}

/// Applies the schema migrations.
pub fn migrate(args: MigrateArgs) -> ExitCode {
    super::init_logging(crate::config::LogFormat::Text);
    super::block_on(async move {
        let db = args.common.connect()?;
        if db.schema().is_custom() {
            db.create_own_tables().await?;
            tracing::info!(
                "EDGEAUTH_SCHEMA names the deployment's own tables: migrations not run, \
                 edgeauth's own tables created if missing (check the rest with `edgeauth doctor`)"
            );
            return Ok(());
        }
        db.migrate().await?;
        tracing::info!(database = db.dialect(), "migrations applied");
        Ok(())
    })
}

/// `edgeauth keys` subcommands.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Add a new JWT signing key; the current keys stop signing now and stay in /jwks for
    /// the grace period (30 days), so tokens they signed keep verifying.
    Rotate(KeysArgs),
}

/// Options of `edgeauth keys rotate`.
#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Deployment mode (decides whether the default secret is acceptable).
    #[arg(long, env = "EDGEAUTH_ENV", value_enum, default_value = "development")]
    env: Environment,
}

/// Runs a keys subcommand.
pub fn keys(command: KeysCommand) -> ExitCode {
    super::init_logging(crate::config::LogFormat::Text);
    match command {
        KeysCommand::Rotate(args) => super::block_on(async move {
            let secret = resolve_secret(args.common.secret.as_deref(), args.env)?;
            let db = args.common.connect()?;
            if db.schema().is_custom() {
                db.create_own_tables().await?;
            } else {
                db.migrate().await?;
            }
            let kid = keys::rotate(&db, &secret, SystemClock.now()).await?;
            println!("{kid}");
            tracing::info!(kid = %kid, "new JWT signing key; previous keys retired");
            Ok(())
        }),
    }
}
