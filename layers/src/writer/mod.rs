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
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

use crate::catalog::AUTOTEL_DROPPED_TOTAL;

mod worker;

/// The default size of the buffer, in bytes.
pub const DEFAULT_BUFFER_SIZE: usize = 1024 * 1024;

/// The default longest time a line waits in the buffer.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(5);

/// The default longest time a producer waits for room in the buffer.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(1);

/// Empty flush intervals after which the background thread sleeps until a
/// producer wakes it.
const IDLE_INTERVALS_BEFORE_SLEEP: u32 = 50;

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

/// Configures a [`NonBlocking`] writer.
#[derive(Debug, Clone)]
pub struct NonBlockingBuilder {
    buffer_size: usize,
    lossy: bool,
    thread_name: String,
    flush_interval: Duration,
    shutdown_timeout: Duration,
    max_wait: Duration,
}

struct Shared {
    state: Mutex<State>,
    /// The background thread waits here for lines.
    lines_ready: Condvar,
    /// Producers wait here for room in the buffer.
    room: Condvar,
    /// The guard waits here for the background thread to finish.
    finished: Condvar,
    buffer_size: usize,
    /// The background thread writes as soon as the buffer holds this much.
    threshold: usize,
    flush_interval: Duration,
    lossy: bool,
    max_wait: Duration,
    waits: AtomicU64,
    dropped: AtomicU64,
    dropped_buffer_full: OnceLock<metrics::Counter>,
    dropped_closed: OnceLock<metrics::Counter>,
    dropped_io_error: OnceLock<metrics::Counter>,
}

#[derive(Default)]
struct State {
    buffer: Vec<u8>,
    /// The background thread waits on `lines_ready` and nobody woke it yet.
    worker_waiting: bool,
    /// ... and it waits without a timeout: the next line must wake it.
    worker_asleep: bool,
    producers_waiting: usize,
    /// A producer waited the longest time for room: until the background
    /// thread takes the buffer, lines that do not fit are dropped at once.
    stalled: bool,
    /// Write calls taken into the buffer, and how many of them the
    /// background thread has written out.
    pushed: u64,
    written: u64,
    /// A caller of [`NonBlocking::flush_within`] waits for `written` to
    /// reach `pushed`: write without waiting for the threshold.
    flush_requested: bool,
    closed: bool,
    finished: bool,
}

#[derive(Clone, Copy)]
enum DropReason {
    BufferFull,
    Closed,
    IoError,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn count_dropped(&self, lines: u64, reason: DropReason) {
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
    fn push(&self, bytes: &[u8]) {
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

impl Default for NonBlockingBuilder {
    fn default() -> Self {
        Self {
            buffer_size: DEFAULT_BUFFER_SIZE,
            lossy: false,
            thread_name: "autotel-log-writer".to_owned(),
            flush_interval: DEFAULT_FLUSH_INTERVAL,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            max_wait: DEFAULT_MAX_WAIT,
        }
    }
}

impl NonBlockingBuilder {
    /// Sets the size of the buffer in bytes (at least 1). A line larger than
    /// the buffer is still taken whole when the buffer is empty. The
    /// background thread holds a second buffer of the same size.
    ///
    /// Defaults to [`DEFAULT_BUFFER_SIZE`] (1 MiB).
    #[must_use]
    pub fn with_buffer_size(mut self, bytes: usize) -> Self {
        self.buffer_size = bytes.max(1);
        self
    }

    /// Sets whether a line that does not fit is dropped (and counted)
    /// instead of making the producer wait.
    ///
    /// Defaults to `false`: lossless, the producer waits (at most
    /// [`with_max_wait`](Self::with_max_wait)).
    #[must_use]
    pub fn lossy(mut self, lossy: bool) -> Self {
        self.lossy = lossy;
        self
    }

    /// Sets the longest time a producer waits for room in the buffer in
    /// lossless mode. Past it the line is dropped and counted
    /// (`reason="buffer_full"`), and so are the lines that do not fit until
    /// the background thread takes the buffer again: a destination that
    /// stalls (a pipe nobody reads) never blocks the program for longer.
    /// `Duration::MAX` waits without bound.
    ///
    /// Defaults to [`DEFAULT_MAX_WAIT`] (1 s).
    #[must_use]
    pub fn with_max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Sets the name of the background thread.
    ///
    /// Defaults to `autotel-log-writer`.
    #[must_use]
    pub fn with_thread_name(mut self, name: impl Into<String>) -> Self {
        self.thread_name = name.into();
        self
    }

    /// Sets the longest time a line waits in the buffer before the
    /// background thread writes it (when the buffer fills faster, it writes
    /// sooner).
    ///
    /// Defaults to [`DEFAULT_FLUSH_INTERVAL`] (5 ms).
    #[must_use]
    pub fn with_flush_interval(mut self, interval: Duration) -> Self {
        self.flush_interval = interval.max(Duration::from_micros(100));
        self
    }

    /// Sets how long dropping the [`FlushGuard`] waits for the buffered
    /// lines to be written; past it the background thread finishes on its
    /// own.
    ///
    /// Defaults to [`DEFAULT_SHUTDOWN_TIMEOUT`] (5 s).
    #[must_use]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// A writer to standard output.
    ///
    /// # Errors
    ///
    /// When the background thread cannot be started.
    pub fn stdout(self) -> io::Result<(NonBlocking, FlushGuard)> {
        self.build(io::stdout())
    }

    /// A writer appending to the file at `path`, created when missing.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or the background thread cannot be
    /// started.
    pub fn file(self, path: impl AsRef<Path>) -> io::Result<(NonBlocking, FlushGuard)> {
        let file: File = OpenOptions::new().create(true).append(true).open(path)?;
        self.build(file)
    }

    /// A writer to `out`, written from a background thread.
    ///
    /// # Errors
    ///
    /// When the background thread cannot be started.
    pub fn build<W>(self, out: W) -> io::Result<(NonBlocking, FlushGuard)>
    where
        W: Write + Send + 'static,
    {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buffer: Vec::with_capacity(self.buffer_size),
                ..State::default()
            }),
            lines_ready: Condvar::new(),
            room: Condvar::new(),
            finished: Condvar::new(),
            buffer_size: self.buffer_size,
            threshold: (self.buffer_size / 2).max(1),
            flush_interval: self.flush_interval,
            lossy: self.lossy,
            max_wait: self.max_wait,
            waits: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            dropped_buffer_full: OnceLock::new(),
            dropped_closed: OnceLock::new(),
            dropped_io_error: OnceLock::new(),
        });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name(self.thread_name)
            .spawn(move || worker::run(&worker, out))?;
        Ok((
            NonBlocking {
                shared: Arc::clone(&shared),
            },
            FlushGuard {
                shared,
                thread: Some(thread),
                timeout: self.shutdown_timeout,
            },
        ))
    }
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
