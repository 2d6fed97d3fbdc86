//! `edgeauth doctor`: what edgeauth will read and write in the configured database, and
//! every mismatch with its fix ([`crate::doctor`]). Changes nothing.
//!
//! Exit status: 0 when edgeauth can run on the database as it is, 1 on a mismatch, 3 when the
//! database cannot be examined (unreachable, invalid configuration).

use std::process::ExitCode;

use clap::Args;

use crate::config::{Config, ServeArgs};
use crate::doctor::{self, Report};

/// Options of `edgeauth doctor`: the same configuration as `serve`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The report as JSON, for scripts.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    serve: ServeArgs,
}

/// What the configuration uses, for the report.
pub fn uses(config: &Config) -> doctor::Uses {
    doctor::Uses {
        two_factor: config.two_factor.enabled,
        passkey: config.passkey.enabled,
        rate_limit_table: config.rate_limit
            && config.rate_limit_storage == crate::config::RateLimitStorage::Database,
        mail: config.lifecycle.transport != crate::config::MailTransport::Disabled,
        provider_sign_up: config.oauth.has_providers(),
    }
}

/// Examines the database and prints the report.
pub fn run(args: DoctorArgs) -> ExitCode {
    super::init_logging(crate::config::LogFormat::Text);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("edgeauth doctor: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let report = runtime.block_on(async {
        let config = Config::from_args(&args.serve)?;
        let db = args.serve.common.connect()?;
        let report = doctor::run(&db, uses(&config), false).await?;
        db.close().await;
        Ok::<Report, anyhow::Error>(report)
    });
    match report {
        Ok(report) => {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                print!("{}", report.render());
            }
            if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("edgeauth doctor: cannot examine the database: {e:#}");
            ExitCode::from(3)
        }
    }
}
