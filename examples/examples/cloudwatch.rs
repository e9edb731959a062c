//! Metrics to CloudWatch as embedded metric format (EMF) lines.
//!
//! ```text
//! cargo run -p autotel-examples --example cloudwatch
//! ```
//!
//! Prints one EMF line per label set on standard output, as a Lambda
//! function or a container whose standard output goes to CloudWatch Logs
//! would: CloudWatch turns the lines into metrics of the namespace
//! `checkout` (the service name; `AWS_EMF_NAMESPACE` sets another). With
//! `AWS_EMF_AGENT_ENDPOINT=tcp://127.0.0.1:25888` the lines go to the
//! CloudWatch agent instead. In a service, the presets do the same from
//! the environment alone: `autotel_presets::production("checkout").init()`.

use std::time::Duration;

use autotel_exporters::ServiceInfo;
use autotel_exporters::cloudwatch::Emf;
use autotel_exporters::push::Push;
use tracing::instrument;
use tracing_subscriber::prelude::*;

#[instrument]
fn load_batch(rows: u64) -> Result<(), String> {
    std::thread::sleep(Duration::from_millis(1));
    metrics::counter!("rows_loaded_total", "table" => "orders").increment(rows);
    metrics::histogram!("batch_size_bytes", "table" => "orders").record(rows as f64 * 128.0);
    if rows > 900 {
        return Err(format!("batch of {rows} rows refused"));
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let service = ServiceInfo::new("checkout")
        .with_version("1.4.2")
        .with_environment("staging");
    // The environment's settings, or standard output by default.
    let emf = Emf::from_env()?.unwrap_or_else(Emf::new);
    let (recorder, guard) = Push::new()
        .with_exporter(emf.with_service(&service).build())
        .build()?;
    metrics::set_global_recorder(recorder)?;
    tracing_subscriber::registry()
        .with(autotel_layers::SpanMetricsLayer::new())
        .init();

    for rows in [120, 480, 950, 300] {
        let _ = load_batch(rows);
    }
    // Dropping the guard writes the last interval; `flush` writes it now.
    guard.flush(Duration::from_secs(10));
    Ok(())
}
