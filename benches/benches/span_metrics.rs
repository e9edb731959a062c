//! What span metrics cost per span, against the floor and the named peers, in
//! one run.
//!
//! Every variant runs the same span lifecycle (new, enter, exit, close, one
//! field) under a scoped dispatcher and a local `metrics` recorder, so the
//! ratios come from one run on one machine:
//!
//! - `floor`: `Registry` + `LevelFilter` only;
//! - `span_metrics_noop`: plus [`SpanMetricsLayer`], into the no-op recorder;
//! - `span_metrics_prometheus`: plus [`SpanMetricsLayer`], into the
//!   metrics-exporter-prometheus recorder (the time of folding the histogram
//!   samples into buckets is included, once per batch);
//! - `tracing_opentelemetry`: plus the `tracing-opentelemetry` layer with an
//!   SDK tracer and no exporter;
//! - `naive_timing_layer`: plus a hand-written timing layer that calls the
//!   `metrics` macros on close, into the no-op recorder.
//!
//! `span_with_dimension` adds a configured dimension (a string field that
//! becomes a label), and `pipeline_run` a pipeline run with one step inside.
//! `span_lifecycle_threads` runs the lifecycle on one thread, then on two
//! threads at once (each as many spans as the one did), under the floor and
//! under the layer: the time per iteration is that of one span per thread,
//! so two threads that do not get in each other's way take as long as one.
//!
//! ```text
//! cargo bench -p autotel-benches --bench span_metrics -- --warm-up-time 2 --measurement-time 5
//! ```

use std::time::{Duration, Instant};

use autotel_layers::SpanMetricsLayer;
use autotel_layers::span_metrics::DEFAULT_DURATION_BUCKETS;
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, criterion_group, criterion_main};
use metrics::{NoopRecorder, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::span::{Attributes, Id};
use tracing::{Dispatch, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// One span lifecycle with one field: new, enter, exit, close.
fn one_span() {
    let span = tracing::info_span!("work", field = 1u64);
    let _entered = span.enter();
}

/// One span lifecycle with a field that a dimension turns into a label.
fn one_span_with_tenant() {
    let span = tracing::info_span!("work", tenant = "acme");
    let _entered = span.enter();
}

/// A pipeline run with one step inside it that processed items: two spans.
fn one_pipeline_run() {
    let run = tracing::info_span!("run", pipeline.name = "ingest");
    let _run = run.enter();
    let step = tracing::info_span!("step", step.name = "load", items_processed = 10u64);
    let _step = step.enter();
}

/// The floor: the registry and a level filter, nothing else.
fn floor() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(LevelFilter::INFO))
}

/// The floor plus `layer`.
fn with_layer<L>(layer: L) -> Dispatch
where
    L: Layer<tracing_subscriber::layer::Layered<LevelFilter, tracing_subscriber::Registry>>
        + Send
        + Sync
        + 'static,
{
    Dispatch::new(
        tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(layer),
    )
}

/// The metrics-exporter-prometheus recorder, with buckets for the duration
/// histograms as autotel's Prometheus exporter sets them.
fn prometheus_recorder() -> PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DEFAULT_DURATION_BUCKETS)
        .expect("the default duration buckets are valid")
        .build_recorder()
}

/// Benchmarks `routine` under `dispatch` and `recorder`, both scoped to this
/// thread. `after_batch` runs after each timed batch of iterations and its
/// time counts, so that work a recorder defers (folding histogram samples)
/// is paid for by the spans that caused it.
fn bench_scoped(
    group: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    dispatch: &Dispatch,
    recorder: &dyn Recorder,
    after_batch: &dyn Fn(),
    routine: fn(),
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
fn nothing() {}

/// The span lifecycle through the floor, autotel and its peers.
fn span_lifecycle(c: &mut Criterion) {
    let mut group = c.benchmark_group("span_lifecycle");

    bench_scoped(
        &mut group,
        "floor",
        &floor(),
        &NoopRecorder,
        &nothing,
        one_span,
    );

    bench_scoped(
        &mut group,
        "span_metrics_noop",
        &with_layer(SpanMetricsLayer::new()),
        &NoopRecorder,
        &nothing,
        one_span,
    );

    let prometheus = prometheus_recorder();
    let handle = prometheus.handle();
    let dispatch = with_layer(SpanMetricsLayer::new());
    // The variant measures something only if spans reach the recorder.
    tracing::dispatcher::with_default(&dispatch, || {
        metrics::with_local_recorder(&prometheus, one_span);
    });
    let exposition = handle.render();
    assert!(
        exposition.contains(r#"span_calls_total{span_name="work",status="ok"} 1"#),
        "the layer recorded nothing into the Prometheus recorder:\n{exposition}"
    );
    bench_scoped(
        &mut group,
        "span_metrics_prometheus",
        &dispatch,
        &prometheus,
        &|| handle.run_upkeep(),
        one_span,
    );

    let provider = SdkTracerProvider::builder().build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("bench"));
    bench_scoped(
        &mut group,
        "tracing_opentelemetry",
        &with_layer(otel),
        &NoopRecorder,
        &nothing,
        one_span,
    );
    drop(provider);

    bench_scoped(
        &mut group,
        "naive_timing_layer",
        &with_layer(NaiveTimingLayer),
        &NoopRecorder,
        &nothing,
        one_span,
    );

    group.finish();
}

/// A span whose field is a configured dimension, against the same span on the
/// floor.
fn span_with_dimension(c: &mut Criterion) {
    let mut group = c.benchmark_group("span_with_dimension");
    bench_scoped(
        &mut group,
        "floor",
        &floor(),
        &NoopRecorder,
        &nothing,
        one_span_with_tenant,
    );
    let layer = SpanMetricsLayer::new()
        .with_dimension("tenant")
        .expect("tenant is a valid dimension");
    bench_scoped(
        &mut group,
        "span_metrics_noop",
        &with_layer(layer),
        &NoopRecorder,
        &nothing,
        one_span_with_tenant,
    );
    group.finish();
}

/// A pipeline run with one step (two spans), against the same spans on the
/// floor.
fn pipeline_run(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline_run");
    bench_scoped(
        &mut group,
        "floor",
        &floor(),
        &NoopRecorder,
        &nothing,
        one_pipeline_run,
    );
    bench_scoped(
        &mut group,
        "span_metrics_noop",
        &with_layer(SpanMetricsLayer::new()),
        &NoopRecorder,
        &nothing,
        one_pipeline_run,
    );
    group.finish();
}

/// Runs `iters` span lifecycles on each of `threads` threads at once, each
/// under `dispatch` and the no-op recorder; the time until all are done.
fn spans_on_threads(dispatch: &Dispatch, threads: usize, iters: u64) -> Duration {
    let start = std::sync::Barrier::new(threads + 1);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                tracing::dispatcher::with_default(dispatch, || {
                    metrics::with_local_recorder(&NoopRecorder, || {
                        // Warm this thread's caches before the clock starts.
                        one_span();
                        start.wait();
                        for _ in 0..iters {
                            one_span();
                        }
                    });
                });
            });
        }
        start.wait();
        let began = Instant::now();
        // The scope joins every thread before it returns.
        (began, ())
    })
    .0
    .elapsed()
}

/// One thread against two at once, on the floor and with the layer.
fn span_lifecycle_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("span_lifecycle_threads");
    for (name, dispatch) in [
        ("floor", floor()),
        ("span_metrics_noop", with_layer(SpanMetricsLayer::new())),
    ] {
        for threads in [1, 2] {
            group.bench_function(format!("{name}/{threads} thread(s)"), |b| {
                b.iter_custom(|iters| spans_on_threads(&dispatch, threads, iters));
            });
        }
    }
    group.finish();
}

/// The timing layer people write by hand: the start time in the span's
/// extensions, and the `metrics` macros (which build and hash a key on every
/// call) when the span closes.
#[derive(Debug, Clone, Copy)]
struct NaiveTimingLayer;

/// When a span started, kept in its extensions.
struct Started(Instant);

impl<S> Layer<S> for NaiveTimingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(Started(start)) = span.extensions_mut().remove::<Started>() else {
            return;
        };
        let name = span.name();
        let seconds = start.elapsed().as_secs_f64();
        metrics::counter!("span_calls_total", "span_name" => name).increment(1);
        metrics::histogram!("span_duration_seconds", "span_name" => name).record(seconds);
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = span_lifecycle, span_with_dimension, pipeline_run, span_lifecycle_threads
}
criterion_main!(benches);
