//! `edgeauth token verify`: check a JWT exactly as the edge and the origin do.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use edgeauth_token::{claims::DEFAULT_LEEWAY, KeySet, Validation};

use crate::clock;

/// Token subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Verify a JWT against a JWKS file; print its claims as JSON (exit 0) or why it was
    /// rejected (exit 1). Exit 2 when the command itself cannot run (unreadable JWKS, bad
    /// arguments).
    Verify(VerifyArgs),
}

/// Options of `edgeauth token verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// JWKS file: the body of the origin's `GET /api/auth/jwks`.
    #[arg(long, value_name = "FILE")]
    pub jwks: PathBuf,
    /// Expected issuer (`iss`), compared exactly (Better Auth: the base URL's origin).
    #[arg(long, value_name = "ISS")]
    pub issuer: String,
    /// Expected audience; `aud` must be it or an array containing it.
    #[arg(long, value_name = "AUD")]
    pub audience: String,
    /// Required header `typ` (media type comparison). By default `typ` is optional.
    #[arg(long, value_name = "TYP")]
    pub typ: Option<String>,
    /// Clock skew tolerated on exp, nbf and iat, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_LEEWAY)]
    pub leeway: u64,
    /// Verify as of this time (unix seconds) instead of now.
    #[arg(long, value_name = "UNIX_SECONDS")]
    pub now: Option<u64>,
    /// The compact JWT, or `-` to read it from standard input (keeps it out of shell history
    /// and the process list).
    #[arg(value_name = "TOKEN")]
    pub token: String,
}

/// Runs a token subcommand.
pub fn run(command: TokenCommand) -> ExitCode {
    match command {
        TokenCommand::Verify(args) => verify(args, &mut std::io::stdout(), &mut std::io::stderr()),
    }
}

const REJECTED: u8 = 1;
const CANNOT_RUN: u8 = 2;

fn verify(args: VerifyArgs, out: &mut impl Write, err: &mut impl Write) -> ExitCode {
    let outcome = (|| {
        let jwks = std::fs::read_to_string(&args.jwks).map_err(|e| {
            (
                CANNOT_RUN,
                format!("cannot read {}: {e}", args.jwks.display()),
            )
        })?;
        let keys = KeySet::from_jwks_json(&jwks)
            .map_err(|e| (CANNOT_RUN, format!("{}: {e}", args.jwks.display())))?;
        let token = if args.token == "-" {
            let mut input = String::new();
            std::io::stdin()
                .read_to_string(&mut input)
                .map_err(|e| (CANNOT_RUN, format!("cannot read the token from stdin: {e}")))?;
            input.trim().to_string()
        } else {
            args.token
        };
        let mut rules = Validation::new(args.issuer, args.audience).with_leeway(args.leeway);
        if let Some(typ) = args.typ {
            rules = rules.with_typ(typ);
        }
        let now = args.now.unwrap_or_else(clock::now_unix);
        edgeauth_token::verify(&token, &keys, &rules, now)
            .map_err(|e| (REJECTED, format!("token rejected: {e}")))
    })();
    match outcome {
        Ok(claims) => {
            let json = serde_json::to_string_pretty(claims.as_map()).unwrap_or_default();
            let _ = writeln!(out, "{json}");
            ExitCode::SUCCESS
        }
        Err((code, message)) => {
            let _ = writeln!(err, "{message}");
            ExitCode::from(code)
        }
    }
}
