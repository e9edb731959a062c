//! The resources layer and its configuration.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use metrics::SharedString;
use tracing_core::Metadata;
use tracing_core::Subscriber;
use tracing_core::dispatcher::WeakDispatch;
use tracing_core::field::FieldSet;
use tracing_core::span::{Id, Record};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::facts::Facts;
use super::figures::{FigureSlots, Unslotted};
use super::thread_tables::Tables;
use super::{ALLOCATED_BYTES_FIELD, CPU_TIME_FIELD, ResourceScope, SpanResources};
use crate::Error;
use crate::catalog::{self, label};
use crate::cpu_clock::ThreadCpuClock;
use crate::internal::interner::{Interner, OVERFLOW};
use crate::internal::series_cap::{OVERFLOW_LABEL, count_overflow};
use crate::span_metrics::DEFAULT_MAX_SERIES;

/// Distinguishes layers in the thread-local tables.
pub(super) static NEXT_LAYER_KEY: AtomicU64 = AtomicU64::new(1);

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
    pub(super) scope: ResourceScope,
    pub(super) record_fields: bool,
    pub(super) span_extensions: bool,
    pub(super) max_series: usize,
    pub(super) clock: ThreadCpuClock,
    pub(super) figures: FigureSlots,
    /// Tells this layer's entries in the thread-local tables from those of
    /// other layers (another subscriber's span may have the same id).
    pub(super) key: u64,
    /// Pipeline runs open now; while there are none, closing a span needs no
    /// lookup.
    pub(super) open_runs: AtomicUsize,
    pub(super) dispatch: OnceLock<WeakDispatch>,
    /// The `pipeline_name` values of the pipeline gauges, up to the cap.
    pub(super) pipelines: Interner,
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
            pipelines: Interner::new(DEFAULT_MAX_SERIES),
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
        self.pipelines = Interner::new(self.max_series);
        Ok(self)
    }

    /// The facts of a callsite, with [`Facts::MEASURED`] when this layer
    /// measures its spans.
    #[inline]
    pub(super) fn facts(&self, tables: &Tables, metadata: &'static Metadata<'static>) -> Facts {
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

    pub(super) fn record_into_fields(&self, id: &Id, fields: &FieldSet, figures: SpanResources) {
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

    pub(super) fn publish_pipeline(
        &self,
        pipeline: &str,
        opened: Instant,
        resources: SpanResources,
    ) {
        let wall = opened.elapsed().as_nanos() as f64;
        let percent = if wall > 0.0 {
            resources.cpu_nanos as f64 / wall * 100.0
        } else {
            0.0
        };
        let label = if self.pipelines.intern(pipeline) == OVERFLOW {
            metrics::with_recorder(|recorder| {
                for def in [
                    &catalog::PIPELINE_CPU_PERCENT,
                    &catalog::PIPELINE_MEMORY_BYTES,
                ] {
                    count_overflow(recorder, &SharedString::const_str(def.name()));
                }
            });
            (OVERFLOW_LABEL, "true".to_owned())
        } else {
            (label::PIPELINE_NAME, pipeline.to_owned())
        };
        metrics::gauge!(catalog::PIPELINE_CPU_PERCENT.name(), label.0 => label.1.clone())
            .set(percent);
        if let Some(bytes) = resources.allocated_bytes() {
            metrics::gauge!(catalog::PIPELINE_MEMORY_BYTES.name(), label.0 => label.1)
                .set(bytes as f64);
        }
    }

    /// Adds `used` to the figures of span `id` and returns their sum so far.
    pub(super) fn add<S>(
        &self,
        id: &Id,
        used: SpanResources,
        ctx: &Context<'_, S>,
    ) -> Option<SpanResources>
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
