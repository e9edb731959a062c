//! Heap use of `SpanMetricsLayer`, counted by a wrapping global allocator:
//! no allocation per span once warm, and bounded memory whatever the number of
//! distinct dimension values. Counts, not timings.

use autotel_layers::SpanMetricsLayer;
use autotel_test_support::alloc::{TestAllocator, thread_allocations, thread_live_bytes};
use autotel_test_support::recorder::AtomicRecorder;
use tracing::{error, info, info_span};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: TestAllocator = TestAllocator::new();

/// Allocations per call of `work` after `warm_up` calls, over `calls` calls.
fn allocations_per_call(layer: Option<SpanMetricsLayer>, work: impl Fn(usize)) -> (u64, u64) {
    let recorder = AtomicRecorder::new();
    let subscriber = tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(layer);
    tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || {
            for i in 0..2_000 {
                work(i);
            }
            let before = thread_allocations();
            for i in 0..10_000 {
                work(i);
            }
            (
                thread_allocations() - before,
                recorder.total("span_calls_total", &[]),
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
    let recorder = AtomicRecorder::new();
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut live_after_warm_up = 0;
    tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || {
            for i in 0..SPANS {
                if i == 20_000 {
                    live_after_warm_up = thread_live_bytes();
                }
                let _span = info_span!("lookup", user_id = i).entered();
            }
        });
    });
    let growth = thread_live_bytes() - live_after_warm_up;
    assert!(
        growth < 64 * 1024,
        "live heap grew by {growth} bytes over 980k distinct values"
    );
    let cap = autotel_layers::span_metrics::DEFAULT_MAX_SERIES;
    assert_eq!(
        recorder.total("span_calls_total", &[]),
        SPANS as u64,
        "nothing lost"
    );
    assert_eq!(
        recorder.total("span_calls_total", &[("otel_metric_overflow", "true")]),
        (SPANS - cap) as u64
    );
    assert_eq!(
        recorder.total(
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
