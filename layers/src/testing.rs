//! Capture every signal of a closure, for tests: finished spans, events and
//! the metrics recorded, with no global state.
//!
//! ```
//! use autotel_layers::testing::{capture, SpanStatus};
//!
//! let run = capture(|| {
//!     let _span = tracing::info_span!("load", rows = 3).entered();
//!     tracing::error!(error.type = "timeout", "gave up");
//! });
//!
//! let load = run.span("load").expect("the span closed");
//! assert_eq!(load.status(), SpanStatus::Error);
//! assert_eq!(load.field("rows").map(|v| v.to_string()), Some("3".into()));
//! assert_eq!(run.counter("span_calls_total", &[("span_name", "load"), ("status", "error")]), 1);
//! assert_eq!(run.counter("span_errors_total", &[("error_type", "timeout")]), 1);
//! assert_eq!(run.events()[0].message(), Some("gave up"));
//! ```
//!
//! [`capture`] runs the closure on the current thread. For work spread over
//! threads, create a [`Harness`], call [`Harness::run`] on each thread, then
//! [`Harness::finish`].

use std::fmt::{self, Write as _};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};
use tracing::Dispatch;
use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

use crate::SpanMetricsLayer;

/// Runs `f` under a fresh subscriber (a registry with a default
/// [`SpanMetricsLayer`]) and a fresh metrics recorder, both local to the
/// current thread, and returns everything it produced.
pub fn capture(f: impl FnOnce()) -> Run {
    capture_with(SpanMetricsLayer::new(), f)
}

/// Like [`capture`], with a span metrics layer of your own configuration.
pub fn capture_with(layer: SpanMetricsLayer, f: impl FnOnce()) -> Run {
    let harness = Harness::with_layer(layer);
    harness.run(f);
    harness.finish()
}

/// A subscriber and a metrics recorder that threads can run work under, and
/// that collect what the work produced.
///
/// ```
/// use autotel_layers::testing::Harness;
///
/// let harness = Harness::new();
/// std::thread::scope(|scope| {
///     for _ in 0..4 {
///         scope.spawn(|| harness.run(|| drop(tracing::info_span!("job").entered())));
///     }
/// });
/// assert_eq!(harness.finish().counter("span_calls_total", &[("span_name", "job")]), 4);
/// ```
pub struct Harness {
    dispatch: Dispatch,
    capture: Capture,
}

impl Harness {
    /// A harness with a default [`SpanMetricsLayer`].
    pub fn new() -> Self {
        Self::with_layer(SpanMetricsLayer::new())
    }

    /// A harness with the given span metrics layer.
    pub fn with_layer(layer: SpanMetricsLayer) -> Self {
        let capture = Capture::new();
        let subscriber = tracing_subscriber::registry()
            .with(capture.layer())
            .with(layer);
        Self {
            dispatch: Dispatch::new(subscriber),
            capture,
        }
    }

    /// Runs `f` on the current thread with this harness's subscriber and
    /// recorder as the thread's defaults.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::dispatcher::with_default(&self.dispatch, || {
            metrics::with_local_recorder(&self.capture.recorder, f)
        })
    }

    /// The dispatcher, to hand to code that sets its own defaults.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    /// Everything produced so far; taking a snapshot changes nothing.
    pub fn snapshot(&self) -> Run {
        self.capture.snapshot()
    }

    /// Everything produced, once the work is over.
    pub fn finish(self) -> Run {
        self.snapshot()
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}

/// A span-and-event collector and a metrics recorder that can be installed
/// anywhere, globally included: the building blocks of [`Harness`], for a
/// subscriber and recorder of your own composition.
///
/// Clones share what they collect.
///
/// ```
/// use autotel_layers::testing::Capture;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let capture = Capture::new();
/// let subscriber = tracing_subscriber::registry().with(capture.layer());
/// tracing::subscriber::with_default(subscriber, || {
///     metrics::with_local_recorder(&capture.recorder(), || {
///         tracing::info!("hello");
///         metrics::counter!("jobs_total").increment(2);
///     })
/// });
/// let run = capture.snapshot();
/// assert_eq!(run.events()[0].message(), Some("hello"));
/// assert_eq!(run.counter("jobs_total", &[]), 2);
/// ```
#[derive(Clone, Default)]
pub struct Capture {
    sink: Arc<Sink>,
    recorder: CaptureRecorder,
}

impl Capture {
    /// A collector that holds nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A layer that records every finished span and every event into this
    /// collector.
    pub fn layer(&self) -> CaptureLayer {
        CaptureLayer {
            sink: Arc::clone(&self.sink),
        }
    }

    /// A `metrics` recorder that keeps every value in this collector.
    pub fn recorder(&self) -> CaptureRecorder {
        self.recorder.clone()
    }

    /// Everything collected so far; taking a snapshot changes nothing.
    pub fn snapshot(&self) -> Run {
        let mut metrics = Vec::new();
        let registry = &*self.recorder.registry;
        registry.visit_counters(|key, counter| {
            metrics.push(MetricRecord::new(
                key,
                MetricValue::Counter(counter.load(Ordering::Acquire)),
            ));
        });
        registry.visit_gauges(|key, gauge| {
            let value = f64::from_bits(gauge.load(Ordering::Acquire));
            metrics.push(MetricRecord::new(key, MetricValue::Gauge(value)));
        });
        registry.visit_histograms(|key, histogram| {
            metrics.push(MetricRecord::new(
                key,
                MetricValue::Histogram(histogram.data()),
            ));
        });
        metrics.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        let sink = self.sink.lock();
        Run {
            spans: sink.spans.clone(),
            events: sink.events.clone(),
            metrics,
        }
    }
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sink = self.sink.lock();
        f.debug_struct("Capture")
            .field("spans", &sink.spans.len())
            .field("events", &sink.events.len())
            .finish_non_exhaustive()
    }
}

/// Everything a closure produced under a [`Harness`].
#[derive(Debug, Clone)]
pub struct Run {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
    metrics: Vec<MetricRecord>,
}

impl Run {
    /// Finished spans, in the order they closed.
    pub fn spans(&self) -> &[SpanRecord] {
        &self.spans
    }

    /// The first finished span called `name`.
    pub fn span(&self, name: &str) -> Option<&SpanRecord> {
        self.spans.iter().find(|span| span.name == name)
    }

    /// Events, in the order they were recorded.
    pub fn events(&self) -> &[EventRecord] {
        &self.events
    }

    /// Every metric series recorded.
    pub fn metrics(&self) -> &[MetricRecord] {
        &self.metrics
    }

    /// The series called `name` whose labels include every pair of `labels`.
    pub fn series<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a MetricRecord> + 'a {
        self.metrics
            .iter()
            .filter(move |series| series.name == name && series.has_labels(labels))
    }

    /// The sum of the counters called `name` whose labels include every pair
    /// of `labels`; 0 when there is none.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.series(name, labels)
            .filter_map(|series| match series.value {
                MetricValue::Counter(n) => Some(n),
                _ => None,
            })
            .sum()
    }

    /// The value of the gauge called `name` whose labels include every pair
    /// of `labels`; the sum when several match, `None` when none does.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series(name, labels)
            .filter_map(|series| match series.value {
                MetricValue::Gauge(g) => Some(g),
                _ => None,
            })
            .reduce(|a, b| a + b)
    }

    /// Every value recorded into the histograms called `name` whose labels
    /// include every pair of `labels`.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.series(name, labels)
            .filter_map(|series| match &series.value {
                MetricValue::Histogram(values) => Some(values.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}

/// How a span ended, by the rule of [`SpanMetricsLayer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanStatus {
    /// No error.
    Ok,
    /// An ERROR event inside it, an `error` field, or
    /// `otel.status_code = "ERROR"`.
    Error,
}

/// A field value as it was recorded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldValue {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A floating-point number.
    F64(f64),
    /// A string, recorded as such.
    Str(String),
    /// The `Debug` (or `Display`, for `%value`) text of anything else,
    /// including errors.
    Debug(String),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(v) => v.fmt(f),
            Self::I64(v) => v.fmt(f),
            Self::U64(v) => v.fmt(f),
            Self::F64(v) => v.fmt(f),
            Self::Str(v) | Self::Debug(v) => f.write_str(v),
        }
    }
}

/// A span that closed.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    id: u64,
    name: &'static str,
    target: String,
    fields: Vec<(&'static str, FieldValue)>,
    parent: Option<u64>,
    duration: Duration,
    error_event: bool,
}

impl SpanRecord {
    /// The span's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The span's target.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The span's id while it was live (ids are reused after close).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Every field recorded on the span, at creation or later, in order.
    pub fn fields(&self) -> &[(&'static str, FieldValue)] {
        &self.fields
    }

    /// The last value recorded for the field `name`.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The id of the parent span, if it had one.
    pub fn parent(&self) -> Option<u64> {
        self.parent
    }

    /// Wall time from creation to close.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Whether the span ended in error.
    pub fn status(&self) -> SpanStatus {
        let error_field = self
            .field("error")
            .is_some_and(|value| *value != FieldValue::Bool(false));
        let status_code = self.field("otel.status_code").is_some_and(|value| {
            value
                .to_string()
                .trim_matches('"')
                .eq_ignore_ascii_case("error")
        });
        if self.error_event || error_field || status_code {
            SpanStatus::Error
        } else {
            SpanStatus::Ok
        }
    }
}

/// An event that was recorded.
#[derive(Debug, Clone)]
pub struct EventRecord {
    level: Level,
    target: String,
    fields: Vec<(&'static str, FieldValue)>,
    span: Option<u64>,
}

impl EventRecord {
    /// The event's level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The event's target.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The event's fields, the message included.
    pub fn fields(&self) -> &[(&'static str, FieldValue)] {
        &self.fields
    }

    /// The value of the field `name`.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The event's message.
    pub fn message(&self) -> Option<&str> {
        match self.field("message")? {
            FieldValue::Str(s) | FieldValue::Debug(s) => Some(s),
            _ => None,
        }
    }

    /// The id of the span the event was recorded in.
    pub fn span(&self) -> Option<u64> {
        self.span
    }
}

/// One metric series and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRecord {
    name: String,
    labels: Vec<(String, String)>,
    value: MetricValue,
}

impl MetricRecord {
    fn new(key: &Key, value: MetricValue) -> Self {
        Self {
            name: key.name().to_owned(),
            labels: key
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect(),
            value,
        }
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The labels, in the order they were given.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The value of the label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value.
    pub fn value(&self) -> &MetricValue {
        &self.value
    }

    fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(key, value)| self.label(key) == Some(*value))
    }
}

/// The value of a metric series.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MetricValue {
    /// A counter's total.
    Counter(u64),
    /// A gauge's last value.
    Gauge(f64),
    /// Every value a histogram received.
    Histogram(Vec<f64>),
}

/// The `metrics` recorder of a [`Capture`]: its values can be read any
/// number of times. Clones share their values.
#[derive(Clone)]
pub struct CaptureRecorder {
    registry: Arc<Registry<Key, AtomicStorage>>,
}

impl Default for CaptureRecorder {
    fn default() -> Self {
        Self {
            registry: Arc::new(Registry::atomic()),
        }
    }
}

impl fmt::Debug for CaptureRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureRecorder").finish_non_exhaustive()
    }
}

impl Recorder for CaptureRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |counter| Counter::from_arc(Arc::clone(counter)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |gauge| Gauge::from_arc(Arc::clone(gauge)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry
            .get_or_create_histogram(key, |histogram| Histogram::from_arc(Arc::clone(histogram)))
    }
}

#[derive(Default)]
struct Sink {
    inner: Mutex<SinkInner>,
}

#[derive(Default)]
struct SinkInner {
    spans: Vec<SpanRecord>,
    events: Vec<EventRecord>,
}

impl Sink {
    fn lock(&self) -> std::sync::MutexGuard<'_, SinkInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The layer of a [`Capture`]: collects finished spans and events.
pub struct CaptureLayer {
    sink: Arc<Sink>,
}

impl fmt::Debug for CaptureLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureLayer").finish_non_exhaustive()
    }
}

struct LiveSpan {
    start: Instant,
    fields: Vec<(&'static str, FieldValue)>,
    error_event: bool,
}

struct Fields<'a>(&'a mut Vec<(&'static str, FieldValue)>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), FieldValue::F64(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), FieldValue::I64(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), FieldValue::U64(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), FieldValue::Bool(value)));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .push((field.name(), FieldValue::Str(value.to_owned())));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .push((field.name(), FieldValue::Debug(value.to_string())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // A Debug impl may fail; keep what it wrote rather than panic.
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.0.push((field.name(), FieldValue::Debug(text)));
    }
}

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(LiveSpan {
                start: Instant::now(),
                fields,
                error_event: false,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(live) = span.extensions_mut().get_mut::<LiveSpan>()
        {
            values.record(&mut Fields(&mut live.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        let span = ctx.event_span(event);
        if *event.metadata().level() == Level::ERROR
            && let Some(span) = &span
            && let Some(live) = span.extensions_mut().get_mut::<LiveSpan>()
        {
            live.error_event = true;
        }
        self.sink.lock().events.push(EventRecord {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
            span: span.map(|span| span.id().into_u64()),
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(live) = span.extensions_mut().remove::<LiveSpan>() else {
            return;
        };
        let record = SpanRecord {
            id: id.into_u64(),
            name: span.name(),
            target: span.metadata().target().to_owned(),
            fields: live.fields,
            parent: span.parent().map(|parent| parent.id().into_u64()),
            duration: live.start.elapsed(),
            error_event: live.error_event,
        };
        self.sink.lock().spans.push(record);
    }
}
