//! The builder: settings from code and from the environment.

use super::*;
use std::collections::HashMap;

fn build(otlp: Otlp, vars: &[(&'static str, &str)]) -> Result<OtlpGuard, OtlpError> {
    let vars: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
    otlp.build_with(&|name| Ok(vars.get(name).cloned()))
}

#[test]
fn zero_sizes_and_durations_are_refused_with_the_setter_named() {
    let zero = Duration::ZERO;
    let errors = [
        Otlp::new().with_queue_size(0).unwrap_err(),
        Otlp::new()
            .with_attribute_value_length_limit(0)
            .unwrap_err(),
        Otlp::new().with_export_timeout(zero).unwrap_err(),
        Otlp::new().with_shutdown_timeout(zero).unwrap_err(),
        Otlp::new().with_metrics_interval(zero).unwrap_err(),
    ];
    for error in errors {
        let text = error.to_string();
        assert!(text.starts_with("Otlp::with_"), "{text}");
        assert!(text.contains("='0"), "{text}");
    }
    assert!(Otlp::new().with_queue_size(1).is_ok());
}

#[test]
fn bad_settings_name_the_setting_and_the_value() {
    let err = Otlp::new().with_endpoint("ftp://collector:21").unwrap_err();
    assert!(
        err.to_string()
            .starts_with("Otlp::with_endpoint='ftp://collector:21'"),
        "{err}"
    );
    assert!(Otlp::new().with_endpoint("https://collector:4317").is_ok());
    assert!(Otlp::new().with_endpoint("collector:4317").is_ok());
    let err = Otlp::new().with_sample_ratio(1.5).unwrap_err();
    assert!(
        err.to_string().starts_with("Otlp::with_sample_ratio='1.5'"),
        "{err}"
    );
    let off = Otlp::new()
        .with_traces(false)
        .with_logs(false)
        .with_metrics(false);
    let cases: [(&'static str, &str); 6] = [
        ("OTEL_SDK_DISABLED", "sure"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team=a,=b"),
        ("OTEL_RESOURCE_ATTRIBUTES", "team"),
        ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "-1"),
        ("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "lots"),
    ];
    for (name, value) in cases {
        let error = build(off.clone(), &[(name, value)])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(&format!("{name}='{value}'")), "{error}");
    }
    // Checked even when every signal is off.
    let error = build(
        off.clone(),
        &[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "1.5"),
        ],
    )
    .unwrap_err()
    .to_string();
    assert!(
        error.starts_with("OTEL_TRACES_SAMPLER_ARG='1.5'"),
        "{error}"
    );
}

#[test]
fn debug_output_shows_no_header_value_and_no_url_credentials() {
    let otlp = Otlp::new()
        .with_endpoint("https://user:hunter2@collector.example.com")
        .unwrap()
        .with_header("x-api-key", "s3cret-value");
    let shown = format!("{otlp:?}");
    assert!(shown.contains("x-api-key"), "{shown}");
    let pipeline = build(
        otlp,
        &[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "authorization=Bearer%20env-s3cret",
        )],
    )
    .unwrap();
    let shown = format!("{shown} {pipeline:?}");
    for secret in ["hunter2", "s3cret-value", "env-s3cret"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(
        shown.contains("https://[REDACTED]@collector.example.com"),
        "{shown}"
    );
}

#[test]
fn the_destination_names_the_protocol_each_signal_uses() {
    let otlp = Otlp::new().with_endpoint("http://u:pw@c:4317").unwrap();
    let pipeline = build(otlp.clone(), &[]).unwrap();
    assert_eq!(pipeline.destination(), "grpc http://[REDACTED]@c:4317");
    let pipeline = build(
        Otlp::new(),
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "c:4317"),
        ],
    )
    .unwrap();
    assert_eq!(
        pipeline.destination(),
        "traces: http/protobuf http://c:4318, logs: grpc http://c:4317, metrics: http/protobuf http://c:4318"
    );
    let off = Otlp::new()
        .with_traces(false)
        .with_logs(false)
        .with_metrics(false);
    assert_eq!(build(off, &[]).unwrap().destination(), "off");
}

#[test]
fn sdk_disabled_uses_the_shared_boolean_vocabulary() {
    for value in ["true", "TRUE", "1", "yes", "on"] {
        let pipeline = build(Otlp::new(), &[("OTEL_SDK_DISABLED", value)]).unwrap();
        assert!(pipeline.tracer_provider().is_none(), "{value}");
        assert!(pipeline.metrics_recorder().is_none(), "{value}");
    }
}
