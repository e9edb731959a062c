//! Reading metrics recorded by the sampler and the span resource layer.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};

/// A recorder whose handles are shared atomics, readable from any thread
/// without draining them.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<HashMap<Key, Arc<Series>>>,
}

#[derive(Default)]
struct Series {
    bits: AtomicU64,
    is_gauge: std::sync::atomic::AtomicBool,
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
    fn record(&self, _value: f64) {}
}

impl Recorder for Metrics {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key, false))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.series(key, true))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key, false))
    }
}

impl Metrics {
    pub fn new() -> Self {
        Self::default()
    }

    fn series(&self, key: &Key, is_gauge: bool) -> Arc<Series> {
        let series = Arc::clone(self.series.lock().unwrap().entry(key.clone()).or_default());
        series.is_gauge.store(is_gauge, Ordering::Relaxed);
        series
    }

    /// The value of the series `name` with exactly `labels`, as a number.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let series = self.series.lock().unwrap();
        let (_, series) = series.iter().find(|(key, _)| {
            key.name() == name
                && key.labels().count() == labels.len()
                && labels
                    .iter()
                    .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })?;
        let bits = series.bits.load(Ordering::Relaxed);
        Some(if series.is_gauge.load(Ordering::Relaxed) {
            f64::from_bits(bits)
        } else {
            bits as f64
        })
    }

    /// Names of every series registered so far.
    pub fn names(&self) -> Vec<String> {
        let series = self.series.lock().unwrap();
        series.keys().map(|key| key.name().to_owned()).collect()
    }
}

/// Waits until `done` holds; polls, so it asserts nothing about time.
pub fn wait_until(mut done: impl FnMut() -> bool) {
    while !done() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Keeps the calling thread busy on the CPU for `cpu` of its own CPU time.
pub fn burn_cpu(cpu: Duration) {
    let start = cpu_time::thread_nanos();
    let mut x = 0u64;
    while cpu_time::thread_nanos() - start < cpu.as_nanos() as u64 {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    std::hint::black_box(x);
}

pub mod cpu_time {
    /// CPU time of the calling thread in nanoseconds, from the first field
    /// of `/proc/thread-self/schedstat` (time spent on the CPU).
    pub fn thread_nanos() -> u64 {
        let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
        stat.split_ascii_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    }
}
