//! The quickstart with an output whose reader goes away after two lines
//! (`quickstart 2>&1 | head -n 2`): it exits promptly, and nothing panics.

use autotel_test_support::examples::example;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Far above what the quickstart needs (about a second), far below the
/// 13 s it took when the log writer panicked on the closed pipe.
const BOUND: Duration = Duration::from_secs(10);

/// Waits for `child` at most [`BOUND`]; kills it and fails past that.
fn wait_bounded(child: &mut Child, start: Instant) -> ExitStatus {
    loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            return status;
        }
        if start.elapsed() > BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the quickstart did not exit within {BOUND:?} once its reader had gone");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn piped_into_head_it_exits_promptly() {
    let quickstart = example("quickstart");
    // The shell runs the pipeline as a user types it, with the variables
    // that configure telemetry removed as for every example test.
    let mut shell = Command::new("sh");
    for (name, value) in quickstart.get_envs() {
        match value {
            Some(value) => shell.env(name, value),
            None => shell.env_remove(name),
        };
    }
    let start = Instant::now();
    let mut child = shell
        .arg("-c")
        .arg("\"$0\" 2>&1 | head -n 2")
        .arg(quickstart.get_program())
        .envs([("ENVIRONMENT", "production"), ("PROMETHEUS_PORT", "0")])
        .stdout(Stdio::piped())
        .spawn()
        .expect("sh runs");
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let status = wait_bounded(&mut child, start);
    let mut output = String::new();
    stdout
        .read_to_string(&mut output)
        .expect("the output is text");
    assert!(status.success(), "{status}: {output}");
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 2, "{output}");
    for line in lines {
        let line: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
        assert_eq!(line["service.name"], "quickstart");
    }
}

#[test]
fn a_closed_stdout_is_no_panic_and_is_reported_once() {
    let start = Instant::now();
    let mut child = example("quickstart")
        .envs([("ENVIRONMENT", "production"), ("PROMETHEUS_PORT", "0")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("quickstart starts");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    {
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        for _ in 0..2 {
            let mut line = String::new();
            stdout.read_line(&mut line).expect("a line");
            assert!(line.starts_with('{'), "a JSON line: {line}");
        }
        // Dropping the reader closes the pipe, as `head` does.
    }
    let status = wait_bounded(&mut child, start);
    let errors = errors.join().expect("stderr is read");
    assert!(status.success(), "{status}: {errors}");
    assert!(!errors.contains("panicked"), "{errors}");
    let reports = errors
        .lines()
        .filter(|line| line.starts_with("autotel: the log writer could not write"))
        .count();
    assert!(reports <= 1, "one report per kind of error: {errors}");
}
