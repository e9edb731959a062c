//! Recording and rendering costs of the exporters against their peers.
//!
//! - `counter_3_labels` / `histogram_3_labels`: one `counter!` / `histogram!`
//!   call with three labels through no recorder (the floor), through our
//!   Prometheus recorder, through metrics-exporter-prometheus alone, through
//!   our recorder onto the OpenTelemetry SDK, and straight into an
//!   OpenTelemetry SDK instrument.
//!   Also through the push recorder that StatsD and DogStatsD read
//!   (`autotel_push`), through Prometheus and the push recorder together
//!   (`autotel_fanout_prometheus_push`, every exporter of the push recorder
//!   on), through metrics-exporter-dogstatsd, and through cadence used
//!   directly (a `StatsdClient` over a queuing, buffered UDP sink, as
//!   cadence's documentation recommends for production).
//! - `render_1k_counters_1k_histograms`: one scrape, ours vs the upstream handle.
//! - `flush_10k_series`: one interval of the push recorder, 10k counters
//!   each incremented once, read and sent as DogStatsD datagrams; the
//!   Prometheus render of the same series beside it.

use std::hint::black_box;

use std::net::UdpSocket;
use std::time::Duration;

use autotel_exporters::fanout::Fanout;
use autotel_exporters::prometheus::Prometheus;
use autotel_exporters::push::{Push, PushGuard, PushRecorder};
use autotel_exporters::statsd::StatsD;
use cadence::prelude::*;
use cadence::{BufferedUdpMetricSink, QueuingMetricSink, StatsdClient};
use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
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

/// A UDP socket that takes the datagrams and is never read: the kernel
/// drops what does not fit, as an agent that is slow would.
fn agent() -> (UdpSocket, u16) {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
    let port = socket.local_addr().expect("its address").port();
    (socket, port)
}

/// The push recorder with DogStatsD and plain StatsD on, and an interval
/// long enough that no read happens during a measurement.
fn push(port: u16) -> (PushRecorder, PushGuard) {
    Push::new()
        .with_interval(Duration::from_secs(3600))
        .expect("interval")
        .with_exporter(
            StatsD::dogstatsd()
                .with_host("127.0.0.1", port)
                .build()
                .expect("socket"),
        )
        .with_exporter(
            StatsD::new()
                .with_host("127.0.0.1", port)
                .build()
                .expect("socket"),
        )
        .build()
        .expect("threads")
}

fn metrics_exporter_dogstatsd(port: u16) -> metrics_exporter_dogstatsd::DogStatsDRecorder {
    metrics_exporter_dogstatsd::DogStatsDBuilder::default()
        .with_remote_address(format!("127.0.0.1:{port}"))
        .expect("address")
        .send_histograms_as_distributions(true)
        .build()
        .expect("recorder")
}

fn cadence_client(port: u16) -> StatsdClient {
    let socket = UdpSocket::bind("127.0.0.1:0").expect("a loopback socket");
    socket.set_nonblocking(true).expect("non-blocking");
    let buffered =
        BufferedUdpMetricSink::with_capacity(("127.0.0.1", port), socket, 1432).expect("sink");
    StatsdClient::from_sink("", QueuingMetricSink::from(buffered))
}

/// The push recorder and Prometheus together, as the presets compose them.
fn fanout(port: u16) -> (autotel_exporters::fanout::FanoutRecorder, PushGuard) {
    let prometheus = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("recorder");
    let (push, guard) = push(port);
    let fanout = Fanout::new()
        .with_recorder(prometheus)
        .with_recorder(push)
        .build();
    (fanout, guard)
}

/// The rows of the exporters that push, and of their peers: `record`
/// through the push recorder (StatsD and DogStatsD on), through Prometheus
/// and the push recorder together, through metrics-exporter-dogstatsd, and
/// `send` through cadence used directly.
fn statsd_rows(
    group: &mut BenchmarkGroup<'_, WallTime>,
    record: impl Fn() + Copy,
    send: impl Fn(&StatsdClient),
) {
    let (_agent, port) = agent();
    let (push, push_guard) = push(port);
    group.bench_function("autotel_push", |b| {
        metrics::with_local_recorder(&push, || b.iter(record));
    });
    // Empties the histogram buffers, which the budget bounds anyway.
    push_guard.flush(Duration::from_secs(60));
    let (both, both_guard) = fanout(port);
    group.bench_function("autotel_fanout_prometheus_push", |b| {
        metrics::with_local_recorder(&both, || b.iter(record));
    });
    both_guard.flush(Duration::from_secs(60));
    let dogstatsd = metrics_exporter_dogstatsd(port);
    group.bench_function("metrics_exporter_dogstatsd", |b| {
        metrics::with_local_recorder(&dogstatsd, || b.iter(record));
    });
    let client = cadence_client(port);
    group.bench_function("cadence", |b| b.iter(|| send(&client)));
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
    statsd_rows(&mut group, record, |client| {
        client
            .count_with_tags("requests_total", 1)
            .with_tag("method", "GET")
            .with_tag("route", "/orders")
            .with_tag("status", "200")
            .send();
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
    statsd_rows(&mut group, record, |client| {
        client
            .distribution_with_tags("request_duration_seconds", black_box(0.042))
            .with_tag("method", "GET")
            .with_tag("route", "/orders")
            .with_tag("status", "200")
            .send();
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

fn flush(c: &mut Criterion) {
    let mut group = c.benchmark_group("flush_10k_series");
    group.sample_size(20);
    let (_agent, port) = agent();
    let (push, guard) = Push::new()
        .with_interval(Duration::from_secs(3600))
        .expect("interval")
        .with_exporter(
            StatsD::dogstatsd()
                .with_host("127.0.0.1", port)
                .build()
                .expect("socket"),
        )
        .build()
        .expect("threads");
    let series: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
    let increment_all = |recorder: &dyn Recorder| {
        metrics::with_local_recorder(recorder, || {
            for job in &series {
                metrics::counter!("jobs_total", "job" => job.clone(), "queue" => "default", "status" => "ok")
                    .increment(1);
            }
        });
    };
    group.bench_function("autotel_push_dogstatsd", |b| {
        b.iter_batched(
            || increment_all(&push),
            |()| assert!(guard.flush(Duration::from_secs(60))),
            BatchSize::PerIteration,
        );
    });
    let prometheus = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("recorder");
    increment_all(&prometheus);
    let handle = prometheus.handle();
    group.bench_function("autotel_prometheus_render", |b| {
        b.iter(|| black_box(handle.render()));
    });
    group.finish();
}

criterion_group!(benches, counter, histogram, render, flush);
criterion_main!(benches);
