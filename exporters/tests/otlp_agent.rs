//! All three signals reach a real OTLP receiver (Datadog's test agent) over
//! gRPC and over HTTP/protobuf, with names, attributes and resource intact.
#![cfg(feature = "otlp")]

use autotel_exporters::ServiceInfo;
use autotel_exporters::otlp::{Otlp, OtlpGuard, Protocol};
use autotel_test_support::otlp::{attribute, base64_to_hex, items};
use autotel_test_support::peers::TestAgent;
use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;

fn pipeline(agent: &TestAgent, protocol: Protocol) -> OtlpGuard {
    let endpoint = match protocol {
        Protocol::Grpc => format!("http://{}", agent.grpc),
        _ => format!("http://{}", agent.http),
    };
    Otlp::new()
        .with_endpoint(endpoint)
        .expect("a valid endpoint")
        .with_protocol(protocol)
        .with_service(
            ServiceInfo::new("checkout")
                .with_version("2.3.4")
                .with_environment("testing"),
        )
        .with_resource_attribute("team", "payments")
        .build()
        .expect("the pipeline starts")
}

fn assert_resource(resource: &Value) {
    let attributes = &resource["attributes"];
    assert_eq!(
        attribute(attributes, "service.name").as_deref(),
        Some("checkout"),
        "{resource}"
    );
    assert_eq!(
        attribute(attributes, "service.version").as_deref(),
        Some("2.3.4")
    );
    assert_eq!(
        attribute(attributes, "deployment.environment.name").as_deref(),
        Some("testing")
    );
    assert_eq!(attribute(attributes, "team").as_deref(), Some("payments"));
    assert_eq!(
        attribute(attributes, "process.pid").map(|v| v.trim_matches('"').to_owned()),
        Some(std::process::id().to_string())
    );
    assert!(attribute(attributes, "host.name").is_some(), "{resource}");
    assert!(attribute(attributes, "host.arch").is_some(), "{resource}");
}

fn all_signals_arrive(protocol: Protocol) {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let otlp = pipeline(&agent, protocol);
    let subscriber = tracing_subscriber::registry()
        .with(otlp.trace_layer())
        .with(otlp.log_layer());
    tracing::subscriber::with_default(subscriber, || {
        let checkout = tracing::info_span!("checkout", order_id = 42);
        let _checkout = checkout.enter();
        let charge = tracing::info_span!("charge", provider = "acme");
        let _charge = charge.enter();
        tracing::info!(amount = 12, currency = "EUR", "charged the card");
    });
    let recorder = otlp.metrics_recorder().expect("metrics are on");
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("span_calls_total", "span_name" => "checkout", "status" => "ok")
            .increment(3);
        metrics::histogram!("span_duration_seconds", "span_name" => "checkout", "status" => "ok")
            .record(0.2);
        metrics::gauge!("pipeline_cost_usd_total", "pipeline_name" => "etl").set(0.5);
    });
    otlp.force_flush().expect("the agent accepts everything");

    // Traces: names, attributes, parentage, resource.
    let traces = agent.received("traces", |v| items(v, "spans", "spans").len() >= 2);
    let spans = items(&traces, "spans", "spans");
    let find = |name: &str| {
        spans
            .iter()
            .find(|(_, span)| span["name"] == name)
            .unwrap_or_else(|| panic!("no span {name} in {traces}"))
    };
    let (resource, checkout) = find("checkout");
    let (_, charge) = find("charge");
    assert_resource(resource);
    assert!(
        attribute(&checkout["attributes"], "order_id").is_some_and(|v| v.trim_matches('"') == "42"),
        "{checkout}"
    );
    assert_eq!(
        attribute(&charge["attributes"], "provider").as_deref(),
        Some("acme")
    );
    assert_eq!(charge["trace_id"], checkout["trace_id"]);
    assert_eq!(charge["parent_span_id"], checkout["span_id"]);
    let trace_id = base64_to_hex(checkout["trace_id"].as_str().expect("a trace id"));
    assert_eq!(trace_id.len(), 32, "{trace_id}");

    // Logs: body, attributes, severity, and the trace of the span around them.
    let logs = agent.received("logs", |v| !items(v, "logs", "log_records").is_empty());
    let records = items(&logs, "logs", "log_records");
    let (resource, record) = records
        .iter()
        .find(|(_, r)| r["body"]["string_value"] == "charged the card")
        .unwrap_or_else(|| panic!("no log record in {logs}"));
    assert_resource(resource);
    assert_eq!(record["severity_text"], "INFO", "{record}");
    assert_eq!(
        attribute(&record["attributes"], "currency").as_deref(),
        Some("EUR")
    );
    assert!(
        attribute(&record["attributes"], "amount").is_some_and(|v| v.trim_matches('"') == "12"),
        "{record}"
    );
    assert_eq!(
        base64_to_hex(record["trace_id"].as_str().unwrap_or("")),
        trace_id
    );
    assert_eq!(record["span_id"], charge["span_id"]);

    // Metrics: a counter, a histogram with our buckets, a fractional counter.
    let wanted = [
        "span_calls_total",
        "span_duration_seconds",
        "pipeline_cost_usd_total",
    ];
    let metrics = agent.received("metrics", |v| {
        let names: Vec<_> = items(v, "metrics", "metrics")
            .into_iter()
            .filter_map(|(_, m)| m["name"].as_str().map(str::to_owned))
            .collect();
        wanted.iter().all(|w| names.iter().any(|n| n == w))
    });
    let metrics = items(&metrics, "metrics", "metrics");
    let metric = |name: &str| {
        metrics
            .iter()
            .rev()
            .find(|(_, m)| m["name"] == name)
            .map(|(r, m)| (r.clone(), m.clone()))
            .expect("the metric arrived")
    };
    let (resource, calls) = metric("span_calls_total");
    assert_resource(&resource);
    let point = &calls["sum"]["data_points"][0];
    assert_eq!(calls["sum"]["is_monotonic"], true, "{calls}");
    assert_eq!(point["as_int"], "3", "{calls}");
    assert_eq!(
        attribute(&point["attributes"], "span_name").as_deref(),
        Some("checkout")
    );
    let (_, duration) = metric("span_duration_seconds");
    let point = &duration["histogram"]["data_points"][0];
    assert_eq!(duration["unit"], "s", "{duration}");
    assert_eq!(
        point["explicit_bounds"].as_array().map(Vec::len),
        Some(autotel_exporters::buckets::SECONDS.len()),
        "{duration}"
    );
    let (_, cost) = metric("pipeline_cost_usd_total");
    assert_eq!(cost["sum"]["is_monotonic"], true, "{cost}");
    assert_eq!(cost["sum"]["data_points"][0]["as_double"], 0.5, "{cost}");

    otlp.shutdown().expect("a clean shutdown");
}

#[test]
fn all_signals_arrive_over_grpc() {
    all_signals_arrive(Protocol::Grpc);
}

#[test]
fn all_signals_arrive_over_http_protobuf() {
    all_signals_arrive(Protocol::HttpProtobuf);
}
