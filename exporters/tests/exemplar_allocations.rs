//! Exemplars add no allocation to recording once a series has its
//! reservoirs: counted with autotel's own counting allocator, with an
//! OpenMetrics scrape between rounds that restarts every reservoir. (The
//! upstream histogram allocates a block of samples now and then between
//! upkeeps, with or without exemplars: the same count both ways.)
#![cfg(feature = "prometheus")]

use autotel_exporters::prometheus::Prometheus;
use autotel_layers::alloc::{CountingAllocator, thread_stats};
use autotel_layers::exemplar::{Exemplar, with_exemplar};
use autotel_layers::{SpanId, TraceId};
use metrics::{Key, Label, Metadata, Recorder};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::system();

const METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

#[test]
fn steady_state_recording_with_exemplars_allocates_nothing() {
    let recorder = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("a recorder");
    let labels = vec![
        Label::new("span_name", "checkout"),
        Label::new("status", "ok"),
    ];
    let histogram =
        recorder.register_histogram(&Key::from_parts("span_duration_seconds", labels), &METADATA);
    let handle = recorder.handle();
    let record = |n: u64, with: bool| {
        for i in 0..n {
            let exemplar = Exemplar::new(
                TraceId::from_u128(u128::from(i) + 1),
                SpanId::from_u64(i + 1),
            );
            // Values across every bucket, +Inf included.
            let value = (i % 40) as f64 / 4.0;
            with_exemplar(with.then_some(exemplar), || histogram.record(value));
        }
    };
    record(1000, true);
    let scrape = handle.render_openmetrics();
    assert!(scrape.contains("le=\"+Inf\"} "), "{scrape}");
    assert!(scrape.contains(" # {trace_id=\""), "{scrape}");

    // The allocator counts this thread's allocations.
    let before = thread_stats().allocations();
    drop(std::hint::black_box(vec![0_u8; 64]));
    assert_eq!(thread_stats().allocations() - before, 1);

    let round = |with: bool| {
        handle.run_upkeep();
        let _ = handle.render_openmetrics();
        let before = thread_stats().allocations();
        record(10_000, with);
        thread_stats().allocations() - before
    };
    for _ in 0..3 {
        let without = round(false);
        let with = round(true);
        assert_eq!(with, without, "allocations with exemplars and without");
    }
}
