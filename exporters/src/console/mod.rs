//! Development output on the console: finished spans with their durations,
//! indented by nesting, and a periodic table of metrics.
//!
//! ```no_run
//! use std::time::Duration;
//! use autotel_exporters::console::{ConsoleLayer, ConsoleMetrics};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let _table = ConsoleMetrics::new().with_interval(Duration::from_secs(10))?.install()?;
//! let subscriber = tracing_subscriber::registry().with(ConsoleLayer::new());
//! tracing::subscriber::with_default(subscriber, || {
//!     let _run = tracing::info_span!("nightly_etl").entered();
//!     let _step = tracing::info_span!("extract").entered();
//! });
//! # Ok::<(), autotel_exporters::console::ConsoleError>(())
//! ```
//!
//! prints, on standard error:
//!
//! ```text
//!   extract 1.20ms
//! nightly_etl 1.31ms
//! ```

mod layer;
mod recorder;
mod table;

pub use layer::{Clock, ConsoleLayer};
pub use recorder::{ConsoleRecorder, Summary};
#[allow(deprecated)]
pub use table::ConsoleReporter;
pub use table::{ConsoleGuard, ConsoleMetrics};

/// The table reporter could not be started or installed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConsoleError {
    /// A global `metrics` recorder was installed before.
    #[error(
        "a global metrics recorder is already installed; start the table on a ConsoleRecorder with ConsoleMetrics::start and combine recorders with Fanout"
    )]
    RecorderAlreadySet,
    /// A setting was given a value it cannot take.
    #[error("{setting}='{value}' {reason}")]
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// The value given, as text.
        value: String,
        /// What is wrong with it and what would be accepted.
        reason: &'static str,
    },
    /// The reporting thread could not be started.
    #[error("cannot start the console metrics thread: {0}")]
    Thread(std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::layer::format_duration;
    use super::*;

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use autotel_test_support::writer::Sink;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn finished_spans_are_indented_with_durations() {
        let buffer = Sink::new();
        let ticks = Arc::new(AtomicU64::new(0));
        let clock_ticks = ticks.clone();
        // Each reading of the clock is 1.5 ms after the previous one.
        let clock: Clock = Arc::new(move || {
            Duration::from_micros(1500 * clock_ticks.fetch_add(1, Ordering::Relaxed))
        });
        let layer = ConsoleLayer::new()
            .with_clock(clock)
            .with_writer(buffer.clone());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            let _run = tracing::info_span!("nightly_etl").entered();
            drop(tracing::info_span!("extract").entered());
            let _load = tracing::info_span!("load").entered();
            drop(tracing::info_span!("write_rows").entered());
        });
        let text = buffer.text();
        assert_eq!(
            text,
            "  extract 1.50ms\n    write_rows 1.50ms\n  load 4.50ms\nnightly_etl 10.5ms\n"
        );
    }

    #[test]
    fn metrics_table_is_sorted_and_aligned() {
        let recorder = ConsoleRecorder::default();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("span_calls_total", "span_name" => "charge", "status" => "ok")
                .increment(3);
            metrics::gauge!("active_pipelines").set(2.0);
            metrics::histogram!("span_duration_seconds", "span_name" => "charge").record(0.5);
            metrics::histogram!("span_duration_seconds", "span_name" => "charge").record(1.5);
        });
        assert_eq!(
            recorder.render_table(),
            "metric                 labels                      value\n\
             active_pipelines                                   2\n\
             span_calls_total       span_name=charge,status=ok  3\n\
             span_duration_seconds  span_name=charge            count=2 mean=1.000000 max=1.500000\n"
        );
        assert_eq!(ConsoleRecorder::default().render_table(), "");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(format_duration(Duration::from_nanos(950)), "950ns");
        assert_eq!(format_duration(Duration::from_micros(12)), "12.0µs");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(3)), "3.00s");
    }

    #[test]
    fn a_zero_interval_is_refused_with_the_setting_named() {
        let error = ConsoleMetrics::new()
            .with_interval(Duration::ZERO)
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "ConsoleMetrics::with_interval='0ns' is not a printing interval: give a duration above zero, such as 10s"
        );
        assert!(
            ConsoleMetrics::new()
                .with_interval(Duration::from_millis(1))
                .is_ok()
        );
    }
}
