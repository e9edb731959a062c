//! Recording a closed span: the RED metrics of its callsite and dimensions,
//! and the pipeline metrics of a run or a step.

use metrics::{Counter, Histogram, Label, Recorder, SharedString};

use super::SpanMetricsLayer;
use super::callsites::CallsiteHandles;
use super::pipeline::PipelineRole;
use super::state::{counter, histogram, shared};
use super::store::SpanState;
use super::{DEFAULT_ERROR_TYPE, MAX_DIMENSIONS};
use crate::catalog::{self, label};
use crate::internal::interner::{ABSENT, OVERFLOW};
use crate::internal::series_cap::{Series, count_overflow, overflow_labels, recorder_id};

/// The label-set key of `span_calls_total` and `span_duration_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct SpanKey {
    pub(super) callsite: u32,
    pub(super) error: bool,
    pub(super) dim_count: u8,
    pub(super) dims: [u32; MAX_DIMENSIONS],
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
pub(super) struct SpanHandles {
    pub(super) calls: Counter,
    pub(super) duration: Histogram,
}

impl SpanMetricsLayer {
    pub(super) fn record_close(&self, recorder: &dyn Recorder, span: &SpanState, seconds: f64) {
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
            labels.push(Label::new(label::SPAN_NAME, site_name()));
            labels.push(Label::from_static_parts(label::STATUS, status));
            for (index, label) in state.dimension_labels.iter().enumerate() {
                let value = state.dimension_values[index].value(span.dims[index]);
                labels.push(Label::new(label.clone(), shared(value)));
            }
            labels
        };
        let site_labels = |name: &'static str, status: &'static str| {
            vec![
                Label::new(label::SPAN_NAME, name),
                Label::from_static_parts(label::STATUS, status),
            ]
        };
        let handles = |labels: Vec<Label>| {
            move |recorder: &dyn Recorder| SpanHandles {
                calls: counter(
                    recorder,
                    names.of(catalog::SPAN_CALLS_TOTAL),
                    labels.clone(),
                ),
                duration: histogram(recorder, names.of(catalog::SPAN_DURATION_SECONDS), labels),
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
                        count_overflow(recorder, names.of(catalog::SPAN_CALLS_TOTAL));
                        count_overflow(recorder, names.of(catalog::SPAN_DURATION_SECONDS));
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
                        Label::new(label::SPAN_NAME, site_name()),
                        Label::new(label::ERROR_TYPE, error_label()),
                    ];
                    counter(recorder, names.of(catalog::SPAN_ERRORS_TOTAL), labels)
                },
                |recorder| {
                    counter(
                        recorder,
                        names.of(catalog::SPAN_ERRORS_TOTAL),
                        overflow_labels(),
                    )
                },
                |errors, series| {
                    errors.increment(1);
                    if series == Series::Overflow {
                        count_overflow(recorder, names.of(catalog::SPAN_ERRORS_TOTAL));
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
                        count_overflow(recorder, names.of(catalog::PIPELINE_EXECUTIONS_TOTAL));
                        count_overflow(recorder, names.of(catalog::PIPELINE_DURATION_SECONDS));
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
                        Label::new(
                            label::PIPELINE_NAME,
                            shared(state.pipelines.value(pipeline)),
                        ),
                        Label::new(label::STEP_NAME, shared(state.steps.value(step))),
                    ]
                };
                let overflowed = pipeline == OVERFLOW || step == OVERFLOW;
                state.step_series.with_index(
                    recorder,
                    step,
                    (pipeline, step),
                    overflowed,
                    |recorder| {
                        histogram(recorder, names.of(catalog::STEP_DURATION_SECONDS), labels())
                    },
                    |recorder| {
                        histogram(
                            recorder,
                            names.of(catalog::STEP_DURATION_SECONDS),
                            overflow_labels(),
                        )
                    },
                    |duration, series| {
                        duration.record(seconds);
                        if series == Series::Overflow {
                            count_overflow(recorder, names.of(catalog::STEP_DURATION_SECONDS));
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
                            labels.push(Label::new(label::ERROR_TYPE, error_label()));
                            counter(recorder, names.of(catalog::STEP_ERRORS_TOTAL), labels)
                        },
                        |recorder| {
                            counter(
                                recorder,
                                names.of(catalog::STEP_ERRORS_TOTAL),
                                overflow_labels(),
                            )
                        },
                        |errors, series| {
                            errors.increment(1);
                            if series == Series::Overflow {
                                count_overflow(recorder, names.of(catalog::STEP_ERRORS_TOTAL));
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
}
