//! Runs the quickstart example in each environment and checks what it
//! writes: the log format, the metrics it serves, the errors of bad settings,
//! the panic hook, and the OTLP export to a real receiver.

use std::process::Output;

use autotel_test_support::examples::{example, serve_quickstart, serve_quickstart_with};
use autotel_test_support::http::{get, get_with};
use autotel_test_support::otlp::{base64_to_hex, items};
use autotel_test_support::peers::{TestAgent, promtool_check_metrics};
use autotel_test_support::scrape::value;
use serde_json::Value;

/// Runs quickstart with `vars` set (and no other telemetry variable).
fn quickstart(vars: &[(&str, &str)], args: &[&str]) -> Output {
    example("quickstart")
        .envs(vars.iter().copied())
        .args(args)
        .output()
        .expect("quickstart runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The JSON log lines, and the other lines (the Prometheus text).
fn split(text: &str) -> (Vec<Value>, String) {
    let mut json = Vec::new();
    let mut rest = String::new();
    for line in text.lines() {
        if line.starts_with('{') {
            json.push(
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}")),
            );
        } else if !line.is_empty() {
            rest.push_str(line);
            rest.push('\n');
        }
    }
    (json, rest)
}

fn line_with<'a>(lines: &'a [Value], message: &str) -> &'a Value {
    lines
        .iter()
        .find(|line| line["message"] == message)
        .unwrap_or_else(|| panic!("no line {message:?} in {lines:#?}"))
}

/// Checks the output of a run in an environment that writes JSON lines.
fn json_environment(environment: &str) {
    let output = quickstart(
        &[("ENVIRONMENT", environment), ("PROMETHEUS_PORT", "0")],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (lines, metrics) = split(&stdout(&output));

    for line in &lines {
        assert_eq!(line["service.name"], "quickstart", "{line}");
        assert_eq!(line["deployment.environment"], environment, "{line}");
        assert!(
            line["timestamp"].is_string() && line["level"].is_string(),
            "{line}"
        );
    }
    let started = &lines[0];
    assert_eq!(started["message"], "telemetry started");
    assert_eq!(started["logger"], "autotel");
    assert_eq!(started["data"]["log_format"], "json");
    assert_eq!(started["data"]["log_filter"], "info");
    assert_eq!(started["data"]["otlp"], "off");
    assert!(
        lines.iter().all(|line| line["level"] != "DEBUG"),
        "INFO is the default level"
    );

    // Lines inside the pipeline carry its trace; the `log` bridge keeps the
    // record's target.
    let loaded = line_with(&lines, "loaded");
    let trace_id = loaded["trace_id"].as_str().expect("a trace id");
    assert_eq!(trace_id.len(), 32);
    let fetched = line_with(&lines, "fetched 1000 rows from the legacy store");
    assert_eq!(fetched["logger"], "quickstart::legacy_client");
    assert_eq!(fetched["trace_id"], trace_id);
    let failed = line_with(&lines, "daily import failed");
    assert_eq!(failed["level"], "WARN");

    // The guard, dropped at the end of main, wrote out the last line.
    assert_eq!(lines.last().unwrap()["message"], "quickstart finished");

    let executions = "pipeline_executions_total{pipeline_name=\"daily_import\"";
    assert_eq!(
        value(&metrics, &format!("{executions},status=\"ok\"}}")),
        2.0
    );
    assert_eq!(
        value(&metrics, &format!("{executions},status=\"error\"}}")),
        1.0
    );
    assert_eq!(
        value(
            &metrics,
            "span_calls_total{span_name=\"save\",status=\"error\"}"
        ),
        1.0
    );
    assert!(
        metrics.contains(&format!(
            "deployment_environment=\"{environment}\",autotel_version="
        )),
        "autotel_build_info:\n{metrics}"
    );
    assert!(
        metrics.contains("\nprocess_resident_memory_bytes "),
        "{metrics}"
    );
    promtool_accepts(&metrics);
}

/// `promtool check metrics` accepts the text, when promtool is installed.
fn promtool_accepts(metrics: &str) {
    if let Some((ok, said)) = promtool_check_metrics(metrics) {
        assert!(ok, "promtool refused the text: {said}\n{metrics}");
    }
}

#[test]
fn production_writes_json_lines_and_serves_metrics() {
    json_environment("production");
}

#[test]
fn staging_writes_json_lines_and_serves_metrics() {
    json_environment("staging");
}

#[test]
fn development_writes_readable_lines_and_console_export() {
    let output = quickstart(
        &[("ENVIRONMENT", "development"), ("PROMETHEUS_PORT", "0")],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.lines().any(|line| line.starts_with('{')), "{text}");
    let started = text
        .lines()
        .find(|line| line.contains("telemetry started"))
        .expect("the start line");
    assert!(started.contains(" INFO "), "{started}");
    assert!(started.contains("log_filter=debug"), "{started}");
    assert!(
        text.lines()
            .any(|line| line.contains("quickstart::legacy_client")
                && line.contains("fetched 1000 rows")),
        "{text}"
    );
    let (_, metrics) = split(&text);
    assert!(metrics.contains("pipeline_executions_total"), "{metrics}");
    // Console export: finished spans indented under their run, then the table.
    let console = stderr(&output);
    assert!(
        console.lines().any(|line| line.starts_with("  save ")),
        "{console}"
    );
    assert!(
        console
            .lines()
            .any(|line| line.starts_with("daily_import ")),
        "{console}"
    );
    assert!(console.contains("items_processed_total"), "{console}");
}

#[test]
fn testing_captures_in_memory_and_writes_no_log_line() {
    let output = quickstart(&[("ENVIRONMENT", "testing")], &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(!text.lines().any(|line| line.starts_with('{')), "{text}");
    let summary = text.lines().next().expect("a summary");
    let captured: Vec<u64> = summary
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    assert!(summary.starts_with("captured in memory"), "{summary}");
    assert!(
        captured.len() == 3 && captured.iter().all(|&n| n > 10),
        "{summary}"
    );
    assert!(
        summary.ends_with("no endpoint"),
        "no socket opened: {summary}"
    );
    let (_, metrics) = split(&text);
    assert_eq!(
        value(
            &metrics,
            "pipeline_executions_total{pipeline_name=\"daily_import\",status=\"error\"}"
        ),
        1.0
    );
    assert!(
        !metrics.contains("process_resident_memory_bytes "),
        "no system sampler in testing"
    );
}

#[test]
fn a_bad_port_stops_the_program_with_the_variable_named() {
    let output = quickstart(&[("PROMETHEUS_PORT", "abc")], &[]);
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(
        said.contains("PROMETHEUS_PORT='abc' is not a port number"),
        "{said}"
    );
    assert!(stdout(&output).is_empty(), "nothing started");
}

#[test]
fn production_refuses_text_logs() {
    let output = quickstart(
        &[("ENVIRONMENT", "production"), ("JSON_LOGS", "false")],
        &[],
    );
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(
        said.contains("JSON logs cannot be turned off in production")
            && said.contains("JSON_LOGS='false'"),
        "{said}"
    );
}

#[test]
fn the_environment_is_read_in_order_of_precedence() {
    // RUST_LOG wins over LOG_LEVEL; both over the preset's INFO.
    let output = quickstart(
        &[
            ("ENVIRONMENT", "production"),
            ("PROMETHEUS_PORT", "0"),
            ("LOG_LEVEL", "error"),
            ("RUST_LOG", "warn"),
            ("SERVICE_NAME", "renamed"),
        ],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (lines, metrics) = split(&stdout(&output));
    assert!(!lines.is_empty());
    assert!(
        lines
            .iter()
            .all(|line| line["level"] == "WARN" || line["level"] == "ERROR"),
        "{lines:#?}"
    );
    line_with(&lines, "daily import failed");
    assert!(lines.iter().all(|line| line["service.name"] == "renamed"));
    assert!(metrics.contains("service_name=\"renamed\""), "{metrics}");
}

#[test]
fn a_panic_is_logged_with_its_trace_then_flushed() {
    let output = quickstart(
        &[("ENVIRONMENT", "production"), ("PROMETHEUS_PORT", "0")],
        &["--panic"],
    );
    assert_eq!(output.status.code(), Some(101), "{}", stderr(&output));
    let (lines, _) = split(&stdout(&output));
    let panic = lines
        .iter()
        .find(|line| line["level"] == "ERROR" && line["data"]["error.type"] == "panic")
        .unwrap_or_else(|| panic!("no panic line in {lines:#?}"));
    assert_eq!(panic["message"], "the storage driver lost its connection");
    let location = panic["data"]["panic.location"].as_str().unwrap();
    assert!(
        location.starts_with("examples/examples/quickstart.rs:"),
        "{location}"
    );
    // The frame is `quickstart::save` with full debug info, `save` with the
    // dev profile's line tables; its file names the example either way.
    assert!(
        panic["data"]["panic.backtrace"].as_str().is_some_and(|b| b
            .lines()
            .any(|frame| frame.trim_end().ends_with("save"))
            && b.contains("examples/quickstart.rs:")),
        "{panic}"
    );
    // The panic happened in the third run, inside its `save` step.
    let third_run = line_with(&lines, "fetched 400 rows from the legacy store");
    assert_eq!(panic["trace_id"], third_run["trace_id"]);
    assert_eq!(panic["data"]["step.name"], "save");
    // The previous hook still ran.
    assert!(
        stderr(&output).contains("panicked at"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn otlp_receives_the_traces_logs_and_metrics_of_the_run() {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let endpoint = format!("http://{}", agent.http);
    let output = quickstart(
        &[
            ("ENVIRONMENT", "production"),
            ("PROMETHEUS_PORT", "0"),
            ("OTLP_ENDPOINT", &endpoint),
        ],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let (lines, _) = split(&stdout(&output));
    assert_eq!(lines[0]["data"]["otlp"], endpoint.as_str());
    let loaded = line_with(&lines, "loaded");

    // Everything was exported before the program ended: dropping the guard
    // flushed the batches and pushed the metrics a last time.
    let traces = agent.received("traces", |v| v.to_string().contains("daily_import"));
    let exported: Vec<(String, String)> = items(&traces, "spans", "spans")
        .into_iter()
        .map(|(_, span)| {
            (
                span["name"].as_str().unwrap_or("").to_owned(),
                base64_to_hex(span["trace_id"].as_str().unwrap_or("")),
            )
        })
        .collect();
    assert_eq!(
        exported
            .iter()
            .filter(|(name, _)| name == "daily_import")
            .count(),
        3,
        "{exported:?}"
    );
    assert!(
        exported
            .iter()
            .any(|(name, trace)| name == "load" && trace == loaded["trace_id"].as_str().unwrap()),
        "the JSON line's trace id is the exported one: {loaded}\n{exported:?}"
    );
    let logs = agent.received("logs", |v| v.to_string().contains("quickstart finished"));
    assert!(logs.to_string().contains("daily import failed"));
    let metrics = agent.received("metrics", |v| {
        v.to_string().contains("pipeline_executions_total")
    });
    assert!(metrics.to_string().contains("span_calls_total"));
}

#[test]
fn serve_keeps_the_endpoint_up_until_stopped() {
    let (mut child, address) = serve_quickstart();
    // Scraped twice, as Prometheus would: the endpoint stays up.
    for _ in 0..2 {
        let response = get(address, "/metrics").expect("a scrape");
        assert!(
            response
                .body
                .contains("pipeline_executions_total{pipeline_name=\"daily_import\""),
            "{}",
            response.body
        );
    }
    assert!(child.try_wait().unwrap().is_none(), "still serving");
    child.kill().expect("stopped");
    child.wait().unwrap();
}

#[test]
fn a_bind_address_and_a_bearer_token_from_the_environment_guard_the_endpoint() {
    let (mut child, address) = serve_quickstart_with(&[
        ("PROMETHEUS_BIND", "127.0.0.1"),
        ("PROMETHEUS_BEARER_TOKEN", "scrape-t0ken"),
    ]);
    assert_eq!(address.ip(), std::net::Ipv4Addr::LOCALHOST);
    let refused = get(address, "/metrics").expect("an answer");
    assert_eq!(refused.status, 401, "{}", refused.body);
    assert!(!refused.body.contains("pipeline_executions_total"));
    let wrong =
        get_with(address, "/metrics", &[("Authorization", "Bearer nope")]).expect("an answer");
    assert_eq!(wrong.status, 401);
    let scrape = get_with(
        address,
        "/metrics",
        &[("Authorization", "Bearer scrape-t0ken")],
    )
    .expect("a scrape");
    assert_eq!(scrape.status, 200);
    assert!(
        scrape.body.contains("pipeline_executions_total"),
        "{}",
        scrape.body
    );
    child.kill().expect("stopped");
    child.wait().unwrap();
}

#[test]
fn a_malformed_basic_auth_stops_the_program_without_showing_it() {
    let output = quickstart(&[("PROMETHEUS_BASIC_AUTH", "no-colon-hunter2")], &[]);
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(
        said.contains("PROMETHEUS_BASIC_AUTH='[REDACTED]' is not user:password"),
        "{said}"
    );
    assert!(!said.contains("hunter2"), "{said}");
}
