//! Golden lines: an injected clock and fixed ids, exact strings compared.

use autotel_layers::{JsonLayer, KeyStyle};
use autotel_test_support::time::fixed_time;
use autotel_test_support::writer::Sink;
use tracing_subscriber::prelude::*;

fn layer(sink: &Sink) -> JsonLayer<Sink> {
    JsonLayer::new(sink.clone())
        .with_service_name("svc")
        .with_service_version("1.0.0")
        .with_environment("production")
        .with_clock(fixed_time)
}

fn one_line(layer: JsonLayer<Sink>, sink: &Sink, emit: impl FnOnce()) -> String {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
    let mut lines = sink.lines();
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines.remove(0)
}

fn pipeline_event() {
    tracing::info!(
        target: "data_pipeline",
        rows_processed = 1000u64,
        duration_ms = 342,
        "Traitement terminé"
    );
}

#[test]
fn line_outside_any_span() {
    let sink = Sink::new();
    let line = one_line(layer(&sink), &sink, pipeline_event);
    assert_eq!(
        line,
        r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"INFO","logger":"data_pipeline","message":"Traitement terminé","service.name":"svc","service.version":"1.0.0","deployment.environment":"production","data":{"rows_processed":1000,"duration_ms":342}}"#
    );
}

#[test]
fn minimal_configuration_leaves_service_keys_out() {
    let sink = Sink::new();
    let layer = JsonLayer::new(sink.clone()).with_clock(fixed_time);
    let line = one_line(layer, &sink, || {
        tracing::warn!(target: "t", "careful");
    });
    assert_eq!(
        line,
        r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"WARN","logger":"t","message":"careful","data":{}}"#
    );
}

#[test]
fn static_fields_follow_the_service_fields() {
    let sink = Sink::new();
    let layer = layer(&sink)
        .with_static_field("cloud.region", "eu-west-3")
        .with_static_field("host.name", "web-1");
    let line = one_line(layer, &sink, || {
        tracing::error!(name: "order.rejected", target: "t", code = 7);
    });
    // No message of its own: the event's name stands in.
    assert_eq!(
        line,
        r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"ERROR","logger":"t","message":"order.rejected","service.name":"svc","service.version":"1.0.0","deployment.environment":"production","cloud.region":"eu-west-3","host.name":"web-1","data":{"code":7}}"#
    );
}

#[test]
fn key_styles_outside_spans() {
    let cases = [
        (
            KeyStyle::ecs(),
            r#"{"@timestamp":"2026-06-15T14:32:45.123Z","log.level":"info","log.logger":"data_pipeline","message":"Traitement terminé","service.name":"svc","service.version":"1.0.0","service.environment":"production","ecs.version":"8.11.0","data":{"rows_processed":1000,"duration_ms":342}}"#,
        ),
        (
            KeyStyle::google_cloud("my-project"),
            r#"{"time":"2026-06-15T14:32:45.123Z","severity":"INFO","logger":"data_pipeline","message":"Traitement terminé","service.name":"svc","service.version":"1.0.0","deployment.environment":"production","data":{"rows_processed":1000,"duration_ms":342}}"#,
        ),
        (
            KeyStyle::datadog(),
            r#"{"timestamp":"2026-06-15T14:32:45.123Z","status":"info","logger.name":"data_pipeline","message":"Traitement terminé","dd.service":"svc","dd.version":"1.0.0","dd.env":"production","data":{"rows_processed":1000,"duration_ms":342}}"#,
        ),
    ];
    for (style, expected) in cases {
        let sink = Sink::new();
        let line = one_line(layer(&sink).with_key_style(style), &sink, pipeline_event);
        assert_eq!(line, expected);
    }
}

/// Fixed ids come from an OpenTelemetry SDK id generator: with the
/// `opentelemetry` feature the line carries the OpenTelemetry span's ids.
#[cfg(feature = "opentelemetry")]
mod fixed_ids {
    use std::sync::atomic::{AtomicU64, Ordering};

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{IdGenerator, SdkTracerProvider};

    use super::*;

    #[derive(Debug, Default)]
    struct FixedIds(AtomicU64);

    impl IdGenerator for FixedIds {
        fn new_trace_id(&self) -> opentelemetry::TraceId {
            opentelemetry::TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128)
        }

        fn new_span_id(&self) -> opentelemetry::SpanId {
            opentelemetry::SpanId::from(
                0x00f0_67aa_0ba9_02b7 + self.0.fetch_add(1, Ordering::Relaxed),
            )
        }
    }

    fn line_in_spans(style: KeyStyle) -> String {
        let sink = Sink::new();
        let provider = SdkTracerProvider::builder()
            .with_id_generator(FixedIds::default())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("golden")))
            .with(layer(&sink).with_key_style(style));
        tracing::subscriber::with_default(subscriber, || {
            let pipeline = tracing::info_span!("pipeline", pipeline.name = "etl");
            let _pipeline = pipeline.enter();
            let step = tracing::info_span!("step", step.name = "load", attempt = 1);
            let _step = step.enter();
            pipeline_event();
        });
        let mut lines = sink.lines();
        assert_eq!(lines.len(), 1);
        lines.remove(0)
    }

    #[test]
    fn line_inside_two_spans() {
        assert_eq!(
            line_in_spans(KeyStyle::autotel()),
            r#"{"timestamp":"2026-06-15T14:32:45.123Z","level":"INFO","logger":"data_pipeline","message":"Traitement terminé","service.name":"svc","service.version":"1.0.0","deployment.environment":"production","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b8","data":{"rows_processed":1000,"duration_ms":342,"step.name":"load","attempt":1,"pipeline.name":"etl"}}"#
        );
    }

    #[test]
    fn ids_in_each_key_style() {
        let ecs = line_in_spans(KeyStyle::ecs());
        assert!(
            ecs.contains(r#","trace.id":"4bf92f3577b34da6a3ce929d0e0e4736","span.id":"00f067aa0ba902b8","data":"#),
            "{ecs}"
        );
        let gcp = line_in_spans(KeyStyle::google_cloud("my-project"));
        assert!(
            gcp.contains(r#","logging.googleapis.com/trace":"projects/my-project/traces/4bf92f3577b34da6a3ce929d0e0e4736","logging.googleapis.com/spanId":"00f067aa0ba902b8","logging.googleapis.com/trace_sampled":true,"data":"#),
            "{gcp}"
        );
        // Datadog correlates on the decimal value of the low 64 bits.
        let datadog = line_in_spans(KeyStyle::datadog());
        let low = 0xa3ce_929d_0e0e_4736u64;
        let span = 0x00f0_67aa_0ba9_02b8u64;
        assert!(
            datadog.contains(&format!(
                r#","dd.trace_id":"{low}","dd.span_id":"{span}","data":"#
            )),
            "{datadog}"
        );
    }
}
