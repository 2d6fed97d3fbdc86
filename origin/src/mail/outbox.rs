//! The outbox worker: one per origin process, delivering the rows of `edgeauth_mail_outbox`.
//!
//! It claims due rows ([`crate::db::Db::claim_mail`]) for a lease of [`LEASE`], as many as it
//! has free delivery slots ([`super::CONCURRENT_DELIVERIES`]), and handles each in its own
//! task. It wakes at once when a row is written in this process ([`super::Mailer::queued`])
//! and otherwise every [`POLL_INTERVAL`] (rows written by other processes, retries that fall
//! due, leases that ran out).
//!
//! Delivery is at least once: a mail is marked sent after the SMTP server accepted it, so a
//! crash between the two sends it again after the lease, with the same `Message-ID`. A
//! temporary failure is retried after [`retry_delay`]; a permanent one (a 5xx answer, an
//! unusable address), the last attempt, or a mail whose link expired meanwhile marks the row
//! failed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::templates::{Templates, Values};
use super::transport::Transport;
use super::{
    human_duration, observe, wall_ms, Mail, MailEvent, MailKind, MailPayload, Mailer,
    RequestPayload, REQUEST_PREFIX,
};
use crate::auth::{email_verification, password_reset};
use crate::clock::Clock;
use crate::config::Config;
use crate::db::{ClaimedMail, Db, DbError, TokenRow};
use crate::ids;

/// How long a claim holds: a crashed claimer's rows are taken again after this. Well above
/// one SMTP conversation's timeout (15 s), so a live claimer never loses a row it sends.
pub const LEASE: Duration = Duration::from_secs(60);

/// How often the worker looks for due rows when nothing woke it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Attempts before a mail is given up on.
pub const MAX_ATTEMPTS: i32 = 12;

/// The first retry's wait; each next one doubles, up to [`MAX_RETRY_DELAY`].
const FIRST_RETRY_DELAY: Duration = Duration::from_secs(5);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(600);

/// Sent rows are deleted this long after they were sent.
const KEEP_SENT_MS: i64 = 7 * 24 * 60 * 60 * 1000;

/// How often sent rows are purged.
const PURGE_EVERY_MS: i64 = 60 * 60 * 1000;

/// The wait after `attempts` failed attempts before the next, or `None` once the mail is
/// given up on: 5 s, 10 s, 20 s, 40 s, 80 s, 160 s, 320 s, then 600 s, for 12 attempts in
/// all, the last about 51 minutes after the first.
pub fn retry_delay(attempts: i32) -> Option<Duration> {
    if attempts >= MAX_ATTEMPTS {
        return None;
    }
    let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 16)).unwrap_or(16);
    Some(
        FIRST_RETRY_DELAY
            .saturating_mul(2u32.saturating_pow(doublings))
            .min(MAX_RETRY_DELAY),
    )
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The worker of one process.
pub(super) struct Worker {
    mailer: Mailer,
    db: Db,
    transport: Transport,
    templates: Templates,
    config: Config,
    clock: Arc<dyn Clock>,
    /// This process's name in `claimedBy`.
    claimer: String,
}

impl Worker {
    pub(super) fn new(
        mailer: Mailer,
        db: Db,
        transport: Transport,
        templates: Templates,
        config: Config,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Worker {
            mailer,
            db,
            transport,
            templates,
            config,
            clock,
            claimer: ids::generate_id(),
        }
    }

    /// Claims and handles rows until shutdown ([`Mailer::drain`]).
    pub(super) async fn run(self) {
        let Some(shared) = self.mailer.0.clone() else {
            return;
        };
        let worker = Arc::new(self);
        let mut failing = false;
        let mut next_purge = 0;
        loop {
            if shared.stopping.load(Ordering::Acquire) {
                return;
            }
            let free = shared.slots.available_permits();
            if free > 0 {
                let now = wall_ms();
                let lease_until = now.saturating_add(millis(LEASE));
                let limit = i64::try_from(free).unwrap_or(1);
                match worker
                    .db
                    .claim_mail(&worker.claimer, now, lease_until, limit)
                    .await
                {
                    Ok(rows) => {
                        if failing {
                            tracing::info!("mail outbox readable again");
                            failing = false;
                        }
                        let claimed = !rows.is_empty();
                        for row in rows {
                            // A slot is free for each row claimed, unless shutdown took them
                            // all meanwhile: then the row is handed back at once.
                            let Ok(slot) = shared.slots.clone().try_acquire_owned() else {
                                let _ = worker
                                    .db
                                    .mail_retry(
                                        &row.id,
                                        &worker.claimer,
                                        now,
                                        "not attempted: stopping",
                                    )
                                    .await;
                                continue;
                            };
                            let task = worker.clone();
                            tokio::spawn(async move {
                                task.handle(row).await;
                                drop(slot);
                                if let Some(shared) = task.mailer.0.as_ref() {
                                    shared.wake.notify_one();
                                }
                            });
                        }
                        if claimed {
                            continue;
                        }
                    }
                    Err(e) => {
                        if !failing {
                            tracing::warn!(error = %e, "cannot read the mail outbox; will retry");
                            failing = true;
                        }
                    }
                }
                if now >= next_purge {
                    next_purge = now.saturating_add(PURGE_EVERY_MS);
                    if let Ok(purged) = worker.db.purge_sent_mail(now - KEEP_SENT_MS).await {
                        if purged > 0 {
                            tracing::info!(purged, "sent mail rows purged");
                        }
                    }
                }
            }
            tokio::select! {
                () = shared.wake.notified() => {}
                () = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    /// Handles one claimed row: a request or a mail.
    async fn handle(&self, row: ClaimedMail) {
        if let Some(kind) = row.kind.strip_prefix(REQUEST_PREFIX) {
            let kind = kind.to_string();
            if let Err(e) = self.fulfil(&kind, &row).await {
                self.failed_attempt(&row, &format!("request not handled: {e}"), false)
                    .await;
            }
            return;
        }
        self.deliver(row).await;
    }

    /// A signed-out request: looks the address up and, if it is registered (and, for a
    /// verification, unverified), writes the token and queues the mail in the transaction
    /// that deletes the request.
    async fn fulfil(&self, kind: &str, row: &ClaimedMail) -> Result<(), DbError> {
        let Some(request) = self.mailer.open::<RequestPayload>(&row.payload) else {
            self.failed_attempt(row, "payload cannot be opened", true)
                .await;
            return Ok(());
        };
        let user = self.db.find_user_by_email(&row.recipient).await?;
        let now = self.clock.now();
        let callback = request.callback.as_deref();
        let (reset, mail) = match (MailKind::from_name(kind), user) {
            (Some(MailKind::ResetPassword), Some(user)) => {
                let reset = password_reset::new_reset(&self.config, &user, callback, now);
                (Some((reset.identifier, reset.expires_at)), Some(reset.mail))
            }
            (Some(MailKind::VerifyEmail), Some(user)) if !user.email_verified => {
                let mail =
                    email_verification::verification_mail(&self.config, now, &user, callback)
                        .map_err(|e| {
                            DbError::Other(format!("signing the verification link: {e}"))
                        })?;
                (None, Some(mail))
            }
            _ => (None, None),
        };
        let outbox = mail.as_ref().and_then(|mail| self.mailer.row(mail));
        let token_row =
            reset
                .as_ref()
                .zip(mail.as_ref())
                .map(|((identifier, expires_at), mail)| TokenRow {
                    kind_prefix: password_reset::RESET_PREFIX,
                    identifier,
                    value: &mail.user_id,
                    expires_at: *expires_at,
                    now,
                });
        let done = self
            .db
            .complete_mail_request(&row.id, &self.claimer, token_row.as_ref(), outbox.as_ref())
            .await?;
        if done {
            if let Some(mail) = &mail {
                tracing::info!(kind, user = %mail.user_id, "mail request handled: mail queued");
            }
            self.mailer.queued(outbox.as_ref());
        }
        Ok(())
    }

    /// Delivers one mail row and records the outcome.
    async fn deliver(&self, row: ClaimedMail) {
        let Some(kind) = MailKind::from_name(&row.kind) else {
            self.failed_attempt(&row, "unknown kind of mail", true)
                .await;
            return;
        };
        if wall_ms() >= row.expires_at {
            self.failed_attempt(&row, "expired before it could be delivered", true)
                .await;
            return;
        }
        let Some(payload) = self.mailer.open::<MailPayload>(&row.payload) else {
            // Another BETTER_AUTH_SECRET sealed it, or it was altered.
            self.failed_attempt(&row, "payload cannot be opened", true)
                .await;
            return;
        };
        let mail = Mail {
            kind,
            to: row.recipient.clone(),
            user_id: row.user_id.clone().unwrap_or_default(),
            name: payload.name,
            email: payload.email,
            new_email: payload.new_email,
            url: payload.url,
            code: payload.code,
            expires_in: payload.expires_in,
        };
        let expires = human_duration(mail.expires_in);
        let rendered = self.templates.render(
            kind,
            &Values {
                url: &mail.url,
                code: &mail.code,
                name: &mail.name,
                email: &mail.email,
                new_email: &mail.new_email,
                app_name: &self.config.lifecycle.app_name,
                expires: &expires,
            },
        );
        let (kind_name, user, attempt) = (kind.name(), mail.user_id.as_str(), row.attempts);
        match self
            .transport
            .deliver(&mail, &rendered, &row.message_id)
            .await
        {
            Ok(()) => {
                self.record_sent(&row).await;
                observe(MailEvent::Sent, kind_name);
                tracing::info!(kind = kind_name, user, attempt, message_id = %row.message_id, "mail sent");
            }
            Err(e) => {
                self.failed_attempt(&row, &e.message, e.permanent).await;
            }
        }
    }

    /// Marks a delivered row sent, trying a few times: a row left pending is sent again
    /// once its lease passes.
    async fn record_sent(&self, row: &ClaimedMail) {
        for pause in [0u64, 500, 2000] {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            match self.db.mail_sent(&row.id, wall_ms()).await {
                Ok(_) => return,
                Err(e) => tracing::warn!(
                    kind = %row.kind,
                    message_id = %row.message_id,
                    error = %e,
                    "mail sent but not recorded as sent"
                ),
            }
        }
    }

    /// Records a failed attempt: a retry on the schedule, or failed for good (`permanent`,
    /// attempts used up, or the mail's link expiring before the next attempt).
    async fn failed_attempt(&self, row: &ClaimedMail, error: &str, permanent: bool) {
        let now = wall_ms();
        let (kind, user, attempt) = (
            row.kind.as_str(),
            row.user_id.as_deref().unwrap_or("-"),
            row.attempts,
        );
        let next = (!permanent)
            .then(|| retry_delay(row.attempts))
            .flatten()
            .map(|delay| (delay, now.saturating_add(millis(delay))))
            .filter(|(_, at)| *at < row.expires_at);
        let recorded = match next {
            Some((delay, at)) => {
                tracing::warn!(
                    kind,
                    user,
                    attempt,
                    error,
                    retry_in_s = delay.as_secs(),
                    "mail delivery failed, will retry"
                );
                observe(MailEvent::Retried, kind);
                self.db.mail_retry(&row.id, &self.claimer, at, error).await
            }
            None => {
                tracing::error!(kind, user, attempt, error, "mail not sent: given up");
                observe(MailEvent::Failed, kind);
                self.db
                    .mail_failed(&row.id, &self.claimer, now, error)
                    .await
            }
        };
        if let Err(e) = recorded {
            // The row stays claimed: it is taken again when the lease passes.
            tracing::warn!(kind, error = %e, "cannot record the mail attempt");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_retry_schedule_doubles_then_caps_then_gives_up() {
        let waits: Vec<u64> = (1..MAX_ATTEMPTS)
            .map(|n| retry_delay(n).unwrap().as_secs())
            .collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600, 600]);
        assert_eq!(retry_delay(MAX_ATTEMPTS), None);
        assert_eq!(retry_delay(i32::MAX), None);
        // The whole schedule: about 51 minutes from the first attempt to the last.
        assert_eq!(waits.iter().sum::<u64>(), 3035);
        // A count read back as zero or less (never written so) still waits the first delay.
        assert_eq!(retry_delay(0), Some(FIRST_RETRY_DELAY));
    }
}
