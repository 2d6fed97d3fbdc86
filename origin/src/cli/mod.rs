//! The `edgeauth` command line.
//!
//! Every subcommand is a plain function over parsed arguments, so the binary's `main` is one
//! line and the commands are testable.

mod database;
pub mod doctor;
mod serve;
mod token;
mod users;

use std::future::Future;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, ServeArgs};

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
    /// Report what edgeauth reads and writes in the database and every mismatch, with its
    /// fix; exit 1 on a mismatch. Changes nothing.
    Doctor(Box<doctor::DoctorArgs>),
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
        Command::Doctor(args) => doctor::run(*args),
        Command::Keys(command) => database::keys(command),
        Command::Token(command) => token::run(command),
        Command::Users(command) => users::run(command),
    }
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default `info`).
fn init_logging(format: LogFormat) {
    init_logging_at(format, "info");
}

/// Logs to stderr in `format`, filtered by `RUST_LOG` (default `level`).
///
/// Both formats carry the same fields: the time, the level, the target, the message and the
/// event's fields, and the fields of the request span the event happened in (`id`, `method`,
/// `path`). JSON puts one object per line, the event's fields at the top level and the span's
/// under `span`.
fn init_logging_at(format: LogFormat, level: &str) {
    use std::io::IsTerminal;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter);
    let _ = match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => logs
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    };
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
