//! B3 headers (Zipkin's propagation) as an OpenTelemetry propagator.

use opentelemetry::Context;
use opentelemetry::propagation::text_map_propagator::FieldIter;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};

const SINGLE: &str = "b3";
const TRACE_ID: &str = "x-b3-traceid";
const SPAN_ID: &str = "x-b3-spanid";
const PARENT_SPAN_ID: &str = "x-b3-parentspanid";
const SAMPLED: &str = "x-b3-sampled";
const FLAGS: &str = "x-b3-flags";

/// How [`B3Propagator`] writes: one `b3` header, or the `X-B3-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum B3Encoding {
    /// `b3: {trace id}-{span id}-{sampled}`.
    Single,
    /// `X-B3-TraceId`, `X-B3-SpanId` and `X-B3-Sampled`.
    Multiple,
}

/// B3, Zipkin's propagation format, as an OpenTelemetry
/// [`TextMapPropagator`] (feature `opentelemetry`).
///
/// It writes the encoding it was made with and reads both: the `b3` header
/// when there is one, else the `X-B3-*` headers. A debug flag (`d`,
/// `X-B3-Flags: 1`) reads as sampled. Install it with
/// `opentelemetry::global::set_text_map_propagator` (the presets do when
/// `OTEL_PROPAGATORS` names `b3` or `b3multi`), and autotel's
/// [`inject`](super::inject) writes it beside the W3C headers, and
/// [`extract`](super::extract) reads it when a request has no valid
/// `traceparent`.
///
/// ```
/// use autotel_layers::propagation::{B3Encoding, B3Propagator};
/// use opentelemetry::propagation::TextMapPropagator;
/// use opentelemetry::trace::TraceContextExt;
/// use std::collections::HashMap;
///
/// let carrier = HashMap::from([(
///     "b3".to_owned(),
///     "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1".to_owned(),
/// )]);
/// let context = B3Propagator::new(B3Encoding::Multiple).extract(&carrier);
/// assert_eq!(context.span().span_context().span_id().to_string(), "e457b5a2e4d86bd1");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

impl B3Propagator {
    /// A propagator that writes `encoding`.
    pub const fn new(encoding: B3Encoding) -> Self {
        Self { encoding }
    }
}

/// Lowercase hex of at most `max` digits, not zero.
fn id(text: &str, max: usize) -> Option<u128> {
    let text = text.trim();
    if text.is_empty() || text.len() > max || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    u128::from_str_radix(text, 16).ok().filter(|id| *id != 0)
}

/// Whether a sampling state says sampled; `None` when it is not one.
fn sampled(state: &str) -> Option<bool> {
    match state.trim() {
        "1" | "d" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

fn span_context(trace: u128, span: u128, sampled: bool) -> SpanContext {
    SpanContext::new(
        TraceId::from_bytes(trace.to_be_bytes()),
        SpanId::from_bytes((span as u64).to_be_bytes()),
        if sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        },
        true,
        TraceState::default(),
    )
}

/// `{trace id}-{span id}[-{sampling state}[-{parent span id}]]`.
fn parse_single(value: &str) -> Option<SpanContext> {
    let mut parts = value.trim().split('-');
    let trace = id(parts.next()?, 32)?;
    let span = id(parts.next()?, 16)?;
    let state = match parts.next() {
        Some(state) => sampled(state)?,
        None => true,
    };
    if let Some(parent) = parts.next() {
        id(parent, 16)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(span_context(trace, span, state))
}

fn parse_multiple(extractor: &dyn Extractor) -> Option<SpanContext> {
    let trace = id(extractor.get(TRACE_ID)?, 32)?;
    let span = id(extractor.get(SPAN_ID)?, 16)?;
    let debug = extractor
        .get(FLAGS)
        .is_some_and(|flags| flags.trim() == "1");
    let state = match extractor.get(SAMPLED) {
        Some(state) => sampled(state)?,
        None => true,
    };
    Some(span_context(trace, span, debug || state))
}

/// The fields each encoding writes, made once.
fn fields(encoding: B3Encoding) -> &'static [String] {
    static SINGLE_FIELDS: std::sync::OnceLock<[String; 1]> = std::sync::OnceLock::new();
    static MULTIPLE_FIELDS: std::sync::OnceLock<[String; 5]> = std::sync::OnceLock::new();
    match encoding {
        B3Encoding::Single => SINGLE_FIELDS.get_or_init(|| [SINGLE.to_owned()]),
        B3Encoding::Multiple => MULTIPLE_FIELDS
            .get_or_init(|| [TRACE_ID, SPAN_ID, PARENT_SPAN_ID, SAMPLED, FLAGS].map(String::from)),
    }
}

impl TextMapPropagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let span = cx.span();
        let span_context = span.span_context();
        if !span_context.is_valid() {
            return;
        }
        let state = if span_context.is_sampled() { "1" } else { "0" };
        let (trace, span) = (span_context.trace_id(), span_context.span_id());
        match self.encoding {
            B3Encoding::Single => injector.set(SINGLE, format!("{trace}-{span}-{state}")),
            B3Encoding::Multiple => {
                injector.set(TRACE_ID, trace.to_string());
                injector.set(SPAN_ID, span.to_string());
                injector.set(SAMPLED, state.to_owned());
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let found = match extractor.get(SINGLE) {
            Some(single) => parse_single(single),
            None => parse_multiple(extractor),
        };
        match found {
            Some(span_context) => cx.with_remote_span_context(span_context),
            None => cx.clone(),
        }
    }

    fn fields(&self) -> FieldIter<'_> {
        FieldIter::new(fields(self.encoding))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn ids(context: Option<SpanContext>) -> Option<(String, String, bool)> {
        context.map(|c| {
            (
                c.trace_id().to_string(),
                c.span_id().to_string(),
                c.is_sampled(),
            )
        })
    }

    #[test]
    fn single_headers_are_read_by_the_b3_rules() {
        let full = "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90";
        assert_eq!(
            ids(parse_single(full)),
            Some((
                "80f198ee56343ba864fe8b2a57d3eff7".into(),
                "e457b5a2e4d86bd1".into(),
                true
            ))
        );
        assert_eq!(
            ids(parse_single("64fe8b2a57d3eff7-e457b5a2e4d86bd1-0")),
            Some((
                "000000000000000064fe8b2a57d3eff7".into(),
                "e457b5a2e4d86bd1".into(),
                false
            ))
        );
        assert!(
            parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d")
                .unwrap()
                .is_sampled()
        );
        for bad in [
            "",
            "0",
            "1",
            "x-1-1",
            "1-1-2",
            "1-0-1",
            "1-1-1-1-1",
            "1-12345678901234567-1",
        ] {
            assert_eq!(parse_single(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn both_encodings_round_trip_and_multiple_headers_are_read() {
        let span_context =
            parse_single("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1").unwrap();
        let cx = Context::new().with_remote_span_context(span_context.clone());
        for encoding in [B3Encoding::Single, B3Encoding::Multiple] {
            let propagator = B3Propagator::new(encoding);
            let mut carrier = HashMap::new();
            propagator.inject_context(&cx, &mut carrier);
            let back = propagator.extract(&carrier);
            assert_eq!(back.span().span_context(), &span_context, "{encoding:?}");
            let written: Vec<String> = propagator.fields().map(String::from).collect();
            assert!(
                carrier.keys().all(|key| written.contains(key)),
                "{carrier:?}"
            );
        }
        let debug = HashMap::from([
            (
                TRACE_ID.to_owned(),
                "80f198ee56343ba864fe8b2a57d3eff7".to_owned(),
            ),
            (SPAN_ID.to_owned(), "e457b5a2e4d86bd1".to_owned()),
            (SAMPLED.to_owned(), "0".to_owned()),
            (FLAGS.to_owned(), "1".to_owned()),
        ]);
        assert!(
            parse_multiple(&debug).unwrap().is_sampled(),
            "debug means sampled"
        );
    }
}
