//! The ids of `tracing_opentelemetry` spans, and remote parents set on them.

use opentelemetry::trace::{SpanContext, TraceContextExt, TraceFlags, TraceState};
use tracing::Dispatch;
use tracing::span::Id;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{Origin, SetParentError, SpanId, TraceContext, TraceId, TraceParent};

/// The ids of the OpenTelemetry span for `id`, starting it if needed.
pub(super) fn context_of(id: &Id, dispatch: &Dispatch) -> Option<TraceContext> {
    let context = tracing_opentelemetry::get_otel_context(id, dispatch)?;
    let span = context.span();
    let span_context = span.span_context();
    if !span_context.is_valid() {
        return None;
    }
    Some(TraceContext {
        trace_id: TraceId::from_u128(u128::from_be_bytes(span_context.trace_id().to_bytes())),
        span_id: SpanId::from_u64(u64::from_be_bytes(span_context.span_id().to_bytes())),
        sampled: span_context.is_sampled(),
        origin: Origin::OpenTelemetry,
    })
}

/// Sets `parent` as the remote parent of the OpenTelemetry span, with the
/// `tracestate` it came with (which the exported span then carries).
pub(super) fn set_parent(
    span: &tracing::Span,
    parent: &TraceParent,
    trace_state: &super::TraceState,
) -> Result<(), SetParentError> {
    // OpenTelemetry's parser knows an older key grammar; a state it refuses
    // still travels through autotel, just not on the exported span.
    let trace_state = trace_state
        .as_str()
        .parse::<TraceState>()
        .unwrap_or_default();
    let span_context = SpanContext::new(
        opentelemetry::TraceId::from_bytes(parent.trace_id.to_bytes()),
        opentelemetry::SpanId::from_bytes(parent.parent_id.to_bytes()),
        TraceFlags::new(parent.flags),
        true,
        trace_state,
    );
    let context = opentelemetry::Context::new().with_remote_span_context(span_context);
    match span.set_parent(context) {
        Err(tracing_opentelemetry::SetParentError::AlreadyStarted) => {
            Err(SetParentError::AlreadyStarted)
        }
        _ => Ok(()),
    }
}
