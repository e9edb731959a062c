//! What goes into `data`: event fields, span fields and how clashes resolve,
//! errors and their sources, value types; and one `write` call per line.

use std::error::Error;
use std::fmt;

use autotel_layers::{JsonLayer, SpanFields};
use autotel_test_support::writer::Sink;
use serde_json::{Value, json};
use tracing_subscriber::prelude::*;

fn capture_with(
    configure: impl FnOnce(JsonLayer<Sink>) -> JsonLayer<Sink>,
    emit: impl FnOnce(),
) -> Vec<Value> {
    let sink = Sink::new();
    let subscriber = tracing_subscriber::registry().with(configure(JsonLayer::new(sink.clone())));
    tracing::subscriber::with_default(subscriber, emit);
    sink.json()
}

fn nested_event() {
    let outer = tracing::info_span!("outer", region = "eu", shared = "outer", depth = 1);
    let _outer = outer.enter();
    let inner = tracing::info_span!("inner", shared = "inner", depth = 2);
    let _inner = inner.enter();
    tracing::info!(shared = "event", rows = 5, "done");
}

#[test]
fn merge_lets_the_event_then_the_innermost_span_win() {
    let lines = capture_with(|layer| layer, nested_event);
    assert_eq!(
        lines[0]["data"],
        json!({"shared": "event", "rows": 5, "depth": 2, "region": "eu"})
    );
    assert_eq!(lines[0]["message"], "done");
}

#[test]
fn prefixed_keys_span_fields_by_span_name() {
    let lines = capture_with(
        |layer| layer.with_span_fields(SpanFields::Prefixed),
        nested_event,
    );
    assert_eq!(
        lines[0]["data"],
        json!({
            "shared": "event", "rows": 5,
            "inner.shared": "inner", "inner.depth": 2,
            "outer.region": "eu", "outer.shared": "outer", "outer.depth": 1,
        })
    );
}

#[test]
fn omit_keeps_only_event_fields() {
    let lines = capture_with(
        |layer| layer.with_span_fields(SpanFields::Omit),
        nested_event,
    );
    assert_eq!(lines[0]["data"], json!({"shared": "event", "rows": 5}));
    assert!(lines[0]["trace_id"].is_string());
}

#[test]
fn recorded_span_fields_replace_or_add() {
    let lines = capture_with(
        |layer| layer,
        || {
            let span = tracing::info_span!(
                "job",
                status = "running",
                items = tracing::field::Empty,
                note = "a note"
            );
            let _entered = span.enter();
            tracing::info!("start");
            span.record("items", 10);
            span.record("status", "a longer status value");
            tracing::info!("end");
        },
    );
    assert_eq!(
        lines[0]["data"],
        json!({"status": "running", "note": "a note"})
    );
    assert_eq!(
        lines[1]["data"],
        json!({"status": "a longer status value", "note": "a note", "items": 10})
    );
}

#[derive(Debug)]
struct Failure {
    message: &'static str,
    source: Option<Box<Failure>>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl Error for Failure {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        self.source
            .as_deref()
            .map(|source| source as &(dyn Error + 'static))
    }
}

#[test]
fn errors_give_message_and_sources() {
    let error = Failure {
        message: "load failed",
        source: Some(Box::new(Failure {
            message: "connection reset",
            source: Some(Box::new(Failure {
                message: "\"io\" error",
                source: None,
            })),
        })),
    };
    let lonely = Failure {
        message: "no source",
        source: None,
    };
    let lines = capture_with(
        |layer| layer,
        || {
            let span = tracing::info_span!("step", cause = &lonely as &(dyn Error + 'static));
            let _entered = span.enter();
            tracing::error!(error = &error as &(dyn Error + 'static), "step failed");
        },
    );
    assert_eq!(
        lines[0]["data"],
        json!({
            "error.message": "load failed",
            "error.sources": ["connection reset", "\"io\" error"],
            "cause.message": "no source",
        })
    );
}

#[test]
fn values_keep_their_json_types() {
    #[derive(Debug)]
    #[allow(dead_code)]
    struct Point {
        x: i32,
    }
    let lines = capture_with(
        |layer| layer,
        || {
            tracing::info!(
                int = -3i64,
                unsigned = u64::MAX,
                big = u128::MAX,
                small_big = 7i128,
                float = 0.25,
                nan = f64::NAN,
                inf = f64::INFINITY,
                yes = true,
                text = "plain",
                display = %"shown",
                debug = ?Point { x: 1 },
                bytes = &b"ab\xffc"[..],
            );
        },
    );
    assert_eq!(
        lines[0]["data"],
        json!({
            "int": -3, "unsigned": u64::MAX,
            "big": "340282366920938463463374607431768211455", "small_big": 7,
            "float": 0.25, "nan": "NaN", "inf": "Infinity", "yes": true,
            "text": "plain", "display": "shown", "debug": "Point { x: 1 }",
            "bytes": "ab\u{fffd}c",
        })
    );
    // No message and no error: the event's name (`event FILE:LINE`).
    let message = lines[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("event layers/tests/json_fields.rs:"),
        "{message}"
    );
}

#[test]
fn each_line_is_one_write_call() {
    let sink = Sink::new();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(sink.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("outer", a = 1);
        let _entered = span.enter();
        for i in 0..10 {
            tracing::info!(i, text = "x".repeat(i * 100), "event {i}");
        }
    });
    let writes = sink.write_calls();
    assert_eq!(writes.len(), 10);
    for write in &writes {
        assert!(write.ends_with('\n'));
        assert_eq!(write.matches('\n').count(), 1);
        serde_json::from_str::<Value>(write).unwrap();
    }
}

#[test]
fn two_json_layers_keep_their_own_configuration() {
    let plain = Sink::new();
    let prefixed = Sink::new();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLayer::new(plain.clone()))
        .with(
            JsonLayer::new(prefixed.clone())
                .with_span_fields(SpanFields::Prefixed)
                .with_redacted_fields(["region"]),
        );
    tracing::subscriber::with_default(subscriber, nested_event);
    let plain = &plain.json()[0];
    let prefixed = &prefixed.json()[0];
    assert_eq!(plain["data"]["region"], "eu");
    assert_eq!(prefixed["data"]["outer.region"], "[REDACTED]");
    assert_eq!(prefixed["data"]["inner.depth"], 2);
    assert_eq!(plain["trace_id"], prefixed["trace_id"]);
}
