//! What exemplars cost per histogram observation.
//!
//! `histogram_record_with_exemplars`: one `record` on a cached handle of the
//! Prometheus recorder (three labels, a value that moves across the
//! buckets): metrics-exporter-prometheus alone (the peer), our recorder with
//! exemplars off, on without a current exemplar, and on with the span's ids
//! set around the call as the layers do (`with_exemplar`), which is the row
//! to compare with the exemplars-off one. The reservoirs restart every
//! 10 000 observations, as a scrape would, so replacements keep happening.

use std::hint::black_box;

use autotel_exporters::prometheus::Prometheus;
use autotel_layers::exemplar::{Exemplar, with_exemplar};
use autotel_layers::{SpanId, TraceId};
use criterion::{Criterion, criterion_group, criterion_main};
use metrics::{Histogram, Key, Label, Metadata, Recorder};

const METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

fn key() -> Key {
    Key::from_parts(
        "request_duration_seconds",
        vec![
            Label::new("method", "GET"),
            Label::new("route", "/orders"),
            Label::new("status", "200"),
        ],
    )
}

/// Runs `record` with the next value of a sequence spread over the buckets.
fn spread(histogram: &Histogram, i: &mut u64, mut record: impl FnMut(&Histogram, f64)) {
    *i = i.wrapping_add(1);
    let value = (*i % 64) as f64 * 0.004;
    record(histogram, black_box(value));
}

fn histogram_record(c: &mut Criterion) {
    let mut group = c.benchmark_group("histogram_record_with_exemplars");
    let upstream = metrics_exporter_prometheus::PrometheusBuilder::new()
        .set_buckets(autotel_exporters::buckets::SECONDS)
        .expect("buckets")
        .build_recorder();
    let histogram = upstream.register_histogram(&key(), &METADATA);
    let upstream_handle = upstream.handle();
    let mut i = 0;
    group.bench_function("metrics_exporter_prometheus", |b| {
        b.iter(|| {
            spread(&histogram, &mut i, |h, v| h.record(v));
            if i % 10_000 == 0 {
                upstream_handle.run_upkeep();
            }
        });
    });

    let rows = [
        ("autotel_exemplars_off", false, false),
        ("autotel_exemplars_on_none_current", true, false),
        ("autotel_exemplars_on_with_exemplar", true, true),
    ];
    for (name, on, with) in rows {
        let recorder = Prometheus::new()
            .without_listener()
            .with_exemplars(on)
            .build_recorder()
            .expect("recorder");
        let handle = recorder.handle();
        let histogram = recorder.register_histogram(&key(), &METADATA);
        let exemplar = Exemplar::new(
            TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from_u64(0x00f0_67aa_0ba9_02b7),
        );
        let mut i = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                spread(&histogram, &mut i, |h, v| {
                    with_exemplar(with.then_some(exemplar), || h.record(v));
                });
                if i % 10_000 == 0 {
                    handle.run_upkeep();
                    black_box(handle.render_openmetrics());
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, histogram_record);
criterion_main!(benches);
