//! Recording and rendering costs of the exporters against their peers.
//!
//! - `counter_3_labels` / `histogram_3_labels`: one `counter!` / `histogram!`
//!   call with three labels through no recorder (the floor), through our
//!   Prometheus recorder, through metrics-exporter-prometheus alone, through
//!   our recorder onto the OpenTelemetry SDK, and straight into an
//!   OpenTelemetry SDK instrument.
//! - `render_1k_counters_1k_histograms`: one scrape, ours vs the upstream handle.

use std::hint::black_box;

use autotel_exporters::prometheus::Prometheus;
use criterion::{Criterion, criterion_group, criterion_main};
use metrics::Recorder;
use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};

/// An exporter that drops what it is given, so that the SDK aggregates as it
/// would in production and nothing leaves the process.
struct Discard;

impl PushMetricExporter for Discard {
    async fn export(&self, _: &ResourceMetrics) -> OTelSdkResult {
        Ok(())
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _: std::time::Duration) -> OTelSdkResult {
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }
}

fn otel_provider() -> SdkMeterProvider {
    SdkMeterProvider::builder()
        .with_reader(
            PeriodicReader::builder(Discard)
                .with_interval(std::time::Duration::from_secs(3600))
                .build(),
        )
        .build()
}

fn counter(c: &mut Criterion) {
    let mut group = c.benchmark_group("counter_3_labels");
    let record = || {
        metrics::counter!("requests_total", "method" => "GET", "route" => "/orders", "status" => "200")
            .increment(1);
    };
    group.bench_function("no_recorder", |b| b.iter(record));
    let ours = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("recorder");
    group.bench_function("autotel_prometheus", |b| {
        metrics::with_local_recorder(&ours, || b.iter(record));
    });
    let upstream = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    group.bench_function("metrics_exporter_prometheus", |b| {
        metrics::with_local_recorder(&upstream, || b.iter(record));
    });
    let provider = otel_provider();
    let otel = autotel_exporters::otlp::OtelRecorder::new(provider.meter("bench"));
    group.bench_function("autotel_otel_recorder", |b| {
        metrics::with_local_recorder(&otel, || b.iter(record));
    });
    let instrument = provider
        .meter("bench")
        .u64_counter("requests_total")
        .build();
    let attributes = [
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/orders"),
        KeyValue::new("status", "200"),
    ];
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| instrument.add(1, black_box(&attributes)));
    });
    group.finish();
}

fn histogram(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram_3_labels");
    let record = || {
        metrics::histogram!("request_duration_seconds", "method" => "GET", "route" => "/orders", "status" => "200")
            .record(black_box(0.042));
    };
    group.bench_function("no_recorder", |b| b.iter(record));
    let ours = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("recorder");
    let handle = ours.handle();
    group.bench_function("autotel_prometheus", |b| {
        metrics::with_local_recorder(&ours, || b.iter(record));
    });
    handle.run_upkeep();
    let upstream = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(autotel_exporters::buckets::SECONDS)
        .expect("buckets")
        .build_recorder();
    let upstream_handle = upstream.handle();
    group.bench_function("metrics_exporter_prometheus", |b| {
        metrics::with_local_recorder(&upstream, || b.iter(record));
    });
    upstream_handle.run_upkeep();
    let provider = otel_provider();
    let otel = autotel_exporters::otlp::OtelRecorder::new(provider.meter("bench"));
    group.bench_function("autotel_otel_recorder", |b| {
        metrics::with_local_recorder(&otel, || b.iter(record));
    });
    let instrument = provider
        .meter("bench")
        .f64_histogram("request_duration_seconds")
        .with_boundaries(autotel_exporters::buckets::SECONDS.to_vec())
        .build();
    let attributes = [
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/orders"),
        KeyValue::new("status", "200"),
    ];
    group.bench_function("opentelemetry_sdk", |b| {
        b.iter(|| instrument.record(black_box(0.042), black_box(&attributes)));
    });
    group.finish();
}

fn fill(recorder: &dyn Recorder) {
    metrics::with_local_recorder(recorder, || {
        for i in 0..1000 {
            let series = i.to_string();
            metrics::counter!("jobs_total", "job" => series.clone()).increment(i);
            metrics::histogram!("job_duration_seconds", "job" => series).record(i as f64 / 100.0);
        }
    });
}

fn render(c: &mut Criterion) {
    let mut group = c.benchmark_group("render_1k_counters_1k_histograms");
    group.sample_size(20);
    let ours = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("recorder");
    fill(&ours);
    let handle = ours.handle();
    group.bench_function("autotel_prometheus", |b| {
        b.iter(|| black_box(handle.render()))
    });
    let upstream = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(autotel_exporters::buckets::SECONDS)
        .expect("buckets")
        .build_recorder();
    fill(&upstream);
    let upstream_handle = upstream.handle();
    group.bench_function("metrics_exporter_prometheus", |b| {
        b.iter(|| black_box(upstream_handle.render()));
    });
    group.finish();
}

criterion_group!(benches, counter, histogram, render);
criterion_main!(benches);
