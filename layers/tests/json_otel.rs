//! With `tracing_opentelemetry` in the stack, the ids in each line are the
//! ids the OpenTelemetry SDK exports for that span.
#![cfg(feature = "opentelemetry")]

use autotel_layers::{JsonLayer, SetParentError, TraceContext, TraceParent};
use autotel_test_support::writer::Sink;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::Value;
use tracing_subscriber::prelude::*;

/// Runs `emit` with the OpenTelemetry layer on one side of the JSON layer or
/// the other, and returns the lines and the exported spans.
fn run(otel_first: bool, emit: impl FnOnce()) -> (Vec<Value>, Vec<SpanData>) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let sink = Sink::new();
    let json = JsonLayer::new(sink.clone());
    if otel_first {
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(json);
        tracing::subscriber::with_default(subscriber, emit);
    } else {
        let subscriber = tracing_subscriber::registry()
            .with(json)
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        tracing::subscriber::with_default(subscriber, emit);
    }
    provider.force_flush().unwrap();
    (sink.json(), exporter.get_finished_spans().unwrap())
}

fn exported<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    spans.iter().find(|span| span.name == name).unwrap()
}

fn line_ids(line: &Value) -> (String, String) {
    (
        line["trace_id"].as_str().unwrap().to_owned(),
        line["span_id"].as_str().unwrap().to_owned(),
    )
}

fn span_ids(span: &SpanData) -> (String, String) {
    (
        span.span_context.trace_id().to_string(),
        span.span_context.span_id().to_string(),
    )
}

#[test]
fn lines_carry_the_exported_ids_whatever_the_layer_order() {
    for otel_first in [true, false] {
        let (lines, spans) = run(otel_first, || {
            let outer = tracing::info_span!("outer");
            let _outer = outer.enter();
            tracing::info!("in outer");
            let inner = tracing::info_span!("inner");
            inner.in_scope(|| tracing::info!("in inner"));
            tracing::info_span!(parent: None, "second root").in_scope(|| tracing::info!("root"));
        });
        assert_eq!(lines.len(), 3);
        assert_eq!(spans.len(), 3);
        assert_eq!(line_ids(&lines[0]), span_ids(exported(&spans, "outer")));
        assert_eq!(line_ids(&lines[1]), span_ids(exported(&spans, "inner")));
        assert_eq!(
            line_ids(&lines[2]),
            span_ids(exported(&spans, "second root"))
        );
        assert_ne!(line_ids(&lines[0]).0, line_ids(&lines[2]).0);
    }
}

#[test]
fn trace_context_of_a_span_matches_the_export() {
    let mut read = None;
    let (_, spans) = run(true, || {
        let span = tracing::info_span!("work");
        read = TraceContext::of_span(&span);
    });
    let read = read.unwrap();
    let span = exported(&spans, "work");
    assert_eq!(
        read.trace_id().to_string(),
        span.span_context.trace_id().to_string()
    );
    assert_eq!(
        read.span_id().to_string(),
        span.span_context.span_id().to_string()
    );
}

#[test]
fn a_remote_parent_reaches_the_export_and_the_lines() {
    let parent =
        TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let mut late = None;
    let (lines, spans) = run(true, || {
        let request = tracing::info_span!("request");
        TraceContext::set_remote_parent(&request, &parent).unwrap();
        let _request = request.enter();
        tracing::info!("handling");
        tracing::info_span!("query").in_scope(|| tracing::info!("querying"));
        late = Some(TraceContext::set_remote_parent(&request, &parent));
    });
    assert_eq!(late, Some(Err(SetParentError::AlreadyStarted)));
    let request = exported(&spans, "request");
    assert_eq!(request.parent_span_id.to_string(), "00f067aa0ba902b7");
    assert!(request.parent_span_is_remote);
    assert_eq!(line_ids(&lines[0]), span_ids(request));
    assert_eq!(line_ids(&lines[1]), span_ids(exported(&spans, "query")));
    assert_eq!(line_ids(&lines[1]).0, "4bf92f3577b34da6a3ce929d0e0e4736");
}
