//! One `metrics` recorder that sends every call to several recorders.
//!
//! Built on [`metrics_util::layers::Fanout`]. Use it to export the same
//! metrics to Prometheus and OTLP (and later StatsD, CloudWatch) at once:
//! each recorder gets every description and every registration, and each
//! handle returned to the program updates all of them.
//!
//! ```no_run
//! # #[cfg(all(feature = "prometheus", feature = "otlp"))] {
//! use autotel_exporters::fanout::Fanout;
//! use autotel_exporters::otlp::Otlp;
//! use autotel_exporters::prometheus::Prometheus;
//!
//! let (prometheus, _server) = Prometheus::new().build()?;
//! let otlp = Otlp::new().build()?;
//! Fanout::new()
//!     .with_recorder(prometheus)
//!     .with_recorder(otlp.metrics_recorder().expect("metrics are on by default"))
//!     .install()?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::layers::{Fanout as UpstreamFanout, FanoutBuilder};

/// A global `metrics` recorder was installed before.
#[derive(Debug, thiserror::Error)]
#[error(
    "a global metrics recorder is already installed; install the fan-out recorder once, at start-up"
)]
pub struct FanoutError;

/// Builder of a [`FanoutRecorder`].
#[derive(Debug, Default)]
pub struct Fanout {
    builder: FanoutBuilder,
    len: usize,
}

impl Fanout {
    /// A fan-out to no recorder yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a recorder that receives every call. Defaults to no recorders.
    #[must_use]
    pub fn with_recorder<R>(mut self, recorder: R) -> Self
    where
        R: Recorder + Sync + 'static,
    {
        self.builder = self.builder.add_recorder(recorder);
        self.len += 1;
        self
    }

    /// Builds the recorder and installs it as the global `metrics` recorder.
    ///
    /// # Errors
    ///
    /// [`FanoutError`] when a global recorder is already installed.
    pub fn install(self) -> Result<(), FanoutError> {
        metrics::set_global_recorder(self.build()).map_err(|_| FanoutError)
    }

    /// Builds the recorder without installing it.
    pub fn build(self) -> FanoutRecorder {
        FanoutRecorder {
            inner: self.builder.build(),
            len: self.len,
        }
    }
}

/// A `metrics` recorder that forwards to several recorders.
#[derive(Debug)]
pub struct FanoutRecorder {
    inner: UpstreamFanout,
    len: usize,
}

impl FanoutRecorder {
    /// How many recorders receive the calls.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no recorder receives the calls.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Recorder for FanoutRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.inner.register_counter(key, metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.inner.register_gauge(key, metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.inner.register_histogram(key, metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::DebuggingRecorder;

    #[test]
    fn every_recorder_sees_every_call() {
        let first = DebuggingRecorder::new();
        let second = DebuggingRecorder::new();
        let (a, b) = (first.snapshotter(), second.snapshotter());
        let fanout = Fanout::new()
            .with_recorder(first)
            .with_recorder(second)
            .build();
        assert_eq!(fanout.len(), 2);
        metrics::with_local_recorder(&fanout, || {
            metrics::counter!("span_calls_total", "span_name" => "x").increment(3);
            metrics::histogram!("span_duration_seconds").record(0.5);
        });
        for snapshot in [a.snapshot(), b.snapshot()] {
            let values: Vec<_> = snapshot
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| (key.key().name().to_owned(), format!("{value:?}")))
                .collect();
            assert!(
                values.contains(&("span_calls_total".into(), "Counter(3)".into())),
                "{values:?}"
            );
            assert!(
                values.contains(&("span_duration_seconds".into(), "Histogram([0.5])".into())),
                "{values:?}"
            );
        }
    }
}
