//! How a span gets its context: the ids cached on it, an OpenTelemetry
//! span's, or new ones inherited from its nearest ancestor with ids.

use tracing::Dispatch;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

#[cfg(feature = "opentelemetry")]
use super::otel;
use super::random::{new_span_id, new_trace_id};
use super::{Origin, TraceContext};

/// The context of `span`: cached ids, else the OpenTelemetry span's (with the
/// feature, when `dispatch` gives a dispatcher), else autotel's own.
pub(crate) fn resolve<'a, S>(
    span: &SpanRef<'a, S>,
    dispatch: impl FnOnce() -> Option<Dispatch>,
) -> TraceContext
where
    S: LookupSpan<'a>,
{
    let cached = span.extensions().get::<TraceContext>().copied();
    match cached {
        Some(cached) if cached.is_settled() => return cached,
        _ => {}
    }
    #[cfg(feature = "opentelemetry")]
    if let Some(dispatch) = dispatch() {
        let context = otel::context_of(&span.id(), &dispatch);
        let mut extensions = span.extensions_mut();
        match context {
            Some(context) => {
                extensions.replace(context);
                return context;
            }
            None => {
                if let Some(own) = extensions.get_mut::<TraceContext>() {
                    own.origin = Origin::OwnFinal;
                    return *own;
                }
            }
        }
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = dispatch;
    match cached {
        Some(cached) => cached,
        None => assign(span),
    }
}

/// Gives `span` autotel's own ids if it has none yet, without asking an
/// OpenTelemetry layer (which would start its span too early).
pub(crate) fn assign<'a, S>(span: &SpanRef<'a, S>) -> TraceContext
where
    S: LookupSpan<'a>,
{
    if let Some(cached) = span.extensions().get::<TraceContext>() {
        return *cached;
    }
    let base = span
        .scope()
        .skip(1)
        .find_map(|ancestor| ancestor.extensions().get::<TraceContext>().copied());
    let (trace_id, sampled) = match base {
        Some(base) => (base.trace_id, base.sampled),
        None => (new_trace_id(), true),
    };
    let mut leaf = None;
    for span in span.scope() {
        let mut extensions = span.extensions_mut();
        if let Some(existing) = extensions.get_mut::<TraceContext>() {
            return leaf.unwrap_or(*existing);
        }
        let context = TraceContext {
            trace_id,
            span_id: new_span_id(),
            sampled,
            origin: Origin::Own,
        };
        extensions.replace(context);
        leaf.get_or_insert(context);
    }
    leaf.unwrap_or(TraceContext {
        trace_id,
        span_id: new_span_id(),
        sampled,
        origin: Origin::Own,
    })
}

/// The context of `span` when it is known without assigning ids: the
/// OpenTelemetry span's (with the feature, when `dispatch` is given and an
/// OpenTelemetry layer holds the span), else the ids cached on it; `None`
/// when the span has no ids. Call it while the span is open for the
/// OpenTelemetry layer: once that layer has closed the span, its ids can no
/// longer be read and autotel's own would be taken instead.
pub(crate) fn peek<'a, S>(
    span: &SpanRef<'a, S>,
    dispatch: Option<&Dispatch>,
) -> Option<TraceContext>
where
    S: LookupSpan<'a>,
{
    let cached = span.extensions().get::<TraceContext>().copied();
    if let Some(cached) = cached
        && cached.is_settled()
    {
        return Some(cached);
    }
    #[cfg(feature = "opentelemetry")]
    if let Some(context) = dispatch.and_then(|dispatch| otel::context_of(&span.id(), dispatch)) {
        return Some(context);
    }
    #[cfg(not(feature = "opentelemetry"))]
    let _ = dispatch;
    cached
}
