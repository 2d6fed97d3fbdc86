//! The `edgeauth` command line.
//!
//! Every subcommand is a plain function over parsed arguments, so the binary's `main` is one
//! line and the commands are testable.

mod database;
mod serve;
mod token;
mod users;

use std::future::Future;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::ServeArgs;

/// edgeauth: Better Auth-compatible authentication, verified at the edge.
#[derive(Debug, Parser)]
#[command(name = "edgeauth", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the origin server (Better Auth's API under /api/auth).
    Serve(Box<ServeArgs>),
    /// Apply the database migrations (Better Auth's schema) and exit.
    Migrate(database::MigrateArgs),
    /// Manage the JWT signing keys.
    #[command(subcommand)]
    Keys(database::KeysCommand),
    /// Inspect tokens with the same verifier the edge and the origin use.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Find a user, end their sessions, delete them, or mark their address verified.
    #[command(subcommand)]
    Users(users::UsersCommand),
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Migrate(args) => database::migrate(args),
        Command::Keys(command) => database::keys(command),
        Command::Token(command) => token::run(command),
        Command::Users(command) => users::run(command),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
fn init_logging() {
    init_logging_at("info");
}

/// Logs to stderr, filtered by `RUST_LOG` (default `level`).
fn init_logging_at(level: &str) {
    use std::io::IsTerminal;
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .try_init();
}

/// Runs `future` on a multi-threaded runtime; an error is logged and exits 1.
fn block_on(future: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the async runtime");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(future) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}
