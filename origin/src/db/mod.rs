//! The database: Better Auth's schema on PostgreSQL or the embedded SQLite, and every SQL
//! statement the origin runs (one file per table).
//!
//! [`Db`] holds either pool. Statements are written once in the subset both dialects
//! accept (quoted camelCase identifiers, `$n` placeholders) and run through `on_pool!`,
//! which expands the same code for each pool type. Time comparisons are done in Rust, not in
//! SQL, so the two dialects' timestamp types never have to agree.

mod account;
mod fields;
mod introspect;
mod jwks;
mod models;
mod oauth;
mod outage;
mod outbox;
mod own_tables;
mod passkey;
mod rate_limit;
mod schema;
mod session;
mod two_factor;
mod user;
mod verification;

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions};
use sqlx::{PgPool, SqlitePool};

pub use account::PasswordChange;
pub use fields::{
    Action as FieldAction, AdditionalField, Extra, FieldError, FieldInput, FieldType, FieldValue,
};
pub use introspect::DbColumn;
pub use jwks::JwkRow;
pub use models::{js_date, Account, NewUser, Session, SessionWithUser, User};
pub use oauth::{AccountRow, NewProviderAccount, ProviderAccountRef, ProviderTokens, Unlink};
pub use outbox::{ClaimedMail, OutboxMail, OutboxStatus, TokenRow};
pub use passkey::PasskeyRow;
pub use rate_limit::RateLimitHit;
pub use schema::{class_of, is_id as schema_is_id, ColumnClass, GenerateId, Schema};
pub use two_factor::{PendingSignIn, TwoFactorRow};
pub use verification::{ResetOutcome, VerificationValue};

/// How long a request waits for a connection before the database counts as unavailable
/// (while it is marked unreachable, requests do not wait at all: see [`outage`]).
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

/// A database failure, classified for the HTTP layer.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The database cannot be reached (down, pool exhausted, timed out): retry later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the write (for example a second user with one email).
    #[error("unique constraint violated")]
    Conflict,
    /// The database answers, but a statement ran past the statement timeout (a held lock,
    /// an overloaded server) or, on SQLite, a lock was not released in time: retry later.
    /// Unlike [`DbError::Unavailable`], it does not mark the database unreachable.
    #[error("database too slow: {0}")]
    Slow(String),
    /// Anything else: a bug or a schema mismatch.
    #[error("database error: {0}")]
    Other(String),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        match e {
            sqlx::Error::Database(db) if db.is_unique_violation() => DbError::Conflict,
            sqlx::Error::PoolTimedOut => {
                crate::metrics::db_acquire_timed_out();
                DbError::Unavailable(e.to_string())
            }
            sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => DbError::Unavailable(e.to_string()),
            sqlx::Error::Database(db)
                // Connection-class and shutdown SQLSTATEs: the server is going away.
                if db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")) =>
            {
                DbError::Unavailable(db.to_string())
            }
            sqlx::Error::Database(db) if db.code().is_some_and(|c| is_too_slow(&c)) => {
                DbError::Slow(db.to_string())
            }
            other => DbError::Other(other.to_string()),
        }
    }
}

/// Whether a database error code says a statement was cancelled for taking too long:
/// PostgreSQL's `query_canceled` (57014: `statement_timeout`) and `lock_not_available`
/// (55P03), SQLite's `SQLITE_BUSY` and `SQLITE_LOCKED` (5 and 6, with their extended
/// codes), which it returns once `busy_timeout` has passed. (SQLSTATEs have five
/// characters; SQLite's codes are numbers below 10,000.)
fn is_too_slow(code: &str) -> bool {
    matches!(code, "57014" | "55P03")
        || (code.len() < 5 && code.parse::<u32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)))
}

#[derive(Clone, Debug)]
enum Pool {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A connection pool to PostgreSQL or SQLite.
#[derive(Clone, Debug)]
pub struct Db {
    pool: Pool,
    /// Whether `user.twoFactorEnabled` exists and is read ([`Db::with_two_factor_column`]).
    two_factor_column: bool,
    /// The tables' names and column types ([`schema`]).
    schema: Arc<Schema>,
    /// Whether the database is marked unreachable ([`outage`]), shared by the clones.
    outage: Arc<outage::Outage>,
}

/// Runs `$body` with `$pool` bound to a connection taken from whichever pool `$db` (a
/// `&Db`) holds ([`acquire`], which times the wait for the metrics): at once
/// `Err(DbError::Unavailable)` instead while the database is marked unreachable, and the
/// body's sqlx error, if any, as a [`DbError`], noted ([`outage`]).
macro_rules! on_pool {
    ($db:expr, $pool:ident => $body:expr) => {{
        let db: &$crate::db::Db = $db;
        let attempt = db.check_reachable()?;
        match &db.pool {
            $crate::db::Pool::Postgres(pool) => {
                let mut connection = $crate::db::acquire(db, pool, attempt).await?;
                let $pool = &mut *connection;
                $crate::db::outage::Noted::noted($body, db, attempt)
            }
            $crate::db::Pool::Sqlite(pool) => {
                let mut connection = $crate::db::acquire(db, pool, attempt).await?;
                let $pool = &mut *connection;
                $crate::db::outage::Noted::noted($body, db, attempt)
            }
        }
    }};
}
pub(crate) use on_pool;

/// A connection from `pool` for one statement or transaction of `db`; the wait is recorded
/// (`edgeauth_db_acquire_wait_seconds`), a failure noted ([`outage`]).
pub(crate) async fn acquire<D: sqlx::Database>(
    db: &Db,
    pool: &sqlx::Pool<D>,
    attempt: outage::Attempt,
) -> Result<sqlx::pool::PoolConnection<D>, DbError> {
    let waiting = Instant::now();
    let connection = pool
        .acquire()
        .await
        .map_err(|e| db.note(DbError::from(e), attempt))?;
    crate::metrics::db_acquired(waiting.elapsed());
    Ok(connection)
}

/// The connection pool's state, sampled for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections open, idle or in use.
    pub open: u32,
    /// Connections open and idle.
    pub idle: usize,
    /// Most connections the pool opens.
    pub max: u32,
}

impl Db {
    /// The pool's state now.
    pub fn pool_stats(&self) -> PoolStats {
        match &self.pool {
            Pool::Postgres(pool) => PoolStats {
                open: pool.size(),
                idle: pool.num_idle(),
                max: pool.options().get_max_connections(),
            },
            Pool::Sqlite(pool) => PoolStats {
                open: pool.size(),
                idle: pool.num_idle(),
                max: pool.options().get_max_connections(),
            },
        }
    }

    /// Connects lazily (the first query opens connections), so the server can start while
    /// the database is still coming up; readiness reports it. No statement timeout.
    pub fn connect(url: Option<&str>) -> Result<Self, DbError> {
        Self::connect_with(url, None)
    }

    /// [`Db::connect`], with PostgreSQL's `statement_timeout` set on every connection when
    /// `statement_timeout` is given: a statement running longer (waiting for a lock
    /// included) is cancelled with [`DbError::Slow`].
    pub fn connect_with(
        url: Option<&str>,
        statement_timeout: Option<Duration>,
    ) -> Result<Self, DbError> {
        let url = url.unwrap_or(crate::config::DEFAULT_SQLITE_URL);
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // sqlx starts every session with `TimeZone=UTC`: timestamps written into columns
            // without a time zone (Drizzle's, Prisma's) are stored as UTC, as Better Auth's
            // adapters store them, and read back with `AT TIME ZONE 'UTC'` (db/schema.rs).
            let mut options = PgConnectOptions::from_str(url)
                .map_err(|e| DbError::Other(format!("invalid DATABASE_URL: {e}")))?;
            if let Some(timeout) = statement_timeout {
                let millis = timeout.as_millis().to_string();
                options = options.options([("statement_timeout", millis.as_str())]);
            }
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options),
            )
        } else if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| DbError::Other(format!("invalid DATABASE_URL: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(5));
            Pool::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect_lazy_with(options),
            )
        } else {
            return Err(DbError::Other(
                "DATABASE_URL must start with postgres://, postgresql:// or sqlite:".into(),
            ));
        };
        Ok(Db {
            pool,
            two_factor_column: false,
            schema: Arc::default(),
            outage: Arc::default(),
        })
    }

    /// `"postgres"` or `"sqlite"`.
    pub fn dialect(&self) -> &'static str {
        match self.pool {
            Pool::Postgres(_) => "postgres",
            Pool::Sqlite(_) => "sqlite",
        }
    }

    /// How a transaction that must see no other writer between its reads and its writes
    /// begins: on SQLite `BEGIN IMMEDIATE`, which takes the write lock at once (a deferred
    /// transaction that reads first cannot take it later once another has written). On
    /// PostgreSQL a plain `BEGIN`, followed by the lock the caller needs.
    fn writer_begin(&self) -> &'static str {
        match self.pool {
            Pool::Postgres(_) => "BEGIN",
            Pool::Sqlite(_) => "BEGIN IMMEDIATE",
        }
    }

    /// Applies the migrations in `migrations/<dialect>/` that have not run yet.
    pub async fn migrate(&self) -> Result<(), DbError> {
        match &self.pool {
            Pool::Postgres(pool) => POSTGRES_MIGRATIONS.run(pool).await,
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await,
        }
        .map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(e) => DbError::from(e),
            other => DbError::Other(other.to_string()),
        })
    }

    /// Whether the schema is the one this edgeauth expects, without changing anything: every
    /// migration in `migrations/<dialect>/` applied, completely and unaltered (same checksum),
    /// and none this edgeauth does not know (a newer edgeauth migrated the database). The
    /// same checks `migrate` (run by `serve` at start-up) makes before it applies anything;
    /// the error says what differs.
    pub async fn check_schema(&self) -> Result<(), DbError> {
        let migrator = match self.pool {
            Pool::Postgres(_) => &POSTGRES_MIGRATIONS,
            Pool::Sqlite(_) => &SQLITE_MIGRATIONS,
        };
        let applied: Vec<(i64, Vec<u8>, bool)> = match on_pool!(self, pool => sqlx::query_as(
            "SELECT version, checksum, success FROM _sqlx_migrations ORDER BY version",
        )
        .fetch_all(pool)
        .await)
        {
            Ok(rows) => rows,
            Err(DbError::Other(_)) => return Err(DbError::Other(
                "no edgeauth schema in this database (no migration record): run `edgeauth migrate`"
                    .into(),
            )),
            Err(e) => return Err(e),
        };
        for (version, checksum, success) in &applied {
            let Some(known) = migrator.iter().find(|m| m.version == *version) else {
                return Err(DbError::Other(format!(
                    "the database has migration {version}, which this edgeauth does not know \
                     (a newer edgeauth migrated it): use that version"
                )));
            };
            if !success {
                return Err(DbError::Other(format!(
                    "migration {version} ({}) did not complete: run `edgeauth migrate`",
                    known.description
                )));
            }
            if checksum.as_slice() != &*known.checksum {
                return Err(DbError::Other(format!(
                    "migration {version} ({}) was applied from a different file",
                    known.description
                )));
            }
        }
        if let Some(missing) = migrator
            .iter()
            .find(|m| !applied.iter().any(|(v, _, _)| *v == m.version))
        {
            return Err(DbError::Other(format!(
                "migration {} ({}) is not applied: run `edgeauth migrate`",
                missing.version, missing.description
            )));
        }
        Ok(())
    }

    /// One round trip to the database, for readiness: at once `Err` while it is marked
    /// unreachable.
    pub async fn ping(&self) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()))?;
        Ok(())
    }

    /// One round trip, even while the database is marked unreachable (the probe's).
    async fn ping_unchecked(&self) -> Result<(), DbError> {
        match &self.pool {
            Pool::Postgres(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
            Pool::Sqlite(pool) => sqlx::query("SELECT 1").execute(pool).await.map(|_| ()),
        }
        .map_err(DbError::from)
    }

    /// Whether [`Db::close`] was called.
    fn is_closed(&self) -> bool {
        match &self.pool {
            Pool::Postgres(pool) => pool.is_closed(),
            Pool::Sqlite(pool) => pool.is_closed(),
        }
    }

    /// Closes every connection (graceful shutdown).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Postgres(pool) => pool.close().await,
            Pool::Sqlite(pool) => pool.close().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_too_slow;

    #[test]
    fn statement_timeouts_and_busy_locks_count_as_too_slow() {
        for slow in ["57014", "55P03", "5", "6", "517", "261"] {
            assert!(is_too_slow(slow), "{slow}");
        }
        for other in ["23505", "42P01", "57P01", "08006", "1", "19", "2067"] {
            assert!(!is_too_slow(other), "{other}");
        }
    }
}
