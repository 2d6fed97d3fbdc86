//! Running password hashing off the async runtime, a bounded number at a time.
//!
//! One argon2id hash or scrypt verification takes tens of milliseconds of CPU and 19 to 32 MiB
//! of memory. Run on a tokio worker it would stall every other request scheduled on that
//! worker for as long, and a flood of sign-ins would starve cheap requests such as
//! `get-session`. So:
//!
//! - jobs run on tokio's blocking thread pool ([`tokio::task::spawn_blocking`]), never on the
//!   async workers;
//! - at most `size` jobs run at once (default: the number of CPUs), bounding CPU use; the
//!   rest wait in the semaphore's queue, which is FIFO, so every waiting sign-in is served in
//!   turn and none starves. Waiting costs no thread;
//! - argon2 runs in block buffers the [`Hasher`] reuses, of which it keeps at most `size`
//!   (see `super::blocks`). A job holds one only while it holds its permit, so at most `size`
//!   buffers for the configured parameters are ever allocated, whichever blocking threads
//!   the jobs land on: memory is bounded too, at about `size` × `m` KiB, plus what running
//!   jobs allocate for themselves and free when they end: a buffer for a stored argon2 hash
//!   with stronger parameters than the configured ones, and scrypt's 32 MiB for a Better
//!   Auth hash (that size is above glibc's largest mmap threshold, so it is mapped and
//!   unmapped per call and does not pile up: measured, 2 threads of scrypt peak at 66 MiB).
//!
//! Without the reuse, memory was not bounded: `argon2` allocates a fresh buffer per call,
//! and glibc keeps a dozen or so freed 19 MiB buffers resident per thread arena, so a few
//! seconds of sign-ins took the origin from 7 MiB to 430-560 MiB with `size` = 2.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::Semaphore;

use super::{HashError, Hasher, Verified};
use crate::metrics;

/// Counts a job as queued for as long as it waits for its permit (also when the waiting
/// caller is cancelled).
struct Queued<'a>(&'a AtomicUsize);

impl<'a> Queued<'a> {
    fn enter(queued: &'a AtomicUsize) -> Self {
        queued.fetch_add(1, Ordering::Relaxed);
        Queued(queued)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A [`Hasher`] behind a concurrency limit, with async methods. Cheap to share: wrap it in an
/// `Arc` (or clone the pool: clones share the hasher and the limit).
#[derive(Debug, Clone)]
pub struct HashPool {
    hasher: Arc<Hasher>,
    permits: Arc<Semaphore>,
    size: usize,
    /// Jobs waiting for a permit (for metrics).
    queued: Arc<AtomicUsize>,
}

impl HashPool {
    /// A pool running at most [`HashPool::default_size`] jobs at once.
    pub fn new(hasher: Hasher) -> Self {
        Self::with_size(hasher, Self::default_size())
    }

    /// A pool running at most `size` jobs at once (0 is taken as 1), and keeping at most
    /// `size` argon2 buffers.
    pub fn with_size(mut hasher: Hasher, size: usize) -> Self {
        let size = size.clamp(1, Semaphore::MAX_PERMITS);
        hasher.set_pooled_buffers(size);
        Self {
            hasher: Arc::new(hasher),
            permits: Arc::new(Semaphore::new(size)),
            size,
            queued: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// The hasher (its scheme and parameters).
    pub fn hasher(&self) -> &Hasher {
        &self.hasher
    }

    /// The maximum number of jobs running at once.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The default limit: the number of CPUs ([`std::thread::available_parallelism`], 1 when
    /// it is unknown). More would only make each hash slower and use more memory.
    pub fn default_size() -> usize {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }

    /// How many more jobs could start right now (0 when saturated). For metrics.
    pub fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }

    /// How many jobs are running now. For metrics.
    pub fn busy(&self) -> usize {
        self.size.saturating_sub(self.available_permits())
    }

    /// How many jobs are waiting for a permit now. For metrics.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// [`Hasher::hash`] on the pool.
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        self.run(move |hasher| hasher.hash(&password)).await?
    }

    /// [`Hasher::verify`] on the pool.
    pub async fn verify(&self, password: String, stored: String) -> Result<Verified, HashError> {
        self.run(move |hasher| hasher.verify(&password, &stored))
            .await?
    }

    /// [`Hasher::dummy_verify`] on the pool. Returns an error only when the job itself could
    /// not run ([`HashError::TaskFailed`]), so the unknown-user path can fail exactly like the
    /// known-user path does.
    pub async fn dummy_verify(&self, password: String) -> Result<(), HashError> {
        self.run(move |hasher| hasher.dummy_verify(&password)).await
    }

    /// Waits for a permit (FIFO), then runs `job` on the blocking pool.
    ///
    /// The permit moves into the blocking task and is released when the job ends, not when
    /// this future does: if the caller is cancelled (client gone, timeout) the job keeps
    /// running to completion, and it must keep counting against the limit until then, or
    /// cancelled requests would let more than `size` jobs run at once.
    async fn run<T, F>(&self, job: F) -> Result<T, HashError>
    where
        F: FnOnce(&Hasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let waiting = Instant::now();
        let permit = {
            let _queued = Queued::enter(&self.queued);
            Arc::clone(&self.permits)
                .acquire_owned()
                .await
                .map_err(|_| HashError::TaskFailed)?
        };
        metrics::hash_waited(waiting.elapsed());
        let hasher = Arc::clone(&self.hasher);
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let running = Instant::now();
            let done = job(&hasher);
            metrics::hash_ran(running.elapsed());
            done
        })
        .await
        .map_err(|e| {
            // A panic in the hashing libraries, or the runtime shutting down. The JoinError
            // says which; it holds no input.
            tracing::error!(panicked = e.is_panic(), "password hashing task failed");
            HashError::TaskFailed
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;
    use crate::password::{Argon2Params, HashScheme};

    /// A generous bound so a broken pool fails the test instead of hanging it. Not a timing
    /// assertion: every step below normally takes microseconds to milliseconds.
    const DEADLINE: Duration = Duration::from_secs(60);

    fn cheap_hasher() -> Hasher {
        Hasher::with_argon2_params(
            HashScheme::Argon2id,
            Argon2Params {
                m_cost_kib: 256,
                t_cost: 1,
                p_cost: 1,
            },
        )
        .unwrap()
    }

    #[test]
    fn default_size_is_at_least_one() {
        assert!(HashPool::new(cheap_hasher()).size() >= 1);
        assert_eq!(HashPool::with_size(cheap_hasher(), 0).size(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pool_of_one_completes_concurrent_verifies() {
        let pool = HashPool::with_size(cheap_hasher(), 1);
        let stored = pool.hash("hunter2hunter2".into()).await.unwrap();
        let (a, b, c) = tokio::time::timeout(DEADLINE, async {
            tokio::join!(
                pool.verify("hunter2hunter2".into(), stored.clone()),
                pool.verify("wrong password".into(), stored.clone()),
                pool.dummy_verify("whoever".into()),
            )
        })
        .await
        .unwrap();
        assert!(a.unwrap().is_match());
        assert_eq!(b.unwrap(), Verified::NoMatch);
        c.unwrap();
        assert_eq!(pool.available_permits(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pool_reports_malformed_hashes() {
        let pool = HashPool::with_size(cheap_hasher(), 1);
        assert_eq!(
            pool.verify("x".into(), "not a hash".into()).await,
            Err(HashError::Malformed)
        );
    }

    /// Saturate the pool with jobs that block until the test releases them, then show that
    /// an ordinary async task still runs to completion, with a single async worker thread:
    /// if the jobs ran on the runtime's workers, that task could never be polled and the
    /// test would hit its deadline. Also checks that at most `size` jobs ran at once and
    /// that the waiting ones ran after release.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn saturated_pool_does_not_starve_async_tasks() {
        const SIZE: usize = 2;
        const JOBS: usize = 5;
        let pool = HashPool::with_size(cheap_hasher(), SIZE);
        let running = Arc::new(AtomicUsize::new(0));
        let max_running = Arc::new(AtomicUsize::new(0));
        let finished = Arc::new(AtomicUsize::new(0));
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();

        let mut releases = Vec::new();
        let mut jobs = Vec::new();
        for i in 0..JOBS {
            let (release_tx, release_rx) = mpsc::channel::<()>();
            releases.push(release_tx);
            let (pool, running, max_running, finished, started_tx) = (
                pool.clone(),
                Arc::clone(&running),
                Arc::clone(&max_running),
                Arc::clone(&finished),
                started_tx.clone(),
            );
            jobs.push(tokio::spawn(async move {
                pool.run(move |hasher| {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    max_running.fetch_max(now, Ordering::SeqCst);
                    let _ = started_tx.send(i);
                    // Blocks this thread until released: a stand-in for a slow hash.
                    let _ = release_rx.recv();
                    // Real work too, to be sure the hasher is usable from the blocking pool.
                    hasher.dummy_verify("x");
                    running.fetch_sub(1, Ordering::SeqCst);
                    finished.fetch_add(1, Ordering::SeqCst);
                })
                .await
            }));
        }

        // Wait until SIZE jobs are running: the pool is saturated.
        let mut started = Vec::new();
        for _ in 0..SIZE {
            let i = tokio::time::timeout(DEADLINE, started_rx.recv())
                .await
                .unwrap()
                .unwrap();
            started.push(i);
        }
        assert_eq!(pool.available_permits(), 0);

        // A plain async task (what get-session would be) completes while every permit is
        // held and no job has finished.
        let plain = tokio::spawn(async {
            tokio::task::yield_now().await;
            "session"
        });
        let out = tokio::time::timeout(DEADLINE, plain)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(out, "session");
        assert_eq!(finished.load(Ordering::SeqCst), 0);
        assert!(started_rx.try_recv().is_err(), "a job ran past the limit");
        // The metrics' view: every slot busy, the other jobs queued (once their tasks ran).
        assert_eq!(pool.busy(), SIZE);
        let waiting = std::time::Instant::now();
        while pool.queued() != JOBS - SIZE {
            assert!(waiting.elapsed() < DEADLINE, "queued: {}", pool.queued());
            tokio::task::yield_now().await;
        }

        // Release everything; the queued jobs run in turn, never more than SIZE at once.
        for release in &releases {
            release.send(()).unwrap();
        }
        for job in jobs {
            tokio::time::timeout(DEADLINE, job)
                .await
                .unwrap()
                .unwrap()
                .unwrap();
        }
        assert_eq!(finished.load(Ordering::SeqCst), JOBS);
        assert!(max_running.load(Ordering::SeqCst) <= SIZE);
        assert_eq!(pool.available_permits(), SIZE);
        assert_eq!((pool.busy(), pool.queued()), (0, 0));
    }

    /// The memory bound: however many verifications are in flight and whichever blocking
    /// threads they run on, a pool of size 2 never has more than 2 argon2 buffers for the
    /// configured parameters. (Before the buffers were pooled, every one of these calls
    /// allocated its own.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_verifications_allocate_at_most_size_buffers() {
        const SIZE: usize = 2;
        const CALLS: usize = 50;
        let pool = HashPool::with_size(cheap_hasher(), SIZE);
        let stored = pool.hash("hunter2hunter2".into()).await.unwrap();
        let mut calls = tokio::task::JoinSet::new();
        for i in 0..CALLS {
            let (pool, stored) = (pool.clone(), stored.clone());
            calls.spawn(async move {
                match i % 5 {
                    // Unknown users do the same work, in the same buffers.
                    0 => pool.dummy_verify("whoever".into()).await.map(|()| true),
                    1 => pool
                        .verify("wrong password".into(), stored)
                        .await
                        .map(|v| !v.is_match()),
                    _ => pool.verify("hunter2hunter2".into(), stored).await.map(|v| {
                        v == Verified::Match {
                            needs_rehash: false,
                        }
                    }),
                }
            });
        }
        let mut done = 0;
        while let Some(outcome) = tokio::time::timeout(DEADLINE, calls.join_next())
            .await
            .unwrap()
        {
            assert!(outcome.unwrap().unwrap());
            done += 1;
        }
        assert_eq!(done, CALLS);
        let allocated = pool.hasher().pooled_buffers_allocated();
        assert!(
            (1..=SIZE).contains(&allocated),
            "{allocated} buffers allocated for {CALLS} concurrent verifications"
        );
        assert_eq!(pool.hasher().pooled_buffers_idle(), allocated);
        assert_eq!(pool.available_permits(), SIZE);
    }

    /// The same with the default (19 MiB) parameters and more calls than permits, to be sure
    /// the bound holds for the buffer size that matters.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn default_parameters_allocate_at_most_size_buffers() {
        let pool = HashPool::with_size(Hasher::default(), 2);
        let stored = pool.hash("hunter2hunter2".into()).await.unwrap();
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let (pool, stored) = (pool.clone(), stored.clone());
                tokio::spawn(async move { pool.verify("hunter2hunter2".into(), stored).await })
            })
            .collect();
        for call in calls {
            assert!(tokio::time::timeout(DEADLINE, call)
                .await
                .unwrap()
                .unwrap()
                .unwrap()
                .is_match());
        }
        assert!(pool.hasher().pooled_buffers_allocated() <= 2);
    }

    /// A cancelled caller does not free the permit while its job is still running.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn cancelled_caller_keeps_permit_until_job_ends() {
        let pool = HashPool::with_size(cheap_hasher(), 1);
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (started_tx, mut started_rx) = tokio::sync::mpsc::unbounded_channel();
        let caller = {
            let pool = pool.clone();
            tokio::spawn(async move {
                pool.run(move |_| {
                    let _ = started_tx.send(());
                    let _ = release_rx.recv();
                })
                .await
            })
        };
        tokio::time::timeout(DEADLINE, started_rx.recv())
            .await
            .unwrap()
            .unwrap();
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        // The job is still running: its permit is still taken.
        assert_eq!(pool.available_permits(), 0);

        release_tx.send(()).unwrap();
        // The permit comes back once the job ends; a new job can then run.
        let again = tokio::time::timeout(DEADLINE, pool.run(|_| 7))
            .await
            .unwrap();
        assert_eq!(again, Ok(7));
        assert_eq!(pool.available_permits(), 1);
    }
}
