//! What the tower middlewares (HTTP and gRPC) share: continuing the caller's
//! trace from its W3C headers, sending the current one, and the short names
//! of error types.

use http::HeaderMap;

use crate::propagation;

/// Makes `span` continue the trace of the caller when `headers` carry one
/// valid `traceparent` (with its `tracestate` and `baggage`); an invalid or
/// repeated one is ignored, as W3C trace context says.
pub(crate) fn continue_trace(span: &tracing::Span, headers: &HeaderMap) {
    if span.is_disabled() {
        return;
    }
    // A span already started elsewhere keeps its own trace.
    let _ = propagation::extract(headers).set_as_parent_of(span);
}

/// Puts the context of `span` (its `traceparent`, and the `tracestate` and
/// `baggage` it carries) into `headers`, replacing any there; leaves them as
/// they are when `span` has no ids (it is disabled, or the subscriber is not
/// built on the registry).
#[cfg(feature = "grpc")]
pub(crate) fn inject_trace(span: &tracing::Span, headers: &mut HeaderMap) {
    if span.is_disabled() {
        return;
    }
    propagation::inject_span(span, headers);
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
