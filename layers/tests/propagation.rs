//! A context received by one span travels with every call made inside it:
//! the trace id, a new parent id per call, the flags, the `tracestate` and
//! the `baggage`; with `tracing_opentelemetry` in the stack the ids are the
//! exported ones and the exported spans carry the `tracestate`.

use std::collections::HashMap;

use autotel_layers::propagation::{self, RemoteContext};
use autotel_layers::{SetParentError, SpanMetricsLayer, TraceContext, TraceParent};
use tracing_subscriber::prelude::*;

const TRACE: &str = "12345678901234567890123456789012";

fn incoming(flags: &str) -> HashMap<String, String> {
    HashMap::from([
        (
            "traceparent".to_owned(),
            format!("00-{TRACE}-1234567890123456-{flags}"),
        ),
        ("tracestate".to_owned(), "rojo=1, congo=2".to_owned()),
        ("baggage".to_owned(), "user=42".to_owned()),
    ])
}

/// The fields a span sends to the service it calls.
fn outgoing(span: &tracing::Span) -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    propagation::inject_span(span, &mut carrier);
    carrier
}

fn parent_of(carrier: &HashMap<String, String>) -> TraceParent {
    TraceParent::parse(&carrier["traceparent"]).unwrap()
}

#[test]
fn what_a_span_received_goes_with_each_call_inside_it() {
    let subscriber = tracing_subscriber::registry().with(SpanMetricsLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let request = tracing::info_span!("request");
        propagation::extract(&incoming("02"))
            .set_as_parent_of(&request)
            .unwrap();
        let _request = request.enter();
        let inner = tracing::info_span!("query");
        let (first, second) = (
            outgoing(&tracing::info_span!(parent: &inner, "call")),
            outgoing(&tracing::info_span!(parent: &inner, "call")),
        );
        for carrier in [&first, &second] {
            let parent = parent_of(carrier);
            assert_eq!(parent.trace_id().to_string(), TRACE);
            assert!(parent.is_random() && !parent.is_sampled(), "{carrier:?}");
            assert_eq!(carrier["tracestate"], "rojo=1,congo=2");
            assert_eq!(carrier["baggage"], "user=42");
        }
        assert_ne!(
            parent_of(&first).parent_id(),
            parent_of(&second).parent_id(),
            "each call is its own child"
        );
        let request_id = TraceContext::of_span(&request).unwrap().span_id();
        assert_ne!(parent_of(&first).parent_id(), request_id);
        assert_ne!(request_id.to_string(), "1234567890123456");
    });
}

#[test]
fn a_new_trace_sends_no_tracestate_and_claims_random_ids() {
    let subscriber = tracing_subscriber::registry().with(SpanMetricsLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let root = tracing::info_span!("job").entered();
        let mut carrier = HashMap::new();
        propagation::inject(&mut carrier);
        let parent = parent_of(&carrier);
        let own = TraceContext::current().unwrap();
        assert_eq!(parent.trace_id(), own.trace_id());
        assert_eq!(parent.parent_id(), own.span_id());
        assert!(parent.is_sampled() && parent.is_random());
        assert_eq!(carrier.len(), 1, "{carrier:?}");
        drop(root);
        // Outside any span nothing is sent.
        let mut none = HashMap::<String, String>::new();
        propagation::inject(&mut none);
        assert!(none.is_empty());
    });
}

#[test]
fn an_inner_remote_parent_hides_the_outer_ones_state() {
    let subscriber = tracing_subscriber::registry().with(SpanMetricsLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("outer");
        propagation::extract(&incoming("01"))
            .set_as_parent_of(&outer)
            .unwrap();
        let inner = tracing::info_span!(parent: &outer, "inner");
        let other =
            TraceParent::parse("00-abcdefabcdefabcdefabcdefabcdefab-1234567890123456-00").unwrap();
        TraceContext::set_remote_parent(&inner, &other).unwrap();
        let carrier = outgoing(&inner);
        assert_eq!(parent_of(&carrier).trace_id(), other.trace_id());
        assert!(!parent_of(&carrier).is_random());
        assert!(!carrier.contains_key("tracestate"), "{carrier:?}");
        assert!(!carrier.contains_key("baggage"), "{carrier:?}");
    });
}

#[test]
fn baggage_alone_does_not_change_the_trace() {
    let subscriber = tracing_subscriber::registry().with(SpanMetricsLayer::new());
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("consumer");
        let before = TraceContext::of_span(&span).unwrap();
        let carrier = HashMap::from([("baggage".to_owned(), "tenant=acme".to_owned())]);
        let context = propagation::extract(&carrier);
        assert_eq!(context.parent(), None);
        context.set_as_parent_of(&span).unwrap();
        let after = TraceContext::of_span(&span).unwrap();
        assert_eq!(
            (after.trace_id(), after.span_id()),
            (before.trace_id(), before.span_id())
        );
        assert_eq!(outgoing(&span)["baggage"], "tenant=acme");
        // Nothing at all changes nothing.
        RemoteContext::default().set_as_parent_of(&span).unwrap();
    });
    // Without a registry there is nowhere to keep it.
    let span = tracing::info_span!("no subscriber");
    assert_eq!(
        propagation::extract(&incoming("01")).set_as_parent_of(&span),
        Err(SetParentError::SpanDisabled)
    );
}

#[cfg(feature = "opentelemetry")]
mod otel {
    use super::*;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

    #[test]
    fn the_exported_spans_carry_the_ids_sent_and_the_tracestate() {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
        let (sent, fresh) = tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request");
            propagation::extract(&incoming("03"))
                .set_as_parent_of(&request)
                .unwrap();
            let _request = request.enter();
            let call = tracing::info_span!("call");
            let sent = outgoing(&call);
            drop(call);
            drop(_request);
            drop(request);
            let fresh = outgoing(&tracing::info_span!("fresh"));
            (sent, fresh)
        });
        provider.force_flush().unwrap();
        let spans = exporter.get_finished_spans().unwrap();
        let call = spans.iter().find(|span| span.name == "call").unwrap();
        let parent = parent_of(&sent);
        assert_eq!(call.span_context.trace_id().to_string(), TRACE);
        assert_eq!(
            call.span_context.span_id().to_string(),
            parent.parent_id().to_string()
        );
        assert!(parent.is_random() && parent.is_sampled());
        assert_eq!(sent["tracestate"], "rojo=1,congo=2");
        assert_eq!(call.span_context.trace_state().header(), "rojo=1,congo=2");
        // The SDK drew the fresh trace's id: it does not claim randomness.
        assert!(!parent_of(&fresh).is_random());
    }
}
