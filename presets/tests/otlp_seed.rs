//! The first seed's own configuration: `OTLP_ENDPOINT=http://127.0.0.1:4317`,
//! `SERVICE_NAME`, `ENVIRONMENT=production` and no `OTEL_*` variable deliver
//! traces, logs and metrics over gRPC (port 4317 means gRPC); an HTTP port
//! (4318) with no protocol variable delivers them over HTTP/protobuf.
//!
//! Each case runs the program in a child process (this test binary, running
//! only [`child`]) with exactly those variables, since telemetry is global.
//! The receiver is the test agent behind a forwarder listening on port 4317
//! (or 4318) of the first loopback address where that port is free.

use std::net::SocketAddr;

use autotel_test_support::child::run_test_in_child;
use autotel_test_support::net::forward_on_port;
use autotel_test_support::otlp::{attribute, items};
use autotel_test_support::peers::TestAgent;

/// Set in the child process.
const CHILD: &str = "AUTOTEL_SEED_CHILD";

/// The program under test: the seed's one line, a span, an event, a metric.
#[test]
#[ignore = "run by the other tests of this file, in a child process"]
fn child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let telemetry = autotel_presets::from_env("fallback-name").init();
    {
        let _span = tracing::info_span!("seed_span", order_id = 7).entered();
        tracing::info!(rows = 3, "seed event");
    }
    metrics::counter!("seed_orders_total").increment(2);
    drop(telemetry);
}

/// Runs [`child`] with the seed's variables and `OTLP_ENDPOINT=endpoint`,
/// and no `OTEL_*` or other autotel variable; what it printed.
fn run_child(endpoint: &str, service: &str) -> String {
    let ours = [
        "SERVICE_",
        "ENVIRONMENT",
        "PROMETHEUS_",
        "JSON_LOGS",
        "LOG_LEVEL",
        "RUST_LOG",
    ];
    run_test_in_child(
        "child",
        &[
            (CHILD, "1"),
            ("OTLP_ENDPOINT", endpoint),
            ("SERVICE_NAME", service),
            ("ENVIRONMENT", "production"),
            // Production serves /metrics on 9464, which may be taken here.
            ("PROMETHEUS_PORT", "0"),
        ],
        |name| name.starts_with("OTEL_") || ours.iter().any(|p| name.starts_with(p)),
    )
}

fn service_of(resource: &serde_json::Value) -> Option<String> {
    attribute(&resource["attributes"], "service.name")
}

fn everything_arrives(port: u16, to: fn(&TestAgent) -> SocketAddr, protocol: &str) {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let address = forward_on_port(port, to(&agent));
    let service = format!("seed-{port}");
    let printed = run_child(&format!("http://{address}"), &service);
    // The start-up line says which protocol the port chose.
    let destination = format!("\"otlp_destination\":\"{protocol} http://{address}\"");
    assert!(
        printed.contains(&destination),
        "no {destination} in\n{printed}"
    );
    let ours = |resource: &serde_json::Value| service_of(resource).as_deref() == Some(&service);
    agent.received("traces", |v| {
        items(v, "spans", "spans")
            .iter()
            .any(|(r, span)| ours(r) && span["name"] == "seed_span")
    });
    agent.received("logs", |v| {
        items(v, "logs", "log_records")
            .iter()
            .any(|(r, record)| ours(r) && record["body"]["string_value"] == "seed event")
    });
    let metrics = agent.received("metrics", |v| {
        items(v, "metrics", "metrics")
            .iter()
            .any(|(r, metric)| ours(r) && metric["name"] == "seed_orders_total")
    });
    let (resource, _) = items(&metrics, "metrics", "metrics")
        .into_iter()
        .find(|(r, _)| ours(r))
        .expect("a metric of the service");
    assert_eq!(
        attribute(&resource["attributes"], "deployment.environment.name").as_deref(),
        Some("production"),
        "{resource}"
    );
}

#[test]
fn seed_variables_on_port_4317_deliver_over_grpc() {
    everything_arrives(4317, |agent| agent.grpc, "grpc");
}

#[test]
fn an_http_port_without_protocol_variable_delivers_over_http() {
    everything_arrives(4318, |agent| agent.http, "http/protobuf");
}
