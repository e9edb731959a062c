//! What the per-span resource layer costs per span, against its absence, in
//! one run.
//!
//! Every span case runs the same lifecycle (new, enter, exit, close) under a
//! scoped dispatcher and the no-op `metrics` recorder:
//!
//! - `floor`: `Registry` + `LevelFilter` only, a plain span; `floor_step_span`
//!   the same for a step span (`step.name` field);
//! - `all_spans`: plus [`SpanResourcesLayer`] with [`ResourceScope::AllSpans`]
//!   and the fast thread CPU clock, a plain span (measured);
//! - `all_spans_system_call`: the same with [`ThreadCpuClock::SystemCall`],
//!   the fallback;
//! - `all_spans_extensions`: the fast clock again, keeping the figures as
//!   `SpanResources` in each span's extensions
//!   ([`SpanResourcesLayer::with_span_extensions`]);
//! - `default_scope_plain_span`: the layer with its default scope (pipelines
//!   and steps), a plain span it does not measure;
//! - `default_scope_step_span`: the same layer, a step span it measures;
//! - `floor_with_extension`: the floor plus a layer that only stores 16
//!   bytes in each span's extensions when it exits (a registry lookup, the
//!   extensions lock, one allocation), the storage cost that
//!   `all_spans_extensions` includes.
//!
//! and two raw reads of the calling thread's CPU time:
//! `clock_auto` ([`ThreadCpuClock::Auto`]) and `clock_system_call`.
//!
//! ```text
//! cargo bench -p autotel-benches --bench resources
//! ```

use std::hint::black_box;

use autotel_layers::cpu_clock::ThreadCpuClock;
use autotel_layers::{ResourceScope, SpanResourcesLayer};
use criterion::{Criterion, criterion_group, criterion_main};
use tracing::{Dispatch, Id, Subscriber};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

fn plain_span() {
    let span = tracing::info_span!("plain", n = 1u64);
    let _entered = black_box(span.enter());
}

fn step_span() {
    let span = tracing::info_span!("step", step.name = "read");
    let _entered = black_box(span.enter());
}

/// Stores two counters in each span's extensions at exit, as the resource
/// layer does, and nothing else.
struct ExtensionWrite;

impl<S> Layer<S> for ExtensionWrite
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            let mut extensions = span.extensions_mut();
            match extensions.get_mut::<[u64; 2]>() {
                Some(figures) => figures[0] += 1,
                None => extensions.insert([1u64, 0]),
            }
        }
    }
}

fn with_resources(layer: SpanResourcesLayer) -> Dispatch {
    Dispatch::new(
        tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(layer),
    )
}

fn bench(c: &mut Criterion) {
    let floor = Dispatch::new(tracing_subscriber::registry().with(LevelFilter::INFO));
    let all_spans = with_resources(SpanResourcesLayer::new().with_scope(ResourceScope::AllSpans));
    let all_spans_system_call = with_resources(
        SpanResourcesLayer::new()
            .with_scope(ResourceScope::AllSpans)
            .with_cpu_clock(ThreadCpuClock::SystemCall),
    );
    let all_spans_extensions = with_resources(
        SpanResourcesLayer::new()
            .with_scope(ResourceScope::AllSpans)
            .with_span_extensions(true),
    );
    let default_scope = with_resources(SpanResourcesLayer::new());
    let extension = Dispatch::new(
        tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(ExtensionWrite),
    );

    let mut group = c.benchmark_group("span_resources");
    let spans: [(&str, &Dispatch, fn()); 8] = [
        ("floor", &floor, plain_span),
        ("floor_step_span", &floor, step_span),
        ("all_spans", &all_spans, plain_span),
        ("all_spans_system_call", &all_spans_system_call, plain_span),
        ("all_spans_extensions", &all_spans_extensions, plain_span),
        ("default_scope_plain_span", &default_scope, plain_span),
        ("default_scope_step_span", &default_scope, step_span),
        ("floor_with_extension", &extension, plain_span),
    ];
    for (name, dispatch, span) in spans {
        group.bench_function(name, |b| {
            tracing::dispatcher::with_default(dispatch, || b.iter(span));
        });
    }
    eprintln!(
        "fast thread CPU clock on the bench thread: {}",
        ThreadCpuClock::Auto.is_fast()
    );
    group.bench_function("clock_auto", |b| {
        b.iter(|| black_box(ThreadCpuClock::Auto.now()));
    });
    group.bench_function("clock_system_call", |b| {
        b.iter(|| black_box(ThreadCpuClock::SystemCall.now()));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
