//! Exemplars on the OTLP histogram data points: a span recorded through
//! `SpanMetricsLayer` beside the OpenTelemetry trace layer gives its ids to
//! the `span_duration_seconds` data point, and a real OTLP receiver (Datadog's
//! test agent) gets them with the ids of the span it received, over
//! OTLP/HTTP and gRPC; a failed gRPC metrics export is reported as the
//! others are.
#![cfg(feature = "otlp")]

use std::time::Duration;

use autotel_exporters::otlp::{Otlp, OtlpGuard, Protocol};
use autotel_layers::SpanMetricsLayer;
use autotel_test_support::net::closed_port;
use autotel_test_support::otlp::{base64_to_hex, items};
use autotel_test_support::peers::TestAgent;
use tracing_subscriber::layer::SubscriberExt;

/// A pipeline to `agent` over `protocol` (with or without exemplars) that
/// has exported one `checkout` span through `SpanMetricsLayer` and the trace
/// layer; the `span_duration_seconds` metric the agent received.
fn one_span(
    agent: &mut TestAgent,
    protocol: Protocol,
    exemplars: bool,
) -> (OtlpGuard, serde_json::Value) {
    let address = match protocol {
        Protocol::Grpc => agent.grpc,
        _ => agent.http,
    };
    let otlp = Otlp::new()
        .with_endpoint(format!("http://{address}"))
        .expect("a valid endpoint")
        .with_protocol(protocol)
        .with_exemplars(exemplars)
        .build()
        .expect("the pipeline starts");
    let recorder = otlp.metrics_recorder().expect("metrics are on");
    // The span metrics layer closes the span before the trace layer does,
    // while the OpenTelemetry ids can still be read.
    let subscriber = tracing_subscriber::registry()
        .with(SpanMetricsLayer::new())
        .with(otlp.trace_layer());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            let _checkout = tracing::info_span!("checkout").entered();
        });
    });
    otlp.force_flush().expect("the agent accepts everything");
    let metrics = agent.received("metrics", |v| {
        items(v, "metrics", "metrics")
            .iter()
            .any(|(_, m)| m["name"] == "span_duration_seconds")
    });
    let duration = items(&metrics, "metrics", "metrics")
        .into_iter()
        .find(|(_, m)| m["name"] == "span_duration_seconds")
        .map(|(_, m)| m)
        .expect("the histogram");
    (otlp, duration)
}

/// The exemplar of the `checkout` span's data point names the span the
/// agent received over `protocol`.
fn data_points_carry_the_ids_of_an_exported_span(protocol: Protocol) {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let (otlp, duration) = one_span(&mut agent, protocol, true);
    let traces = agent.received("traces", |v| !items(v, "spans", "spans").is_empty());
    let spans = items(&traces, "spans", "spans");
    let (_, span) = spans
        .iter()
        .find(|(_, span)| span["name"] == "checkout")
        .unwrap_or_else(|| panic!("no span in {traces}"));
    let hex = |value: &serde_json::Value| base64_to_hex(value.as_str().unwrap_or(""));

    let point = &duration["histogram"]["data_points"][0];
    let exemplars = point["exemplars"].as_array().expect("exemplars");
    assert_eq!(exemplars.len(), 1, "{duration}");
    let exemplar = &exemplars[0];
    assert_eq!(
        hex(&exemplar["trace_id"]),
        hex(&span["trace_id"]),
        "{exemplar}"
    );
    assert_eq!(
        hex(&exemplar["span_id"]),
        hex(&span["span_id"]),
        "{exemplar}"
    );
    let value = exemplar["as_double"].as_f64().expect("a value");
    assert!(
        value >= 0.0 && value <= point["sum"].as_f64().unwrap_or(0.0),
        "{point}"
    );
    assert!(
        exemplar["time_unix_nano"]
            .as_str()
            .is_some_and(|t| t.len() >= 19),
        "{exemplar}"
    );
    otlp.shutdown().expect("a clean shutdown");
}

#[test]
fn histogram_data_points_carry_the_ids_of_an_exported_span() {
    data_points_carry_the_ids_of_an_exported_span(Protocol::HttpProtobuf);
}

#[test]
fn histogram_data_points_carry_the_ids_of_an_exported_span_over_grpc() {
    data_points_carry_the_ids_of_an_exported_span(Protocol::Grpc);
}

/// Without exemplars, the data points the agent received over `protocol`
/// have none.
fn data_points_have_none_when_off(protocol: Protocol) {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let (otlp, duration) = one_span(&mut agent, protocol, false);
    let point = &duration["histogram"]["data_points"][0];
    assert!(
        point["exemplars"].as_array().is_none_or(Vec::is_empty),
        "{duration}"
    );
    otlp.shutdown().expect("a clean shutdown");
}

#[test]
fn without_exemplars_the_data_points_have_none() {
    data_points_have_none_when_off(Protocol::HttpProtobuf);
}

#[test]
fn without_exemplars_the_data_points_have_none_over_grpc() {
    data_points_have_none_when_off(Protocol::Grpc);
}

#[test]
fn a_failed_grpc_metrics_export_is_counted_and_reported() {
    let otlp = Otlp::new()
        .with_endpoint(format!("http://{}", closed_port()))
        .expect("a valid endpoint")
        .with_protocol(Protocol::Grpc)
        .with_traces(false)
        .with_logs(false)
        .with_export_timeout(Duration::from_millis(100))
        .expect("a valid setting")
        .build()
        .expect("the pipeline starts even though nothing listens");
    let recorder = otlp.metrics_recorder().expect("metrics are on");
    metrics::with_local_recorder(&recorder, || {
        metrics::histogram!("span_duration_seconds", "span_name" => "checkout").record(0.5);
    });
    assert!(otlp.force_flush().is_err(), "nothing listens");
    assert!(otlp.stats().export_errors() >= 1, "{:?}", otlp.stats());
    let report = otlp.last_export_error().expect("the failure is reported");
    assert!(
        report.starts_with("OTLP export of metrics to http://127.0.0.1:"),
        "{report}"
    );
    // Refused, or (on a loaded machine) out of time retrying after refusals.
    assert!(
        report.contains("over grpc failed (unavailable)")
            || report.contains("over grpc failed (timeout)"),
        "{report}"
    );
    let _ = otlp.shutdown();
}
