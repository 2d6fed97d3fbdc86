//! Failing fast while the database is unreachable.
//!
//! When the database is down, sqlx retries the refused connection until the pool's acquire
//! timeout ([`super::ACQUIRE_TIMEOUT`]), so every request would wait that long for its 503.
//! Instead, the first failure that says the database is unreachable
//! ([`DbError::Unavailable`]) marks it down: from then on every statement fails at once
//! with [`DbError::Unavailable`], without touching the pool, while one background probe
//! (`SELECT 1`, retried every [`PROBE_PAUSE`] after each failure) waits for the database to
//! answer again and then clears the mark. Recovery needs no restart: the probe's own
//! connection attempts are retried by sqlx with a backoff of at most a fifth of the acquire
//! timeout, so the mark clears within about a second of the database accepting
//! connections.
//!
//! A saturated pool (every connection busy for the whole acquire timeout) also counts as
//! unreachable: requests are then refused at once until a connection is free for the probe,
//! which sheds load rather than queueing more of it.
//!
//! A failure marks the database down only if its statement began after the last recovery
//! ([`Attempt`]). Statements that began before the mark was set keep waiting in sqlx's
//! connection retries until the acquire timeout, which can end after the database answers
//! again: their late timeout says nothing about the database now, and must not take it
//! down a second time.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::{Db, DbError};

/// How long the probe pauses after a failed attempt before the next.
pub const PROBE_PAUSE: Duration = Duration::from_millis(100);

/// Whether the database is known to be unreachable, shared by every clone of a [`Db`].
#[derive(Debug, Default)]
pub(super) struct Outage {
    /// Statements fail at once while set.
    down: AtomicBool,
    /// A probe task is running.
    probing: AtomicBool,
    /// How many times the probe has cleared the mark.
    recoveries: AtomicU64,
}

/// When a statement began, as the number of recoveries before it: only the failure of a
/// statement that began after the last recovery can mark the database unreachable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Attempt(u64);

impl Db {
    /// `Err` at once while the database is marked unreachable (starting the probe if none
    /// runs); otherwise the [`Attempt`] a statement beginning now makes. Every statement of
    /// [`on_pool!`](super::on_pool) asks first.
    pub(super) fn check_reachable(&self) -> Result<Attempt, DbError> {
        if !self.outage.down.load(Ordering::Acquire) {
            // The probe counts a recovery before it clears the mark, so a statement that
            // sees the mark cleared also sees the count.
            return Ok(Attempt(self.outage.recoveries.load(Ordering::Acquire)));
        }
        self.start_probe();
        Err(DbError::Unavailable(
            "database unreachable (failing fast until it answers again)".into(),
        ))
    }

    /// Whether the database is marked unreachable.
    pub fn marked_unreachable(&self) -> bool {
        self.outage.down.load(Ordering::Acquire)
    }

    /// Notes `error`, from a statement begun at `attempt`: one saying the database is
    /// unreachable marks it so, unless the pool was closed on purpose (shutdown) or the
    /// database has recovered since the statement began. Returns it unchanged.
    pub(super) fn note(&self, error: DbError, attempt: Attempt) -> DbError {
        if matches!(error, DbError::Unavailable(_))
            && !self.is_closed()
            && attempt == Attempt(self.outage.recoveries.load(Ordering::Acquire))
            && tokio::runtime::Handle::try_current().is_ok()
            && !self.outage.down.swap(true, Ordering::AcqRel)
        {
            tracing::warn!(
                error = %error,
                "database unreachable: requests fail at once until it answers again"
            );
            self.start_probe();
        }
        error
    }

    /// Starts the probe unless one runs: it pings until the database answers, then clears
    /// the mark. It stops, leaving the mark, when the pool is closed (shutdown).
    fn start_probe(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.outage.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let db = self.clone();
        runtime.spawn(async move {
            while !db.is_closed() {
                match db.ping_unchecked().await {
                    // Any answer, even an error, means the database is reachable.
                    Ok(()) | Err(DbError::Conflict | DbError::Slow(_) | DbError::Other(_)) => {
                        db.outage.recoveries.fetch_add(1, Ordering::AcqRel);
                        db.outage.down.store(false, Ordering::Release);
                        tracing::info!("database answers again");
                        break;
                    }
                    Err(DbError::Unavailable(_)) => tokio::time::sleep(PROBE_PAUSE).await,
                }
            }
            db.outage.probing.store(false, Ordering::Release);
        });
    }
}

/// What [`on_pool!`](super::on_pool) makes of a statement's result: a sqlx error becomes a
/// [`DbError`], and one saying the database is unreachable is noted ([`Db::note`]).
pub(crate) trait Noted {
    /// The result with [`DbError`] as its error.
    type Output;
    /// Converts and notes, for a statement begun at `attempt`.
    fn noted(self, db: &Db, attempt: Attempt) -> Self::Output;
}

impl<T> Noted for Result<T, sqlx::Error> {
    type Output = Result<T, DbError>;
    fn noted(self, db: &Db, attempt: Attempt) -> Self::Output {
        self.map_err(|e| db.note(DbError::from(e), attempt))
    }
}

impl<T> Noted for Result<T, DbError> {
    type Output = Result<T, DbError>;
    fn noted(self, db: &Db, attempt: Attempt) -> Self::Output {
        self.map_err(|e| db.note(e, attempt))
    }
}

/// A body that returns nothing (a transaction whose failures leave through `?`).
impl Noted for () {
    type Output = ();
    fn noted(self, _: &Db, _: Attempt) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqlite(name: &str) -> (Db, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "edgeauth-outage-{name}-{}-{}.db",
            std::process::id(),
            crate::ids::random_string(8)
        ));
        let db = Db::connect(Some(&format!("sqlite://{}?mode=rwc", path.display()))).unwrap();
        (db, path)
    }

    fn cleanup(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    /// A failure that says the database is unreachable fails what follows at once, until
    /// the probe gets an answer; other failures, and late ones from statements that began
    /// before the recovery, change nothing.
    #[tokio::test]
    async fn an_unreachable_database_fails_fast_until_the_probe_gets_an_answer() {
        let (db, path) = sqlite("probe");
        db.ping().await.unwrap();
        let before = db.check_reachable().unwrap();
        let _ = Err::<(), _>(DbError::Other("syntax".into())).noted(&db, before);
        let _ = Err::<(), _>(sqlx::Error::RowNotFound).noted(&db, before);
        assert!(!db.marked_unreachable());

        let _ = Err::<(), _>(sqlx::Error::PoolTimedOut).noted(&db, before);
        assert!(db.marked_unreachable());
        // On this single-threaded runtime the probe has not run yet.
        assert!(matches!(db.ping().await, Err(DbError::Unavailable(_))));
        assert!(matches!(db.list_jwks().await, Err(DbError::Unavailable(_))));

        let waiting = std::time::Instant::now();
        while db.marked_unreachable() {
            assert!(waiting.elapsed() < Duration::from_secs(5), "never cleared");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        db.ping().await.unwrap();

        // A statement that began before the recovery (one still waiting in sqlx's connection
        // retries when the database came back) times out late: that says nothing about the
        // database now. One that began after it does.
        let _ = Err::<(), _>(sqlx::Error::PoolTimedOut).noted(&db, before);
        assert!(
            !db.marked_unreachable(),
            "a stale failure marked it down again"
        );
        let after = db.check_reachable().unwrap();
        assert_ne!(after, before);
        let _ = Err::<(), _>(sqlx::Error::PoolTimedOut).noted(&db, after);
        assert!(db.marked_unreachable());
        while db.marked_unreachable() {
            assert!(waiting.elapsed() < Duration::from_secs(5), "never cleared");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }

        // A pool closed on purpose (shutdown) is not an outage.
        let now = db.check_reachable().unwrap();
        db.close().await;
        let _ = Err::<(), _>(sqlx::Error::PoolClosed).noted(&db, now);
        assert!(!db.marked_unreachable());
        cleanup(&path);
    }
}
