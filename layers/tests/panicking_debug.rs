//! A field whose `Debug` panics, through every layer of the production
//! stack (span metrics, span resources, JSON lines through the non-blocking
//! writer): the call that records it panics, as with `tracing` alone, and
//! nothing else is lost: no poisoned lock, no lost later line, and a span
//! keeps the fields it had before a panicking `record`.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use autotel_layers::testing::Capture;
use autotel_layers::writer::NonBlocking;
use autotel_layers::{JsonLayer, SpanMetricsLayer, SpanResourcesLayer};
use autotel_test_support::writer::Sink;
use tracing_subscriber::prelude::*;

/// A `Debug` impl that panics.
struct Panics;

impl fmt::Debug for Panics {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("this Debug impl panics");
    }
}

fn panics(f: impl FnOnce()) -> bool {
    catch_unwind(AssertUnwindSafe(f)).is_err()
}

#[test]
fn a_panicking_debug_field_loses_nothing_else() {
    let lines = Sink::new();
    let (writer, guard) = NonBlocking::builder()
        .build(lines.clone())
        .expect("the writer starts");
    let capture = Capture::new();
    let span_metrics = SpanMetricsLayer::new().with_dimension("tenant").unwrap();
    let subscriber = tracing_subscriber::registry()
        .with(span_metrics)
        .with(SpanResourcesLayer::new())
        .with(JsonLayer::new(writer.clone()));
    let recorder = capture.recorder();
    // Keep the panic messages of the expected panics out of the output.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                "order",
                pipeline.name = "orders",
                tenant = "acme",
                order_id = 42,
                late = tracing::field::Empty,
                tenant_late = tracing::field::Empty
            );
            let _entered = span.clone().entered();
            tracing::info!("before");

            // A panicking record, of a plain field, then of a dimension.
            assert!(panics(|| {
                span.record("late", tracing::field::debug(Panics));
            }));
            assert!(panics(|| {
                span.record("tenant", tracing::field::debug(Panics));
            }));
            tracing::info!("after the panicking records");
            span.record("late", "recorded");
            tracing::info!("after a good record");

            // A panicking event field: the call panics, later lines come.
            assert!(panics(|| {
                tracing::info!(bad = ?Panics, "never written");
            }));
            tracing::info!("after the panicking event");
            drop(_entered);
            drop(span);

            // A panicking field at span creation. The registry has made the
            // span, which no handle will ever close: as with `tracing`
            // alone, it is never closed (nor would a parent be).
            assert!(panics(|| {
                let _ = tracing::info_span!("doomed", tenant = ?Panics);
            }));
            drop(tracing::info_span!("later", tenant = "beta"));
        });
    });
    std::panic::set_hook(hook);
    assert!(writer.flush_within(Duration::from_secs(30)));
    drop(guard);

    let lines = lines.json();
    let messages: Vec<&str> = lines
        .iter()
        .map(|line| line["message"].as_str().unwrap())
        .collect();
    assert_eq!(
        messages,
        [
            "before",
            "after the panicking records",
            "after a good record",
            "after the panicking event"
        ]
    );
    for line in &lines {
        let data = &line["data"];
        assert_eq!(data["order_id"], 42, "the span's fields are kept: {line}");
        assert_eq!(data["tenant"], "acme", "{line}");
        assert_eq!(data["pipeline.name"], "orders", "{line}");
    }
    assert_eq!(lines[2]["data"]["late"], "recorded");

    let run = capture.snapshot();
    for (span, tenant) in [("order", "acme"), ("later", "beta")] {
        assert_eq!(
            run.counter(
                "span_calls_total",
                &[("span_name", span), ("tenant", tenant)]
            ),
            1,
            "{span} is counted: {:?}",
            run.metrics()
        );
    }
    assert_eq!(
        run.counter("pipeline_executions_total", &[("pipeline_name", "orders")]),
        1
    );
}
