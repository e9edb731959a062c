//! Continuing a trace across processes: inject the current span's context
//! into any carrier, extract a caller's context from one.
//!
//! A carrier is whatever travels with a request or a message: HTTP headers
//! ([`http::HeaderMap`] with the `http` feature), a `HashMap<String, String>`,
//! a list of `(String, String)` pairs, or anything that implements
//! [`Injector`] and [`Extractor`] (Kafka record headers, SQS message
//! attributes, NATS headers). The fields are those of W3C Trace Context
//! Level 2 and W3C Baggage:
//!
//! - `traceparent`: the trace id, the id of the span that sent the request or
//!   message, and the `sampled` and `random` flags. A carrier with no valid
//!   `traceparent`, or with several, starts a new trace.
//! - `tracestate`: the vendors' entries, kept as received (see
//!   [`TraceState`]) and forwarded with every call made inside the span.
//! - `baggage`: application entries (see [`Baggage`]), forwarded likewise.
//!
//! With the `opentelemetry` feature, a propagator installed with
//! `opentelemetry::global::set_text_map_propagator` ([`B3Propagator`],
//! [`JaegerPropagator`], ...) also writes its fields
//! on injection, and is read on extraction when there is no valid
//! `traceparent`; autotel-presets installs them from `OTEL_PROPAGATORS`.
//! autotel writes and reads the W3C fields itself, so that the Level 2
//! `random` flag and the `tracestate` grammar hold whatever is installed
//! there. Which of them it writes and reads is set process-wide with
//! [`set_w3c_fields`]: both trace context and baggage by default, as
//! `OTEL_PROPAGATORS=tracecontext,baggage`; autotel-presets sets them from
//! that variable, so that `OTEL_PROPAGATORS=b3` sends B3 alone and
//! `OTEL_PROPAGATORS=none` sends nothing.
//!
//! # A trace across a channel and a task
//!
//! The producer injects the current span's context into the message; the
//! consumer, in another task, continues the trace in its own span.
//!
//! ```
//! use std::collections::HashMap;
//!
//! use autotel_layers::TraceContext;
//! use autotel_layers::propagation;
//! use tracing_subscriber::prelude::*;
//!
//! struct Job {
//!     headers: HashMap<String, String>,
//!     payload: u64,
//! }
//!
//! let subscriber = tracing_subscriber::registry().with(autotel_layers::SpanMetricsLayer::new());
//! let _default = tracing::subscriber::set_default(subscriber);
//! let runtime = tokio::runtime::Builder::new_current_thread().build()?;
//! runtime.block_on(async {
//!     let (send, mut receive) = tokio::sync::mpsc::channel::<Job>(8);
//!
//!     let consumer = tokio::spawn(async move {
//!         let job = receive.recv().await.expect("a job");
//!         let span = tracing::info_span!("process_job", payload = job.payload);
//!         propagation::extract(&job.headers).set_as_parent_of(&span)?;
//!         let _entered = span.enter();
//!         Ok::<_, autotel_layers::SetParentError>(TraceContext::current())
//!     });
//!
//!     let producer = tracing::info_span!("enqueue_job").entered();
//!     let mut headers = HashMap::new();
//!     propagation::inject(&mut headers);
//!     send.send(Job { headers, payload: 42 }).await.expect("the consumer waits");
//!     let sent = TraceContext::current().expect("the producer's span has ids");
//!     drop(producer);
//!
//!     let received = consumer.await??.expect("the consumer's span has ids");
//!     assert_eq!(received.trace_id(), sent.trace_id());
//!     assert_ne!(received.span_id(), sent.span_id());
//!     Ok::<_, Box<dyn std::error::Error>>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A spawned task does not inherit the current span; the message carries the
//! context instead, as it would between processes.

#[cfg(feature = "opentelemetry")]
mod b3;
mod carrier;
#[cfg(feature = "opentelemetry")]
mod jaeger;
#[cfg(feature = "opentelemetry")]
mod otel;

#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub use self::b3::{B3Encoding, B3Propagator};
pub use self::carrier::{Extractor, Injector};
#[cfg(feature = "opentelemetry")]
#[cfg_attr(docsrs, doc(cfg(feature = "opentelemetry")))]
pub use self::jaeger::JaegerPropagator;
pub use crate::trace_context::{Baggage, BaggageError, TraceState, TraceStateError};
use std::sync::atomic::{AtomicU8, Ordering};

use crate::trace_context::{Carried, SetParentError, TraceContext, TraceParent};

/// The `traceparent` field.
pub const TRACEPARENT: &str = "traceparent";
/// The `tracestate` field.
pub const TRACESTATE: &str = "tracestate";
/// The `baggage` field.
pub const BAGGAGE: &str = "baggage";

/// Which W3C fields [`inject`] writes and [`extract`] reads, process-wide
/// (see [`set_w3c_fields`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct W3cFields {
    /// `traceparent` and `tracestate` (W3C Trace Context, `tracecontext` in
    /// `OTEL_PROPAGATORS`).
    pub trace_context: bool,
    /// `baggage` (W3C Baggage, `baggage` in `OTEL_PROPAGATORS`).
    pub baggage: bool,
}

impl W3cFields {
    /// Both trace context and baggage: the default.
    pub const ALL: Self = Self {
        trace_context: true,
        baggage: true,
    };

    /// Neither: only a propagator installed globally writes and reads
    /// fields.
    pub const NONE: Self = Self {
        trace_context: false,
        baggage: false,
    };

    fn bits(self) -> u8 {
        u8::from(self.trace_context) | (u8::from(self.baggage) << 1)
    }

    fn from_bits(bits: u8) -> Self {
        Self {
            trace_context: bits & 1 != 0,
            baggage: bits & 2 != 0,
        }
    }
}

impl Default for W3cFields {
    fn default() -> Self {
        Self::ALL
    }
}

static W3C_FIELDS: AtomicU8 = AtomicU8::new(0b11);

/// Sets which W3C fields [`inject`], [`inject_span`], [`inject_context`] and
/// [`extract`] write and read in this process, and so what the HTTP and
/// gRPC middleware send and continue. Both by default.
///
/// ```
/// use autotel_layers::propagation::{self, W3cFields};
///
/// // Baggage only: trace context goes through a propagator installed with
/// // `opentelemetry::global::set_text_map_propagator`, or not at all.
/// propagation::set_w3c_fields(W3cFields { trace_context: false, baggage: true });
/// assert_eq!(propagation::w3c_fields(), W3cFields { trace_context: false, baggage: true });
/// # propagation::set_w3c_fields(W3cFields::ALL);
/// ```
pub fn set_w3c_fields(fields: W3cFields) {
    W3C_FIELDS.store(fields.bits(), Ordering::Relaxed);
}

/// The W3C fields written and read in this process (see
/// [`set_w3c_fields`]).
pub fn w3c_fields() -> W3cFields {
    W3cFields::from_bits(W3C_FIELDS.load(Ordering::Relaxed))
}

/// What a request or message carries from its sender: the parent span's ids
/// and flags (when it had a valid `traceparent`), the `tracestate` and the
/// `baggage`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RemoteContext {
    parent: Option<TraceParent>,
    trace_state: TraceState,
    baggage: Baggage,
}

impl RemoteContext {
    /// A context naming `parent`, with no `tracestate` or `baggage`.
    pub fn new(parent: TraceParent) -> Self {
        Self {
            parent: Some(parent),
            ..Self::default()
        }
    }

    /// The same context with `trace_state`. A `tracestate` without a parent
    /// is never sent.
    #[must_use]
    pub fn with_trace_state(mut self, trace_state: TraceState) -> Self {
        self.trace_state = trace_state;
        self
    }

    /// The same context with `baggage`.
    #[must_use]
    pub fn with_baggage(mut self, baggage: Baggage) -> Self {
        self.baggage = baggage;
        self
    }

    /// The parent span: its trace id, span id and flags.
    pub fn parent(&self) -> Option<&TraceParent> {
        self.parent.as_ref()
    }

    /// The `tracestate` received with the parent.
    pub fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// The `baggage` received.
    pub fn baggage(&self) -> &Baggage {
        &self.baggage
    }

    /// What `span` sends to the services it calls: its own ids as the parent,
    /// with the `tracestate` and `baggage` it (or a span around it)
    /// received. `None` when the span is disabled or the subscriber is not
    /// built on [`tracing_subscriber::Registry`].
    pub fn of_span(span: &tracing::Span) -> Option<Self> {
        let (parent, carried) = TraceContext::outgoing(span)?;
        Some(Self {
            parent: Some(parent),
            trace_state: carried.trace_state,
            baggage: carried.baggage,
        })
    }

    /// What the current span sends (see [`RemoteContext::of_span`]).
    pub fn current() -> Option<Self> {
        Self::of_span(&tracing::Span::current())
    }

    /// Reads the W3C fields of a carrier, by the specification's rules: a
    /// `traceparent` is used only when there is exactly one and it is valid;
    /// a `tracestate` only with such a parent and when it is valid as a
    /// whole; `baggage` members each when valid. Nothing here fails: what is
    /// malformed or oversized is left out.
    pub fn extract_w3c<E: Extractor + ?Sized>(carrier: &E) -> Self {
        let mut parents = 0;
        let mut parent = None;
        carrier.get_all(TRACEPARENT, &mut |value| {
            parents += 1;
            parent = TraceParent::parse(value).ok();
        });
        let parent = if parents == 1 { parent } else { None };
        let trace_state = match parent {
            Some(_) => {
                let mut values = Vec::new();
                carrier.get_all(TRACESTATE, &mut |value| values.push(value));
                TraceState::parse_all(values).unwrap_or_default()
            }
            None => TraceState::new(),
        };
        let mut values = Vec::new();
        carrier.get_all(BAGGAGE, &mut |value| values.push(value));
        let baggage = Baggage::parse_all(values);
        Self {
            parent,
            trace_state,
            baggage,
        }
    }

    /// Writes the W3C fields into a carrier: `traceparent` and, when not
    /// empty, `tracestate` (only with a parent) and `baggage`.
    pub fn inject_w3c<I: Injector + ?Sized>(&self, carrier: &mut I) {
        if let Some(parent) = &self.parent {
            carrier.set(TRACEPARENT, parent.to_string());
            if !self.trace_state.is_empty() {
                carrier.set(TRACESTATE, self.trace_state.as_str().to_owned());
            }
        }
        if !self.baggage.is_empty() {
            carrier.set(BAGGAGE, self.baggage.as_str().to_owned());
        }
    }

    /// Makes `span` continue this context: with a parent, the span takes its
    /// trace id and flags and gets a new span id (see
    /// [`TraceContext::set_remote_parent`]); the `tracestate` and `baggage`
    /// go with every call made inside the span.
    ///
    /// Call it right after creating the span, before entering it.
    ///
    /// # Errors
    ///
    /// [`SetParentError::SpanDisabled`] when the span is disabled or the
    /// subscriber is not built on [`tracing_subscriber::Registry`];
    /// [`SetParentError::AlreadyStarted`] when its OpenTelemetry span has
    /// already started. A context with neither a parent nor baggage leaves
    /// the span as it is.
    pub fn set_as_parent_of(&self, span: &tracing::Span) -> Result<(), SetParentError> {
        if self.parent.is_none() && self.baggage.is_empty() {
            return Ok(());
        }
        let carried = Carried {
            random: self.parent.map(|parent| parent.is_random()),
            trace_state: self.trace_state.clone(),
            baggage: self.baggage.clone(),
        };
        TraceContext::set_remote(span, self.parent.as_ref(), carried)
    }
}

/// Writes the current span's context into `carrier` (see [`inject_span`]).
pub fn inject<I: Injector + ?Sized>(carrier: &mut I) {
    inject_span(&tracing::Span::current(), carrier);
}

/// Writes what `span` sends to a service it calls into `carrier`: its ids
/// and flags as `traceparent`, the `tracestate` and `baggage` it received,
/// and with the `opentelemetry` feature the fields of the globally installed
/// propagator. Nothing is written for a disabled span.
pub fn inject_span<I: Injector + ?Sized>(span: &tracing::Span, carrier: &mut I) {
    if let Some(context) = RemoteContext::of_span(span) {
        inject_context(&context, carrier);
    }
}

/// Writes `context` into `carrier`: the W3C fields that [`w3c_fields`]
/// names and, with the `opentelemetry` feature, those of the globally
/// installed propagator.
pub fn inject_context<I: Injector + ?Sized>(context: &RemoteContext, carrier: &mut I) {
    let fields = w3c_fields();
    if fields == W3cFields::ALL {
        context.inject_w3c(carrier);
    } else {
        let mut only = context.clone();
        if !fields.trace_context {
            only.parent = None;
        }
        if !fields.baggage {
            only.baggage = Baggage::default();
        }
        only.inject_w3c(carrier);
    }
    #[cfg(feature = "opentelemetry")]
    otel::inject(context, carrier);
}

/// Reads a caller's context from `carrier`: the W3C fields that
/// [`w3c_fields`] names (see [`RemoteContext::extract_w3c`]) and, with the
/// `opentelemetry` feature and no valid `traceparent`, the parent that the
/// globally installed propagator finds. Nothing here fails: what is
/// malformed or oversized is left out.
pub fn extract<E: Extractor + ?Sized>(carrier: &E) -> RemoteContext {
    let fields = w3c_fields();
    let mut context = if fields == W3cFields::NONE {
        RemoteContext::default()
    } else {
        RemoteContext::extract_w3c(carrier)
    };
    if !fields.trace_context {
        context.parent = None;
        context.trace_state = TraceState::new();
    }
    if !fields.baggage {
        context.baggage = Baggage::default();
    }
    #[cfg(feature = "opentelemetry")]
    if context.parent.is_none() {
        otel::extract(carrier, &mut context);
    }
    context
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const PARENT: &str = "00-12345678901234567890123456789012-1234567890123456-01";

    fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn one_valid_traceparent_is_a_parent_and_two_are_none() {
        let one = RemoteContext::extract_w3c(&pairs(&[
            ("TraceParent", PARENT),
            ("tracestate", "foo=1"),
            ("baggage", "k=v"),
        ]));
        assert_eq!(
            one.parent().map(ToString::to_string).as_deref(),
            Some(PARENT)
        );
        assert_eq!(one.trace_state().as_str(), "foo=1");
        assert_eq!(one.baggage().as_str(), "k=v");

        let other = PARENT.replace("9012-", "9011-");
        let two = RemoteContext::extract_w3c(&pairs(&[
            ("traceparent", &other),
            ("traceparent", PARENT),
            ("tracestate", "foo=1"),
            ("baggage", "k=v"),
        ]));
        assert_eq!(two.parent(), None);
        assert!(two.trace_state().is_empty(), "no parent, no tracestate");
        assert_eq!(two.baggage().as_str(), "k=v", "baggage stands alone");
    }

    #[test]
    fn an_invalid_tracestate_is_dropped_and_the_parent_kept() {
        let context =
            RemoteContext::extract_w3c(&pairs(&[("traceparent", PARENT), ("tracestate", "FOO=1")]));
        assert!(context.parent().is_some());
        assert!(context.trace_state().is_empty());
    }

    #[test]
    fn inject_writes_what_extract_reads() {
        let parent = TraceParent::parse(PARENT).unwrap().with_random(true);
        let context = RemoteContext::new(parent)
            .with_trace_state(TraceState::parse("a=1,b=2").unwrap())
            .with_baggage(Baggage::parse("user=7"));
        let mut map = HashMap::new();
        context.inject_w3c(&mut map);
        assert_eq!(map["traceparent"], PARENT.replace("-01", "-03"));
        assert_eq!(map["tracestate"], "a=1,b=2");
        assert_eq!(map["baggage"], "user=7");
        assert_eq!(RemoteContext::extract_w3c(&map), context);
        let mut empty = HashMap::<String, String>::new();
        RemoteContext::default().inject_w3c(&mut empty);
        assert!(empty.is_empty());
    }
}
