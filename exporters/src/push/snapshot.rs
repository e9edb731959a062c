//! What one interval of the push recorder holds, as handed to every push
//! exporter.

use std::time::{Duration, SystemTime};

use metrics::{Key, Unit};

use super::reservoir::Distribution;

/// The metrics of one interval: every series that changed, and every gauge.
///
/// One snapshot is built per interval and shared by every push exporter, so
/// the cost of recording does not depend on how many exporters are on.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub(super) time: SystemTime,
    pub(super) interval: Duration,
    pub(super) series: Vec<Series>,
}

impl Snapshot {
    /// A snapshot of `series`, taken at `time` at the end of an interval of
    /// `interval`: for exporters' own tests and for custom exporters.
    pub fn new(time: SystemTime, interval: Duration, series: Vec<Series>) -> Self {
        Self {
            time,
            interval,
            series,
        }
    }

    /// When the interval ended.
    pub fn time(&self) -> SystemTime {
        self.time
    }

    /// The length of the interval: counters count over it.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The series, in no particular order.
    pub fn series(&self) -> &[Series] {
        &self.series
    }

    /// Whether the interval recorded nothing.
    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// One series of a [`Snapshot`]: a metric name, its labels and its value.
#[derive(Debug, Clone)]
pub struct Series {
    key: Key,
    unit: Option<Unit>,
    value: Value,
}

impl Series {
    /// A series of the metric `key` (name and labels).
    pub fn new(key: Key, unit: Option<Unit>, value: Value) -> Self {
        Self { key, unit, value }
    }

    /// The metric name, as recorded (no exporter prefix).
    pub fn name(&self) -> &str {
        self.key.name()
    }

    /// The labels, in the order they were recorded.
    pub fn labels(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        self.key.labels().map(|label| (label.key(), label.value()))
    }

    /// The metric name and labels.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// The unit described for the metric (`describe_*`), if any.
    pub fn unit(&self) -> Option<Unit> {
        self.unit
    }

    /// What the series recorded during the interval.
    pub fn value(&self) -> &Value {
        &self.value
    }
}

/// The value of a [`Series`] over one interval.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// How much a counter grew during the interval (never zero).
    Counter(u64),
    /// How much a fractional counter (a catalog
    /// [`FractionalCounter`](autotel_layers::catalog::MetricKind::FractionalCounter)
    /// such as `pipeline_cost_usd_total`) grew during the interval.
    Sum(f64),
    /// The last value of a gauge.
    Gauge(f64),
    /// The values a histogram recorded during the interval.
    Distribution(Distribution),
}
