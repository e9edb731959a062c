//! New random ids: a per-thread SplitMix64 generator, seeded once per thread
//! from the OS randomness behind [`RandomState`].

use std::cell::Cell;
use std::hash::{BuildHasher, RandomState};

use super::ids::{SpanId, TraceId};

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // `RandomState::new` draws its keys from the OS once per thread.
    RandomState::new().hash_one(std::thread::current().id())
}

fn next_random() -> u64 {
    let step = |state: u64| {
        let state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (state, z ^ (z >> 31))
    };
    RNG.try_with(|cell| {
        let (state, value) = step(cell.get());
        cell.set(state);
        value
    })
    .unwrap_or_else(|_| step(seed()).1)
}

/// A new random, valid trace id.
pub(super) fn new_trace_id() -> TraceId {
    loop {
        let id = (u128::from(next_random()) << 64) | u128::from(next_random());
        if id != 0 {
            return TraceId::from_u128(id);
        }
    }
}

/// A new random, valid span id.
pub(super) fn new_span_id() -> SpanId {
    loop {
        let id = next_random();
        if id != 0 {
            return SpanId::from_u64(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| new_span_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.is_valid()));
        assert_ne!(new_trace_id(), new_trace_id());
    }

    #[test]
    fn threads_draw_different_ids() {
        let here = new_trace_id();
        let there = std::thread::spawn(new_trace_id).join().unwrap();
        assert_ne!(here, there);
    }
}
