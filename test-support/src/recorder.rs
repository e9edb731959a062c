//! `metrics` recorders for tests: the one global recorder of a test binary,
//! for what background threads record, and [`AtomicRecorder`], a local one
//! whose values can be read at any time from any thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// The global recorder of this test binary, installed on first use: it
/// receives what threads that no local recorder reaches record (the
/// `autotel_*` counters of pipelines and writers).
///
/// A snapshot drains the counters; tests that share the binary should read
/// them through [`global_counter`] and its kin, which keep running totals.
///
/// # Panics
///
/// When another global recorder was installed first.
pub fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("the only global recorder of this test binary");
        snapshotter
    })
}

/// A counter increase: name, labels, amount.
type Recorded = (String, Vec<(String, String)>, u64);

/// The sum of the global counters `name` with the label `key=value`, since
/// the start. Snapshots drain counters and tests run in parallel, so every
/// snapshot is added to one running total.
pub fn global_counter(name: &str, key: &str, value: &str) -> u64 {
    global_counter_with(name, &[(key, value)])
}

/// [`global_counter`] of the counters carrying all of `labels`.
pub fn global_counter_with(name: &str, labels: &[(&str, &str)]) -> u64 {
    static TOTALS: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());
    let mut totals = TOTALS.lock().unwrap_or_else(PoisonError::into_inner);
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            let labels = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            totals.push((key.key().name().to_owned(), labels, n));
        }
    }
    totals
        .iter()
        .filter(|(n, have, _)| n == name && has_labels(have, labels))
        .map(|(_, _, n)| n)
        .sum()
}

/// The sum of the global counters `name`, whatever their labels.
pub fn global_total(name: &str) -> u64 {
    global_counter_with(name, &[])
}

fn has_labels(have: &[(String, String)], wanted: &[(&str, &str)]) -> bool {
    wanted
        .iter()
        .all(|(key, value)| have.iter().any(|(k, v)| k == key && v == value))
}

/// A recorder whose handles are shared atomics: recording never allocates
/// (only registering a new series does), and values can be read from any
/// thread at any time without draining them.
///
/// Counters keep their total, gauges their value, histograms the number of
/// values recorded.
#[derive(Debug, Default)]
pub struct AtomicRecorder {
    series: Mutex<HashMap<Key, Arc<Series>>>,
}

const COUNTER: u8 = 0;
const GAUGE: u8 = 1;
const HISTOGRAM: u8 = 2;

#[derive(Debug, Default)]
struct Series {
    /// A counter's total, or the bits of a gauge's `f64`.
    bits: AtomicU64,
    /// Values a histogram recorded.
    count: AtomicU64,
    kind: AtomicU8,
}

impl Series {
    fn value(&self) -> f64 {
        let bits = self.bits.load(Ordering::Relaxed);
        match self.kind.load(Ordering::Relaxed) {
            GAUGE => f64::from_bits(bits),
            HISTOGRAM => self.count.load(Ordering::Relaxed) as f64,
            _ => bits as f64,
        }
    }
}

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        self.bits.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.bits.fetch_max(value, Ordering::Relaxed);
    }
}

impl GaugeFn for Series {
    fn increment(&self, value: f64) {
        self.set(f64::from_bits(self.bits.load(Ordering::Relaxed)) + value);
    }

    fn decrement(&self, value: f64) {
        GaugeFn::increment(self, -value);
    }

    fn set(&self, value: f64) {
        self.bits.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl HistogramFn for Series {
    fn record(&self, _value: f64) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl AtomicRecorder {
    /// An empty recorder.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Arc<Series>>> {
        self.series.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn series(&self, key: &Key, kind: u8) -> Arc<Series> {
        let series = Arc::clone(self.lock().entry(key.clone()).or_default());
        series.kind.store(kind, Ordering::Relaxed);
        series
    }

    /// The value of the series `name` with exactly `labels`: a counter's
    /// total, a gauge's value or the number of values of a histogram.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let series = self.lock();
        let (_, series) = series.iter().find(|(key, _)| {
            key.name() == name && key.labels().count() == labels.len() && carries(key, labels)
        })?;
        Some(series.value())
    }

    /// The sum, over the counters and histograms `name` that carry all of
    /// `labels` (and maybe others), of the counters' totals and the number
    /// of values of the histograms.
    pub fn total(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.lock()
            .iter()
            .filter(|(key, _)| key.name() == name && carries(key, labels))
            .map(|(_, series)| match series.kind.load(Ordering::Relaxed) {
                COUNTER => series.bits.load(Ordering::Relaxed),
                HISTOGRAM => series.count.load(Ordering::Relaxed),
                _ => 0,
            })
            .sum()
    }

    /// The number of series registered so far.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no series was registered.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// The names of every series registered so far.
    pub fn names(&self) -> Vec<String> {
        self.lock()
            .keys()
            .map(|key| key.name().to_owned())
            .collect()
    }
}

/// Whether `key` carries every one of `labels`.
fn carries(key: &Key, labels: &[(&str, &str)]) -> bool {
    labels
        .iter()
        .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
}

impl Recorder for AtomicRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key, COUNTER))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.series(key, GAUGE))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key, HISTOGRAM))
    }
}
