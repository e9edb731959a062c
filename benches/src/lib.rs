//! Benchmarks of autotel against its peers; see `benches/`. What several
//! benches share lives here.

use std::time::Instant;

use autotel_layers::span_metrics::DEFAULT_DURATION_BUCKETS;
use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use metrics::Recorder;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use tracing::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

/// The registry and a level filter at `INFO`, under every variant of the
/// middleware benches.
pub fn dispatch() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(LevelFilter::INFO))
}

/// The metrics-exporter-prometheus recorder, with buckets for the duration
/// histograms as autotel's Prometheus exporter sets them.
pub fn prometheus_recorder() -> PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DEFAULT_DURATION_BUCKETS)
        .expect("the default duration buckets are valid")
        .build_recorder()
}

/// Benchmarks `routine` under `dispatch` and `recorder`, both scoped to this
/// thread. `after_batch` runs after each timed batch of iterations and its
/// time counts, so that work a recorder defers (folding histogram samples)
/// is paid for by the calls that caused it.
pub fn bench_scoped(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    dispatch: &Dispatch,
    recorder: &dyn Recorder,
    after_batch: &dyn Fn(),
    mut routine: impl FnMut(),
) {
    tracing::dispatcher::with_default(dispatch, || {
        metrics::with_local_recorder(recorder, || {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    for _ in 0..iters {
                        routine();
                    }
                    after_batch();
                    start.elapsed()
                });
            });
        });
    });
}

/// Nothing to do after a batch.
pub fn nothing() {}
