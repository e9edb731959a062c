//! The system sampler of a preset measures a tokio runtime: the one `init()`
//! runs in, or the one given to `with_tokio_runtime` by a program that
//! initialises telemetry first; outside a runtime, none.
//!
//! Telemetry is global, so each case runs in a child process: this test
//! binary, running only [`child`], with `CHILD` naming the case.

use std::process::Command;

/// Set in the child process to the case it runs.
const CHILD: &str = "AUTOTEL_TOKIO_RUNTIME_CHILD";

/// Worker threads of the runtime under test: not the machine's core count.
const WORKERS: usize = 3;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .build()
        .expect("a tokio runtime")
}

fn preset() -> autotel_presets::Preset {
    autotel_presets::production("tokio-runtime")
        .prometheus_port(0)
        .without_otlp()
        .log_level("warn")
}

/// The program under test; it prints the Prometheus text after `init()`,
/// which waits for the sampler's first sample.
#[test]
#[ignore = "run by the other tests of this file, in a child process"]
fn child() {
    let Ok(case) = std::env::var(CHILD) else {
        return;
    };
    let runtime = runtime();
    let telemetry = match case.as_str() {
        "inside" => runtime.block_on(async { preset().init() }),
        "given" => preset().with_tokio_runtime(runtime.handle().clone()).init(),
        "outside" => preset().init(),
        _ => panic!("no case {case}"),
    };
    let text = telemetry.metrics_text().expect("Prometheus is on");
    println!("<metrics>\n{text}</metrics>");
}

/// Runs [`child`] for `case`; the Prometheus text it printed.
fn metrics_of(case: &str) -> String {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    for (name, _) in std::env::vars_os() {
        let text = name.to_string_lossy();
        let ours = ["SERVICE_", "ENVIRONMENT", "PROMETHEUS_", "OTLP_", "OTEL_"];
        if ours.iter().any(|prefix| text.starts_with(prefix)) || text == "RUST_LOG" {
            command.env_remove(&name);
        }
    }
    let output = command
        .args(["--exact", "child", "--include-ignored", "--nocapture"])
        .env(CHILD, case)
        .output()
        .expect("the child runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the {case} child failed: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let start = stdout.find("<metrics>\n").expect("the metrics") + "<metrics>\n".len();
    let end = stdout[start..]
        .find("</metrics>")
        .expect("the end of the metrics")
        + start;
    stdout[start..end].to_owned()
}

/// The value of the series named `name`, without labels.
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|line| {
        let (series, value) = line.split_once(' ')?;
        (series == name).then(|| value.trim().parse().ok())?
    })
}

#[test]
fn a_preset_initialised_inside_a_runtime_samples_it() {
    let text = metrics_of("inside");
    assert_eq!(
        value(&text, "tokio_workers"),
        Some(WORKERS as f64),
        "{text}"
    );
    assert!(value(&text, "tokio_alive_tasks").is_some(), "{text}");
    assert!(value(&text, "tokio_global_queue_depth").is_some(), "{text}");
}

#[test]
fn a_preset_given_a_runtime_samples_it() {
    let text = metrics_of("given");
    assert_eq!(
        value(&text, "tokio_workers"),
        Some(WORKERS as f64),
        "{text}"
    );
}

#[test]
fn a_preset_initialised_outside_a_runtime_samples_none() {
    let text = metrics_of("outside");
    assert!(!text.contains("tokio_"), "{text}");
    assert!(value(&text, "process_threads").is_some(), "{text}");
}
