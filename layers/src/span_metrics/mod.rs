//! RED metrics (calls, errors, duration) and pipeline metrics from every span.

mod fields;
pub(crate) mod store;
mod switch;

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use arc_swap::ArcSwap;
use metrics::{Counter, Gauge, Histogram, Key, Label, Recorder, SharedString};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Interest, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::Error;
use crate::catalog::{self, MetricDef};
use crate::redact::Redaction;
use fields::{Captured, FieldVisitor, Role, RoleKind};
use store::{
    ABSENT, AppendOnly, FastHash, Interner, OVERFLOW, Series, SeriesCache, SlotSpan, SpanSlots,
    SpanTable, recorder_id,
};

use switch::CachedDecision;
pub use switch::MetricsSwitch;

/// The `error_type` label of an error that carries no `error.type` field (the
/// OpenTelemetry semantic conventions' fallback value).
pub const DEFAULT_ERROR_TYPE: &str = "_OTHER";

/// The default cap on distinct label sets per metric.
pub const DEFAULT_MAX_SERIES: usize = 2000;

/// How many dimensions (extra labels from span fields) a layer can have.
pub const MAX_DIMENSIONS: usize = 8;

/// Label values taken from fields are cut to at most this many bytes (at a
/// character boundary).
pub const MAX_LABEL_VALUE_BYTES: usize = 128;

/// Histogram bucket boundaries, in seconds, for duration metrics unless
/// configured otherwise: from half a millisecond to five minutes. The
/// exporters use the same boundaries for every `_seconds` histogram.
pub const DEFAULT_DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

/// The label that marks the series collecting label sets past a metric's cap.
pub const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// A [`Layer`] that records RED metrics and pipeline metrics for every span
/// when it closes, through the [`metrics`] facade, into whatever recorder is
/// installed (or set locally with [`metrics::with_local_recorder`]).
///
/// # Span metrics
///
/// On every span close:
///
/// | metric | kind | labels |
/// |---|---|---|
/// | `span_calls_total` | counter | `span_name`, `status` (`ok`/`error`), dimensions |
/// | `span_duration_seconds` | histogram | `span_name`, `status`, dimensions |
/// | `span_errors_total` | counter | `span_name`, `error_type` |
///
/// The duration is wall time from the span's creation to its close. A span's
/// status is `error` when
/// - an `ERROR`-level event was recorded directly inside it (this covers
///   `#[tracing::instrument(err)]` returning `Err`),
/// - it recorded a field `error` (any value but `false`), or
/// - it recorded `otel.status_code = "ERROR"`.
///
/// `error_type` is the `error.type` field of the error event, else of the
/// span, else [`DEFAULT_ERROR_TYPE`].
///
/// # Pipeline metrics
///
/// A span with a `pipeline.name` field is a pipeline run; a span with a
/// `step.name` field inside a run is a step of it. `items_processed`,
/// `api_calls` and `cost_usd` fields, recorded on a run or a step or on events
/// or spans inside them, add to `items_processed_total`, `api_calls_total` and
/// `pipeline_cost_usd_total` of that pipeline. A step that ends in error counts
/// in `step_errors_total` and makes the run count as `status="error"` in
/// `pipeline_executions_total`. See [`catalog`] for the full list.
///
/// # Cardinality
///
/// Each metric holds at most [`with_max_series`](Self::with_max_series)
/// distinct label sets. Recordings past the cap go to one series labelled
/// `otel_metric_overflow="true"` and are counted in
/// `autotel_series_overflow_total{metric}`. Label values taken from fields are
/// cut to [`MAX_LABEL_VALUE_BYTES`].
///
/// # Cost
///
/// Per-callsite facts (name, filters, which fields matter) are resolved once.
/// Once a label set has been seen, a span records without heap allocation and
/// without hashing label strings. The layer keeps span state itself rather
/// than in the registry's span extensions, whose entries are boxed anew for
/// every span: a span whose fields name no pipeline, step or dimension takes
/// a slot in a fixed array, claimed and freed with one atomic operation each;
/// other spans, and the few whose slot another live span holds, go to a
/// sharded table that keeps its capacity across spans.
///
/// # Example
///
/// ```
/// use autotel_layers::SpanMetricsLayer;
/// use tracing_subscriber::prelude::*;
///
/// let subscriber = tracing_subscriber::registry().with(SpanMetricsLayer::new());
/// tracing::subscriber::with_default(subscriber, || {
///     let _span = tracing::info_span!("checkout").entered();
/// });
/// ```
pub struct SpanMetricsLayer {
    config: Arc<Config>,
    switch: MetricsSwitch,
    state: Arc<State>,
}

#[derive(Debug, Clone)]
struct Config {
    prefix: Option<String>,
    dimensions: Vec<Arc<str>>,
    include_names: Vec<String>,
    exclude_names: Vec<String>,
    include_targets: Vec<String>,
    exclude_targets: Vec<String>,
    buckets: Vec<f64>,
    max_series: usize,
    redaction: Redaction,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            prefix: None,
            dimensions: Vec::new(),
            include_names: Vec::new(),
            exclude_names: Vec::new(),
            include_targets: Vec::new(),
            exclude_targets: Vec::new(),
            buckets: DEFAULT_DURATION_BUCKETS.to_vec(),
            max_series: DEFAULT_MAX_SERIES,
            redaction: Redaction::default(),
        }
    }
}

impl Config {
    fn tracks(&self, metadata: &Metadata<'_>) -> bool {
        let name = metadata.name();
        let target = metadata.target();
        let name_in = |list: &[String]| list.iter().any(|n| n == name);
        let target_in = |list: &[String]| list.iter().any(|t| target_matches(target, t));
        if name_in(&self.exclude_names) || target_in(&self.exclude_targets) {
            return false;
        }
        (self.include_names.is_empty() || name_in(&self.include_names))
            && (self.include_targets.is_empty() || target_in(&self.include_targets))
    }
}

/// Whether `target` is `prefix` or a module below it (`a::b` is below `a`).
fn target_matches(target: &str, prefix: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

fn valid_metric_prefix(prefix: &str) -> bool {
    let mut bytes = prefix.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

impl SpanMetricsLayer {
    /// Creates a layer with the defaults: every span, no dimensions, no
    /// prefix, [`DEFAULT_DURATION_BUCKETS`] and [`DEFAULT_MAX_SERIES`].
    pub fn new() -> Self {
        Self::from_config(Config::default(), MetricsSwitch::new())
    }

    fn from_config(config: Config, switch: MetricsSwitch) -> Self {
        let state = Arc::new(State::new(&config));
        Self {
            config: Arc::new(config),
            switch,
            state,
        }
    }

    fn reconfigure(self, change: impl FnOnce(&mut Config)) -> Self {
        let mut config = Config::clone(&self.config);
        change(&mut config);
        Self::from_config(config, self.switch)
    }

    /// Adds a dimension: the value of the span field `field` becomes a label
    /// of the same name (dots become underscores) on `span_calls_total` and
    /// `span_duration_seconds`. A span without the field gets an empty value.
    ///
    /// Fails past [`MAX_DIMENSIONS`] dimensions, for a name that cannot be a
    /// label, or for a name given twice. Defaults to no dimensions.
    pub fn with_dimension(self, field: impl Into<String>) -> Result<Self, Error> {
        let field = field.into();
        if self.config.dimensions.len() >= MAX_DIMENSIONS {
            return Err(Error::invalid(
                "with_dimension",
                field,
                "is one dimension too many (at most 8)",
            ));
        }
        if field.is_empty() || !valid_metric_prefix(&label_name(&field)) {
            return Err(Error::invalid(
                "with_dimension",
                field,
                "is not a field name that can become a label (letters, digits, '_' and '.')",
            ));
        }
        if self.config.dimensions.iter().any(|d| **d == *field) {
            return Err(Error::invalid(
                "with_dimension",
                field,
                "is already a dimension",
            ));
        }
        Ok(self.reconfigure(|config| config.dimensions.push(Arc::from(field))))
    }

    /// Sets the names whose values are hidden: a dimension whose field name
    /// matches is recorded with the label value `[REDACTED]`, whatever the
    /// span says (the one rule of [`crate::redact`], shared with
    /// [`JsonLayer`](crate::JsonLayer) and the OTLP export).
    ///
    /// Defaults to [`Redaction::default`].
    #[must_use]
    pub fn with_redaction(self, redaction: Redaction) -> Self {
        self.reconfigure(|config| config.redaction = redaction)
    }

    /// Records only spans with one of these names (on top of the other
    /// filters). Defaults to every name.
    #[must_use]
    pub fn with_include_names<I, N>(self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.reconfigure(|c| c.include_names.extend(names.into_iter().map(Into::into)))
    }

    /// Never records spans with these names. Defaults to none.
    #[must_use]
    pub fn with_exclude_names<I, N>(self, names: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.reconfigure(|c| c.exclude_names.extend(names.into_iter().map(Into::into)))
    }

    /// Records only spans whose target is one of these or a module below one
    /// (`my_app` covers `my_app::db`). Defaults to every target.
    #[must_use]
    pub fn with_include_targets<I, N>(self, targets: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.reconfigure(|c| {
            c.include_targets
                .extend(targets.into_iter().map(Into::into))
        })
    }

    /// Never records spans whose target is one of these or a module below
    /// one. Defaults to none.
    #[must_use]
    pub fn with_exclude_targets<I, N>(self, targets: I) -> Self
    where
        I: IntoIterator<Item = N>,
        N: Into<String>,
    {
        self.reconfigure(|c| {
            c.exclude_targets
                .extend(targets.into_iter().map(Into::into))
        })
    }

    /// Puts `prefix` and `_` in front of every metric name this layer records
    /// (`myapp_span_calls_total`). The prefix must be a valid Prometheus name.
    /// Defaults to no prefix.
    pub fn with_prefix(self, prefix: impl Into<String>) -> Result<Self, Error> {
        let prefix = prefix.into();
        if !valid_metric_prefix(&prefix) {
            return Err(Error::invalid(
                "with_prefix",
                prefix,
                "is not a metric name prefix (a letter or '_', then letters, digits or '_')",
            ));
        }
        Ok(self.reconfigure(|c| c.prefix = Some(prefix)))
    }

    /// Sets the histogram bucket boundaries, in seconds, for the duration
    /// metrics. The `metrics` facade does not carry buckets: exporters read
    /// them with [`histogram_buckets`](Self::histogram_buckets). Boundaries
    /// must be finite and strictly increasing. Defaults to
    /// [`DEFAULT_DURATION_BUCKETS`].
    pub fn with_buckets(self, buckets: impl IntoIterator<Item = f64>) -> Result<Self, Error> {
        let buckets: Vec<f64> = buckets.into_iter().collect();
        let text = || format!("{buckets:?}");
        if buckets.is_empty() {
            return Err(Error::invalid("with_buckets", text(), "has no boundary"));
        }
        if buckets.iter().any(|b| !b.is_finite())
            || buckets.windows(2).any(|pair| pair[0] >= pair[1])
        {
            return Err(Error::invalid(
                "with_buckets",
                text(),
                "must be finite and strictly increasing",
            ));
        }
        Ok(self.reconfigure(|c| c.buckets = buckets))
    }

    /// Caps the distinct label sets of each metric; recordings past the cap
    /// go to the overflow series. Must be at least 1. Defaults to
    /// [`DEFAULT_MAX_SERIES`] (2000).
    pub fn with_max_series(self, max_series: usize) -> Result<Self, Error> {
        let max_series = crate::error::check_max_series("with_max_series", max_series)?;
        Ok(self.reconfigure(|c| c.max_series = max_series))
    }

    /// Uses `switch` to turn metrics on and off, so that one switch controls
    /// several layers. Defaults to a switch of the layer's own.
    #[must_use]
    pub fn with_switch(self, switch: MetricsSwitch) -> Self {
        Self { switch, ..self }
    }

    /// The runtime switch of this layer.
    pub fn switch(&self) -> MetricsSwitch {
        self.switch.clone()
    }

    /// The duration histogram boundaries, in seconds, for exporters to apply.
    pub fn histogram_buckets(&self) -> &[f64] {
        &self.config.buckets
    }

    /// The names of every metric this layer records, with the prefix applied,
    /// and the catalog entry each comes from.
    pub fn metric_names(&self) -> impl Iterator<Item = (String, &'static MetricDef)> + '_ {
        RECORDED
            .iter()
            .map(|def| (self.state.names.name(def.name()), def))
    }

    /// Describes every metric this layer records (help text, unit) to the
    /// current `metrics` recorder.
    pub fn describe(&self) {
        for (name, def) in self.metric_names() {
            def.describe_as(&name);
        }
    }
}

impl Default for SpanMetricsLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for SpanMetricsLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanMetricsLayer")
            .field("prefix", &self.config.prefix)
            .field("dimensions", &self.config.dimensions)
            .field("include_names", &self.config.include_names)
            .field("exclude_names", &self.config.exclude_names)
            .field("include_targets", &self.config.include_targets)
            .field("exclude_targets", &self.config.exclude_targets)
            .field("buckets", &self.config.buckets)
            .field("max_series", &self.config.max_series)
            .field("switch", &self.switch)
            .finish()
    }
}

/// The catalog metrics this layer records.
const RECORDED: &[MetricDef] = &[
    catalog::SPAN_CALLS_TOTAL,
    catalog::SPAN_DURATION_SECONDS,
    catalog::SPAN_ERRORS_TOTAL,
    catalog::PIPELINE_EXECUTIONS_TOTAL,
    catalog::PIPELINE_DURATION_SECONDS,
    catalog::ACTIVE_PIPELINES,
    catalog::STEP_DURATION_SECONDS,
    catalog::STEP_ERRORS_TOTAL,
    catalog::ITEMS_PROCESSED_TOTAL,
    catalog::API_CALLS_TOTAL,
    catalog::PIPELINE_COST_USD_TOTAL,
];

/// The label name a dimension field becomes.
fn label_name(field: &str) -> String {
    field.replace('.', "_")
}

/// Metric names with the configured prefix, shared without copying.
struct Names {
    prefix: Option<String>,
    calls: SharedString,
    duration: SharedString,
    errors: SharedString,
    executions: SharedString,
    pipeline_duration: SharedString,
    active: SharedString,
    step_duration: SharedString,
    step_errors: SharedString,
    items: SharedString,
    api_calls: SharedString,
    cost: SharedString,
}

impl Names {
    fn new(prefix: Option<&str>) -> Self {
        let name = |def: MetricDef| match prefix {
            None => SharedString::const_str(def.name()),
            Some(prefix) => {
                SharedString::from_shared(Arc::<str>::from(format!("{prefix}_{}", def.name())))
            }
        };
        Self {
            prefix: prefix.map(str::to_owned),
            calls: name(catalog::SPAN_CALLS_TOTAL),
            duration: name(catalog::SPAN_DURATION_SECONDS),
            errors: name(catalog::SPAN_ERRORS_TOTAL),
            executions: name(catalog::PIPELINE_EXECUTIONS_TOTAL),
            pipeline_duration: name(catalog::PIPELINE_DURATION_SECONDS),
            active: name(catalog::ACTIVE_PIPELINES),
            step_duration: name(catalog::STEP_DURATION_SECONDS),
            step_errors: name(catalog::STEP_ERRORS_TOTAL),
            items: name(catalog::ITEMS_PROCESSED_TOTAL),
            api_calls: name(catalog::API_CALLS_TOTAL),
            cost: name(catalog::PIPELINE_COST_USD_TOTAL),
        }
    }

    fn name(&self, base: &str) -> String {
        match &self.prefix {
            None => base.to_owned(),
            Some(prefix) => format!("{prefix}_{base}"),
        }
    }
}

/// What the layer learned about one callsite when it first saw it.
struct Callsite {
    name: &'static str,
    tracked: bool,
    roles: Box<[Role]>,
    any_role: bool,
    /// No field names a pipeline or a step or feeds a dimension, so that the
    /// callsite's spans fit in a [`SpanSlots`] slot.
    slotted: bool,
    decision: CachedDecision,
    /// The handles of the callsite's two label sets (`ok`, `error`) when the
    /// layer has no dimensions, registered with the first recorder that
    /// recorded them. Label sets that come from callsites are bounded by the
    /// program's code, so they sit outside the series cap.
    handles: OnceLock<CallsiteHandles>,
}

struct CallsiteHandles {
    recorder: usize,
    ok: SpanHandles,
    error: SpanHandles,
}

/// Every callsite seen: an index by metadata address, read without locking,
/// and the callsites themselves in an append-only array read by index.
struct Callsites {
    /// Tells this index apart from every other in the per-thread cache.
    id: u64,
    by_address: ArcSwap<HashMap<usize, u32, FastHash>>,
    sites: AppendOnly<Callsite>,
    write: Mutex<()>,
}

impl Callsites {
    fn new() -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(1);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            by_address: ArcSwap::from_pointee(HashMap::with_hasher(FastHash)),
            sites: AppendOnly::new(),
            write: Mutex::new(()),
        }
    }

    /// Runs `f` with the index and facts of the callsite of `metadata`,
    /// registering it first when it is new.
    #[inline]
    fn with<R>(
        &self,
        metadata: &'static Metadata<'static>,
        config: &Config,
        f: impl FnOnce(u32, &Callsite) -> R,
    ) -> Option<R> {
        let address = std::ptr::from_ref(metadata) as usize;
        let index = match recent::get(self.id, address) {
            Some(index) => index,
            None => {
                let known = self.by_address.load().get(&address).copied();
                let index = known.unwrap_or_else(|| self.register(metadata, config));
                recent::put(self.id, address, index);
                index
            }
        };
        // Registration stores a site before it publishes its index, so the
        // site is always there.
        self.get(index).map(|site| f(index, site))
    }

    #[inline]
    fn get(&self, index: u32) -> Option<&Callsite> {
        self.sites.get(index as usize)
    }

    #[cold]
    fn register(&self, metadata: &'static Metadata<'static>, config: &Config) -> u32 {
        let address = std::ptr::from_ref(metadata) as usize;
        let _write = self.write.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.by_address.load_full();
        if let Some(&index) = current.get(&address) {
            return index;
        }
        let roles: Box<[Role]> = metadata
            .fields()
            .iter()
            .map(|field| Role::for_field(field.name(), &config.dimensions))
            .collect();
        let site = Callsite {
            name: metadata.name(),
            tracked: metadata.is_span() && config.tracks(metadata),
            any_role: roles
                .iter()
                .any(|role| role.kind != RoleKind::None || role.dim.is_some()),
            slotted: roles.iter().all(|role| {
                role.dim.is_none()
                    && !matches!(role.kind, RoleKind::PipelineName | RoleKind::StepName)
            }),
            roles,
            decision: CachedDecision::new(),
            handles: OnceLock::new(),
        };
        let index = self.sites.push(site) as u32;
        let mut next = HashMap::clone(&current);
        next.insert(address, index);
        self.by_address.store(Arc::new(next));
        index
    }
}

/// A small per-thread cache of recently seen callsites, so that a span of a
/// known callsite finds its index without touching shared memory.
mod recent {
    use std::cell::Cell;

    const SLOTS: usize = 64;

    thread_local! {
        /// (callsite index id, metadata address, callsite index), direct-mapped by
        /// address.
        static SLOTS_OF_THREAD: [Cell<(u64, usize, u32)>; SLOTS] =
            const { [const { Cell::new((0, 0, 0)) }; SLOTS] };
    }

    #[inline]
    fn slot(address: usize) -> usize {
        (address >> 4) % SLOTS
    }

    #[inline]
    pub(super) fn get(owner: u64, address: usize) -> Option<u32> {
        SLOTS_OF_THREAD
            .try_with(|slots| {
                let (id, at, index) = slots[slot(address)].get();
                (id == owner && at == address).then_some(index)
            })
            .ok()
            .flatten()
    }

    #[inline]
    pub(super) fn put(owner: u64, address: usize, index: u32) {
        let _ = SLOTS_OF_THREAD.try_with(|slots| slots[slot(address)].set((owner, address, index)));
    }
}

/// Where a span stands among pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PipelineRole {
    /// Neither a run nor a step.
    None,
    /// A pipeline run.
    Run { pipeline: u32 },
    /// A step of the run `run` (when the run is a span of its own).
    Step {
        run: Option<u64>,
        pipeline: u32,
        step: u32,
    },
    /// A run or step of a pipeline whose metrics are switched off.
    Muted,
}

/// The pipeline a span belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PipelineLink {
    Active { run: Option<u64>, pipeline: u32 },
    Muted,
}

impl PipelineRole {
    fn link(self, id: u64) -> Option<PipelineLink> {
        match self {
            Self::None => None,
            Self::Run { pipeline } => Some(PipelineLink::Active {
                run: Some(id),
                pipeline,
            }),
            Self::Step { run, pipeline, .. } => Some(PipelineLink::Active { run, pipeline }),
            Self::Muted => Some(PipelineLink::Muted),
        }
    }
}

/// The state of one live span that can hold more than a slot does.
#[derive(Debug)]
struct SpanState {
    /// The raw clock reading at creation.
    start: u64,
    callsite: u32,
    error: bool,
    step_failed: bool,
    error_type: u32,
    role: PipelineRole,
    dims: [u32; MAX_DIMENSIONS],
}

impl SpanState {
    fn new(start: u64, callsite: u32) -> Self {
        Self {
            start,
            callsite,
            error: false,
            step_failed: false,
            error_type: ABSENT,
            role: PipelineRole::None,
            dims: [ABSENT; MAX_DIMENSIONS],
        }
    }
}

impl From<SlotSpan> for SpanState {
    fn from(slot: SlotSpan) -> Self {
        Self {
            error: slot.error,
            error_type: slot.error_type,
            ..Self::new(slot.start, slot.callsite)
        }
    }
}

/// Where a live span keeps its state.
#[derive(Debug, Clone, Copy)]
enum Holder {
    /// A [`SpanSlots`] slot: no role and no dimensions.
    Slot,
    /// The [`SpanTable`], with the span's role when it was looked up.
    Table(PipelineRole),
}

/// The label-set key of `span_calls_total` and `span_duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SpanKey {
    callsite: u32,
    error: bool,
    dim_count: u8,
    dims: [u32; MAX_DIMENSIONS],
}

impl std::hash::Hash for SpanKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u32(self.callsite);
        state.write_u8(u8::from(self.error));
        for dim in &self.dims[..usize::from(self.dim_count)] {
            state.write_u32(*dim);
        }
    }
}

#[derive(Clone)]
struct SpanHandles {
    calls: Counter,
    duration: Histogram,
}

#[derive(Clone)]
struct PipelineHandles {
    ok: Counter,
    error: Counter,
    duration: Histogram,
    active: Gauge,
    items: Counter,
    api_calls: Counter,
    cost: Gauge,
    /// The exact running total of `cost`, in nano-dollars.
    cost_total: Arc<Mutex<u64>>,
}

/// Everything the layer shares between its callbacks.
struct State {
    names: Names,
    dimension_labels: Vec<SharedString>,
    callsites: Callsites,
    clock: quanta::Clock,
    slots: SpanSlots,
    spans: SpanTable<SpanState>,
    dimension_values: Vec<Interner>,
    /// By dimension: whether its values are hidden.
    dimension_redacted: Vec<bool>,
    pipelines: Interner,
    steps: Interner,
    error_types: Interner,
    span_series: SeriesCache<SpanKey, SpanHandles>,
    span_errors: SeriesCache<(u32, u32), Counter>,
    pipeline_series: SeriesCache<u32, PipelineHandles>,
    step_series: SeriesCache<(u32, u32), Histogram>,
    step_errors: SeriesCache<(u32, u32, u32), Counter>,
}

const METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

fn overflow_labels() -> Vec<Label> {
    vec![Label::from_static_parts(OVERFLOW_LABEL, "true")]
}

fn counter(recorder: &dyn Recorder, name: &SharedString, labels: Vec<Label>) -> Counter {
    recorder.register_counter(&Key::from_parts(name.clone(), labels), &METADATA)
}

fn gauge(recorder: &dyn Recorder, name: &SharedString, labels: Vec<Label>) -> Gauge {
    recorder.register_gauge(&Key::from_parts(name.clone(), labels), &METADATA)
}

fn histogram(recorder: &dyn Recorder, name: &SharedString, labels: Vec<Label>) -> Histogram {
    recorder.register_histogram(&Key::from_parts(name.clone(), labels), &METADATA)
}

fn shared(value: Option<Arc<str>>) -> SharedString {
    value.map_or(SharedString::const_str(""), SharedString::from_shared)
}

fn pipeline_handles(recorder: &dyn Recorder, names: &Names, labels: Vec<Label>) -> PipelineHandles {
    let with_status = |status: &'static str| {
        let mut labels = labels.clone();
        labels.push(Label::from_static_parts("status", status));
        labels
    };
    PipelineHandles {
        ok: counter(recorder, &names.executions, with_status("ok")),
        error: counter(recorder, &names.executions, with_status("error")),
        duration: histogram(recorder, &names.pipeline_duration, labels.clone()),
        active: gauge(recorder, &names.active, labels.clone()),
        items: counter(recorder, &names.items, labels.clone()),
        api_calls: counter(recorder, &names.api_calls, labels.clone()),
        cost: gauge(recorder, &names.cost, labels),
        cost_total: Arc::new(Mutex::new(0)),
    }
}

/// Counts one recording sent to the overflow series of `metric`.
pub(crate) fn count_overflow(recorder: &dyn Recorder, metric: &SharedString) {
    let labels = vec![Label::new("metric", metric.clone())];
    let name = SharedString::const_str(catalog::AUTOTEL_SERIES_OVERFLOW_TOTAL.name());
    counter(recorder, &name, labels).increment(1);
}

/// Counts field values that could not be used (a negative count, a cost that
/// is not a number).
fn count_invalid(recorder: &dyn Recorder, count: u64) {
    let labels = vec![
        Label::from_static_parts("signal", "metrics"),
        Label::from_static_parts("reason", "invalid_value"),
    ];
    let name = SharedString::const_str(catalog::AUTOTEL_DROPPED_TOTAL.name());
    counter(recorder, &name, labels).increment(count);
}

impl State {
    fn new(config: &Config) -> Self {
        let cap = config.max_series;
        Self {
            names: Names::new(config.prefix.as_deref()),
            dimension_labels: config
                .dimensions
                .iter()
                .map(|field| SharedString::from_shared(Arc::from(label_name(field))))
                .collect(),
            callsites: Callsites::new(),
            clock: quanta::Clock::new(),
            slots: SpanSlots::new(),
            spans: SpanTable::new(),
            dimension_values: config
                .dimensions
                .iter()
                .map(|_| Interner::new(cap))
                .collect(),
            dimension_redacted: config
                .dimensions
                .iter()
                .map(|field| config.redaction.matches(field))
                .collect(),
            pipelines: Interner::new(cap),
            steps: Interner::new(cap),
            error_types: Interner::new(cap),
            span_series: SeriesCache::new(cap),
            span_errors: SeriesCache::new(cap),
            pipeline_series: SeriesCache::new(cap),
            step_series: SeriesCache::new(cap),
            step_errors: SeriesCache::new(cap),
        }
    }

    /// The pipeline that span `key` itself links to, from its role; `None`
    /// for a span that is neither a run nor a step, or that the layer does
    /// not hold.
    fn own_link(&self, key: u64) -> Option<PipelineLink> {
        if self.slots.callsite(key).is_some() {
            return None;
        }
        self.spans.with(key, |state| state.role.link(key)).flatten()
    }

    /// Finds the pipeline of the span `id`: the nearest span that is a run or
    /// a step among the span itself (unless `from_parent`) and its ancestors.
    fn pipeline_of<S>(
        &self,
        id: &Id,
        from_parent: bool,
        ctx: &Context<'_, S>,
    ) -> Option<PipelineLink>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        ctx.span(id)?
            .scope()
            .skip(usize::from(from_parent))
            .find_map(|span| self.own_link(span.id().into_u64()))
    }

    /// Turns what the fields of a new span or of a span's `record` said into
    /// the span's pipeline role. `parent_link` gives the pipeline of the
    /// span's parent, which a step inherits.
    fn classify(
        &self,
        captured: &Captured,
        switch: &MetricsSwitch,
        parent_link: impl FnOnce() -> Option<PipelineLink>,
    ) -> Option<PipelineRole> {
        match (captured.pipeline.as_str(), captured.step.as_str()) {
            (Some(pipeline), None) => Some(if switch.is_name_enabled(pipeline) {
                PipelineRole::Run {
                    pipeline: self.pipelines.intern(pipeline),
                }
            } else {
                PipelineRole::Muted
            }),
            (named, Some(step)) => {
                let step = self.steps.intern(step);
                match (parent_link(), named) {
                    (Some(PipelineLink::Muted), _) => Some(PipelineRole::Muted),
                    (_, Some(name)) if !switch.is_name_enabled(name) => Some(PipelineRole::Muted),
                    (link, Some(name)) => Some(PipelineRole::Step {
                        run: match link {
                            Some(PipelineLink::Active { run, .. }) => run,
                            _ => None,
                        },
                        pipeline: self.pipelines.intern(name),
                        step,
                    }),
                    (Some(PipelineLink::Active { run, pipeline }), None) => {
                        Some(PipelineRole::Step {
                            run,
                            pipeline,
                            step,
                        })
                    }
                    (None, None) => None,
                }
            }
            (None, None) => None,
        }
    }

    /// The interned `error.type` that `captured` holds, else [`ABSENT`].
    fn error_type(&self, captured: &Captured) -> u32 {
        captured
            .error_type
            .as_str()
            .map_or(ABSENT, |t| self.error_types.intern(t))
    }
}

/// The pipeline link of a span's parent, looked up at most once and only when
/// needed.
struct ParentLink<'a, S> {
    id: &'a Id,
    /// The attributes of a new span, which name its parent.
    attrs: Option<&'a Attributes<'a>>,
    ctx: &'a Context<'a, S>,
    link: Option<Option<PipelineLink>>,
}

impl<'a, S> ParentLink<'a, S>
where
    S: Subscriber + for<'b> LookupSpan<'b>,
{
    fn new(id: &'a Id, attrs: Option<&'a Attributes<'a>>, ctx: &'a Context<'a, S>) -> Self {
        Self {
            id,
            attrs,
            ctx,
            link: None,
        }
    }

    fn get(&mut self, state: &State) -> Option<PipelineLink> {
        if let Some(link) = self.link {
            return link;
        }
        let link = self.find(state);
        self.link = Some(link);
        link
    }

    fn find(&self, state: &State) -> Option<PipelineLink> {
        if let Some(attrs) = self.attrs {
            // A new span's attributes name its parent (as the registry reads
            // them); when that parent is the run or a step, it decides without
            // a walk through the registry.
            let parent = if attrs.is_root() {
                return None;
            } else if attrs.is_contextual() {
                self.ctx.current_span().id().cloned()
            } else {
                attrs.parent().cloned()
            };
            if let Some(link) = parent.and_then(|parent| state.own_link(parent.into_u64())) {
                return Some(link);
            }
        }
        state.pipeline_of(self.id, true, self.ctx)
    }
}

impl SpanMetricsLayer {
    fn state(&self) -> &State {
        &self.state
    }

    /// Adds the pipeline counters that `captured` holds to the pipeline
    /// `link`.
    fn add_counts(&self, link: Option<PipelineLink>, captured: &Captured) {
        let Some(PipelineLink::Active { pipeline, .. }) = link else {
            return;
        };
        metrics::with_recorder(|recorder| {
            self.with_pipeline(recorder, pipeline, |handles, _| {
                if captured.items > 0 {
                    handles.items.increment(captured.items);
                }
                if captured.api_calls > 0 {
                    handles.api_calls.increment(captured.api_calls);
                }
                if captured.cost_nanos > 0 {
                    let mut total = handles
                        .cost_total
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    *total = total.saturating_add(captured.cost_nanos);
                    handles.cost.set(*total as f64 / 1e9);
                }
            });
        });
    }

    /// Counts a pipeline run that just started.
    fn start_run(&self, pipeline: u32) {
        metrics::with_recorder(|recorder| {
            self.with_pipeline(recorder, pipeline, |handles, series| {
                handles.active.increment(1.0);
                if series == Series::Overflow {
                    count_overflow(recorder, &self.state().names.active);
                }
            });
        });
    }

    fn with_pipeline<R>(
        &self,
        recorder: &dyn Recorder,
        pipeline: u32,
        f: impl FnOnce(&PipelineHandles, Series) -> R,
    ) -> R {
        let state = self.state();
        let names = &state.names;
        let own = || {
            vec![Label::new(
                "pipeline_name",
                shared(state.pipelines.value(pipeline)),
            )]
        };
        state.pipeline_series.with_index(
            recorder,
            pipeline,
            pipeline,
            pipeline == OVERFLOW,
            |recorder| pipeline_handles(recorder, names, own()),
            |recorder| pipeline_handles(recorder, names, overflow_labels()),
            |handles, series| f(handles, series),
        )
    }

    fn record_close(&self, recorder: &dyn Recorder, span: &SpanState, seconds: f64) {
        let state = self.state();
        let names = &state.names;
        let dim_count = state.dimension_labels.len();
        let key = SpanKey {
            callsite: span.callsite,
            error: span.error,
            dim_count: dim_count as u8,
            dims: span.dims,
        };
        let site_name = || {
            state
                .callsites
                .get(span.callsite)
                .map_or("", |site| site.name)
        };
        let status = if span.error { "error" } else { "ok" };
        let span_labels = || {
            let mut labels = Vec::with_capacity(2 + dim_count);
            labels.push(Label::new("span_name", site_name()));
            labels.push(Label::from_static_parts("status", status));
            for (index, label) in state.dimension_labels.iter().enumerate() {
                let value = state.dimension_values[index].value(span.dims[index]);
                labels.push(Label::new(label.clone(), shared(value)));
            }
            labels
        };
        let site_labels = |name: &'static str, status: &'static str| {
            vec![
                Label::new("span_name", name),
                Label::from_static_parts("status", status),
            ]
        };
        let handles = |labels: Vec<Label>| {
            move |recorder: &dyn Recorder| SpanHandles {
                calls: counter(recorder, &names.calls, labels.clone()),
                duration: histogram(recorder, &names.duration, labels),
            }
        };
        let rid = recorder_id(recorder);
        let from_callsite = dim_count == 0
            && state.callsites.get(span.callsite).is_some_and(|site| {
                let cached = site.handles.get_or_init(|| CallsiteHandles {
                    recorder: rid,
                    ok: handles(site_labels(site.name, "ok"))(recorder),
                    error: handles(site_labels(site.name, "error"))(recorder),
                });
                if cached.recorder != rid {
                    return false;
                }
                let handles = if span.error {
                    &cached.error
                } else {
                    &cached.ok
                };
                handles.calls.increment(1);
                handles.duration.record(seconds);
                true
            });
        if !from_callsite {
            let overflowed = span.dims[..dim_count].contains(&OVERFLOW);
            state.span_series.with(
                recorder,
                key,
                overflowed,
                |recorder| handles(span_labels())(recorder),
                |recorder| handles(overflow_labels())(recorder),
                |handles, series| {
                    handles.calls.increment(1);
                    handles.duration.record(seconds);
                    if series == Series::Overflow {
                        count_overflow(recorder, &names.calls);
                        count_overflow(recorder, &names.duration);
                    }
                },
            );
        }

        let error_type = if span.error_type == ABSENT {
            None
        } else {
            Some(span.error_type)
        };
        let error_label = || match error_type {
            Some(id) => shared(state.error_types.value(id)),
            None => SharedString::const_str(DEFAULT_ERROR_TYPE),
        };
        if span.error {
            state.span_errors.with_index(
                recorder,
                span.callsite,
                (span.callsite, span.error_type),
                span.error_type == OVERFLOW,
                |recorder| {
                    let labels = vec![
                        Label::new("span_name", site_name()),
                        Label::new("error_type", error_label()),
                    ];
                    counter(recorder, &names.errors, labels)
                },
                |recorder| counter(recorder, &names.errors, overflow_labels()),
                |errors, series| {
                    errors.increment(1);
                    if series == Series::Overflow {
                        count_overflow(recorder, &names.errors);
                    }
                },
            );
        }

        match span.role {
            PipelineRole::Run { pipeline } => {
                self.with_pipeline(recorder, pipeline, |handles, series| {
                    if span.error || span.step_failed {
                        handles.error.increment(1);
                    } else {
                        handles.ok.increment(1);
                    }
                    handles.duration.record(seconds);
                    handles.active.decrement(1.0);
                    // The run's start was counted under `active_pipelines`.
                    if series == Series::Overflow {
                        count_overflow(recorder, &names.executions);
                        count_overflow(recorder, &names.pipeline_duration);
                    }
                });
            }
            PipelineRole::Step {
                run,
                pipeline,
                step,
            } => {
                let labels = || {
                    vec![
                        Label::new("pipeline_name", shared(state.pipelines.value(pipeline))),
                        Label::new("step_name", shared(state.steps.value(step))),
                    ]
                };
                let overflowed = pipeline == OVERFLOW || step == OVERFLOW;
                state.step_series.with_index(
                    recorder,
                    step,
                    (pipeline, step),
                    overflowed,
                    |recorder| histogram(recorder, &names.step_duration, labels()),
                    |recorder| histogram(recorder, &names.step_duration, overflow_labels()),
                    |duration, series| {
                        duration.record(seconds);
                        if series == Series::Overflow {
                            count_overflow(recorder, &names.step_duration);
                        }
                    },
                );
                if span.error {
                    state.step_errors.with(
                        recorder,
                        (pipeline, step, span.error_type),
                        overflowed || span.error_type == OVERFLOW,
                        |recorder| {
                            let mut labels = labels();
                            labels.push(Label::new("error_type", error_label()));
                            counter(recorder, &names.step_errors, labels)
                        },
                        |recorder| counter(recorder, &names.step_errors, overflow_labels()),
                        |errors, series| {
                            errors.increment(1);
                            if series == Series::Overflow {
                                count_overflow(recorder, &names.step_errors);
                            }
                        },
                    );
                    if let Some(run) = run {
                        state.spans.with(run, |run| run.step_failed = true);
                    }
                }
            }
            PipelineRole::None | PipelineRole::Muted => {}
        }
    }

    /// Stores a new span of a callsite with fields that matter, with what
    /// they said, and starts a pipeline run when the span is one.
    #[allow(clippy::too_many_arguments)]
    fn start_span<S>(
        &self,
        id: &Id,
        attrs: &Attributes<'_>,
        start: u64,
        callsite: u32,
        site: &Callsite,
        captured: &Captured,
        ctx: &Context<'_, S>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let state = self.state();
        let key = id.into_u64();
        let mut parent = ParentLink::new(id, Some(attrs), ctx);
        let error_type = state.error_type(captured);
        let slot = SlotSpan {
            start,
            callsite,
            error: captured.error,
            error_type,
        };
        let role = if site.slotted {
            None
        } else {
            state.classify(captured, &self.switch, || parent.get(state))
        };
        if !(site.slotted && state.slots.claim(key, slot)) {
            state.spans.insert(
                key,
                SpanState {
                    role: role.unwrap_or(PipelineRole::None),
                    dims: captured.dims,
                    ..SpanState::from(slot)
                },
            );
        }
        if let Some(PipelineRole::Run { pipeline }) = role {
            self.start_run(pipeline);
        }
        if captured.has_counts() {
            let link = match role {
                Some(role) => role.link(key),
                None => parent.get(state),
            };
            self.add_counts(link, captured);
        }
        if captured.invalid > 0 {
            metrics::with_recorder(|recorder| count_invalid(recorder, captured.invalid));
        }
    }

    /// Applies what the fields recorded on span `id` said, and starts a
    /// pipeline run when the span just became one.
    fn update_span<S>(&self, id: &Id, holder: Holder, captured: &Captured, ctx: &Context<'_, S>)
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let state = self.state();
        let key = id.into_u64();
        let mut parent = ParentLink::new(id, None, ctx);
        let error_type = state.error_type(captured);
        let changes_error = captured.error || error_type != ABSENT;
        let role = match holder {
            Holder::Slot => {
                if changes_error {
                    state.slots.record_error(key, captured.error, error_type);
                }
                PipelineRole::None
            }
            Holder::Table(role) => {
                let new_role = if role == PipelineRole::None {
                    state.classify(captured, &self.switch, || parent.get(state))
                } else {
                    None
                };
                let dims = captured.dims;
                let changes_state =
                    changes_error || new_role.is_some() || dims.iter().any(|d| *d != ABSENT);
                let applied = changes_state
                    .then(|| {
                        state.spans.with(key, |span| {
                            span.error |= captured.error;
                            if error_type != ABSENT {
                                span.error_type = error_type;
                            }
                            for (slot, value) in span.dims.iter_mut().zip(dims) {
                                if value != ABSENT {
                                    *slot = value;
                                }
                            }
                            let started = match new_role {
                                Some(new_role) if span.role == PipelineRole::None => {
                                    span.role = new_role;
                                    true
                                }
                                _ => false,
                            };
                            (span.role, started)
                        })
                    })
                    .flatten();
                match applied {
                    Some((role, started)) => {
                        if let (true, PipelineRole::Run { pipeline }) = (started, role) {
                            self.start_run(pipeline);
                        }
                        role
                    }
                    None => role,
                }
            }
        };
        if captured.has_counts() {
            let link = match role.link(key) {
                Some(link) => Some(link),
                None => parent.get(state),
            };
            self.add_counts(link, captured);
        }
        if captured.invalid > 0 {
            metrics::with_recorder(|recorder| count_invalid(recorder, captured.invalid));
        }
    }
}

impl<S> Layer<S> for SpanMetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.state.callsites.with(metadata, &self.config, |_, _| ());
        Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.switch.is_enabled() {
            return;
        }
        let state = self.state();
        let start = state.clock.raw();
        state
            .callsites
            .with(attrs.metadata(), &self.config, |index, site| {
                if !site.tracked || !site.decision.is_enabled(&self.switch, site.name) {
                    return;
                }
                if !site.any_role {
                    let key = id.into_u64();
                    let slot = SlotSpan {
                        start,
                        callsite: index,
                        error: false,
                        error_type: ABSENT,
                    };
                    if !state.slots.claim(key, slot) {
                        state.spans.insert(key, SpanState::from(slot));
                    }
                    return;
                }
                let mut captured = Captured::new();
                attrs.record(&mut FieldVisitor::new(
                    &site.roles,
                    &state.dimension_values,
                    &state.dimension_redacted,
                    &mut captured,
                ));
                self.start_span(id, attrs, start, index, site, &captured, &ctx);
            });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if !self.switch.is_enabled() {
            return;
        }
        let state = self.state();
        let key = id.into_u64();
        let (index, holder) = match state.slots.callsite(key) {
            Some(index) => (index, Holder::Slot),
            None => match state.spans.with(key, |span| (span.callsite, span.role)) {
                Some((index, role)) => (index, Holder::Table(role)),
                None => return,
            },
        };
        let Some(site) = state.callsites.get(index).filter(|site| site.any_role) else {
            return;
        };
        let mut captured = Captured::new();
        values.record(&mut FieldVisitor::new(
            &site.roles,
            &state.dimension_values,
            &state.dimension_redacted,
            &mut captured,
        ));
        self.update_span(id, holder, &captured, &ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !self.switch.is_enabled() {
            return;
        }
        let metadata = event.metadata();
        let is_error = *metadata.level() == Level::ERROR;
        let state = self.state();
        let captured = state.callsites.with(metadata, &self.config, |_, site| {
            if !is_error && !site.any_role {
                return None;
            }
            let mut captured = Captured::new();
            if site.any_role {
                event.record(&mut FieldVisitor::new(&site.roles, &[], &[], &mut captured));
            }
            Some(captured)
        });
        let Some(captured) = captured.flatten() else {
            return;
        };
        let span = match event.parent() {
            Some(parent) => Some(parent.clone()),
            None if event.is_contextual() => ctx.current_span().id().cloned(),
            None => None,
        };
        let Some(span) = span else {
            return;
        };
        // Only an ERROR event marks its span; an event's own `error` field or
        // pipeline names say nothing about the span.
        let key = span.into_u64();
        let mut role = None;
        if is_error {
            let error_type = state.error_type(&captured);
            if !state.slots.record_error(key, true, error_type) {
                role = state.spans.with(key, |span| {
                    span.error = true;
                    if error_type != ABSENT {
                        span.error_type = error_type;
                    }
                    span.role
                });
            }
        }
        if captured.has_counts() {
            let link = match role.and_then(|role| role.link(key)) {
                Some(link) => Some(link),
                None => state.pipeline_of(&span, role.is_some(), &ctx),
            };
            self.add_counts(link, &captured);
        }
        if captured.invalid > 0 {
            metrics::with_recorder(|recorder| count_invalid(recorder, captured.invalid));
        }
    }

    fn on_close(&self, id: Id, _ctx: Context<'_, S>) {
        let state = self.state();
        let key = id.into_u64();
        let span = match state.slots.release(key) {
            Some(slot) => SpanState::from(slot),
            None => match state.spans.remove(key) {
                Some(span) if span.role != PipelineRole::Muted => span,
                _ => return,
            },
        };
        let nanos = state.clock.delta_as_nanos(span.start, state.clock.raw());
        // A multiplication costs a fraction of a division; the result differs
        // from `nanos / 1e9` by at most one unit in the last place.
        let seconds = nanos as f64 * 1e-9;
        metrics::with_recorder(|recorder| self.record_close(recorder, &span, seconds));
    }
}
