//! The collector and recorder that [`Harness`](super::Harness) is built on.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use metrics::{Counter, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};
use metrics_util::registry::{AtomicStorage, Registry};

use super::layer::{CaptureLayer, Sink};
use super::records::{MetricRecord, MetricValue};
use super::run::Run;

/// A span-and-event collector and a metrics recorder that can be installed
/// anywhere, globally included: the building blocks of
/// [`Harness`](super::Harness), for a subscriber and recorder of your own
/// composition.
///
/// Clones share what they collect.
///
/// ```
/// use autotel_layers::testing::Capture;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let capture = Capture::new();
/// let subscriber = tracing_subscriber::registry().with(capture.layer());
/// tracing::subscriber::with_default(subscriber, || {
///     metrics::with_local_recorder(&capture.recorder(), || {
///         tracing::info!("hello");
///         metrics::counter!("jobs_total").increment(2);
///     })
/// });
/// let run = capture.snapshot();
/// assert_eq!(run.events()[0].message(), Some("hello"));
/// assert_eq!(run.counter("jobs_total", &[]), 2);
/// ```
#[derive(Clone, Default)]
pub struct Capture {
    sink: Arc<Sink>,
    pub(super) recorder: CaptureRecorder,
}

impl Capture {
    /// A collector that holds nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A layer that records every finished span and every event into this
    /// collector.
    pub fn layer(&self) -> CaptureLayer {
        CaptureLayer {
            sink: Arc::clone(&self.sink),
        }
    }

    /// A `metrics` recorder that keeps every value in this collector.
    pub fn recorder(&self) -> CaptureRecorder {
        self.recorder.clone()
    }

    /// Everything collected so far; taking a snapshot changes nothing.
    pub fn snapshot(&self) -> Run {
        let mut metrics = Vec::new();
        let registry = &*self.recorder.registry;
        registry.visit_counters(|key, counter| {
            metrics.push(MetricRecord::new(
                key,
                MetricValue::Counter(counter.load(Ordering::Acquire)),
            ));
        });
        registry.visit_gauges(|key, gauge| {
            let value = f64::from_bits(gauge.load(Ordering::Acquire));
            metrics.push(MetricRecord::new(key, MetricValue::Gauge(value)));
        });
        registry.visit_histograms(|key, histogram| {
            metrics.push(MetricRecord::new(
                key,
                MetricValue::Histogram(histogram.data()),
            ));
        });
        metrics.sort_by(|a, b| (&a.name, &a.labels).cmp(&(&b.name, &b.labels)));
        let sink = self.sink.lock();
        Run {
            spans: sink.spans.clone(),
            events: sink.events.clone(),
            metrics,
        }
    }
}

impl fmt::Debug for Capture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sink = self.sink.lock();
        f.debug_struct("Capture")
            .field("spans", &sink.spans.len())
            .field("events", &sink.events.len())
            .finish_non_exhaustive()
    }
}

/// The `metrics` recorder of a [`Capture`]: its values can be read any
/// number of times. Clones share their values.
#[derive(Clone)]
pub struct CaptureRecorder {
    registry: Arc<Registry<Key, AtomicStorage>>,
}

impl Default for CaptureRecorder {
    fn default() -> Self {
        Self {
            registry: Arc::new(Registry::atomic()),
        }
    }
}

impl fmt::Debug for CaptureRecorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureRecorder").finish_non_exhaustive()
    }
}

impl Recorder for CaptureRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        self.registry
            .get_or_create_counter(key, |counter| Counter::from_arc(Arc::clone(counter)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        self.registry
            .get_or_create_gauge(key, |gauge| Gauge::from_arc(Arc::clone(gauge)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        self.registry
            .get_or_create_histogram(key, |histogram| Histogram::from_arc(Arc::clone(histogram)))
    }
}
