//! The telemetry of the `data_pipeline` and `data_pipeline_auto` examples,
//! composed by hand from the layers: span metrics into the Prometheus
//! recorder (no listener), and logs on standard error, readable or (with
//! `--json`) JSON lines through the non-blocking writer.

use autotel_exporters::prometheus::{Prometheus, PrometheusHandle};
use autotel_layers::writer::{FlushGuard, NonBlocking};
use autotel_layers::{JsonLayer, SpanMetricsLayer};
use tracing_subscriber::prelude::*;

/// Installs the recorder and the subscriber of `service_name`; the handle
/// that renders the metrics, and the guard whose drop writes out the JSON
/// lines left (with `--json`).
///
/// # Panics
///
/// When a global recorder or subscriber is already installed, or the
/// writer's thread cannot start.
pub fn install(service_name: &'static str) -> (PrometheusHandle, Option<FlushGuard>) {
    let recorder = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("the default buckets are valid");
    let metrics = recorder.handle();
    metrics::set_global_recorder(recorder).expect("no other recorder is installed");

    let json = std::env::args().any(|arg| arg == "--json");
    let (writer, flush_guard) = json
        .then(|| NonBlocking::builder().build(std::io::stderr()))
        .transpose()
        .expect("the writer thread starts")
        .unzip();
    tracing_subscriber::registry()
        .with((!json).then(|| tracing_subscriber::fmt::layer().with_writer(std::io::stderr)))
        .with(writer.map(|writer| {
            JsonLayer::new(writer)
                .with_service_name(service_name)
                .with_service_version(env!("CARGO_PKG_VERSION"))
                .with_environment("development")
        }))
        .with(SpanMetricsLayer::new())
        .init();
    (metrics, flush_guard)
}

/// Prints the pipeline and step metrics of a render of `metrics`, with
/// their `HELP` and `TYPE` lines.
pub fn print_pipeline_metrics(metrics: &PrometheusHandle) {
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
