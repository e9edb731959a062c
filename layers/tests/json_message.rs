//! The `message` of a line is never empty: the OpenTelemetry SDK's reports
//! about itself keep their text, an event without a message of its own
//! takes its error's text, or else its name. Golden lines.

use autotel_layers::JsonLayer;
use autotel_test_support::time::fixed_time;
use autotel_test_support::writer::Sink;
use tracing_subscriber::prelude::*;

fn layer(sink: &Sink) -> JsonLayer<Sink> {
    JsonLayer::new(sink.clone())
        .with_service_name("svc")
        .with_clock(fixed_time)
}

fn lines(emit: impl FnOnce()) -> Vec<String> {
    let sink = Sink::new();
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer(&sink)), emit);
    sink.lines()
}

fn one_line(emit: impl FnOnce()) -> String {
    let mut lines = lines(emit);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.remove(0)
}

// What `opentelemetry::otel_error!` and `otel_warn!` expand to (their
// `internal-logs` branch, in opentelemetry's `global/internal_logging.rs`):
// an event named after the report, with a `name` field repeating it, in the
// target of the crate that reports (the `cfg` inside those macros is
// evaluated in the calling crate, so they are spelt out here).
macro_rules! sdk_report {
    ($level:ident, $name:literal $(, $key:ident = $value:expr)*) => {
        tracing::$level!(
            name: $name,
            target: "opentelemetry_sdk",
            name = $name,
            $($key = { $value },)*
        )
    };
}

#[test]
fn an_sdk_export_error_takes_its_error_text() {
    // What the OpenTelemetry SDK's periodic reader emits when an export
    // fails: a name and an `error` field, no message.
    let line = one_line(|| {
        sdk_report!(
            error,
            "PeriodicReader.ExportError",
            error = format!(
                "{}",
                "Metrics exporter otlp failed with the grpc server returns error (Unknown error): h2 protocol error"
            )
        );
    });
    assert_eq!(
        line,
        r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"ERROR","logger":"opentelemetry_sdk","message":"Metrics exporter otlp failed with the grpc server returns error (Unknown error): h2 protocol error","service.name":"svc","data":{"name":"PeriodicReader.ExportError","error":"Metrics exporter otlp failed with the grpc server returns error (Unknown error): h2 protocol error"}}"#
    );
}

#[test]
fn an_sdk_report_with_a_message_keeps_it() {
    let line = one_line(|| {
        sdk_report!(
            warn,
            "BatchSpanProcessor.SpanDroppingStarted",
            message = "BatchSpanProcessor dropped a Span due to queue full."
        );
    });
    assert_eq!(
        line,
        r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"WARN","logger":"opentelemetry_sdk","message":"BatchSpanProcessor dropped a Span due to queue full.","service.name":"svc","data":{"name":"BatchSpanProcessor.SpanDroppingStarted"}}"#
    );
}

#[test]
fn an_sdk_report_with_a_reason_takes_it() {
    let line = one_line(|| {
        sdk_report!(
            warn,
            "Export.Failed.NonRetryable",
            reason = "the collector refused the request"
        );
    });
    assert_eq!(
        line,
        r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"WARN","logger":"opentelemetry_sdk","message":"the collector refused the request","service.name":"svc","data":{"name":"Export.Failed.NonRetryable","reason":"the collector refused the request"}}"#
    );
}

#[test]
fn an_sdk_report_with_only_a_name_takes_the_name() {
    let line = one_line(|| {
        sdk_report!(error, "MeterProvider.Drop.ShutdownFailed");
    });
    assert_eq!(
        line,
        r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"ERROR","logger":"opentelemetry_sdk","message":"MeterProvider.Drop.ShutdownFailed","service.name":"svc","data":{"name":"MeterProvider.Drop.ShutdownFailed"}}"#
    );
}

#[derive(Debug)]
struct SaveError;

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("no space left on device")
    }
}

impl std::error::Error for SaveError {}

#[tracing::instrument(err)]
fn save() -> Result<(), SaveError> {
    Err(SaveError)
}

#[tracing::instrument(err(Debug))]
fn save_debug() -> Result<(), SaveError> {
    Err(SaveError)
}

#[test]
fn an_instrument_err_event_takes_its_error_text() {
    let lines = lines(|| {
        let _ = save();
        let _ = save_debug();
    });
    assert_eq!(lines.len(), 2, "{lines:?}");
    for (line, expected) in lines.iter().zip(["no space left on device", "SaveError"]) {
        let line: serde_json::Value = serde_json::from_str(line).expect("JSON");
        assert_eq!(line["message"], expected, "{line}");
        assert_eq!(line["data"]["error"], expected, "{line}");
        assert_eq!(line["level"], "ERROR");
    }
}

#[test]
fn an_error_value_takes_its_display_text_and_a_better_field_wins() {
    let error: &(dyn std::error::Error + 'static) = &SaveError;
    let line = one_line(|| {
        tracing::warn!(name: "save.failed", target: "t", reason = "disk", error);
    });
    assert_eq!(
        line,
        r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"WARN","logger":"t","message":"no space left on device","service.name":"svc","data":{"reason":"disk","error.message":"no space left on device"}}"#
    );
}

#[test]
fn a_redacted_error_field_does_not_stand_in() {
    let sink = Sink::new();
    let layer = layer(&sink).with_redacted_field("reason");
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::warn!(name: "login.failed", target: "t", reason = "password hunter2 was wrong");
    });
    assert_eq!(
        sink.lines(),
        [
            r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"WARN","logger":"t","message":"login.failed","service.name":"svc","data":{"reason":"[REDACTED]"}}"#
        ]
    );
}

#[test]
fn an_event_with_an_empty_message_and_no_error_takes_its_name() {
    let line = one_line(|| {
        tracing::info!(name: "cache.miss", target: "t", key = 7, "");
    });
    assert_eq!(
        line,
        r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"INFO","logger":"t","message":"cache.miss","service.name":"svc","data":{"key":7}}"#
    );
}
