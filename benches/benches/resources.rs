//! What the per-span resource layer costs per span, against its absence, in
//! one run (issue 6).
//!
//! Every variant runs the same span lifecycle (new, enter, exit, close) under
//! a scoped dispatcher and the no-op `metrics` recorder:
//!
//! - `floor`: `Registry` + `LevelFilter` only;
//! - `resources_plain_span`: plus [`SpanResourcesLayer`] with the default
//!   scope (pipelines and steps), for an ordinary span it does not measure;
//! - `resources_step_span`: the same layer, for a step span it measures
//!   (two reads of the thread's CPU clock);
//! - `resources_all_spans`: the layer with [`ResourceScope::AllSpans`], for
//!   an ordinary span.
//!
//! ```text
//! cargo bench -p autotel-benches --bench resources -- --warm-up-time 2 --measurement-time 5
//! ```

use std::hint::black_box;

use autotel_layers::{ResourceScope, SpanResourcesLayer};
use criterion::{Criterion, criterion_group, criterion_main};
use tracing::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

fn plain_span() {
    let span = tracing::info_span!("plain", n = 1u64);
    let _entered = black_box(span.enter());
}

fn step_span() {
    let span = tracing::info_span!("step", step.name = "read");
    let _entered = black_box(span.enter());
}

fn bench(c: &mut Criterion) {
    let floor = Dispatch::new(tracing_subscriber::registry().with(LevelFilter::INFO));
    let default_scope = Dispatch::new(
        tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(SpanResourcesLayer::new()),
    );
    let all_spans = Dispatch::new(
        tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(SpanResourcesLayer::new().with_scope(ResourceScope::AllSpans)),
    );

    let mut group = c.benchmark_group("span_resources");
    group.bench_function("floor", |b| {
        tracing::dispatcher::with_default(&floor, || b.iter(plain_span));
    });
    group.bench_function("floor_step_span", |b| {
        tracing::dispatcher::with_default(&floor, || b.iter(step_span));
    });
    group.bench_function("resources_plain_span", |b| {
        tracing::dispatcher::with_default(&default_scope, || b.iter(plain_span));
    });
    group.bench_function("resources_step_span", |b| {
        tracing::dispatcher::with_default(&default_scope, || b.iter(step_span));
    });
    group.bench_function("resources_all_spans", |b| {
        tracing::dispatcher::with_default(&all_spans, || b.iter(plain_span));
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
