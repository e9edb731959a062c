//! The per-span slot array: live spans whose state fits a few atomics, in a
//! fixed array of slots claimed and released without locking.
//!
//! A span's slot is found from its id; when another live span holds it, the
//! layer keeps the span's state elsewhere (a [`SpanTable`](super::span_table::SpanTable),
//! the span's extensions). The registry reuses the ids of closed spans, so a
//! thread that opens and closes spans keeps using the same few slots. What a
//! slot holds is the layer's: any `Default` state made of atomics.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use super::hash::spread;

const SLOT_BITS: u32 = 12;

/// A fixed array of `1 << 12` slots, each held by at most one live span.
pub(crate) struct SpanSlots<P> {
    /// Allocated with the first span (or by [`allocate`](Self::allocate)),
    /// so that layers built and dropped while configuring cost nothing.
    slots: OnceLock<Box<[Slot<P>]>>,
}

/// One slot: the id of the span that holds it (0 when free), and that span's
/// state.
#[repr(align(32))]
#[derive(Default)]
struct Slot<P> {
    id: AtomicU64,
    state: P,
}

impl<P: Default> SpanSlots<P> {
    pub(crate) fn new() -> Self {
        Self {
            slots: OnceLock::new(),
        }
    }

    /// Allocates the slots now rather than with the first span.
    pub(crate) fn allocate(&self) {
        self.all();
    }

    #[inline]
    fn all(&self) -> &[Slot<P>] {
        self.slots
            .get_or_init(|| (0..1 << SLOT_BITS).map(|_| Slot::default()).collect())
    }

    /// The index of the slot of `id`.
    #[inline]
    pub(crate) fn index(id: u64) -> usize {
        (spread(id) >> (64 - SLOT_BITS)) as usize
    }

    /// The slot of `id`, once any span took a slot.
    #[inline]
    fn slot(&self, id: u64) -> Option<&Slot<P>> {
        self.slots.get()?.get(Self::index(id))
    }

    /// Gives span `id` its slot and returns the slot's state for the span to
    /// fill; `None` when another live span holds the slot.
    ///
    /// Nothing else reads the state before the span's id is published, which
    /// happens after the caller's stores.
    #[inline]
    pub(crate) fn claim(&self, id: u64) -> Option<&P> {
        let slot = self.all().get(Self::index(id))?;
        if slot.id.load(Ordering::Relaxed) != 0
            || slot
                .id
                .compare_exchange(0, id, Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return None;
        }
        Some(&slot.state)
    }

    /// The state of span `id`, when it holds its slot.
    #[inline]
    pub(crate) fn held(&self, id: u64) -> Option<&P> {
        let slot = self.slot(id)?;
        (slot.id.load(Ordering::Acquire) == id).then_some(&slot.state)
    }

    /// The state of span `id`, claiming its slot first when free; `None`
    /// when another live span holds it.
    #[inline]
    pub(crate) fn held_or_claim(&self, id: u64) -> Option<&P> {
        let slot = self.all().get(Self::index(id))?;
        let holder = slot.id.load(Ordering::Acquire);
        if holder != id
            && (holder != 0
                || slot
                    .id
                    .compare_exchange(0, id, Ordering::Acquire, Ordering::Relaxed)
                    .is_err())
        {
            return None;
        }
        Some(&slot.state)
    }

    /// Frees the slot of span `id`, after `take` read (and reset) its state;
    /// `None` when the span holds no slot.
    #[inline]
    pub(crate) fn release<R>(&self, id: u64, take: impl FnOnce(&P) -> R) -> Option<R> {
        let slot = self.slot(id)?;
        if slot.id.load(Ordering::Acquire) != id {
            return None;
        }
        let taken = take(&slot.state);
        // Publishes `take`'s reads and writes before the next holder's.
        slot.id.store(0, Ordering::Release);
        Some(taken)
    }

    /// The number of slots held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.get().map_or(0, |slots| {
            slots
                .iter()
                .filter(|slot| slot.id.load(Ordering::Relaxed) != 0)
                .count()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `count` ids that share the slot of `id`, `id` first.
    fn sharing_a_slot(id: u64, count: usize) -> Vec<u64> {
        (id..)
            .filter(|other| {
                SpanSlots::<AtomicU64>::index(*other) == SpanSlots::<AtomicU64>::index(id)
            })
            .take(count)
            .collect()
    }

    #[test]
    fn slots_hold_one_live_span_each() {
        let slots = SpanSlots::<AtomicU64>::new();
        let [first, reused] = sharing_a_slot(7, 2)[..] else {
            unreachable!()
        };
        assert!(slots.held(first).is_none(), "nothing allocated yet");
        slots.claim(first).unwrap().store(1, Ordering::Relaxed);
        assert!(slots.claim(reused).is_none(), "the slot is taken");
        assert!(slots.held_or_claim(reused).is_none());
        assert_eq!(
            slots.held(first).map(|s| s.load(Ordering::Relaxed)),
            Some(1)
        );
        assert!(slots.held(reused).is_none());
        let take = |s: &AtomicU64| s.swap(0, Ordering::Relaxed);
        assert_eq!(slots.release(reused, take), None);
        assert_eq!(slots.release(first, take), Some(1));
        assert_eq!(slots.release(first, take), None, "released once");
        assert_eq!(
            slots
                .held_or_claim(reused)
                .map(|s| s.load(Ordering::Relaxed)),
            Some(0)
        );
        assert!(slots.held_or_claim(reused).is_some(), "held already");
        assert_eq!(slots.len(), 1);
    }

    #[test]
    fn slots_keep_every_span_under_contention() {
        let slots = SpanSlots::<AtomicU64>::new();
        // Four threads, two ids each, all for one slot.
        let ids = sharing_a_slot(3, 8);
        let missed = AtomicU64::new(0);
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let (slots, ids, missed) = (&slots, &ids, &missed);
                scope.spawn(move || {
                    for i in 0..50_000u64 {
                        let id = ids[(thread * 2 + i % 2) as usize];
                        match slots.claim(id) {
                            Some(state) => {
                                state.store(i + 1, Ordering::Relaxed);
                                let back = slots.release(id, |s| s.swap(0, Ordering::Relaxed));
                                assert_eq!(back, Some(i + 1), "another holder's state");
                            }
                            None => {
                                missed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                });
            }
        });
        assert_eq!(slots.len(), 0);
        assert!(
            missed.load(Ordering::Relaxed) < 200_000,
            "some spans got the slot"
        );
    }
}
