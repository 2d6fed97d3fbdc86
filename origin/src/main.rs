//! The `edgeauth` binary: parse the command line, set up logging, run the command.
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    edgeauth_origin::cli::run(edgeauth_origin::cli::Cli::parse())
}
