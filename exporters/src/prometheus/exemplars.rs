//! The exemplars of the Prometheus exporter's histograms: one per bucket per
//! series, chosen by reservoir sampling among the observations of each scrape
//! interval.
//!
//! A histogram handle of the recorder forwards every observation to
//! metrics-exporter-prometheus and, when the thread has a
//! [current exemplar](autotel_layers::exemplar::current), offers it to the
//! series' reservoir. Each bucket counts the exemplars offered since the last
//! OpenMetrics scrape and keeps the n-th with probability 1/n, so the one kept
//! is a uniform pick among them (the first after a scrape always replaces the
//! last one shown). Memory is bounded: one slot per bucket, allocated with
//! the first exemplar of the series.

use std::cell::Cell;
use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock, TryLockError};
use std::time::{SystemTime, UNIX_EPOCH};

use autotel_layers::exemplar::{self, Exemplar};
use metrics::{Histogram, HistogramFn, Key};
use metrics_exporter_prometheus::formatting::{
    sanitize_label_key, sanitize_label_value, sanitize_metric_name,
};

/// An exemplar kept for a bucket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Kept {
    pub(super) exemplar: Exemplar,
    pub(super) value: f64,
    /// Seconds since the Unix epoch when it was observed.
    pub(super) time: f64,
}

/// The reservoirs of one histogram series.
#[derive(Debug)]
pub(super) struct SeriesExemplars {
    /// The metric name as the text format writes it.
    pub(super) name: String,
    /// The labels as the text format writes them, without `le`.
    pub(super) labels: String,
    /// The upper bounds of the buckets, without `+Inf`.
    pub(super) bounds: Arc<[f64]>,
    slots: OnceLock<Slots>,
}

#[derive(Debug)]
struct Slots {
    /// Exemplars offered to each bucket since the last scrape.
    seen: Box<[AtomicU64]>,
    kept: Mutex<Box<[Option<Kept>]>>,
}

impl SeriesExemplars {
    fn new(name: String, labels: String, bounds: Arc<[f64]>) -> Self {
        Self {
            name,
            labels,
            bounds,
            slots: OnceLock::new(),
        }
    }

    /// Offers `exemplar`, observed with `value`, to the bucket of `value`.
    /// Never blocks: when another thread is replacing an exemplar of the
    /// series at this instant, this one is not kept.
    pub(super) fn offer(&self, value: f64, exemplar: Exemplar) {
        if value.is_nan() {
            return;
        }
        let slots = self.slots.get_or_init(|| {
            let buckets = self.bounds.len() + 1;
            Slots {
                seen: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
                kept: Mutex::new(vec![None; buckets].into_boxed_slice()),
            }
        });
        let index = self.bounds.partition_point(|bound| *bound < value);
        let seen = slots.seen[index].fetch_add(1, Ordering::Relaxed) + 1;
        if seen > 1 && random_below(seen) != 0 {
            return;
        }
        let mut kept = match slots.kept.try_lock() {
            Ok(kept) => kept,
            Err(TryLockError::Poisoned(poisoned)) => poisoned.into_inner(),
            Err(TryLockError::WouldBlock) => return,
        };
        let time = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        kept[index] = Some(Kept {
            exemplar,
            value,
            time,
        });
    }

    /// The exemplar kept for each bucket (the last for `+Inf`); with
    /// `restart`, the next exemplar offered to each bucket replaces it.
    pub(super) fn kept(&self, restart: bool) -> Vec<Option<Kept>> {
        let Some(slots) = self.slots.get() else {
            return Vec::new();
        };
        let kept = slots.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if restart {
            for seen in &slots.seen {
                seen.store(0, Ordering::Relaxed);
            }
        }
        kept.to_vec()
    }
}

/// A uniform draw in `0..n` from a per-thread xorshift generator.
fn random_below(n: u64) -> u64 {
    thread_local! {
        static STATE: Cell<u64> = Cell::new(RandomState::new().hash_one(0u64) | 1);
    }
    let next = STATE
        .try_with(|state| {
            let mut x = state.get();
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            state.set(x);
            x
        })
        .unwrap_or(0);
    ((u128::from(next) * u128::from(n)) >> 64) as u64
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
            self.exemplars.offer(value, exemplar);
        }
    }

    fn record_many(&self, value: f64, count: usize) {
        self.inner.record_many(value, count);
        if let Some(exemplar) = exemplar::current() {
            self.exemplars.offer(value, exemplar);
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
                exemplars: Arc::new(SeriesExemplars::new(
                    sanitize_metric_name(key.name()),
                    label_text(key, global),
                    bounds(),
                )),
            })
        });
        Histogram::from_arc(handle.clone())
    }

    /// The series that have had an exemplar, by name and label text.
    pub(super) fn series(&self) -> HashMap<(String, String), Arc<SeriesExemplars>> {
        let read = self.handles.read().unwrap_or_else(PoisonError::into_inner);
        read.values()
            .filter(|handle| handle.exemplars.slots.get().is_some())
            .map(|handle| {
                let series = &handle.exemplars;
                (
                    (series.name.clone(), series.labels.clone()),
                    series.clone(),
                )
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
    use autotel_layers::{SpanId, TraceId};
    use metrics::Label;

    fn ids(n: u64) -> Exemplar {
        Exemplar::new(TraceId::from_u128(u128::from(n)), SpanId::from_u64(n))
    }

    #[test]
    fn each_bucket_keeps_one_exemplar_of_its_own_range() {
        let series = SeriesExemplars::new("m".into(), String::new(), Arc::from([0.1, 1.0]));
        series.offer(0.05, ids(1));
        series.offer(0.1, ids(2));
        series.offer(5.0, ids(3));
        let kept = series.kept(true);
        assert_eq!(kept.len(), 3);
        let first = kept[0].unwrap();
        assert!(first.exemplar == ids(1) || first.exemplar == ids(2), "{first:?}");
        assert!(first.value <= 0.1);
        assert!(kept[1].is_none());
        assert_eq!(kept[2].unwrap().exemplar, ids(3));
        // After a scrape, the next exemplar replaces the one shown.
        series.offer(0.01, ids(4));
        assert_eq!(series.kept(false)[0].unwrap().exemplar, ids(4));
    }

    #[test]
    fn reservoir_picks_uniformly_among_the_offers_of_an_interval() {
        let series = SeriesExemplars::new("m".into(), String::new(), Arc::from([1.0]));
        let mut firsts = 0;
        for _ in 0..1000 {
            for n in 1..=4 {
                series.offer(0.5, ids(n));
            }
            if series.kept(true)[0].unwrap().exemplar == ids(1) {
                firsts += 1;
            }
        }
        // One in four on average: far from never and from always.
        assert!((150..350).contains(&firsts), "{firsts}");
    }

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
