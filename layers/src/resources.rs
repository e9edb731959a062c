//! Per-span resources: the CPU time a thread spent inside a span and the
//! bytes it allocated there, and `pipeline_cpu_percent` /
//! `pipeline_memory_bytes` for pipeline runs.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tracing_core::dispatcher::WeakDispatch;
use tracing_core::field::{Field, FieldSet, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::{DEFAULT_MAX_SERIES, OVERFLOW_LABEL, alloc, catalog};

/// The span field that receives the CPU time spent inside the span, in
/// seconds, when the span declares it (`cpu_time_seconds = field::Empty`).
pub const CPU_TIME_FIELD: &str = "cpu_time_seconds";
/// The span field that receives the bytes allocated inside the span, when the
/// span declares it (`allocated_bytes = field::Empty`) and a
/// [`CountingAllocator`](crate::alloc::CountingAllocator) is installed.
pub const ALLOCATED_BYTES_FIELD: &str = "allocated_bytes";

const PIPELINE_FIELD: &str = "pipeline.name";
const STEP_FIELD: &str = "step.name";

/// The CPU time the calling thread has used, in nanoseconds; `None` where the
/// platform cannot tell.
#[cfg(unix)]
#[allow(unsafe_code)]
pub(crate) fn thread_cpu_nanos() -> Option<u64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // `clock_gettime` is a foreign function and so unsafe to call; it writes
    // only to `now`, a valid, exclusively borrowed timespec.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return None;
    }
    let seconds = u64::try_from(now.tv_sec).ok()?;
    let nanos = u64::try_from(now.tv_nsec).ok()?;
    Some(seconds.saturating_mul(1_000_000_000).saturating_add(nanos))
}

#[cfg(not(unix))]
pub(crate) fn thread_cpu_nanos() -> Option<u64> {
    None
}

/// Which spans the [`SpanResourcesLayer`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResourceScope {
    /// Every span.
    AllSpans,
    /// Only pipeline runs (spans with a `pipeline.name` field) and steps
    /// (spans with a `step.name` field).
    #[default]
    PipelinesAndSteps,
}

/// What a span used while it was entered, kept in the span's extensions,
/// where other layers can read it.
///
/// ```
/// use autotel_layers::SpanResources;
/// use tracing_subscriber::registry::LookupSpan;
///
/// fn cpu_of<S: for<'a> LookupSpan<'a>>(subscriber: &S, id: &tracing::Id) -> Option<std::time::Duration> {
///     let span = subscriber.span(id)?;
///     let extensions = span.extensions();
///     Some(extensions.get::<SpanResources>()?.cpu_time())
/// }
/// ```
#[derive(Debug, Clone)]
pub struct SpanResources {
    cpu_nanos: u64,
    allocated: u64,
    opened: Instant,
    pipeline: Option<String>,
    cpu_field: Option<Field>,
    allocated_field: Option<Field>,
}

impl SpanResources {
    /// CPU time the threads that entered the span spent inside it so far.
    pub fn cpu_time(&self) -> Duration {
        Duration::from_nanos(self.cpu_nanos)
    }

    /// Bytes allocated inside the span so far; `None` unless a
    /// [`CountingAllocator`](crate::alloc::CountingAllocator) is installed.
    pub fn allocated_bytes(&self) -> Option<u64> {
        alloc::is_installed().then_some(self.allocated)
    }
}

/// The figures read when a thread entered a span, kept on that thread.
#[derive(Clone, Copy)]
struct Entry {
    span: u64,
    cpu: u64,
    allocated: u64,
}

/// Spans entered on a thread, innermost last; deeper nesting than this is
/// not measured.
const MAX_DEPTH: usize = 32;

struct EnteredStack {
    len: usize,
    entries: [Entry; MAX_DEPTH],
}

thread_local! {
    static ENTERED: RefCell<EnteredStack> = const {
        RefCell::new(EnteredStack {
            len: 0,
            entries: [Entry { span: 0, cpu: 0, allocated: 0 }; MAX_DEPTH],
        })
    };
}

fn push_entry(entry: Entry) {
    let _ = ENTERED.try_with(|stack| {
        if let Ok(mut stack) = stack.try_borrow_mut()
            && stack.len < MAX_DEPTH
        {
            let len = stack.len;
            stack.entries[len] = entry;
            stack.len += 1;
        }
    });
}

fn pop_entry(span: u64) -> Option<Entry> {
    ENTERED
        .try_with(|stack| {
            let mut stack = stack.try_borrow_mut().ok()?;
            let len = stack.len;
            let at = stack.entries[..len].iter().rposition(|e| e.span == span)?;
            let entry = stack.entries[at];
            stack.entries.copy_within(at + 1..len, at);
            stack.len -= 1;
            Some(entry)
        })
        .ok()
        .flatten()
}

/// A layer that measures, for each span (or only pipeline runs and steps),
/// the CPU time that threads spent inside it and, with a
/// [`CountingAllocator`](crate::alloc::CountingAllocator) installed, the
/// bytes they allocated inside it.
///
/// - The figures accumulate while the span is entered, on every thread that
///   enters it; a parent span counts the work of children entered while it
///   is entered itself.
/// - They are kept as [`SpanResources`] in the span's extensions.
/// - A span that declares the fields [`CPU_TIME_FIELD`]
///   (`cpu_time_seconds`) or [`ALLOCATED_BYTES_FIELD`] (`allocated_bytes`)
///   as `field::Empty` receives them each time it is exited, so that the JSON
///   and OTLP outputs carry them.
/// - When a pipeline run (a span with a `pipeline.name` field) closes, the
///   gauges `pipeline_cpu_percent{pipeline_name}` (CPU time over wall time,
///   in percent of one core) and `pipeline_memory_bytes{pipeline_name}`
///   (bytes allocated inside it) are set for that run.
///
/// Reading a thread's CPU time is a system call on Linux (0.3–0.8 µs), made
/// once on enter and once on exit of each measured span; hence the default
/// [`ResourceScope::PipelinesAndSteps`].
///
/// ```
/// use autotel_layers::SpanResourcesLayer;
/// use tracing_subscriber::prelude::*;
///
/// let subscriber = tracing_subscriber::registry().with(SpanResourcesLayer::new());
/// tracing::subscriber::with_default(subscriber, || {
///     let run = tracing::info_span!("nightly", pipeline.name = "nightly");
///     run.in_scope(|| { /* the work of the run */ });
/// });
/// ```
pub struct SpanResourcesLayer {
    scope: ResourceScope,
    record_fields: bool,
    max_series: usize,
    dispatch: OnceLock<WeakDispatch>,
    pipelines: Mutex<HashSet<String>>,
}

impl fmt::Debug for SpanResourcesLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanResourcesLayer")
            .field("scope", &self.scope)
            .field("record_fields", &self.record_fields)
            .field("max_series", &self.max_series)
            .finish_non_exhaustive()
    }
}

impl Default for SpanResourcesLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanResourcesLayer {
    /// A layer with the default settings.
    ///
    /// ```
    /// let layer = autotel_layers::SpanResourcesLayer::new();
    /// ```
    pub fn new() -> Self {
        Self {
            scope: ResourceScope::default(),
            record_fields: true,
            max_series: DEFAULT_MAX_SERIES,
            dispatch: OnceLock::new(),
            pipelines: Mutex::new(HashSet::new()),
        }
    }

    /// Which spans to measure.
    ///
    /// ```
    /// use autotel_layers::{ResourceScope, SpanResourcesLayer};
    ///
    /// let layer = SpanResourcesLayer::new().with_scope(ResourceScope::AllSpans);
    /// ```
    ///
    /// Defaults to [`ResourceScope::PipelinesAndSteps`].
    #[must_use]
    pub fn with_scope(mut self, scope: ResourceScope) -> Self {
        self.scope = scope;
        self
    }

    /// Whether to record the figures into the span fields
    /// [`CPU_TIME_FIELD`] and [`ALLOCATED_BYTES_FIELD`] of spans that
    /// declare them.
    ///
    /// ```
    /// let layer = autotel_layers::SpanResourcesLayer::new().with_span_fields(false);
    /// ```
    ///
    /// Defaults to `true`.
    #[must_use]
    pub fn with_span_fields(mut self, enabled: bool) -> Self {
        self.record_fields = enabled;
        self
    }

    /// The most distinct `pipeline_name` values the pipeline gauges take;
    /// later names go to one series labelled `otel_metric_overflow="true"`.
    ///
    /// ```
    /// let layer = autotel_layers::SpanResourcesLayer::new().with_max_series(100);
    /// ```
    ///
    /// Defaults to [`DEFAULT_MAX_SERIES`] (2000).
    #[must_use]
    pub fn with_max_series(mut self, max_series: usize) -> Self {
        self.max_series = max_series;
        self
    }

    fn measures(&self, fields: &FieldSet) -> bool {
        match self.scope {
            ResourceScope::AllSpans => true,
            ResourceScope::PipelinesAndSteps => {
                fields.field(PIPELINE_FIELD).is_some() || fields.field(STEP_FIELD).is_some()
            }
        }
    }

    fn record_into_fields(&self, id: &Id, fields: &FieldSet, figures: FieldFigures) {
        let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) else {
            return;
        };
        let cpu = figures.cpu_nanos as f64 / 1e9;
        if let Some(field) = &figures.cpu_field {
            let values = [(field, Some(&cpu as &dyn tracing_core::field::Value))];
            let set = fields.value_set(&values);
            dispatch.record(id, &Record::new(&set));
        }
        let bytes = alloc::is_installed().then_some(figures.allocated);
        if let (Some(field), Some(bytes)) = (&figures.allocated_field, bytes) {
            let values = [(field, Some(&bytes as &dyn tracing_core::field::Value))];
            let set = fields.value_set(&values);
            dispatch.record(id, &Record::new(&set));
        }
    }

    fn publish_pipeline(&self, pipeline: &str, resources: &SpanResources) {
        let wall = resources.opened.elapsed().as_nanos() as f64;
        let percent = if wall > 0.0 {
            resources.cpu_nanos as f64 / wall * 100.0
        } else {
            0.0
        };
        let known = {
            let mut pipelines = self
                .pipelines
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            pipelines.contains(pipeline)
                || (pipelines.len() < self.max_series && pipelines.insert(pipeline.to_owned()))
        };
        let label = if known {
            ("pipeline_name", pipeline.to_owned())
        } else {
            for def in [
                &catalog::PIPELINE_CPU_PERCENT,
                &catalog::PIPELINE_MEMORY_BYTES,
            ] {
                metrics::counter!(catalog::AUTOTEL_SERIES_OVERFLOW_TOTAL.name(), "metric" => def.name())
                    .increment(1);
            }
            (OVERFLOW_LABEL, "true".to_owned())
        };
        metrics::gauge!(catalog::PIPELINE_CPU_PERCENT.name(), label.0 => label.1.clone())
            .set(percent);
        if let Some(bytes) = resources.allocated_bytes() {
            metrics::gauge!(catalog::PIPELINE_MEMORY_BYTES.name(), label.0 => label.1)
                .set(bytes as f64);
        }
    }
}

/// What `record_into_fields` writes, copied out of the span's extensions so
/// that their lock is released before other layers see the record.
struct FieldFigures {
    cpu_nanos: u64,
    allocated: u64,
    cpu_field: Option<Field>,
    allocated_field: Option<Field>,
}

/// Finds the `pipeline.name` value of a new span.
struct PipelineName(Option<String>);

impl Visit for PipelineName {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == PIPELINE_FIELD {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == PIPELINE_FIELD {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S> Layer<S> for SpanResourcesLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.measures(attrs.metadata().fields()) {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let fields = attrs.metadata().fields();
        let pipeline = if fields.field(PIPELINE_FIELD).is_some() {
            let mut name = PipelineName(None);
            attrs.record(&mut name);
            name.0
        } else {
            None
        };
        let (cpu_field, allocated_field) = if self.record_fields {
            (
                fields.field(CPU_TIME_FIELD),
                fields.field(ALLOCATED_BYTES_FIELD),
            )
        } else {
            (None, None)
        };
        span.extensions_mut().insert(SpanResources {
            cpu_nanos: 0,
            allocated: 0,
            opened: Instant::now(),
            pipeline,
            cpu_field,
            allocated_field,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if values.is_empty() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        if span.metadata().fields().field(PIPELINE_FIELD).is_none() {
            return;
        }
        let mut name = PipelineName(None);
        values.record(&mut name);
        if let Some(name) = name.0
            && let Some(resources) = span.extensions_mut().get_mut::<SpanResources>()
        {
            resources.pipeline = Some(name);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        // The callsite tells whether the span is measured, without taking
        // the lock of its extensions.
        let Some(metadata) = ctx.metadata(id) else {
            return;
        };
        if !self.measures(metadata.fields()) {
            return;
        }
        let Some(cpu) = thread_cpu_nanos() else {
            return;
        };
        push_entry(Entry {
            span: id.into_u64(),
            cpu,
            allocated: alloc::thread_allocated_bytes(),
        });
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(entry) = pop_entry(id.into_u64()) else {
            return;
        };
        let cpu = thread_cpu_nanos().unwrap_or(entry.cpu);
        let allocated = alloc::thread_allocated_bytes();
        let Some(span) = ctx.span(id) else {
            return;
        };
        let snapshot = {
            let mut extensions = span.extensions_mut();
            let Some(resources) = extensions.get_mut::<SpanResources>() else {
                return;
            };
            resources.cpu_nanos = resources
                .cpu_nanos
                .saturating_add(cpu.saturating_sub(entry.cpu));
            resources.allocated = resources
                .allocated
                .saturating_add(allocated.saturating_sub(entry.allocated));
            (resources.cpu_field.is_some() || resources.allocated_field.is_some()).then(|| {
                FieldFigures {
                    cpu_nanos: resources.cpu_nanos,
                    allocated: resources.allocated,
                    cpu_field: resources.cpu_field.clone(),
                    allocated_field: resources.allocated_field.clone(),
                }
            })
        };
        if let Some(figures) = snapshot {
            self.record_into_fields(id, span.metadata().fields(), figures);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        if span.metadata().fields().field(PIPELINE_FIELD).is_none() {
            return;
        }
        let extensions = span.extensions();
        let Some(resources) = extensions.get::<SpanResources>() else {
            return;
        };
        if let Some(pipeline) = &resources.pipeline {
            self.publish_pipeline(pipeline, resources);
        }
    }
}
