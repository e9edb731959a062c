//! Benchmarks the pipeline of the `data_pipeline` example: 50 runs after a
//! warm-up, with their wall time, CPU time and allocations, and exports the
//! result as `benchmark_*` metrics.
//!
//! ```text
//! cargo run --release -p autotel-examples --example benchmark
//! ```
//!
//! It prints the result as a table (with a progress bar while it runs, on a
//! terminal), then the `benchmark_*` lines of the Prometheus text. With
//! `-- --serve` it keeps serving them on `/metrics` (port `PROMETHEUS_PORT`,
//! 9464 by default; 0 for any free port) until Ctrl-C, for Prometheus to
//! scrape and the pipelines dashboard's benchmark row to show.

use std::net::Ipv4Addr;

use autotel_examples::pipeline::{API_CALL_COST_USD, ROWS_PER_API_CALL, run_pipeline};
use autotel_exporters::prometheus::Prometheus;
use autotel_layers::SpanMetricsLayer;
use autotel_layers::alloc::CountingAllocator;
use autotel_layers::benchmark::BenchmarkRunner;
use tracing_subscriber::prelude::*;

// Counting allocations gives each iteration's allocated bytes.
#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator::system();

const ITERATIONS: u64 = 50;
const ROWS: u64 = 1_000;

fn main() {
    let serve = std::env::args().any(|arg| arg == "--serve");
    let port = match std::env::var("PROMETHEUS_PORT") {
        Ok(text) => text.parse::<u16>().unwrap_or_else(|_| {
            eprintln!("PROMETHEUS_PORT='{text}' is not a port number (0-65535).");
            std::process::exit(2);
        }),
        Err(_) => 9464,
    };
    let prometheus = if serve {
        Prometheus::new().with_listen_address((Ipv4Addr::LOCALHOST, port))
    } else {
        Prometheus::new().without_listener()
    };
    let (recorder, server) = prometheus.build().unwrap_or_else(|error| {
        eprintln!("The Prometheus endpoint could not start: {error}");
        std::process::exit(1);
    });
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder).expect("no other recorder is installed");
    tracing_subscriber::registry()
        .with(SpanMetricsLayer::new())
        .init();

    let result = BenchmarkRunner::new()
        .with_iterations(ITERATIONS as usize)
        .expect("50 is a number of iterations")
        .run("daily_import", || {
            run_pipeline(ROWS, false).expect("the pipeline succeeds");
        });
    // Each run loads ROWS rows and calls the pricing API once per hundred.
    let api_calls = ITERATIONS * (ROWS / ROWS_PER_API_CALL);
    let result = result
        .with_items_processed(ITERATIONS * ROWS)
        .with_cost_tracking(api_calls, api_calls as f64 * API_CALL_COST_USD);
    print!("{result}");
    result.export();

    if serve {
        if let Some(address) = server.local_addr() {
            eprintln!("serving http://{address}/metrics, Ctrl-C to stop");
        }
        loop {
            std::thread::park();
        }
    }
    for line in metrics.render().lines() {
        if line.starts_with("benchmark_") {
            println!("{line}");
        }
    }
}
