//! SQL on `rateLimit`: Better Auth's rate-limit counters (`key`, `count`, `lastRequest` in
//! epoch milliseconds), shared by every origin process on the database.
//!
//! One request is one statement: an upsert that applies Better Auth's algorithm to the row
//! under the row's lock (PostgreSQL's `ON CONFLICT DO UPDATE` locks and re-reads the latest
//! row version; SQLite has one writer at a time), so concurrent requests from several
//! processes can never admit more than `max` between them. The `WHERE` of the `DO UPDATE`
//! is the "blocked" test: a blocked request updates nothing and the statement returns no
//! row. Only then is a second, read-only statement run, to compute `X-Retry-After`.

use super::{on_pool, Db, DbError};

/// What the counter said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitHit {
    /// Admitted (and counted).
    Allowed,
    /// Refused; the row's `lastRequest` (epoch ms), for the retry time. `None` if the row
    /// vanished between the two statements.
    Limited { last_request: Option<i64> },
}

/// Better Auth's algorithm as one upsert. `$1` id for a new row, `$2` key, `$3` now (ms),
/// `$4` window (ms), `$5` max. A new key starts at 1. An existing row is blocked when
/// `now - lastRequest < window AND count >= max` (no update, no row returned); otherwise
/// the count restarts at 1 if `now - lastRequest > window`, else increments, and
/// `lastRequest = now`.
const HIT: &str = r#"INSERT INTO {rateLimit} ({rateLimit.id}, {rateLimit.key}, {rateLimit.count}, {rateLimit.lastRequest})
VALUES ({$1:rateLimit.id}, $2, 1, $3)
ON CONFLICT ({rateLimit.key}) DO UPDATE SET
    {rateLimit.count} = CASE WHEN $3 - {rateLimit}.{rateLimit.lastRequest} > $4 THEN 1
                   ELSE {rateLimit}.{rateLimit.count} + 1 END,
    {rateLimit.lastRequest} = $3
WHERE NOT ($3 - {rateLimit}.{rateLimit.lastRequest} < $4 AND {rateLimit}.{rateLimit.count} >= $5)
RETURNING {>rateLimit.count}"#;

impl Db {
    /// Counts one request against `key` with Better Auth's algorithm in one upsert (see the
    /// module docs); `id` names the row if it is new.
    pub async fn rate_limit_hit(
        &self,
        id: &str,
        key: &str,
        now_ms: i64,
        window_ms: i64,
        max: i64,
    ) -> Result<RateLimitHit, DbError> {
        let admitted: Option<i32> = on_pool!(self, pool => sqlx::query_scalar(self.sql(HIT))
            .bind(id)
            .bind(key)
            .bind(now_ms)
            .bind(window_ms)
            .bind(max)
            .fetch_optional(pool)
            .await)?;
        if admitted.is_some() {
            return Ok(RateLimitHit::Allowed);
        }
        let last_request: Option<i64> = on_pool!(self, pool => sqlx::query_scalar(
            self.sql(r#"SELECT {>rateLimit.lastRequest} FROM {rateLimit} WHERE {rateLimit.key} = $1"#),
        )
        .bind(key)
        .fetch_optional(pool)
        .await)?;
        Ok(RateLimitHit::Limited { last_request })
    }

    /// Forgets `key` (a successful sign-in clears its failure counter).
    pub async fn rate_limit_reset(&self, key: &str) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(self.sql(r#"DELETE FROM {rateLimit} WHERE {rateLimit.key} = $1"#))
            .bind(key)
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Deletes counters last touched before `before_ms`; returns how many.
    pub async fn rate_limit_purge(&self, before_ms: i64) -> Result<u64, DbError> {
        let done = on_pool!(self, pool => sqlx::query(
            self.sql(r#"DELETE FROM {rateLimit} WHERE {rateLimit.lastRequest} < $1"#),
        )
        .bind(before_ms)
        .execute(pool)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(done)
    }

    /// Reads nothing from `rateLimit`, but fails when the table is missing (a schema that
    /// Better Auth created without `rateLimit.storage: "database"` and migrations off).
    pub async fn rate_limit_probe(&self) -> Result<(), DbError> {
        on_pool!(self, pool => sqlx::query(self.sql(r#"SELECT 1 FROM {rateLimit} WHERE 1 = 0"#))
            .execute(pool)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sqlite() -> (Db, std::path::PathBuf) {
        let path = std::env::temp_dir().join(format!(
            "edgeauth-rate-limit-{}-{}.db",
            std::process::id(),
            crate::ids::random_string(8)
        ));
        let db = Db::connect(Some(&format!("sqlite://{}?mode=rwc", path.display()))).unwrap();
        db.migrate().await.unwrap();
        (db, path)
    }

    fn cleanup(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    async fn hit(db: &Db, key: &str, now: i64) -> RateLimitHit {
        db.rate_limit_hit(&crate::ids::generate_id(), key, now, 10_000, 3)
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn the_upsert_follows_better_auths_algorithm() {
        let (db, path) = sqlite().await;
        db.rate_limit_probe().await.unwrap();
        let allowed = RateLimitHit::Allowed;
        assert_eq!(hit(&db, "k", 1_000).await, allowed);
        assert_eq!(hit(&db, "k", 1_001).await, allowed);
        assert_eq!(hit(&db, "k", 1_002).await, allowed);
        // Fourth within the window: refused, and the row is left alone.
        let limited = RateLimitHit::Limited {
            last_request: Some(1_002),
        };
        assert_eq!(hit(&db, "k", 1_003).await, limited);
        assert_eq!(hit(&db, "k", 11_001).await, limited);
        // Exactly one window after the last admitted request: admitted, count 4.
        assert_eq!(hit(&db, "k", 11_002).await, allowed);
        assert_eq!(
            hit(&db, "k", 11_003).await,
            RateLimitHit::Limited {
                last_request: Some(11_002)
            }
        );
        // More than a window later: the count restarts at 1.
        assert_eq!(hit(&db, "k", 21_003).await, allowed);
        assert_eq!(hit(&db, "k", 21_004).await, allowed);
        assert_eq!(hit(&db, "k", 21_005).await, allowed);
        assert!(matches!(
            hit(&db, "k", 21_006).await,
            RateLimitHit::Limited { .. }
        ));
        // Keys are independent; reset forgets one.
        assert_eq!(hit(&db, "other", 21_006).await, allowed);
        db.rate_limit_reset("k").await.unwrap();
        assert_eq!(hit(&db, "k", 21_007).await, allowed);
        // Purge removes rows older than the cut-off only.
        assert_eq!(db.rate_limit_purge(21_007).await.unwrap(), 1);
        assert_eq!(db.rate_limit_purge(21_007).await.unwrap(), 0);
        db.close().await;
        cleanup(&path);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_admit_exactly_max() {
        let (db, path) = sqlite().await;
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move { hit(&db, "burst", 5_000).await }));
        }
        let mut admitted = 0;
        for task in tasks {
            if task.await.unwrap() == RateLimitHit::Allowed {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 3);
        db.close().await;
        cleanup(&path);
    }
}
