//! Headers and compression as the collector sees them (OTLP/HTTP, read on
//! the wire in front of the test agent): `OTEL_EXPORTER_OTLP_HEADERS` is
//! percent-decoded, a header set in code replaces the variable's, each
//! header is sent once, and `gzip` bodies are marked and accepted.
//!
//! The variables are set for a child process (this test binary running only
//! [`child`]), never in the process that runs the other tests.
#![cfg(feature = "otlp")]

use autotel_exporters::otlp::{Otlp, Protocol};
use autotel_test_support::child::run_test_in_child;
use autotel_test_support::net::capture_forward;
use autotel_test_support::otlp::items;
use autotel_test_support::peers::{TestAgent, peer_bin};
use tracing_subscriber::layer::SubscriberExt;

/// Set in the child process.
const CHILD: &str = "AUTOTEL_HEADERS_CHILD";

#[test]
#[ignore = "run by the other test of this file, in a child process"]
fn child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let (address, sent) = capture_forward(agent.http);
    let otlp = Otlp::new()
        .with_endpoint(format!("http://{address}"))
        .expect("a valid endpoint")
        .with_protocol(Protocol::HttpProtobuf)
        .with_header("X-Api-Key", "from-code")
        .with_logs(false)
        .with_metrics(false)
        .build()
        .expect("the pipeline starts");
    let subscriber = tracing_subscriber::registry().with(otlp.trace_layer());
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("with_headers").entered();
    });
    otlp.force_flush()
        .unwrap_or_else(|error| panic!("{error}: {:?}", otlp.last_export_error()));
    agent.received("traces", |v| {
        items(v, "spans", "spans")
            .iter()
            .any(|(_, span)| span["name"] == "with_headers")
    });
    let wire = String::from_utf8_lossy(&sent.lock().expect("the capture")).to_ascii_lowercase();
    let head = wire.split("\r\n\r\n").next().unwrap_or("").to_owned();
    assert!(head.starts_with("post /v1/traces http/1.1"), "{head}");
    assert_eq!(head.matches("x-api-key:").count(), 1, "{head}");
    assert!(head.contains("x-api-key: from-code"), "{head}");
    assert!(head.contains("x-team: payments team"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    otlp.shutdown().expect("a clean shutdown");
}

#[test]
fn headers_from_the_variable_and_code_reach_the_collector_once() {
    if peer_bin("AUTOTEL_TEST_AGENT_BIN").is_none() {
        return;
    }
    run_test_in_child(
        "child",
        &[
            (CHILD, "1"),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "x-api-key=from-env,x-team=payments%20team",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "gzip"),
        ],
        |_| false,
    );
}
