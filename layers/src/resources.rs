//! Per-span resources: the CPU time a thread spent inside a span and the
//! bytes it allocated there, and `pipeline_cpu_percent` /
//! `pipeline_memory_bytes` for pipeline runs.
//!
//! The CPU time comes from [`ThreadCpuClock`] (user space where the kernel
//! allows it, the system call otherwise). The layer touches the registry
//! only where it must (pipeline runs, spans entered on another thread than
//! the one that created them, span extensions when asked for):
//!
//! - plain thread-local tables hold what it needs between the callbacks of
//!   one thread: the facts of each callsite (which of the fields it cares
//!   about it declares), what it knows of the spans created on the thread,
//!   and the clock readings of the spans the thread has entered;
//! - the figures of live spans live in the layer's own array of slots,
//!   claimed and released with single atomic operations, like the span
//!   state of the span metrics layer.

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
use tracing_subscriber::registry::LookupSpan;

use crate::cpu_clock::ThreadCpuClock;
use crate::{DEFAULT_MAX_SERIES, Error, OVERFLOW_LABEL, alloc, catalog};

/// The span field that receives the CPU time spent inside the span, in
/// seconds, when the span declares it (`cpu_time_seconds = field::Empty`).
pub const CPU_TIME_FIELD: &str = "cpu_time_seconds";
/// The span field that receives the bytes allocated inside the span, when the
/// span declares it (`allocated_bytes = field::Empty`) and a
/// [`CountingAllocator`](crate::alloc::CountingAllocator) is installed.
pub const ALLOCATED_BYTES_FIELD: &str = "allocated_bytes";

const PIPELINE_FIELD: &str = "pipeline.name";
const STEP_FIELD: &str = "step.name";

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
/// where other layers can read it, by a layer built
/// [`with_span_extensions(true)`](SpanResourcesLayer::with_span_extensions).
/// The layer inserts it when a measured span is first exited and adds to it
/// at each exit.
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
    /// The span's callsite, for recording into its fields.
    metadata: Option<&'static Metadata<'static>>,
    /// The span was already entered on this thread: the outer entry counts
    /// the time, this one nothing.
    again: bool,
}

/// What a layer knows of a span created on the thread.
#[derive(Clone, Copy)]
struct SpanFacts {
    layer: u64,
    span: u64,
    metadata: Option<&'static Metadata<'static>>,
    /// The callsite's facts, with [`Facts::MEASURED`] when the layer
    /// measures the span.
    facts: Facts,
}

const NO_SPAN: SpanFacts = SpanFacts {
    layer: 0,
    span: 0,
    metadata: None,
    facts: Facts(0),
};

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
    spans: [Cell<SpanFacts>; SPAN_SLOTS],
    /// Entered spans: the first `depth` entries.
    depth: Cell<usize>,
    entered: [Cell<Entry>; MAX_DEPTH],
}

thread_local! {
    static TABLES: Tables = const {
        Tables {
            callsites: [const { Cell::new((0, Facts(0))) }; CALLSITE_SLOTS],
            spans: [const { Cell::new(NO_SPAN) }; SPAN_SLOTS],
            depth: Cell::new(0),
            entered: [const {
                Cell::new(Entry {
                    layer: 0,
                    span: 0,
                    cpu: 0,
                    allocated: 0,
                    metadata: None,
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
    fn remember(&self, known: SpanFacts) {
        self.spans[hash(known.span, known.layer) % SPAN_SLOTS].set(known);
    }

    #[inline]
    fn recall(&self, layer: u64, span: u64) -> Option<SpanFacts> {
        let known = self.spans[hash(span, layer) % SPAN_SLOTS].get();
        (known.layer == layer && known.span == span).then_some(known)
    }

    #[inline]
    fn forget(&self, layer: u64, span: u64) -> Option<SpanFacts> {
        let slot = &self.spans[hash(span, layer) % SPAN_SLOTS];
        let known = slot.get();
        (known.layer == layer && known.span == span).then(|| {
            slot.set(NO_SPAN);
            known
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

/// Slots of a layer's figure store: live measured spans it holds without
/// the registry.
const FIGURE_SLOTS: usize = 4096;

/// The figures of the spans a layer measures, in a fixed array of slots that
/// spans claim and release without locking: at the first exit of a span, a
/// compare-and-swap of the slot's holder; at its close, two stores. A span
/// whose slot another live span holds keeps its figures in its extensions
/// instead ([`Unslotted`]). The registry reuses the ids of closed spans, so
/// a thread that opens and closes spans keeps using the same few slots.
struct FigureSlots {
    /// Allocated when the layer joins a dispatcher (or with the first span),
    /// so that layers built and dropped while configuring allocate nothing,
    /// and the first measured span is not charged with the array.
    slots: OnceLock<Box<[FigureSlot]>>,
}

/// The id of the span that holds the slot (0 when free), and its figures,
/// zero while free.
#[derive(Default)]
#[repr(align(32))]
struct FigureSlot {
    span: AtomicU64,
    cpu_nanos: AtomicU64,
    allocated: AtomicU64,
}

impl FigureSlots {
    fn new() -> Self {
        Self {
            slots: OnceLock::new(),
        }
    }

    fn slots(&self) -> &[FigureSlot] {
        self.slots
            .get_or_init(|| (0..FIGURE_SLOTS).map(|_| FigureSlot::default()).collect())
    }

    #[inline]
    fn index(span: u64) -> usize {
        (span.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 52) as usize % FIGURE_SLOTS
    }

    /// Adds `used` to the figures of `span` and returns their sum so far;
    /// `None` when another live span holds the slot.
    #[inline]
    fn add(&self, span: u64, used: SpanResources) -> Option<SpanResources> {
        let slot = self.slots().get(Self::index(span))?;
        let holder = slot.span.load(Ordering::Acquire);
        if holder != span
            && (holder != 0
                || slot
                    .span
                    .compare_exchange(0, span, Ordering::Acquire, Ordering::Relaxed)
                    .is_err())
        {
            return None;
        }
        // Threads that enter the span at the same time add to it together.
        // Without the counting allocator nothing is allocated, as far as
        // the layer can tell: a load is enough.
        let cpu_nanos = slot.cpu_nanos.fetch_add(used.cpu_nanos, Ordering::Relaxed);
        let allocated = if used.allocated == 0 {
            slot.allocated.load(Ordering::Relaxed)
        } else {
            slot.allocated.fetch_add(used.allocated, Ordering::Relaxed)
        };
        Some(SpanResources {
            cpu_nanos: cpu_nanos.wrapping_add(used.cpu_nanos),
            allocated: allocated.wrapping_add(used.allocated),
        })
    }

    /// Takes the figures of `span` out, freeing its slot; `None` when the
    /// span holds no slot.
    #[inline]
    fn take(&self, span: u64) -> Option<SpanResources> {
        let slot = self.slots.get()?.get(Self::index(span))?;
        if slot.span.load(Ordering::Relaxed) != span {
            return None;
        }
        // A closing span is entered nowhere: nothing adds to it any more.
        let figures = SpanResources {
            cpu_nanos: slot.cpu_nanos.load(Ordering::Relaxed),
            allocated: slot.allocated.load(Ordering::Relaxed),
        };
        slot.cpu_nanos.store(0, Ordering::Relaxed);
        slot.allocated.store(0, Ordering::Relaxed);
        slot.span.store(0, Ordering::Release);
        Some(figures)
    }
}

/// The figures of a span whose slot another span held, in its extensions;
/// private, so that [`SpanResources`] appears there only when asked for.
struct Unslotted(SpanResources);

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
/// - The layer keeps them itself, in a fixed array of slots claimed without
///   locking (a span whose slot another live span holds keeps them in its
///   extensions), and, when built
///   [`with_span_extensions(true)`](Self::with_span_extensions), as
///   [`SpanResources`] in every measured span's extensions instead, where
///   other layers can read them.
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
/// once per callsite and thread, and remembered per span on the thread that
/// created it: a span the layer does not measure costs under 10 ns and no
/// registry lookup (one, on enter, when another thread created it).
///
/// A measured span reads the thread's CPU clock when it is entered and when
/// it is exited (about 10 ns each with [`ThreadCpuClock::Auto`], a system
/// call of 0.4–0.8 µs each with [`ThreadCpuClock::SystemCall`] or where the
/// fast clock is unavailable) and adds to its slot at each exit (a
/// compare-and-swap on the first). On a 2-vCPU VM, where a bare registry
/// takes 95–100 ns for a span, that is 45–50 ns more per measured span with
/// the fast clock, and about 1 µs more with the system call. Keeping
/// [`SpanResources`] in the extensions adds about 30 ns: a registry lookup,
/// the extensions' lock and an allocation per span (the `resources` bench of
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
    span_extensions: bool,
    max_series: usize,
    clock: ThreadCpuClock,
    figures: FigureSlots,
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
            .field("span_extensions", &self.span_extensions)
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
            span_extensions: false,
            max_series: DEFAULT_MAX_SERIES,
            clock: ThreadCpuClock::default(),
            figures: FigureSlots::new(),
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

    /// Whether to keep the figures of every measured span as
    /// [`SpanResources`] in its extensions, where other layers can read
    /// them. That costs a registry lookup, the extensions' lock and, once per
    /// span, an allocation at each exit: about 30 ns more per measured span
    /// than the layer's own slots (75–80 ns in all instead of 45–50 on a
    /// 2-vCPU VM). Without it the layer keeps the figures itself and hands
    /// them out through the span fields and the pipeline gauges only.
    ///
    /// ```
    /// let layer = autotel_layers::SpanResourcesLayer::new().with_span_extensions(true);
    /// ```
    ///
    /// Defaults to `false`.
    #[must_use]
    pub fn with_span_extensions(mut self, enabled: bool) -> Self {
        self.span_extensions = enabled;
        self
    }

    /// The most distinct `pipeline_name` values the pipeline gauges take;
    /// later names go to one series labelled `otel_metric_overflow="true"`.
    ///
    /// ```
    /// let layer = autotel_layers::SpanResourcesLayer::new().with_max_series(100)?;
    /// assert!(autotel_layers::SpanResourcesLayer::new().with_max_series(0).is_err());
    /// # Ok::<(), autotel_layers::Error>(())
    /// ```
    ///
    /// Defaults to [`DEFAULT_MAX_SERIES`] (2000).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when `max_series` is zero.
    pub fn with_max_series(mut self, max_series: usize) -> Result<Self, Error> {
        self.max_series = crate::error::check_max_series("with_max_series", max_series)?;
        Ok(self)
    }

    /// The facts of a callsite, with [`Facts::MEASURED`] when this layer
    /// measures its spans.
    #[inline]
    fn facts(&self, tables: &Tables, metadata: &'static Metadata<'static>) -> Facts {
        let facts = tables.callsite(metadata);
        let measured = match self.scope {
            ResourceScope::AllSpans => true,
            ResourceScope::PipelinesAndSteps => facts.has(Facts::PIPELINE | Facts::STEP),
        };
        if measured {
            Facts(facts.0 | Facts::MEASURED)
        } else {
            facts
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

    /// Adds `used` to the figures of span `id` and returns their sum so far.
    fn add<S>(&self, id: &Id, used: SpanResources, ctx: &Context<'_, S>) -> Option<SpanResources>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        if !self.span_extensions
            && let Some(total) = self.figures.add(id.into_u64(), used)
        {
            return Some(total);
        }
        let span = ctx.span(id)?;
        let mut extensions = span.extensions_mut();
        let total = if self.span_extensions {
            extensions.get_mut::<SpanResources>()
        } else {
            extensions
                .get_mut::<Unslotted>()
                .map(|unslotted| &mut unslotted.0)
        };
        Some(match total {
            Some(total) => {
                total.cpu_nanos = total.cpu_nanos.saturating_add(used.cpu_nanos);
                total.allocated = total.allocated.saturating_add(used.allocated);
                *total
            }
            None if self.span_extensions => {
                extensions.insert(used);
                used
            }
            None => {
                extensions.insert(Unslotted(used));
                used
            }
        })
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
        // Calibrates the TSC and allocates the slots now rather than in the
        // first span.
        self.clock.prepare();
        if !self.span_extensions {
            let _ = self.figures.slots();
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let metadata = attrs.metadata();
        let facts = Tables::with(|tables| {
            let facts = self.facts(tables, metadata);
            tables.remember(SpanFacts {
                layer: self.key,
                span: id.into_u64(),
                metadata: Some(metadata),
                facts,
            });
            facts
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
            let (metadata, facts) = match tables.recall(self.key, span) {
                Some(known) => (known.metadata, known.facts),
                // Created on another thread: the registry tells the callsite.
                None => match ctx.metadata(id) {
                    Some(metadata) => (Some(metadata), self.facts(tables, metadata)),
                    None => return,
                },
            };
            if !facts.has(Facts::MEASURED) {
                return;
            }
            let Some(cpu) = self.clock.nanos() else {
                return;
            };
            tables.push(Entry {
                layer: self.key,
                span,
                cpu,
                allocated: alloc::thread_allocated_bytes(),
                metadata: metadata.filter(|_| {
                    self.record_fields && facts.has(Facts::CPU_FIELD | Facts::ALLOCATED_FIELD)
                }),
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
        let used = SpanResources {
            cpu_nanos: cpu.saturating_sub(entry.cpu),
            allocated: alloc::thread_allocated_bytes().saturating_sub(entry.allocated),
        };
        let Some(total) = self.add(id, used, &ctx) else {
            return;
        };
        if let Some(metadata) = entry.metadata {
            self.record_into_fields(id, metadata.fields(), total);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let known = Tables::with(|tables| tables.forget(self.key, id.into_u64()));
        let slotted = self.figures.take(id.into_u64());
        if known.is_some_and(|known| !known.facts.has(Facts::PIPELINE))
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
        let figures = slotted
            .or_else(|| extensions.get::<SpanResources>().copied())
            .or_else(|| extensions.get::<Unslotted>().map(|unslotted| unslotted.0))
            .unwrap_or_default();
        if let Some(pipeline) = &run.name {
            self.publish_pipeline(pipeline, run.opened, figures);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used(cpu_nanos: u64, allocated: u64) -> SpanResources {
        SpanResources {
            cpu_nanos,
            allocated,
        }
    }

    /// Two span ids that share a slot.
    fn sharing_a_slot() -> (u64, u64) {
        let first = 1;
        let second = (2..)
            .find(|&id| FigureSlots::index(id) == FigureSlots::index(first))
            .unwrap();
        (first, second)
    }

    fn figures(resources: Option<SpanResources>) -> Option<(u64, u64)> {
        resources.map(|r| (r.cpu_nanos, r.allocated))
    }

    #[test]
    fn a_slot_holds_one_live_span_and_is_free_again_when_it_closes() {
        let slots = FigureSlots::new();
        let (first, second) = sharing_a_slot();
        assert_eq!(figures(slots.add(first, used(10, 1))), Some((10, 1)));
        assert_eq!(figures(slots.add(first, used(5, 0))), Some((15, 1)));
        assert_eq!(figures(slots.add(second, used(7, 7))), None);
        assert_eq!(figures(slots.take(second)), None);
        assert_eq!(figures(slots.take(first)), Some((15, 1)));
        assert_eq!(figures(slots.take(first)), None);
        // The next holder starts from zero.
        assert_eq!(figures(slots.add(second, used(7, 7))), Some((7, 7)));
    }

    #[test]
    fn threads_exiting_one_span_add_up() {
        let slots = FigureSlots::new();
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        slots.add(42, used(1, 2));
                    }
                });
            }
        });
        assert_eq!(figures(slots.take(42)), Some((40_000, 80_000)));
    }

    #[test]
    fn a_span_entered_inside_itself_is_marked() {
        let tables = Tables::with(|tables| {
            let entry = |span| Entry {
                layer: 1,
                span,
                cpu: 0,
                allocated: 0,
                metadata: None,
                again: false,
            };
            tables.push(entry(5));
            tables.push(entry(6));
            tables.push(entry(5));
            let inner = tables.pop(1, 5).map(|e| e.again);
            let middle = tables.pop(1, 6).map(|e| e.again);
            let outer = tables.pop(1, 5).map(|e| e.again);
            (inner, middle, outer, tables.pop(1, 5).is_none())
        });
        assert_eq!(tables, (Some(true), Some(false), Some(false), true));
    }
}
