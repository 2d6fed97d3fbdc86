//! Reusable argon2 working memory, so that the memory the hashing uses is bounded by the
//! number of hashes running at once.
//!
//! `argon2` 0.5's [`Argon2::hash_password_into`](argon2::Argon2::hash_password_into)
//! allocates a fresh `m`-KiB block buffer on every call (19 MiB with the default parameters)
//! and frees it at the end. glibc does not give such buffers back to the system: once one
//! has been freed, its dynamic mmap threshold rises above their size, the next ones come
//! from its per-thread arenas, and (measured) a dozen or so stay resident per arena. Spread
//! over tokio's blocking threads, that took the origin from 7 MiB idle to 430-560 MiB under
//! sign-in load, with only two hashes ever running at once.
//!
//! [`BlockPool`] keeps at most `capacity` buffers sized for the configured parameters. A job
//! takes one (or allocates one if none is idle), hashes into it through
//! [`Argon2::hash_password_into_with_memory`](argon2::Argon2::hash_password_into_with_memory),
//! and puts it back. Behind a [`HashPool`](super::HashPool) of `N` permits (which sets the
//! capacity to `N`) at most `N` jobs hold a buffer at once, so at most `N` buffers are ever
//! allocated for the configured parameters, and they stay allocated: no more allocator
//! churn, no page faults on fresh pages, and no per-call initialisation of 19 MiB.
//!
//! Hashes with fewer blocks than the configured parameters (older, weaker stored hashes) use
//! a pooled buffer too: argon2 only uses the first `block_count` blocks of the memory it is
//! given. Hashes with more blocks (stored with stronger parameters than the configured ones)
//! get a buffer of their own for that call, freed afterwards: keeping it would let one
//! unusual row pin up to [`MAX_VERIFY_M_COST_KIB`](super::MAX_VERIFY_M_COST_KIB) per
//! thread. At most `N` of those run at once too.
//!
//! # Wiping
//!
//! Every buffer is zeroed when its job ends, before it goes back to the pool (or to the
//! allocator). Correctness does not need it: argon2 writes every block in its first pass
//! before reading it, so what a reused buffer held never influences the result (tested).
//! Secrecy does: the blocks are password-derived state, and with `t = 1` the first two
//! blocks of each lane are still `H'(H0 || 0 || lane)` and `H'(H0 || 1 || lane)` when the
//! hash ends, `H0` being a Blake2b of the password and salt. Anyone who can read leftover
//! memory (a core dump, swap, a memory-disclosure bug) could test password guesses against
//! them for a few Blake2b calls each, skipping the memory-hard part. A pooled buffer would
//! keep the last job's blocks until the next job overwrites them, which on a quiet server
//! is indefinitely. The C reference implementation wipes its memory before freeing it for
//! the same reason (`FLAG_clear_internal_memory`, on by default); `argon2` 0.5 does not (its
//! `zeroize` feature only wipes small temporaries, and this workspace does not enable it).
//! The cost is one `memset` of the used blocks per job, the same amount of writing as the
//! per-call initialisation of a fresh buffer that `argon2` did before this pool existed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};

use argon2::Block;

/// Reusable argon2 block buffers of one size (see the module documentation).
pub(super) struct BlockPool {
    /// Blocks per buffer: [`argon2::Params::block_count`] of the configured parameters.
    block_count: usize,
    /// The most buffers kept for reuse.
    capacity: usize,
    /// Buffers not in use, each `block_count` long and zeroed.
    idle: Mutex<Vec<Vec<Block>>>,
    /// Buffers of `block_count` blocks ever allocated (the pooled size only), for tests and
    /// the documentation's claim.
    allocated: AtomicUsize,
}

impl BlockPool {
    /// An empty pool of buffers of `block_count` blocks, keeping at most `capacity` (at least
    /// 1). Nothing is allocated until a job needs it.
    pub(super) fn new(block_count: usize, capacity: usize) -> Self {
        Self {
            block_count,
            capacity: capacity.max(1),
            idle: Mutex::new(Vec::new()),
            allocated: AtomicUsize::new(0),
        }
    }

    /// Changes how many buffers are kept (at least 1). Drops idle buffers beyond the new
    /// capacity.
    pub(super) fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity.max(1);
        let idle = self.idle.get_mut().unwrap_or_else(PoisonError::into_inner);
        idle.truncate(self.capacity);
    }

    /// The most buffers kept for reuse.
    pub(super) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Working memory for a hash of `needed` blocks ([`argon2::Params::block_count`]): a
    /// pooled buffer when `needed` is at most the pooled size, a buffer of its own otherwise.
    /// Goes back to the pool, zeroed, when dropped.
    pub(super) fn take(&self, needed: usize) -> PooledBlocks<'_> {
        if needed > self.block_count {
            return PooledBlocks {
                pool: None,
                blocks: vec![Block::new(); needed],
                used: needed,
            };
        }
        let reused = self.lock_idle().pop();
        let blocks = reused.unwrap_or_else(|| {
            self.allocated.fetch_add(1, Ordering::Relaxed);
            vec![Block::new(); self.block_count]
        });
        PooledBlocks {
            pool: Some(self),
            blocks,
            used: needed,
        }
    }

    /// Buffers of the pooled size ever allocated.
    #[cfg(test)]
    pub(super) fn allocated(&self) -> usize {
        self.allocated.load(Ordering::Relaxed)
    }

    /// Buffers waiting for reuse.
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        self.lock_idle().len()
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Vec<Block>>> {
        // The list of buffers is valid whatever a panicking holder was doing: it only ever
        // pushes or pops whole buffers.
        self.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put_back(&self, blocks: Vec<Block>) {
        let mut idle = self.lock_idle();
        if idle.len() < self.capacity {
            idle.push(blocks);
        }
        // Otherwise (more jobs at once than the capacity: a `Hasher` used without its
        // `HashPool`), `blocks` is freed here, after the lock is released.
    }
}

/// A buffer taken from a [`BlockPool`]; zeroed and returned when dropped.
pub(super) struct PooledBlocks<'a> {
    /// `None` for a buffer of its own (larger than the pooled size), freed when dropped.
    pool: Option<&'a BlockPool>,
    blocks: Vec<Block>,
    /// Blocks the job uses (the prefix to wipe).
    used: usize,
}

impl PooledBlocks<'_> {
    /// The memory to hash into: at least as many blocks as were asked for (argon2 uses the
    /// first `block_count` and ignores the rest).
    pub(super) fn blocks_mut(&mut self) -> &mut [Block] {
        &mut self.blocks
    }
}

impl Drop for PooledBlocks<'_> {
    fn drop(&mut self) {
        // Only the used prefix was written by this job; the rest was zeroed when it was last
        // used (or allocated zeroed).
        for block in self.blocks.iter_mut().take(self.used) {
            *block = Block::new();
        }
        // A buffer about to be freed is not read again, so the compiler could drop the stores
        // above; `black_box` makes the buffer observable (best effort, no `unsafe`).
        std::hint::black_box(&mut self.blocks);
        let blocks = std::mem::take(&mut self.blocks);
        if let Some(pool) = self.pool {
            pool.put_back(blocks);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_up_to_capacity() {
        let pool = BlockPool::new(64, 2);
        {
            let mut a = pool.take(64);
            let mut b = pool.take(32);
            let c = pool.take(64);
            assert_eq!(a.blocks_mut().len(), 64);
            // A smaller hash gets a pooled (full-size) buffer.
            assert_eq!(b.blocks_mut().len(), 64);
            drop(c);
            assert_eq!(pool.allocated(), 3);
        }
        // Three were out at once; only two are kept.
        assert_eq!(pool.idle(), 2);
        for _ in 0..10 {
            let _a = pool.take(64);
            let _b = pool.take(8);
        }
        assert_eq!(pool.allocated(), 3);
        assert_eq!(pool.idle(), 2);
    }

    #[test]
    fn larger_hashes_get_their_own_buffer() {
        let pool = BlockPool::new(64, 2);
        {
            let mut big = pool.take(65);
            assert_eq!(big.blocks_mut().len(), 65);
        }
        assert_eq!(pool.allocated(), 0);
        assert_eq!(pool.idle(), 0);
    }

    #[test]
    fn buffers_are_zeroed_when_returned() {
        let mut pool = BlockPool::new(16, 1);
        {
            let mut a = pool.take(16);
            for block in a.blocks_mut() {
                block.as_mut()[7] = 0xdead_beef;
            }
        }
        let mut again = pool.take(16);
        assert!(again
            .blocks_mut()
            .iter()
            .all(|b| b.as_ref().iter().all(|w| *w == 0)));
        drop(again);
        pool.set_capacity(0);
        assert_eq!(pool.capacity(), 1);
        assert_eq!(pool.idle(), 1);
    }
}
