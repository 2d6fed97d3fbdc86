//! Raw argon2id password-verification throughput of the origin's own [`Hasher`], on plain OS
//! threads: the ceiling that `POST /api/auth/sign-in/email` can at best reach on this machine
//! (`scripts/bench-origin.sh` reports sign-ins per second as a ratio of it).
//!
//! ```text
//! cargo run --release -p edgeauth-origin --example hash_throughput -- [--threads N] [--seconds S]
//! ```
//!
//! One argon2id hash (the server's default parameters, m=19456 KiB, t=2, p=1) is made once;
//! then each of N threads (default: the number of CPUs) verifies the right password against
//! it in a loop until S seconds (default 10) have passed. Every verification must match. The
//! result is one JSON line on stdout:
//!
//! ```text
//! {"threads":2,"verifications":123,"seconds":10.0,"per_second":12.3}
//! ```
//!
//! `seconds` is the wall time from the start until the last thread finished its last
//! verification (slightly more than S), and `per_second` is `verifications / seconds`.

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use edgeauth_origin::password::{HashScheme, Hasher, Verified};

/// The password every thread verifies (its value does not change the cost).
const PASSWORD: &str = "correct horse battery staple";

const USAGE: &str = "usage: hash_throughput [--threads N] [--seconds S]\n\
    \n  --threads N   verifying threads (default: the number of CPUs)\
    \n  --seconds S   how long to run, in seconds (default: 10)";

/// The parsed command line.
struct Options {
    threads: usize,
    seconds: f64,
}

fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&options) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// `Ok(None)` for `--help`.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        threads: thread::available_parallelism().map_or(1, |n| n.get()),
        seconds: 10.0,
    };
    while let Some(arg) = args.next() {
        // Both `--flag value` and `--flag=value`.
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) => (flag.to_string(), Some(value.to_string())),
            None => (arg, None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(None),
            "--threads" | "--seconds" => {
                let value = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))?;
                if flag == "--threads" {
                    options.threads = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| format!("--threads: not a positive integer: {value}"))?;
                } else {
                    options.seconds = value
                        .parse::<f64>()
                        .ok()
                        .filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0)
                        .ok_or_else(|| {
                            format!("--seconds: not a number of seconds in (0, 86400]: {value}")
                        })?;
                }
            }
            other => return Err(format!("unknown argument: {other}")),
        }
    }
    Ok(Some(options))
}

/// Runs the measurement and returns the JSON line.
fn run(options: &Options) -> Result<String, String> {
    let hasher = Hasher::new(HashScheme::Argon2id);
    let stored = hasher
        .hash(PASSWORD)
        .map_err(|e| format!("hashing the test password: {e}"))?;
    // Fail before measuring, rather than count failures as work.
    check(hasher.verify(PASSWORD, &stored))?;

    let duration = Duration::from_secs_f64(options.seconds);
    let start = Instant::now();
    let deadline = start + duration;
    let counts: Vec<Result<u64, String>> = thread::scope(|scope| {
        let workers: Vec<_> = (0..options.threads)
            .map(|_| {
                let (hasher, stored) = (&hasher, stored.as_str());
                scope.spawn(move || -> Result<u64, String> {
                    let mut done = 0u64;
                    while Instant::now() < deadline {
                        check(hasher.verify(PASSWORD, stored))?;
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|worker| {
                worker
                    .join()
                    .unwrap_or_else(|_| Err("a verifying thread panicked".to_string()))
            })
            .collect()
    });
    let elapsed = start.elapsed().as_secs_f64();
    let mut verifications = 0u64;
    for count in counts {
        verifications += count?;
    }
    // u64 -> f64 is exact far beyond any count this loop can reach.
    let per_second = verifications as f64 / elapsed;
    Ok(format!(
        "{{\"threads\":{},\"verifications\":{verifications},\"seconds\":{elapsed:.3},\"per_second\":{per_second:.2}}}",
        options.threads
    ))
}

/// A verification that did not match (or failed) is an error: the benchmark measures the
/// sign-in path of a right password.
fn check<E: std::fmt::Display>(result: Result<Verified, E>) -> Result<(), String> {
    match result {
        Ok(Verified::Match { .. }) => Ok(()),
        Ok(Verified::NoMatch) => Err("the right password did not verify".to_string()),
        Err(e) => Err(format!("verification failed: {e}")),
    }
}
