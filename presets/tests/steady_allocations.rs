//! What the production preset's layers allocate once warm, on the thread that
//! does the work: nothing per log line and nothing per counter increment,
//! with JSON logs, span metrics and the Prometheus recorder on. Counted by a
//! wrapping global allocator, in a child process (the preset installs
//! globals); counts, not timings.

use autotel_test_support::alloc::{TestAllocator, thread_allocations};
use autotel_test_support::child::run_test_in_child;
use tracing::{info, info_span, warn};

#[global_allocator]
static GLOBAL: TestAllocator = TestAllocator::new();

/// Set in the child process.
const CHILD: &str = "AUTOTEL_STEADY_ALLOCATIONS_CHILD";

/// Allocations over 10,000 calls of `work`, after 5,000 to warm up and a
/// scrape.
fn allocations(telemetry: &autotel_presets::TelemetryGuard, work: impl Fn(u64)) -> u64 {
    for i in 0..5_000 {
        work(i);
    }
    telemetry.metrics_text().expect("the Prometheus recorder");
    let before = thread_allocations();
    for i in 0..10_000 {
        work(i);
    }
    thread_allocations() - before
}

#[test]
#[ignore = "run by the test below, in a child process"]
fn child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let telemetry = autotel_presets::production("steady")
        .prometheus_port(0)
        .without_system_metrics()
        .init();
    let span = info_span!("handle_order", order_id = 7u64);
    let _entered = span.enter();
    let lines = allocations(&telemetry, |i| {
        info!(rows = i, table = "orders", ratio = 0.25, "loaded rows");
        warn!(attempt = 2u64, error = "timeout", "retrying the write");
    });
    let counters = allocations(&telemetry, |_| {
        metrics::counter!("orders_total", "region" => "eu", "kind" => "online").increment(1);
    });
    assert_eq!(
        (lines, counters),
        (0, 0),
        "allocations over 10,000 pairs of log lines in a span, and over 10,000 counter increments"
    );
    let scrape = telemetry.metrics_text().unwrap_or_default();
    assert!(scrape.contains("orders_total{"), "{scrape}");
}

#[test]
fn log_lines_and_counters_allocate_nothing_once_warm() {
    run_test_in_child("child", &[(CHILD, "1")], |name| {
        name.starts_with("OTEL_") || autotel_exporters::env::VARIABLES.contains(&name)
    });
}
