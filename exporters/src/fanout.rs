//! One `metrics` recorder that sends every call to several recorders.
//!
//! Built on [`metrics_util::layers::Fanout`]. Use it to export the same
//! metrics to Prometheus, OTLP and the push exporters (StatsD, DogStatsD)
//! at once: each recorder gets every description and every registration,
//! and each handle returned to the program updates all of them.
//!
//! The handles are kept per key, so a `counter!` call for a series seen
//! before costs one lookup, whatever the number of recorders, instead of a
//! registration with each recorder and an allocation. Up to 65,536 handles
//! of each kind are kept; series past that register with every recorder on
//! each call, as without the cache.
//!
//! ```no_run
//! # #[cfg(all(feature = "prometheus", feature = "otlp"))] {
//! use autotel_exporters::fanout::Fanout;
//! use autotel_exporters::otlp::Otlp;
//! use autotel_exporters::prometheus::Prometheus;
//!
//! let (prometheus, _server) = Prometheus::new().build()?;
//! let otlp = Otlp::new().build()?;
//! Fanout::new()
//!     .with_recorder(prometheus)
//!     .with_recorder(otlp.metrics_recorder().expect("metrics are on by default"))
//!     .install()?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{PoisonError, RwLock};

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::KeyHasher;
use metrics_util::layers::{Fanout as UpstreamFanout, FanoutBuilder};

/// How many handles of each kind the fan-out keeps.
const MAX_HANDLES: usize = 65_536;
/// Locks the handles are spread over, so threads rarely share one.
const SHARDS: usize = 16;

type Shard<H> = RwLock<HashMap<Key, H, BuildHasherDefault<KeyHasher>>>;

/// The handles returned so far, by key.
struct Handles<H> {
    shards: [Shard<H>; SHARDS],
    len: AtomicUsize,
}

impl<H: Clone> Handles<H> {
    fn new() -> Self {
        Self {
            shards: std::array::from_fn(|_| RwLock::new(HashMap::default())),
            len: AtomicUsize::new(0),
        }
    }

    /// The handle of `key`: the one kept, or a new one from `register`
    /// (called with no lock held, since a recorder may record as it
    /// registers), kept while there is room.
    fn get_or_register(&self, key: &Key, register: impl FnOnce() -> H) -> H {
        let shard = &self.shards[(key.get_hash() % SHARDS as u64) as usize];
        let kept = shard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned();
        if let Some(handle) = kept {
            return handle;
        }
        let handle = register();
        if self.len.load(Ordering::Relaxed) >= MAX_HANDLES {
            return handle;
        }
        let mut shard = shard.write().unwrap_or_else(PoisonError::into_inner);
        shard
            .entry(key.clone())
            .or_insert_with(|| {
                self.len.fetch_add(1, Ordering::Relaxed);
                handle
            })
            .clone()
    }
}

/// A global `metrics` recorder was installed before.
#[derive(Debug, thiserror::Error)]
#[error(
    "a global metrics recorder is already installed; install the fan-out recorder once, at start-up"
)]
pub struct FanoutError;

/// Builder of a [`FanoutRecorder`].
#[derive(Debug, Default)]
pub struct Fanout {
    builder: FanoutBuilder,
    len: usize,
}

impl Fanout {
    /// A fan-out to no recorder yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a recorder that receives every call. Defaults to no recorders.
    #[must_use]
    pub fn with_recorder<R>(mut self, recorder: R) -> Self
    where
        R: Recorder + Sync + 'static,
    {
        self.builder = self.builder.add_recorder(recorder);
        self.len += 1;
        self
    }

    /// Builds the recorder and installs it as the global `metrics` recorder.
    ///
    /// # Errors
    ///
    /// [`FanoutError`] when a global recorder is already installed.
    pub fn install(self) -> Result<(), FanoutError> {
        metrics::set_global_recorder(self.build()).map_err(|_| FanoutError)
    }

    /// Builds the recorder without installing it.
    pub fn build(self) -> FanoutRecorder {
        FanoutRecorder {
            inner: self.builder.build(),
            len: self.len,
            counters: Handles::new(),
            gauges: Handles::new(),
            histograms: Handles::new(),
        }
    }
}

/// A `metrics` recorder that forwards to several recorders.
pub struct FanoutRecorder {
    inner: UpstreamFanout,
    len: usize,
    counters: Handles<Counter>,
    gauges: Handles<Gauge>,
    histograms: Handles<Histogram>,
}

impl std::fmt::Debug for FanoutRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FanoutRecorder")
            .field("recorders", &self.len)
            .finish_non_exhaustive()
    }
}

impl FanoutRecorder {
    /// How many recorders receive the calls.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no recorder receives the calls.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Recorder for FanoutRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.inner.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.counters
            .get_or_register(key, || self.inner.register_counter(key, metadata))
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.gauges
            .get_or_register(key, || self.inner.register_gauge(key, metadata))
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.histograms
            .get_or_register(key, || self.inner.register_histogram(key, metadata))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_util::debugging::DebuggingRecorder;

    /// Counts registrations, to see which calls reach the recorders.
    #[derive(Debug, Default)]
    struct Registrations(AtomicUsize);

    impl Recorder for &'static Registrations {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, _: &Key, _: &Metadata<'_>) -> Counter {
            self.0.fetch_add(1, Ordering::Relaxed);
            Counter::noop()
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[test]
    fn a_known_series_does_not_register_again() {
        static SEEN: Registrations = Registrations(AtomicUsize::new(0));
        let fanout = Fanout::new().with_recorder(&SEEN).build();
        metrics::with_local_recorder(&fanout, || {
            for _ in 0..10 {
                metrics::counter!("calls_total", "route" => "/a").increment(1);
            }
            metrics::counter!("calls_total", "route" => "/b").increment(1);
        });
        assert_eq!(SEEN.0.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn every_recorder_sees_every_call() {
        let first = DebuggingRecorder::new();
        let second = DebuggingRecorder::new();
        let (a, b) = (first.snapshotter(), second.snapshotter());
        let fanout = Fanout::new()
            .with_recorder(first)
            .with_recorder(second)
            .build();
        assert_eq!(fanout.len(), 2);
        metrics::with_local_recorder(&fanout, || {
            metrics::counter!("span_calls_total", "span_name" => "x").increment(3);
            metrics::histogram!("span_duration_seconds").record(0.5);
        });
        for snapshot in [a.snapshot(), b.snapshot()] {
            let values: Vec<_> = snapshot
                .into_vec()
                .into_iter()
                .map(|(key, _, _, value)| (key.key().name().to_owned(), format!("{value:?}")))
                .collect();
            assert!(
                values.contains(&("span_calls_total".into(), "Counter(3)".into())),
                "{values:?}"
            );
            assert!(
                values.contains(&("span_duration_seconds".into(), "Histogram([0.5])".into())),
                "{values:?}"
            );
        }
    }
}
