//! The global allocator of the tests that count heap use: counts, not
//! timings.
//!
//! ```
//! use autotel_test_support::alloc::{TestAllocator, thread_allocations, thread_live_bytes};
//!
//! #[global_allocator]
//! static GLOBAL: TestAllocator = TestAllocator::new();
//!
//! fn main() {
//!     let (allocations, live) = (thread_allocations(), thread_live_bytes());
//!     let held = std::hint::black_box(vec![0u8; 1000]);
//!     assert_eq!(thread_allocations() - allocations, 1);
//!     assert_eq!(thread_live_bytes() - live, 1000);
//!     drop(held);
//!     assert_eq!(thread_live_bytes(), live);
//! }
//! ```
//!
//! It is autotel's own [`CountingAllocator`], so everything that reads its
//! counts works ([`autotel_layers::alloc::thread_stats`], the system
//! sampler's allocator metrics), plus the bytes the calling thread holds,
//! which a test of bounded memory follows.

// A global allocator is unsafe to implement: this one forwards every call
// unchanged to autotel's counting allocator and adds to one thread-local
// cell, which never allocates.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout};
use std::cell::Cell;

use autotel_layers::alloc::CountingAllocator;

thread_local! {
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn note(bytes: i64) {
    // `try_with` fails only while the thread is being torn down.
    let _ = LIVE_BYTES.try_with(|live| live.set(live.get() + bytes));
}

/// autotel's [`CountingAllocator`] over the system allocator, that also
/// follows the bytes each thread allocated and has not freed.
#[derive(Debug, Default, Clone, Copy)]
pub struct TestAllocator {
    inner: CountingAllocator,
}

impl TestAllocator {
    /// The allocator, for a `#[global_allocator]` static.
    pub const fn new() -> Self {
        Self {
            inner: CountingAllocator::system(),
        }
    }
}

// SAFETY: every method forwards its arguments unchanged to the inner
// allocator and returns what it returned; counting touches a thread-local
// cell only.
unsafe impl GlobalAlloc for TestAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            note(layout.size() as i64);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            note(layout.size() as i64);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) };
        note(-(layout.size() as i64));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            note(new_size as i64 - layout.size() as i64);
        }
        new
    }
}

/// Allocations the calling thread made so far, reallocations included;
/// zero unless a [`TestAllocator`] (or a [`CountingAllocator`]) is the
/// global allocator.
pub fn thread_allocations() -> u64 {
    autotel_layers::alloc::thread_stats().allocations()
}

/// Bytes the calling thread allocated minus the bytes it freed, so far;
/// zero unless a [`TestAllocator`] is the global allocator. A block freed by
/// another thread than the one that allocated it counts on both sides.
pub fn thread_live_bytes() -> i64 {
    LIVE_BYTES.with(Cell::get)
}
