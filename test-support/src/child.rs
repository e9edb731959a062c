//! Running one test of the current test binary in a child process, for
//! telemetry that installs globals or reads real environment variables.

use std::process::Command;

/// Runs the ignored test `name` of this test binary in a child process, with
/// `vars` set and every variable for which `unset` is true removed; what it
/// printed. Telemetry that installs globals, or reads real variables, runs
/// there without touching the process that runs the other tests.
///
/// # Panics
///
/// When the child does not pass its one test.
pub fn run_test_in_child(
    name: &str,
    vars: &[(&str, &str)],
    unset: impl Fn(&str) -> bool,
) -> String {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    command.args([
        "--exact",
        name,
        "--include-ignored",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (var, _) in std::env::vars_os() {
        let var = var.to_string_lossy().into_owned();
        if unset(&var) {
            command.env_remove(&var);
        }
    }
    let output = command
        .envs(vars.iter().copied())
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
