//! Queue depth of pipelines and applications: the catalog's
//! `pipeline_queue_depth{pipeline_name}` gauge, which the
//! `AutotelPipelineQueueGrowing` alert watches.
//!
//! A pipeline that reads from a queue (a channel, a job table, a broker
//! topic) reports how many items wait, whenever it knows:
//!
//! ```
//! use autotel_layers::queue::{QueueDepths, record_queue_depth};
//!
//! // Once, where the depth is known:
//! record_queue_depth("orders", 42);
//!
//! // Or keep a handle, which skips the look-up on every report:
//! let queue = QueueDepths::global().gauge("orders");
//! queue.set(41);
//! queue.increment(3);
//! queue.decrement(1);
//! ```
//!
//! Inside a pipeline run, a `queue_depth` field does the same without a
//! handle: [`SpanMetricsLayer`](crate::SpanMetricsLayer) sets the depth of
//! the run's pipeline from it, on the run, a step, or an event inside them:
//!
//! ```
//! let _run = tracing::info_span!("import", pipeline.name = "orders").entered();
//! tracing::info!(queue_depth = 42u64, "polled the queue");
//! ```
//!
//! The gauge goes to the `metrics` recorder that is current when the handle
//! is made (the global one, or a local one in tests), under its catalog name.
//! Each [`QueueDepths`] holds at most [`with_max_series`](QueueDepths::with_max_series)
//! pipeline names (2000 by default, as the span metrics); handles for names
//! past the cap report to one overflow series labelled
//! [`OVERFLOW_LABEL`]` = "true"`, and each report
//! there is counted in `autotel_series_overflow_total{metric}`. Names longer
//! than [`MAX_LABEL_VALUE_BYTES`](crate::span_metrics::MAX_LABEL_VALUE_BYTES) are cut and
//! counted in `autotel_truncated_values_total{signal="metrics"}`.

use std::sync::{Arc, OnceLock};

use metrics::{Counter, Gauge, Label};

use crate::Error;
use crate::catalog::PIPELINE_QUEUE_DEPTH;
use crate::internal::label_cap::{LabelCap, cut, overflow_counter};
use crate::span_metrics::{DEFAULT_MAX_SERIES, OVERFLOW_LABEL};

/// The pipeline names that have a queue-depth series, up to a cap.
/// See the [module docs](self).
#[derive(Debug, Clone)]
pub struct QueueDepths {
    names: Arc<LabelCap>,
}

impl Default for QueueDepths {
    fn default() -> Self {
        Self::new()
    }
}

impl QueueDepths {
    /// A set of queue-depth series capped at [`DEFAULT_MAX_SERIES`] names.
    pub fn new() -> Self {
        Self {
            names: Arc::new(LabelCap::new(DEFAULT_MAX_SERIES)),
        }
    }

    /// The process-wide set that [`record_queue_depth`] uses.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<QueueDepths> = OnceLock::new();
        GLOBAL.get_or_init(Self::new)
    }

    /// Caps the distinct pipeline names at `max_series`; later names report
    /// to the overflow series. Fails when `max_series` is 0.
    /// Defaults to [`DEFAULT_MAX_SERIES`] (2000).
    #[must_use = "the set is returned, not changed in place"]
    pub fn with_max_series(self, max_series: usize) -> Result<Self, Error> {
        let max_series = crate::error::check_max_series("with_max_series", max_series)?;
        Ok(Self {
            names: Arc::new(LabelCap::new(max_series)),
        })
    }

    /// A handle on the queue depth of `pipeline_name`, registered with the
    /// current `metrics` recorder.
    pub fn gauge(&self, pipeline_name: &str) -> QueueDepth {
        let name = cut(pipeline_name);
        if self.names.admit(name) {
            QueueDepth {
                gauge: metrics::gauge!(PIPELINE_QUEUE_DEPTH.name(), "pipeline_name" => name.to_owned()),
                overflow: None,
            }
        } else {
            QueueDepth {
                gauge: metrics::gauge!(
                    PIPELINE_QUEUE_DEPTH.name(),
                    vec![Label::new(OVERFLOW_LABEL, "true")]
                ),
                overflow: Some(overflow_counter(PIPELINE_QUEUE_DEPTH.name())),
            }
        }
    }

    /// Reports that `depth` items wait in the queue of `pipeline_name`.
    pub fn record(&self, pipeline_name: &str, depth: u64) {
        self.gauge(pipeline_name).set(depth);
    }
}

/// The queue depth of one pipeline. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct QueueDepth {
    gauge: Gauge,
    /// Counts reports to the overflow series, for a name past the cap.
    overflow: Option<Counter>,
}

impl QueueDepth {
    fn counted(&self) -> &Gauge {
        if let Some(overflow) = &self.overflow {
            overflow.increment(1);
        }
        &self.gauge
    }

    /// Reports that `depth` items wait.
    pub fn set(&self, depth: u64) {
        self.counted().set(depth as f64);
    }

    /// Reports that `items` more wait.
    pub fn increment(&self, items: u64) {
        self.counted().increment(items as f64);
    }

    /// Reports that `items` fewer wait.
    pub fn decrement(&self, items: u64) {
        self.counted().decrement(items as f64);
    }
}

/// Reports that `depth` items wait in the queue of `pipeline_name`, through
/// [`QueueDepths::global`].
pub fn record_queue_depth(pipeline_name: &str, depth: u64) {
    QueueDepths::global().record(pipeline_name, depth);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span_metrics::MAX_LABEL_VALUE_BYTES;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    /// Every series recorded by `f`, as `name{labels} value`, sorted.
    fn recorded(f: impl FnOnce()) -> Vec<String> {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, f);
        let mut out: Vec<String> = snapshotter
            .snapshot()
            .into_vec()
            .into_iter()
            .map(|(key, _, _, value)| {
                let key = key.key();
                let labels: Vec<String> = key
                    .labels()
                    .map(|l| format!("{}={}", l.key(), l.value()))
                    .collect();
                let value = match value {
                    DebugValue::Counter(n) => n.to_string(),
                    DebugValue::Gauge(x) => x.into_inner().to_string(),
                    DebugValue::Histogram(_) => "histogram".to_owned(),
                };
                format!("{}{{{}}} {value}", key.name(), labels.join(","))
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn reports_the_depth_by_pipeline() {
        let queues = QueueDepths::new();
        let series = recorded(|| {
            queues.record("orders", 7);
            let invoices = queues.gauge("invoices");
            invoices.set(10);
            invoices.increment(5);
            invoices.decrement(2);
        });
        assert_eq!(
            series,
            [
                "pipeline_queue_depth{pipeline_name=invoices} 13",
                "pipeline_queue_depth{pipeline_name=orders} 7",
            ]
        );
    }

    #[test]
    fn names_past_the_cap_go_to_the_overflow_series_and_are_counted() {
        let queues = QueueDepths::new().with_max_series(2).unwrap();
        let series = recorded(|| {
            queues.record("a", 1);
            queues.record("b", 2);
            queues.record("c", 3);
            queues.record("d", 4);
            queues.record("a", 5);
        });
        assert_eq!(
            series,
            [
                "autotel_series_overflow_total{metric=pipeline_queue_depth} 2",
                "pipeline_queue_depth{otel_metric_overflow=true} 4",
                "pipeline_queue_depth{pipeline_name=a} 5",
                "pipeline_queue_depth{pipeline_name=b} 2",
            ]
        );
    }

    #[test]
    fn long_names_are_cut_on_a_character_boundary_and_counted() {
        let long = format!("{}é", "x".repeat(MAX_LABEL_VALUE_BYTES - 1));
        let series = recorded(|| QueueDepths::new().record(&long, 1));
        let cut = "x".repeat(MAX_LABEL_VALUE_BYTES - 1);
        assert_eq!(
            series,
            [
                "autotel_truncated_values_total{signal=metrics} 1".to_owned(),
                format!("pipeline_queue_depth{{pipeline_name={cut}}} 1"),
            ]
        );
    }

    #[test]
    fn a_zero_cap_is_refused_by_name() {
        let error = QueueDepths::new().with_max_series(0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "with_max_series='0' is not a series cap: give at least 1 \
             (label sets past the cap go to the overflow series)"
        );
    }
}
