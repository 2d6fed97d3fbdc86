//! Prometheus metrics (`EDGEAUTH_METRICS_LISTEN`): every metric's name, labels and help
//! text, and the functions the rest of the origin records through.
//!
//! Off by default. Until [`install`] runs (at `edgeauth serve` start-up, when the metrics
//! listener is configured) every recording function here returns after one atomic load. Once
//! installed, every series whose labels are known in advance is registered at once, so it is
//! exported from zero and recorded through a handle kept here: an atomic add, or a lock-free
//! push for a histogram sample, with no allocation and no lock of ours. The per-request HTTP
//! series (route × method × status) are registered on first use and then found in a
//! per-thread cache ([`http`]).
//!
//! Label values come from small sets fixed by the code: route templates, outcomes, rate-limit
//! rule prefixes, mail kinds. Never an address, a user id, a raw path
//! or anything else a client chooses. docs/operations.md ("Metrics") lists every metric.
//!
//! Gauges that describe a state (the pools, the signing key) are sampled when `/metrics` is
//! scraped ([`Sample`], [`render`]), not kept up to date on the hot path.

pub mod http;

use std::sync::OnceLock;
use std::time::Duration;

use chrono::{DateTime, Utc};
use metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::{
    BuildError, Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

use crate::mail::MailKind;

/// Every metric name (the `edgeauth_` prefix, Prometheus' `_total` and `_seconds` suffixes).
pub mod names {
    /// Counter of finished HTTP requests, by `route`, `method` and `status`.
    pub const HTTP_REQUESTS: &str = "edgeauth_http_requests_total";
    /// Histogram of the time to answer an HTTP request, by `route`, `method` and `status`.
    pub const HTTP_DURATION: &str = "edgeauth_http_request_duration_seconds";
    /// Gauge of HTTP requests being handled.
    pub const HTTP_IN_FLIGHT: &str = "edgeauth_http_requests_in_flight";
    /// Counter of sign-in attempts, by `outcome`.
    pub const SIGN_IN: &str = "edgeauth_sign_in_total";
    /// Counter of sign-up attempts, by `outcome`.
    pub const SIGN_UP: &str = "edgeauth_sign_up_total";
    /// Counter of requests refused by a rate limit, by `rule`.
    pub const RATE_LIMITED: &str = "edgeauth_rate_limit_refusals_total";
    /// Gauge of password hashing jobs running.
    pub const HASH_BUSY: &str = "edgeauth_password_hash_busy";
    /// Gauge of password hashing jobs waiting for a slot.
    pub const HASH_QUEUED: &str = "edgeauth_password_hash_queued";
    /// Gauge of the pool's slots (`EDGEAUTH_HASH_CONCURRENCY`).
    pub const HASH_SLOTS: &str = "edgeauth_password_hash_slots";
    /// Histogram of the time a hashing job waits for a slot.
    pub const HASH_WAIT: &str = "edgeauth_password_hash_wait_seconds";
    /// Histogram of the time a hashing job runs.
    pub const HASH_DURATION: &str = "edgeauth_password_hash_duration_seconds";
    /// Gauge of database connections, by `state` (`in_use`, `idle`).
    pub const DB_CONNECTIONS: &str = "edgeauth_db_connections";
    /// Gauge of the pool's maximum number of connections.
    pub const DB_MAX: &str = "edgeauth_db_connections_max";
    /// Histogram of the time a statement waits for a pooled connection.
    pub const DB_ACQUIRE_WAIT: &str = "edgeauth_db_acquire_wait_seconds";
    /// Counter of waits for a connection that ran out the acquire timeout.
    pub const DB_ACQUIRE_TIMEOUTS: &str = "edgeauth_db_acquire_timeouts_total";
    /// Gauge: 1 while the database is marked unreachable (statements fail at once).
    pub const DB_UNREACHABLE: &str = "edgeauth_db_unreachable";
    /// Counter of mails queued, by `kind`.
    pub const MAIL_QUEUED: &str = "edgeauth_mail_queued_total";
    /// Counter of mails delivered, by `kind`.
    pub const MAIL_SENT: &str = "edgeauth_mail_sent_total";
    /// Counter of failed delivery attempts that will be retried, by `kind`.
    pub const MAIL_RETRIED: &str = "edgeauth_mail_retries_total";
    /// Counter of mails given up on, by `kind`.
    pub const MAIL_FAILED: &str = "edgeauth_mail_failed_total";
    /// Counter of mails dropped without being queued (queue full), by `kind`.
    pub const MAIL_DROPPED: &str = "edgeauth_mail_dropped_total";
    /// Gauge of mails queued or being delivered.
    pub const MAIL_PENDING: &str = "edgeauth_mail_pending";
    /// Gauge of the age of the signing key in use.
    pub const KEY_AGE: &str = "edgeauth_signing_key_age_seconds";
    /// Gauge, always 1, whose `version` label names the running version.
    pub const BUILD_INFO: &str = "edgeauth_build_info";
}

/// The value of the `route` label for a request no route matched (404s, refused paths).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `rule` label of the per-account sign-in failure limit.
pub const SIGNIN_FAILURES_RULE: &str = "signin-failures";

/// The `rule` label of requests under Better Auth's default rule (no prefix rule matched).
pub const DEFAULT_RULE: &str = "default";

/// Histogram buckets of every `_seconds` histogram: 1 ms to 30 s (the request timeout).
const BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// How often histogram samples are folded into their buckets when no one scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// How a sign-in attempt ended (`edgeauth_sign_in_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignIn {
    /// A session was issued.
    Success,
    /// The credential was right; the user must give their second factor (no session yet).
    SecondFactorRequired,
    /// The credential was right, but the address is not verified and must be.
    EmailNotVerified,
    /// A registered address, the wrong password.
    WrongPassword,
    /// No user with a password at that address.
    UnknownAddress,
    /// Refused before any check: the account's failed sign-in limit is reached.
    Locked,
    /// Refused before any check: the client's rate limit on sign-in paths is reached.
    RateLimited,
}

impl SignIn {
    /// Every outcome, in label order.
    pub const ALL: [SignIn; 7] = [
        SignIn::Success,
        SignIn::SecondFactorRequired,
        SignIn::EmailNotVerified,
        SignIn::WrongPassword,
        SignIn::UnknownAddress,
        SignIn::Locked,
        SignIn::RateLimited,
    ];

    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            SignIn::Success => "success",
            SignIn::SecondFactorRequired => "second_factor_required",
            SignIn::EmailNotVerified => "email_not_verified",
            SignIn::WrongPassword => "wrong_password",
            SignIn::UnknownAddress => "unknown_address",
            SignIn::Locked => "locked",
            SignIn::RateLimited => "rate_limited",
        }
    }
}

/// How a sign-up attempt ended (`edgeauth_sign_up_total{outcome}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignUp {
    /// The account was created.
    Success,
    /// The address is taken.
    AlreadyExists,
    /// The password policy refused the password (length, common password).
    RejectedPassword,
    /// Refused before any check: the client's rate limit on sign-up paths is reached.
    RateLimited,
}

impl SignUp {
    /// Every outcome, in label order.
    pub const ALL: [SignUp; 4] = [
        SignUp::Success,
        SignUp::AlreadyExists,
        SignUp::RejectedPassword,
        SignUp::RateLimited,
    ];

    /// The `outcome` label.
    pub fn label(self) -> &'static str {
        match self {
            SignUp::Success => "success",
            SignUp::AlreadyExists => "already_exists",
            SignUp::RejectedPassword => "rejected_password",
            SignUp::RateLimited => "rate_limited",
        }
    }
}

/// The states sampled when `/metrics` is scraped.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Password hashing jobs running.
    pub hash_busy: usize,
    /// Password hashing jobs waiting for a slot.
    pub hash_queued: usize,
    /// The hashing pool's slots.
    pub hash_slots: usize,
    /// Database connections open (idle included).
    pub db_open: u32,
    /// Database connections open and idle.
    pub db_idle: usize,
    /// The database pool's maximum.
    pub db_max: u32,
    /// Whether the database is marked unreachable.
    pub db_unreachable: bool,
    /// When the signing key in use was created, if this process has loaded one.
    pub key_created_at: Option<DateTime<Utc>>,
    /// Mails pending in the outbox, of every process sharing the database; `None` when it
    /// could not be read (the gauge keeps its last value).
    pub mail_pending: Option<i64>,
    /// The time now.
    pub now: DateTime<Utc>,
}

/// One mail kind's counters.
struct MailSeries {
    queued: Counter,
    sent: Counter,
    retried: Counter,
    failed: Counter,
    dropped: Counter,
}

/// The installed recorder and the handles of every series known in advance.
struct Installed {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    in_flight: Gauge,
    sign_in: Vec<Counter>,
    sign_up: Vec<Counter>,
    rate_limited: Vec<(&'static str, Counter)>,
    hash_busy: Gauge,
    hash_queued: Gauge,
    hash_slots: Gauge,
    hash_wait: Histogram,
    hash_duration: Histogram,
    db_in_use: Gauge,
    db_idle: Gauge,
    db_max: Gauge,
    db_acquire_wait: Histogram,
    db_acquire_timeouts: Counter,
    db_unreachable: Gauge,
    mail: Vec<MailSeries>,
    mail_pending: Gauge,
    key_age: Gauge,
}

static INSTALLED: OnceLock<Installed> = OnceLock::new();

/// Where registrations say they come from (the Prometheus exporter ignores it).
static METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// The help text of every metric, with its type.
const DESCRIPTIONS: &[(Kind, &str, &str)] = &[
    (
        Kind::Counter,
        names::HTTP_REQUESTS,
        "HTTP requests answered, by route template (unmatched for paths no route matches), method and status.",
    ),
    (
        Kind::Histogram,
        names::HTTP_DURATION,
        "Time from a request reaching the router to its response, by route template, method and status.",
    ),
    (Kind::Gauge, names::HTTP_IN_FLIGHT, "HTTP requests being handled."),
    (Kind::Counter, names::SIGN_IN, "Sign-in attempts, by outcome."),
    (Kind::Counter, names::SIGN_UP, "Sign-up attempts, by outcome."),
    (
        Kind::Counter,
        names::RATE_LIMITED,
        "Requests refused with 429, by rate-limit rule (a path prefix, default, or signin-failures for the per-account limit).",
    ),
    (Kind::Gauge, names::HASH_BUSY, "Password hashing jobs running."),
    (Kind::Gauge, names::HASH_QUEUED, "Password hashing jobs waiting for a slot."),
    (Kind::Gauge, names::HASH_SLOTS, "Password hashing jobs that can run at once."),
    (Kind::Histogram, names::HASH_WAIT, "Time a password hashing job waited for a slot."),
    (Kind::Histogram, names::HASH_DURATION, "Time a password hashing job ran."),
    (Kind::Gauge, names::DB_CONNECTIONS, "Database connections open, by state (in_use, idle)."),
    (Kind::Gauge, names::DB_MAX, "Database connections the pool may open."),
    (
        Kind::Histogram,
        names::DB_ACQUIRE_WAIT,
        "Time a database statement waited for a pooled connection.",
    ),
    (
        Kind::Counter,
        names::DB_ACQUIRE_TIMEOUTS,
        "Waits for a database connection that ran out the acquire timeout.",
    ),
    (
        Kind::Gauge,
        names::DB_UNREACHABLE,
        "1 while the database is marked unreachable and statements fail at once, else 0.",
    ),
    (Kind::Counter, names::MAIL_QUEUED, "Mails queued for delivery, by kind."),
    (Kind::Counter, names::MAIL_SENT, "Mails delivered, by kind."),
    (Kind::Counter, names::MAIL_RETRIED, "Failed mail delivery attempts that are retried, by kind."),
    (Kind::Counter, names::MAIL_FAILED, "Mails given up on (permanent refusal or every attempt failed), by kind."),
    (Kind::Counter, names::MAIL_DROPPED, "Mails dropped because the queue was full, by kind."),
    (Kind::Gauge, names::MAIL_PENDING, "Mails queued or being delivered, by every process sharing the database (read from the outbox at each scrape)."),
    (
        Kind::Gauge,
        names::KEY_AGE,
        "Age of the JWT signing key in use, from its createdAt, as this process last loaded it.",
    ),
    (Kind::Gauge, names::BUILD_INFO, "Always 1; the version label names the running edgeauth."),
];

#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// Installs the recorder (once per process; later calls change nothing) and registers
/// every series known in advance, `rule_prefixes` being the rate-limit rules' prefixes.
/// Inside a tokio runtime, also starts the task that folds histogram samples into their
/// buckets every few seconds, so memory stays bounded when no one scrapes.
pub fn install(rule_prefixes: impl IntoIterator<Item = &'static str>) -> Result<(), BuildError> {
    if INSTALLED.get().is_some() {
        return Ok(());
    }
    let recorder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)?
        .build_recorder();
    for (kind, name, help) in DESCRIPTIONS {
        let name = KeyName::from_const_str(name);
        let help = (*help).into();
        match kind {
            Kind::Counter => recorder.describe_counter(name, None, help),
            Kind::Gauge => recorder.describe_gauge(name, None, help),
            Kind::Histogram => recorder.describe_histogram(name, None, help),
        }
    }
    let counter = |name: &'static str, labels: &[(&'static str, &'static str)]| {
        recorder.register_counter(&key(name, labels), &METADATA)
    };
    let gauge = |name: &'static str, labels: &[(&'static str, &'static str)]| {
        recorder.register_gauge(&key(name, labels), &METADATA)
    };
    let histogram = |name: &'static str| recorder.register_histogram(&key(name, &[]), &METADATA);
    let mut rules: Vec<&'static str> = rule_prefixes.into_iter().collect();
    rules.extend([DEFAULT_RULE, SIGNIN_FAILURES_RULE]);
    rules.sort_unstable();
    rules.dedup();
    gauge(names::BUILD_INFO, &[("version", env!("CARGO_PKG_VERSION"))]).set(1.0);
    // Exported from the start (a gauge never set is left out of the exposition).
    let mail_pending = gauge(names::MAIL_PENDING, &[]);
    mail_pending.set(0.0);
    let installed = Installed {
        in_flight: gauge(names::HTTP_IN_FLIGHT, &[]),
        sign_in: SignIn::ALL
            .iter()
            .map(|o| counter(names::SIGN_IN, &[("outcome", o.label())]))
            .collect(),
        sign_up: SignUp::ALL
            .iter()
            .map(|o| counter(names::SIGN_UP, &[("outcome", o.label())]))
            .collect(),
        rate_limited: rules
            .iter()
            .map(|rule| (*rule, counter(names::RATE_LIMITED, &[("rule", rule)])))
            .collect(),
        hash_busy: gauge(names::HASH_BUSY, &[]),
        hash_queued: gauge(names::HASH_QUEUED, &[]),
        hash_slots: gauge(names::HASH_SLOTS, &[]),
        hash_wait: histogram(names::HASH_WAIT),
        hash_duration: histogram(names::HASH_DURATION),
        db_in_use: gauge(names::DB_CONNECTIONS, &[("state", "in_use")]),
        db_idle: gauge(names::DB_CONNECTIONS, &[("state", "idle")]),
        db_max: gauge(names::DB_MAX, &[]),
        db_acquire_wait: histogram(names::DB_ACQUIRE_WAIT),
        db_acquire_timeouts: counter(names::DB_ACQUIRE_TIMEOUTS, &[]),
        db_unreachable: gauge(names::DB_UNREACHABLE, &[]),
        mail: MailKind::ALL
            .iter()
            .map(|kind| {
                let labels = [("kind", kind.name())];
                MailSeries {
                    queued: counter(names::MAIL_QUEUED, &labels),
                    sent: counter(names::MAIL_SENT, &labels),
                    retried: counter(names::MAIL_RETRIED, &labels),
                    failed: counter(names::MAIL_FAILED, &labels),
                    dropped: counter(names::MAIL_DROPPED, &labels),
                }
            })
            .collect(),
        mail_pending,
        key_age: gauge(names::KEY_AGE, &[]),
        handle: recorder.handle(),
        recorder,
    };
    if INSTALLED.set(installed).is_ok() {
        if let (Ok(runtime), Some(installed)) =
            (tokio::runtime::Handle::try_current(), INSTALLED.get())
        {
            runtime.spawn(async move {
                let mut every = tokio::time::interval(UPKEEP_EVERY);
                loop {
                    every.tick().await;
                    installed.handle.run_upkeep();
                }
            });
        }
    }
    Ok(())
}

/// Whether [`install`] ran: metrics are recorded.
pub fn enabled() -> bool {
    INSTALLED.get().is_some()
}

fn key(name: &'static str, labels: &[(&'static str, &'static str)]) -> Key {
    Key::from_parts(
        name,
        labels
            .iter()
            .map(|(k, v)| Label::from_static_parts(k, v))
            .collect::<Vec<_>>(),
    )
}

/// Samples `sample` into the state gauges and renders every metric in Prometheus' text
/// exposition format; `None` when metrics are not installed.
pub fn render(sample: &Sample) -> Option<String> {
    let m = INSTALLED.get()?;
    m.hash_busy.set(sample.hash_busy as f64);
    m.hash_queued.set(sample.hash_queued as f64);
    m.hash_slots.set(sample.hash_slots as f64);
    let idle = u32::try_from(sample.db_idle).unwrap_or(u32::MAX);
    m.db_in_use
        .set(f64::from(sample.db_open.saturating_sub(idle)));
    m.db_idle.set(f64::from(idle.min(sample.db_open)));
    m.db_max.set(f64::from(sample.db_max));
    m.db_unreachable
        .set(if sample.db_unreachable { 1.0 } else { 0.0 });
    if let Some(pending) = sample.mail_pending {
        m.mail_pending.set(pending as f64);
    }
    if let Some(created) = sample.key_created_at {
        let age = (sample.now - created).num_milliseconds().max(0);
        m.key_age.set(age as f64 / 1000.0);
    }
    Some(m.handle.render())
}

/// A sign-in attempt ended so.
pub fn sign_in(outcome: SignIn) {
    if let Some(m) = INSTALLED.get() {
        m.sign_in[outcome as usize].increment(1);
    }
}

/// A sign-up attempt ended so.
pub fn sign_up(outcome: SignUp) {
    if let Some(m) = INSTALLED.get() {
        m.sign_up[outcome as usize].increment(1);
    }
}

/// A request was refused by the rate-limit rule `rule` (a rule's path prefix,
/// [`DEFAULT_RULE`] or [`SIGNIN_FAILURES_RULE`]).
pub fn rate_limited(rule: &str) {
    if let Some(m) = INSTALLED.get() {
        if let Some((_, counter)) = m.rate_limited.iter().find(|(r, _)| *r == rule) {
            counter.increment(1);
        }
    }
}

/// A password hashing job waited `waited` for its slot.
pub fn hash_waited(waited: Duration) {
    if let Some(m) = INSTALLED.get() {
        m.hash_wait.record(waited.as_secs_f64());
    }
}

/// A password hashing job ran for `ran`.
pub fn hash_ran(ran: Duration) {
    if let Some(m) = INSTALLED.get() {
        m.hash_duration.record(ran.as_secs_f64());
    }
}

/// A database statement waited `waited` for a pooled connection.
pub fn db_acquired(waited: Duration) {
    if let Some(m) = INSTALLED.get() {
        m.db_acquire_wait.record(waited.as_secs_f64());
    }
}

/// A wait for a database connection ran out the acquire timeout.
pub fn db_acquire_timed_out() {
    if let Some(m) = INSTALLED.get() {
        m.db_acquire_timeouts.increment(1);
    }
}

fn mail_series(kind: MailKind, record: impl FnOnce(&MailSeries)) {
    if let Some(m) = INSTALLED.get() {
        if let Some(series) = MailKind::ALL
            .iter()
            .position(|k| *k == kind)
            .and_then(|i| m.mail.get(i))
        {
            record(series);
        }
    }
}

/// A mail of `kind` was queued (pending until sent or failed).
pub fn mail_queued(kind: MailKind) {
    mail_series(kind, |s| s.queued.increment(1));
}

/// A queued mail of `kind` was delivered.
pub fn mail_sent(kind: MailKind) {
    mail_series(kind, |s| s.sent.increment(1));
}

/// A delivery attempt of a mail of `kind` failed and will be retried.
pub fn mail_retried(kind: MailKind) {
    mail_series(kind, |s| s.retried.increment(1));
}

/// A queued mail of `kind` was given up on.
pub fn mail_failed(kind: MailKind) {
    mail_series(kind, |s| s.failed.increment(1));
}

/// A mail of `kind` was dropped without being queued (the queue was full).
pub fn mail_dropped(kind: MailKind) {
    mail_series(kind, |s| s.dropped.increment(1));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_prometheus_conventions() {
        for (kind, name, help) in DESCRIPTIONS {
            assert!(name.starts_with("edgeauth_"), "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            match kind {
                Kind::Counter => assert!(name.ends_with("_total"), "{name}"),
                Kind::Histogram => assert!(name.ends_with("_seconds"), "{name}"),
                Kind::Gauge => assert!(!name.ends_with("_total"), "{name}"),
            }
            assert!(!help.is_empty() && !help.contains('@'), "{name}");
        }
        let mut all: Vec<&str> = DESCRIPTIONS.iter().map(|(_, n, _)| *n).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), DESCRIPTIONS.len(), "a metric is described twice");
    }

    #[test]
    fn outcomes_index_their_labels() {
        for (i, outcome) in SignIn::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, i);
        }
        for (i, outcome) in SignUp::ALL.iter().enumerate() {
            assert_eq!(*outcome as usize, i);
        }
    }
}
