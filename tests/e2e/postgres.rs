//! The throwaway PostgreSQL the database tests run against: it starts, answers, goes down
//! when stopped and comes back on the same URL.

use std::time::{Duration, Instant};

use edgeauth_tests::Postgres;
use sqlx::postgres::{PgPool, PgPoolOptions};

async fn pool(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        // While the server is down, sqlx retries connecting until this runs out.
        .acquire_timeout(Duration::from_secs(2))
        .connect(url)
        .await
        .unwrap()
}

async fn select_one(pool: &PgPool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT 1").fetch_one(pool).await
}

#[tokio::test]
async fn cluster_starts_stops_and_recovers() {
    let started = Instant::now();
    let pg = Postgres::start().await.unwrap();
    eprintln!("postgres ready in {:?}: {}", started.elapsed(), pg.url());

    let pool = pool(&pg.url()).await;
    assert_eq!(select_one(&pool).await.unwrap(), 1, "{}", pg.log_tail());
    let database: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(pg.url().ends_with(&format!("/{database}")), "{database}");

    if !pg.is_local() {
        eprintln!("DATABASE_URL is set: stop/restart needs a private cluster, not checked");
        return;
    }
    let stopping = Instant::now();
    pg.stop().unwrap();
    eprintln!("postgres stopped in {:?}", stopping.elapsed());
    let querying = Instant::now();
    let down = select_one(&pool).await;
    eprintln!("query while down: {down:?} after {:?}", querying.elapsed());
    assert!(down.is_err(), "a query answered while the server was down");

    let restarting = Instant::now();
    pg.restart().unwrap();
    eprintln!("postgres restarted in {:?}", restarting.elapsed());
    // The pool drops its dead connections and reconnects on its own.
    assert_eq!(select_one(&pool).await.unwrap(), 1, "{}", pg.log_tail());
    pool.close().await;
}

#[tokio::test]
async fn concurrent_clusters_are_independent() {
    let (a, b) = tokio::join!(Postgres::start(), Postgres::start());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.url(), b.url());
    let (pool_a, pool_b) = (pool(&a.url()).await, pool(&b.url()).await);
    sqlx::query("CREATE TABLE only_in_a (id int)")
        .execute(&pool_a)
        .await
        .unwrap();
    let in_b: Option<String> = sqlx::query_scalar("SELECT to_regclass('only_in_a')::text")
        .fetch_one(&pool_b)
        .await
        .unwrap();
    assert_eq!(in_b, None);
    pool_a.close().await;
    pool_b.close().await;
}
