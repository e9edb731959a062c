//! A benchmark result exported as `benchmark_*` metrics: read back through a
//! recorder, every figure equals the result's, with allocations counted by
//! the counting allocator.
#![cfg(feature = "benchmark")]

use std::collections::BTreeMap;

use autotel_layers::alloc::CountingAllocator;
use autotel_layers::benchmark::BenchmarkRunner;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::system();

/// Every gauge recorded by `f`, by `name{labels}`.
fn gauges(f: impl FnOnce()) -> BTreeMap<String, f64> {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, f);
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter_map(|(key, _, _, value)| {
            let DebugValue::Gauge(value) = value else {
                return None;
            };
            let key = key.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            Some((
                format!("{}{{{}}}", key.name(), labels.join(",")),
                value.into_inner(),
            ))
        })
        .collect()
}

#[test]
fn exported_figures_equal_the_result() {
    let result = BenchmarkRunner::new()
        .with_iterations(20)
        .unwrap()
        .with_warmup(2)
        .with_progress(false)
        .run("vectors", || {
            let v: Vec<u64> = std::hint::black_box((0..5_000).collect());
            drop(v);
        })
        .with_items_processed(20 * 5_000)
        .with_cost_tracking(40, 0.08);

    let exported = gauges(|| result.export());
    let get = |series: &str| -> f64 {
        *exported
            .get(series)
            .unwrap_or_else(|| panic!("no {series} in {exported:#?}"))
    };
    for (statistic, value) in result.duration_statistics() {
        assert_eq!(
            get(&format!(
                "benchmark_duration_seconds{{benchmark_name=vectors,statistic={statistic}}}"
            )),
            value.as_secs_f64()
        );
    }
    let name = "{benchmark_name=vectors}";
    assert_eq!(get(&format!("benchmark_iterations{name}")), 20.0);
    assert_eq!(
        get(&format!("benchmark_cpu_seconds{name}")),
        result.mean_cpu().unwrap().as_secs_f64()
    );
    // Each iteration allocates the 40 000 bytes of its vector, at least.
    let allocated = result.mean_allocated_bytes().unwrap();
    assert!(allocated >= 40_000.0, "{allocated}");
    assert_eq!(get(&format!("benchmark_allocated_bytes{name}")), allocated);
    assert_eq!(
        get(&format!("benchmark_items_per_second{name}")),
        result.throughput().unwrap()
    );
    assert_eq!(get(&format!("benchmark_api_calls{name}")), 40.0);
    assert_eq!(get(&format!("benchmark_cost_usd{name}")), 0.08);
    assert_eq!(
        get(&format!("benchmark_cost_per_item_usd{name}")),
        0.08 / 100_000.0
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let exported_at = get(&format!("benchmark_timestamp_seconds{name}"));
    assert!((now - 60.0..=now).contains(&exported_at), "{exported_at}");
    assert_eq!(exported.len(), 7 + 8, "{exported:#?}");
}

#[test]
fn unknown_figures_are_not_exported() {
    let result = BenchmarkRunner::new()
        .with_iterations(3)
        .unwrap()
        .with_profile_cpu(false)
        .with_profile_memory(false)
        .run("bare", || {});
    let exported = gauges(|| result.export());
    let names: Vec<&str> = exported
        .keys()
        .map(|k| k.split('{').next().unwrap())
        .collect();
    assert!(names.contains(&"benchmark_duration_seconds"));
    for absent in [
        "benchmark_cpu_seconds",
        "benchmark_allocated_bytes",
        "benchmark_items_per_second",
        "benchmark_cost_usd",
        "benchmark_cost_per_item_usd",
        "benchmark_api_calls",
    ] {
        assert!(!names.contains(&absent), "{absent} in {names:?}");
    }
}
