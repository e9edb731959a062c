//! Jaeger's `uber-trace-id` header as an OpenTelemetry propagator.

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use opentelemetry::{Context, propagation::text_map_propagator::FieldIter};

/// The header Jaeger clients send.
const UBER_TRACE_ID: &str = "uber-trace-id";

/// Jaeger's propagation format as an OpenTelemetry [`TextMapPropagator`]:
/// `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}`, in hex,
/// with the `sampled` bit of the flags (feature `opentelemetry`).
///
/// Install it with `opentelemetry::global::set_text_map_propagator` (the
/// presets do when `OTEL_PROPAGATORS` names `jaeger`), and autotel's
/// [`inject`](super::inject) writes the header beside the W3C ones, and
/// [`extract`](super::extract) reads it when a request has no valid
/// `traceparent`. A value whose `:` are percent-encoded (`%3A`) is read too.
/// The `uberctx-*` baggage headers are not written or read.
///
/// ```
/// use autotel_layers::propagation::JaegerPropagator;
/// use opentelemetry::propagation::TextMapPropagator;
/// use opentelemetry::trace::TraceContextExt;
/// use std::collections::HashMap;
///
/// let carrier = HashMap::from([(
///     "uber-trace-id".to_owned(),
///     "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1".to_owned(),
/// )]);
/// let context = JaegerPropagator::new().extract(&carrier);
/// let span = context.span();
/// assert_eq!(span.span_context().span_id().to_string(), "00f067aa0ba902b7");
/// assert!(span.span_context().is_sampled());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JaegerPropagator {
    _private: (),
}

impl JaegerPropagator {
    /// The propagator.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

/// The fields the propagator writes, made once.
fn fields() -> &'static [String] {
    static FIELDS: std::sync::OnceLock<[String; 1]> = std::sync::OnceLock::new();
    FIELDS.get_or_init(|| [UBER_TRACE_ID.to_owned()])
}

/// The span context in an `uber-trace-id` value, when it is valid.
fn parse(value: &str) -> Option<SpanContext> {
    let decoded;
    let value = if value.contains('%') {
        decoded = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .ok()?;
        decoded.as_ref()
    } else {
        value
    };
    let mut parts = value.trim().split(':');
    let (trace, span, _parent, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let hex = |text: &str, max: usize| {
        (!text.is_empty() && text.len() <= max && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| u128::from_str_radix(text, 16).ok())
            .flatten()
    };
    let trace = hex(trace, 32).filter(|id| *id != 0)?;
    let span = hex(span, 16).filter(|id| *id != 0)?;
    let flags = hex(flags, 2)?;
    let sampled = if flags & 1 == 1 {
        TraceFlags::SAMPLED
    } else {
        TraceFlags::default()
    };
    Some(SpanContext::new(
        TraceId::from_bytes(trace.to_be_bytes()),
        SpanId::from_bytes((span as u64).to_be_bytes()),
        sampled,
        true,
        TraceState::default(),
    ))
}

impl TextMapPropagator for JaegerPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let flags = u8::from(span_context.is_sampled());
        injector.set(
            UBER_TRACE_ID,
            format!(
                "{}:{}:0:{flags}",
                span_context.trace_id(),
                span_context.span_id()
            ),
        );
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        match extractor.get(UBER_TRACE_ID).and_then(parse) {
            Some(span_context) => cx.with_remote_span_context(span_context),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(fields())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn values_are_read_by_the_jaeger_rules() {
        let id = |value: &str| {
            parse(value).map(|c| {
                (
                    c.trace_id().to_string(),
                    c.span_id().to_string(),
                    c.is_sampled(),
                )
            })
        };
        assert_eq!(
            id("4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1"),
            Some((
                "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into(),
                true
            ))
        );
        // 64-bit trace ids and ids without their leading zeros.
        assert_eq!(
            id("a3ce929d0e0e4736%3Af067aa0ba902b7%3A0%3A0"),
            Some((
                "0000000000000000a3ce929d0e0e4736".into(),
                "00f067aa0ba902b7".into(),
                false
            ))
        );
        for bad in [
            "",
            "0:1:0:1",
            "1:0:0:1",
            "x:1:0:1",
            "1:1:0",
            "1:1:0:1:1",
            "123456789012345678901234567890123:1:0:1",
            "1:12345678901234567:0:1",
            "1:1:0:100",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn inject_writes_what_extract_reads() {
        let propagator = JaegerPropagator::new();
        let span_context = parse("4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1").unwrap();
        let cx = Context::new().with_remote_span_context(span_context.clone());
        let mut carrier = HashMap::new();
        propagator.inject_context(&cx, &mut carrier);
        assert_eq!(
            carrier["uber-trace-id"],
            "4bf92f3577b34da6a3ce929d0e0e4736:00f067aa0ba902b7:0:1"
        );
        let back = propagator.extract(&carrier);
        assert_eq!(back.span().span_context(), &span_context);
        assert_eq!(propagator.fields().collect::<Vec<_>>(), ["uber-trace-id"]);
    }
}
