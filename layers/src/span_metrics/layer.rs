//! The span metrics layer and its configuration.

use std::fmt;
use std::sync::Arc;

use tracing_core::Metadata;

use super::names::{RECORDED, label_name};
use super::state::State;
use super::switch::MetricsSwitch;
use super::{DEFAULT_DURATION_BUCKETS, DEFAULT_MAX_SERIES, MAX_DIMENSIONS};
use crate::Error;
use crate::catalog::MetricDef;
use crate::exemplar::ExemplarFilter;
use crate::redact::Redaction;

/// A [`Layer`](tracing_subscriber::Layer) that records RED metrics and pipeline metrics for every span
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
/// span, else [`DEFAULT_ERROR_TYPE`](super::DEFAULT_ERROR_TYPE).
///
/// # Pipeline metrics
///
/// A span with a `pipeline.name` field is a pipeline run; a span with a
/// `step.name` field inside a run is a step of it. `items_processed`,
/// `api_calls` and `cost_usd` fields, recorded on a run or a step or on events
/// or spans inside them, add to `items_processed_total`, `api_calls_total` and
/// `pipeline_cost_usd_total` of that pipeline; a `queue_depth` field there
/// sets its `pipeline_queue_depth` gauge (the last value reported wins), as
/// [`queue::record_queue_depth`](crate::queue::record_queue_depth) does; a
/// pipeline that never reports a depth has no queue series. A step that ends
/// in error counts in `step_errors_total` and makes the run count as
/// `status="error"` in `pipeline_executions_total`. See [`catalog`](crate::catalog) for the full list.
///
/// # Cardinality
///
/// Each metric holds at most [`with_max_series`](Self::with_max_series)
/// distinct label sets. Recordings past the cap go to one series labelled
/// `otel_metric_overflow="true"` and are counted in
/// `autotel_series_overflow_total{metric}`. Label values taken from fields are
/// cut to [`MAX_LABEL_VALUE_BYTES`](super::MAX_LABEL_VALUE_BYTES).
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
    pub(super) config: Arc<Config>,
    pub(super) switch: MetricsSwitch,
    pub(super) state: Arc<State>,
    /// The dispatcher the layer runs in, to read the ids of OpenTelemetry
    /// spans for exemplars.
    #[cfg(feature = "opentelemetry")]
    pub(super) dispatch: std::sync::OnceLock<tracing::dispatcher::WeakDispatch>,
}

#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) prefix: Option<String>,
    pub(super) dimensions: Vec<Arc<str>>,
    pub(super) include_names: Vec<String>,
    pub(super) exclude_names: Vec<String>,
    pub(super) include_targets: Vec<String>,
    pub(super) exclude_targets: Vec<String>,
    pub(super) buckets: Vec<f64>,
    pub(super) max_series: usize,
    pub(super) redaction: Redaction,
    pub(super) exemplars: ExemplarFilter,
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
            exemplars: ExemplarFilter::default(),
        }
    }
}

impl Config {
    pub(super) fn tracks(&self, metadata: &Metadata<'_>) -> bool {
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
pub(super) fn target_matches(target: &str, prefix: &str) -> bool {
    target
        .strip_prefix(prefix)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
}

pub(super) fn valid_metric_prefix(prefix: &str) -> bool {
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

    pub(super) fn from_config(config: Config, switch: MetricsSwitch) -> Self {
        let state = Arc::new(State::new(&config));
        Self {
            config: Arc::new(config),
            switch,
            state,
            #[cfg(feature = "opentelemetry")]
            dispatch: std::sync::OnceLock::new(),
        }
    }

    pub(super) fn reconfigure(self, change: impl FnOnce(&mut Config)) -> Self {
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

    /// Sets which spans give their ids, as an [exemplar](crate::exemplar), to
    /// the observations of `span_duration_seconds`,
    /// `pipeline_duration_seconds` and `step_duration_seconds` they produce.
    /// [`ExemplarFilter::AlwaysOff`] saves the look-up of the ids when the
    /// span closes. Defaults to [`ExemplarFilter::TraceBased`]: spans of
    /// sampled traces.
    ///
    /// With the `opentelemetry` feature and a `tracing-opentelemetry` layer,
    /// the ids are the OpenTelemetry span's: add this layer *before* that one
    /// (`registry().with(SpanMetricsLayer::new()).with(otel_layer)`), so that
    /// it closes the span first, while its ids can still be read.
    #[must_use]
    pub fn with_exemplar_filter(self, filter: ExemplarFilter) -> Self {
        self.reconfigure(|c| c.exemplars = filter)
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
            .field("exemplars", &self.config.exemplars)
            .field("switch", &self.switch)
            .finish()
    }
}
