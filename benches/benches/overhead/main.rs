//! What a whole program pays for its telemetry: the production preset
//! against no subscriber and against the stack people assemble by hand,
//! on a pipeline of CPU-bound steps and on an axum service.
//!
//! Each set-up needs its own global subscriber and recorder, so this bench
//! re-runs itself as a child process per set-up and round, and reads the
//! child's wall and process CPU time (every thread, from `getrusage`). OTLP
//! goes to a sink in this (parent) process that counts and discards.
//!
//! `cargo bench -p autotel-benches --bench overhead` prints a table, writes
//! `target/overhead/results.json` and `target/overhead/overhead.svg`.
//! Without `--bench` (as `cargo test --all-targets` runs it) it makes one
//! short round, checks that every set-up emitted what it should, and writes
//! `test-results.json` and `test-overhead.svg` (figures too short to read).

mod report;
mod setups;
mod sink;
mod workloads;

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use setups::{SETUPS, Setup};
use workloads::Load;

const SETUP_VAR: &str = "AUTOTEL_OVERHEAD_SETUP";
const SINK_VAR: &str = "AUTOTEL_OVERHEAD_SINK";
const SPIN_VAR: &str = "AUTOTEL_OVERHEAD_SPIN_PER_US";
const RUNS_VAR: &str = "AUTOTEL_OVERHEAD_RUNS";
const LOAD_VAR: &str = "AUTOTEL_OVERHEAD_LOAD";
const OUT_VAR: &str = "AUTOTEL_OVERHEAD_OUT";

/// Step sizes of the pipeline workload, in microseconds of work.
const WORK_US: [u64; 2] = [10, 100];

/// How long and how often: a full bench, or a quick check.
#[derive(Debug, Clone, Copy)]
struct Mode {
    full: bool,
    rounds: usize,
    /// Pipeline runs per step size.
    runs: [u64; 2],
    load: Load,
}

fn main() {
    if let Ok(name) = std::env::var(SETUP_VAR) {
        child(&name);
        return;
    }
    let mode = if std::env::args().any(|arg| arg == "--bench") {
        Mode {
            full: true,
            rounds: 5,
            runs: [3000, 400],
            load: Load {
                requests: 20_000,
                time: Duration::from_secs(3),
                connections: 4,
            },
        }
    } else {
        Mode {
            full: false,
            rounds: 1,
            runs: [60, 10],
            load: Load {
                requests: 200,
                time: Duration::from_secs(1),
                connections: 2,
            },
        }
    };
    parent(mode);
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set by the parent"))
}

/// One set-up in this process: install, run the workloads, write the
/// results to the file the parent named, then stop (which flushes).
fn child(name: &str) {
    let sink: SocketAddr = var(SINK_VAR).parse().expect("a socket address");
    let per_us: f64 = var(SPIN_VAR).parse().expect("a number");
    let runs: Vec<u64> = var(RUNS_VAR)
        .split(',')
        .map(|n| n.parse().expect("a number"))
        .collect();
    let load: Vec<u64> = var(LOAD_VAR)
        .split(',')
        .map(|n| n.parse().expect("a number"))
        .collect();
    let setup = find(name);
    let running = setups::install(name, sink);
    let pipeline: Vec<Value> = WORK_US
        .iter()
        .zip(&runs)
        .map(|(&us, &runs)| {
            let iterations = (per_us * us as f64).round() as u64;
            workloads::measure_pipeline(us, iterations, runs, &*running.flush)
        })
        .collect();
    let http = setup.http.then(|| {
        let router = axum::Router::new().route(
            "/hello/{name}",
            axum::routing::get(|| async { "Hello, world!" }),
        );
        let load = Load {
            requests: load[0] as usize,
            time: Duration::from_millis(load[1]),
            connections: load[2] as usize,
        };
        workloads::measure_http((running.router)(router), load)
    });
    let scrape = (running.scrape)();
    let result = json!({
        "setup": name,
        "pipeline": pipeline,
        "http": http,
        "scrape_bytes": scrape.len(),
        "scrape_has_span_metrics": scrape.contains("span_duration_seconds"),
    });
    std::fs::write(var(OUT_VAR), result.to_string()).expect("the results file is writable");
    drop(running.guards);
}

fn find(name: &str) -> Setup {
    *SETUPS
        .iter()
        .find(|setup| setup.name == name)
        .unwrap_or_else(|| panic!("no set-up is named {name}"))
}

/// Where results go: `target/overhead` of the workspace.
fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/overhead");
    std::fs::create_dir_all(&dir).expect("target/overhead can be created");
    dir
}

fn parent(mode: Mode) {
    let sink = sink::start();
    let per_us = workloads::calibrate();
    let dir = out_dir();
    let mut results: Vec<Vec<Value>> = vec![Vec::new(); SETUPS.len()];
    // For profiling one set-up: `AUTOTEL_OVERHEAD_ONLY=preset` runs that
    // one alone, and reports nothing.
    let only = std::env::var("AUTOTEL_OVERHEAD_ONLY").ok();
    for round in 0..mode.rounds {
        for (i, setup) in SETUPS.iter().enumerate() {
            if only.as_ref().is_some_and(|only| only != setup.name) {
                continue;
            }
            let before = sink.counts.snapshot();
            let mut result = run_child(setup, &mode, per_us, sink.address, &dir);
            let after = sink.counts.snapshot();
            let received: serde_json::Map<String, Value> = sink::SIGNALS
                .iter()
                .enumerate()
                .map(|(s, signal)| {
                    let (requests, bytes) = (
                        after[s].requests - before[s].requests,
                        after[s].bytes - before[s].bytes,
                    );
                    (
                        signal.to_string(),
                        json!({"requests": requests, "bytes": bytes}),
                    )
                })
                .collect();
            result["received"] = Value::Object(received);
            check(setup, &result);
            eprintln!("round {round}, {}: done", setup.name);
            results[i].push(result);
        }
    }
    if only.is_none() {
        report::report(&results, per_us, mode.full, &dir);
    }
}

/// Runs one set-up in a child process and returns its results, with the
/// number of log lines it wrote when they were counted (not in full mode,
/// where they go to `/dev/null`).
fn run_child(setup: &Setup, mode: &Mode, per_us: f64, sink: SocketAddr, dir: &Path) -> Value {
    let out = dir.join(format!("child-{}.json", setup.name));
    let _ = std::fs::remove_file(&out);
    let mut command = Command::new(std::env::current_exe().expect("the bench knows its path"));
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let read_by_autotel = [
            "OTEL_",
            "OTLP_",
            "PROMETHEUS_",
            "STATSD_",
            "DD_",
            "AWS_EMF_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || [
                "RUST_LOG",
                "LOG_LEVEL",
                "JSON_LOGS",
                "ENVIRONMENT",
                "SERVICE_NAME",
            ]
            .contains(&name.as_ref());
        if read_by_autotel {
            command.env_remove(name.as_ref());
        }
    }
    command
        .env(SETUP_VAR, setup.name)
        .env(SINK_VAR, sink.to_string())
        .env(SPIN_VAR, per_us.to_string())
        .env(RUNS_VAR, format!("{},{}", mode.runs[0], mode.runs[1]))
        .env(
            LOAD_VAR,
            format!(
                "{},{},{}",
                mode.load.requests,
                mode.load.time.as_millis(),
                mode.load.connections
            ),
        )
        .env(OUT_VAR, &out)
        .stdin(Stdio::null())
        .stdout(if mode.full {
            Stdio::null()
        } else {
            Stdio::piped()
        });
    let mut child = command.spawn().expect("the child process starts");
    let lines = child.stdout.take().map(|mut stdout| {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text.iter().filter(|&&b| b == b'\n').count()
    });
    let status = child.wait().expect("the child process ends");
    assert!(
        status.success(),
        "the {} set-up failed: {status}",
        setup.name
    );
    let text = std::fs::read_to_string(&out).expect("the child wrote its results");
    let mut result: Value = serde_json::from_str(&text).expect("the results are JSON");
    result["lines"] = json!(lines);
    result
}

/// Checks that a set-up did what it is there for, so that a cheap figure
/// cannot come from a set-up that silently did nothing.
fn check(setup: &Setup, result: &Value) {
    let name = setup.name;
    if let Some(lines) = result["lines"].as_u64() {
        assert_eq!(
            lines > 0,
            setup.writes_lines,
            "{name}: {lines} log lines written"
        );
        if setup.writes_lines {
            let per_step = 2 * workloads::STEPS as u64;
            assert!(lines >= per_step, "{name}: only {lines} log lines written");
        }
    }
    let received = |signal: &str| result["received"][signal]["requests"].as_u64().unwrap_or(0);
    assert_eq!(
        received("traces") > 0,
        setup.exports_spans,
        "{name}: {} trace requests reached the sink",
        received("traces")
    );
    assert_eq!(
        received("logs") > 0,
        setup.exports_logs,
        "{name}: {} log requests reached the sink",
        received("logs")
    );
    if name != "none" {
        assert!(
            result["scrape_has_span_metrics"].as_bool() == Some(true),
            "{name}: the scrape has no span_duration_seconds ({} bytes)",
            result["scrape_bytes"]
        );
    }
    if setup.http {
        let requests = result["http"]["requests"].as_u64().unwrap_or(0);
        assert!(requests > 0, "{name}: the service answered no request");
    }
}
