//! `edgeauth users`: an operator's view of one user, and the changes support makes (end
//! every session, delete the account, mark the address verified), on the database `serve`
//! uses (`DATABASE_URL`).
//!
//! Each command first checks that the database's schema is the one this edgeauth expects
//! ([`Db::check_schema`]) and changes nothing otherwise. Output is for people, or JSON with
//! `--json`; errors go to stderr. Exit codes: 0 done, 1 no such user, 2 an invalid argument,
//! 3 the database cannot be used (unreachable, another schema, a failed statement).

use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::clock::{Clock, SystemClock};
use crate::config::CommonArgs;
use crate::db::{Db, DbError, User};
use crate::http::extract::body::is_valid_email;

/// `edgeauth users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Show the user with this email address: id, name, verification, sessions, accounts.
    Find(FindArgs),
    /// End every session of the user with this id.
    RevokeSessions(IdArgs),
    /// Delete the user with this id, with their sessions, accounts, tokens, passkeys,
    /// two-factor settings and mail, in one transaction.
    Delete(IdArgs),
    /// Mark the email address of the user with this id verified.
    VerifyEmail(IdArgs),
}

/// Options of `edgeauth users find`.
#[derive(Debug, Args)]
pub struct FindArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The email address (any case).
    email: String,
}

/// Options of the `edgeauth users` commands that name a user by id.
#[derive(Debug, Args)]
pub struct IdArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// The user's id (as `users find` shows it).
    id: String,
}

/// Exit code: no such user.
const NOT_FOUND: u8 = 1;
/// Exit code: an invalid argument.
const INVALID: u8 = 2;
/// Exit code: the database cannot be used.
const DATABASE: u8 = 3;

/// What the edge does about sessions ended here: it has no channel from this command, so
/// it learns as its caches expire.
const EDGE_NOTE: &str = "the edge refuses these sessions once its cached answers expire \
     (SESSION_CACHE_TTL, 60 s by default), and JWTs naming them at its next liveness check; \
     JWTs that name no session stay valid until they expire";

/// Why a command stopped.
enum Failure {
    NotFound(String),
    Invalid(String),
    Database(String),
}

impl From<DbError> for Failure {
    fn from(e: DbError) -> Self {
        Failure::Database(e.to_string())
    }
}

/// Runs a users subcommand.
pub fn run(command: UsersCommand) -> ExitCode {
    super::init_logging_at(crate::config::LogFormat::Text, "warn");
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(DATABASE);
        }
    };
    let json = match &command {
        UsersCommand::Find(args) => args.json,
        UsersCommand::RevokeSessions(args)
        | UsersCommand::Delete(args)
        | UsersCommand::VerifyEmail(args) => args.json,
    };
    match runtime.block_on(execute(command)) {
        Ok((value, text)) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&value).unwrap_or_default()
                );
            } else {
                println!("{text}");
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            let (code, kind, message) = match failure {
                Failure::NotFound(m) => (NOT_FOUND, "not_found", m),
                Failure::Invalid(m) => (INVALID, "invalid", m),
                Failure::Database(m) => (DATABASE, "database", m),
            };
            if json {
                println!("{}", json!({ "error": kind, "message": message }));
            }
            eprintln!("error: {message}");
            ExitCode::from(code)
        }
    }
}

/// Connects and checks the schema (every migration applied, and the tables as `edgeauth
/// doctor` wants them); reads `user.twoFactorEnabled` when it exists.
async fn open(common: &CommonArgs) -> Result<Db, Failure> {
    let db = common.connect()?;
    if !db.schema().is_custom() {
        db.check_schema().await.map_err(|e| match e {
            DbError::Other(m) => Failure::Database(format!("refusing to run: {m}")),
            e => Failure::from(e),
        })?;
    }
    let two_factor = db.has_two_factor_column().await?;
    let uses = crate::doctor::Uses {
        two_factor,
        ..crate::doctor::Uses::default()
    };
    let report = crate::doctor::run(&db, uses, true).await?;
    if !report.ok {
        return Err(Failure::Database(format!(
            "refusing to run: the database is not as edgeauth needs it (edgeauth doctor):\n{}",
            report.render()
        )));
    }
    let db = report.apply(db);
    Ok(if two_factor {
        db.with_two_factor_column()
    } else {
        db
    })
}

/// A user id as edgeauth and Better Auth write them: 1 to 255 visible ASCII characters.
fn check_id(id: &str) -> Result<(), Failure> {
    if id.is_empty() || id.len() > 255 || !id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Failure::Invalid(format!(
            "invalid user id {id:?}: expected 1 to 255 visible ASCII characters"
        )));
    }
    Ok(())
}

async fn user_by_id(db: &Db, id: &str) -> Result<User, Failure> {
    check_id(id)?;
    db.find_user_by_id(id)
        .await?
        .ok_or_else(|| Failure::NotFound(format!("no user with id {id}")))
}

/// The command's JSON value and its text.
async fn execute(command: UsersCommand) -> Result<(Value, String), Failure> {
    let now = SystemClock.now();
    match command {
        UsersCommand::Find(args) => {
            let email = args.email.trim().to_lowercase();
            if !is_valid_email(&email) {
                return Err(Failure::Invalid(format!(
                    "invalid email address {:?}",
                    args.email
                )));
            }
            let db = open(&args.common).await?;
            let user = db
                .find_user_by_email(&email)
                .await?
                .ok_or_else(|| Failure::NotFound(format!("no user with email {email}")))?;
            let sessions = db.list_sessions(&user.id).await?;
            let live = sessions.iter().filter(|s| s.expires_at > now).count();
            let providers = db.list_account_providers(&user.id).await?;
            db.close().await;
            let text = format!(
                "id:         {}\nemail:      {} ({})\nname:       {}\ncreated:    {}\ntwo-factor: {}\nsessions:   {live} live\naccounts:   {}",
                user.id,
                user.email,
                if user.email_verified { "verified" } else { "not verified" },
                user.name,
                user.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                if user.two_factor_enabled { "on" } else { "off" },
                if providers.is_empty() { "none".to_string() } else { providers.join(", ") },
            );
            let value = json!({ "user": user, "liveSessions": live, "accounts": providers });
            Ok((value, text))
        }
        UsersCommand::RevokeSessions(args) => {
            check_id(&args.id)?;
            let db = open(&args.common).await?;
            let user = user_by_id(&db, &args.id).await?;
            let ended = db.delete_user_sessions(&user.id, None).await?;
            db.close().await;
            tracing::info!(user = %user.id, ended, "sessions revoked by the operator");
            let text = format!(
                "ended {ended} session(s) of {} ({}); {EDGE_NOTE}",
                user.id, user.email
            );
            let value = json!({ "userId": user.id, "sessionsEnded": ended, "edge": EDGE_NOTE });
            Ok((value, text))
        }
        UsersCommand::Delete(args) => {
            check_id(&args.id)?;
            let db = open(&args.common).await?;
            let user = user_by_id(&db, &args.id).await?;
            let sessions = db.list_sessions(&user.id).await?.len();
            if !db.delete_user(&user.id, None, now).await? {
                return Err(Failure::NotFound(format!("no user with id {}", user.id)));
            }
            db.close().await;
            tracing::info!(user = %user.id, "user deleted by the operator");
            let text = format!(
                "deleted {} ({}) with {sessions} session(s); {EDGE_NOTE}",
                user.id, user.email
            );
            let value = json!({
                "deleted": true,
                "userId": user.id,
                "email": user.email,
                "sessionsEnded": sessions,
                "edge": EDGE_NOTE,
            });
            Ok((value, text))
        }
        UsersCommand::VerifyEmail(args) => {
            check_id(&args.id)?;
            let db = open(&args.common).await?;
            let user = user_by_id(&db, &args.id).await?;
            let already = user.email_verified;
            if !already {
                db.mark_email_verified(&user.email, now)
                    .await?
                    .ok_or_else(|| Failure::NotFound(format!("no user with id {}", user.id)))?;
                tracing::info!(user = %user.id, "email marked verified by the operator");
            }
            db.close().await;
            let text = if already {
                format!("{} ({}) was already verified", user.id, user.email)
            } else {
                format!("marked {} ({}) verified", user.id, user.email)
            };
            let value = json!({
                "userId": user.id,
                "email": user.email,
                "emailVerified": true,
                "alreadyVerified": already,
            });
            Ok((value, text))
        }
    }
}
