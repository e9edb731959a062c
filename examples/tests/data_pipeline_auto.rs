//! The pipeline under `#[instrument_all]` (`pipeline_auto`) gives the same
//! span tree and the same metric series as the hand-instrumented one
//! (`pipeline`).

use autotel_examples::{pipeline, pipeline_auto};
use autotel_layers::testing::{MetricValue, Run, capture};

/// The three runs of the `data_pipeline` examples, the last one failing.
const RUNS: [(u64, bool); 3] = [(1_000, false), (2_500, false), (400, true)];

/// Each span as `parent > name`, with its pipeline fields, in closing order.
fn tree(run: &Run) -> Vec<String> {
    run.spans()
        .iter()
        .map(|span| {
            let parent = span
                .parent()
                .and_then(|id| run.spans().iter().find(|other| other.id() == id))
                .map_or("(root)", |parent| parent.name());
            let role = ["pipeline.name", "step.name"]
                .iter()
                .filter_map(|field| span.field(field).map(|value| format!("{field}={value}")))
                .collect::<Vec<_>>()
                .join(",");
            format!("{parent} > {}[{role}] {:?}", span.name(), span.status())
        })
        .collect()
}

/// Each series as `name{labels} count`: a counter's total, a gauge's value,
/// a histogram's number of samples (durations differ from run to run).
fn series(run: &Run) -> Vec<String> {
    let mut series: Vec<String> = run
        .metrics()
        .iter()
        .map(|metric| {
            let mut labels = metric.labels().to_vec();
            labels.sort();
            let value = match metric.value() {
                MetricValue::Counter(total) => format!("counter {total}"),
                MetricValue::Gauge(value) => format!("gauge {value}"),
                MetricValue::Histogram(samples) => format!("histogram {}", samples.len()),
                other => format!("{other:?}"),
            };
            format!("{}{labels:?} {value}", metric.name())
        })
        .collect();
    series.sort();
    series
}

#[test]
fn both_pipelines_give_the_same_spans_and_metrics() {
    let by_hand = capture(|| {
        for (rows, disk_full) in RUNS {
            let _ = pipeline::run_pipeline(rows, disk_full);
        }
    });
    let automatic = capture(|| {
        for (rows, disk_full) in RUNS {
            let _ = pipeline_auto::daily_import::run(rows, disk_full);
        }
    });

    assert_eq!(tree(&automatic), tree(&by_hand));
    assert_eq!(series(&automatic), series(&by_hand));

    // What the comparison covers: three runs of four spans, the failed
    // step, and the pipeline series.
    assert_eq!(tree(&by_hand).len(), 12);
    let series = series(&by_hand);
    for expected in [
        r#"pipeline_executions_total[("pipeline_name", "daily_import"), ("status", "error")] counter 1"#,
        r#"step_errors_total[("error_type", "disk_full"), ("pipeline_name", "daily_import"), ("step_name", "save")] counter 1"#,
        r#"span_calls_total[("span_name", "load"), ("status", "ok")] counter 3"#,
        r#"items_processed_total[("pipeline_name", "daily_import")] counter 11300"#,
    ] {
        assert!(
            series.iter().any(|line| line == expected),
            "{expected} in {series:#?}"
        );
    }
}

/// The series an example prints, sorted (the render order varies), without
/// the bucket and sum lines, whose values depend on how long each step took.
fn printed_series(name: &str) -> Vec<String> {
    let output = autotel_test_support::examples::example(name)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    assert!(output.status.success(), "{name} failed");
    let text = String::from_utf8(output.stdout).expect("the output is UTF-8");
    let mut lines: Vec<String> = text
        .lines()
        .filter(|line| !line.contains("_bucket{") && !line.contains("_sum{"))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn both_examples_print_the_same_series() {
    let automatic = printed_series("data_pipeline_auto");
    assert_eq!(automatic, printed_series("data_pipeline"));
    assert!(automatic.iter().any(|line| line
        == r#"step_errors_total{pipeline_name="daily_import",step_name="save",error_type="disk_full"} 1"#));
}
