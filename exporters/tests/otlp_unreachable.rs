//! A collector that is down, or that accepts connections and never answers,
//! neither blocks nor breaks the program: what cannot be sent is dropped and
//! counted, and shutdown gives up after its timeout.
#![cfg(feature = "otlp")]

use std::net::SocketAddr;
use std::time::Duration;

use autotel_exporters::otlp::{Otlp, OtlpError, OtlpGuard, Protocol};
use autotel_test_support::net::{black_hole, closed_port};
use autotel_test_support::recorder::{global_counter, global_counter_with, snapshotter};
use tracing_subscriber::layer::SubscriberExt;

fn pipeline(endpoint: SocketAddr, protocol: Protocol) -> Otlp {
    snapshotter();
    Otlp::new()
        .with_endpoint(format!("http://{endpoint}"))
        .expect("a valid endpoint")
        .with_protocol(protocol)
        .with_queue_size(10)
        .expect("a valid setting")
        .with_metrics(false)
}

fn emit(otlp: &OtlpGuard, n: usize) {
    let subscriber = tracing_subscriber::registry()
        .with(otlp.trace_layer())
        .with(otlp.log_layer());
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..n {
            let _span = tracing::info_span!("work", i).entered();
            tracing::info!(i, "step");
        }
    });
}

fn closed_port_counts_export_errors(protocol: Protocol) {
    // Exports give up (after retries) well before a flush does.
    let otlp = pipeline(closed_port(), protocol)
        .with_export_timeout(Duration::from_millis(100))
        .expect("a valid setting")
        .build()
        .expect("the pipeline starts even though nothing listens");
    emit(&otlp, 5);
    let flushed = otlp.force_flush();
    assert!(flushed.is_err(), "a flush to a closed port cannot succeed");
    let stats = otlp.stats();
    assert!(stats.export_errors() >= 1, "{stats:?}");
    assert_eq!(stats.dropped_spans(), 5, "{stats:?}");
    assert_eq!(stats.dropped_logs(), 5, "{stats:?}");
    // Refused, or (on a loaded machine) out of time retrying after refusals.
    let counted = |reason| {
        let labels = [
            ("exporter", "otlp"),
            ("signal", "traces"),
            ("reason", reason),
        ];
        global_counter_with("autotel_export_errors_total", &labels)
    };
    assert!(counted("unavailable") + counted("timeout") >= 1);
    let report = otlp.last_export_error().expect("the failure is reported");
    assert!(
        report.contains("failed (unavailable)") || report.contains("failed (timeout)"),
        "{report}"
    );
    assert!(global_counter("autotel_dropped_total", "reason", "export_failed") >= 10);
    // The program goes on: more telemetry is accepted and shutdown returns.
    emit(&otlp, 5);
    let _ = otlp.shutdown();
}

#[test]
fn closed_port_over_grpc() {
    closed_port_counts_export_errors(Protocol::Grpc);
}

#[test]
fn closed_port_over_http() {
    closed_port_counts_export_errors(Protocol::HttpProtobuf);
}

fn silent_receiver_drops_beyond_the_queue_and_shutdown_gives_up(protocol: Protocol) {
    let otlp = pipeline(black_hole(), protocol)
        .with_shutdown_timeout(Duration::from_millis(500))
        .expect("a valid setting")
        .build()
        .expect("the pipeline starts");
    emit(&otlp, 1000);
    // Ten spans wait for an export that never ends; the rest did not fit.
    let stats = otlp.stats();
    assert!(stats.dropped_spans() >= 990, "{stats:?}");
    assert!(stats.dropped_logs() >= 990, "{stats:?}");
    let queue_full = global_counter("autotel_dropped_total", "reason", "queue_full");
    assert!(queue_full >= 1980, "{queue_full} {stats:?}");
    match otlp.shutdown() {
        Err(OtlpError::Timeout { action, timeout }) => {
            assert_eq!(action, "shutdown");
            assert_eq!(timeout, Duration::from_millis(500));
        }
        other => panic!("shutdown against a silent receiver returned {other:?}"),
    }
}

#[test]
fn silent_receiver_over_grpc() {
    silent_receiver_drops_beyond_the_queue_and_shutdown_gives_up(Protocol::Grpc);
}

#[test]
fn silent_receiver_over_http() {
    silent_receiver_drops_beyond_the_queue_and_shutdown_gives_up(Protocol::HttpProtobuf);
}
