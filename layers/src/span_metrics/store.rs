//! The state of a live span: in a slot of the per-span slot array for a span
//! that needs no more than a start time, a callsite and an error state, in
//! the span table otherwise.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::MAX_DIMENSIONS;
use super::pipeline::PipelineRole;
use crate::internal::interner::ABSENT;
use crate::internal::span_slots::SpanSlots;

/// The error flag in a slot's error word.
const ERROR_BIT: u64 = 1 << 32;

/// What a slot of the per-span slot array holds for its span.
#[derive(Default)]
pub(super) struct SlotState {
    start: AtomicU64,
    /// The error type (low 32 bits), the error flag ([`ERROR_BIT`]) and, above
    /// it, a tag of the holder's id, so that an update meant for a span that
    /// has since closed never lands on the next holder.
    error: AtomicU64,
    callsite: AtomicU32,
}

/// The state of a span that held a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SlotSpan {
    pub(super) start: u64,
    pub(super) callsite: u32,
    pub(super) error: bool,
    pub(super) error_type: u32,
}

/// Live spans that need no more than a start time, a callsite and an error
/// state, in the per-span slot array.
pub(super) struct Slots(SpanSlots<SlotState>);

impl Slots {
    pub(super) fn new() -> Self {
        Self(SpanSlots::new())
    }

    /// The tag of `id` in a slot's error word.
    #[inline]
    fn tag(id: u64) -> u64 {
        (id.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 33) << 33
    }

    /// Gives span `id` a slot holding `span`; `false` when another live span
    /// holds the slot.
    #[inline]
    pub(super) fn claim(&self, id: u64, span: SlotSpan) -> bool {
        let Some(slot) = self.0.claim(id) else {
            return false;
        };
        let error = if span.error { ERROR_BIT } else { 0 };
        slot.start.store(span.start, Ordering::Relaxed);
        slot.callsite.store(span.callsite, Ordering::Relaxed);
        slot.error.store(
            Self::tag(id) | error | u64::from(span.error_type),
            Ordering::Relaxed,
        );
        true
    }

    /// The callsite of span `id`, when it holds a slot.
    #[inline]
    pub(super) fn callsite(&self, id: u64) -> Option<u32> {
        self.0
            .held(id)
            .map(|slot| slot.callsite.load(Ordering::Relaxed))
    }

    /// Marks span `id` as failed when `error`, and sets its error type unless
    /// `error_type` is [`ABSENT`]; `false` when the span holds no slot.
    pub(super) fn record_error(&self, id: u64, error: bool, error_type: u32) -> bool {
        let Some(slot) = self.0.held(id) else {
            return false;
        };
        let tag = Self::tag(id);
        let mut current = slot.error.load(Ordering::Relaxed);
        loop {
            if current & !(ERROR_BIT | u64::from(u32::MAX)) != tag {
                // The span closed in the meantime and another took its slot.
                return true;
            }
            let mut next = current;
            if error {
                next |= ERROR_BIT;
            }
            if error_type != ABSENT {
                next = (next & !u64::from(u32::MAX)) | u64::from(error_type);
            }
            match slot.error.compare_exchange_weak(
                current,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Frees the slot of span `id` and returns the span's state; `None` when
    /// the span holds no slot.
    #[inline]
    pub(super) fn release(&self, id: u64) -> Option<SlotSpan> {
        self.0.release(id, |slot| {
            let error = slot.error.load(Ordering::Relaxed);
            SlotSpan {
                start: slot.start.load(Ordering::Relaxed),
                callsite: slot.callsite.load(Ordering::Relaxed),
                error: error & ERROR_BIT != 0,
                error_type: error as u32,
            }
        })
    }
}

/// The state of one live span that can hold more than a slot does.
#[derive(Debug)]
pub(super) struct SpanState {
    /// The raw clock reading at creation.
    pub(super) start: u64,
    pub(super) callsite: u32,
    pub(super) error: bool,
    pub(super) step_failed: bool,
    pub(super) error_type: u32,
    pub(super) role: PipelineRole,
    pub(super) dims: [u32; MAX_DIMENSIONS],
}

impl SpanState {
    pub(super) fn new(start: u64, callsite: u32) -> Self {
        Self {
            start,
            callsite,
            error: false,
            step_failed: false,
            error_type: ABSENT,
            role: PipelineRole::None,
            dims: [ABSENT; MAX_DIMENSIONS],
        }
    }
}

impl From<SlotSpan> for SpanState {
    fn from(slot: SlotSpan) -> Self {
        Self {
            error: slot.error,
            error_type: slot.error_type,
            ..Self::new(slot.start, slot.callsite)
        }
    }
}

/// Where a live span keeps its state.
#[derive(Debug, Clone, Copy)]
pub(super) enum Holder {
    /// A [`Slots`] slot: no role and no dimensions.
    Slot,
    /// The span table, with the span's role when it was looked up.
    Table(PipelineRole),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::internal::span_table::SpanTable;

    fn slot_span(callsite: u32) -> SlotSpan {
        SlotSpan {
            start: 100,
            callsite,
            error: false,
            error_type: ABSENT,
        }
    }

    /// `count` ids that share the slot of `id`, `id` first.
    fn sharing_a_slot(id: u64, count: usize) -> Vec<u64> {
        let index = SpanSlots::<SlotState>::index;
        (id..)
            .filter(|other| index(*other) == index(id))
            .take(count)
            .collect()
    }

    #[test]
    fn slots_hold_one_live_span_each() {
        let slots = Slots::new();
        let [first, reused] = sharing_a_slot(7, 2)[..] else {
            unreachable!()
        };
        assert!(slots.claim(first, slot_span(1)));
        assert!(!slots.claim(reused, slot_span(2)), "the slot is taken");
        assert_eq!(slots.callsite(first), Some(1));
        assert_eq!(slots.callsite(reused), None);
        assert_eq!(slots.release(reused), None);
        assert_eq!(slots.release(first), Some(slot_span(1)));
        assert_eq!(slots.release(first), None, "released once");
        assert!(slots.claim(reused, slot_span(2)));
        assert_eq!(slots.0.len(), 1);
    }

    #[test]
    fn slot_errors_keep_the_last_type_and_never_reach_the_next_holder() {
        let slots = Slots::new();
        let [first, reused] = sharing_a_slot(9, 2)[..] else {
            unreachable!()
        };
        assert!(slots.claim(first, slot_span(1)));
        assert!(slots.record_error(first, false, 4), "a type alone");
        assert!(slots.record_error(first, true, ABSENT));
        assert!(!slots.record_error(reused, true, 5), "not the holder");
        let span = slots.release(first).unwrap();
        assert!(span.error);
        assert_eq!(span.error_type, 4);
        assert!(slots.claim(reused, slot_span(2)));
        // A late update for the closed span.
        assert!(!slots.record_error(first, true, 6));
        assert_eq!(slots.release(reused), Some(slot_span(2)));
    }

    #[test]
    fn slots_keep_every_span_under_contention() {
        let slots = Slots::new();
        let table = SpanTable::new();
        // Four threads, two ids each, all for one slot.
        let ids = sharing_a_slot(3, 8);
        std::thread::scope(|scope| {
            for thread in 0..4u64 {
                let (slots, table, ids) = (&slots, &table, &ids);
                scope.spawn(move || {
                    for i in 0..50_000u64 {
                        let id = ids[(thread * 2 + i % 2) as usize];
                        let span = SlotSpan {
                            start: i,
                            callsite: thread as u32,
                            error: i % 3 == 0,
                            error_type: i as u32,
                        };
                        if !slots.claim(id, span) {
                            table.insert(id, span);
                        }
                        let back = slots.release(id).or_else(|| table.remove(id));
                        assert_eq!(back, Some(span));
                    }
                });
            }
        });
        assert_eq!(slots.0.len(), 0);
        assert_eq!(table.len(), 0);
    }
}
