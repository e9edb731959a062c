//! Per-span resources: CPU percent of pipeline runs, the figures kept in span
//! extensions, and the scope setting.
#![cfg(target_os = "linux")]

mod system_support;

use std::time::Duration;

use autotel_layers::cpu_clock::ThreadCpuClock;
use autotel_layers::{ResourceScope, SpanResources, SpanResourcesLayer, catalog};
use system_support::{Metrics, burn_cpu, cpu_time};
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

fn run_pipeline(layer: SpanResourcesLayer, name: &'static str, step: impl FnOnce()) -> Metrics {
    let metrics = Metrics::new();
    let subscriber = tracing_subscriber::registry().with(layer);
    metrics::with_local_recorder(&metrics, || {
        tracing::subscriber::with_default(subscriber, || {
            let run = tracing::info_span!("run", pipeline.name = name);
            run.in_scope(|| {
                tracing::info_span!("step", step.name = "work").in_scope(step);
            });
        });
    });
    metrics
}

fn cpu_percent(metrics: &Metrics, pipeline: &str) -> f64 {
    metrics
        .value(
            catalog::PIPELINE_CPU_PERCENT.name(),
            &[("pipeline_name", pipeline)],
        )
        .unwrap()
}

/// Both ways of reading a thread's CPU time: the fast clock where the
/// kernel allows it, and the system call it falls back to.
const CLOCKS: [ThreadCpuClock; 2] = [ThreadCpuClock::Auto, ThreadCpuClock::SystemCall];

#[test]
fn a_busy_pipeline_runs_near_100_percent() {
    for clock in CLOCKS {
        // On a machine shared with other work, a busy thread gets less than
        // a whole core; the test measures what it got and compares.
        let wall = std::time::Instant::now();
        let cpu = cpu_time::thread_nanos();
        let layer = SpanResourcesLayer::new().with_cpu_clock(clock);
        let metrics = run_pipeline(layer, "busy", || {
            burn_cpu(Duration::from_millis(300));
        });
        let got =
            (cpu_time::thread_nanos() - cpu) as f64 / wall.elapsed().as_nanos() as f64 * 100.0;
        let percent = cpu_percent(&metrics, "busy");
        assert!(percent <= 105.0, "{clock:?}: {percent}");
        assert!(
            percent > 50.0 || (percent - got).abs() < 15.0,
            "{clock:?}: the layer says {percent}%, the thread got {got}%"
        );
    }
}

#[test]
fn a_sleeping_pipeline_runs_near_0_percent() {
    for clock in CLOCKS {
        let layer = SpanResourcesLayer::new().with_cpu_clock(clock);
        let metrics = run_pipeline(layer, "sleepy", || {
            std::thread::sleep(Duration::from_millis(200));
        });
        let percent = cpu_percent(&metrics, "sleepy");
        assert!(percent < 20.0, "{clock:?}: {percent}");
    }
}

#[test]
fn without_the_counting_allocator_there_is_no_memory_figure() {
    let metrics = run_pipeline(SpanResourcesLayer::new(), "plain", || {
        drop(std::hint::black_box(vec![0u8; 1 << 20]));
    });
    assert!(
        metrics
            .value(
                catalog::PIPELINE_CPU_PERCENT.name(),
                &[("pipeline_name", "plain")]
            )
            .is_some()
    );
    assert!(
        metrics
            .names()
            .iter()
            .all(|n| n != catalog::PIPELINE_MEMORY_BYTES.name())
    );
}

#[test]
fn pipeline_names_past_the_cap_go_to_the_overflow_series() {
    let metrics = Metrics::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanResourcesLayer::new().with_max_series(1));
    metrics::with_local_recorder(&metrics, || {
        tracing::subscriber::with_default(subscriber, || {
            for name in ["first", "second", "third"] {
                tracing::info_span!("run", pipeline.name = name).in_scope(|| {});
            }
        });
    });
    let name = catalog::PIPELINE_CPU_PERCENT.name();
    assert!(metrics.value(name, &[("pipeline_name", "first")]).is_some());
    assert!(
        metrics
            .value(name, &[("pipeline_name", "second")])
            .is_none()
    );
    assert!(
        metrics
            .value(name, &[("otel_metric_overflow", "true")])
            .is_some()
    );
    assert_eq!(
        metrics.value(
            catalog::AUTOTEL_SERIES_OVERFLOW_TOTAL.name(),
            &[("metric", name)]
        ),
        Some(2.0)
    );
}

/// Reads the `SpanResources` of every span as it closes.
#[derive(Clone, Default)]
struct Closed(std::sync::Arc<std::sync::Mutex<Vec<(String, Duration)>>>);

impl<S> tracing_subscriber::Layer<S> for Closed
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_close(&self, id: tracing::Id, ctx: tracing_subscriber::layer::Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        if let Some(resources) = span.extensions().get::<SpanResources>() {
            self.0
                .lock()
                .unwrap()
                .push((span.name().to_owned(), resources.cpu_time()));
        }
    }
}

fn measured_spans(scope: ResourceScope) -> Vec<(String, Duration)> {
    let closed = Closed::default();
    let subscriber = tracing_subscriber::registry()
        .with(SpanResourcesLayer::new().with_scope(scope))
        .with(closed.clone());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("plain").in_scope(|| {
            tracing::info_span!("step", step.name = "s").in_scope(|| {
                burn_cpu(Duration::from_millis(30));
            });
        });
    });
    closed.0.lock().unwrap().clone()
}

#[test]
fn the_scope_chooses_the_measured_spans() {
    let default = measured_spans(ResourceScope::PipelinesAndSteps);
    assert_eq!(
        default
            .iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>(),
        ["step"]
    );
    let all = measured_spans(ResourceScope::AllSpans);
    assert_eq!(
        all.iter()
            .map(|(name, _)| name.as_str())
            .collect::<Vec<_>>(),
        ["step", "plain"]
    );
    // The outer span was entered while its child worked: it counts that CPU.
    assert!(
        all[1].1 >= all[0].1 && all[0].1 >= Duration::from_millis(20),
        "{all:?}"
    );
}

#[test]
fn a_span_entered_on_another_thread_is_measured_there() {
    let closed = Closed::default();
    let subscriber = tracing_subscriber::registry()
        .with(SpanResourcesLayer::new())
        .with(closed.clone());
    tracing::subscriber::with_default(subscriber, || {
        let step = tracing::info_span!("step", step.name = "s");
        let plain = tracing::info_span!("plain");
        let dispatch = tracing::dispatcher::get_default(Clone::clone);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                tracing::dispatcher::with_default(&dispatch, || {
                    step.in_scope(|| burn_cpu(Duration::from_millis(20)));
                    plain.in_scope(|| burn_cpu(Duration::from_millis(5)));
                });
            });
        });
    });
    let closed = closed.0.lock().unwrap();
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].0, "step");
    assert!(closed[0].1 >= Duration::from_millis(15), "{closed:?}");
}

#[test]
fn a_span_entered_again_inside_itself_counts_its_time_once() {
    let closed = Closed::default();
    let subscriber = tracing_subscriber::registry()
        .with(SpanResourcesLayer::new())
        .with(closed.clone());
    let mut used = Duration::ZERO;
    tracing::subscriber::with_default(subscriber, || {
        let step = tracing::info_span!("step", step.name = "s");
        let before = ThreadCpuClock::SystemCall.now().unwrap();
        step.in_scope(|| {
            step.in_scope(|| burn_cpu(Duration::from_millis(20)));
        });
        used = ThreadCpuClock::SystemCall.now().unwrap() - before;
    });
    let cpu = closed.0.lock().unwrap()[0].1;
    assert!(cpu >= Duration::from_millis(15), "{cpu:?}");
    assert!(
        cpu <= used,
        "the span counts {cpu:?}, the thread used {used:?}"
    );
}

#[test]
fn layers_of_two_subscribers_keep_their_spans_apart() {
    // Two registries on one thread hand out the same span ids; each layer
    // must still know which of its spans it measures.
    let measured = Closed::default();
    let first = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(SpanResourcesLayer::new())
            .with(measured.clone()),
    );
    let second = tracing::Dispatch::new(
        tracing_subscriber::registry()
            .with(SpanResourcesLayer::new())
            .with(measured.clone()),
    );
    let step =
        tracing::dispatcher::with_default(&first, || tracing::info_span!("step", step.name = "s"));
    let plain = tracing::dispatcher::with_default(&second, || tracing::info_span!("plain"));
    assert_eq!(step.id(), plain.id());
    tracing::dispatcher::with_default(&first, || {
        step.in_scope(|| burn_cpu(Duration::from_millis(5)));
    });
    tracing::dispatcher::with_default(&second, || {
        plain.in_scope(|| burn_cpu(Duration::from_millis(5)));
    });
    drop((step, plain));
    let measured = measured.0.lock().unwrap();
    assert_eq!(measured.len(), 1, "{measured:?}");
    assert_eq!(measured[0].0, "step");
    assert!(measured[0].1 >= Duration::from_millis(4), "{measured:?}");
}
