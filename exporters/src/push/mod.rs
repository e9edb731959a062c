//! One in-process aggregation for every exporter that pushes metrics on an
//! interval: StatsD, DogStatsD and the Datadog API (and any
//! [`PushExporter`] of your own).
//!
//! The [`PushRecorder`] is a `metrics` recorder whose hot path is an atomic
//! add (counters), an atomic store (gauges) or a short lock on a per-series
//! buffer (histograms): no system call, no allocation in steady state. A
//! thread reads it once per interval (10 s by default) into one
//! [`Snapshot`], which every exporter then sends from a thread of its own,
//! so the cost of recording does not grow with the number of exporters.
//!
//! Histograms keep, per series and interval, their exact count, sum, minimum
//! and maximum, and up to a budget of their values (1,000 by default),
//! chosen uniformly past the budget; exporters that send values one by one
//! (StatsD timers, DogStatsD distributions) send the kept ones with their
//! sample rate, so the receiver's counts stay right.
//!
//! Compose the recorder with others with [`crate::fanout`]:
//!
//! ```no_run
//! # #[cfg(all(feature = "statsd", feature = "prometheus"))] {
//! use autotel_exporters::fanout::Fanout;
//! use autotel_exporters::prometheus::Prometheus;
//! use autotel_exporters::push::Push;
//! use autotel_exporters::statsd::StatsD;
//!
//! let (prometheus, _server) = Prometheus::new().build()?;
//! let (push, _push) = Push::new()
//!     .with_exporter(StatsD::dogstatsd().build()?)
//!     .build()?;
//! Fanout::new().with_recorder(prometheus).with_recorder(push).install()?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod exporter;
mod recorder;
mod reservoir;
mod snapshot;
mod worker;

pub use exporter::{ExportError, PushExporter};
pub use recorder::PushRecorder;
pub use reservoir::Distribution;
pub use snapshot::{Series, Snapshot, Value};
pub use worker::PushGuard;

use std::time::Duration;

use autotel_layers::redact::Redaction;

use crate::env::InvalidSetting;

/// How often the recorder is read and its snapshot sent, by default.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(10);
/// How many values of one histogram series are kept per interval, by default.
pub const DEFAULT_HISTOGRAM_BUDGET: usize = 1_000;
/// How many label sets one metric name may have, by default.
pub const DEFAULT_MAX_SERIES: usize = 2_000;
/// How long dropping the guard waits for the last snapshot to leave, by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Builder of the push recorder and the thread that reads it.
pub struct Push {
    interval: Duration,
    budget: usize,
    max_series: usize,
    shutdown_timeout: Duration,
    redaction: Redaction,
    exporters: Vec<Box<dyn PushExporter>>,
}

impl std::fmt::Debug for Push {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.exporters.iter().map(|e| e.name()).collect();
        f.debug_struct("Push")
            .field("interval", &self.interval)
            .field("histogram_budget", &self.budget)
            .field("max_series", &self.max_series)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("exporters", &names)
            .finish_non_exhaustive()
    }
}

impl Default for Push {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            budget: DEFAULT_HISTOGRAM_BUDGET,
            max_series: DEFAULT_MAX_SERIES,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            redaction: Redaction::default(),
            exporters: Vec::new(),
        }
    }
}

impl Push {
    /// A push recorder with the defaults and no exporter yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sends a snapshot every `interval`. Defaults to [`DEFAULT_INTERVAL`].
    ///
    /// # Errors
    ///
    /// When `interval` is under one millisecond.
    pub fn with_interval(mut self, interval: Duration) -> Result<Self, InvalidSetting> {
        if interval < Duration::from_millis(1) {
            return Err(InvalidSetting::new(
                "Push::with_interval",
                format!("{interval:?}"),
                "is shorter than 1 ms; give an interval of at least 1 ms",
            ));
        }
        self.interval = interval;
        Ok(self)
    }

    /// Keeps up to `budget` values of each histogram series per interval.
    /// Defaults to [`DEFAULT_HISTOGRAM_BUDGET`].
    ///
    /// # Errors
    ///
    /// When `budget` is 0.
    pub fn with_histogram_budget(mut self, budget: usize) -> Result<Self, InvalidSetting> {
        if budget == 0 {
            return Err(InvalidSetting::new(
                "Push::with_histogram_budget",
                "0",
                "keeps no value; give a budget of at least 1",
            ));
        }
        self.budget = budget;
        Ok(self)
    }

    /// Gives each metric name at most `max` label sets. Defaults to
    /// [`DEFAULT_MAX_SERIES`].
    ///
    /// # Errors
    ///
    /// When `max` is 0.
    pub fn with_max_series(mut self, max: usize) -> Result<Self, InvalidSetting> {
        if max == 0 {
            return Err(InvalidSetting::new(
                "Push::with_max_series",
                "0",
                "allows no series; give a cap of at least 1",
            ));
        }
        self.max_series = max;
        Ok(self)
    }

    /// How long dropping the guard waits for the last snapshot to leave.
    /// Defaults to [`DEFAULT_SHUTDOWN_TIMEOUT`].
    #[must_use]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Replaces the values of labels whose names `redaction` matches with
    /// `[REDACTED]`. Defaults to [`Redaction::default`].
    #[must_use]
    pub fn with_redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Adds an exporter that gets every snapshot.
    #[must_use]
    pub fn with_exporter(mut self, exporter: impl PushExporter) -> Self {
        self.exporters.push(Box::new(exporter));
        self
    }

    /// How many exporters get the snapshots.
    pub fn exporters(&self) -> usize {
        self.exporters.len()
    }

    /// Builds the recorder and starts the threads that read it and export.
    ///
    /// # Errors
    ///
    /// When the operating system refuses a thread.
    pub fn build(self) -> Result<(PushRecorder, PushGuard), std::io::Error> {
        let recorder = PushRecorder::new(self.budget, self.max_series, self.redaction);
        let guard = worker::start(
            recorder.clone(),
            self.interval,
            self.shutdown_timeout,
            self.exporters,
        )?;
        Ok((recorder, guard))
    }
}
