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

mod baggage;
mod ids;
mod list;
#[cfg(feature = "opentelemetry")]
mod otel;
mod random;
mod resolve;
mod traceparent;
mod tracestate;

use tracing::Dispatch;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

pub use self::baggage::{Baggage, BaggageError};
pub use self::ids::{SpanId, TraceId};
use self::random::new_span_id;
pub(crate) use self::resolve::{assign, peek, resolve};
use self::traceparent::{RANDOM, SAMPLED};
pub use self::traceparent::{TraceParent, TraceParentError};
pub use self::tracestate::{TraceState, TraceStateError};

/// What a span received from its remote parent and passes on to the spans
/// inside it: the `random` flag, the `tracestate` and the `baggage`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Carried {
    /// The parent's `random` flag; `None` when the span has no remote
    /// parent (only baggage).
    pub(crate) random: Option<bool>,
    pub(crate) trace_state: TraceState,
    pub(crate) baggage: Baggage,
}

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
    /// span as the parent, with the `sampled` flag only; the
    /// [`propagation`](crate::propagation) functions also send the `random`
    /// flag, `tracestate` and `baggage`.
    pub const fn traceparent(&self) -> TraceParent {
        TraceParent {
            trace_id: self.trace_id,
            parent_id: self.span_id,
            flags: if self.sampled { SAMPLED } else { 0 },
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
        Self::set_remote(
            span,
            Some(parent),
            Carried {
                random: Some(parent.is_random()),
                ..Carried::default()
            },
        )
    }

    /// Sets the remote parent (when there is one) and what the span passes
    /// on to the spans inside it and to the services it calls.
    pub(crate) fn set_remote(
        span: &tracing::Span,
        parent: Option<&TraceParent>,
        carried: Carried,
    ) -> Result<(), SetParentError> {
        #[cfg(feature = "opentelemetry")]
        if let Some(parent) = parent {
            otel::set_parent(span, parent, &carried.trace_state)?;
        }
        span.with_subscriber(|(id, dispatch)| {
            let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
            let span = registry.span(id)?;
            let mut extensions = span.extensions_mut();
            if let Some(parent) = parent {
                extensions.replace(TraceContext {
                    trace_id: parent.trace_id,
                    span_id: new_span_id(),
                    sampled: parent.is_sampled(),
                    origin: Origin::Own,
                });
            }
            extensions.replace(carried);
            Some(())
        })
        .flatten()
        .ok_or(SetParentError::SpanDisabled)
    }

    /// What `span` sends to a service it calls: its ids as the parent, the
    /// flags, and the `tracestate` and `baggage` it received. `None` when
    /// the span is disabled or the subscriber is not built on
    /// [`tracing_subscriber::Registry`].
    ///
    /// The `random` flag is the remote parent's; a trace started here has it
    /// when autotel drew the trace id (an OpenTelemetry SDK's id generator
    /// may be configured to be anything, so its trace ids do not claim it).
    pub(crate) fn outgoing(span: &tracing::Span) -> Option<(TraceParent, Carried)> {
        let (context, carried) = span
            .with_subscriber(|(id, dispatch)| {
                let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
                let span = registry.span(id)?;
                let context = Self::for_span_ref(&span, Some(dispatch));
                let carried = span
                    .scope()
                    .find_map(|span| span.extensions().get::<Carried>().cloned());
                Some((context, carried.unwrap_or_default()))
            })
            .flatten()?;
        let random = carried
            .random
            .unwrap_or(context.origin != Origin::OpenTelemetry);
        let mut flags = if context.sampled { SAMPLED } else { 0 };
        if random {
            flags |= RANDOM;
        }
        let parent = TraceParent {
            trace_id: context.trace_id,
            parent_id: context.span_id,
            flags,
        };
        Some((parent, carried))
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
