//! A short run of the soak example: it drives load with every exporter on,
//! reports memory, drops and export errors, and ends cleanly.

use autotel_test_support::examples::example;
use serde_json::Value;

/// The `key=value` figures of a report line.
fn figure(line: &str, key: &str) -> f64 {
    line.split_whitespace()
        .find_map(|word| word.strip_prefix(&format!("{key}="))?.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

#[test]
fn a_short_soak_reports_and_loses_nothing() {
    let otlp = std::env::var_os("AUTOTEL_TEST_AGENT_BIN").is_some();
    let mut command = example("soak");
    command.args(["--seconds", "4", "--rate", "20"]);
    if !otlp {
        command.env_remove("AUTOTEL_TEST_AGENT_BIN");
    }
    let output = command.output().expect("the soak example runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "soak failed:\n{stderr}");

    let report = stderr
        .lines()
        .find(|line| line.starts_with("soak t="))
        .unwrap_or_else(|| panic!("no report line in:\n{stderr}"));
    assert!(figure(report, "rss_mib") > 1.0, "{report}");
    let done = stderr
        .lines()
        .find(|line| line.starts_with("soak done:"))
        .unwrap_or_else(|| panic!("no summary in:\n{stderr}"));
    let requests = figure(done, "requests");
    assert!(requests >= 4.0, "{done}");
    assert_eq!(figure(done, "iterations"), requests, "{done}");
    assert_eq!(figure(done, "http_failures"), 0.0, "{done}");
    assert_eq!(figure(done, "dropped"), 0.0, "{done}");
    if otlp {
        assert!(stderr.contains("OTLP http://127.0.0.1:"), "{stderr}");
        assert_eq!(figure(done, "export_errors"), 0.0, "{done}");
    } else {
        assert!(stderr.contains("OTLP off"), "{stderr}");
    }

    // The JSON logs: one object per line, with the events of the load.
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 logs");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let messages = |text: &str| lines.iter().filter(|l| l["message"] == text).count();
    assert!(
        messages("step done") as f64 >= 3.0 * requests,
        "{stdout:.2000}"
    );
    assert!(messages("found user") >= 1, "{stdout:.2000}");
    assert!(messages("iteration failed on purpose") >= 1);
}
