//! [`JsonLayer`]: one JSON object per event, with trace correlation and
//! redaction.

mod event;
mod fields;
mod format;
mod layer;
mod limit;
mod scratch;
mod style;

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use self::fields::{FieldSet, RecordFields};
use self::format::escape_into;
pub use self::limit::{DEFAULT_MAX_FIELD_LEN, MAX_RESOURCE_LEN};
use self::limit::{Limit, count_truncated, resource_value};
pub use self::style::KeyStyle;
use self::style::member_into;
use crate::redact::Redaction;
use crate::trace_context::{self, TraceContext};

/// Where the time of each line comes from; inject one in tests to get exact
/// timestamps.
///
/// Implemented by [`SystemClock`] and by closures returning a
/// [`SystemTime`].
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> SystemTime;
}

/// The system's wall clock, [`SystemTime::now`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

impl<F> Clock for F
where
    F: Fn() -> SystemTime + Send + Sync + 'static,
{
    fn now(&self) -> SystemTime {
        self()
    }
}

/// Whether the fields of the spans around an event go into its `data`, and
/// how keys that occur more than once resolve.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpanFields {
    /// Only the event's own fields.
    Omit,
    /// The event's fields, then those of each enclosing span from the
    /// innermost out, under their own names; the first value of a name wins,
    /// so an event field hides a span field of the same name and an inner
    /// span hides an outer one.
    #[default]
    Merge,
    /// Span fields under `span_name.field_name`; event fields under their own
    /// names. A recursive span's inner instance hides the outer one.
    Prefixed,
}

/// The ids of the layers, which tell apart the span fields that several
/// JSON layers of one stack store on the same span.
static NEXT_LAYER_ID: AtomicUsize = AtomicUsize::new(1);

/// A `tracing_subscriber` layer that writes one JSON object per event.
///
/// ```text
/// {"timestamp":"2026-06-15T14:32:45.123Z","level":"INFO","logger":"data_pipeline","message":"done","service.name":"svc","service.version":"1.0.0","deployment.environment":"production","trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7","data":{"rows_processed":1000}}
/// ```
///
/// - `logger` is the event's target; `message` its `message` field. It is
///   never empty: an event without a message of its own (what
///   `#[instrument(err)]` emits, or an error that the OpenTelemetry SDK
///   reports about itself) takes the text of its `error` field (else
///   `error.message`, `error_message`, `err` or `reason`, unless redacted),
///   or else the event's name.
/// - `service.name`, `service.version` and `deployment.environment` appear
///   when set, followed by the [static fields](JsonLayer::with_static_field).
/// - `trace_id` and `span_id` are those of the event's span (see
///   [`TraceContext`]); a line outside any span carries neither.
/// - `data` holds the event's other fields and, by default, those of the
///   spans around it (see [`SpanFields`]). Integers and booleans are JSON
///   numbers and booleans; 128-bit integers beyond the 64-bit range are
///   strings; floats are numbers that read back exactly, except NaN and the
///   infinities, which are the strings `"NaN"`, `"Infinity"` and
///   `"-Infinity"`; `Debug` and `Display` values are strings; bytes that are
///   not UTF-8 have invalid sequences replaced by U+FFFD.
/// - An error field `e` recorded as `&dyn Error` gives `e.message` (its
///   `Display` text) and, when it has sources, `e.sources` (their texts,
///   outermost first).
/// - Fields named like secrets are written as `"[REDACTED]"` (see
///   [`JsonLayer::with_redacted_fields`]).
///
/// Each line is written with one `write_all` call on a writer from the
/// [`MakeWriter`]. Span fields are serialised once, when the span is created
/// or recorded, and copied into each line; lines are built in a reusable
/// per-thread buffer, so an event allocates nothing once the buffers have
/// grown to fit. Pair it with [`crate::writer`] to keep the write off the
/// producing thread.
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let layer = autotel_layers::JsonLayer::new(std::io::stdout)
///     .with_service_name("checkout")
///     .with_service_version("1.4.2")
///     .with_environment("production");
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("order", order_id = 42);
///     let _entered = span.enter();
///     tracing::info!(items = 3, "order placed");
/// });
/// ```
pub struct JsonLayer<W = fn() -> io::Stdout> {
    make_writer: W,
    id: usize,
    style: KeyStyle,
    service_name: Option<String>,
    service_version: Option<String>,
    environment: Option<String>,
    static_fields: Vec<(String, String)>,
    span_fields: SpanFields,
    redaction: Redaction,
    max_field_len: usize,
    clock: Option<Box<dyn Clock>>,
    prepared: Prepared,
    #[cfg(feature = "opentelemetry")]
    dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
}

/// The constant parts of every line, rendered once per configuration.
#[derive(Debug, Default)]
struct Prepared {
    /// `{"timestamp":"`
    open: Vec<u8>,
    /// `","level":"INFO","logger":"`, for each level from TRACE to ERROR.
    level_and_logger: [Vec<u8>; 5],
    /// `","message":"`
    message: Vec<u8>,
    /// `","service.name":"svc",...` after the message's closing quote.
    resource: Vec<u8>,
}

impl<W> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    /// A layer that writes each line to a writer from `make_writer`, such as
    /// `std::io::stdout`, a [`crate::writer::NonBlocking`] or anything else
    /// implementing [`MakeWriter`].
    pub fn new(make_writer: W) -> Self {
        let mut layer = Self {
            make_writer,
            id: NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed),
            style: KeyStyle::default(),
            service_name: None,
            service_version: None,
            environment: None,
            static_fields: Vec::new(),
            span_fields: SpanFields::default(),
            redaction: Redaction::default(),
            max_field_len: DEFAULT_MAX_FIELD_LEN,
            clock: None,
            prepared: Prepared::default(),
            #[cfg(feature = "opentelemetry")]
            dispatch: std::sync::OnceLock::new(),
        };
        layer.prepare();
        layer
    }
}

impl<W> JsonLayer<W> {
    /// Sets `service.name`, cut to [`MAX_RESOURCE_LEN`] bytes (and marked
    /// `[truncated]`) since it goes into every line.
    ///
    /// Defaults to none: the key is left out.
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<String>) -> Self {
        self.service_name = Some(resource_value(name.into()));
        self.prepare();
        self
    }

    /// Sets `service.version`, cut to [`MAX_RESOURCE_LEN`] bytes.
    ///
    /// Defaults to none: the key is left out.
    #[must_use]
    pub fn with_service_version(mut self, version: impl Into<String>) -> Self {
        self.service_version = Some(resource_value(version.into()));
        self.prepare();
        self
    }

    /// Sets `deployment.environment` (`production`, `staging`, ...), cut to
    /// [`MAX_RESOURCE_LEN`] bytes.
    ///
    /// Defaults to none: the key is left out.
    #[must_use]
    pub fn with_environment(mut self, environment: impl Into<String>) -> Self {
        self.environment = Some(resource_value(environment.into()));
        self.prepare();
        self
    }

    /// Adds a top-level string field written on every line, after the
    /// service fields (for example `cloud.region`). Use keys that differ from
    /// the standard ones. Keys and values are cut to [`MAX_RESOURCE_LEN`]
    /// bytes.
    ///
    /// Defaults to no static fields.
    #[must_use]
    pub fn with_static_field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.static_fields
            .push((resource_value(key.into()), resource_value(value.into())));
        self.prepare();
        self
    }

    /// Sets whether span fields go into `data` and how duplicate keys
    /// resolve.
    ///
    /// Defaults to [`SpanFields::Merge`].
    #[must_use]
    pub fn with_span_fields(mut self, span_fields: SpanFields) -> Self {
        self.span_fields = span_fields;
        self
    }

    /// Replaces the names of the fields written as `"[REDACTED]"`, in event
    /// and span fields alike. A field is redacted when one of these names
    /// occurs in its name, ignoring case and everything but letters and
    /// digits: `api_key` matches `X-Api-Key`, `token` matches `access_token`.
    /// An empty list turns redaction off.
    ///
    /// Defaults to [`DEFAULT_REDACTED_NAMES`](crate::redact::DEFAULT_REDACTED_NAMES);
    /// [`redact`](crate::redact) says what redaction does not catch.
    #[must_use]
    pub fn with_redacted_fields<I, N>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: AsRef<str>,
    {
        self.redaction = Redaction::new(names);
        self.id = NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed);
        self
    }

    /// Replaces the redaction rule, to share one [`Redaction`] with the other
    /// layers and exporters (see [`crate::redact`]).
    ///
    /// Defaults to [`Redaction::default`].
    #[must_use]
    pub fn with_redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self.id = NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed);
        self
    }

    /// Adds one name to the redaction list (see
    /// [`JsonLayer::with_redacted_fields`]).
    ///
    /// Defaults to the list described there.
    #[must_use]
    pub fn with_redacted_field(mut self, name: impl AsRef<str>) -> Self {
        self.redaction.add(name.as_ref());
        self.id = NEXT_LAYER_ID.fetch_add(1, Ordering::Relaxed);
        self
    }

    /// Sets the longest value of a field (and of the message), in bytes of
    /// text before JSON escaping. A longer string, `Debug` or `Display` value
    /// is cut at a character boundary and ends with the marker
    /// `[truncated]`; formatting a `Debug` or `Display` value stops there.
    /// Cut values are counted in
    /// `autotel_truncated_values_total{signal="logs"}`. Numbers and
    /// booleans are never cut.
    ///
    /// Defaults to [`DEFAULT_MAX_FIELD_LEN`] (16 KiB).
    #[must_use]
    pub fn with_max_field_len(mut self, bytes: usize) -> Self {
        self.max_field_len = bytes;
        self
    }

    /// Sets the names of the top-level keys for a log backend.
    ///
    /// Defaults to [`KeyStyle::autotel`], the schema of DESIGN.md.
    #[must_use]
    pub fn with_key_style(mut self, style: KeyStyle) -> Self {
        self.style = style;
        self.prepare();
        self
    }

    /// Sets the clock that stamps each line.
    ///
    /// Defaults to [`SystemClock`].
    #[must_use]
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Box::new(clock));
        self
    }

    /// Sets the destination of the lines.
    ///
    /// Defaults to the writer given to [`JsonLayer::new`].
    #[must_use]
    pub fn with_writer<W2>(self, make_writer: W2) -> JsonLayer<W2>
    where
        W2: for<'w> MakeWriter<'w> + 'static,
    {
        JsonLayer {
            make_writer,
            id: self.id,
            style: self.style,
            service_name: self.service_name,
            service_version: self.service_version,
            environment: self.environment,
            static_fields: self.static_fields,
            span_fields: self.span_fields,
            redaction: self.redaction,
            max_field_len: self.max_field_len,
            clock: self.clock,
            prepared: self.prepared,
            #[cfg(feature = "opentelemetry")]
            dispatch: self.dispatch,
        }
    }

    fn prepare(&mut self) {
        let style = &self.style;
        let mut prepared = Prepared::default();
        prepared.open.extend_from_slice(b"{\"");
        escape_into(&mut prepared.open, style.timestamp());
        prepared.open.extend_from_slice(b"\":\"");
        for (buf, level) in prepared.level_and_logger.iter_mut().zip([
            tracing::Level::TRACE,
            tracing::Level::DEBUG,
            tracing::Level::INFO,
            tracing::Level::WARN,
            tracing::Level::ERROR,
        ]) {
            for (key, value) in [
                (style.level_key(), style.level(level)),
                (style.logger(), ""),
            ] {
                buf.extend_from_slice(b"\",\"");
                escape_into(buf, key);
                buf.extend_from_slice(b"\":\"");
                escape_into(buf, value);
            }
        }
        prepared.message.extend_from_slice(b"\",\"message\":\"");
        prepared.resource.push(b'"');
        let [name_key, version_key, environment_key] = style.service_keys();
        for (key, value) in [
            (name_key, &self.service_name),
            (version_key, &self.service_version),
            (environment_key, &self.environment),
        ] {
            if let Some(value) = value {
                member_into(&mut prepared.resource, key, value);
            }
        }
        for (key, value) in style.constant_fields() {
            member_into(&mut prepared.resource, key, value);
        }
        for (key, value) in &self.static_fields {
            member_into(&mut prepared.resource, key, value);
        }
        self.prepared = prepared;
    }

    fn now(&self) -> SystemTime {
        match &self.clock {
            Some(clock) => clock.now(),
            None => SystemTime::now(),
        }
    }

    fn trace_context<'a, S>(&self, span: &SpanRef<'a, S>) -> TraceContext
    where
        S: LookupSpan<'a>,
    {
        #[cfg(feature = "opentelemetry")]
        return trace_context::resolve(span, || self.dispatch.get()?.upgrade());
        #[cfg(not(feature = "opentelemetry"))]
        trace_context::resolve(span, || None)
    }

    fn record_span_fields(&self, fields: &mut FieldSet, values: &dyn RecordFields, name: &str) {
        let prefix = (self.span_fields == SpanFields::Prefixed).then_some(name);
        let mut limit = Limit::new(self.max_field_len);
        fields.record(values, prefix, &self.redaction, &mut limit);
        count_truncated(limit.cuts());
    }
}

impl<W> fmt::Debug for JsonLayer<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonLayer")
            .field("style", &self.style)
            .field("service_name", &self.service_name)
            .field("service_version", &self.service_version)
            .field("environment", &self.environment)
            .field("static_fields", &self.static_fields)
            .field("span_fields", &self.span_fields)
            .field("redaction", &self.redaction)
            .field("max_field_len", &self.max_field_len)
            .field("clock", &self.clock.as_ref().map_or("system", |_| "custom"))
            .finish_non_exhaustive()
    }
}
