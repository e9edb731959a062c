//! A load / transform / save pipeline (`autotel_examples::pipeline`)
//! instrumented with ordinary `tracing` spans, and the pipeline metrics that
//! `SpanMetricsLayer` derives from them.
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

use autotel_examples::pipeline::run_pipeline;
use autotel_examples::pipeline_telemetry::{install, print_pipeline_metrics};

fn main() {
    // Span metrics into the Prometheus recorder, and logs on stderr (JSON
    // lines with `--json`, written out when `_flush_guard` drops).
    let (metrics, _flush_guard) = install("data_pipeline");

    for (rows, disk_full) in [(1_000, false), (2_500, false), (400, true)] {
        if let Err(error) = run_pipeline(rows, disk_full) {
            eprintln!("pipeline failed: {error}");
        }
    }
    print_pipeline_metrics(&metrics);
}
