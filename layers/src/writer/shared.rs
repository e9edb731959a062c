//! The state that producers and the background thread share: the buffer,
//! who waits for what, and the counts of waits and drops.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use crate::catalog::AUTOTEL_DROPPED_TOTAL;

/// What the producers, the background thread and the guard share.
pub(super) struct Shared {
    state: Mutex<State>,
    /// The background thread waits here for lines.
    pub(super) lines_ready: Condvar,
    /// Producers wait here for room in the buffer.
    pub(super) room: Condvar,
    /// The guard waits here for the background thread to finish.
    pub(super) finished: Condvar,
    pub(super) buffer_size: usize,
    /// The background thread writes as soon as the buffer holds this much.
    pub(super) threshold: usize,
    pub(super) flush_interval: Duration,
    pub(super) lossy: bool,
    pub(super) max_wait: Duration,
    pub(super) waits: AtomicU64,
    pub(super) dropped: AtomicU64,
    dropped_buffer_full: OnceLock<metrics::Counter>,
    dropped_closed: OnceLock<metrics::Counter>,
    dropped_io_error: OnceLock<metrics::Counter>,
}

/// The part of [`Shared`] behind its mutex.
#[derive(Default)]
pub(super) struct State {
    pub(super) buffer: Vec<u8>,
    /// The background thread waits on `lines_ready` and nobody woke it yet.
    pub(super) worker_waiting: bool,
    /// ... and it waits without a timeout: the next line must wake it.
    pub(super) worker_asleep: bool,
    pub(super) producers_waiting: usize,
    /// A producer waited the longest time for room: until the background
    /// thread takes the buffer, lines that do not fit are dropped at once.
    pub(super) stalled: bool,
    /// Write calls taken into the buffer, and how many of them the
    /// background thread has written out.
    pub(super) pushed: u64,
    pub(super) written: u64,
    /// A caller of [`NonBlocking::flush_within`](super::NonBlocking::flush_within) waits for `written` to
    /// reach `pushed`: write without waiting for the threshold.
    pub(super) flush_requested: bool,
    pub(super) closed: bool,
    pub(super) finished: bool,
}

#[derive(Clone, Copy)]
pub(super) enum DropReason {
    BufferFull,
    Closed,
    IoError,
}

impl Shared {
    /// The shared state of a writer with an empty buffer of `buffer_size`
    /// bytes.
    pub(super) fn new(
        buffer_size: usize,
        flush_interval: Duration,
        lossy: bool,
        max_wait: Duration,
    ) -> Self {
        Self {
            state: Mutex::new(State {
                buffer: Vec::with_capacity(buffer_size),
                ..State::default()
            }),
            lines_ready: Condvar::new(),
            room: Condvar::new(),
            finished: Condvar::new(),
            buffer_size,
            threshold: (buffer_size / 2).max(1),
            flush_interval,
            lossy,
            max_wait,
            waits: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            dropped_buffer_full: OnceLock::new(),
            dropped_closed: OnceLock::new(),
            dropped_io_error: OnceLock::new(),
        }
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn count_dropped(&self, lines: u64, reason: DropReason) {
        if lines == 0 {
            return;
        }
        self.dropped.fetch_add(lines, Ordering::Relaxed);
        let (cell, label) = match reason {
            DropReason::BufferFull => (&self.dropped_buffer_full, "buffer_full"),
            DropReason::Closed => (&self.dropped_closed, "closed"),
            DropReason::IoError => (&self.dropped_io_error, "io_error"),
        };
        cell.get_or_init(|| {
            metrics::counter!(AUTOTEL_DROPPED_TOTAL.name(), "signal" => "logs", "reason" => label)
        })
        .increment(lines);
    }

    /// Appends one write call's bytes, waiting for room (at most
    /// `max_wait`) unless lossy.
    pub(super) fn push(&self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut state = self.lock();
        // Set on the first wait; `None` inside means no deadline.
        let mut deadline: Option<Option<Instant>> = None;
        loop {
            if state.closed || state.finished {
                drop(state);
                self.count_dropped(1, DropReason::Closed);
                return;
            }
            let fits = state.buffer.len() + bytes.len() <= self.buffer_size;
            if fits || state.buffer.is_empty() {
                break;
            }
            if self.lossy || state.stalled {
                drop(state);
                self.count_dropped(1, DropReason::BufferFull);
                return;
            }
            let deadline = *deadline.get_or_insert_with(|| {
                self.waits.fetch_add(1, Ordering::Relaxed);
                Instant::now().checked_add(self.max_wait)
            });
            let remaining = deadline.map(|at| at.saturating_duration_since(Instant::now()));
            if remaining == Some(Duration::ZERO) {
                state.stalled = true;
                drop(state);
                self.count_dropped(1, DropReason::BufferFull);
                return;
            }
            if std::mem::take(&mut state.worker_waiting) {
                self.lines_ready.notify_one();
            }
            state.producers_waiting += 1;
            state = match remaining {
                Some(remaining) => {
                    self.room
                        .wait_timeout(state, remaining)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
                None => self
                    .room
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            };
            state.producers_waiting -= 1;
        }
        state.buffer.extend_from_slice(bytes);
        state.pushed += 1;
        let wake =
            state.worker_waiting && (state.worker_asleep || state.buffer.len() >= self.threshold);
        if wake {
            state.worker_waiting = false;
        }
        drop(state);
        if wake {
            self.lines_ready.notify_one();
        }
    }
}
