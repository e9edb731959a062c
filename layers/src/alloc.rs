//! A global allocator wrapper that counts heap allocations: Rust's answer to
//! the garbage-collector metrics of managed runtimes.
//!
//! Install [`CountingAllocator`] as the `#[global_allocator]` and the
//! [`SystemSampler`](crate::SystemSampler) publishes
//! `process_heap_live_bytes`, `process_allocations_total` and
//! `process_allocated_bytes_total`, and the
//! [`SpanResourcesLayer`](crate::SpanResourcesLayer) reports the bytes
//! allocated inside each span. Without it installed these figures are absent.
//!
//! ```
//! use autotel_layers::alloc::CountingAllocator;
//!
//! #[global_allocator]
//! static GLOBAL: CountingAllocator = CountingAllocator::system();
//!
//! fn main() {
//!     let before = autotel_layers::alloc::thread_stats();
//!     let boxed = std::hint::black_box(Box::new([0u8; 1000]));
//!     let after = autotel_layers::alloc::thread_stats();
//!     assert_eq!(after.allocations() - before.allocations(), 1);
//!     assert_eq!(after.allocated_bytes() - before.allocated_bytes(), 1000);
//!     drop(boxed);
//! }
//! ```
//!
//! # Cost
//!
//! Each allocation adds to counters of the calling thread (plain thread-local
//! cells, no atomic operation). Every 64 operations or 64 KiB, a thread folds
//! what it counted into process-wide atomics, so the process totals lag the
//! truth by at most that much per thread, and the counts of a thread that ends
//! before its next fold are lost (at most 63 operations and 64 KiB). The
//! counts of the calling thread, [`thread_stats`], are exact.

// Implementing `GlobalAlloc` is unsafe by nature: this module only forwards
// every call unchanged to the wrapped allocator and counts what it saw.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Operations a thread counts before folding its counts into the process totals.
const FOLD_EVERY_OPS: u64 = 64;
/// Bytes a thread counts before folding its counts into the process totals.
const FOLD_EVERY_BYTES: u64 = 64 * 1024;

static INSTALLED: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);
static ALLOCATED_BYTES: AtomicU64 = AtomicU64::new(0);
static FREED_BYTES: AtomicU64 = AtomicU64::new(0);

thread_local! {
    // Const-initialised cells without destructors: reading them never
    // allocates and never fails, which an allocator requires.
    static THREAD_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static THREAD_ALLOCATED_BYTES: Cell<u64> = const { Cell::new(0) };
    static PENDING_ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static PENDING_ALLOCATED_BYTES: Cell<u64> = const { Cell::new(0) };
    static PENDING_FREED_BYTES: Cell<u64> = const { Cell::new(0) };
    static PENDING_OPS: Cell<u64> = const { Cell::new(0) };
}

fn add(cell: &'static std::thread::LocalKey<Cell<u64>>, value: u64) -> u64 {
    cell.with(|c| {
        let next = c.get().wrapping_add(value);
        c.set(next);
        next
    })
}

fn take(cell: &'static std::thread::LocalKey<Cell<u64>>) -> u64 {
    cell.with(|c| c.replace(0))
}

#[inline]
fn counted(allocations: u64, allocated: u64, freed: u64) {
    if !INSTALLED.load(Ordering::Relaxed) {
        INSTALLED.store(true, Ordering::Relaxed);
    }
    if allocations > 0 {
        add(&THREAD_ALLOCATIONS, allocations);
        add(&THREAD_ALLOCATED_BYTES, allocated);
        add(&PENDING_ALLOCATIONS, allocations);
    }
    let allocated_pending = add(&PENDING_ALLOCATED_BYTES, allocated);
    let freed_pending = add(&PENDING_FREED_BYTES, freed);
    let ops = add(&PENDING_OPS, 1);
    if ops >= FOLD_EVERY_OPS
        || allocated_pending >= FOLD_EVERY_BYTES
        || freed_pending >= FOLD_EVERY_BYTES
    {
        fold();
    }
}

/// Moves the calling thread's pending counts into the process totals.
fn fold() {
    ALLOCATIONS.fetch_add(take(&PENDING_ALLOCATIONS), Ordering::Relaxed);
    ALLOCATED_BYTES.fetch_add(take(&PENDING_ALLOCATED_BYTES), Ordering::Relaxed);
    FREED_BYTES.fetch_add(take(&PENDING_FREED_BYTES), Ordering::Relaxed);
    take(&PENDING_OPS);
}

/// A global allocator that forwards to `A` and counts allocations, per
/// thread and for the whole process.
///
/// `A` is the system allocator unless another is given, such as
/// `CountingAllocator<tikv_jemallocator::Jemalloc>`.
///
/// ```
/// use autotel_layers::alloc::CountingAllocator;
/// use std::alloc::System;
///
/// #[global_allocator]
/// static GLOBAL: CountingAllocator<System> = CountingAllocator::new(System);
///
/// fn main() {
///     let v = std::hint::black_box(vec![1u8; 64]);
///     assert!(autotel_layers::alloc::is_installed());
///     drop(v);
/// }
/// ```
#[derive(Debug, Default, Clone, Copy)]
pub struct CountingAllocator<A = System> {
    inner: A,
}

impl CountingAllocator<System> {
    /// Counts the allocations of the system allocator.
    ///
    /// ```
    /// #[global_allocator]
    /// static GLOBAL: autotel_layers::alloc::CountingAllocator =
    ///     autotel_layers::alloc::CountingAllocator::system();
    /// # fn main() {}
    /// ```
    pub const fn system() -> Self {
        Self { inner: System }
    }
}

impl<A> CountingAllocator<A> {
    /// Counts the allocations of `inner`.
    ///
    /// ```
    /// use autotel_layers::alloc::CountingAllocator;
    ///
    /// #[global_allocator]
    /// static GLOBAL: CountingAllocator<std::alloc::System> =
    ///     CountingAllocator::new(std::alloc::System);
    /// # fn main() {}
    /// ```
    pub const fn new(inner: A) -> Self {
        Self { inner }
    }

    /// The wrapped allocator.
    ///
    /// ```
    /// let counting = autotel_layers::alloc::CountingAllocator::system();
    /// let _system: &std::alloc::System = counting.inner();
    /// ```
    pub const fn inner(&self) -> &A {
        &self.inner
    }
}

// SAFETY: every method forwards its arguments unchanged to `A` and returns
// what `A` returned; counting touches only thread-local cells and atomics,
// which never allocate.
unsafe impl<A: GlobalAlloc> GlobalAlloc for CountingAllocator<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        let ptr = unsafe { self.inner.alloc(layout) };
        if !ptr.is_null() {
            counted(1, layout.size() as u64, 0);
        }
        ptr
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc_zeroed`'s contract.
        let ptr = unsafe { self.inner.alloc_zeroed(layout) };
        if !ptr.is_null() {
            counted(1, layout.size() as u64, 0);
        }
        ptr
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.inner.dealloc(ptr, layout) };
        counted(0, 0, layout.size() as u64);
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        let new = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            // A reallocation counts as one allocation of the new size and the
            // release of the old block.
            counted(1, new_size as u64, layout.size() as u64);
        }
        new
    }
}

/// Whether a [`CountingAllocator`] is the global allocator (has counted at
/// least one allocation).
///
/// ```
/// // Without `#[global_allocator] static _: CountingAllocator`:
/// assert!(!autotel_layers::alloc::is_installed());
/// ```
pub fn is_installed() -> bool {
    INSTALLED.load(Ordering::Relaxed)
}

/// Allocation counts: of the calling thread ([`thread_stats`]) or of the
/// process ([`process_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AllocStats {
    allocations: u64,
    allocated_bytes: u64,
    freed_bytes: u64,
}

impl AllocStats {
    /// Allocations made, reallocations included.
    pub const fn allocations(&self) -> u64 {
        self.allocations
    }

    /// Bytes allocated, the new size of each reallocation included.
    pub const fn allocated_bytes(&self) -> u64 {
        self.allocated_bytes
    }

    /// Bytes allocated and not yet freed. Always zero for [`thread_stats`],
    /// since a block may be freed on another thread than the one that
    /// allocated it.
    pub const fn live_bytes(&self) -> u64 {
        self.allocated_bytes.saturating_sub(self.freed_bytes)
    }
}

/// Exact allocation counts of the calling thread since it started; zero
/// unless a [`CountingAllocator`] is installed.
///
/// ```
/// let stats = autotel_layers::alloc::thread_stats();
/// assert!(stats.allocated_bytes() >= stats.live_bytes());
/// ```
pub fn thread_stats() -> AllocStats {
    AllocStats {
        allocations: THREAD_ALLOCATIONS.with(Cell::get),
        allocated_bytes: THREAD_ALLOCATED_BYTES.with(Cell::get),
        freed_bytes: 0,
    }
}

/// Bytes allocated by the calling thread since it started: the figure the
/// span resource layer differences. Zero unless a [`CountingAllocator`] is
/// installed.
pub(crate) fn thread_allocated_bytes() -> u64 {
    THREAD_ALLOCATED_BYTES.with(Cell::get)
}

/// Allocation counts of the whole process; `None` unless a
/// [`CountingAllocator`] is installed.
///
/// The calling thread's counts are exact; other threads' lag by at most 64
/// operations or 64 KiB each (see the [module docs](self)).
///
/// ```
/// // Without a counting allocator installed:
/// assert_eq!(autotel_layers::alloc::process_stats(), None);
/// ```
pub fn process_stats() -> Option<AllocStats> {
    if !is_installed() {
        return None;
    }
    fold();
    Some(AllocStats {
        allocations: ALLOCATIONS.load(Ordering::Relaxed),
        allocated_bytes: ALLOCATED_BYTES.load(Ordering::Relaxed),
        freed_bytes: FREED_BYTES.load(Ordering::Relaxed),
    })
}
