//! What the tower middlewares (HTTP and gRPC) share: continuing the caller's
//! trace from a `traceparent` header, sending the current one, and the short
//! names of error types.

use http::HeaderMap;

use crate::trace_context::{TraceContext, TraceParent};

/// The W3C trace context header.
const TRACEPARENT: &str = "traceparent";

/// Makes `span` continue the trace of the caller when `headers` carry a valid
/// `traceparent`; an invalid one is ignored, as W3C trace context says.
pub(crate) fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if span.is_disabled() {
        return;
    }
    if let Some(parent) = headers
        .get(TRACEPARENT)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| TraceParent::parse(value).ok())
    {
        // A span already started elsewhere keeps its own trace.
        let _ = TraceContext::set_remote_parent(span, &parent);
    }
}

/// Puts the `traceparent` naming `span` as the parent into `headers`,
/// replacing any there; leaves them as they are when `span` has no ids (it is
/// disabled, or the subscriber is not built on the registry).
#[cfg(feature = "grpc")]
pub(crate) fn inject_trace(span: &tracing::Span, headers: &mut HeaderMap) {
    if span.is_disabled() {
        return;
    }
    let Some(context) = TraceContext::of_span(span) else {
        return;
    };
    // A version-00 traceparent is 55 characters: written on the stack, and
    // copied once into the header value.
    let mut text = [0u8; 55];
    let mut rest = &mut text[..];
    if std::io::Write::write_fmt(&mut rest, format_args!("{}", context.traceparent())).is_ok()
        && rest.is_empty()
        && let Ok(value) = http::HeaderValue::from_bytes(&text)
    {
        headers.insert(TRACEPARENT, value);
    }
}

/// The last path segment of a type's name (`Elapsed` for
/// `tower::timeout::error::Elapsed`), generics kept.
pub(crate) fn short_type_name<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    let head = name.split('<').next().unwrap_or(name);
    let start = head.rfind("::").map_or(0, |i| i + 2);
    &name[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_are_short() {
        assert_eq!(short_type_name::<std::io::Error>(), "Error");
        assert_eq!(short_type_name::<Vec<u8>>(), "Vec<u8>");
    }
}
