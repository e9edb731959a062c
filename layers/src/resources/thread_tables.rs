//! What the resources layer keeps on each thread: the facts of callsites,
//! what it knows of the spans created on the thread, and the clock readings
//! of the spans the thread has entered.

use std::cell::Cell;

use tracing_core::Metadata;

use super::facts::Facts;
use crate::internal::callsite_cache::{CallsiteCells, callsite_address};

/// Slots of the per-thread table of spans created on the thread.
pub(super) const SPAN_SLOTS: usize = 128;
/// Spans entered on a thread, innermost last; deeper nesting than this is
/// not measured.
pub(super) const MAX_DEPTH: usize = 32;

/// The figures read when a thread entered a span, kept on that thread.
#[derive(Clone, Copy)]
pub(super) struct Entry {
    pub(super) layer: u64,
    pub(super) span: u64,
    pub(super) cpu: u64,
    pub(super) allocated: u64,
    /// The span's callsite, for recording into its fields.
    pub(super) metadata: Option<&'static Metadata<'static>>,
    /// The span was already entered on this thread: the outer entry counts
    /// the time, this one nothing.
    pub(super) again: bool,
}

/// What a layer knows of a span created on the thread.
#[derive(Clone, Copy)]
pub(super) struct SpanFacts {
    pub(super) layer: u64,
    pub(super) span: u64,
    pub(super) metadata: Option<&'static Metadata<'static>>,
    /// The callsite's facts, with [`Facts::MEASURED`] when the layer
    /// measures the span.
    pub(super) facts: Facts,
}

pub(super) const NO_SPAN: SpanFacts = SpanFacts {
    layer: 0,
    span: 0,
    metadata: None,
    facts: Facts(0),
};

/// What the layer keeps on each thread. Plain cells, initialised without
/// code and without a destructor: a thread reaches them at the cost of a
/// memory access, and they work until the thread's very end.
pub(super) struct Tables {
    /// Facts of callsites (the same for every layer), by the address of
    /// their `'static` metadata.
    pub(super) callsites: CallsiteCells<Facts, 64>,
    /// Facts of spans created on this thread, by layer key and span id,
    /// with [`Facts::MEASURED`] when the layer measures the span; a slot
    /// holds the last span that hashed to it.
    pub(super) spans: [Cell<SpanFacts>; SPAN_SLOTS],
    /// Entered spans: the first `depth` entries.
    pub(super) depth: Cell<usize>,
    pub(super) entered: [Cell<Entry>; MAX_DEPTH],
}

thread_local! {
    static TABLES: Tables = const {
        Tables {
            callsites: CallsiteCells::new(),
            spans: [const { Cell::new(NO_SPAN) }; SPAN_SLOTS],
            depth: Cell::new(0),
            entered: [const {
                Cell::new(Entry {
                    layer: 0,
                    span: 0,
                    cpu: 0,
                    allocated: 0,
                    metadata: None,
                    again: false,
                })
            }; MAX_DEPTH],
        }
    };
}

impl Tables {
    /// Runs `f` with the calling thread's tables.
    #[inline]
    pub(super) fn with<R>(f: impl FnOnce(&Tables) -> R) -> R {
        TABLES.with(f)
    }

    /// The facts of a callsite, computed once per thread and callsite
    /// (unless another callsite took its slot since).
    #[inline]
    pub(super) fn callsite(&self, metadata: &'static Metadata<'static>) -> Facts {
        let address = callsite_address(metadata);
        if let Some(facts) = self.callsites.get(0, address) {
            return facts;
        }
        let facts = Facts::of(metadata.fields());
        self.callsites.put(0, address, facts);
        facts
    }

    /// Notes, on the thread that created a span, what the layer knows of
    /// it.
    ///
    /// A registry's span id names one span until it closes, and the
    /// registry hands a closed span's id out again only on the thread that
    /// created the span (its slab is sharded by thread), where this entry is
    /// then overwritten. So an entry that matches is right; a span entered
    /// on another thread than the one that created it is looked up instead.
    #[inline]
    pub(super) fn remember(&self, known: SpanFacts) {
        self.spans[hash(known.span, known.layer) % SPAN_SLOTS].set(known);
    }

    #[inline]
    pub(super) fn recall(&self, layer: u64, span: u64) -> Option<SpanFacts> {
        let known = self.spans[hash(span, layer) % SPAN_SLOTS].get();
        (known.layer == layer && known.span == span).then_some(known)
    }

    #[inline]
    pub(super) fn forget(&self, layer: u64, span: u64) -> Option<SpanFacts> {
        let slot = &self.spans[hash(span, layer) % SPAN_SLOTS];
        let known = slot.get();
        (known.layer == layer && known.span == span).then(|| {
            slot.set(NO_SPAN);
            known
        })
    }

    #[inline]
    pub(super) fn push(&self, mut entry: Entry) {
        let depth = self.depth.get();
        let Some(slot) = self.entered.get(depth) else {
            return;
        };
        entry.again = self.entered[..depth].iter().any(|e| {
            let e = e.get();
            e.span == entry.span && e.layer == entry.layer
        });
        slot.set(entry);
        self.depth.set(depth + 1);
    }

    /// Takes out the entry of a span, normally the innermost.
    #[inline]
    pub(super) fn pop(&self, layer: u64, span: u64) -> Option<Entry> {
        let depth = self.depth.get();
        let entered = self.entered.get(..depth)?;
        let at = entered.iter().rposition(|e| {
            let e = e.get();
            e.span == span && e.layer == layer
        })?;
        let entry = entered[at].get();
        for i in at + 1..depth {
            entered[i - 1].set(entered[i].get());
        }
        self.depth.set(depth - 1);
        Some(entry)
    }
}

#[inline]
pub(super) fn hash(value: u64, key: u64) -> usize {
    ((value ^ key.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_entered_inside_itself_is_marked() {
        let tables = Tables::with(|tables| {
            let entry = |span| Entry {
                layer: 1,
                span,
                cpu: 0,
                allocated: 0,
                metadata: None,
                again: false,
            };
            tables.push(entry(5));
            tables.push(entry(6));
            tables.push(entry(5));
            let inner = tables.pop(1, 5).map(|e| e.again);
            let middle = tables.pop(1, 6).map(|e| e.again);
            let outer = tables.pop(1, 5).map(|e| e.again);
            (inner, middle, outer, tables.pop(1, 5).is_none())
        });
        assert_eq!(tables, (Some(true), Some(false), Some(false), true));
    }
}
