//! Secrets and huge values do not leave by OTLP: span attributes, span event
//! attributes and log attributes named like secrets arrive as
//! `"[REDACTED]"`, and a 10 MB field arrives cut to the length limit, over
//! both protocols, as the test agent received them.
#![cfg(feature = "otlp")]

use autotel_exporters::ServiceInfo;
use autotel_exporters::otlp::{DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT, Otlp, Protocol};
use autotel_test_support::otlp::{attribute, items};
use autotel_test_support::peers::TestAgent;
use tracing_subscriber::layer::SubscriberExt;

fn secrets_and_huge_values_are_cut(protocol: Protocol) {
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
        .with_service(ServiceInfo::new("limits"))
        .with_metrics(false)
        .build()
        .expect("the pipeline starts");
    let huge = "é".repeat(5 * 1024 * 1024); // 10 MiB of two-byte characters
    let subscriber = tracing_subscriber::registry()
        .with(otlp.trace_layer())
        .with(otlp.log_layer());
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!(
            "login",
            password = "hunter2",
            user = "alice",
            blob = huge.as_str()
        )
        .entered();
        tracing::info!(
            api_key = "k-123",
            authorization = "Bearer abc",
            blob = huge.as_str(),
            rows = 3,
            "logged in"
        );
    });
    otlp.force_flush()
        .unwrap_or_else(|error| panic!("{error}: {:?}", otlp.last_export_error()));
    let cut = "é".repeat(DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT / 2);

    let traces = agent.received("traces", |v| {
        items(v, "spans", "spans")
            .iter()
            .any(|(_, s)| s["name"] == "login")
    });
    let spans = items(&traces, "spans", "spans");
    let (_, span) = spans
        .iter()
        .find(|(_, s)| s["name"] == "login")
        .expect("the span");
    let attributes = &span["attributes"];
    assert_eq!(
        attribute(attributes, "password").as_deref(),
        Some("[REDACTED]")
    );
    assert_eq!(attribute(attributes, "user").as_deref(), Some("alice"));
    assert_eq!(attribute(attributes, "blob").as_deref(), Some(cut.as_str()));
    let text = traces.to_string();
    assert!(
        !text.contains("hunter2") && !text.contains("k-123"),
        "a secret left"
    );
    assert!(text.len() < 1024 * 1024, "{} bytes of traces", text.len());

    let logs = agent.received("logs", |v| {
        items(v, "logs", "log_records")
            .iter()
            .any(|(_, r)| r["body"]["string_value"] == "logged in")
    });
    let records = items(&logs, "logs", "log_records");
    let (_, record) = records
        .iter()
        .find(|(_, r)| r["body"]["string_value"] == "logged in")
        .expect("the record");
    let attributes = &record["attributes"];
    assert_eq!(
        attribute(attributes, "api_key").as_deref(),
        Some("[REDACTED]")
    );
    assert_eq!(
        attribute(attributes, "authorization").as_deref(),
        Some("[REDACTED]")
    );
    assert_eq!(attribute(attributes, "blob").as_deref(), Some(cut.as_str()));
    assert!(
        attribute(attributes, "rows").is_some_and(|v| v.trim_matches('"') == "3"),
        "{record}"
    );
    let text = logs.to_string();
    assert!(
        !text.contains("Bearer abc") && !text.contains("k-123"),
        "a secret left"
    );

    // The span's blob, its event's blob and the log record's blob.
    assert!(otlp.stats().truncated_values() >= 3, "{:?}", otlp.stats());
    otlp.shutdown().expect("a clean shutdown");
}

#[test]
fn secrets_and_huge_values_are_cut_over_grpc() {
    secrets_and_huge_values_are_cut(Protocol::Grpc);
}

#[test]
fn secrets_and_huge_values_are_cut_over_http() {
    secrets_and_huge_values_are_cut(Protocol::HttpProtobuf);
}
