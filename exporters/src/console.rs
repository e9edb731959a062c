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

use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_util::registry::{Registry, Storage};
use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The time source of [`ConsoleLayer`]: time elapsed since some fixed start.
pub type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

fn system_clock() -> Clock {
    let start = Instant::now();
    Arc::new(move || start.elapsed())
}

/// A layer that prints each span when it closes, with the time since it was
/// created, indented by two spaces per parent.
pub struct ConsoleLayer<W = fn() -> std::io::Stderr> {
    make_writer: W,
    clock: Clock,
}

impl std::fmt::Debug for ConsoleLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleLayer").finish_non_exhaustive()
    }
}

impl Default for ConsoleLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleLayer {
    /// A layer that writes to standard error.
    pub fn new() -> Self {
        Self {
            make_writer: std::io::stderr,
            clock: system_clock(),
        }
    }
}

impl<W> ConsoleLayer<W> {
    /// Writes to `make_writer` instead. Defaults to standard error.
    #[must_use]
    pub fn with_writer<W2>(self, make_writer: W2) -> ConsoleLayer<W2>
    where
        W2: for<'w> MakeWriter<'w> + 'static,
    {
        ConsoleLayer {
            make_writer,
            clock: self.clock,
        }
    }

    /// Reads time from `clock` (for tests). Defaults to the monotonic system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

/// When a span was created, kept in its extensions.
struct Started(Duration);

impl<S, W> Layer<S> for ConsoleLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started((self.clock)()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(started) = span.extensions().get::<Started>().map(|s| s.0) else {
            return;
        };
        let elapsed = (self.clock)().saturating_sub(started);
        let depth = span.scope().skip(1).count();
        let line = format!(
            "{:indent$}{} {}\n",
            "",
            span.name(),
            format_duration(elapsed),
            indent = depth * 2
        );
        let _ = self.make_writer.make_writer().write_all(line.as_bytes());
    }
}

/// A duration with three significant digits and a unit people read at a glance.
fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos() as f64;
    let (value, unit) = if nanos < 1e3 {
        (nanos, "ns")
    } else if nanos < 1e6 {
        (nanos / 1e3, "µs")
    } else if nanos < 1e9 {
        (nanos / 1e6, "ms")
    } else {
        (nanos / 1e9, "s")
    };
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.decimals$}{unit}")
}

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

/// Count, sum and maximum of a histogram.
#[derive(Debug, Clone, Default)]
pub struct Summary(Arc<SummaryInner>);

#[derive(Debug, Default)]
struct SummaryInner {
    count: AtomicU64,
    sum: AtomicU64,
    max: AtomicU64,
}

impl HistogramFn for Summary {
    fn record(&self, value: f64) {
        let inner = &self.0;
        inner.count.fetch_add(1, Ordering::Relaxed);
        let _ = inner
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + value).to_bits())
            });
        let _ = inner
            .max
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                (value > f64::from_bits(bits)).then_some(value.to_bits())
            });
    }
}

/// Storage of the console recorder.
#[derive(Debug, Default)]
struct ConsoleStorage;

impl Storage<Key> for ConsoleStorage {
    type Counter = Arc<AtomicU64>;
    type Gauge = Arc<AtomicU64>;
    type Histogram = Summary;

    fn counter(&self, _: &Key) -> Self::Counter {
        Arc::default()
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::default()
    }

    fn histogram(&self, _: &Key) -> Self::Histogram {
        Summary::default()
    }
}

/// A `metrics` recorder that keeps current values for the console table.
#[derive(Clone)]
pub struct ConsoleRecorder {
    registry: Arc<Registry<Key, ConsoleStorage>>,
}

impl std::fmt::Debug for ConsoleRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleRecorder").finish_non_exhaustive()
    }
}

impl Default for ConsoleRecorder {
    fn default() -> Self {
        Self {
            registry: Arc::new(Registry::new(ConsoleStorage)),
        }
    }
}

fn labels(key: &Key) -> String {
    key.labels()
        .map(|l| format!("{}={}", l.key(), l.value().escape_debug()))
        .collect::<Vec<_>>()
        .join(",")
}

impl ConsoleRecorder {
    /// The current values as an aligned table, sorted by name and labels;
    /// empty when nothing was recorded.
    pub fn render_table(&self) -> String {
        let mut rows: Vec<(String, String, String)> = Vec::new();
        self.registry.visit_counters(|key, counter| {
            let value = counter.load(Ordering::Relaxed).to_string();
            rows.push((key.name().to_owned(), labels(key), value));
        });
        self.registry.visit_gauges(|key, gauge| {
            let value = f64::from_bits(gauge.load(Ordering::Relaxed)).to_string();
            rows.push((key.name().to_owned(), labels(key), value));
        });
        self.registry.visit_histograms(|key, summary| {
            let count = summary.0.count.load(Ordering::Relaxed);
            let sum = f64::from_bits(summary.0.sum.load(Ordering::Relaxed));
            let max = f64::from_bits(summary.0.max.load(Ordering::Relaxed));
            let mean = if count == 0 { 0.0 } else { sum / count as f64 };
            let value = format!("count={count} mean={mean:.6} max={max:.6}");
            rows.push((key.name().to_owned(), labels(key), value));
        });
        if rows.is_empty() {
            return String::new();
        }
        rows.sort();
        let header = ("metric".to_owned(), "labels".to_owned(), "value".to_owned());
        let name_width = rows
            .iter()
            .map(|r| r.0.chars().count())
            .max()
            .unwrap_or(0)
            .max(6);
        let label_width = rows
            .iter()
            .map(|r| r.1.chars().count())
            .max()
            .unwrap_or(0)
            .max(6);
        let mut out = String::new();
        for (name, labels, value) in std::iter::once(header).chain(rows) {
            let _ = writeln!(out, "{name:name_width$}  {labels:label_width$}  {value}");
        }
        out
    }
}

impl Recorder for ConsoleRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |c| Counter::from_arc(c.clone()))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |g| Gauge::from_arc(g.clone()))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry
            .get_or_create_histogram(key, |h| Histogram::from_arc(Arc::new(h.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buffer {
        type Writer = Buffer;

        fn make_writer(&'a self) -> Buffer {
            self.clone()
        }
    }

    #[test]
    fn finished_spans_are_indented_with_durations() {
        let buffer = Buffer::default();
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
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
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
