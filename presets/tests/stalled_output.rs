//! A program whose standard output is a pipe that nobody reads (a stalled
//! log collector): logging, a panic and dropping the guard each wait a
//! bounded time, the lines lost are counted, and the program ends.
//!
//! The program is this test binary run again as a child process, with
//! `CHILD` set: telemetry is global, and the stalled pipe must be its real
//! standard output.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child process to what it should do.
const CHILD: &str = "AUTOTEL_STALLED_OUTPUT_CHILD";

/// More than the writer's buffer (1 MiB) and the pipe (64 KiB) hold.
const LINES: usize = 5_000;

/// The child: logs more than the pipe and the buffer hold, optionally
/// panics on a thread, then drops the guard and exits without the test
/// harness writing to its stalled output.
#[test]
#[ignore = "the child process of the tests below"]
fn child_logs_into_a_stalled_pipe() {
    let Ok(what) = std::env::var(CHILD) else {
        return;
    };
    let telemetry = autotel_presets::production("stalled")
        .prometheus_port(0)
        .without_otlp()
        .init();
    let padding = "x".repeat(200);
    for i in 0..LINES {
        tracing::info!(i, padding = %padding, "a line for a reader that never reads");
    }
    if what == "panic" {
        let panicked = std::thread::spawn(|| panic!("a panic with a stalled log output")).join();
        assert!(panicked.is_err());
    }
    let metrics = telemetry.metrics_text().expect("Prometheus is on");
    let counted = metrics.lines().any(|line| {
        line.starts_with("autotel_dropped_total{")
            && line.contains("reason=\"buffer_full\"")
            && line.contains("signal=\"logs\"")
    });
    drop(telemetry);
    // Exit now: the harness would write its report into the stalled pipe.
    std::process::exit(if counted { 0 } else { 3 });
}

/// Runs the child, never reading its standard output, and returns how long
/// it took to exit and its exit code.
fn run_child(what: &str) -> (Duration, Option<i32>, String) {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        if text.starts_with("OTEL_") || text == "OTLP_ENDPOINT" || text == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
    let start = Instant::now();
    let mut child = command
        .args([
            "child_logs_into_a_stalled_pipe",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD, what)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the child starts");
    // Kept open and never read: the pipe fills and stays full.
    let _stdout = child.stdout.take();
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    // Generous: start-up (up to 1 s), one producer wait (1 s), the panic
    // hook's flush (3 s), the guard's drop (5 s), and a loaded machine.
    let deadline = start + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the child did not exit within 30 s with a stalled standard output: \
                 something waits without bound"
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    drop(_stdout);
    let stderr = reader.join().expect("stderr is read");
    (elapsed, status.code(), stderr)
}

#[test]
fn dropping_the_guard_is_bounded_with_a_stalled_stdout() {
    let (elapsed, code, stderr) = run_child("drop");
    assert_eq!(
        code,
        Some(0),
        "lost lines are counted as buffer_full\n{stderr}"
    );
    assert!(
        elapsed < Duration::from_secs(20),
        "took {elapsed:?}: the guard's 5 s bound plus start-up and a wide margin"
    );
}

#[test]
fn a_panic_with_a_stalled_stdout_is_bounded() {
    let (elapsed, code, stderr) = run_child("panic");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("a panic with a stalled log output"),
        "the previous panic hook still runs:\n{stderr}"
    );
    assert!(
        elapsed < Duration::from_secs(25),
        "took {elapsed:?}: the panic hook's 3 s and the guard's 5 s bounds, \
         plus start-up and a wide margin"
    );
}
