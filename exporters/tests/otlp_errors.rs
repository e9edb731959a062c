//! Export failures are readable and counted: HTTP/protobuf sent to a gRPC
//! port (4317) and gRPC sent to an HTTP port are reported once per kind with
//! the signal, the endpoint, the protocol, the cause and a hint, and counted
//! in `autotel_export_errors_total{exporter="otlp", signal, reason}`.
#![cfg(feature = "otlp")]

use std::time::Duration;

use autotel_exporters::otlp::{Otlp, Protocol};
use autotel_test_support::net::{closed_port, forward_on_port};
use autotel_test_support::peers::TestAgent;
use autotel_test_support::recorder::{global_counter_with, snapshotter};
use tracing_subscriber::layer::SubscriberExt;

/// Sends one span to `endpoint` with `protocol` and returns the report.
fn report_of(endpoint: &str, protocol: Protocol) -> String {
    snapshotter();
    let otlp = Otlp::new()
        .with_endpoint(endpoint)
        .expect("a valid endpoint")
        .with_protocol(protocol)
        .with_export_timeout(Duration::from_secs(3))
        .expect("a valid setting")
        .with_logs(false)
        .with_metrics(false)
        .build()
        .expect("the pipeline starts");
    let subscriber = tracing_subscriber::registry().with(otlp.trace_layer());
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("mismatch").entered();
    });
    assert!(otlp.force_flush().is_err(), "the export cannot succeed");
    let report = otlp.last_export_error().expect("a failure is reported");
    let _ = otlp.shutdown();
    println!("{report}");
    report
}

#[test]
fn http_to_the_grpc_port_4317_says_so() {
    let Some(agent) = TestAgent::start() else {
        return;
    };
    let address = forward_on_port(4317, agent.grpc);
    let before = global_counter_with(
        "autotel_export_errors_total",
        &[
            ("exporter", "otlp"),
            ("signal", "traces"),
            ("reason", "protocol"),
        ],
    );
    let report = report_of(&format!("http://{address}"), Protocol::HttpProtobuf);
    let expected = format!(
        "OTLP export of traces to http://{address}/v1/traces over http/protobuf failed (protocol): "
    );
    assert!(report.starts_with(&expected), "{report}");
    assert!(
        report.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"),
        "{report}"
    );
    let after = global_counter_with(
        "autotel_export_errors_total",
        &[
            ("exporter", "otlp"),
            ("signal", "traces"),
            ("reason", "protocol"),
        ],
    );
    assert!(after > before, "counted: {before} -> {after}");
}

#[test]
fn grpc_to_an_http_port_says_so() {
    let Some(agent) = TestAgent::start() else {
        return;
    };
    let report = report_of(&format!("http://{}", agent.http), Protocol::Grpc);
    assert!(report.contains("over grpc failed (protocol): "), "{report}");
    assert!(
        report.contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf"),
        "{report}"
    );
}

#[test]
fn credentials_in_the_endpoint_never_show() {
    let port = closed_port().port();
    let report = report_of(
        &format!("http://user:hunter2@127.0.0.1:{port}"),
        Protocol::HttpProtobuf,
    );
    assert!(!report.contains("hunter2"), "{report}");
    assert!(report.contains("(unavailable)"), "{report}");
    assert!(
        report.contains(&format!("http://[REDACTED]@127.0.0.1:{port}/v1/traces")),
        "{report}"
    );
}
