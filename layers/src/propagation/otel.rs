//! The globally installed OpenTelemetry propagator, beside autotel's W3C
//! fields: B3, Jaeger and the like write and read their own fields.

use opentelemetry::propagation::{self as otel, TextMapPropagator};
use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags};

use super::{BAGGAGE, Extractor, Injector, RemoteContext, TRACEPARENT, TRACESTATE, TraceState};
use crate::trace_context::{SpanId, TraceId, TraceParent};

/// Whether `name` is one of the fields autotel writes and reads itself.
fn is_w3c(name: &str) -> bool {
    [TRACEPARENT, TRACESTATE, BAGGAGE]
        .iter()
        .any(|field| field.eq_ignore_ascii_case(name))
}

/// Runs `f` with the global propagator when it has fields of its own.
fn with_other_fields<T>(f: impl FnOnce(&dyn TextMapPropagator) -> T) -> Option<T> {
    let mut f = Some(f);
    opentelemetry::global::get_text_map_propagator(|propagator| {
        if propagator.fields().any(|field| !is_w3c(field)) {
            f.take().map(|f| f(propagator))
        } else {
            None
        }
    })
}

/// Lets the global propagator write its own fields (never the W3C ones).
pub(super) fn inject<I: Injector + ?Sized>(context: &RemoteContext, carrier: &mut I) {
    let Some(parent) = context.parent() else {
        return;
    };
    let span_context = SpanContext::new(
        opentelemetry::TraceId::from_bytes(parent.trace_id().to_bytes()),
        opentelemetry::SpanId::from_bytes(parent.parent_id().to_bytes()),
        TraceFlags::new(parent.flags()),
        true,
        context.trace_state().as_str().parse().unwrap_or_default(),
    );
    let cx = opentelemetry::Context::new().with_remote_span_context(span_context);
    struct OtherFields<'a, I: ?Sized>(&'a mut I);
    impl<I: Injector + ?Sized> otel::Injector for OtherFields<'_, I> {
        fn set(&mut self, key: &str, value: String) {
            if !is_w3c(key) {
                self.0.set(key, value);
            }
        }
    }
    with_other_fields(|propagator| propagator.inject_context(&cx, &mut OtherFields(carrier)));
}

/// The parent the global propagator finds in `carrier`, when autotel found
/// no valid `traceparent`.
pub(super) fn extract<E: Extractor + ?Sized>(carrier: &E, context: &mut RemoteContext) {
    struct Fields<'a, E: ?Sized>(&'a E);
    impl<E: Extractor + ?Sized> otel::Extractor for Fields<'_, E> {
        fn get(&self, key: &str) -> Option<&str> {
            self.0.get(key)
        }

        fn keys(&self) -> Vec<&str> {
            self.0.keys()
        }

        fn get_all(&self, key: &str) -> Option<Vec<&str>> {
            let mut values = Vec::new();
            self.0.get_all(key, &mut |value| values.push(value));
            (!values.is_empty()).then_some(values)
        }
    }
    let Some(found) = with_other_fields(|propagator| propagator.extract(&Fields(carrier))) else {
        return;
    };
    let span = found.span();
    let span_context = span.span_context();
    if !span_context.is_valid() {
        return;
    }
    let parent = TraceParent::new(
        TraceId::from_u128(u128::from_be_bytes(span_context.trace_id().to_bytes())),
        SpanId::from_u64(u64::from_be_bytes(span_context.span_id().to_bytes())),
        span_context.is_sampled(),
    );
    if let Ok(parent) = parent {
        context.parent = Some(parent);
        context.trace_state =
            TraceState::parse(&span_context.trace_state().header()).unwrap_or_default();
    }
}
