//! Counters in this process's memory, bounded.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::algorithm::{step, Counter, Decision};
use super::rules::Rule;

/// Counters in this process's memory, bounded: expired counters (last request more than
/// their window ago, which the algorithm treats like no counter) are swept whenever the
/// map has doubled since the last sweep, and if live counters still reach the capacity
/// the least recently used quarter is dropped (a flood of distinct keys then costs the
/// oldest counters their history, not the process its memory).
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Memory>,
    capacity: usize,
}

#[derive(Debug)]
struct Memory {
    entries: HashMap<String, Entry>,
    /// Sweep before inserting a new key once the map holds this many.
    sweep_at: usize,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    counter: Counter,
    window_ms: i64,
}

/// Fewest entries worth a sweep.
const MIN_SWEEP: usize = 1024;

impl MemoryStore {
    /// Default capacity: at most about 60 MB of counters (keys are capped in length),
    /// typically far less.
    pub const DEFAULT_CAPACITY: usize = 250_000;

    /// An empty store holding at most `capacity` counters.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(4);
        MemoryStore {
            inner: Mutex::new(Memory {
                entries: HashMap::new(),
                sweep_at: MIN_SWEEP.min(capacity),
            }),
            capacity,
        }
    }

    /// Counts a request against `key` at `now` (epoch ms).
    pub fn hit(&self, key: &str, rule: Rule, now: i64) -> Decision {
        let mut memory = self.lock();
        let previous = memory.entries.get(key).map(|e| e.counter);
        match step(previous, now, rule) {
            Err(retry_after_secs) => Decision::Limited { retry_after_secs },
            Ok(counter) => {
                let entry = Entry {
                    counter,
                    window_ms: rule.window_ms,
                };
                if let Some(slot) = memory.entries.get_mut(key) {
                    *slot = entry;
                } else {
                    if memory.entries.len() >= memory.sweep_at {
                        memory.sweep(now, self.capacity);
                    }
                    memory.entries.insert(key.to_string(), entry);
                }
                Decision::Allowed
            }
        }
    }

    /// Forgets `key`.
    pub fn reset(&self, key: &str) {
        self.lock().entries.remove(key);
    }

    /// Counters held.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether no counter is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The map, even if a thread panicked while holding it (counters stay consistent:
    /// every update is a single insert).
    fn lock(&self) -> MutexGuard<'_, Memory> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Memory {
    fn sweep(&mut self, now: i64, capacity: usize) {
        self.entries
            .retain(|_, e| now.saturating_sub(e.counter.last_request) <= e.window_ms);
        let target = capacity - capacity / 4;
        if self.entries.len() >= capacity {
            let excess = self.entries.len() - target;
            let mut times: Vec<i64> = self
                .entries
                .values()
                .map(|e| e.counter.last_request)
                .collect();
            let (_, cutoff, _) = times.select_nth_unstable(excess - 1);
            let cutoff = *cutoff;
            let mut to_drop = excess;
            self.entries.retain(|_, e| {
                if to_drop > 0 && e.counter.last_request <= cutoff {
                    to_drop -= 1;
                    false
                } else {
                    true
                }
            });
            tracing::warn!(
                dropped = excess,
                capacity,
                "rate limiter memory full: dropped the least recently used counters"
            );
        }
        self.sweep_at = self
            .entries
            .len()
            .saturating_mul(2)
            .max(MIN_SWEEP)
            .min(capacity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_sweeps_expired_counters() {
        let store = MemoryStore::new(MemoryStore::DEFAULT_CAPACITY);
        let rule = Rule::STRICT;
        for i in 0..MIN_SWEEP {
            store.hit(&format!("a{i}"), rule, 0);
        }
        assert_eq!(store.len(), MIN_SWEEP);
        // Still live at exactly one window: kept (the algorithm still counts them).
        store.hit("b", rule, rule.window_ms);
        assert_eq!(store.len(), MIN_SWEEP + 1);
        // The next sweep comes when the map has doubled; by then the first keys expired.
        for i in 0..MIN_SWEEP {
            store.hit(&format!("c{i}"), rule, rule.window_ms + 1);
        }
        assert!(store.len() <= MIN_SWEEP + 1, "{}", store.len());
        // A flood of distinct keys in one window stays under the capacity.
        let small = MemoryStore::new(100);
        for i in 0..10_000 {
            small.hit(&format!("f{i}"), rule, i);
            assert!(small.len() <= 100);
        }
        // The most recent counters survive; the oldest were dropped.
        assert!(matches!(
            small.hit("f9999", rule, 10_000),
            Decision::Allowed
        ));
        assert_eq!(small.hit("f9999", rule, 10_000), Decision::Allowed);
        assert!(matches!(
            small.hit("f9999", rule, 10_000),
            Decision::Limited { .. }
        ));
    }
}
