//! Outgoing mail: verification, password reset, email change and deletion links.
//!
//! Handlers hand a [`Mail`] to the [`Mailer`] and return at once: sending never blocks or
//! fails an HTTP request. A background task renders the templates and delivers through the
//! transport (SMTP, or the development log), retrying temporary failures with exponential
//! backoff. A failure is logged with the kind of mail and the user id, never the link: the
//! link carries the token.

mod templates;
mod transport;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, Semaphore};

pub use self::templates::{Rendered, Templates, Values};
use self::transport::Transport;
use crate::config::Lifecycle;
use crate::db::User;
use crate::metrics;

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

/// Most mails waiting to be sent; beyond, new ones are dropped (and logged).
pub const QUEUE_CAPACITY: usize = 1024;

/// Mails delivered at once.
const CONCURRENT_DELIVERIES: usize = 4;

/// Attempts per mail, and the wait before the first retry (doubled each time): 1+2+4+8 s.
const ATTEMPTS: u32 = 5;
const FIRST_RETRY: Duration = Duration::from_secs(1);

/// The handle handlers send mail through.
#[derive(Clone)]
pub struct Mailer {
    queue: Option<mpsc::Sender<Mail>>,
    /// Mails queued or being delivered (retries included), for [`Mailer::drain`].
    pending: Arc<AtomicUsize>,
}

impl Mailer {
    /// Starts the delivery task for the configured transport (none when mail is disabled).
    /// Must run inside the tokio runtime.
    pub fn start(config: &Lifecycle) -> Result<Self, MailError> {
        let pending = Arc::new(AtomicUsize::new(0));
        let Some(transport) = Transport::from_config(config)? else {
            return Ok(Mailer {
                queue: None,
                pending,
            });
        };
        let templates = Templates::load(config.mail_templates.as_deref())?;
        let (queue, receiver) = mpsc::channel(QUEUE_CAPACITY);
        let app_name = config.app_name.clone();
        tokio::spawn(deliver_all(
            receiver,
            transport,
            templates,
            app_name,
            pending.clone(),
        ));
        Ok(Mailer {
            queue: Some(queue),
            pending,
        })
    }

    /// Waits until every queued mail is delivered or given up on, at most `timeout`
    /// (graceful shutdown: a reset link requested just before a deploy still goes out).
    /// Returns how many were still pending.
    pub async fn drain(&self, timeout: Duration) -> usize {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = self.pending.load(Ordering::Acquire);
            if left == 0 || tokio::time::Instant::now() >= deadline {
                return left;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether mail is sent at all (false in production without SMTP).
    pub fn enabled(&self) -> bool {
        self.queue.is_some()
    }

    /// Queues `mail`; never waits. A full queue drops it, with a warning.
    pub fn send(&self, mail: Mail) {
        let Some(queue) = &self.queue else {
            return;
        };
        let (kind, user) = (mail.kind, mail.user_id.clone());
        self.pending.fetch_add(1, Ordering::AcqRel);
        if queue.try_send(mail).is_err() {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            metrics::mail_dropped(kind);
            tracing::warn!(kind = kind.name(), %user, "mail queue full or closed: mail dropped");
        } else {
            metrics::mail_queued(kind);
        }
    }
}

async fn deliver_all(
    mut receiver: mpsc::Receiver<Mail>,
    transport: Transport,
    templates: Templates,
    app_name: String,
    pending: Arc<AtomicUsize>,
) {
    let transport = Arc::new(transport);
    let templates = Arc::new(templates);
    let slots = Arc::new(Semaphore::new(CONCURRENT_DELIVERIES));
    while let Some(mail) = receiver.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (transport, templates, app_name, pending) = (
            transport.clone(),
            templates.clone(),
            app_name.clone(),
            pending.clone(),
        );
        tokio::spawn(async move {
            let expires = human_duration(mail.expires_in);
            let rendered = templates.render(
                mail.kind,
                &Values {
                    url: &mail.url,
                    code: &mail.code,
                    name: &mail.name,
                    email: &mail.email,
                    new_email: &mail.new_email,
                    app_name: &app_name,
                    expires: &expires,
                },
            );
            deliver_with_retries(&transport, &mail, &rendered).await;
            pending.fetch_sub(1, Ordering::AcqRel);
            drop(slot);
        });
    }
}

async fn deliver_with_retries(transport: &Transport, mail: &Mail, rendered: &Rendered) {
    let (kind, user) = (mail.kind.name(), mail.user_id.as_str());
    let mut wait = FIRST_RETRY;
    for attempt in 1..=ATTEMPTS {
        match transport.deliver(mail, rendered).await {
            Ok(()) => {
                metrics::mail_sent(mail.kind);
                tracing::info!(kind, user, attempt, "mail sent");
                return;
            }
            Err(e) if e.permanent || attempt == ATTEMPTS => {
                metrics::mail_failed(mail.kind);
                tracing::error!(kind, user, attempt, error = %e.message, "mail not sent");
                return;
            }
            Err(e) => {
                metrics::mail_retried(mail.kind);
                tracing::warn!(kind, user, attempt, error = %e.message, retry_in_s = wait.as_secs(), "mail delivery failed, will retry");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
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
