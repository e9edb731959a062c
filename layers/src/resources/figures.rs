//! The figures of the spans a layer measures, in the per-span slot array.

use std::sync::atomic::{AtomicU64, Ordering};

use super::SpanResources;
use crate::internal::span_slots::SpanSlots;

/// The figures of the spans a layer measures, in a fixed array of slots that
/// spans claim and release without locking: at the first exit of a span, a
/// compare-and-swap of the slot's holder; at its close, two stores. A span
/// whose slot another live span holds keeps its figures in its extensions
/// instead ([`Unslotted`]). The registry reuses the ids of closed spans, so
/// a thread that opens and closes spans keeps using the same few slots.
pub(super) struct FigureSlots(SpanSlots<Figures>);

/// What a slot holds: the figures of its span, zero while free.
#[derive(Default)]
pub(super) struct Figures {
    cpu_nanos: AtomicU64,
    allocated: AtomicU64,
}

impl FigureSlots {
    pub(super) fn new() -> Self {
        Self(SpanSlots::new())
    }

    /// Allocates the slots now (when the layer joins a dispatcher), so that
    /// layers built and dropped while configuring allocate nothing and the
    /// first measured span is not charged with the array.
    pub(super) fn allocate(&self) {
        self.0.allocate();
    }

    /// Adds `used` to the figures of `span` and returns their sum so far;
    /// `None` when another live span holds the slot.
    #[inline]
    pub(super) fn add(&self, span: u64, used: SpanResources) -> Option<SpanResources> {
        let slot = self.0.held_or_claim(span)?;
        // Threads that enter the span at the same time add to it together.
        // Without the counting allocator nothing is allocated, as far as
        // the layer can tell: a load is enough.
        let cpu_nanos = slot.cpu_nanos.fetch_add(used.cpu_nanos, Ordering::Relaxed);
        let allocated = if used.allocated == 0 {
            slot.allocated.load(Ordering::Relaxed)
        } else {
            slot.allocated.fetch_add(used.allocated, Ordering::Relaxed)
        };
        Some(SpanResources {
            cpu_nanos: cpu_nanos.wrapping_add(used.cpu_nanos),
            allocated: allocated.wrapping_add(used.allocated),
        })
    }

    /// Takes the figures of `span` out, freeing its slot; `None` when the
    /// span holds no slot.
    #[inline]
    pub(super) fn take(&self, span: u64) -> Option<SpanResources> {
        // A closing span is entered nowhere: nothing adds to it any more.
        // Plain loads and stores, no read-modify-write.
        self.0.release(span, |slot| {
            let figures = SpanResources {
                cpu_nanos: slot.cpu_nanos.load(Ordering::Relaxed),
                allocated: slot.allocated.load(Ordering::Relaxed),
            };
            slot.cpu_nanos.store(0, Ordering::Relaxed);
            slot.allocated.store(0, Ordering::Relaxed);
            figures
        })
    }
}

/// The figures of a span whose slot another span held, in its extensions;
/// private, so that [`SpanResources`] appears there only when asked for.
pub(super) struct Unslotted(pub(super) SpanResources);

#[cfg(test)]
mod tests {
    use super::*;

    fn used(cpu_nanos: u64, allocated: u64) -> SpanResources {
        SpanResources {
            cpu_nanos,
            allocated,
        }
    }

    /// Two span ids that share a slot.
    fn sharing_a_slot() -> (u64, u64) {
        let first = 1;
        let second = (2..)
            .find(|&id| SpanSlots::<Figures>::index(id) == SpanSlots::<Figures>::index(first))
            .unwrap();
        (first, second)
    }

    fn figures(resources: Option<SpanResources>) -> Option<(u64, u64)> {
        resources.map(|r| (r.cpu_nanos, r.allocated))
    }

    #[test]
    fn a_slot_holds_one_live_span_and_is_free_again_when_it_closes() {
        let slots = FigureSlots::new();
        let (first, second) = sharing_a_slot();
        assert_eq!(figures(slots.add(first, used(10, 1))), Some((10, 1)));
        assert_eq!(figures(slots.add(first, used(5, 0))), Some((15, 1)));
        assert_eq!(figures(slots.add(second, used(7, 7))), None);
        assert_eq!(figures(slots.take(second)), None);
        assert_eq!(figures(slots.take(first)), Some((15, 1)));
        assert_eq!(figures(slots.take(first)), None);
        // The next holder starts from zero.
        assert_eq!(figures(slots.add(second, used(7, 7))), Some((7, 7)));
    }

    #[test]
    fn threads_exiting_one_span_add_up() {
        let slots = FigureSlots::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        slots.add(42, used(1, 2));
                    }
                });
            }
        });
        assert_eq!(figures(slots.take(42)), Some((40_000, 80_000)));
    }
}
