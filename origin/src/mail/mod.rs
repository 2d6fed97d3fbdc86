//! Outgoing mail: verification, password reset, email change and deletion links, sign-in
//! codes and notices.
//!
//! Mail is durable: a handler writes each mail as a row of the outbox table
//! (`edgeauth_mail_outbox`, [`crate::db::OutboxMail`]), in the transaction that writes the
//! token the mail carries, and answers; a mail acknowledged to the caller survives a crash.
//! A worker in every origin process ([`outbox`]) claims due rows, renders the templates and
//! delivers through the transport (SMTP, or the development log) with the `Message-ID` fixed
//! when the row was written, retrying temporary failures on a schedule
//! ([`outbox::retry_delay`]). Requests whose mail depends on a lookup (a signed-out password
//! reset or verification resend) are rows too: the worker looks the address up, writes the
//! token and queues the mail, so the caller's answer and its timing say nothing about the
//! address. A failure is logged with the kind of mail and the user id, never the link or
//! code: they carry the token.

pub mod outbox;
mod templates;
mod transport;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{Notify, Semaphore};

pub use self::templates::{Rendered, Templates, Values};
use self::transport::Transport;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::db::{Db, DbError, OutboxMail, User};
use crate::{crypto, ids, metrics};

/// The kinds of mail the origin sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    /// An email verification link (also the new-address step of an email change).
    VerifyEmail,
    /// A password reset link.
    ResetPassword,
    /// The current-address confirmation of an email change.
    ChangeEmailConfirmation,
    /// An account deletion confirmation link.
    DeleteAccount,
    /// A one-time sign-in code (two-factor authentication's "Email me a code").
    TwoFactorCode,
    /// Notice: two-factor authentication was turned on.
    TwoFactorEnabled,
    /// Notice: two-factor authentication was turned off.
    TwoFactorDisabled,
    /// Notice: a passkey was added.
    PasskeyAdded,
    /// Notice: a passkey was removed.
    PasskeyRemoved,
}

impl MailKind {
    /// Every kind.
    pub const ALL: [MailKind; 9] = [
        MailKind::VerifyEmail,
        MailKind::ResetPassword,
        MailKind::ChangeEmailConfirmation,
        MailKind::DeleteAccount,
        MailKind::TwoFactorCode,
        MailKind::TwoFactorEnabled,
        MailKind::TwoFactorDisabled,
        MailKind::PasskeyAdded,
        MailKind::PasskeyRemoved,
    ];

    /// The template file stem, and the name in logs.
    pub fn name(self) -> &'static str {
        match self {
            MailKind::VerifyEmail => "verify-email",
            MailKind::ResetPassword => "reset-password",
            MailKind::ChangeEmailConfirmation => "change-email-confirmation",
            MailKind::DeleteAccount => "delete-account",
            MailKind::TwoFactorCode => "two-factor-code",
            MailKind::TwoFactorEnabled => "two-factor-enabled",
            MailKind::TwoFactorDisabled => "two-factor-disabled",
            MailKind::PasskeyAdded => "passkey-added",
            MailKind::PasskeyRemoved => "passkey-removed",
        }
    }

    /// The kind named `name` ([`MailKind::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        MailKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Why mail cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// A template cannot be read or uses an unknown placeholder.
    #[error("mail template {0}")]
    Template(String),
    /// The transport cannot be built from the configuration.
    #[error("mail transport: {0}")]
    Transport(String),
}

/// One mail to send.
#[derive(Debug, Clone)]
pub struct Mail {
    /// What it is.
    pub kind: MailKind,
    /// The recipient's address.
    pub to: String,
    /// The user it concerns (for logs).
    pub user_id: String,
    /// The user's name.
    pub name: String,
    /// The user's current address (differs from `to` when confirming an email change).
    pub email: String,
    /// The new address of an email change, else empty.
    pub new_email: String,
    /// The link (carries the token: never logged).
    pub url: String,
    /// A one-time code, else empty (never logged).
    pub code: String,
    /// The link's lifetime, in seconds.
    pub expires_in: u64,
}

impl Mail {
    /// A mail of `kind` to `user` at their current address, carrying `url`, which lives
    /// `expires_in` seconds (no email change involved).
    pub fn to_user(kind: MailKind, user: &User, url: String, expires_in: u64) -> Self {
        Mail {
            kind,
            to: user.email.clone(),
            user_id: user.id.clone(),
            name: user.name.clone(),
            email: user.email.clone(),
            new_email: String::new(),
            url,
            code: String::new(),
            expires_in,
        }
    }

    /// Adds a one-time code (`{{code}}`).
    pub fn with_code(mut self, code: String) -> Self {
        self.code = code;
        self
    }
}

/// Mails delivered at once by one process.
pub const CONCURRENT_DELIVERIES: usize = 4;

/// How long a mail that carries no link (a notice) stays worth sending.
const NOTICE_LIFETIME_MS: i64 = 24 * 60 * 60 * 1000;

/// How long a signed-out request (reset, verification resend) waits for the worker at most.
const REQUEST_LIFETIME_MS: i64 = 60 * 60 * 1000;

/// The `kind` prefix of request rows: `request:reset-password`.
pub const REQUEST_PREFIX: &str = "request:";

/// What a mail row's payload holds (sealed): the values its templates are rendered from.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct MailPayload {
    pub(crate) name: String,
    pub(crate) email: String,
    #[serde(default)]
    pub(crate) new_email: String,
    #[serde(default)]
    pub(crate) url: String,
    #[serde(default)]
    pub(crate) code: String,
    pub(crate) expires_in: u64,
}

/// What a request row's payload holds (sealed): where the mailed link leads.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RequestPayload {
    pub(crate) callback: Option<String>,
}

/// Counted mail events: the call point for metrics ([`observe`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailEvent {
    /// A mail row was written (its transaction committed).
    Queued,
    /// A mail was delivered.
    Sent,
    /// A delivery failed and is scheduled again.
    Retried,
    /// A mail was given up on (kept as failed).
    Failed,
}

/// Called once per [`MailEvent`] with the kind of mail: where mail metrics are counted
/// ([`crate::metrics`]; per process: a mail queued by one process may be sent by another).
pub fn observe(event: MailEvent, kind: &str) {
    tracing::trace!(?event, kind, "mail event");
    let Some(kind) = MailKind::from_name(kind) else {
        return;
    };
    match event {
        MailEvent::Queued => metrics::mail_queued(kind),
        MailEvent::Sent => metrics::mail_sent(kind),
        MailEvent::Retried => metrics::mail_retried(kind),
        MailEvent::Failed => metrics::mail_failed(kind),
    }
}

/// What the handlers and the worker share.
struct Shared {
    secret: String,
    /// The domain of `Message-ID`s (the sender's).
    domain: String,
    /// Wakes the worker: a row was written.
    wake: Notify,
    /// Set at shutdown: the worker claims nothing more.
    stopping: AtomicBool,
    /// One permit per delivery slot.
    slots: Arc<Semaphore>,
}

/// The handle handlers queue mail through.
#[derive(Clone)]
pub struct Mailer(Option<Arc<Shared>>);

/// Now, in Unix milliseconds of the wall clock (the outbox's times: shared by processes).
pub(crate) fn wall_ms() -> i64 {
    SystemClock.now().timestamp_millis()
}

impl Mailer {
    /// Starts the outbox worker for the configured transport (none, and nothing queued,
    /// when mail is disabled). Must run inside the tokio runtime.
    pub fn start(config: &Config, db: &Db, clock: Arc<dyn Clock>) -> Result<Self, MailError> {
        let Some(transport) = Transport::from_config(&config.lifecycle)? else {
            return Ok(Mailer(None));
        };
        let templates = Templates::load(config.lifecycle.mail_templates.as_deref())?;
        let domain = config
            .lifecycle
            .mail_from
            .parse::<lettre::message::Mailbox>()
            .map(|m| m.email.domain().to_string())
            .unwrap_or_else(|_| "localhost".into());
        let shared = Arc::new(Shared {
            secret: config.secret.clone(),
            domain,
            wake: Notify::new(),
            stopping: AtomicBool::new(false),
            slots: Arc::new(Semaphore::new(CONCURRENT_DELIVERIES)),
        });
        let mailer = Mailer(Some(shared));
        let worker = outbox::Worker::new(
            mailer.clone(),
            db.clone(),
            transport,
            templates,
            config.clone(),
            clock,
        );
        tokio::spawn(worker.run());
        Ok(mailer)
    }

    /// A mailer that queues nothing (mail disabled).
    pub fn disabled() -> Self {
        Mailer(None)
    }

    /// Whether mail is sent at all (false in production without SMTP).
    pub fn enabled(&self) -> bool {
        self.0.is_some()
    }

    fn shared(&self) -> Option<&Shared> {
        self.0.as_deref()
    }

    /// The outbox row for `mail`, to write in the transaction of the token it carries
    /// (`None` when mail is disabled); then call [`Mailer::queued`].
    pub fn row(&self, mail: &Mail) -> Option<OutboxMail> {
        let shared = self.shared()?;
        let payload = MailPayload {
            name: mail.name.clone(),
            email: mail.email.clone(),
            new_email: mail.new_email.clone(),
            url: mail.url.clone(),
            code: mail.code.clone(),
            expires_in: mail.expires_in,
        };
        let lifetime = match i64::try_from(mail.expires_in) {
            Ok(0) | Err(_) => NOTICE_LIFETIME_MS,
            Ok(seconds) => seconds.saturating_mul(1000),
        };
        Some(self.new_row(
            shared,
            mail.kind.name().to_string(),
            &mail.to,
            Some(mail.user_id.clone()),
            &serde_json::to_string(&payload).unwrap_or_default(),
            lifetime,
        ))
    }

    /// The row of a signed-out request for `kind` ([`MailKind::ResetPassword`] or
    /// [`MailKind::VerifyEmail`]) for `address`, whose link leads to `callback`: the worker
    /// looks the address up and queues the mail if it is registered. `None` when mail is
    /// disabled.
    pub fn request_row(
        &self,
        kind: MailKind,
        address: &str,
        callback: Option<&str>,
    ) -> Option<OutboxMail> {
        let shared = self.shared()?;
        let payload = RequestPayload {
            callback: callback.map(str::to_string),
        };
        Some(self.new_row(
            shared,
            format!("{REQUEST_PREFIX}{}", kind.name()),
            address,
            None,
            &serde_json::to_string(&payload).unwrap_or_default(),
            REQUEST_LIFETIME_MS,
        ))
    }

    fn new_row(
        &self,
        shared: &Shared,
        kind: String,
        to: &str,
        user_id: Option<String>,
        payload: &str,
        lifetime_ms: i64,
    ) -> OutboxMail {
        let now = wall_ms();
        OutboxMail {
            id: ids::generate_id(),
            kind,
            recipient: to.to_string(),
            user_id,
            payload: crypto::seal(&shared.secret, payload),
            message_id: format!("<{}@{}>", ids::generate_id(), shared.domain),
            created_at: now,
            expires_at: now.saturating_add(lifetime_ms),
        }
    }

    /// Opens a row's payload.
    pub(crate) fn open<T: for<'de> Deserialize<'de>>(&self, sealed: &str) -> Option<T> {
        let json = crypto::open(&self.shared()?.secret, sealed).ok()?;
        serde_json::from_str(&json).ok()
    }

    /// Tells the worker that `row`'s transaction committed (a mail or request to handle now).
    pub fn queued(&self, row: Option<&OutboxMail>) {
        if let (Some(shared), Some(row)) = (self.shared(), row) {
            if !row.kind.starts_with(REQUEST_PREFIX) {
                observe(MailEvent::Queued, &row.kind);
            }
            shared.wake.notify_one();
        }
    }

    /// Writes `mail` to the outbox on its own (a mail whose token is stateless, or a notice)
    /// and wakes the worker. Nothing when mail is disabled.
    pub async fn send(&self, db: &Db, mail: Mail) -> Result<(), DbError> {
        let Some(row) = self.row(&mail) else {
            return Ok(());
        };
        db.enqueue_mail(&row).await?;
        self.queued(Some(&row));
        Ok(())
    }

    /// Graceful shutdown: the worker claims nothing more; waits until the deliveries under
    /// way end, at most `timeout`. Returns how many were still under way. Rows not yet
    /// taken stay in the outbox for the next start or another process.
    pub async fn drain(&self, timeout: Duration) -> usize {
        let Some(shared) = self.shared() else {
            return 0;
        };
        shared.stopping.store(true, Ordering::Release);
        shared.wake.notify_one();
        let all = u32::try_from(CONCURRENT_DELIVERIES).unwrap_or(u32::MAX);
        let deadline = tokio::time::Instant::now() + timeout;
        match tokio::time::timeout_at(deadline, shared.slots.acquire_many(all)).await {
            Ok(Ok(permits)) => {
                permits.forget();
                0
            }
            _ => CONCURRENT_DELIVERIES.saturating_sub(shared.slots.available_permits()),
        }
    }
}

/// "1 hour", "30 minutes", "1 day", "90 seconds".
pub fn human_duration(seconds: u64) -> String {
    let (n, unit) = match seconds {
        s if s % 86400 == 0 => (s / 86400, "day"),
        s if s % 3600 == 0 => (s / 3600, "hour"),
        s if s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(human_duration(3600), "1 hour");
        assert_eq!(human_duration(86400), "1 day");
        assert_eq!(human_duration(7200), "2 hours");
        assert_eq!(human_duration(1800), "30 minutes");
        assert_eq!(human_duration(90), "90 seconds");
    }
}
