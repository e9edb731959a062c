//! An incoming `traceparent` that says "sampled" cannot force tracing on:
//! with `OTEL_TRACES_SAMPLER=always_off` (or `traceidratio` at 0) nothing is
//! exported, while `parentbased_always_off` follows the parent, as the
//! OpenTelemetry specification says.
#![cfg(feature = "otlp")]

use std::collections::HashMap;

use autotel_exporters::otlp::{Otlp, Protocol, Sampling};
use autotel_test_support::otlp::{base64_to_hex, items};
use autotel_test_support::peers::TestAgent;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

/// Handles one request whose `traceparent` names `trace_id`, sampled,
/// under `sampler`.
fn handle_request(agent: &TestAgent, sampler: &str, arg: Option<&str>, trace_id: &str) {
    let otlp = Otlp::new()
        .with_endpoint(format!("http://{}", agent.http))
        .expect("a valid endpoint")
        .with_protocol(Protocol::HttpProtobuf)
        .with_sampling(Sampling::parse(sampler, arg).expect("a valid sampler"))
        .with_logs(false)
        .with_metrics(false)
        .build()
        .expect("the pipeline starts");
    let headers = HashMap::from([(
        "traceparent".to_owned(),
        format!("00-{trace_id}-00f067aa0ba902b7-01"),
    )]);
    let parent = TraceContextPropagator::new().extract(&headers);
    let subscriber = tracing_subscriber::registry().with(otlp.trace_layer());
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request", sampler);
        request.set_parent(parent).expect("the layer is installed");
        let _request = request.enter();
        let _child = tracing::info_span!("query").entered();
    });
    otlp.shutdown().expect("a clean shutdown");
}

#[test]
fn a_sampled_traceparent_does_not_force_tracing_on() {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let refused = [
        ("always_off", None, "4bf92f3577b34da6a3ce929d0e0e4731"),
        (
            "TRACEIDRATIO",
            Some("0"),
            "4bf92f3577b34da6a3ce929d0e0e4732",
        ),
    ];
    for (sampler, arg, trace_id) in refused {
        handle_request(&agent, sampler, arg, trace_id);
    }
    let followed = "4bf92f3577b34da6a3ce929d0e0e4733";
    handle_request(&agent, "parentbased_always_off", None, followed);

    let trace_ids = |v: &serde_json::Value| -> Vec<String> {
        items(v, "spans", "spans")
            .iter()
            .map(|(_, s)| base64_to_hex(s["trace_id"].as_str().unwrap_or("")))
            .collect()
    };
    let received = agent.received("traces", |v| {
        trace_ids(v).iter().filter(|id| *id == followed).count() == 2
    });
    let ids = trace_ids(&received);
    for (sampler, _, trace_id) in refused {
        assert!(
            !ids.iter().any(|id| id == trace_id),
            "{sampler} exported a trace its sampled parent asked for: {ids:?}"
        );
    }
}
