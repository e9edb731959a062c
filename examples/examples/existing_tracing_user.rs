//! An application that already uses `tracing_subscriber::fmt` and a `metrics`
//! recorder adds RED metrics for every span with one line.
//!
//! ```text
//! cargo run -p autotel-examples --example existing_tracing_user
//! ```
//!
//! Its logs go to stderr as before; at the end it prints the Prometheus text
//! of its metrics on stdout. With `--json` the logs are JSON lines from
//! `autotel_layers::JsonLayer`, with trace and span ids:
//!
//! ```text
//! cargo run -p autotel-examples --example existing_tracing_user -- --json
//! ```

use std::time::Duration;

use tracing::{info, instrument, warn};
use tracing_subscriber::prelude::*;

#[instrument]
fn handle_request(id: u32) -> Result<(), String> {
    std::thread::sleep(Duration::from_millis(2));
    if id % 4 == 3 {
        warn!(id, "rejected");
        return Err(format!("request {id} rejected"));
    }
    info!(id, "handled");
    Ok(())
}

#[instrument(err)]
fn charge(amount_cents: u64) -> Result<(), String> {
    if amount_cents > 10_000 {
        return Err("card declined".into());
    }
    Ok(())
}

fn main() {
    // What the application already had: a metrics recorder...
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder).expect("no other recorder is installed");

    // ...and a fmt subscriber. The one added line is the `SpanMetricsLayer`.
    // (`--json` swaps the fmt layer for autotel's JSON lines.)
    let json = std::env::args().any(|arg| arg == "--json");
    tracing_subscriber::registry()
        .with((!json).then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr)))
        .with(json.then(|| {
            autotel_layers::JsonLayer::new(std::io::stderr)
                .with_service_name("existing_tracing_user")
        }))
        .with(autotel_layers::SpanMetricsLayer::new())
        .init();

    for id in 0..8 {
        let _ = handle_request(id);
    }
    let _ = charge(500);
    let _ = charge(50_000);

    print!("{}", metrics.render());
}
