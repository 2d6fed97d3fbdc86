//! The `edgeauth` command line.
//!
//! Every subcommand is a plain function over parsed arguments, so the binary's `main` is one
//! line and the commands are testable.

mod serve;
mod token;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    Serve(serve::ServeArgs),
    /// Inspect tokens with the same verifier the edge and the origin use.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::Serve(args) => serve::run(args),
        Command::Token(command) => token::run(command),
    }
}
