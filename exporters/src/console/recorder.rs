//! The recorder that keeps the metrics the table prints.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use metrics::{
    Counter, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder, SharedString, Unit,
};
use metrics_util::registry::{Registry, Storage};

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
