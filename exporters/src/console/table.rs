//! The periodic table of metrics, and the guard of its thread.

use std::io::Write;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

use super::{ConsoleError, ConsoleRecorder};

/// Builder of the console metrics table.
#[derive(Debug, Clone)]
pub struct ConsoleMetrics {
    interval: Duration,
}

impl Default for ConsoleMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleMetrics {
    /// A table printed every 10 seconds on standard error.
    pub fn new() -> Self {
        Self {
            interval: Duration::from_secs(10),
        }
    }

    /// Sets how often the table is printed. Defaults to 10 seconds.
    ///
    /// # Errors
    ///
    /// [`ConsoleError::InvalidSetting`] for a zero interval.
    pub fn with_interval(mut self, interval: Duration) -> Result<Self, ConsoleError> {
        if interval.is_zero() {
            return Err(ConsoleError::InvalidSetting {
                setting: "ConsoleMetrics::with_interval",
                value: format!("{interval:?}"),
                reason: "is not a printing interval: give a duration above zero, such as 10s",
            });
        }
        self.interval = interval;
        Ok(self)
    }

    /// Installs the recorder globally and starts printing; printing stops
    /// (with a last table) when the returned reporter is dropped.
    ///
    /// # Errors
    ///
    /// [`ConsoleError::RecorderAlreadySet`], [`ConsoleError::Thread`].
    pub fn install(self) -> Result<ConsoleGuard, ConsoleError> {
        let recorder = ConsoleRecorder::default();
        let reporter = self.start(recorder.clone(), std::io::stderr)?;
        metrics::set_global_recorder(recorder).map_err(|_| ConsoleError::RecorderAlreadySet)?;
        Ok(reporter)
    }

    /// Starts printing the table of `recorder` to writers from `make_writer`.
    ///
    /// # Errors
    ///
    /// [`ConsoleError::Thread`] when the thread cannot start.
    pub fn start<W>(
        self,
        recorder: ConsoleRecorder,
        make_writer: W,
    ) -> Result<ConsoleGuard, ConsoleError>
    where
        W: for<'w> MakeWriter<'w> + Send + 'static,
    {
        let (stop, stopped) = mpsc::channel::<()>();
        let interval = self.interval;
        let thread = std::thread::Builder::new()
            .name("autotel-console-metrics".into())
            .spawn(move || {
                loop {
                    let last = !matches!(
                        stopped.recv_timeout(interval),
                        Err(mpsc::RecvTimeoutError::Timeout)
                    );
                    let table = recorder.render_table();
                    if !table.is_empty() {
                        let _ = make_writer.make_writer().write_all(table.as_bytes());
                    }
                    if last {
                        return;
                    }
                }
            })
            .map_err(ConsoleError::Thread)?;
        Ok(ConsoleGuard {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

/// The former name of [`ConsoleGuard`].
#[deprecated(
    since = "0.1.1",
    note = "renamed to ConsoleGuard: every drop guard is named ...Guard"
)]
pub type ConsoleReporter = ConsoleGuard;

/// Prints the table periodically; dropping it prints a last table and stops.
#[derive(Debug)]
pub struct ConsoleGuard {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for ConsoleGuard {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
