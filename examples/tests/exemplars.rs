//! From a latency bucket to its trace, with real peers: the http_service
//! example in production exports traces and metrics by OTLP/HTTP to Datadog's
//! test agent and serves `/metrics`; a real Prometheus with exemplar storage
//! scrapes it (in the OpenMetrics format, as it asks). The trace ids of the
//! exemplars Prometheus keeps for the request and span duration histograms
//! are traces the OTLP receiver got, and so are those of the exemplars on
//! the OTLP histogram data points.

use std::collections::BTreeSet;

use autotel_test_support::examples::Service;
use autotel_test_support::http::get;
use autotel_test_support::otlp::{base64_to_hex, items};
use autotel_test_support::peers::{PrometheusPeer, TestAgent};

#[test]
fn exemplars_in_prometheus_and_otlp_lead_to_exported_traces() {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let endpoint = format!("http://{}", agent.http);
    let service = Service::http(&[
        ("OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
        ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "500"),
    ]);
    for id in 0..5 {
        let response = get(service.address, &format!("/users/{id}")).expect("an answer");
        assert_eq!(response.status, 200);
    }
    let Some(mut prometheus) = PrometheusPeer::start_with_exemplars(service.metrics) else {
        return;
    };

    let trace_ids = |found: &[(serde_json::Value, serde_json::Value, f64)]| -> BTreeSet<String> {
        found
            .iter()
            .filter_map(|(_, labels, _)| labels["trace_id"].as_str().map(str::to_owned))
            .collect()
    };
    let requests = prometheus.exemplars(
        "http_server_request_duration_seconds_bucket{http_route=\"/users/{id}\"}",
        |found| !found.is_empty(),
    );
    let spans = prometheus.exemplars("span_duration_seconds_bucket", |found| !found.is_empty());
    let mut wanted = trace_ids(&requests);
    wanted.extend(trace_ids(&spans));
    assert!(wanted.iter().all(|id| id.len() == 32), "{wanted:?}");
    for (_, labels, _) in requests.iter().chain(&spans) {
        assert_eq!(
            labels["span_id"].as_str().map(str::len),
            Some(16),
            "{labels}"
        );
    }

    // Every trace an exemplar names reached the OTLP receiver.
    let traces = agent.received("traces", |v| wanted.is_subset(&exported_ids(v)));
    let exported = exported_ids(&traces);
    assert!(
        wanted.is_subset(&exported),
        "{wanted:?} not in {exported:?}"
    );

    // The OTLP histogram data points carry exemplars of exported traces too.
    let metrics = agent.received("metrics", |v| {
        items(v, "metrics", "metrics").iter().any(|(_, m)| {
            m["name"] == "http.server.request.duration"
                && m["histogram"]["data_points"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|p| p["exemplars"].as_array().is_some_and(|e| !e.is_empty()))
        })
    });
    let otlp_ids: BTreeSet<String> = items(&metrics, "metrics", "metrics")
        .iter()
        .filter(|(_, m)| m["name"] == "http.server.request.duration")
        .flat_map(|(_, m)| {
            m["histogram"]["data_points"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .flat_map(|p| p["exemplars"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["trace_id"].as_str().map(base64_to_hex))
        .collect();
    assert!(!otlp_ids.is_empty());
    let traces = agent.received("traces", |v| otlp_ids.is_subset(&exported_ids(v)));
    assert!(otlp_ids.is_subset(&exported_ids(&traces)));
    drop(service);
}

/// The trace ids (hex) of the spans the receiver got.
fn exported_ids(traces: &serde_json::Value) -> BTreeSet<String> {
    items(traces, "spans", "spans")
        .iter()
        .filter_map(|(_, span)| span["trace_id"].as_str().map(base64_to_hex))
        .collect()
}
