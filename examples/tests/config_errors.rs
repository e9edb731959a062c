//! Configuration the quickstart must refuse, or still explain: a variable
//! that is not UTF-8, a misspelt level in `RUST_LOG`, and a filter that
//! would hide the start line.

use autotel_test_support::examples::example;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::Output;

fn quickstart(vars: &[(&str, OsString)]) -> Output {
    example("quickstart")
        .env("PROMETHEUS_PORT", "0")
        .envs(vars.iter().map(|(name, value)| (name, value)))
        .output()
        .expect("quickstart runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_variable_that_is_not_utf8_stops_the_program_with_its_name() {
    let output = quickstart(&[(
        "SERVICE_NAME",
        OsString::from_vec(b"caf\xe9-latin1".to_vec()),
    )]);
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(
        said.contains("SERVICE_NAME='caf\u{fffd}-latin1' is not valid UTF-8 text"),
        "{said}"
    );
    assert!(output.stdout.is_empty(), "nothing started");
}

#[test]
fn a_misspelt_level_in_rust_log_stops_the_program_with_a_suggestion() {
    let output = quickstart(&[("RUST_LOG", "inf0".into())]);
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(
        said.contains("RUST_LOG='inf0' is not a log level")
            && said.contains("Did you mean 'info'?"),
        "{said}"
    );
    assert!(output.stdout.is_empty(), "nothing started");
}

#[test]
fn a_filter_of_other_targets_still_logs_the_start_line() {
    let output = quickstart(&[
        ("ENVIRONMENT", "production".into()),
        ("RUST_LOG", "some_other_crate=debug".into()),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8(output.stdout).expect("UTF-8");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).expect("JSON"))
        .collect();
    assert_eq!(lines.len(), 1, "only the start line: {stdout}");
    assert_eq!(lines[0]["message"], "telemetry started");
    assert_eq!(lines[0]["data"]["log_filter"], "some_other_crate=debug");
}

#[test]
fn a_service_name_of_100_kb_stops_the_program_with_its_name() {
    let output = quickstart(&[("SERVICE_NAME", "n".repeat(100_000).into())]);
    assert!(!output.status.success());
    let said = stderr(&output);
    assert!(
        said.contains(&format!(
            "SERVICE_NAME='{}... (100000 bytes)' is longer than 256 bytes",
            "n".repeat(32)
        )),
        "{said}"
    );
    assert!(said.len() < 2_000, "the error does not repeat the value");
    assert!(output.stdout.is_empty(), "nothing started");
}
