//! The background thread of the non-blocking writer: it takes the buffer,
//! writes it out, and survives a destination that fails.

use std::io::{self, Write};
use std::time::{Duration, Instant};

use super::shared::{DropReason, Shared};

/// Empty flush intervals after which the background thread sleeps until a
/// producer wakes it.
const IDLE_INTERVALS_BEFORE_SLEEP: u32 = 50;

/// After a failed write, batches taken during this time are dropped (and
/// counted) without trying the destination again.
pub(super) const RETRY_AFTER_ERROR: Duration = Duration::from_secs(1);

/// What the background thread knows about its destination's failures.
#[derive(Default)]
struct Failures {
    /// The reader of a pipe has gone: no later write can succeed.
    gone: bool,
    /// No write is tried before this instant.
    retry_at: Option<Instant>,
    /// The kinds of error already reported on standard error.
    reported: Vec<io::ErrorKind>,
}

impl Failures {
    /// Whether the next batch is dropped without a write.
    fn skip_write(&self) -> bool {
        self.gone || self.retry_at.is_some_and(|at| Instant::now() < at)
    }

    /// Records a failed write of `lines` lines, and reports it on standard
    /// error the first time this kind of error happens.
    fn failed(&mut self, error: &io::Error, lines: usize) {
        let kind = error.kind();
        let then = if kind == io::ErrorKind::BrokenPipe {
            self.gone = true;
            "the reader of the output has gone, so later lines are dropped without a write"
        } else {
            self.retry_at = Instant::now().checked_add(RETRY_AFTER_ERROR);
            "the writer tries again after one second and drops the lines logged meanwhile"
        };
        if self.reported.contains(&kind) {
            return;
        }
        self.reported.push(kind);
        // Standard error may be the very pipe that failed: its own error is
        // ignored, never raised.
        let _ = writeln!(
            io::stderr(),
            "autotel: the log writer could not write {lines} lines to its output ({error}); \
             {then}. Lost lines are counted in \
             autotel_dropped_total{{signal=\"logs\",reason=\"io_error\"}}; \
             this message is not repeated for this kind of error."
        );
    }
}

/// Marks the writer finished when the background thread ends, even by a
/// panic of the destination: producers then drop lines instead of waiting
/// for a thread that is gone.
struct FinishOnExit<'a>(&'a Shared);

impl Drop for FinishOnExit<'_> {
    fn drop(&mut self) {
        let mut state = self.0.lock();
        state.finished = true;
        drop(state);
        self.0.finished.notify_all();
        self.0.room.notify_all();
    }
}

/// Newline-terminated lines in `batch`, at least one when it is not empty.
fn lines_in(batch: &[u8]) -> usize {
    batch.iter().filter(|&&byte| byte == b'\n').count().max(1)
}

pub(super) fn run<W: Write>(shared: &Shared, mut out: W) {
    let _finish = FinishOnExit(shared);
    let mut batch = Vec::with_capacity(shared.buffer_size);
    let mut idle_intervals = 0;
    let mut failures = Failures::default();
    loop {
        let mut state = shared.lock();
        // Write when the buffer reaches the threshold, when lines waited a
        // whole interval, or when closing.
        let mut waited_an_interval = false;
        while !state.closed
            && !state.flush_requested
            && state.buffer.len() < shared.threshold
            && (state.buffer.is_empty() || !waited_an_interval)
        {
            let asleep = state.buffer.is_empty() && idle_intervals >= IDLE_INTERVALS_BEFORE_SLEEP;
            state.worker_waiting = true;
            state.worker_asleep = asleep;
            if asleep {
                state = shared
                    .lines_ready
                    .wait(state)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                idle_intervals = 0;
            } else {
                let (woken, timeout) = shared
                    .lines_ready
                    .wait_timeout(state, shared.flush_interval)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                state = woken;
                if timeout.timed_out() {
                    waited_an_interval = true;
                    if state.buffer.is_empty() {
                        idle_intervals += 1;
                    }
                }
            }
            state.worker_waiting = false;
            state.worker_asleep = false;
        }
        if state.buffer.is_empty() {
            if std::mem::take(&mut state.flush_requested) {
                state.written = state.pushed;
                drop(state);
                shared.finished.notify_all();
                continue;
            }
            if state.closed {
                break;
            }
            continue;
        }
        idle_intervals = 0;
        std::mem::swap(&mut state.buffer, &mut batch);
        // The buffer is empty again: producers that gave up waiting may
        // wait again.
        state.stalled = false;
        let taken = state.pushed;
        let producers_waiting = state.producers_waiting > 0;
        drop(state);
        if producers_waiting {
            shared.room.notify_all();
        }
        if failures.skip_write() {
            shared.count_dropped(lines_in(&batch) as u64, DropReason::IoError);
        } else if let Err(error) = out.write_all(&batch).and_then(|()| out.flush()) {
            let lines = lines_in(&batch);
            shared.count_dropped(lines as u64, DropReason::IoError);
            failures.failed(&error, lines);
        } else {
            failures.retry_at = None;
        }
        batch.clear();
        if batch.capacity() > 4 * shared.buffer_size {
            batch.shrink_to(shared.buffer_size);
        }
        let mut state = shared.lock();
        state.written = taken;
        if state.flush_requested && state.buffer.is_empty() {
            state.flush_requested = false;
        }
        drop(state);
        shared.finished.notify_all();
    }
    if !failures.gone {
        let _ = out.flush();
    }
}
