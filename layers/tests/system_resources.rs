//! Per-span resources: CPU percent of pipeline runs, the figures kept in span
//! extensions, and the scope setting.
#![cfg(target_os = "linux")]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use autotel_layers::cpu_clock::ThreadCpuClock;
use autotel_layers::resources::CPU_TIME_FIELD;
use autotel_layers::{ResourceScope, SpanResources, SpanResourcesLayer, catalog};
use autotel_test_support::recorder::AtomicRecorder;
use autotel_test_support::time::{burn_cpu, thread_cpu_nanos};
use tracing::field::{Empty, Field, Visit};
use tracing::span::Record;
use tracing_subscriber::layer::Context;
use tracing_subscriber::prelude::*;
use tracing_subscriber::registry::LookupSpan;

fn run_pipeline(
    layer: SpanResourcesLayer,
    name: &'static str,
    step: impl FnOnce(),
) -> AtomicRecorder {
    let metrics = AtomicRecorder::new();
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

fn cpu_percent(metrics: &AtomicRecorder, pipeline: &str) -> f64 {
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
        let cpu = thread_cpu_nanos();
        let layer = SpanResourcesLayer::new().with_cpu_clock(clock);
        let metrics = run_pipeline(layer, "busy", || {
            burn_cpu(Duration::from_millis(300));
        });
        let got = (thread_cpu_nanos() - cpu) as f64 / wall.elapsed().as_nanos() as f64 * 100.0;
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
    let metrics = AtomicRecorder::new();
    let subscriber =
        tracing_subscriber::registry().with(SpanResourcesLayer::new().with_max_series(1).unwrap());
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

/// Reads, as each span closes, the CPU time last recorded into its
/// `cpu_time_seconds` field, or the `SpanResources` in its extensions.
#[derive(Clone, Default)]
struct Closed {
    closed: Arc<Mutex<Vec<(String, Duration)>>>,
    recorded: Arc<Mutex<HashMap<u64, Duration>>>,
}

impl Closed {
    fn spans(&self) -> Vec<(String, Duration)> {
        self.closed.lock().unwrap().clone()
    }
}

struct CpuField(Option<Duration>);

impl Visit for CpuField {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == CPU_TIME_FIELD {
            self.0 = Some(Duration::from_secs_f64(value));
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S> tracing_subscriber::Layer<S> for Closed
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_record(&self, id: &tracing::Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut cpu = CpuField(None);
        values.record(&mut cpu);
        if let Some(cpu) = cpu.0 {
            self.recorded.lock().unwrap().insert(id.into_u64(), cpu);
        }
    }

    fn on_close(&self, id: tracing::Id, ctx: Context<'_, S>) {
        let span = ctx.span(&id).unwrap();
        let recorded = self.recorded.lock().unwrap().remove(&id.into_u64());
        let extension = span
            .extensions()
            .get::<SpanResources>()
            .map(|r| r.cpu_time());
        if let Some(cpu) = recorded.or(extension) {
            self.closed
                .lock()
                .unwrap()
                .push((span.name().to_owned(), cpu));
        }
    }
}

fn subscriber_with(layer: SpanResourcesLayer, closed: &Closed) -> impl tracing::Subscriber {
    tracing_subscriber::registry()
        .with(layer)
        .with(closed.clone())
}

fn measured_spans(scope: ResourceScope) -> Vec<(String, Duration)> {
    let closed = Closed::default();
    let subscriber = subscriber_with(SpanResourcesLayer::new().with_scope(scope), &closed);
    tracing::subscriber::with_default(subscriber, || {
        tracing::info_span!("plain", cpu_time_seconds = Empty).in_scope(|| {
            tracing::info_span!("step", step.name = "s", cpu_time_seconds = Empty).in_scope(|| {
                burn_cpu(Duration::from_millis(30));
            });
        });
    });
    closed.spans()
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
fn span_resources_are_in_the_extensions_only_when_asked_for() {
    for extensions in [false, true] {
        let closed = Closed::default();
        let layer = SpanResourcesLayer::new().with_span_extensions(extensions);
        tracing::subscriber::with_default(subscriber_with(layer, &closed), || {
            tracing::info_span!("step", step.name = "s")
                .in_scope(|| burn_cpu(Duration::from_millis(10)));
        });
        let spans = closed.spans();
        if extensions {
            assert_eq!(spans.len(), 1);
            assert!(spans[0].1 >= Duration::from_millis(8), "{spans:?}");
        } else {
            assert_eq!(spans, []);
        }
    }
}

#[test]
fn a_span_entered_on_another_thread_is_measured_there() {
    let closed = Closed::default();
    let subscriber = subscriber_with(SpanResourcesLayer::new(), &closed);
    tracing::subscriber::with_default(subscriber, || {
        let step = tracing::info_span!("step", step.name = "s", cpu_time_seconds = Empty);
        let plain = tracing::info_span!("plain", cpu_time_seconds = Empty);
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
    let closed = closed.spans();
    assert_eq!(closed.len(), 1, "{closed:?}");
    assert_eq!(closed[0].0, "step");
    assert!(closed[0].1 >= Duration::from_millis(15), "{closed:?}");
}

#[test]
fn a_span_entered_again_inside_itself_counts_its_time_once() {
    let closed = Closed::default();
    let subscriber = subscriber_with(SpanResourcesLayer::new(), &closed);
    let mut used = Duration::ZERO;
    tracing::subscriber::with_default(subscriber, || {
        let step = tracing::info_span!("step", step.name = "s", cpu_time_seconds = Empty);
        let before = ThreadCpuClock::SystemCall.now().unwrap();
        step.in_scope(|| {
            step.in_scope(|| burn_cpu(Duration::from_millis(20)));
        });
        used = ThreadCpuClock::SystemCall.now().unwrap() - before;
    });
    let cpu = closed.spans()[0].1;
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
    let first = tracing::Dispatch::new(subscriber_with(SpanResourcesLayer::new(), &measured));
    let second = tracing::Dispatch::new(subscriber_with(SpanResourcesLayer::new(), &measured));
    let step = tracing::dispatcher::with_default(&first, || {
        tracing::info_span!("step", step.name = "s", cpu_time_seconds = Empty)
    });
    let plain = tracing::dispatcher::with_default(&second, || {
        tracing::info_span!("plain", cpu_time_seconds = Empty)
    });
    assert_eq!(step.id(), plain.id());
    tracing::dispatcher::with_default(&first, || {
        step.in_scope(|| burn_cpu(Duration::from_millis(5)));
    });
    tracing::dispatcher::with_default(&second, || {
        plain.in_scope(|| burn_cpu(Duration::from_millis(5)));
    });
    drop((step, plain));
    let measured = measured.spans();
    assert_eq!(measured.len(), 1, "{measured:?}");
    assert_eq!(measured[0].0, "step");
    assert!(measured[0].1 >= Duration::from_millis(4), "{measured:?}");
}

#[test]
fn more_live_spans_than_slots_are_all_measured() {
    // The layer keeps the figures of live spans in 4096 slots; spans that
    // find theirs taken keep them in their extensions instead.
    let closed = Closed::default();
    let metrics = AtomicRecorder::new();
    let layer = SpanResourcesLayer::new().with_scope(ResourceScope::AllSpans);
    metrics::with_local_recorder(&metrics, || {
        tracing::subscriber::with_default(subscriber_with(layer, &closed), || {
            let live: Vec<_> = (0..20_000)
                .map(|_| {
                    let span = tracing::info_span!("live", cpu_time_seconds = Empty);
                    span.in_scope(|| {});
                    span
                })
                .collect();
            tracing::info_span!("run", pipeline.name = "crowded").in_scope(|| {
                burn_cpu(Duration::from_millis(50));
            });
            drop(live);
        });
    });
    let closed = closed.spans();
    assert_eq!(
        closed.iter().filter(|(name, _)| name == "live").count(),
        20_000
    );
    let percent = cpu_percent(&metrics, "crowded");
    assert!(percent > 10.0 && percent <= 105.0, "{percent}");
}
