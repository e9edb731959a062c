//! Once its buffers have grown, `JsonLayer` allocates nothing per event: a
//! counting global allocator shows it (a count, not a timing).

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};

use autotel_layers::{JsonLayer, KeyStyle, SpanFields};
use autotel_test_support::alloc::{TestAllocator, thread_allocations};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: TestAllocator = TestAllocator::new();

/// A destination that counts lines and bytes and keeps nothing.
#[derive(Default)]
struct Counter {
    lines: AtomicUsize,
    bytes: AtomicUsize,
}

impl io::Write for &Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.lines.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(buf.len(), Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for &'static Counter {
    type Writer = &'a Counter;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

fn allocations_per_event(
    configure: impl FnOnce(JsonLayer<&'static Counter>) -> JsonLayer<&'static Counter>,
) -> u64 {
    let counter: &'static Counter = Box::leak(Box::default());
    let layer = configure(
        JsonLayer::new(counter)
            .with_service_name("svc")
            .with_service_version("1.0.0")
            .with_environment("test"),
    );
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut during = 0;
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("pipeline", pipeline.name = "etl", run = 7);
        let _outer = outer.enter();
        let inner = tracing::info_span!("step", step.name = "load", password = "x");
        let _inner = inner.enter();
        let error = io::Error::other("disk full");
        let emit = |i: u64| {
            tracing::info!(
                rows = i,
                ratio = 0.5,
                ok = true,
                table = "orders \"2026\"",
                error = &error as &(dyn std::error::Error + 'static),
                "loaded {} rows into {}",
                i,
                "orders"
            );
        };
        for i in 0..100 {
            emit(i);
        }
        let before = thread_allocations();
        for i in 0..1000 {
            emit(i);
        }
        during = thread_allocations() - before;
    });
    assert_eq!(counter.lines.load(Ordering::Relaxed), 1100);
    assert!(counter.bytes.load(Ordering::Relaxed) > 1100 * 200);
    during
}

#[test]
fn no_allocation_per_event_after_warm_up() {
    assert_eq!(allocations_per_event(|layer| layer), 0);
    assert_eq!(
        allocations_per_event(|layer| layer.with_span_fields(SpanFields::Prefixed)),
        0
    );
    assert_eq!(
        allocations_per_event(|layer| layer.with_key_style(KeyStyle::google_cloud("p"))),
        0
    );
}

#[test]
fn the_counter_sees_allocations() {
    let before = thread_allocations();
    let boxed = std::hint::black_box(Box::new(1u64));
    drop(boxed);
    assert_eq!(thread_allocations() - before, 1);
}
