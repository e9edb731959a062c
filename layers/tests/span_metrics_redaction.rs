//! Dimensions named like secrets: their values never become label values.

use autotel_layers::SpanMetricsLayer;
use autotel_layers::redact::{REDACTED, Redaction};
use autotel_layers::testing::capture_with;
use tracing::info_span;

#[test]
fn a_dimension_named_like_a_secret_is_recorded_as_redacted() {
    let layer = SpanMetricsLayer::new()
        .with_dimension("tenant")
        .unwrap()
        .with_dimension("api_key")
        .unwrap()
        .with_dimension("session.id")
        .unwrap();
    let run = capture_with(layer, || {
        drop(info_span!(
            "req",
            tenant = "acme",
            api_key = "sk-live-123",
            session.id = 7
        ));
        drop(info_span!("req", tenant = "acme", api_key = "sk-live-456"));
        let later = info_span!(
            "req",
            tenant = "beta",
            api_key = tracing::field::Empty,
            session.id = tracing::field::Empty
        );
        later.record("api_key", "sk-live-789");
        later.record("session.id", "abc");
        drop(later);
    });
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("tenant", "acme"), ("api_key", REDACTED)]
        ),
        2
    );
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[
                ("tenant", "beta"),
                ("api_key", REDACTED),
                ("session_id", REDACTED)
            ]
        ),
        1
    );
    for series in run
        .series("span_calls_total", &[])
        .chain(run.series("span_duration_seconds", &[]))
    {
        for (name, value) in series.labels() {
            assert!(
                !value.contains("sk-live") && value != "abc" && value != "7",
                "{name}={value} leaked: {series:?}"
            );
        }
    }
}

#[test]
fn the_redaction_is_configurable() {
    let layer = SpanMetricsLayer::new()
        .with_dimension("customer_iban")
        .unwrap()
        .with_dimension("api_key")
        .unwrap()
        .with_redaction(Redaction::none().with_name("iban"));
    let run = capture_with(layer, || {
        drop(info_span!(
            "pay",
            customer_iban = "FR76 3000",
            api_key = "public"
        ));
    });
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("customer_iban", REDACTED), ("api_key", "public")]
        ),
        1
    );
}
