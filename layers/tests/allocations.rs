//! Heap use of `SpanMetricsLayer`, counted by a wrapping global allocator:
//! no allocation per span once warm, and bounded memory whatever the number of
//! distinct dimension values. Counts, not timings.

// A global allocator is unsafe to implement; this one only forwards to the
// system allocator and counts, per thread.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use autotel_layers::SpanMetricsLayer;
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use tracing::{error, info, info_span};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
    static LIVE_BYTES: Cell<i64> = const { Cell::new(0) };
}

fn note(allocations: u64, bytes: i64) {
    // `try_with` fails only while the thread is being torn down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + allocations));
    let _ = LIVE_BYTES.try_with(|c| c.set(c.get() + bytes));
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as i64);
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(1, layout.size() as i64);
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        note(0, -(layout.size() as i64));
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(1, new_size as i64 - layout.size() as i64);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

fn live_bytes() -> i64 {
    LIVE_BYTES.with(Cell::get)
}

/// A recorder whose handles record without allocating: counters and gauges
/// are atomics, histograms keep a count and a sum.
#[derive(Default)]
struct AtomicRecorder {
    series: Mutex<HashMap<Key, Arc<Series>>>,
}

#[derive(Default)]
struct Series {
    value: AtomicU64,
    count: AtomicU64,
}

impl CounterFn for Series {
    fn increment(&self, value: u64) {
        self.value.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.value.fetch_max(value, Ordering::Relaxed);
    }
}

impl GaugeFn for Series {
    fn increment(&self, value: f64) {
        self.set(f64::from_bits(self.value.load(Ordering::Relaxed)) + value);
    }
    fn decrement(&self, value: f64) {
        GaugeFn::increment(self, -value);
    }
    fn set(&self, value: f64) {
        self.value.store(value.to_bits(), Ordering::Relaxed);
    }
}

impl HistogramFn for Series {
    fn record(&self, _value: f64) {
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

impl AtomicRecorder {
    fn series(&self, key: &Key) -> Arc<Series> {
        Arc::clone(self.series.lock().unwrap().entry(key.clone()).or_default())
    }

    fn len(&self) -> usize {
        self.series.lock().unwrap().len()
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.series
            .lock()
            .unwrap()
            .iter()
            .filter(|(key, _)| {
                key.name() == name
                    && labels
                        .iter()
                        .all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
            })
            .map(|(_, series)| {
                series.value.load(Ordering::Relaxed) + series.count.load(Ordering::Relaxed)
            })
            .sum()
    }
}

impl Recorder for AtomicRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(self.series(key))
    }
    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::from_arc(self.series(key))
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(self.series(key))
    }
}

/// Allocations per call of `work` after `warm_up` calls, over `calls` calls.
fn allocations_per_call(layer: Option<SpanMetricsLayer>, work: impl Fn(usize)) -> (u64, u64) {
    let recorder = AtomicRecorder::default();
    let subscriber = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || {
            for i in 0..2_000 {
                work(i);
            }
            let before = allocations();
            for i in 0..10_000 {
                work(i);
            }
            (
                allocations() - before,
                recorder.value("span_calls_total", &[]),
            )
        })
    })
}

#[test]
fn the_floor_allocates_nothing_per_span() {
    let (allocated, _) = allocations_per_call(None, |_| {
        let _span = info_span!("work", field = 1u64).entered();
    });
    assert_eq!(allocated, 0);
}

#[test]
fn a_plain_span_allocates_nothing_once_warm() {
    let (allocated, calls) = allocations_per_call(Some(SpanMetricsLayer::new()), |_| {
        let _span = info_span!("work", field = 1u64).entered();
    });
    assert_eq!(allocated, 0);
    assert_eq!(calls, 12_000, "and every span was recorded");
}

#[test]
fn errors_and_dimensions_allocate_nothing_once_warm() {
    let layer = SpanMetricsLayer::new().with_dimension("tenant").unwrap();
    let tenants = ["acme", "globex", "initech"];
    let (allocated, calls) = allocations_per_call(Some(layer), |i| {
        let _span = info_span!("request", tenant = tenants[i % 3]).entered();
        if i % 10 == 0 {
            error!(error.type = "timeout", "failed");
        }
    });
    assert_eq!(allocated, 0);
    assert_eq!(calls, 12_000);
}

#[test]
fn pipeline_runs_and_steps_allocate_nothing_once_warm() {
    let (allocated, calls) = allocations_per_call(Some(SpanMetricsLayer::new()), |i| {
        let _run = info_span!("run", pipeline.name = "etl").entered();
        let _step = info_span!("step", step.name = "load").entered();
        info!(items_processed = 10u64, cost_usd = 0.01, "loaded");
        if i % 100 == 0 {
            error!("step failed");
        }
    });
    assert_eq!(allocated, 0);
    assert_eq!(calls, 24_000);
}

#[test]
fn memory_stays_bounded_with_a_million_distinct_values() {
    const SPANS: usize = 1_000_000;
    let layer = SpanMetricsLayer::new().with_dimension("user_id").unwrap();
    let recorder = AtomicRecorder::default();
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut live_after_warm_up = 0;
    tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || {
            for i in 0..SPANS {
                if i == 20_000 {
                    live_after_warm_up = live_bytes();
                }
                let _span = info_span!("lookup", user_id = i).entered();
            }
        });
    });
    let growth = live_bytes() - live_after_warm_up;
    assert!(
        growth < 64 * 1024,
        "live heap grew by {growth} bytes over 980k distinct values"
    );
    let cap = autotel_layers::span_metrics::DEFAULT_MAX_SERIES;
    assert_eq!(
        recorder.value("span_calls_total", &[]),
        SPANS as u64,
        "nothing lost"
    );
    assert_eq!(
        recorder.value("span_calls_total", &[("otel_metric_overflow", "true")]),
        (SPANS - cap) as u64
    );
    assert_eq!(
        recorder.value(
            "autotel_series_overflow_total",
            &[("metric", "span_calls_total")]
        ),
        (SPANS - cap) as u64
    );
    // Own series of calls and durations, their overflow series, and the
    // overflow counters.
    assert!(
        recorder.len() <= 2 * (cap + 1) + 2,
        "{} series",
        recorder.len()
    );
}
