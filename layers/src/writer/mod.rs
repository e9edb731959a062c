//! A buffered, non-blocking writer for log lines: producers copy each line
//! into a shared buffer and a background thread writes the buffer out in
//! large chunks.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! let (writer, _guard) = autotel_layers::writer::NonBlocking::builder().stdout()?;
//! tracing_subscriber::registry()
//!     .with(autotel_layers::JsonLayer::new(writer))
//!     .init();
//! tracing::info!("written by the background thread");
//! // Dropping `_guard` at the end of `main` writes out what is left.
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Lossless by default
//!
//! The buffer is bounded ([`NonBlockingBuilder::with_buffer_size`]). When a
//! line does not fit, the producer waits until the background thread has
//! taken the buffer, and the wait is counted ([`NonBlocking::waits`]). In
//! [lossy](NonBlockingBuilder::lossy) mode the line is dropped instead and
//! counted in `autotel_dropped_total{signal="logs", reason="buffer_full"}`.
//! Lines written after the guard was dropped count with `reason="closed"`,
//! and lines the destination refused with `reason="io_error"`.
//!
//! # A destination that stalls or fails
//!
//! A producer never waits without bound: past
//! [`NonBlockingBuilder::with_max_wait`] (1 s by default) its line is dropped
//! and counted as `buffer_full`, and so are the lines of every producer until
//! the background thread takes the buffer again (a stdout pipe that nobody
//! reads costs a program one wait, not one per line).
//!
//! A failed write drops the lines of that write (`reason="io_error"`) and
//! prints one message on standard error per kind of error, ignoring any
//! error of standard error itself: the writer never panics. After a closed
//! pipe (`program | head -n 2`) it writes nothing more and drops every later
//! line; after any other error (a full disk) it tries again one second
//! later, dropping the lines logged meanwhile, so a failing destination
//! costs one write attempt a second.
//!
//! # Costs
//!
//! A line costs the producer a lock of a mutex that the background thread
//! rarely takes, and a copy. The background thread writes the buffer when a
//! half of it is full or, with less, at the latest one
//! [flush interval](NonBlockingBuilder::with_flush_interval) after the
//! first line, with one `write` per buffer. A producer wakes it (a system
//! call) only when it crosses that half, or when the thread went to sleep
//! after a quiet spell (about 50 empty intervals): a busy producer makes no
//! system call per line.
//!
//! Each `write` call is the unit that is kept or dropped whole: lines from
//! several threads never interleave, as long as each line is written with
//! one call (as [`JsonLayer`](crate::JsonLayer) does). `write!` and
//! `writeln!` make one call per formatted piece; format the line into a
//! buffer first. Drops are counted per call.

use std::fmt;
use std::io::{self, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

mod builder;
mod shared;
mod worker;

pub use self::builder::NonBlockingBuilder;
use self::shared::Shared;

/// The default size of the buffer, in bytes.
pub const DEFAULT_BUFFER_SIZE: usize = 1024 * 1024;

/// The default longest time a line waits in the buffer.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(5);

/// The default longest time a producer waits for room in the buffer.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(1);

/// The default time the guard waits for the background thread to finish.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// The writer given to producers: cheap to clone, and a [`MakeWriter`].
///
/// Built by [`NonBlockingBuilder`]; the background thread runs until the
/// [`FlushGuard`] is dropped.
#[derive(Clone)]
pub struct NonBlocking {
    shared: Arc<Shared>,
}

/// Keeps the background thread running; dropping it writes out everything
/// buffered (waiting up to the shutdown timeout) and stops the thread.
#[must_use = "dropping the guard stops the writer: keep it alive as long as lines are written"]
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    timeout: Duration,
}

impl NonBlocking {
    /// A builder with the defaults: a 1 MiB buffer, lossless.
    pub fn builder() -> NonBlockingBuilder {
        NonBlockingBuilder::default()
    }

    /// How many times a producer waited for room in the buffer.
    pub fn waits(&self) -> u64 {
        self.shared.waits.load(Ordering::Relaxed)
    }

    /// How many lines were dropped, for any reason.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Writes out every line taken so far and waits until the destination
    /// has them, at most `timeout`. Returns whether everything was written
    /// in time (also `true` when there was nothing to write, and `false`
    /// once the writer has stopped with lines left).
    ///
    /// For the moments that cannot wait for the next flush interval, such as
    /// a panic about to end the program; [`Write::flush`] returns at once.
    pub fn flush_within(&self, timeout: Duration) -> bool {
        let mut state = self.shared.lock();
        let target = state.pushed;
        if state.written >= target {
            return true;
        }
        state.flush_requested = true;
        if std::mem::take(&mut state.worker_waiting) {
            self.shared.lines_ready.notify_one();
        }
        let (state, _) = self
            .shared
            .finished
            .wait_timeout_while(state, timeout, |state| {
                state.written < target && !state.finished
            })
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.written >= target
    }
}

impl Write for &NonBlocking {
    /// Takes the whole of `buf` or, when it must be dropped, none of it;
    /// either way it reports `buf.len()` bytes written.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.shared.push(buf);
        Ok(buf.len())
    }

    /// Returns at once: the background thread writes the buffer out as soon
    /// as it can, and dropping the [`FlushGuard`] writes out the rest.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for NonBlocking {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&*self).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        (&*self).flush()
    }
}

impl<'a> MakeWriter<'a> for NonBlocking {
    type Writer = &'a NonBlocking;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

impl FlushGuard {
    /// How many times a producer waited for room in the buffer.
    pub fn waits(&self) -> u64 {
        self.shared.waits.load(Ordering::Relaxed)
    }

    /// How many lines were dropped, for any reason.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        state.closed = true;
        drop(state);
        self.shared.lines_ready.notify_one();
        self.shared.room.notify_all();
        let state = self.shared.lock();
        let (state, _) = self
            .shared
            .finished
            .wait_timeout_while(state, self.timeout, |state| !state.finished)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let finished = state.finished;
        drop(state);
        if finished && let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl fmt::Debug for NonBlocking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonBlocking")
            .field("buffer_size", &self.shared.buffer_size)
            .field("lossy", &self.shared.lossy)
            .field("max_wait", &self.shared.max_wait)
            .field("waits", &self.waits())
            .field("dropped", &self.dropped())
            .finish()
    }
}

impl fmt::Debug for FlushGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushGuard")
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
