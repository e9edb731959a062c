//! The exemplars of the Prometheus exporter's histograms: one per bucket per
//! series (see [`crate::exemplar_reservoir`]), restarted by each
//! OpenMetrics scrape.
//!
//! A histogram handle of the recorder forwards every observation to
//! metrics-exporter-prometheus and, when the thread has a
//! [current exemplar](autotel_layers::exemplar::current), offers it to the
//! series' reservoir.

use std::collections::HashMap;
use std::sync::{Arc, PoisonError, RwLock};

use autotel_layers::exemplar;
use metrics::{Histogram, HistogramFn, Key};
use metrics_exporter_prometheus::formatting::{
    sanitize_label_key, sanitize_label_value, sanitize_metric_name,
};

use crate::exemplar_reservoir::Reservoir;

/// The reservoirs of one histogram series, with the name and labels the
/// text format writes it with.
#[derive(Debug)]
pub(super) struct SeriesExemplars {
    /// The metric name as the text format writes it.
    pub(super) name: String,
    /// The labels as the text format writes them, without `le`.
    pub(super) labels: String,
    pub(super) reservoir: Reservoir,
}

/// A histogram handle that records into metrics-exporter-prometheus and
/// offers the thread's current exemplar to its series.
#[derive(Debug)]
struct ExemplarHistogram {
    inner: Histogram,
    exemplars: Arc<SeriesExemplars>,
}

impl HistogramFn for ExemplarHistogram {
    #[inline]
    fn record(&self, value: f64) {
        self.inner.record(value);
        if let Some(exemplar) = exemplar::current() {
            self.exemplars.reservoir.offer(value, exemplar);
        }
    }

    fn record_many(&self, value: f64, count: usize) {
        self.inner.record_many(value, count);
        if let Some(exemplar) = exemplar::current() {
            self.exemplars.reservoir.offer(value, exemplar);
        }
    }
}

/// Every series with exemplars, and the handles given out for them.
#[derive(Debug, Default)]
pub(super) struct ExemplarStore {
    handles: RwLock<HashMap<Key, Arc<ExemplarHistogram>>>,
}

impl ExemplarStore {
    /// The handle of the series `key` (as recorded upstream), wrapping
    /// `register` (the upstream handle) the first time; `global` are the
    /// exporter's global labels, `bounds` the series' bucket bounds.
    pub(super) fn histogram(
        &self,
        key: &Key,
        global: &[(String, String)],
        bounds: impl FnOnce() -> Arc<[f64]>,
        register: impl FnOnce() -> Histogram,
    ) -> Histogram {
        let read = self.handles.read().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = read.get(key) {
            return Histogram::from_arc(found.clone());
        }
        drop(read);
        let mut write = self.handles.write().unwrap_or_else(PoisonError::into_inner);
        let handle = write.entry(key.clone()).or_insert_with(|| {
            Arc::new(ExemplarHistogram {
                inner: register(),
                exemplars: Arc::new(SeriesExemplars {
                    name: sanitize_metric_name(key.name()),
                    labels: label_text(key, global),
                    reservoir: Reservoir::new(bounds()),
                }),
            })
        });
        Histogram::from_arc(handle.clone())
    }

    /// The series that have had an exemplar, by name and label text.
    pub(super) fn series(&self) -> HashMap<(String, String), Arc<SeriesExemplars>> {
        let read = self.handles.read().unwrap_or_else(PoisonError::into_inner);
        read.values()
            .filter(|handle| handle.exemplars.reservoir.is_used())
            .map(|handle| {
                let series = &handle.exemplars;
                ((series.name.clone(), series.labels.clone()), series.clone())
            })
            .collect()
    }
}

/// The labels of `key` as metrics-exporter-prometheus writes them: the
/// global labels first (a key label of the same name replaces the value in
/// place), then the key's other labels, each sanitized.
fn label_text(key: &Key, global: &[(String, String)]) -> String {
    let mut labels: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| match labels.iter_mut().find(|(n, _)| n == name) {
        Some(existing) => existing.1 = value.to_owned(),
        None => labels.push((name.to_owned(), value.to_owned())),
    };
    for (name, value) in global {
        set(name, value);
    }
    for label in key.labels() {
        set(label.key(), label.value());
    }
    labels
        .iter()
        .map(|(name, value)| {
            format!(
                "{}=\"{}\"",
                sanitize_label_key(name),
                sanitize_label_value(value)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics::Label;

    #[test]
    fn label_text_is_written_as_the_upstream_exporter_does() {
        let key = Key::from_parts(
            "m",
            vec![Label::new("region", "us"), Label::new("a b", "say \"hi\"")],
        );
        let global = [
            ("host".to_owned(), "h1".to_owned()),
            ("region".to_owned(), "eu".to_owned()),
        ];
        assert_eq!(
            label_text(&key, &global),
            r#"host="h1",region="us",a_b="say \"hi\"""#
        );
    }
}
