//! A small bounded map whose entries expire: the shape of every isolate-memory cache.
//!
//! An isolate lives for many requests but its memory is not ours to fill: each map holds at
//! most `capacity` entries. When a new key arrives at a full map, expired entries go first,
//! then the entry that expires soonest. Keys are hashes or ids, never attacker-chosen text
//! of unbounded size, and a `BTreeMap` keeps lookups `O(log n)` whatever the keys are.

use std::collections::BTreeMap;

/// A map from `K` to `V` where each entry is valid until a unix time (exclusive).
#[derive(Debug, Clone)]
pub struct ExpiringMap<K, V> {
    entries: BTreeMap<K, (u64, V)>,
    capacity: usize,
}

impl<K: Ord + Clone, V> ExpiringMap<K, V> {
    /// An empty map that holds at most `capacity` entries (at least one).
    pub fn new(capacity: usize) -> Self {
        ExpiringMap {
            entries: BTreeMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The value under `key` if it is still valid at `now`.
    pub fn get(&self, key: &K, now: u64) -> Option<&V> {
        match self.entries.get(key) {
            Some((until, value)) if now < *until => Some(value),
            _ => None,
        }
    }

    /// Stores `value` under `key` until `until`. A value already expired at `now` is not
    /// stored (and removes what was there).
    pub fn insert(&mut self, key: K, value: V, until: u64, now: u64) {
        if until <= now {
            self.entries.remove(&key);
            return;
        }
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.entries
                .retain(|_, (valid_until, _)| *valid_until > now);
            if self.entries.len() >= self.capacity {
                let soonest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (valid_until, _))| *valid_until)
                    .map(|(key, _)| key.clone());
                if let Some(soonest) = soonest {
                    self.entries.remove(&soonest);
                }
            }
        }
        self.entries.insert(key, (until, value));
    }

    /// Removes the entry under `key`, returning its value whether or not it had expired.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|(_, value)| value)
    }

    /// Number of entries held, expired ones included.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map holds no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_valid_until_their_time_exclusive() {
        let mut map = ExpiringMap::new(4);
        map.insert("a", 1, 100, 50);
        assert_eq!(map.get(&"a", 50), Some(&1));
        assert_eq!(map.get(&"a", 99), Some(&1));
        assert_eq!(map.get(&"a", 100), None);
        assert_eq!(map.get(&"b", 50), None);
    }

    #[test]
    fn an_already_expired_value_is_not_stored_and_clears_the_key() {
        let mut map = ExpiringMap::new(4);
        map.insert("a", 1, 100, 50);
        map.insert("a", 2, 50, 50);
        assert!(map.is_empty());
    }

    #[test]
    fn a_full_map_drops_expired_entries_first_then_the_soonest_to_expire() {
        let mut map = ExpiringMap::new(3);
        map.insert(1, "expires soon", 60, 0);
        map.insert(2, "long", 500, 0);
        map.insert(3, "medium", 300, 0);
        // Full at t=100: entry 1 has expired and goes.
        map.insert(4, "new", 400, 100);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&1, 0), None);
        // Full, nothing expired at t=150: the soonest (3, until 300) goes.
        map.insert(5, "newer", 450, 150);
        assert_eq!(map.len(), 3);
        assert_eq!(map.get(&3, 150), None);
        for key in [2, 4, 5] {
            assert!(map.get(&key, 150).is_some(), "{key}");
        }
    }

    #[test]
    fn replacing_a_key_in_a_full_map_evicts_nothing() {
        let mut map = ExpiringMap::new(2);
        map.insert(1, 'a', 100, 0);
        map.insert(2, 'b', 100, 0);
        map.insert(1, 'c', 200, 0);
        assert_eq!(map.get(&1, 0), Some(&'c'));
        assert_eq!(map.get(&2, 0), Some(&'b'));
    }

    #[test]
    fn remove_returns_the_value() {
        let mut map = ExpiringMap::new(2);
        map.insert(1, 'a', 100, 0);
        assert_eq!(map.remove(&1), Some('a'));
        assert_eq!(map.remove(&1), None);
    }
}
