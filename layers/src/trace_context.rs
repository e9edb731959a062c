//! W3C trace and span ids for `tracing` spans, readable by every layer.
//!
//! Each span gets a [`TraceContext`] (a 128-bit trace id, a 64-bit span id and
//! the sampled flag) stored in the registry's span extensions. A span inherits
//! the trace id of its parent; a root span starts a new trace. Ids come from a
//! per-thread SplitMix64 generator seeded once per thread from the OS
//! randomness behind [`RandomState`], so assigning them makes no system call.
//!
//! With the `opentelemetry` feature and a `tracing_opentelemetry` layer in the
//! stack, the ids are the ones of the OpenTelemetry span, so that log lines and
//! exported traces agree. A remote parent (a W3C `traceparent` value) can be
//! set on a span with [`TraceContext::set_remote_parent`].

use std::cell::Cell;
use std::fmt;
use std::hash::{BuildHasher, RandomState};

use tracing::Dispatch;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

/// A W3C trace id: 16 bytes, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

impl TraceId {
    /// The id from its big-endian integer value. Zero is the invalid id.
    pub const fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// The id as a big-endian integer.
    pub const fn to_u128(self) -> u128 {
        self.0
    }

    /// The id as 16 bytes, most significant first (the W3C byte order).
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// Whether the id is valid (not all zeros).
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// The 32 lowercase hex digits of the id.
    pub fn to_hex(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        write_hex(&self.to_bytes(), &mut out);
        out
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hex_str(&self.to_hex()))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

/// A W3C span id: 8 bytes, written as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(u64);

impl SpanId {
    /// The id from its big-endian integer value. Zero is the invalid id.
    pub const fn from_u64(value: u64) -> Self {
        Self(value)
    }

    /// The id as a big-endian integer.
    pub const fn to_u64(self) -> u64 {
        self.0
    }

    /// The id as 8 bytes, most significant first (the W3C byte order).
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Whether the id is valid (not all zeros).
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// The 16 lowercase hex digits of the id.
    pub fn to_hex(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        write_hex(&self.to_bytes(), &mut out);
        out
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hex_str(&self.to_hex()))
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// The two lowercase hex digits of every byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [HEX[byte >> 4], HEX[byte & 0x0f]];
        byte += 1;
    }
    pairs
};

fn write_hex(bytes: &[u8], out: &mut [u8]) {
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
    }
}

fn hex_str(hex: &[u8]) -> &str {
    // Only ASCII hex digits are ever written by `write_hex`.
    std::str::from_utf8(hex).unwrap_or_default()
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

/// A W3C `traceparent` value: the trace id, the id of the parent span and the
/// sampled flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    trace_id: TraceId,
    parent_id: SpanId,
    sampled: bool,
}

impl TraceParent {
    /// A traceparent from its parts.
    ///
    /// # Errors
    ///
    /// When either id is zero (invalid in W3C trace context).
    pub fn new(
        trace_id: TraceId,
        parent_id: SpanId,
        sampled: bool,
    ) -> Result<Self, TraceParentError> {
        if !trace_id.is_valid() {
            return Err(TraceParentError("the trace id is all zeros"));
        }
        if !parent_id.is_valid() {
            return Err(TraceParentError("the parent id is all zeros"));
        }
        Ok(Self {
            trace_id,
            parent_id,
            sampled,
        })
    }

    /// Parses a `traceparent` header value (`00-<trace id>-<parent id>-<flags>`),
    /// following the W3C rules: lowercase hex, no all-zero ids, version `ff`
    /// rejected, and later versions read by their version-00 prefix.
    ///
    /// # Errors
    ///
    /// When the value does not follow that format.
    pub fn parse(value: &str) -> Result<Self, TraceParentError> {
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        let bytes = value.as_bytes();
        if bytes.len() < 55 {
            return Err(TraceParentError("it is shorter than 55 characters"));
        }
        let version = parse_hex(&bytes[0..2]).ok_or(TraceParentError("the version is not hex"))?;
        if version == 0xff {
            return Err(TraceParentError("version ff is invalid"));
        }
        if version == 0 && bytes.len() != 55 {
            return Err(TraceParentError(
                "a version 00 value has exactly 55 characters",
            ));
        }
        if version != 0 && bytes.len() > 55 && bytes[55] != b'-' {
            return Err(TraceParentError("extra data does not start with '-'"));
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return Err(TraceParentError("the parts are not separated by '-'"));
        }
        let trace_id = parse_hex(&bytes[3..35]).ok_or(TraceParentError(
            "the trace id is not 32 lowercase hex digits",
        ))?;
        let parent_id = parse_hex(&bytes[36..52]).ok_or(TraceParentError(
            "the parent id is not 16 lowercase hex digits",
        ))?;
        let flags = parse_hex(&bytes[53..55]).ok_or(TraceParentError("the flags are not hex"))?;
        Self::new(
            TraceId(trace_id),
            SpanId(u64::try_from(parent_id).unwrap_or_default()),
            flags & 1 == 1,
        )
    }

    /// The trace id.
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The id of the parent span.
    pub const fn parent_id(&self) -> SpanId {
        self.parent_id
    }

    /// Whether the parent sampled the trace.
    pub const fn is_sampled(&self) -> bool {
        self.sampled
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let flags = if self.sampled { "01" } else { "00" };
        write!(f, "00-{}-{}-{flags}", self.trace_id, self.parent_id)
    }
}

impl std::str::FromStr for TraceParent {
    type Err = TraceParentError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

fn parse_hex(digits: &[u8]) -> Option<u128> {
    let mut value = 0u128;
    for &digit in digits {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u128::from(nibble);
    }
    Some(value)
}

/// A `traceparent` value that is not valid W3C trace context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid traceparent: {0}; expected 00-<32 lowercase hex digits>-<16 lowercase hex digits>-<2 hex digits>"
)]
pub struct TraceParentError(&'static str);

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

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

fn seed() -> u64 {
    // `RandomState::new` draws its keys from the OS once per thread.
    RandomState::new().hash_one(std::thread::current().id())
}

fn next_random() -> u64 {
    let step = |state: u64| {
        let state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (state, z ^ (z >> 31))
    };
    RNG.try_with(|cell| {
        let (state, value) = step(cell.get());
        cell.set(state);
        value
    })
    .unwrap_or_else(|_| step(seed()).1)
}

/// A new random, valid trace id.
pub(crate) fn new_trace_id() -> TraceId {
    loop {
        let id = (u128::from(next_random()) << 64) | u128::from(next_random());
        if id != 0 {
            return TraceId(id);
        }
    }
}

/// A new random, valid span id.
pub(crate) fn new_span_id() -> SpanId {
    loop {
        let id = next_random();
        if id != 0 {
            return SpanId(id);
        }
    }
}

#[cfg(feature = "opentelemetry")]
mod otel {
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
            trace_id: TraceId(u128::from_be_bytes(span_context.trace_id().to_bytes())),
            span_id: SpanId(u64::from_be_bytes(span_context.span_id().to_bytes())),
            sampled: span_context.is_sampled(),
            origin: Origin::OpenTelemetry,
        })
    }

    pub(super) fn set_parent(
        span: &tracing::Span,
        parent: &TraceParent,
    ) -> Result<(), SetParentError> {
        let flags = if parent.sampled {
            TraceFlags::SAMPLED
        } else {
            TraceFlags::default()
        };
        let span_context = SpanContext::new(
            opentelemetry::TraceId::from_bytes(parent.trace_id.to_bytes()),
            opentelemetry::SpanId::from_bytes(parent.parent_id.to_bytes()),
            flags,
            true,
            TraceState::default(),
        );
        let context = opentelemetry::Context::new().with_remote_span_context(span_context);
        match span.set_parent(context) {
            Err(tracing_opentelemetry::SetParentError::AlreadyStarted) => {
                Err(SetParentError::AlreadyStarted)
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_lowercase_hex() {
        let trace = TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            SpanId::from_u64(0x00f067aa0ba902b7).to_string(),
            "00f067aa0ba902b7"
        );
    }

    #[test]
    fn traceparent_round_trips() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = TraceParent::parse(value).unwrap();
        assert_eq!(
            parent.trace_id().to_u128(),
            0x4bf92f3577b34da6a3ce929d0e0e4736
        );
        assert_eq!(parent.parent_id().to_u64(), 0x00f067aa0ba902b7);
        assert!(parent.is_sampled());
        assert_eq!(parent.to_string(), value);
    }

    #[test]
    fn traceparent_rejects_invalid_values() {
        for value in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(value).is_err(), "{value:?} was accepted");
        }
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more";
        let parent = TraceParent::parse(future).unwrap();
        assert!(!parent.is_sampled());
    }

    #[test]
    fn generated_ids_are_valid_and_distinct() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| new_span_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.is_valid()));
        assert_ne!(new_trace_id(), new_trace_id());
    }

    #[test]
    fn threads_draw_different_ids() {
        let here = new_trace_id();
        let there = std::thread::spawn(new_trace_id).join().unwrap();
        assert_ne!(here, there);
    }
}
