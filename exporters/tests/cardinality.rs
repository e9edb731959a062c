//! A million distinct label values, pipeline names and step names through
//! `SpanMetricsLayer` into the Prometheus recorder: memory stays flat once
//! each metric holds its cap of series, everything beyond goes to the
//! overflow series, and the overflow is counted. Heap counts, not timings.
#![cfg(feature = "prometheus")]

use autotel_exporters::prometheus::{Prometheus, PrometheusHandle};
use autotel_layers::SpanMetricsLayer;
use autotel_layers::alloc::{self, CountingAllocator};
use autotel_layers::span_metrics::{DEFAULT_MAX_SERIES, OVERFLOW_LABEL};
use tracing::info_span;
use tracing_subscriber::prelude::*;

#[global_allocator]
static GLOBAL: CountingAllocator = CountingAllocator::system();

/// Distinct values of each kind.
const DISTINCT: usize = 1_000_000;

/// After this many values every cache is full: later ones must not grow the heap.
const WARM: usize = 20_000;

/// How often the recorder folds histogram samples, as the endpoint does
/// every few seconds.
const UPKEEP_EVERY: usize = 10_000;

/// Heap growth tolerated between `WARM` and the end: well under one byte per
/// value, so any per-value retention fails.
const MAX_GROWTH: u64 = 256 * 1024;

fn live_bytes() -> u64 {
    alloc::process_stats()
        .expect("the counting allocator is installed")
        .live_bytes()
}

/// The sum of the samples of `metric` whose line holds every one of `parts`.
fn sum(scrape: &str, metric: &str, parts: &[&str]) -> f64 {
    scrape
        .lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .filter(|line| parts.iter().all(|part| line.contains(part)))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Runs `DISTINCT` iterations of `work` with span metrics into the
/// Prometheus recorder; the heap growth after warm-up and the scrape.
fn run(layer: SpanMetricsLayer, work: impl Fn(usize)) -> (u64, String) {
    let recorder = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("the recorder builds");
    let handle: PrometheusHandle = recorder.handle();
    let subscriber = tracing_subscriber::registry().with(layer);
    let mut warm = 0;
    tracing::subscriber::with_default(subscriber, || {
        metrics::with_local_recorder(&recorder, || {
            for i in 0..DISTINCT {
                if i % UPKEEP_EVERY == 0 {
                    handle.run_upkeep();
                }
                if i == WARM {
                    warm = live_bytes();
                }
                work(i);
            }
            handle.run_upkeep();
        });
    });
    let growth = live_bytes().saturating_sub(warm);
    (growth, handle.render())
}

#[test]
fn a_million_label_values_and_names_keep_memory_flat() {
    let overflow = format!("{OVERFLOW_LABEL}=\"true\"");
    let beyond_cap = (DISTINCT - DEFAULT_MAX_SERIES) as f64;

    // Label values: a dimension with a new value on every span.
    let layer = SpanMetricsLayer::new()
        .with_dimension("user_id")
        .expect("a valid dimension");
    let (growth, scrape) = run(layer, |i| {
        let _span = info_span!("lookup", user_id = i).entered();
    });
    assert!(
        growth < MAX_GROWTH,
        "the heap grew by {growth} bytes over {} distinct label values",
        DISTINCT - WARM
    );
    assert_eq!(
        sum(&scrape, "span_calls_total", &[]),
        DISTINCT as f64,
        "nothing lost"
    );
    assert_eq!(
        sum(&scrape, "span_calls_total", &[r#"span_name="lookup""#]),
        DEFAULT_MAX_SERIES as f64,
        "one series per value up to the cap"
    );
    assert_eq!(
        sum(&scrape, "span_calls_total", &[&overflow]),
        beyond_cap,
        "values beyond the cap go to the overflow series"
    );
    assert_eq!(
        sum(
            &scrape,
            "autotel_series_overflow_total",
            &[r#"metric="span_calls_total""#]
        ),
        beyond_cap,
        "the overflow is counted"
    );
    let series = scrape
        .lines()
        .filter(|l| l.starts_with("span_calls_total{"))
        .count();
    assert!(
        series <= DEFAULT_MAX_SERIES + 1,
        "{series} series of span_calls_total"
    );

    // Names: a new pipeline name and step name on every run.
    let (growth, scrape) = run(SpanMetricsLayer::new(), |i| {
        let pipeline = format!("import-{i}");
        let step = format!("step-{i}");
        let run = info_span!("run", pipeline.name = pipeline.as_str());
        run.in_scope(|| {
            let _step = info_span!("step", step.name = step.as_str()).entered();
        });
    });
    assert!(
        growth < MAX_GROWTH,
        "the heap grew by {growth} bytes over {} distinct pipeline and step names",
        DISTINCT - WARM
    );
    assert_eq!(
        sum(&scrape, "pipeline_executions_total", &[]),
        DISTINCT as f64,
        "nothing lost"
    );
    assert_eq!(
        sum(&scrape, "pipeline_executions_total", &[&overflow]),
        beyond_cap
    );
    // Each run past the cap counted once per metric it reaches.
    for metric in [
        "pipeline_executions_total",
        "pipeline_duration_seconds",
        "active_pipelines",
        "step_duration_seconds",
    ] {
        assert_eq!(
            sum(
                &scrape,
                "autotel_series_overflow_total",
                &[&format!("metric=\"{metric}\"")]
            ),
            beyond_cap,
            "{metric}"
        );
    }
    assert!(
        scrape.len() < 8 * 1024 * 1024,
        "a scrape of {} bytes",
        scrape.len()
    );
}
