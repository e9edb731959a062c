//! Live span state keyed by span id, for spans whose state does not fit a
//! [`SpanSlots`](super::span_slots::SpanSlots) slot.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::hash::{FastHash, spread};
use super::lock;

const SHARD_BITS: u32 = 6;

/// Live span state, keyed by span id, in shards that each keep their own lock
/// and capacity.
pub(crate) struct SpanTable<V> {
    shards: Box<[Shard<V>]>,
}

#[repr(align(128))]
struct Shard<V> {
    len: AtomicUsize,
    map: Mutex<HashMap<u64, V, FastHash>>,
}

impl<V> SpanTable<V> {
    pub(crate) fn new() -> Self {
        let shards = (0..1 << SHARD_BITS)
            .map(|_| Shard {
                len: AtomicUsize::new(0),
                map: Mutex::new(HashMap::with_hasher(FastHash)),
            })
            .collect();
        Self { shards }
    }

    #[inline]
    fn shard(&self, id: u64) -> &Shard<V> {
        let mixed = spread(id);
        &self.shards[(mixed >> (64 - SHARD_BITS)) as usize]
    }

    pub(crate) fn insert(&self, id: u64, value: V) {
        let shard = self.shard(id);
        let mut map = lock(&shard.map);
        map.insert(id, value);
        shard.len.store(map.len(), Ordering::Relaxed);
    }

    /// Runs `f` on the state of span `id`, when the table holds it.
    pub(crate) fn with<R>(&self, id: u64, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        let shard = self.shard(id);
        if shard.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        lock(&shard.map).get_mut(&id).map(f)
    }

    pub(crate) fn remove(&self, id: u64) -> Option<V> {
        let shard = self.shard(id);
        if shard.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let mut map = lock(&shard.map);
        let value = map.remove(&id);
        shard.len.store(map.len(), Ordering::Relaxed);
        value
    }

    /// The number of spans held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|shard| shard.len.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_inserts_updates_and_removes() {
        let table = SpanTable::new();
        for id in 1..=1000u64 {
            table.insert(id, id * 2);
        }
        assert_eq!(table.len(), 1000);
        assert_eq!(table.with(7, |v| std::mem::replace(v, 0)), Some(14));
        assert_eq!(table.remove(7), Some(0));
        assert_eq!(table.remove(7), None);
        assert_eq!(table.with(1001, |v| *v), None);
        assert_eq!(table.len(), 999);
    }
}
