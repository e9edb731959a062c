//! What a run produced, and the queries over it.

use super::records::{EventRecord, MetricRecord, MetricValue, SpanRecord};

/// Everything a closure produced under a [`Harness`](super::Harness).
#[derive(Debug, Clone)]
pub struct Run {
    pub(super) spans: Vec<SpanRecord>,
    pub(super) events: Vec<EventRecord>,
    pub(super) metrics: Vec<MetricRecord>,
}

impl Run {
    /// Finished spans, in the order they closed.
    pub fn spans(&self) -> &[SpanRecord] {
        &self.spans
    }

    /// The first finished span called `name`.
    pub fn span(&self, name: &str) -> Option<&SpanRecord> {
        self.spans.iter().find(|span| span.name == name)
    }

    /// Events, in the order they were recorded.
    pub fn events(&self) -> &[EventRecord] {
        &self.events
    }

    /// Every metric series recorded.
    pub fn metrics(&self) -> &[MetricRecord] {
        &self.metrics
    }

    /// The series called `name` whose labels include every pair of `labels`.
    pub fn series<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a MetricRecord> + 'a {
        self.metrics
            .iter()
            .filter(move |series| series.name == name && series.has_labels(labels))
    }

    /// The sum of the counters called `name` whose labels include every pair
    /// of `labels`; 0 when there is none.
    pub fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.series(name, labels)
            .filter_map(|series| match series.value {
                MetricValue::Counter(n) => Some(n),
                _ => None,
            })
            .sum()
    }

    /// The value of the gauge called `name` whose labels include every pair
    /// of `labels`; the sum when several match, `None` when none does.
    pub fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.series(name, labels)
            .filter_map(|series| match series.value {
                MetricValue::Gauge(g) => Some(g),
                _ => None,
            })
            .reduce(|a, b| a + b)
    }

    /// Every value recorded into the histograms called `name` whose labels
    /// include every pair of `labels`.
    pub fn histogram(&self, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
        self.series(name, labels)
            .filter_map(|series| match &series.value {
                MetricValue::Histogram(values) => Some(values.iter().copied()),
                _ => None,
            })
            .flatten()
            .collect()
    }
}
