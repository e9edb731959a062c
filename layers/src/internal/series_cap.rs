//! The cap on a metric's series: metric handles by label-set key up to a cap,
//! the overflow series past it, and the count of recordings sent there
//! (`autotel_series_overflow_total`).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use metrics::{Label, Recorder, SharedString};

use super::hash::FastHash;
use super::lock;
use super::once_array::OnceArray;
use crate::catalog;

/// The label of an overflow series (with the value `true`): the label set of
/// every recording past a metric's cap.
pub(crate) const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// The labels of an overflow series.
pub(crate) fn overflow_labels() -> Vec<Label> {
    vec![Label::from_static_parts(OVERFLOW_LABEL, "true")]
}

/// The metadata of the layers' registrations.
pub(crate) const METADATA: metrics::Metadata<'static> = metrics::Metadata::new(
    "autotel_layers",
    metrics::Level::INFO,
    Some("autotel_layers"),
);

/// Counts one recording sent to the overflow series of `metric`.
pub(crate) fn count_overflow(recorder: &dyn Recorder, metric: &SharedString) {
    let def = catalog::AUTOTEL_SERIES_OVERFLOW_TOTAL;
    let labels = vec![Label::new(catalog::label::METRIC, metric.clone())];
    let key = metrics::Key::from_parts(SharedString::const_str(def.name()), labels);
    recorder.register_counter(&key, &METADATA).increment(1);
}

/// An address that tells recorders apart, so that handles registered with one
/// recorder are never used after another one took its place.
#[inline]
pub(crate) fn recorder_id(recorder: &dyn Recorder) -> usize {
    (recorder as *const dyn Recorder).cast::<()>() as usize
}

/// Metric handles by label-set key, registered with one recorder, up to a cap
/// on distinct keys. Reads take no lock; inserts copy the map.
pub(crate) struct SeriesCache<K, H> {
    current: ArcSwap<SeriesMap<K, H>>,
    /// Handles of own series by an index that callers derive from the key
    /// (an interned id), with the recorder and the key they belong to: found
    /// without locking when the index has always had the same key.
    by_index: OnceArray<(usize, K, H)>,
    write: Mutex<()>,
    cap: usize,
}

struct SeriesMap<K, H> {
    recorder: usize,
    series: HashMap<K, H, FastHash>,
    overflow: Option<H>,
}

impl<K, H> SeriesMap<K, H> {
    fn empty(recorder: usize) -> Self {
        Self {
            recorder,
            series: HashMap::with_hasher(FastHash),
            overflow: None,
        }
    }
}

/// Where a recording went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Series {
    /// Its own series.
    Own,
    /// The overflow series of a metric past its cap.
    Overflow,
}

impl<K, H> SeriesCache<K, H>
where
    K: Copy + Eq + Hash,
    H: Clone,
{
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            current: ArcSwap::from_pointee(SeriesMap::empty(0)),
            by_index: OnceArray::new(),
            write: Mutex::new(()),
            cap,
        }
    }

    /// [`with`](Self::with), first looking for the handles at `index`, an
    /// interned id that the key holds (below the cap, so the array stays
    /// bounded).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn with_index<R>(
        &self,
        recorder: &dyn Recorder,
        index: u32,
        key: K,
        overflowed: bool,
        make: impl FnOnce(&dyn Recorder) -> H,
        overflow: impl FnOnce(&dyn Recorder) -> H,
        f: impl FnOnce(&H, Series) -> R,
    ) -> R {
        let rid = recorder_id(recorder);
        let index = index as usize;
        if !overflowed
            && let Some((owner, known, handles)) = self.by_index.get(index)
            && *owner == rid
            && *known == key
        {
            return f(handles, Series::Own);
        }
        self.with(
            recorder,
            key,
            overflowed,
            make,
            overflow,
            |handles, series| {
                if series == Series::Own {
                    self.by_index
                        .get_or_init(index, || (rid, key, handles.clone()));
                }
                f(handles, series)
            },
        )
    }

    /// Runs `f` with the handles of `key` registered with `recorder`.
    ///
    /// `make` registers the handles of a new key, `overflow` those of the
    /// overflow series; `overflowed` forces the overflow series (a label value
    /// was already past its interner's cap).
    pub(crate) fn with<R>(
        &self,
        recorder: &dyn Recorder,
        key: K,
        overflowed: bool,
        make: impl FnOnce(&dyn Recorder) -> H,
        overflow: impl FnOnce(&dyn Recorder) -> H,
        f: impl FnOnce(&H, Series) -> R,
    ) -> R {
        let rid = recorder_id(recorder);
        {
            let map = self.current.load();
            if map.recorder == rid {
                if overflowed {
                    if let Some(handles) = &map.overflow {
                        return f(handles, Series::Overflow);
                    }
                } else if let Some(handles) = map.series.get(&key) {
                    return f(handles, Series::Own);
                }
            }
        }
        self.insert_slow(recorder, rid, key, overflowed, make, overflow, f)
    }

    #[cold]
    #[allow(clippy::too_many_arguments)]
    fn insert_slow<R>(
        &self,
        recorder: &dyn Recorder,
        rid: usize,
        key: K,
        overflowed: bool,
        make: impl FnOnce(&dyn Recorder) -> H,
        overflow: impl FnOnce(&dyn Recorder) -> H,
        f: impl FnOnce(&H, Series) -> R,
    ) -> R {
        let _write = lock(&self.write);
        let current = self.current.load_full();
        let mut next = if current.recorder == rid {
            SeriesMap {
                recorder: rid,
                series: current.series.clone(),
                overflow: current.overflow.clone(),
            }
        } else {
            SeriesMap::empty(rid)
        };
        let (handles, series) = if !overflowed && next.series.contains_key(&key) {
            (next.series[&key].clone(), Series::Own)
        } else if !overflowed && next.series.len() < self.cap {
            let handles = make(recorder);
            next.series.insert(key, handles.clone());
            (handles, Series::Own)
        } else {
            let handles = next
                .overflow
                .get_or_insert_with(|| overflow(recorder))
                .clone();
            (handles, Series::Overflow)
        };
        self.current.store(Arc::new(next));
        f(&handles, series)
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.current.load().series.len()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use metrics::{Counter, Key, Metadata, NoopRecorder};

    /// A recorder that registers no-op handles and takes up room.
    struct Sized8 {
        _room: u64,
    }

    impl Recorder for Sized8 {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            Counter::noop()
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> metrics::Gauge {
            metrics::Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> metrics::Histogram {
            metrics::Histogram::noop()
        }
    }

    #[test]
    fn series_cache_by_index_checks_recorder_and_key() {
        let cache: SeriesCache<(u32, u32), Counter> = SeriesCache::new(10);
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        let made = AtomicUsize::new(0);
        let make = |r: &dyn Recorder| {
            made.fetch_add(1, Ordering::Relaxed);
            r.register_counter(&Key::from_static_name("x"), &meta)
        };
        // Two recorders at two addresses (a zero-sized one might share one).
        let recorders = [Sized8 { _room: 0 }, Sized8 { _room: 1 }];
        let (first, second): (&dyn Recorder, &dyn Recorder) = (&recorders[0], &recorders[1]);
        let outcome = |recorder: &dyn Recorder, key: (u32, u32)| {
            cache.with_index(recorder, key.1, key, false, make, make, |_, s| s)
        };
        assert_eq!(outcome(first, (0, 1)), Series::Own);
        assert_eq!(outcome(first, (0, 1)), Series::Own);
        assert_eq!(made.load(Ordering::Relaxed), 1, "registered once");
        // Another key at the same index, and another recorder: registered
        // through the map, never served the first key's handles.
        assert_eq!(outcome(first, (5, 1)), Series::Own);
        assert_eq!(made.load(Ordering::Relaxed), 2);
        assert_eq!(outcome(second, (0, 1)), Series::Own);
        assert_eq!(made.load(Ordering::Relaxed), 3);
        assert_eq!(
            cache.with_index(first, 1, (0, 1), true, make, make, |_, s| s),
            Series::Overflow
        );
    }

    #[test]
    fn series_cache_caps_and_overflows() {
        let cache: SeriesCache<u32, Counter> = SeriesCache::new(2);
        let recorder = NoopRecorder;
        let meta = Metadata::new("t", metrics::Level::INFO, None);
        let make = |r: &dyn Recorder| r.register_counter(&Key::from_static_name("x"), &meta);
        let outcomes: Vec<Series> = (0..4)
            .map(|k| cache.with(&recorder, k, false, make, make, |_, series| series))
            .collect();
        assert_eq!(
            outcomes,
            [Series::Own, Series::Own, Series::Overflow, Series::Overflow]
        );
        assert_eq!(
            cache.with(&recorder, 1, false, make, make, |_, s| s),
            Series::Own
        );
        assert_eq!(
            cache.with(&recorder, 1, true, make, make, |_, s| s),
            Series::Overflow
        );
        assert_eq!(cache.len(), 2);
    }
}
