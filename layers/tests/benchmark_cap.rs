//! Benchmark names are label values with a cap: past 2000 distinct names in
//! a process, results go to the overflow series and are counted. (Its own
//! test binary, since the cap is process-wide.)
#![cfg(feature = "benchmark")]

use autotel_layers::benchmark::BenchmarkRunner;
use autotel_layers::span_metrics::DEFAULT_MAX_SERIES;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[test]
fn names_past_the_cap_go_to_the_overflow_series() {
    let result = |name: &str| {
        BenchmarkRunner::new()
            .with_iterations(1)
            .unwrap()
            .with_warmup(0)
            .with_profile_cpu(false)
            .run(name, || {})
    };
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..DEFAULT_MAX_SERIES + 3 {
            result(&format!("bench-{i}")).export();
        }
        // A name that has its series keeps it.
        result("bench-0").export();
    });
    let snapshot = snapshotter.snapshot().into_vec();
    let iterations: Vec<_> = snapshot
        .iter()
        .filter(|(key, ..)| key.key().name() == "benchmark_iterations")
        .collect();
    let overflow: Vec<_> = iterations
        .iter()
        .filter(|(key, ..)| {
            key.key()
                .labels()
                .any(|l| l.key() == "otel_metric_overflow" && l.value() == "true")
        })
        .collect();
    assert_eq!(iterations.len(), DEFAULT_MAX_SERIES + 1);
    assert_eq!(overflow.len(), 1);
    let counted = snapshot
        .iter()
        .find_map(|(key, _, _, value)| {
            let key = key.key();
            let is_it = key.name() == "autotel_series_overflow_total"
                && key
                    .labels()
                    .any(|l| l.key() == "metric" && l.value() == "benchmark_iterations");
            match value {
                DebugValue::Counter(n) if is_it => Some(*n),
                _ => None,
            }
        })
        .expect("overflow counted");
    assert_eq!(counted, 3, "three names past the cap, one export each");
}
