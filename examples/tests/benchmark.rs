//! The benchmark runner end to end: the `benchmark` example runs the
//! pipeline 50 times and exports its result, and the figures in the
//! Prometheus text are the result's.

use autotel_test_support::examples::example;
use std::collections::BTreeMap;
use std::time::Duration;

use autotel_exporters::prometheus::Prometheus;
use autotel_layers::benchmark::BenchmarkRunner;

/// The value of every sample line in Prometheus text, by `name{labels}`.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_owned(), value.parse().ok()?))
        })
        .collect()
}

#[test]
fn the_prometheus_text_carries_the_result_exactly() {
    let recorder = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("the default buckets are valid");
    let handle = recorder.handle();
    let result = BenchmarkRunner::new()
        .with_iterations(30)
        .unwrap()
        .with_progress(false)
        .run("sort", || {
            let mut v: Vec<u32> = (0..2_000).rev().collect();
            v.sort_unstable();
            std::hint::black_box(v);
        })
        .with_items_processed(30 * 2_000)
        .with_cost_tracking(3, 0.015);
    metrics::with_local_recorder(&recorder, || result.export());
    let text = handle.render();
    let exported = samples(&text);
    let get = |series: String| -> f64 {
        *exported
            .get(&series)
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"))
    };
    for (statistic, value) in result.duration_statistics() {
        assert_eq!(
            get(format!(
                "benchmark_duration_seconds{{benchmark_name=\"sort\",statistic=\"{statistic}\"}}"
            )),
            value.as_secs_f64(),
            "{statistic}"
        );
    }
    let series = |name: &str| format!("{name}{{benchmark_name=\"sort\"}}");
    assert_eq!(get(series("benchmark_iterations")), 30.0);
    assert_eq!(
        get(series("benchmark_cpu_seconds")),
        result.mean_cpu().unwrap().as_secs_f64()
    );
    assert_eq!(
        get(series("benchmark_items_per_second")),
        result.throughput().unwrap()
    );
    assert_eq!(get(series("benchmark_api_calls")), 3.0);
    assert_eq!(get(series("benchmark_cost_usd")), 0.015);
    assert_eq!(
        get(series("benchmark_cost_per_item_usd")),
        result.cost_per_item().unwrap()
    );
    // The test binary counts no allocations, so none are exported.
    assert!(!text.contains("benchmark_allocated_bytes"), "{text}");
    assert!(
        text.contains("# TYPE benchmark_duration_seconds gauge"),
        "{text}"
    );
}

#[test]
fn the_benchmark_example_runs_the_pipeline_50_times_and_exports_it() {
    let output = example("benchmark")
        .output()
        .expect("the benchmark example starts");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // Standard error is not a terminal here: no progress bar.
    assert!(output.stderr.is_empty(), "{:?}", output.stderr);
    assert!(
        stdout.starts_with("benchmark daily_import: 50 iterations, "),
        "{stdout}"
    );
    let exported = samples(&stdout);
    let series = |name: &str| format!("{name}{{benchmark_name=\"daily_import\"}}");
    assert_eq!(exported[&series("benchmark_iterations")], 50.0);
    assert_eq!(exported[&series("benchmark_api_calls")], 500.0);
    assert!((exported[&series("benchmark_cost_usd")] - 1.0).abs() < 1e-9);
    assert!((exported[&series("benchmark_cost_per_item_usd")] - 0.00002).abs() < 1e-12);
    // The example counts allocations: each run allocates its 1000 rows.
    assert!(exported[&series("benchmark_allocated_bytes")] >= 8000.0);
    // Each statistic in the table is the exported figure, as printed.
    let mut previous = 0.0;
    for statistic in ["min", "p50", "p90", "p95", "p99", "max"] {
        let seconds = exported[&format!(
            "benchmark_duration_seconds{{benchmark_name=\"daily_import\",statistic=\"{statistic}\"}}"
        )];
        assert!(seconds >= previous && seconds > 0.0, "{statistic}");
        previous = seconds;
        let row = format!(
            "  {statistic:<24} {:>14}\n",
            format!("{:.3?}", Duration::from_secs_f64(seconds))
        );
        assert!(stdout.contains(&row), "{row:?} not in:\n{stdout}");
    }
}

#[test]
fn a_progress_bar_is_drawn_on_a_terminal() {
    // `script` (util-linux) runs the example on a pseudo-terminal.
    let binary = example("benchmark").get_program().to_owned();
    let output = std::process::Command::new("script")
        .args(["-qec"])
        .arg(&binary)
        .arg("/dev/null")
        .output()
        .expect("script (util-linux) runs");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{text}");
    assert!(
        text.contains("daily_import ["),
        "no progress bar in {text:?}"
    );
    assert!(
        text.contains("/53"),
        "50 iterations and 3 warm-up: {text:?}"
    );
    // The bar is cleared before the table is printed.
    assert!(text.contains("benchmark daily_import: 50 iterations"));
}
