//! A `metrics` recorder onto the OpenTelemetry metrics SDK.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use autotel_layers::catalog;
use autotel_layers::redact::{REDACTED, Redaction};
use metrics::{
    Counter, CounterFn, Gauge, GaugeFn, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use opentelemetry::KeyValue;
use opentelemetry::metrics::Meter;

use super::exemplars::OtlpExemplars;
use crate::exemplar_reservoir::Reservoir;
use crate::{buckets, is_fractional_counter};

/// A `metrics` recorder that records into OpenTelemetry instruments, so that
/// every `metrics` facade metric leaves by OTLP.
///
/// Counters become integer sums, gauges gauges, histograms explicit-bucket
/// histograms with the boundaries of [`buckets::for_metric`], and fractional
/// counters (gauges holding a running total, such as
/// `pipeline_cost_usd_total`) floating-point sums. Metric names are the
/// OpenTelemetry semantic-convention names where one exists
/// (`http_server_request_duration_seconds` leaves as
/// `http.server.request.duration`), the Prometheus names otherwise.
///
/// Get one from [`OtlpGuard::metrics_recorder`](super::OtlpGuard::metrics_recorder),
/// or make one for your own meter with [`OtelRecorder::new`].
#[derive(Debug, Clone)]
pub struct OtelRecorder {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    meter: Meter,
    descriptions: RwLock<HashMap<String, (Option<Unit>, SharedString)>>,
    counters: Mutex<HashMap<Key, Arc<OtelCounter>>>,
    gauges: Mutex<HashMap<Key, Arc<OtelGauge>>>,
    fractional: Mutex<HashMap<Key, Arc<OtelFractional>>>,
    histograms: Mutex<HashMap<Key, Arc<OtelHistogram>>>,
    redaction: Redaction,
    /// Where the pipeline's histograms keep their exemplars; `None` for a
    /// meter of the program's own, whose export autotel does not see.
    exemplars: Option<Arc<OtlpExemplars>>,
}

/// OpenTelemetry semantic-convention names of catalog metrics that have one.
const OTEL_NAMES: &[(&str, &str)] = &[
    (
        "http_server_request_duration_seconds",
        "http.server.request.duration",
    ),
    ("http_server_active_requests", "http.server.active_requests"),
    ("rpc_server_duration_seconds", "rpc.server.duration"),
    ("rpc_client_duration_seconds", "rpc.client.duration"),
    ("process_cpu_seconds_total", "process.cpu.time"),
    ("process_resident_memory_bytes", "process.memory.usage"),
    ("process_virtual_memory_bytes", "process.memory.virtual"),
    ("process_threads", "process.thread.count"),
    ("process_open_fds", "process.unix.file_descriptor.count"),
];

/// The name a metric leaves by OTLP with.
pub(crate) fn otel_name(name: &str) -> String {
    OTEL_NAMES
        .iter()
        .find(|(prometheus, _)| *prometheus == name)
        .map_or_else(|| name.to_owned(), |(_, otel)| (*otel).to_owned())
}

/// The UCUM unit OpenTelemetry uses for a `metrics` unit.
fn ucum(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "1",
        Unit::Percent => "%",
        Unit::Seconds => "s",
        Unit::Milliseconds => "ms",
        Unit::Microseconds => "us",
        Unit::Nanoseconds => "ns",
        Unit::Tebibytes => "TiBy",
        Unit::Gibibytes => "GiBy",
        Unit::Mebibytes => "MiBy",
        Unit::Kibibytes => "KiBy",
        Unit::Bytes => "By",
        Unit::TerabitsPerSecond => "Tbit/s",
        Unit::GigabitsPerSecond => "Gbit/s",
        Unit::MegabitsPerSecond => "Mbit/s",
        Unit::KilobitsPerSecond => "kbit/s",
        Unit::BitsPerSecond => "bit/s",
        Unit::CountPerSecond => "1/s",
    }
}

/// The labels of `key` as attributes, with the values of secret-looking
/// label names replaced by `"[REDACTED]"`.
fn attributes(key: &Key, redaction: &Redaction) -> Vec<KeyValue> {
    key.labels()
        .map(|label| {
            let value = if redaction.matches(label.key()) {
                REDACTED.to_owned()
            } else {
                label.value().to_owned()
            };
            KeyValue::new(label.key().to_owned(), value)
        })
        .collect()
}

fn cached<T>(map: &Mutex<HashMap<Key, Arc<T>>>, key: &Key, make: impl FnOnce() -> T) -> Arc<T> {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    map.entry(key.clone())
        .or_insert_with(|| Arc::new(make()))
        .clone()
}

impl OtelRecorder {
    /// A recorder that creates its instruments with `meter`, for programs
    /// that run their own `MeterProvider`. Catalog metrics are described
    /// from the start.
    ///
    /// Label values whose names match [`Redaction::default`] (the rule of
    /// the JSON logs and the OTLP span and log attributes) leave as
    /// `"[REDACTED]"`.
    ///
    /// Its histograms keep no exemplars: the OpenTelemetry SDK 0.33 carries
    /// none, and only the OTLP pipeline of [`Otlp`](super::Otlp) adds them
    /// to what it sends.
    pub fn new(meter: Meter) -> Self {
        Self::with_redaction(meter, Redaction::default(), None)
    }

    /// [`OtelRecorder::new`] with another redaction rule, and the exemplar
    /// reservoirs of the pipeline's metrics.
    pub(crate) fn with_redaction(
        meter: Meter,
        redaction: Redaction,
        exemplars: Option<Arc<OtlpExemplars>>,
    ) -> Self {
        let descriptions = catalog::ALL
            .iter()
            .map(|def| {
                (
                    def.name().to_owned(),
                    (def.unit(), SharedString::const_str(def.description())),
                )
            })
            .collect();
        Self {
            inner: Arc::new(Inner {
                meter,
                descriptions: RwLock::new(descriptions),
                counters: Mutex::default(),
                gauges: Mutex::default(),
                fractional: Mutex::default(),
                histograms: Mutex::default(),
                redaction,
                exemplars,
            }),
        }
    }

    fn describe(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        let mut map = self
            .inner
            .descriptions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.insert(key.as_str().to_owned(), (unit, description));
    }

    /// Unit and description of `name`, as OpenTelemetry strings.
    fn description(&self, name: &str) -> (Option<&'static str>, Option<String>) {
        let map = self
            .inner
            .descriptions
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        match map.get(name) {
            Some((unit, description)) => (unit.map(ucum), Some(description.to_string())),
            None => (None, None),
        }
    }
}

macro_rules! instrument {
    ($self:ident, $builder:expr, $name:expr) => {{
        let (unit, description) = $self.description($name);
        let mut builder = $builder;
        if let Some(unit) = unit {
            builder = builder.with_unit(unit);
        }
        if let Some(description) = description {
            builder = builder.with_description(description);
        }
        builder
    }};
}

impl Recorder for OtelRecorder {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.describe(key, unit, description);
    }

    fn register_counter(&self, key: &Key, _metadata: &Metadata<'_>) -> Counter {
        let handle = cached(&self.inner.counters, key, || {
            let name = key.name();
            let counter =
                instrument!(self, self.inner.meter.u64_counter(otel_name(name)), name).build();
            OtelCounter {
                counter,
                attributes: attributes(key, &self.inner.redaction),
                total: AtomicU64::new(0),
            }
        });
        Counter::from_arc(handle)
    }

    fn register_gauge(&self, key: &Key, _metadata: &Metadata<'_>) -> Gauge {
        let name = key.name();
        if is_fractional_counter(name) {
            let handle = cached(&self.inner.fractional, key, || {
                let counter =
                    instrument!(self, self.inner.meter.f64_counter(otel_name(name)), name).build();
                OtelFractional {
                    counter,
                    attributes: attributes(key, &self.inner.redaction),
                    total: AtomicU64::new(0f64.to_bits()),
                }
            });
            return Gauge::from_arc(handle);
        }
        let handle = cached(&self.inner.gauges, key, || {
            let gauge =
                instrument!(self, self.inner.meter.f64_gauge(otel_name(name)), name).build();
            OtelGauge {
                gauge,
                attributes: attributes(key, &self.inner.redaction),
                value: AtomicU64::new(0f64.to_bits()),
            }
        });
        Gauge::from_arc(handle)
    }

    fn register_histogram(&self, key: &Key, _metadata: &Metadata<'_>) -> Histogram {
        let handle = cached(&self.inner.histograms, key, || {
            let name = key.name();
            let bounds = buckets::for_metric(name);
            let histogram = instrument!(
                self,
                self.inner
                    .meter
                    .f64_histogram(otel_name(name))
                    .with_boundaries(bounds.to_vec()),
                name
            )
            .build();
            let attributes = attributes(key, &self.inner.redaction);
            let reservoir = self
                .inner
                .exemplars
                .as_ref()
                .map(|exemplars| exemplars.reservoir(otel_name(name), &attributes, bounds));
            OtelHistogram {
                histogram,
                attributes,
                reservoir,
            }
        });
        Histogram::from_arc(handle)
    }
}

#[derive(Debug)]
struct OtelCounter {
    counter: opentelemetry::metrics::Counter<u64>,
    attributes: Vec<KeyValue>,
    total: AtomicU64,
}

impl CounterFn for OtelCounter {
    fn increment(&self, value: u64) {
        self.total.fetch_add(value, Ordering::Relaxed);
        self.counter.add(value, &self.attributes);
    }

    fn absolute(&self, value: u64) {
        let previous = self.total.fetch_max(value, Ordering::Relaxed);
        if value > previous {
            self.counter.add(value - previous, &self.attributes);
        }
    }
}

/// Applies `update` to the `f64` stored in `cell`, returning (old, new).
fn update_f64(cell: &AtomicU64, update: impl Fn(f64) -> f64) -> (f64, f64) {
    let mut current = cell.load(Ordering::Relaxed);
    loop {
        let old = f64::from_bits(current);
        let new = update(old);
        match cell.compare_exchange_weak(
            current,
            new.to_bits(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        ) {
            Ok(_) => return (old, new),
            Err(actual) => current = actual,
        }
    }
}

#[derive(Debug)]
struct OtelGauge {
    gauge: opentelemetry::metrics::Gauge<f64>,
    attributes: Vec<KeyValue>,
    value: AtomicU64,
}

impl GaugeFn for OtelGauge {
    fn increment(&self, value: f64) {
        let (_, new) = update_f64(&self.value, |v| v + value);
        self.gauge.record(new, &self.attributes);
    }

    fn decrement(&self, value: f64) {
        let (_, new) = update_f64(&self.value, |v| v - value);
        self.gauge.record(new, &self.attributes);
    }

    fn set(&self, value: f64) {
        self.value.store(value.to_bits(), Ordering::Relaxed);
        self.gauge.record(value, &self.attributes);
    }
}

/// A gauge holding the running total of a fractional counter, exported as a
/// floating-point counter: each new total adds its increase.
#[derive(Debug)]
struct OtelFractional {
    counter: opentelemetry::metrics::Counter<f64>,
    attributes: Vec<KeyValue>,
    total: AtomicU64,
}

impl OtelFractional {
    fn add(&self, delta: f64) {
        if delta > 0.0 && delta.is_finite() {
            self.counter.add(delta, &self.attributes);
        }
    }
}

impl GaugeFn for OtelFractional {
    fn increment(&self, value: f64) {
        update_f64(&self.total, |v| v + value);
        self.add(value);
    }

    fn decrement(&self, _value: f64) {
        // A counter never goes down.
    }

    fn set(&self, value: f64) {
        let (old, new) = update_f64(&self.total, |v| v.max(value));
        self.add(new - old);
    }
}

#[derive(Debug)]
struct OtelHistogram {
    histogram: opentelemetry::metrics::Histogram<f64>,
    attributes: Vec<KeyValue>,
    reservoir: Option<Arc<Reservoir>>,
}

impl HistogramFn for OtelHistogram {
    fn record(&self, value: f64) {
        self.histogram.record(value, &self.attributes);
        if let Some(reservoir) = &self.reservoir
            && let Some(exemplar) = autotel_layers::exemplar::current()
        {
            reservoir.offer(value, exemplar);
        }
    }
}

#[cfg(test)]
mod tests;
