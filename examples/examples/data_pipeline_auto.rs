//! The `data_pipeline` example with no attribute on its functions: the
//! load / transform / save pipeline of `autotel_examples::pipeline_auto`
//! is one module under `#[instrument_all(pipeline = "daily_import")]`,
//! and gives the same spans and pipeline metrics as the hand-instrumented
//! one (`tests/data_pipeline_auto.rs` checks it).
//!
//! ```text
//! cargo run -p autotel-examples --example data_pipeline_auto
//! cargo run -p autotel-examples --example data_pipeline_auto -- --json
//! ```
//!
//! It runs the pipeline three times; the last run fails in `save`
//! (`error_type="disk_full"`). Then it prints the pipeline and step metrics
//! in the Prometheus text format.

use autotel_examples::pipeline_auto::daily_import;
use autotel_exporters::prometheus::Prometheus;
use autotel_layers::writer::NonBlocking;
use autotel_layers::{JsonLayer, SpanMetricsLayer};
use tracing_subscriber::prelude::*;

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
                .with_service_name("data_pipeline_auto")
                .with_service_version(env!("CARGO_PKG_VERSION"))
                .with_environment("development")
        }))
        .with(SpanMetricsLayer::new())
        .init();

    for (rows, disk_full) in [(1_000, false), (2_500, false), (400, true)] {
        if let Err(error) = daily_import::run(rows, disk_full) {
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
