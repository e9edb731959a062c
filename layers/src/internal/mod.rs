//! The fast-path parts every layer shares, each once: the per-callsite cache,
//! the per-span slot array and table, label interning, the series cap with
//! its overflow series, the fast hasher and the lock-free arrays; and what
//! the tower middlewares share.

pub(crate) mod append_only;
pub(crate) mod callsite_cache;
pub(crate) mod hash;
pub(crate) mod interner;
pub(crate) mod label_cap;
#[cfg(any(feature = "http", feature = "grpc"))]
pub(crate) mod middleware;
pub(crate) mod once_array;
pub(crate) mod series_cap;
pub(crate) mod span_slots;
pub(crate) mod span_table;

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, going on with the data of a thread that panicked while
/// holding it (the layers' data stays consistent between statements).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
