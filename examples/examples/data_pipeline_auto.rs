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
use autotel_examples::pipeline_telemetry::{install, print_pipeline_metrics};

fn main() {
    // Span metrics into the Prometheus recorder, and logs on stderr (JSON
    // lines with `--json`, written out when `_flush_guard` drops).
    let (metrics, _flush_guard) = install("data_pipeline_auto");

    for (rows, disk_full) in [(1_000, false), (2_500, false), (400, true)] {
        if let Err(error) = daily_import::run(rows, disk_full) {
            eprintln!("pipeline failed: {error}");
        }
    }
    print_pipeline_metrics(&metrics);
}
