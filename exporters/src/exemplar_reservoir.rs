//! The exemplar reservoirs of a histogram series, shared by the Prometheus
//! and OTLP recorders: one exemplar per bucket, chosen by reservoir sampling
//! among the observations of each export interval.
//!
//! Each bucket counts the exemplars offered since it was last read and keeps
//! the n-th with probability 1/n, so the one kept is a uniform pick among
//! them (the first after a read always replaces the last one shown). Memory
//! is bounded: one slot per bucket, allocated with the first exemplar of the
//! series. Offering never blocks and never allocates after that.

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, TryLockError};
use std::time::{SystemTime, UNIX_EPOCH};

use autotel_layers::exemplar::Exemplar;

/// An exemplar kept for a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Kept {
    pub(crate) exemplar: Exemplar,
    pub(crate) value: f64,
    /// Seconds since the Unix epoch when it was observed.
    pub(crate) time: f64,
}

/// The reservoirs of one histogram series.
#[derive(Debug)]
pub(crate) struct Reservoir {
    /// The upper bounds of the buckets, without `+Inf`.
    pub(crate) bounds: Arc<[f64]>,
    slots: OnceLock<Slots>,
}

#[derive(Debug)]
struct Slots {
    /// Exemplars offered to each bucket since the last scrape.
    seen: Box<[AtomicU64]>,
    kept: Mutex<Box<[Option<Kept>]>>,
}

impl Reservoir {
    /// Reservoirs for the buckets of `bounds`, allocated with the first offer.
    pub(crate) fn new(bounds: Arc<[f64]>) -> Self {
        Self {
            bounds,
            slots: OnceLock::new(),
        }
    }

    /// Whether an exemplar was ever offered.
    pub(crate) fn is_used(&self) -> bool {
        self.slots.get().is_some()
    }

    /// Offers `exemplar`, observed with `value`, to the bucket of `value`.
    /// Never blocks: when another thread is replacing an exemplar of the
    /// series at this instant, this one is not kept.
    pub(crate) fn offer(&self, value: f64, exemplar: Exemplar) {
        if value.is_nan() {
            return;
        }
        let slots = self.slots.get_or_init(|| {
            let buckets = self.bounds.len() + 1;
            Slots {
                seen: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
                kept: Mutex::new(vec![None; buckets].into_boxed_slice()),
            }
        });
        let index = self.bounds.partition_point(|bound| *bound < value);
        // A load and a store rather than an atomic add: two threads may
        // count one offer between them, which only nudges the odds of a
        // replacement, and the hot path takes no locked instruction.
        let counter = &slots.seen[index];
        let seen = counter.load(Ordering::Relaxed).saturating_add(1);
        counter.store(seen, Ordering::Relaxed);
        if seen > 1 && random_below(seen) != 0 {
            return;
        }
        let mut kept = match slots.kept.try_lock() {
            Ok(kept) => kept,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        kept[index] = Some(Kept {
            exemplar,
            value,
            time,
        });
    }

    /// The exemplar kept for each bucket (the last for `+Inf`), empty when
    /// none was ever offered; with `restart`, the next exemplar offered to
    /// each bucket replaces it.
    pub(crate) fn kept(&self, restart: bool) -> Vec<Option<Kept>> {
        let Some(slots) = self.slots.get() else {
            return Vec::new();
        };
        let kept = slots.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if restart {
            for seen in &slots.seen {
                seen.store(0, Ordering::Relaxed);
            }
        }
        kept.to_vec()
    }
}

impl Reservoir {
    #[cfg_attr(not(feature = "otlp"), allow(dead_code))]
    /// The exemplars kept since the last call, which are forgotten: each
    /// bucket's next exemplar starts a new interval.
    pub(crate) fn take(&self) -> Vec<Option<Kept>> {
        let Some(slots) = self.slots.get() else {
            return Vec::new();
        };
        let mut kept = slots.kept.lock().unwrap_or_else(PoisonError::into_inner);
        for seen in &slots.seen {
            seen.store(0, Ordering::Relaxed);
        }
        kept.iter_mut().map(Option::take).collect()
    }
}

/// A uniform draw in `0..n` from a per-thread xorshift generator.
fn random_below(n: u64) -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(0u64) | 1);
    }
    let next = STATE
        .try_with(|state| {
            let mut x = state.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state.set(x);
            x
        })
        .unwrap_or(0);
    ((u128::from(next) * u128::from(n)) >> 64) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use autotel_layers::{SpanId, TraceId};

    fn ids(n: u64) -> Exemplar {
        Exemplar::new(TraceId::from_u128(u128::from(n)), SpanId::from_u64(n))
    }

    #[test]
    fn each_bucket_keeps_one_exemplar_of_its_own_range() {
        let series = Reservoir::new(Arc::from([0.1, 1.0]));
        series.offer(0.05, ids(1));
        series.offer(0.1, ids(2));
        series.offer(5.0, ids(3));
        let kept = series.kept(true);
        assert_eq!(kept.len(), 3);
        let first = kept[0].unwrap();
        assert!(
            first.exemplar == ids(1) || first.exemplar == ids(2),
            "{first:?}"
        );
        assert!(first.value <= 0.1);
        assert!(kept[1].is_none());
        assert_eq!(kept[2].unwrap().exemplar, ids(3));
        // After a scrape, the next exemplar replaces the one shown.
        series.offer(0.01, ids(4));
        assert_eq!(series.kept(false)[0].unwrap().exemplar, ids(4));
    }

    #[test]
    fn reservoir_picks_uniformly_among_the_offers_of_an_interval() {
        let series = Reservoir::new(Arc::from([1.0]));
        let mut firsts = 0;
        for _ in 0..1000 {
            for n in 1..=4 {
                series.offer(0.5, ids(n));
            }
            if series.kept(true)[0].unwrap().exemplar == ids(1) {
                firsts += 1;
            }
        }
        // One in four on average: far from never and from always.
        assert!((150..350).contains(&firsts), "{firsts}");
    }
}
