//! Per-span resources: the CPU time a thread spent inside a span and the
//! bytes it allocated there, and `pipeline_cpu_percent` /
//! `pipeline_memory_bytes` for pipeline runs.
//!
//! The CPU time comes from [`ThreadCpuClock`] (user space where the kernel
//! allows it, the system call otherwise). What the layer needs between the
//! callbacks of one thread lives in plain thread-local tables, not in the
//! registry: the facts of each callsite (which of the fields it cares about
//! it declares), which spans created on the thread it measures, and the
//! clock readings of the spans the thread has entered.

use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tracing_core::dispatcher::WeakDispatch;
use tracing_core::field::{Field, FieldSet, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::cpu_clock::ThreadCpuClock;
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

/// The CPU time the calling thread has used, in nanoseconds, from the system
/// call (for the sampler thread, which reads it rarely); `None` where the
/// platform cannot tell.
pub(crate) fn thread_cpu_nanos() -> Option<u64> {
    ThreadCpuClock::SystemCall.nanos()
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
/// where other layers can read it. The layer inserts it when a measured span
/// is first exited and adds to it at each exit.
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
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanResources {
    cpu_nanos: u64,
    allocated: u64,
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

/// What a pipeline run needs besides its [`SpanResources`]: when it opened
/// and its name. Only pipeline runs carry it.
struct PipelineRun {
    opened: Instant,
    name: Option<String>,
}

/// What the layer needs to know of a callsite, from its field names.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Facts(u8);

impl Facts {
    const PIPELINE: u8 = 1;
    const STEP: u8 = 2;
    const CPU_FIELD: u8 = 4;
    const ALLOCATED_FIELD: u8 = 8;
    /// Set in the span table for spans the layer measures.
    const MEASURED: u8 = 16;
    /// Set in the callsite table for entries that hold facts.
    const KNOWN: u8 = 128;

    fn of(fields: &FieldSet) -> Self {
        let mut facts = Self::KNOWN;
        for field in fields {
            facts |= match field.name() {
                PIPELINE_FIELD => Self::PIPELINE,
                STEP_FIELD => Self::STEP,
                CPU_TIME_FIELD => Self::CPU_FIELD,
                ALLOCATED_BYTES_FIELD => Self::ALLOCATED_FIELD,
                _ => 0,
            };
        }
        Self(facts)
    }

    fn has(self, bits: u8) -> bool {
        self.0 & bits != 0
    }
}

/// Slots of the per-thread table of callsite facts.
const CALLSITE_SLOTS: usize = 64;
/// Slots of the per-thread table of spans created on the thread.
const SPAN_SLOTS: usize = 128;
/// Spans entered on a thread, innermost last; deeper nesting than this is
/// not measured.
const MAX_DEPTH: usize = 32;

/// The figures read when a thread entered a span, kept on that thread.
#[derive(Clone, Copy)]
struct Entry {
    layer: u64,
    span: u64,
    cpu: u64,
    allocated: u64,
    /// The span was already entered on this thread: the outer entry counts
    /// the time, this one nothing.
    again: bool,
}

/// What the layer keeps on each thread. Plain cells, initialised without
/// code and without a destructor: a thread reaches them at the cost of a
/// memory access, and they work until the thread's very end.
struct Tables {
    /// Facts of callsites, by the address of their `'static` metadata; a
    /// slot holds the last callsite that hashed to it.
    callsites: [Cell<(usize, Facts)>; CALLSITE_SLOTS],
    /// Facts of spans created on this thread, by layer key and span id,
    /// with [`Facts::MEASURED`] when the layer measures the span; a slot
    /// holds the last span that hashed to it.
    spans: [Cell<(u64, u64, Facts)>; SPAN_SLOTS],
    /// Entered spans: the first `depth` entries.
    depth: Cell<usize>,
    entered: [Cell<Entry>; MAX_DEPTH],
}

thread_local! {
    static TABLES: Tables = const {
        Tables {
            callsites: [const { Cell::new((0, Facts(0))) }; CALLSITE_SLOTS],
            spans: [const { Cell::new((0, 0, Facts(0))) }; SPAN_SLOTS],
            depth: Cell::new(0),
            entered: [const {
                Cell::new(Entry {
                    layer: 0,
                    span: 0,
                    cpu: 0,
                    allocated: 0,
                    again: false,
                })
            }; MAX_DEPTH],
        }
    };
}

impl Tables {
    /// Runs `f` with the calling thread's tables.
    #[inline]
    fn with<R>(f: impl FnOnce(&Tables) -> R) -> R {
        TABLES.with(f)
    }

    /// The facts of a callsite, computed once per thread and callsite
    /// (unless another callsite took its slot since).
    #[inline]
    fn callsite(&self, metadata: &'static Metadata<'static>) -> Facts {
        let address = std::ptr::from_ref(metadata) as usize;
        let slot = &self.callsites[hash(address as u64, 0) % CALLSITE_SLOTS];
        let (known, facts) = slot.get();
        if known == address && facts.has(Facts::KNOWN) {
            return facts;
        }
        let facts = Facts::of(metadata.fields());
        slot.set((address, facts));
        facts
    }

    /// Notes, on the thread that created a span, what the layer knows of
    /// it.
    ///
    /// A registry's span id names one span until it closes, and the
    /// registry hands a closed span's id out again only on the thread that
    /// created the span (its slab is sharded by thread), where this entry is
    /// then overwritten. So an entry that matches is right; a span entered
    /// on another thread than the one that created it is looked up instead.
    #[inline]
    fn remember(&self, layer: u64, span: u64, facts: Facts) {
        self.spans[hash(span, layer) % SPAN_SLOTS].set((layer, span, facts));
    }

    #[inline]
    fn recall(&self, layer: u64, span: u64) -> Option<Facts> {
        let (l, s, facts) = self.spans[hash(span, layer) % SPAN_SLOTS].get();
        (l == layer && s == span).then_some(facts)
    }

    #[inline]
    fn forget(&self, layer: u64, span: u64) -> Option<Facts> {
        let slot = &self.spans[hash(span, layer) % SPAN_SLOTS];
        let (l, s, facts) = slot.get();
        (l == layer && s == span).then(|| {
            slot.set((0, 0, Facts(0)));
            facts
        })
    }

    #[inline]
    fn push(&self, mut entry: Entry) {
        let depth = self.depth.get();
        let Some(slot) = self.entered.get(depth) else {
            return;
        };
        entry.again = self.entered[..depth].iter().any(|e| {
            let e = e.get();
            e.span == entry.span && e.layer == entry.layer
        });
        slot.set(entry);
        self.depth.set(depth + 1);
    }

    /// Takes out the entry of a span, normally the innermost.
    #[inline]
    fn pop(&self, layer: u64, span: u64) -> Option<Entry> {
        let depth = self.depth.get();
        let entered = self.entered.get(..depth)?;
        let at = entered.iter().rposition(|e| {
            let e = e.get();
            e.span == span && e.layer == layer
        })?;
        let entry = entered[at].get();
        for i in at + 1..depth {
            entered[i - 1].set(entered[i].get());
        }
        self.depth.set(depth - 1);
        Some(entry)
    }
}

#[inline]
fn hash(value: u64, key: u64) -> usize {
    ((value ^ key.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as usize
}

/// Distinguishes layers in the thread-local tables.
static NEXT_LAYER_KEY: AtomicU64 = AtomicU64::new(1);

/// A layer that measures, for each span (or only pipeline runs and steps),
/// the CPU time that threads spent inside it and, with a
/// [`CountingAllocator`](crate::alloc::CountingAllocator) installed, the
/// bytes they allocated inside it.
///
/// - The figures accumulate while the span is entered, on every thread that
///   enters it; a parent span counts the work of children entered while it
///   is entered itself.
/// - They are kept as [`SpanResources`] in the span's extensions, from its
///   first exit on.
/// - A span that declares the fields [`CPU_TIME_FIELD`]
///   (`cpu_time_seconds`) or [`ALLOCATED_BYTES_FIELD`] (`allocated_bytes`)
///   as `field::Empty` receives them each time it is exited, so that the JSON
///   and OTLP outputs carry them.
/// - When a pipeline run (a span with a `pipeline.name` field) closes, the
///   gauges `pipeline_cpu_percent{pipeline_name}` (CPU time over wall time,
///   in percent of one core) and `pipeline_memory_bytes{pipeline_name}`
///   (bytes allocated inside it) are set for that run.
///
/// # Cost
///
/// Whether a span is measured is decided from its callsite's field names,
/// once per callsite and thread. A span the layer does not measure costs
/// about 10 ns, without a registry lookup (when the thread that enters it
/// created it; otherwise one lookup on enter).
///
/// A measured span reads the thread's CPU clock when it is entered and when
/// it is exited (about 10 ns each with [`ThreadCpuClock::Auto`], a system
/// call of 0.4–0.8 µs each with [`ThreadCpuClock::SystemCall`] or where the
/// fast clock is unavailable), and at each exit looks the span up to add to
/// its [`SpanResources`], allocating them on the first: about 50 ns, the
/// price of any per-span state in the registry's extensions. In all, with
/// the fast clock, 75–90 ns per measured span on a 2-vCPU VM, against a bare
/// registry's 95 ns for the span itself (the `resources` bench of
/// `autotel-benches`).
///
/// The thread-local span table relies on what `tracing-subscriber`'s
/// `Registry` guarantees: a span id is handed out again only by the thread
/// that created the span it named.
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
    clock: ThreadCpuClock,
    /// Tells this layer's entries in the thread-local tables from those of
    /// other layers (another subscriber's span may have the same id).
    key: u64,
    /// Pipeline runs open now; while there are none, closing a span needs no
    /// lookup.
    open_runs: AtomicUsize,
    dispatch: OnceLock<WeakDispatch>,
    pipelines: Mutex<HashSet<String>>,
}

impl fmt::Debug for SpanResourcesLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanResourcesLayer")
            .field("scope", &self.scope)
            .field("record_fields", &self.record_fields)
            .field("max_series", &self.max_series)
            .field("clock", &self.clock)
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
            clock: ThreadCpuClock::default(),
            key: NEXT_LAYER_KEY.fetch_add(1, Ordering::Relaxed),
            open_runs: AtomicUsize::new(0),
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

    /// How to read the CPU time of a thread: [`ThreadCpuClock::SystemCall`]
    /// makes the system call on every read, for platforms where the fast
    /// clock misreads or to compare the two.
    ///
    /// ```
    /// use autotel_layers::SpanResourcesLayer;
    /// use autotel_layers::cpu_clock::ThreadCpuClock;
    ///
    /// let layer = SpanResourcesLayer::new().with_cpu_clock(ThreadCpuClock::SystemCall);
    /// ```
    ///
    /// Defaults to [`ThreadCpuClock::Auto`].
    #[must_use]
    pub fn with_cpu_clock(mut self, clock: ThreadCpuClock) -> Self {
        self.clock = clock;
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

    #[inline]
    fn measures(&self, facts: Facts) -> bool {
        match self.scope {
            ResourceScope::AllSpans => true,
            ResourceScope::PipelinesAndSteps => facts.has(Facts::PIPELINE | Facts::STEP),
        }
    }

    fn record_into_fields(&self, id: &Id, fields: &FieldSet, figures: SpanResources) {
        let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) else {
            return;
        };
        let cpu = figures.cpu_nanos as f64 / 1e9;
        if let Some(field) = fields.field(CPU_TIME_FIELD) {
            let values = [(&field, Some(&cpu as &dyn tracing_core::field::Value))];
            let set = fields.value_set(&values);
            dispatch.record(id, &Record::new(&set));
        }
        if let (Some(field), Some(bytes)) = (
            fields.field(ALLOCATED_BYTES_FIELD),
            figures.allocated_bytes(),
        ) {
            let values = [(&field, Some(&bytes as &dyn tracing_core::field::Value))];
            let set = fields.value_set(&values);
            dispatch.record(id, &Record::new(&set));
        }
    }

    fn publish_pipeline(&self, pipeline: &str, opened: Instant, resources: SpanResources) {
        let wall = opened.elapsed().as_nanos() as f64;
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

    /// Adds what the thread used since `entry` to the span's figures.
    fn add_to_span<S>(&self, span: &SpanRef<'_, S>, entry: Entry, cpu: u64, allocated: u64)
    where
        S: for<'a> LookupSpan<'a>,
    {
        let used = SpanResources {
            cpu_nanos: cpu.saturating_sub(entry.cpu),
            allocated: allocated.saturating_sub(entry.allocated),
        };
        let total = {
            let mut extensions = span.extensions_mut();
            match extensions.get_mut::<SpanResources>() {
                Some(resources) => {
                    resources.cpu_nanos = resources.cpu_nanos.saturating_add(used.cpu_nanos);
                    resources.allocated = resources.allocated.saturating_add(used.allocated);
                    *resources
                }
                None => {
                    extensions.insert(used);
                    used
                }
            }
        };
        if self.record_fields {
            let metadata = span.metadata();
            if Tables::with(|tables| tables.callsite(metadata))
                .has(Facts::CPU_FIELD | Facts::ALLOCATED_FIELD)
            {
                self.record_into_fields(&span.id(), metadata.fields(), total);
            }
        }
    }
}

/// Finds the `pipeline.name` value of a span.
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
        // Calibrates the TSC now rather than in the first span.
        self.clock.prepare();
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let facts = Tables::with(|tables| {
            let facts = tables.callsite(attrs.metadata());
            let measured = if self.measures(facts) {
                Facts(facts.0 | Facts::MEASURED)
            } else {
                facts
            };
            tables.remember(self.key, id.into_u64(), measured);
            measured
        });
        let measured = facts.has(Facts::MEASURED);
        if !measured || !facts.has(Facts::PIPELINE) {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut name = PipelineName(None);
        attrs.record(&mut name);
        span.extensions_mut().insert(PipelineRun {
            opened: Instant::now(),
            name: name.0,
        });
        self.open_runs.fetch_add(1, Ordering::Relaxed);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut name = PipelineName(None);
        values.record(&mut name);
        let Some(name) = name.0 else {
            return;
        };
        if let Some(span) = ctx.span(id)
            && let Some(run) = span.extensions_mut().get_mut::<PipelineRun>()
        {
            run.name = Some(name);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let span = id.into_u64();
        Tables::with(|tables| {
            if self.scope != ResourceScope::AllSpans {
                let measured = match tables.recall(self.key, span) {
                    Some(facts) => facts.has(Facts::MEASURED),
                    // Created on another thread: the callsite tells.
                    None => ctx
                        .metadata(id)
                        .is_some_and(|metadata| self.measures(tables.callsite(metadata))),
                };
                if !measured {
                    return;
                }
            }
            let Some(cpu) = self.clock.nanos() else {
                return;
            };
            tables.push(Entry {
                layer: self.key,
                span,
                cpu,
                allocated: alloc::thread_allocated_bytes(),
                again: false,
            });
        });
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(entry) = Tables::with(|tables| tables.pop(self.key, id.into_u64())) else {
            return;
        };
        if entry.again {
            return;
        }
        let cpu = self.clock.nanos().unwrap_or(entry.cpu);
        let allocated = alloc::thread_allocated_bytes();
        if let Some(span) = ctx.span(id) {
            self.add_to_span(&span, entry, cpu, allocated);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let facts = Tables::with(|tables| tables.forget(self.key, id.into_u64()));
        if facts.is_some_and(|facts| !facts.has(Facts::PIPELINE))
            || self.open_runs.load(Ordering::Relaxed) == 0
        {
            return;
        }
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let extensions = span.extensions();
        let Some(run) = extensions.get::<PipelineRun>() else {
            return;
        };
        self.open_runs.fetch_sub(1, Ordering::Relaxed);
        let resources = extensions
            .get::<SpanResources>()
            .copied()
            .unwrap_or_default();
        if let Some(pipeline) = &run.name {
            self.publish_pipeline(pipeline, run.opened, resources);
        }
    }
}
