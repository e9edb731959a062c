//! Trace correlation with autotel's own ids: every line inside a span carries
//! the span's trace and span ids, and only those lines do.

use autotel_layers::{JsonLayer, TraceContext, TraceParent};
use autotel_test_support::writer::Sink;
use serde_json::Value;
use tracing_subscriber::prelude::*;

fn capture(emit: impl FnOnce()) -> Vec<Value> {
    let sink = Sink::new();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(sink.clone()));
    tracing::subscriber::with_default(subscriber, emit);
    sink.json()
}

fn ids(line: &Value) -> (&str, &str) {
    let trace = line["trace_id"].as_str().expect("trace_id");
    let span = line["span_id"].as_str().expect("span_id");
    (trace, span)
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && text.bytes().any(|b| b != b'0')
}

#[test]
fn lines_inside_spans_carry_ids_and_lines_outside_do_not() {
    let lines = capture(|| {
        tracing::info!("before");
        tracing::info_span!("work").in_scope(|| tracing::info!("inside"));
        tracing::info!("after");
    });
    assert_eq!(lines.len(), 3);
    for outside in [&lines[0], &lines[2]] {
        assert!(outside.get("trace_id").is_none(), "{outside}");
        assert!(outside.get("span_id").is_none(), "{outside}");
    }
    let (trace, span) = ids(&lines[1]);
    assert!(is_lower_hex(trace, 32), "{trace}");
    assert!(is_lower_hex(span, 16), "{span}");
}

#[test]
fn nested_spans_share_the_trace_and_roots_start_new_ones() {
    let mut expected = Vec::new();
    let lines = capture(|| {
        for _ in 0..2 {
            let root = tracing::info_span!("root");
            let _root = root.enter();
            tracing::info!("in root");
            let child = tracing::info_span!("child");
            let _child = child.enter();
            tracing::info!("in child");
            expected.push((
                TraceContext::of_span(&root).unwrap(),
                TraceContext::of_span(&child).unwrap(),
            ));
        }
    });
    assert_eq!(lines.len(), 4);
    let (root_trace, root_span) = ids(&lines[0]);
    let (child_trace, child_span) = ids(&lines[1]);
    assert_eq!(root_trace, child_trace);
    assert_ne!(root_span, child_span);
    let (second_trace, _) = ids(&lines[2]);
    assert_ne!(root_trace, second_trace, "two root spans share a trace");

    let (root, child) = expected[0];
    assert_eq!(root_trace, root.trace_id().to_string());
    assert_eq!(root_span, root.span_id().to_string());
    assert_eq!(child_span, child.span_id().to_string());
    assert!(root.is_sampled());
}

#[test]
fn explicit_parent_and_other_threads_use_the_parents_ids() {
    let mut span_ids = None;
    let lines = capture(|| {
        let span = tracing::info_span!("request");
        span_ids = TraceContext::of_span(&span);
        tracing::info!(parent: &span, "explicit parent");
        tracing::info!(parent: None, "explicit root");
        let moved = span.clone();
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&dispatch, || {
                let _entered = moved.enter();
                tracing::info!("other thread");
            });
        })
        .join()
        .unwrap();
    });
    let expected = span_ids.unwrap();
    assert_eq!(lines.len(), 3);
    for line in [&lines[0], &lines[2]] {
        assert_eq!(ids(line).0, expected.trace_id().to_string());
        assert_eq!(ids(line).1, expected.span_id().to_string());
    }
    assert!(lines[1].get("trace_id").is_none());
}

#[test]
fn a_remote_parent_continues_its_trace() {
    let parent =
        TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00").unwrap();
    let mut contexts = Vec::new();
    let lines = capture(|| {
        let request = tracing::info_span!("request");
        TraceContext::set_remote_parent(&request, &parent).unwrap();
        let _request = request.enter();
        tracing::info!("in request");
        let child = tracing::info_span!("db");
        child.in_scope(|| tracing::info!("in child"));
        contexts.push(TraceContext::current().unwrap());
        contexts.push(TraceContext::of_span(&child).unwrap());
    });
    for line in &lines {
        assert_eq!(ids(line).0, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(
            ids(line).1,
            "00f067aa0ba902b7",
            "the span reused the parent's id"
        );
    }
    assert_ne!(ids(&lines[0]).1, ids(&lines[1]).1);
    let request = contexts[0];
    assert!(
        !request.is_sampled(),
        "the remote sampled flag is inherited"
    );
    assert!(!contexts[1].is_sampled());
    let outbound = request.traceparent().to_string();
    assert_eq!(
        outbound,
        format!(
            "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-00",
            request.span_id()
        )
    );
}

#[test]
fn no_context_without_a_subscriber_or_for_disabled_spans() {
    assert_eq!(TraceContext::current(), None);
    let span = tracing::Span::none();
    let parent =
        TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    assert!(TraceContext::set_remote_parent(&span, &parent).is_err());
    assert_eq!(TraceContext::of_span(&span), None);
}

#[test]
fn ids_are_readable_from_another_layer() {
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::Context;
    use tracing_subscriber::registry::LookupSpan;

    /// A layer that reads the ids at span close, as exemplars would.
    struct ReadIds(Arc<Mutex<Vec<TraceContext>>>);
    impl<S> tracing_subscriber::Layer<S> for ReadIds
    where
        S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    {
        fn on_close(&self, id: tracing::span::Id, ctx: Context<'_, S>) {
            let span = ctx.span(&id).unwrap();
            self.0
                .lock()
                .unwrap()
                .push(TraceContext::for_span_ref(&span, None));
        }
    }

    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Sink::new();
    // The reading layer alone assigns ids too; with JsonLayer both agree.
    let subscriber = tracing_subscriber::registry()
        .with(ReadIds(seen.clone()))
        .with(JsonLayer::new(sink.clone()));
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("outer").in_scope(|| {
            tracing::info_span!("inner").in_scope(|| tracing::info!("hello"));
        });
    });
    let line = &sink.json()[0];
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(ids(line).1, seen[0].span_id().to_string());
    assert_eq!(ids(line).0, seen[1].trace_id().to_string());
    assert_eq!(seen[0].trace_id(), seen[1].trace_id());
}
