//! One redaction rule for every output of the preset: the JSON log fields
//! and the span metrics dimensions, including those of a layer given to it.

use autotel_presets::autotel_layers::SpanMetricsLayer;
use autotel_presets::autotel_layers::redact::{REDACTED, Redaction};

#[test]
fn the_preset_redaction_hides_log_fields_and_metric_labels() {
    let span_metrics = SpanMetricsLayer::new()
        .with_dimension("customer_iban")
        .unwrap()
        .with_dimension("api_key")
        .unwrap()
        .with_dimension("tenant")
        .unwrap()
        .with_redaction(Redaction::none());
    let telemetry = autotel_presets::testing("redaction")
        .span_metrics_layer(span_metrics)
        .redaction(Redaction::default().with_name("iban"))
        .init();
    {
        let _span = tracing::info_span!(
            "pay",
            customer_iban = "FR76 3000 6000",
            api_key = "sk-live-1",
            tenant = "acme"
        )
        .entered();
        // A label recorded through the facade passes the same rule on its
        // way to /metrics.
        autotel_presets::metrics::counter!("payments_total", "customer_iban" => "FR76 9999")
            .increment(1);
        tracing::info!(
            password = "hunter2",
            iban = "DE89 3704",
            amount = 12,
            "paid"
        );
    }

    let logs = telemetry.captured_logs();
    let paid: serde_json::Value = logs
        .iter()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .find(|line| line["message"] == "paid")
        .expect("the paid line");
    let data = &paid["data"];
    assert_eq!(data["password"], REDACTED, "{paid}");
    assert_eq!(data["iban"], REDACTED, "the preset's own name: {paid}");
    assert_eq!(data["customer_iban"], REDACTED, "{paid}");
    assert_eq!(data["api_key"], REDACTED, "{paid}");
    assert_eq!(data["tenant"], "acme");
    assert_eq!(data["amount"], 12);

    let run = telemetry.captured().expect("the testing preset captures");
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[
                ("span_name", "pay"),
                ("customer_iban", REDACTED),
                ("api_key", REDACTED),
                ("tenant", "acme")
            ]
        ),
        1,
        "the preset's rule replaces the layer's"
    );
    let text = telemetry.metrics_text().expect("Prometheus in memory");
    assert!(
        text.contains(r#"payments_total{customer_iban="[REDACTED]"} 1"#),
        "{text}"
    );
    for secret in ["FR76", "sk-live", "hunter2", "DE89"] {
        assert!(!text.contains(secret), "{secret} in /metrics:\n{text}");
        assert!(
            logs.iter().all(|line| !line.contains(secret)),
            "{secret} in the logs"
        );
    }
}
