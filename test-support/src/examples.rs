//! Running the example binaries of `autotel-examples`, which `cargo test
//! --all-targets` builds next to the test binaries, and reading where the
//! ones that serve `/metrics` listen.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A command that runs the example binary `name`, built alongside the tests,
/// with none of the variables that configure telemetry set.
///
/// # Panics
///
/// When the example is not built.
pub fn example(name: &str) -> Command {
    let mut path = std::env::current_exe().expect("the test binary has a path");
    path.pop(); // deps
    path.pop(); // the profile folder
    let binary = find_binary(&path.join("examples"), name).unwrap_or_else(|| {
        panic!(
            "the {name} example is not built: run the tests with `cargo test --all-targets`, \
             which builds the examples"
        )
    });
    let mut command = Command::new(binary);
    for (variable, _) in std::env::vars_os() {
        let name = variable.to_string_lossy();
        let telemetry = name.starts_with("OTEL_")
            || name == "RUST_BACKTRACE"
            || autotel_exporters::env::VARIABLES.contains(&name.as_ref());
        if telemetry {
            command.env_remove(&variable);
        }
    }
    command
}

/// The newest build of example `name` in `dir`: `name` as `cargo build
/// --example` leaves it, or `name-HASH` as `cargo test` does.
fn find_binary(dir: &Path, name: &str) -> Option<PathBuf> {
    let prefix = format!("{name}-");
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .filter(|entry| {
            let file = entry.file_name();
            let file = file.to_string_lossy();
            file == name
                || file
                    .strip_prefix(&prefix)
                    .is_some_and(|hash| hash.chars().all(|c| c.is_ascii_hexdigit()))
        })
        .max_by_key(|entry| entry.metadata().and_then(|m| m.modified()).ok())
        .map(|entry| entry.path())
}

/// Runs `quickstart --serve` in production with any free port and returns it
/// with the address it serves `/metrics` on.
///
/// # Panics
///
/// When the example does not start or does not say where it serves.
pub fn serve_quickstart() -> (Child, SocketAddr) {
    serve_quickstart_with(&[])
}

/// [`serve_quickstart`] with more environment variables.
///
/// # Panics
///
/// When the example does not start or does not say where it serves.
pub fn serve_quickstart_with(vars: &[(&str, &str)]) -> (Child, SocketAddr) {
    serve_example("quickstart", vars)
}

/// Runs `benchmark --serve`, which serves its result on `/metrics` after
/// benchmarking, with any free port; returns it with that address.
///
/// # Panics
///
/// When the example does not start or does not say where it serves.
pub fn serve_benchmark() -> (Child, SocketAddr) {
    serve_example("benchmark", &[])
}

/// Runs example `name` with `--serve` in production with any free port and
/// `vars`, and returns it with the address it names in its first line on
/// standard error, `serving http://ADDRESS/metrics`.
///
/// # Panics
///
/// When the example does not start or does not say where it serves.
fn serve_example(name: &str, vars: &[(&str, &str)]) -> (Child, SocketAddr) {
    let mut child = example(name)
        .envs([("ENVIRONMENT", "production"), ("PROMETHEUS_PORT", "0")])
        .envs(vars.iter().copied())
        .arg("--serve")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr
        .read_line(&mut first)
        .unwrap_or_else(|e| panic!("{name} does not say where it serves: {e}"));
    let address = first
        .strip_prefix("serving http://")
        .and_then(|rest| rest.split('/').next())
        .and_then(|address| address.parse().ok())
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    // Keep reading, so that the example never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, address)
}

/// Runs `self_monitoring --serve` in production with any free port: an OTLP
/// collector that is down, values cut and a series cap exceeded, every few
/// seconds. Returns it with the address it serves `/metrics` on.
///
/// # Panics
///
/// When the example does not start or does not say where it serves.
pub fn serve_self_monitoring() -> (Child, SocketAddr) {
    serve_example("self_monitoring", &[])
}

/// Runs `http_service --serve --traffic` in production with free ports: the
/// service sends itself requests while it serves them. Returns it with the
/// address it serves `/metrics` on.
///
/// # Panics
///
/// When the example does not start or does not say where it serves.
pub fn serve_http_traffic() -> (Child, SocketAddr) {
    serve_traffic("http_service", "HTTP_PORT")
}

/// Runs `grpc_greeter --serve --traffic` in production with free ports: the
/// greeter's client calls its server while it serves. Returns it with the
/// address it serves `/metrics` on.
///
/// # Panics
///
/// When the example does not start or does not say where it serves.
pub fn serve_grpc_traffic() -> (Child, SocketAddr) {
    serve_traffic("grpc_greeter", "GRPC_PORT")
}

/// Runs example `name` with `--serve --traffic` in production, with any free
/// port for its metrics and for the service (the variable `port_variable`);
/// returns it with the address it names on standard error in a line
/// `metrics on http://ADDRESS/metrics`.
fn serve_traffic(name: &str, port_variable: &str) -> (Child, SocketAddr) {
    let mut child = example(name)
        .envs([
            ("ENVIRONMENT", "production"),
            ("PROMETHEUS_PORT", "0"),
            (port_variable, "0"),
        ])
        .args(["--serve", "--traffic"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let metrics = loop {
        line.clear();
        if stderr.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("{name} ended before saying where it serves its metrics");
        }
        if let Some(address) = line
            .trim()
            .strip_prefix("metrics on http://")
            .and_then(|rest| rest.split('/').next())
            .and_then(|address| address.parse().ok())
        {
            break address;
        }
    };
    // Keep reading, so that the service never blocks on a full pipe.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    (child, metrics)
}

/// A running example that serves (`http_service --serve` or `grpc_greeter
/// --serve`): where it serves and where its `/metrics` are, and the lines it
/// writes on standard output; killed when dropped.
#[derive(Debug)]
pub struct Service {
    child: Child,
    /// Standard output, one line at a time (JSON log lines in production).
    pub lines: mpsc::Receiver<String>,
    /// Where it serves HTTP or gRPC.
    pub address: SocketAddr,
    /// Where it serves `/metrics`.
    pub metrics: SocketAddr,
}

impl Service {
    /// Runs `http_service --serve` in production with free ports and `vars`,
    /// and waits until it says where it serves.
    ///
    /// # Panics
    ///
    /// When the example does not start or ends before saying where it
    /// serves.
    pub fn http(vars: &[(&str, &str)]) -> Self {
        Self::start("http_service", "HTTP_PORT", "serving http://", vars)
    }

    /// Runs `grpc_greeter --serve` (the greeter's server alone) in
    /// production with free ports and `vars`, and waits until it says where
    /// it serves.
    ///
    /// # Panics
    ///
    /// When the example does not start or ends before saying where it
    /// serves.
    pub fn grpc_greeter(vars: &[(&str, &str)]) -> Self {
        Self::start("grpc_greeter", "GRPC_PORT", "serving grpc://", vars)
    }

    /// Runs example `name` with `--serve`, any free port in `port_variable`
    /// and for its metrics, and reads its addresses from the lines
    /// `{serving}ADDRESS` and `metrics on http://ADDRESS/metrics` on
    /// standard error.
    fn start(name: &str, port_variable: &str, serving: &str, vars: &[(&str, &str)]) -> Self {
        let mut child = example(name)
            .envs([
                ("ENVIRONMENT", "production"),
                ("PROMETHEUS_PORT", "0"),
                (port_variable, "0"),
            ])
            .envs(vars.iter().copied())
            .arg("--serve")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let (mut address, mut metrics) = (None, None);
        let mut line = String::new();
        while address.is_none() || metrics.is_none() {
            line.clear();
            if stderr.read_line(&mut line).unwrap_or(0) == 0 {
                panic!("{name} ended before saying where it serves");
            }
            address = address.or(address_after(line.trim(), serving));
            metrics = metrics.or(address_after(line.trim(), "metrics on http://"));
        }
        // Keep reading, so that the service never blocks on a full pipe.
        std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            address: address.unwrap(),
            metrics: metrics.unwrap(),
        }
    }

    /// The JSON log lines written so far and within `wait` more, until
    /// `done` accepts the ones collected.
    ///
    /// # Panics
    ///
    /// When `done` accepts nothing within `wait`.
    pub fn json_lines_until(
        &self,
        wait: Duration,
        mut done: impl FnMut(&[serde_json::Value]) -> bool,
    ) -> Vec<serde_json::Value> {
        let deadline = std::time::Instant::now() + wait;
        let mut seen = Vec::new();
        while !done(&seen) {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("the log lines expected did not come: {seen:#?}"));
            if let Ok(json) = serde_json::from_str(&line) {
                seen.push(json);
            }
        }
        seen
    }

    /// Stops the service now.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The address after `prefix` in a line such as `serving http://ADDRESS/...`.
fn address_after(line: &str, prefix: &str) -> Option<SocketAddr> {
    line.strip_prefix(prefix)?
        .split(['/', ','])
        .next()?
        .parse()
        .ok()
}
