//! The `metrics` recorder of the push exporters: atomic counters and gauges,
//! a [`Reservoir`] per histogram series, read once per interval.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use autotel_layers::catalog;
use autotel_layers::redact::{REDACTED, Redaction};
use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_util::registry::{Registry, Storage};

use super::reservoir::Reservoir;
use super::snapshot::{Series, Snapshot, Value};
use crate::is_fractional_counter;

/// The label of the series that takes the recordings of a metric past its cap
/// on distinct label sets, as OpenTelemetry names it.
pub(crate) const OVERFLOW_LABEL: &str = "otel_metric_overflow";

/// The storage of each series: what the program's handles update.
#[derive(Debug)]
struct PushStorage {
    budget: usize,
}

impl Storage<Key> for PushStorage {
    type Counter = Arc<AtomicU64>;
    type Gauge = Arc<AtomicU64>;
    type Histogram = Arc<Reservoir>;

    fn counter(&self, _: &Key) -> Self::Counter {
        Arc::new(AtomicU64::new(0))
    }

    fn gauge(&self, _: &Key) -> Self::Gauge {
        Arc::new(AtomicU64::new(0))
    }

    fn histogram(&self, _: &Key) -> Self::Histogram {
        Arc::new(Reservoir::new(self.budget))
    }
}

/// The `metrics` recorder that the push exporters (StatsD, DogStatsD, ...)
/// read from.
///
/// Recording is an atomic add or store for counters and gauges and a short
/// uncontended lock for histograms: no system call, and no allocation once a
/// series exists and its histogram buffer has grown to its usual size. Once
/// per interval the [`PushGuard`](super::PushGuard)'s thread reads every
/// series into one [`Snapshot`] and hands it to each exporter.
///
/// Each metric name has at most [`Push::with_max_series`](super::Push::with_max_series)
/// label sets; recordings of further label sets go to one series labelled
/// `otel_metric_overflow="true"` and are counted in
/// `autotel_series_overflow_total{metric}`. Label values of names the
/// redaction rule matches are replaced by `[REDACTED]`.
#[derive(Debug, Clone)]
pub struct PushRecorder {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry<Key, PushStorage>,
    units: RwLock<HashMap<String, Unit>>,
    /// Distinct label sets per metric name, consulted when a series is new.
    series_per_name: Mutex<HashMap<String, usize>>,
    max_series: usize,
    redaction: Redaction,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushRecorder")
            .field("max_series", &self.max_series)
            .field("redaction", &self.redaction)
            .finish_non_exhaustive()
    }
}

/// What the previous interval ended with, to turn running totals into
/// increments.
#[derive(Debug, Default)]
pub(crate) struct Baselines {
    counters: HashMap<Key, u64>,
    sums: HashMap<Key, f64>,
}

/// The kinds of series, for the cap.
#[derive(Clone, Copy)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl PushRecorder {
    pub(crate) fn new(budget: usize, max_series: usize, redaction: Redaction) -> Self {
        let recorder = Self {
            inner: Arc::new(Inner {
                registry: Registry::new(PushStorage { budget }),
                units: RwLock::new(HashMap::new()),
                series_per_name: Mutex::new(HashMap::new()),
                max_series,
                redaction,
            }),
        };
        for def in catalog::ALL {
            if let Some(unit) = def.unit() {
                recorder.describe(def.name().into(), Some(unit));
            }
        }
        recorder
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>) {
        if let Some(unit) = unit {
            let mut units = self
                .inner
                .units
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            units.insert(key.as_str().to_owned(), unit);
        }
    }

    /// The key a registration records under: the same key when it is known
    /// or there is room for it, redacted when a label must be, the
    /// overflow series of its metric past the cap.
    fn admit<'k>(&self, key: &'k Key, kind: Kind) -> Cow<'k, Key> {
        let inner = &*self.inner;
        let key = self.redact(key);
        let known = match kind {
            Kind::Counter => inner.registry.get_counter(&key).is_some(),
            Kind::Gauge => inner.registry.get_gauge(&key).is_some(),
            Kind::Histogram => inner.registry.get_histogram(&key).is_some(),
        };
        if known {
            return key;
        }
        let mut counts = inner
            .series_per_name
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(key.name().to_owned()).or_default();
        if *count < inner.max_series {
            *count += 1;
            return key;
        }
        drop(counts);
        metrics::counter!(
            catalog::AUTOTEL_SERIES_OVERFLOW_TOTAL.name(),
            "metric" => key.name().to_owned()
        )
        .increment(1);
        Cow::Owned(Key::from_parts(
            key.name().to_owned(),
            vec![Label::new(OVERFLOW_LABEL, "true")],
        ))
    }

    fn redact<'k>(&self, key: &'k Key) -> Cow<'k, Key> {
        let redaction = &self.inner.redaction;
        if !key.labels().any(|label| redaction.matches(label.key())) {
            return Cow::Borrowed(key);
        }
        let labels: Vec<Label> = key
            .labels()
            .map(|label| {
                if redaction.matches(label.key()) {
                    Label::new(label.key().to_owned(), REDACTED)
                } else {
                    label.clone()
                }
            })
            .collect();
        Cow::Owned(Key::from_parts(key.name().to_owned(), labels))
    }

    fn unit(&self, name: &str) -> Option<Unit> {
        let units = self
            .inner
            .units
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        units.get(name).copied()
    }

    /// Reads every series into a snapshot: counters' increments since the
    /// last call, gauges' values, histograms' distributions (which start
    /// over). Also returns how many histogram values were refused because
    /// they were not finite.
    pub(crate) fn collect(
        &self,
        baselines: &mut Baselines,
        time: SystemTime,
        interval: Duration,
    ) -> (Snapshot, u64) {
        let registry = &self.inner.registry;
        let mut series = Vec::new();
        registry.visit_counters(|key, counter| {
            let now = counter.load(Ordering::Relaxed);
            let last = match baselines.counters.get_mut(key) {
                Some(last) => std::mem::replace(last, now),
                None => {
                    baselines.counters.insert(key.clone(), now);
                    0
                }
            };
            // A counter set lower (`absolute`) starts over from there.
            let increment = if now >= last { now - last } else { now };
            if increment > 0 {
                series.push(Series::new(
                    key.clone(),
                    self.unit(key.name()),
                    Value::Counter(increment),
                ));
            }
        });
        registry.visit_gauges(|key, gauge| {
            let value = f64::from_bits(gauge.load(Ordering::Relaxed));
            let unit = self.unit(key.name());
            if !is_fractional_counter(key.name()) {
                series.push(Series::new(key.clone(), unit, Value::Gauge(value)));
                return;
            }
            let last = match baselines.sums.get_mut(key) {
                Some(last) => std::mem::replace(last, value),
                None => {
                    baselines.sums.insert(key.clone(), value);
                    0.0
                }
            };
            let increment = if value >= last { value - last } else { value };
            if increment > 0.0 {
                series.push(Series::new(key.clone(), unit, Value::Sum(increment)));
            }
        });
        let mut rejected = 0;
        registry.visit_histograms(|key, histogram| {
            rejected += histogram.take_rejected();
            if let Some(distribution) = histogram.take() {
                series.push(Series::new(
                    key.clone(),
                    self.unit(key.name()),
                    Value::Distribution(distribution),
                ));
            }
        });
        (Snapshot::new(time, interval, series), rejected)
    }
}

impl Recorder for PushRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, _: SharedString) {
        self.describe(key, unit);
    }

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let key = self.admit(key, Kind::Counter);
        self.inner
            .registry
            .get_or_create_counter(&key, |counter| Counter::from_arc(Arc::clone(counter)))
    }

    fn register_gauge(&self, key: &Key, _: &Metadata<'_>) -> Gauge {
        let key = self.admit(key, Kind::Gauge);
        self.inner
            .registry
            .get_or_create_gauge(&key, |gauge| Gauge::from_arc(Arc::clone(gauge)))
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        let key = self.admit(key, Kind::Histogram);
        self.inner
            .registry
            .get_or_create_histogram(&key, |histogram| Histogram::from_arc(Arc::clone(histogram)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorder(max_series: usize) -> PushRecorder {
        PushRecorder::new(100, max_series, Redaction::default())
    }

    fn collect(recorder: &PushRecorder, baselines: &mut Baselines) -> Vec<(String, Value)> {
        let (snapshot, _) = recorder.collect(baselines, SystemTime::now(), Duration::from_secs(1));
        let mut out: Vec<_> = snapshot
            .series()
            .iter()
            .map(|s| {
                let labels: Vec<String> = s.labels().map(|(k, v)| format!("{k}={v}")).collect();
                (
                    format!("{}{{{}}}", s.name(), labels.join(",")),
                    s.value().clone(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn counters_leave_as_increments_and_gauges_as_values() {
        let recorder = recorder(10);
        let mut baselines = Baselines::default();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("calls_total", "route" => "/a").increment(3);
            metrics::gauge!("depth").set(7.5);
        });
        assert_eq!(
            collect(&recorder, &mut baselines),
            [
                ("calls_total{route=/a}".to_owned(), Value::Counter(3)),
                ("depth{}".to_owned(), Value::Gauge(7.5)),
            ]
        );
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("calls_total", "route" => "/a").increment(2);
        });
        assert_eq!(
            collect(&recorder, &mut baselines),
            [
                ("calls_total{route=/a}".to_owned(), Value::Counter(2)),
                ("depth{}".to_owned(), Value::Gauge(7.5)),
            ],
            "an unchanged counter is left out, a gauge is always sent"
        );
    }

    #[test]
    fn fractional_counters_leave_as_increments_of_their_total() {
        let recorder = recorder(10);
        let mut baselines = Baselines::default();
        let name = catalog::PIPELINE_COST_USD_TOTAL.name();
        metrics::with_local_recorder(&recorder, || metrics::gauge!(name).set(0.25));
        assert_eq!(
            collect(&recorder, &mut baselines),
            [(format!("{name}{{}}"), Value::Sum(0.25))]
        );
        metrics::with_local_recorder(&recorder, || metrics::gauge!(name).set(1.0));
        assert_eq!(
            collect(&recorder, &mut baselines),
            [(format!("{name}{{}}"), Value::Sum(0.75))]
        );
    }

    #[test]
    fn label_sets_past_the_cap_go_to_the_overflow_series() {
        let recorder = recorder(2);
        let mut baselines = Baselines::default();
        metrics::with_local_recorder(&recorder, || {
            for user in ["a", "b", "c", "d", "a"] {
                metrics::counter!("logins_total", "user" => user).increment(1);
            }
        });
        assert_eq!(
            collect(&recorder, &mut baselines),
            [
                (
                    "autotel_series_overflow_total{metric=logins_total}".to_owned(),
                    Value::Counter(2)
                ),
                (
                    "logins_total{otel_metric_overflow=true}".to_owned(),
                    Value::Counter(2)
                ),
                ("logins_total{user=a}".to_owned(), Value::Counter(2)),
                ("logins_total{user=b}".to_owned(), Value::Counter(1)),
            ]
        );
    }

    #[test]
    fn secret_label_values_are_redacted() {
        let recorder = recorder(10);
        let mut baselines = Baselines::default();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("requests_total", "password" => "hunter2").increment(1);
        });
        assert_eq!(
            collect(&recorder, &mut baselines),
            [(
                "requests_total{password=[REDACTED]}".to_owned(),
                Value::Counter(1)
            )]
        );
    }

    #[test]
    fn histograms_carry_their_unit() {
        let recorder = recorder(10);
        let mut baselines = Baselines::default();
        let name = catalog::SPAN_DURATION_SECONDS.name();
        metrics::with_local_recorder(&recorder, || metrics::histogram!(name).record(0.5));
        let (snapshot, _) =
            recorder.collect(&mut baselines, SystemTime::now(), Duration::from_secs(1));
        assert_eq!(snapshot.series()[0].unit(), Some(Unit::Seconds));
    }
}
