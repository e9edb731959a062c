//! What a function costs under `#[instrument_all]`, against the same
//! function under `#[tracing::instrument]` (the named peer), in one run.
//!
//! Each pair is the same body (an addition through `black_box`) with a span
//! and no argument recorded (`skip_all` for the peer, the default for
//! `#[instrument_all]`); the `fallible` pair returns `Ok` from a `Result`,
//! which `#[instrument_all]` matches and `#[instrument(err)]` too:
//!
//! - `no_subscriber`: no dispatcher at all, so no span is ever enabled;
//! - `span_metrics`: the registry, a level filter at INFO and
//!   [`SpanMetricsLayer`], into the no-op `metrics` recorder.
//!
//! `plain` is the body without any span, under no subscriber.
//!
//! ```text
//! cargo bench -p autotel-benches --bench instrument_all -- --warm-up-time 2 --measurement-time 5
//! ```

use std::hint::black_box;

use autotel_layers::SpanMetricsLayer;
use criterion::{Criterion, criterion_group, criterion_main};
use metrics::NoopRecorder;
use tracing::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

#[autotel_layers::instrument_all]
mod auto {
    use std::hint::black_box;

    pub fn work(n: u64) -> u64 {
        black_box(n) + 1
    }

    pub fn fallible(n: u64) -> Result<u64, std::num::TryFromIntError> {
        Ok(u64::from(u32::try_from(black_box(n))?) + 1)
    }
}

mod peer {
    use std::hint::black_box;

    #[tracing::instrument(skip_all)]
    pub fn work(n: u64) -> u64 {
        black_box(n) + 1
    }

    #[tracing::instrument(skip_all, err)]
    pub fn fallible(n: u64) -> Result<u64, std::num::TryFromIntError> {
        Ok(u64::from(u32::try_from(black_box(n))?) + 1)
    }
}

fn plain(n: u64) -> u64 {
    black_box(n) + 1
}

fn span_metrics() -> Dispatch {
    Dispatch::new(
        tracing_subscriber::registry()
            .with(LevelFilter::INFO)
            .with(SpanMetricsLayer::new()),
    )
}

fn no_subscriber(c: &mut Criterion) {
    let mut group = c.benchmark_group("instrument_all/no_subscriber");
    let none = Dispatch::none();
    tracing::dispatcher::with_default(&none, || {
        group.bench_function("plain", |b| b.iter(|| plain(black_box(7))));
        group.bench_function("instrument_all", |b| b.iter(|| auto::work(black_box(7))));
        group.bench_function("tracing_instrument", |b| {
            b.iter(|| peer::work(black_box(7)))
        });
        group.bench_function("instrument_all_fallible", |b| {
            b.iter(|| auto::fallible(black_box(7)))
        });
        group.bench_function("tracing_instrument_err", |b| {
            b.iter(|| peer::fallible(black_box(7)))
        });
    });
    group.finish();
}

fn with_span_metrics(c: &mut Criterion) {
    let mut group = c.benchmark_group("instrument_all/span_metrics");
    let dispatch = span_metrics();
    tracing::dispatcher::with_default(&dispatch, || {
        metrics::with_local_recorder(&NoopRecorder, || {
            group.bench_function("instrument_all", |b| b.iter(|| auto::work(black_box(7))));
            group.bench_function("tracing_instrument", |b| {
                b.iter(|| peer::work(black_box(7)))
            });
            group.bench_function("instrument_all_fallible", |b| {
                b.iter(|| auto::fallible(black_box(7)))
            });
            group.bench_function("tracing_instrument_err", |b| {
                b.iter(|| peer::fallible(black_box(7)))
            });
        });
    });
    group.finish();
}

criterion_group!(benches, no_subscriber, with_span_metrics);
criterion_main!(benches);
