//! Configuring a [`NonBlocking`] writer and starting its background thread.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::shared::Shared;
use super::{
    DEFAULT_BUFFER_SIZE, DEFAULT_FLUSH_INTERVAL, DEFAULT_MAX_WAIT, DEFAULT_SHUTDOWN_TIMEOUT,
    FlushGuard, NonBlocking, worker,
};

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
        let shared = Arc::new(Shared::new(
            self.buffer_size,
            self.flush_interval,
            self.lossy,
            self.max_wait,
        ));
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
