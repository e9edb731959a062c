//! Everything the span metrics layer shares between its callbacks: interned
//! label values, series caches, live spans.

use std::sync::Arc;

use metrics::{Counter, Gauge, Histogram, Key, Label, Recorder, SharedString};
use tracing_core::Subscriber;
use tracing_core::span::Id;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::SpanMetricsLayer;
use super::callsites::Callsites;
use super::fields::Captured;
use super::layer::Config;
use super::names::{Names, label_name};
use super::pipeline::{PipelineHandles, PipelineLink, PipelineRole};
use super::record::{SpanHandles, SpanKey};
use super::store::{Slots, SpanState};
use super::switch::MetricsSwitch;
use crate::catalog::{self, label};
use crate::internal::interner::{ABSENT, Interner};
use crate::internal::series_cap::SeriesCache;
use crate::internal::span_table::SpanTable;

/// The metadata of the layer's registrations.
const METADATA: metrics::Metadata<'static> = metrics::Metadata::new(
    "autotel_layers::span_metrics",
    metrics::Level::INFO,
    Some("autotel_layers::span_metrics"),
);

/// Everything the layer shares between its callbacks.
pub(super) struct State {
    pub(super) names: Names,
    pub(super) dimension_labels: Vec<SharedString>,
    pub(super) callsites: Callsites,
    pub(super) clock: quanta::Clock,
    pub(super) slots: Slots,
    pub(super) spans: SpanTable<SpanState>,
    pub(super) dimension_values: Vec<Interner>,
    /// By dimension: whether its values are hidden.
    pub(super) dimension_redacted: Vec<bool>,
    pub(super) pipelines: Interner,
    pub(super) steps: Interner,
    pub(super) error_types: Interner,
    pub(super) span_series: SeriesCache<SpanKey, SpanHandles>,
    pub(super) span_errors: SeriesCache<(u32, u32), Counter>,
    pub(super) pipeline_series: SeriesCache<u32, PipelineHandles>,
    pub(super) step_series: SeriesCache<(u32, u32), Histogram>,
    pub(super) step_errors: SeriesCache<(u32, u32, u32), Counter>,
}

pub(super) fn counter(recorder: &dyn Recorder, name: &SharedString, labels: Vec<Label>) -> Counter {
    recorder.register_counter(&Key::from_parts(name.clone(), labels), &METADATA)
}

pub(super) fn gauge(recorder: &dyn Recorder, name: &SharedString, labels: Vec<Label>) -> Gauge {
    recorder.register_gauge(&Key::from_parts(name.clone(), labels), &METADATA)
}

pub(super) fn histogram(
    recorder: &dyn Recorder,
    name: &SharedString,
    labels: Vec<Label>,
) -> Histogram {
    recorder.register_histogram(&Key::from_parts(name.clone(), labels), &METADATA)
}

pub(super) fn shared(value: Option<Arc<str>>) -> SharedString {
    value.map_or(SharedString::const_str(""), SharedString::from_shared)
}

/// Counts field values that could not be used (a negative count, a cost that
/// is not a number).
pub(super) fn count_invalid(recorder: &dyn Recorder, count: u64) {
    let labels = vec![
        Label::from_static_parts(label::SIGNAL, "metrics"),
        Label::from_static_parts(label::REASON, "invalid_value"),
    ];
    let name = SharedString::const_str(catalog::AUTOTEL_DROPPED_TOTAL.name());
    counter(recorder, &name, labels).increment(count);
}

impl State {
    pub(super) fn new(config: &Config) -> Self {
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
            slots: Slots::new(),
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
    pub(super) fn own_link(&self, key: u64) -> Option<PipelineLink> {
        if self.slots.callsite(key).is_some() {
            return None;
        }
        self.spans.with(key, |state| state.role.link(key)).flatten()
    }

    /// Finds the pipeline of the span `id`: the nearest span that is a run or
    /// a step among the span itself (unless `from_parent`) and its ancestors.
    pub(super) fn pipeline_of<S>(
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
    pub(super) fn classify(
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
    pub(super) fn error_type(&self, captured: &Captured) -> u32 {
        captured
            .error_type
            .as_str()
            .map_or(ABSENT, |t| self.error_types.intern(t))
    }
}

impl SpanMetricsLayer {
    pub(super) fn state(&self) -> &State {
        &self.state
    }
}
