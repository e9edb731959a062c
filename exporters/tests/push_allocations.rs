//! Recording into the push recorder allocates nothing once a series exists
//! and its histogram buffer has grown to its usual size: counted with
//! autotel's own counting allocator, whatever exporter reads it.
#![cfg(feature = "statsd")]

use std::net::UdpSocket;
use std::time::Duration;

use autotel_exporters::push::Push;
use autotel_exporters::statsd::StatsD;
use autotel_layers::alloc::{CountingAllocator, thread_stats};
use metrics::{Key, Label, Metadata, Recorder};

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::system();

const METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

#[test]
fn steady_state_recording_allocates_nothing() {
    let agent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = agent.local_addr().unwrap().port();
    let exporter = StatsD::dogstatsd()
        .with_host("127.0.0.1", port)
        .build()
        .unwrap();
    let (recorder, guard) = Push::new().with_exporter(exporter).build().unwrap();
    let labels = vec![
        Label::new("span_name", "checkout"),
        Label::new("status", "ok"),
        Label::new("service", "shop"),
    ];
    let counter =
        recorder.register_counter(&Key::from_parts("calls_total", labels.clone()), &METADATA);
    let histogram =
        recorder.register_histogram(&Key::from_parts("duration_seconds", labels), &METADATA);
    let record = |n: u32| {
        for i in 0..n {
            counter.increment(1);
            histogram.record(f64::from(i) / 1000.0);
        }
    };
    let through_the_facade = |n: u32| {
        metrics::with_local_recorder(&recorder, || {
            for i in 0..n {
                metrics::counter!("calls_total", "span_name" => "checkout", "status" => "ok", "service" => "shop")
                    .increment(1);
                metrics::histogram!("duration_seconds", "span_name" => "checkout", "status" => "ok", "service" => "shop")
                    .record(f64::from(i) / 1000.0);
            }
        });
    };
    // Two intervals past the budget: every buffer has its steady size.
    for _ in 0..2 {
        record(3000);
        through_the_facade(10);
        assert!(guard.flush(Duration::from_secs(20)));
    }

    // The allocator counts this thread's allocations.
    let before = thread_stats().allocations();
    drop(std::hint::black_box(vec![0_u8; 64]));
    assert_eq!(thread_stats().allocations() - before, 1);

    let before = thread_stats().allocations();
    record(10_000);
    assert_eq!(thread_stats().allocations() - before, 0, "through handles");

    let before = thread_stats().allocations();
    through_the_facade(10_000);
    assert_eq!(
        thread_stats().allocations() - before,
        0,
        "through the macros"
    );
}
