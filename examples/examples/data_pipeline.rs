//! A load / transform / save pipeline instrumented with ordinary `tracing`
//! spans, and the pipeline metrics that `SpanMetricsLayer` derives from them.
//!
//! ```text
//! cargo run -p autotel-examples --example data_pipeline
//! ```
//!
//! It runs the pipeline three times; the last run fails in `save`. Then it
//! prints the pipeline and step metrics in the Prometheus text format. With
//! `--json` its logs on stderr are JSON lines from `autotel_layers::JsonLayer`
//! through the non-blocking writer, each carrying the pipeline and step
//! fields and the trace and span ids:
//!
//! ```text
//! cargo run -p autotel-examples --example data_pipeline -- --json
//! ```

use autotel_exporters::prometheus::Prometheus;
use autotel_layers::writer::NonBlocking;
use autotel_layers::{JsonLayer, SpanMetricsLayer};
use tracing::{info, info_span, instrument};
use tracing_subscriber::prelude::*;

#[derive(Debug)]
struct SaveError(&'static str);

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for SaveError {}

#[instrument(fields(step.name = "load"))]
fn load(rows: u64) -> Vec<u64> {
    let data: Vec<u64> = (0..rows).collect();
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
fn save(data: &[u64], disk_full: bool) -> Result<(), SaveError> {
    if disk_full {
        tracing::Span::current().record("error.type", "disk_full");
        return Err(SaveError("no space left on device"));
    }
    info!(items_processed = data.len() as u64, "saved");
    Ok(())
}

fn run_pipeline(rows: u64, disk_full: bool) -> Result<(), SaveError> {
    let _run = info_span!("daily_import", pipeline.name = "daily_import").entered();
    let data = load(rows);
    let data = transform(data);
    save(&data, disk_full)
}

fn main() {
    let recorder = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("the default buckets are valid");
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder).expect("no other recorder is installed");

    // `--json`: JSON lines written by a background thread; dropping the
    // guard at the end of `main` writes out what is left.
    let json = std::env::args().any(|arg| arg == "--json");
    let (writer, _flush_guard) = json
        .then(|| NonBlocking::builder().build(std::io::stderr()))
        .transpose()
        .expect("the writer thread starts")
        .unzip();
    tracing_subscriber::registry()
        .with((!json).then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr)))
        .with(writer.map(|writer| {
            JsonLayer::new(writer)
                .with_service_name("data_pipeline")
                .with_service_version(env!("CARGO_PKG_VERSION"))
                .with_environment("development")
        }))
        .with(SpanMetricsLayer::new())
        .init();

    for (rows, disk_full) in [(1_000, false), (2_500, false), (400, true)] {
        if let Err(error) = run_pipeline(rows, disk_full) {
            eprintln!("pipeline failed: {error}");
        }
    }

    let pipeline_metrics = [
        "pipeline_",
        "step_",
        "items_processed_total",
        "api_calls_total",
        "active_pipelines",
    ];
    for line in metrics.render().lines() {
        let name = line
            .strip_prefix("# HELP ")
            .or_else(|| line.strip_prefix("# TYPE "))
            .unwrap_or(line);
        if pipeline_metrics
            .iter()
            .any(|prefix| name.starts_with(prefix))
        {
            println!("{line}");
        }
    }
}
