//! The complete example: one line of setup, then a load / transform / save
//! pipeline instrumented with ordinary `tracing` spans.
//!
//! ```text
//! cargo run -p autotel-examples --example quickstart
//! ```
//!
//! It runs the pipeline three times (the last run fails in `save`), prints
//! its log lines as it goes, and ends by printing the Prometheus text it
//! serves on `/metrics`. The preset follows `ENVIRONMENT` (`production`,
//! `staging`, `development`, `testing`; development when unset in a debug
//! build), and every variable of the presets: `PROMETHEUS_PORT`,
//! `OTLP_ENDPOINT`, `LOG_LEVEL`, `JSON_LOGS`, `RUST_LOG`, ...
//!
//! ```text
//! ENVIRONMENT=production cargo run -p autotel-examples --example quickstart
//! cargo run -p autotel-examples --example quickstart -- --serve   # until Ctrl-C
//! ```
//!
//! With `--panic` the last run panics in `save`, to show the panic hook: the
//! panic is logged as an ERROR line with the trace ids of the run, then the
//! program ends as panics do.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use autotel_presets::autotel_layers::alloc::CountingAllocator;
use autotel_presets::autotel_layers::queue::record_queue_depth;
use tracing::{info, info_span, instrument, warn};

// Optional: counting allocations adds `process_heap_live_bytes`,
// `process_allocations_total`, `process_allocated_bytes_total` and each
// pipeline run's `pipeline_memory_bytes`, Rust's answer to GC metrics.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::system();

#[derive(Debug)]
struct SaveError(&'static str);

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for SaveError {}

/// A library that logs with the `log` crate, as many do.
mod legacy_client {
    pub fn fetch(rows: u64) -> Vec<u64> {
        log::info!("fetched {rows} rows from the legacy store");
        (0..rows).collect()
    }
}

#[instrument(fields(step.name = "load"))]
fn load(rows: u64) -> Vec<u64> {
    let data = legacy_client::fetch(rows);
    info!(items_processed = rows, "loaded");
    data
}

#[instrument(skip(data), fields(step.name = "transform"))]
fn transform(data: Vec<u64>) -> Vec<u64> {
    // One call to a pricing API per hundred rows, at $0.002 a call.
    let calls = data.len() as u64 / 100;
    info!(
        api_calls = calls,
        cost_usd = calls as f64 * 0.002,
        "enriched"
    );
    let out: Vec<u64> = data.into_iter().map(|x| x * 2).collect();
    info!(items_processed = out.len() as u64, "transformed");
    out
}

#[instrument(
    skip(data),
    err,
    fields(step.name = "save", error.type = tracing::field::Empty)
)]
fn save(data: &[u64], fail: Failure) -> Result<(), SaveError> {
    match fail {
        Failure::None => {
            info!(items_processed = data.len() as u64, "saved");
            Ok(())
        }
        Failure::DiskFull => {
            tracing::Span::current().record("error.type", "disk_full");
            Err(SaveError("no space left on device"))
        }
        Failure::Panic => panic!("the storage driver lost its connection"),
    }
}

#[derive(Debug, Clone, Copy)]
enum Failure {
    None,
    DiskFull,
    Panic,
}

fn run_pipeline(rows: u64, fail: Failure) {
    let _run = info_span!("daily_import", pipeline.name = "daily_import").entered();
    // The rows waiting to be loaded: `pipeline_queue_depth`, which the
    // AutotelPipelineQueueGrowing alert watches.
    record_queue_depth("daily_import", rows);
    let data = load(rows);
    record_queue_depth("daily_import", 0);
    let data = transform(data);
    if let Err(error) = save(&data, fail) {
        warn!(%error, "daily import failed");
    }
}

fn main() {
    let telemetry = autotel_presets::from_env("quickstart")
        .service_version(env!("CARGO_PKG_VERSION"))
        .init();

    let panic = std::env::args().any(|arg| arg == "--panic");
    let last = if panic {
        Failure::Panic
    } else {
        Failure::DiskFull
    };
    for (rows, fail) in [(1_000, Failure::None), (2_500, Failure::None), (400, last)] {
        run_pipeline(rows, fail);
    }

    if std::env::args().any(|arg| arg == "--serve") {
        serve(&telemetry);
    }

    // Lines so far out first, then the metrics.
    telemetry.flush();
    if let Some(run) = telemetry.captured() {
        let lines = telemetry.captured_logs();
        let endpoint = match telemetry.prometheus_address() {
            Some(address) => format!("endpoint {address}"),
            None => "no endpoint".to_owned(),
        };
        println!(
            "captured in memory: {} log lines, {} spans, {} events; {endpoint}",
            lines.len(),
            run.spans().len(),
            run.events().len()
        );
    }
    let text = match telemetry.prometheus_address() {
        Some(address) => scrape(address).expect("the endpoint answers"),
        None => telemetry.metrics_text().unwrap_or_default(),
    };
    // A reader that has gone (`quickstart | head -n 2`) is not worth a
    // panic: the program finishes as it would have.
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
    drop(stdout);
    info!("quickstart finished");
    // Dropping `telemetry` here writes out the last line and stops everything.
}

/// Runs the pipeline every few seconds while `/metrics` is served.
fn serve(telemetry: &autotel_presets::TelemetryGuard) -> ! {
    match telemetry.prometheus_address() {
        Some(address) => eprintln!(
            "serving http://{}/metrics, Ctrl-C to stop",
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), address.port())
        ),
        None => eprintln!("no Prometheus endpoint in this environment; Ctrl-C to stop"),
    }
    let mut round = 0u64;
    loop {
        std::thread::sleep(Duration::from_secs(5));
        round += 1;
        let fail = if round.is_multiple_of(4) {
            Failure::DiskFull
        } else {
            Failure::None
        };
        run_pipeline(500 + round % 7 * 100, fail);
    }
}

/// `GET /metrics` from the program's own endpoint.
fn scrape(address: SocketAddr) -> std::io::Result<String> {
    let local = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), address.port());
    let mut stream = TcpStream::connect_timeout(&local, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response
        .split_once("\r\n\r\n")
        .map_or(response.as_str(), |(_, body)| body)
        .to_owned())
}
