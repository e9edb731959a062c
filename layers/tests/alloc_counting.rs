//! The counting allocator, installed as the global allocator of this test
//! binary: exact counts for a known pattern, process totals, the sampler's
//! allocator metrics and the bytes allocated inside pipeline runs.
#![cfg(target_os = "linux")]

use std::hint::black_box;
use std::time::Duration;

use autotel_layers::alloc::{self, CountingAllocator};
use autotel_layers::{SpanResourcesLayer, SystemSampler, catalog};
use autotel_test_support::recorder::AtomicRecorder;
use autotel_test_support::time::wait_until;
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::system();

#[test]
fn a_known_pattern_is_counted_exactly() {
    assert!(alloc::is_installed());
    let mut boxes = Vec::with_capacity(100);
    let before = alloc::thread_stats();
    for i in 0..100u32 {
        boxes.push(black_box(Box::new([i as u8; 1000])));
    }
    let after = alloc::thread_stats();
    assert_eq!(after.allocations() - before.allocations(), 100);
    assert_eq!(
        after.allocated_bytes() - before.allocated_bytes(),
        100 * 1000
    );
    drop(boxes);

    // Growing a vector by reallocation: each realloc counts once, with the
    // new size.
    let before = alloc::thread_stats();
    let mut v: Vec<u8> = Vec::with_capacity(8);
    v.reserve_exact(16);
    black_box(&v);
    let after = alloc::thread_stats();
    assert_eq!(after.allocations() - before.allocations(), 2);
    assert_eq!(after.allocated_bytes() - before.allocated_bytes(), 8 + 16);
}

#[test]
fn process_totals_see_live_and_freed_memory() {
    let before = alloc::process_stats().unwrap();
    let held = black_box(vec![7u8; 4 << 20]);
    let during = alloc::process_stats().unwrap();
    assert!(during.allocations() > before.allocations());
    assert!(during.allocated_bytes() >= before.allocated_bytes() + (4 << 20));
    assert!(during.live_bytes() >= 4 << 20);
    drop(held);
    let after = alloc::process_stats().unwrap();
    assert!(after.allocated_bytes() >= during.allocated_bytes());
}

#[test]
fn the_sampler_publishes_allocator_metrics() {
    let metrics = AtomicRecorder::new();
    let guard = metrics::with_local_recorder(&metrics, || {
        SystemSampler::new()
            .with_interval(Duration::from_millis(5))
            .unwrap()
            .start()
    })
    .unwrap();
    wait_until(|| guard.samples() >= 1);
    let allocations = catalog::PROCESS_ALLOCATIONS_TOTAL.name();
    let bytes = catalog::PROCESS_ALLOCATED_BYTES_TOTAL.name();
    let first_bytes = metrics.value(bytes, &[]).unwrap();
    assert!(metrics.value(allocations, &[]).unwrap() > 0.0);
    assert!(
        metrics
            .value(catalog::PROCESS_HEAP_LIVE_BYTES.name(), &[])
            .unwrap()
            > 0.0
    );
    let held = black_box(vec![1u8; 8 << 20]);
    let samples = guard.samples();
    wait_until(|| guard.samples() > samples + 1);
    assert!(metrics.value(bytes, &[]).unwrap() >= first_bytes + (8 << 20) as f64);
    let live = metrics
        .value(catalog::PROCESS_HEAP_LIVE_BYTES.name(), &[])
        .unwrap();
    assert!(live >= (8 << 20) as f64, "live {live}");
    drop(held);
}

#[test]
fn pipeline_memory_is_the_bytes_allocated_inside_the_run() {
    let metrics = AtomicRecorder::new();
    let subscriber = tracing_subscriber::registry().with(SpanResourcesLayer::new());
    metrics::with_local_recorder(&metrics, || {
        tracing::subscriber::with_default(subscriber, || {
            let run = tracing::info_span!("load", pipeline.name = "load");
            run.in_scope(|| {
                let step = tracing::info_span!("read", step.name = "read");
                step.in_scope(|| drop(black_box(vec![0u8; 1 << 20])));
            });
        });
    });
    let bytes = metrics
        .value(
            catalog::PIPELINE_MEMORY_BYTES.name(),
            &[("pipeline_name", "load")],
        )
        .unwrap();
    // One MiB in the step, plus the little the layers themselves allocate.
    assert!(
        ((1 << 20) as f64..(1 << 20) as f64 + 16_384.0).contains(&bytes),
        "{bytes}"
    );
}

#[test]
fn span_fields_receive_the_allocated_bytes() {
    use std::sync::{Arc, Mutex};
    use tracing::field::{Field, Visit};
    use tracing_subscriber::layer::Context;

    #[derive(Clone, Default)]
    struct Recorded(Arc<Mutex<Vec<(String, String)>>>);
    impl Visit for Recorded {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0
                .lock()
                .unwrap()
                .push((field.name().to_owned(), format!("{value:?}")));
        }
    }
    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recorded {
        fn on_record(
            &self,
            _: &tracing::Id,
            values: &tracing::span::Record<'_>,
            _: Context<'_, S>,
        ) {
            values.record(&mut self.clone());
        }
    }

    let recorded = Recorded::default();
    let subscriber = tracing_subscriber::registry()
        .with(SpanResourcesLayer::new())
        .with(recorded.clone());
    tracing::subscriber::with_default(subscriber, || {
        let step = tracing::info_span!(
            "read",
            step.name = "read",
            allocated_bytes = tracing::field::Empty,
            cpu_time_seconds = tracing::field::Empty,
        );
        step.in_scope(|| drop(black_box(vec![0u8; 5000])));
    });
    let recorded = recorded.0.lock().unwrap();
    let bytes = recorded
        .iter()
        .find(|(name, _)| name == "allocated_bytes")
        .map(|(_, value)| value.parse::<u64>().unwrap())
        .unwrap();
    assert!((5000..5000 + 4096).contains(&bytes), "{bytes}");
    assert!(recorded.iter().any(|(name, _)| name == "cpu_time_seconds"));
}
