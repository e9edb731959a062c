//! Pipeline metrics: where a span stands among pipeline runs and steps, and
//! the per-pipeline counters, gauges and histograms.

use std::sync::{Arc, Mutex, OnceLock};

use metrics::{Counter, Gauge, Histogram, Label, Recorder};
use tracing_core::Subscriber;
use tracing_core::span::{Attributes, Id};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::SpanMetricsLayer;
use super::fields::Captured;
use super::names::Names;
use super::state::{State, counter, gauge, histogram, shared};
use crate::catalog::{self, label};
use crate::internal::interner::OVERFLOW;
use crate::internal::lock;
use crate::internal::series_cap::{Series, count_overflow, overflow_labels};

/// Where a span stands among pipelines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum PipelineRole {
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
pub(super) enum PipelineLink {
    Active { run: Option<u64>, pipeline: u32 },
    Muted,
}

impl PipelineRole {
    pub(super) fn link(self, id: u64) -> Option<PipelineLink> {
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

#[derive(Clone)]
pub(super) struct PipelineHandles {
    pub(super) ok: Counter,
    pub(super) error: Counter,
    pub(super) duration: Histogram,
    pub(super) active: Gauge,
    pub(super) items: Counter,
    pub(super) api_calls: Counter,
    pub(super) cost: Gauge,
    /// The exact running total of `cost`, in nano-dollars.
    pub(super) cost_total: Arc<Mutex<u64>>,
    /// `pipeline_queue_depth`, registered when a `queue_depth` field first
    /// reports it: a pipeline that never does has no such series.
    pub(super) queue_depth: Arc<OnceLock<Gauge>>,
    /// The pipeline's labels, for the series registered late.
    pub(super) labels: Arc<[Label]>,
}

pub(super) fn pipeline_handles(
    recorder: &dyn Recorder,
    names: &Names,
    labels: Vec<Label>,
) -> PipelineHandles {
    let with_status = |status: &'static str| {
        let mut labels = labels.clone();
        labels.push(Label::from_static_parts(label::STATUS, status));
        labels
    };
    PipelineHandles {
        ok: counter(
            recorder,
            names.of(catalog::PIPELINE_EXECUTIONS_TOTAL),
            with_status("ok"),
        ),
        error: counter(
            recorder,
            names.of(catalog::PIPELINE_EXECUTIONS_TOTAL),
            with_status("error"),
        ),
        duration: histogram(
            recorder,
            names.of(catalog::PIPELINE_DURATION_SECONDS),
            labels.clone(),
        ),
        active: gauge(
            recorder,
            names.of(catalog::ACTIVE_PIPELINES),
            labels.clone(),
        ),
        items: counter(
            recorder,
            names.of(catalog::ITEMS_PROCESSED_TOTAL),
            labels.clone(),
        ),
        api_calls: counter(recorder, names.of(catalog::API_CALLS_TOTAL), labels.clone()),
        cost: gauge(
            recorder,
            names.of(catalog::PIPELINE_COST_USD_TOTAL),
            labels.clone(),
        ),
        cost_total: Arc::new(Mutex::new(0)),
        queue_depth: Arc::new(OnceLock::new()),
        labels: labels.into(),
    }
}

/// The pipeline link of a span's parent, looked up at most once and only when
/// needed.
pub(super) struct ParentLink<'a, S> {
    pub(super) id: &'a Id,
    /// The attributes of a new span, which name its parent.
    pub(super) attrs: Option<&'a Attributes<'a>>,
    pub(super) ctx: &'a Context<'a, S>,
    pub(super) link: Option<Option<PipelineLink>>,
}

impl<'a, S> ParentLink<'a, S>
where
    S: Subscriber + for<'b> LookupSpan<'b>,
{
    pub(super) fn new(
        id: &'a Id,
        attrs: Option<&'a Attributes<'a>>,
        ctx: &'a Context<'a, S>,
    ) -> Self {
        Self {
            id,
            attrs,
            ctx,
            link: None,
        }
    }

    pub(super) fn get(&mut self, state: &State) -> Option<PipelineLink> {
        if let Some(link) = self.link {
            return link;
        }
        let link = self.find(state);
        self.link = Some(link);
        link
    }

    pub(super) fn find(&self, state: &State) -> Option<PipelineLink> {
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
    /// Adds the pipeline counters that `captured` holds to the pipeline
    /// `link`, and sets its queue depth.
    pub(super) fn add_counts(&self, link: Option<PipelineLink>, captured: &Captured) {
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
                    let mut total = lock(&handles.cost_total);
                    *total = total.saturating_add(captured.cost_nanos);
                    handles.cost.set(*total as f64 / 1e9);
                }
                if let Some(depth) = captured.queue_depth {
                    let names = &self.state().names;
                    let register = || {
                        gauge(
                            recorder,
                            names.of(catalog::PIPELINE_QUEUE_DEPTH),
                            handles.labels.to_vec(),
                        )
                    };
                    handles.queue_depth.get_or_init(register).set(depth as f64);
                }
            });
        });
    }

    /// Counts a pipeline run that just started.
    pub(super) fn start_run(&self, pipeline: u32) {
        metrics::with_recorder(|recorder| {
            self.with_pipeline(recorder, pipeline, |handles, series| {
                handles.active.increment(1.0);
                if series == Series::Overflow {
                    count_overflow(recorder, self.state().names.of(catalog::ACTIVE_PIPELINES));
                }
            });
        });
    }

    pub(super) fn with_pipeline<R>(
        &self,
        recorder: &dyn Recorder,
        pipeline: u32,
        f: impl FnOnce(&PipelineHandles, Series) -> R,
    ) -> R {
        let state = self.state();
        let names = &state.names;
        let own = || {
            vec![Label::new(
                label::PIPELINE_NAME,
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
}
