//! Label values interned to small integers, up to a cap: the label interning
//! of every layer, and the cap on distinct values of a label.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::append_only::AppendOnly;
use super::hash::FastHash;
use super::lock;

/// The id given to a value that arrived after the interner was full.
pub(crate) const OVERFLOW: u32 = u32::MAX;
/// The id of "no value".
pub(crate) const ABSENT: u32 = u32::MAX - 1;

/// How many recently interned values an [`Interner`] finds without locking.
const RECENT_VALUES: usize = 64;

/// Maps label values to small integers, up to a cap; values past the cap all
/// get [`OVERFLOW`].
///
/// A value seen recently is found from its hash in a small direct-mapped
/// table of atomics and checked against the stored value, without locking;
/// other values go through a copy-on-write map.
pub(crate) struct Interner {
    ids: ArcSwap<HashMap<Arc<str>, u32, FastHash>>,
    values: AppendOnly<Arc<str>>,
    /// The top half of a value's hash and its id, by the bottom bits of the
    /// hash.
    recent: [AtomicU64; RECENT_VALUES],
    write: Mutex<()>,
    cap: usize,
}

impl Interner {
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            ids: ArcSwap::from_pointee(HashMap::with_hasher(FastHash)),
            values: AppendOnly::new(),
            recent: std::array::from_fn(|_| AtomicU64::new(0)),
            write: Mutex::new(()),
            cap: cap.min(ABSENT as usize),
        }
    }

    pub(crate) fn intern(&self, value: &str) -> u32 {
        const LOW: u64 = u32::MAX as u64;
        let hash = FastHash.hash_one(value);
        let recent = &self.recent[hash as usize % RECENT_VALUES];
        let hint = recent.load(Ordering::Acquire);
        if hint & !LOW == hash & !LOW {
            let id = hint as u32;
            if self.values.get(id as usize).is_some_and(|v| **v == *value) {
                return id;
            }
        }
        let id = self.intern_slow(value);
        if id != OVERFLOW {
            recent.store((hash & !LOW) | u64::from(id), Ordering::Release);
        }
        id
    }

    fn intern_slow(&self, value: &str) -> u32 {
        if let Some(&id) = self.ids.load().get(value) {
            return id;
        }
        let _write = lock(&self.write);
        let current = self.ids.load();
        if let Some(&id) = current.get(value) {
            return id;
        }
        if current.len() >= self.cap {
            return OVERFLOW;
        }
        let value: Arc<str> = Arc::from(value);
        let id = self.values.push(Arc::clone(&value)) as u32;
        let mut next = HashMap::clone(&current);
        next.insert(value, id);
        self.ids.store(Arc::new(next));
        id
    }

    /// The value of `id`; `None` for [`ABSENT`], [`OVERFLOW`] and unknown ids.
    pub(crate) fn value(&self, id: u32) -> Option<Arc<str>> {
        self.values.get(id as usize).cloned()
    }

    /// How many values have an id of their own.
    pub(crate) fn len(&self) -> usize {
        self.ids.load().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_caps_distinct_values() {
        let interner = Interner::new(3);
        let a = interner.intern("a");
        assert_eq!(interner.intern("a"), a);
        assert_ne!(interner.intern("b"), a);
        interner.intern("c");
        assert_eq!(interner.intern("d"), OVERFLOW);
        assert_eq!(interner.intern("b"), 1);
        assert_eq!(interner.len(), 3);
        assert_eq!(interner.value(a).as_deref(), Some("a"));
        assert_eq!(interner.value(OVERFLOW), None);
    }

    #[test]
    fn interner_ids_stay_exact_whatever_the_recent_table_holds() {
        let interner = Interner::new(10_000);
        // Far more values than recent slots: hints are overwritten and their
        // collisions must never give one value another's id.
        let ids: Vec<u32> = (0..5_000)
            .map(|i| interner.intern(&format!("v{i}")))
            .collect();
        for round in 0..2 {
            for (i, id) in ids.iter().enumerate().rev() {
                assert_eq!(interner.intern(&format!("v{i}")), *id, "round {round}");
            }
        }
        assert_eq!(interner.value(ids[1234]).as_deref(), Some("v1234"));
        assert_eq!(interner.len(), 5_000);
    }
}
