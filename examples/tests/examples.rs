//! Runs each example and checks what it prints.

use autotel_test_support::examples::example;
use autotel_test_support::scrape::value;

/// Runs the example binary `name` (built alongside the tests) and returns
/// its standard output.
fn run_example(name: &str) -> String {
    let output = run_example_with(name, &[]);
    String::from_utf8(output.stdout).expect("the output is UTF-8")
}

/// Runs the example binary `name` with `args`; it must succeed.
fn run_example_with(name: &str, args: &[&str]) -> std::process::Output {
    let output = example(name)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    assert!(
        output.status.success(),
        "{name} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn existing_tracing_user_prints_span_metrics() {
    let text = run_example("existing_tracing_user");
    assert_eq!(
        value(
            &text,
            r#"span_calls_total{span_name="handle_request",status="ok"}"#
        ),
        8.0,
        "a warning is not an error"
    );
    assert_eq!(
        value(&text, r#"span_calls_total{span_name="charge",status="ok"}"#),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"span_calls_total{span_name="charge",status="error"}"#
        ),
        1.0
    );
    assert_eq!(
        value(
            &text,
            r#"span_errors_total{span_name="charge",error_type="_OTHER"}"#
        ),
        1.0
    );
    assert!(text.contains("span_duration_seconds"), "{text}");
}

#[test]
fn data_pipeline_prints_pipeline_metrics() {
    let text = run_example("data_pipeline");
    let ok = r#"pipeline_executions_total{pipeline_name="daily_import",status="ok"}"#;
    let error = r#"pipeline_executions_total{pipeline_name="daily_import",status="error"}"#;
    assert_eq!(value(&text, ok), 2.0);
    assert_eq!(value(&text, error), 1.0);
    assert_eq!(
        value(
            &text,
            r#"step_errors_total{pipeline_name="daily_import",step_name="save",error_type="disk_full"}"#
        ),
        1.0
    );
    // load + transform for every run, save for the two that succeeded.
    assert_eq!(
        value(
            &text,
            r#"items_processed_total{pipeline_name="daily_import"}"#
        ),
        (2.0 * 3900.0) + 3500.0
    );
    assert_eq!(
        value(&text, r#"api_calls_total{pipeline_name="daily_import"}"#),
        10.0 + 25.0 + 4.0
    );
    assert_eq!(
        value(
            &text,
            r#"pipeline_cost_usd_total{pipeline_name="daily_import"}"#
        ),
        0.078
    );
    assert!(
        text.contains("# TYPE pipeline_cost_usd_total counter"),
        "{text}"
    );
    assert!(
        text.contains(
            r#"step_duration_seconds_bucket{pipeline_name="daily_import",step_name="load",le="#
        ),
        "{text}"
    );
}

/// The JSON log lines an example writes to stderr with `--json`; every other
/// stderr line must start with one of `allowed`.
fn json_logs(name: &str, allowed: &[&str]) -> Vec<serde_json::Value> {
    let output = run_example_with(name, &["--json"]);
    let stderr = String::from_utf8(output.stderr).expect("the logs are UTF-8");
    let mut lines = Vec::new();
    for line in stderr.lines() {
        match serde_json::from_str(line) {
            Ok(value) => lines.push(value),
            Err(error) => assert!(
                allowed.iter().any(|prefix| line.starts_with(prefix)),
                "not a JSON line ({error}): {line}"
            ),
        }
    }
    assert!(!lines.is_empty(), "no JSON lines in:\n{stderr}");
    lines
}

#[test]
fn existing_tracing_user_prints_json_lines() {
    let lines = json_logs("existing_tracing_user", &[]);
    let handled = lines
        .iter()
        .find(|line| line["message"] == "handled")
        .expect("a `handled` line");
    assert_eq!(handled["level"], "INFO");
    assert_eq!(handled["service.name"], "existing_tracing_user");
    assert_eq!(handled["data"]["id"], 0);
    assert_eq!(handled["trace_id"].as_str().map(str::len), Some(32));
    assert_eq!(handled["span_id"].as_str().map(str::len), Some(16));
}

#[test]
fn data_pipeline_prints_json_lines() {
    let lines = json_logs("data_pipeline", &["pipeline failed:"]);
    let saved: Vec<_> = lines
        .iter()
        .filter(|line| line["message"] == "saved")
        .collect();
    assert_eq!(saved.len(), 2);
    for line in &saved {
        assert_eq!(line["data"]["pipeline.name"], "daily_import");
        assert_eq!(line["data"]["step.name"], "save");
        assert_eq!(line["deployment.environment"], "development");
    }
    // Each run is one trace: its lines share a trace id, the runs differ.
    let loaded: Vec<_> = lines
        .iter()
        .filter(|line| line["message"] == "loaded")
        .collect();
    assert_eq!(loaded.len(), 3);
    assert_ne!(loaded[0]["trace_id"], loaded[1]["trace_id"]);
    assert!(
        lines
            .iter()
            .filter(|line| line["trace_id"] == loaded[0]["trace_id"])
            .count()
            >= 4
    );
}

#[test]
fn self_monitoring_prints_what_autotel_lost_and_capped() {
    let output = example("self_monitoring")
        .env("PROMETHEUS_PORT", "0")
        .output()
        .expect("self_monitoring runs");
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8(output.stdout).expect("the output is UTF-8");
    for signal in ["logs", "traces"] {
        let failed = value(
            &text,
            &format!(
                r#"autotel_export_errors_total{{exporter="otlp",signal="{signal}",reason="unavailable"}}"#
            ),
        );
        assert!(failed >= 1.0, "{signal}: {text}");
    }
    let cut = value(&text, r#"autotel_truncated_values_total{signal="logs"}"#);
    assert!(cut >= 1.0, "{text}");
    // 40 customers, 20 label sets each for span_calls_total and
    // span_duration_seconds: the other 20 overflow.
    for metric in ["span_calls_total", "span_duration_seconds"] {
        assert_eq!(
            value(
                &text,
                &format!(r#"autotel_series_overflow_total{{metric="{metric}"}}"#)
            ),
            20.0,
            "{text}"
        );
    }
    let payload = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["message"] == "received an oversized payload")
        .expect("the oversized payload's line");
    let payload = payload["data"]["payload"].as_str().unwrap();
    assert!(payload.ends_with("[truncated]"), "{payload}");
    assert!(payload.len() < 20 * 1024, "cut to the limit");
}

#[test]
fn datadog_sends_dogstatsd_lines_with_the_unified_tags() {
    let text = run_example("datadog");
    let tags = "service:checkout,env:staging,version:1.4.2";
    for kind in ["express", "standard"] {
        let line = format!("orders_total:5|c|#kind:{kind},{tags}");
        assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    }
    let line = format!("span_calls_total:10|c|#span_name:handle_order,status:ok,{tags}");
    assert!(text.lines().any(|l| l == line), "{line} in:\n{text}");
    let durations = text
        .lines()
        .filter(|l| l.starts_with("span_duration_seconds:") && l.contains("|d|#"))
        .count();
    assert_eq!(durations, 10, "one distribution value per call:\n{text}");
}

#[test]
fn cloudwatch_prints_valid_emf_lines() {
    let text = run_example("cloudwatch");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(autotel_test_support::emf::parse_valid)
        .collect();
    let rows = lines
        .iter()
        .find(|line| line.get("rows_loaded_total").is_some())
        .unwrap_or_else(|| panic!("rows_loaded_total in:\n{text}"));
    assert_eq!(rows["rows_loaded_total"], 1850.0);
    assert_eq!(rows["table"], "orders");
    assert_eq!(rows["batch_size_bytes"]["Count"], 4);
    assert_eq!(
        rows["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "checkout"
    );
    let calls = lines
        .iter()
        .find(|line| line.get("span_calls_total").is_some())
        .unwrap_or_else(|| panic!("span_calls_total in:\n{text}"));
    assert_eq!(calls["span_calls_total"], 4.0);
    assert_eq!(calls["span_name"], "load_batch");
}
