//! W3C trace and span ids for `tracing` spans, readable by every layer.
//!
//! Each span gets a [`TraceContext`] (a 128-bit trace id, a 64-bit span id and
//! the sampled flag) stored in the registry's span extensions. A span inherits
//! the trace id of its parent; a root span starts a new trace. Ids come from a
//! per-thread SplitMix64 generator seeded once per thread from the OS
//! randomness behind [`RandomState`](std::hash::RandomState), so assigning
//! them makes no system call.
//!
//! With the `opentelemetry` feature and a `tracing_opentelemetry` layer in the
//! stack, the ids are the ones of the OpenTelemetry span, so that log lines and
//! exported traces agree. A remote parent (a W3C `traceparent` value) can be
//! set on a span with [`TraceContext::set_remote_parent`].

mod ids;
#[cfg(feature = "opentelemetry")]
mod otel;
mod random;
mod resolve;
mod traceparent;

use tracing::Dispatch;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

pub use self::ids::{SpanId, TraceId};
use self::random::new_span_id;
pub(crate) use self::resolve::{assign, resolve};
pub use self::traceparent::{TraceParent, TraceParentError};

/// Where the ids of a span came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(not(feature = "opentelemetry"), allow(dead_code))]
enum Origin {
    /// Assigned by autotel; an OpenTelemetry layer was not asked yet.
    Own,
    /// Assigned by autotel after the OpenTelemetry layer had no span for it.
    OwnFinal,
    /// Read from the OpenTelemetry span.
    OpenTelemetry,
}

/// The trace id, span id and sampled flag of one span.
///
/// Read it from a `tracing::Span` with [`TraceContext::of_span`] (or
/// [`TraceContext::current`]), and from inside a layer with
/// [`TraceContext::for_span_ref`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    trace_id: TraceId,
    span_id: SpanId,
    sampled: bool,
    origin: Origin,
}

impl TraceContext {
    /// The trace id shared by every span of the trace.
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The id of this span.
    pub const fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// Whether the trace is sampled (the W3C `sampled` flag). Traces started
    /// by autotel are sampled; a remote parent's flag is inherited.
    pub const fn is_sampled(&self) -> bool {
        self.sampled
    }

    /// Whether the ids are final: with the `opentelemetry` feature, autotel's
    /// own ids are replaced by an OpenTelemetry span's on first resolution.
    pub(crate) fn is_settled(&self) -> bool {
        self.origin != Origin::Own || cfg!(not(feature = "opentelemetry"))
    }

    /// The `traceparent` value to send to a downstream service, naming this
    /// span as the parent.
    pub const fn traceparent(&self) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id,
            parent_id: self.span_id,
            sampled: self.sampled,
        }
    }

    /// The context of a span, from inside a layer.
    ///
    /// Assigns ids to the span (and to any ancestor without ids) the first
    /// time it is asked. With the `opentelemetry` feature, pass the dispatcher
    /// the layer runs in (from [`Layer::on_register_dispatch`], upgraded from a
    /// `WeakDispatch`) so that the ids of a `tracing_opentelemetry` span are
    /// used; without it only ids already stored on the span are read. Must not
    /// be called while holding the span's extensions.
    ///
    /// [`Layer::on_register_dispatch`]: tracing_subscriber::Layer::on_register_dispatch
    pub fn for_span_ref<'a, S>(span: &SpanRef<'a, S>, dispatch: Option<&Dispatch>) -> Self
    where
        S: LookupSpan<'a>,
    {
        resolve(span, || dispatch.cloned())
    }

    /// The context of a `tracing::Span`: `None` when the span is disabled or
    /// the subscriber is not built on [`tracing_subscriber::Registry`].
    ///
    /// With the `opentelemetry` feature and a `tracing_opentelemetry` layer,
    /// this starts the OpenTelemetry span if it was not started yet, so call
    /// [`TraceContext::set_remote_parent`] first.
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        span.with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            Some(Self::for_span_ref(&span, Some(dispatch)))
        })
        .flatten()
    }

    /// The context of the current span (see [`TraceContext::of_span`]).
    pub fn current() -> Option<Self> {
        Self::of_span(&tracing::Span::current())
    }

    /// Continues a remote trace: `span` takes the trace id and sampled flag of
    /// `parent` and gets a new span id; spans created inside it afterwards
    /// inherit them.
    ///
    /// Call it right after creating the span, before entering it or creating
    /// children. With the `opentelemetry` feature, the parent is also set on
    /// the `tracing_opentelemetry` span.
    ///
    /// # Errors
    ///
    /// [`SetParentError::SpanDisabled`] when the span is disabled or the
    /// subscriber is not built on [`tracing_subscriber::Registry`];
    /// [`SetParentError::AlreadyStarted`] when the OpenTelemetry span has
    /// already started.
    pub fn set_remote_parent(
        span: &tracing::Span,
        parent: &TraceParent,
    ) -> Result<(), SetParentError> {
        #[cfg(feature = "opentelemetry")]
        otel::set_parent(span, parent)?;
        span.with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            span.extensions_mut().replace(TraceContext {
                trace_id: parent.trace_id,
                span_id: new_span_id(),
                sampled: parent.sampled,
                origin: Origin::Own,
            });
            Some(())
        })
        .flatten()
        .ok_or(SetParentError::SpanDisabled)
    }
}

/// Why [`TraceContext::set_remote_parent`] could not set the parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetParentError {
    /// The span is disabled, or the subscriber is not built on
    /// `tracing_subscriber::Registry`.
    #[error(
        "the span is disabled or the subscriber is not built on tracing_subscriber::Registry; \
         nothing records its ids"
    )]
    SpanDisabled,
    /// The OpenTelemetry span has already started, so its trace id is fixed.
    #[error(
        "the OpenTelemetry span has already started; set the remote parent right after \
         creating the span, before entering it"
    )]
    AlreadyStarted,
}
