//! The `trace_id` and `span_id` in our JSON log line are the ids that the
//! OTLP receiver got for the same span.
#![cfg(feature = "otlp")]

use autotel_exporters::otlp::{Otlp, Protocol};
use autotel_layers::JsonLayer;
use autotel_test_support::otlp::{base64_to_hex, items};
use autotel_test_support::peers::TestAgent;
use autotel_test_support::writer::Sink;
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

fn log_line_ids_match_exported_span(protocol: Protocol) {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let endpoint = match protocol {
        Protocol::Grpc => agent.grpc,
        _ => agent.http,
    };
    let otlp = Otlp::new()
        .with_endpoint(format!("http://{endpoint}"))
        .expect("a valid endpoint")
        .with_protocol(protocol)
        .with_logs(false)
        .with_metrics(false)
        .build()
        .expect("the pipeline starts");
    let lines = Sink::new();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLayer::new(lines.clone()).with_service_name("checkout"))
        .with(otlp.trace_layer());
    tracing::subscriber::with_default(subscriber, || {
        let _outer = tracing::info_span!("settle_order").entered();
        let _inner = tracing::info_span!("write_ledger").entered();
        tracing::info!(rows = 3, "ledger written");
    });
    otlp.force_flush().expect("the agent accepts the spans");

    let written = lines.text();
    let line: Value = written
        .lines()
        .find(|l| l.contains("ledger written"))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .unwrap_or_else(|| panic!("no log line in {written:?}"));
    let trace_id = line["trace_id"].as_str().expect("a trace_id").to_owned();
    let span_id = line["span_id"].as_str().expect("a span_id").to_owned();

    let traces = agent.received("traces", |v| v.to_string().contains("write_ledger"));
    let exported = items(&traces, "spans", "spans")
        .into_iter()
        .map(|(_, span)| span)
        .rfind(|span| span["name"] == "write_ledger")
        .unwrap_or_else(|| panic!("write_ledger not in {traces}"));
    assert_eq!(
        base64_to_hex(exported["trace_id"].as_str().unwrap_or("")),
        trace_id,
        "{line}\n{exported}"
    );
    assert_eq!(
        base64_to_hex(exported["span_id"].as_str().unwrap_or("")),
        span_id,
        "{line}\n{exported}"
    );
    otlp.shutdown().expect("a clean shutdown");
}

#[test]
fn json_log_ids_match_the_span_exported_over_grpc() {
    log_line_ids_match_exported_span(Protocol::Grpc);
}

#[test]
fn json_log_ids_match_the_span_exported_over_http() {
    log_line_ids_match_exported_span(Protocol::HttpProtobuf);
}
