//! The load / transform / save pipeline of the `data_pipeline` and
//! `benchmark` examples, instrumented with ordinary `tracing` spans.

use tracing::{info, info_span, instrument};

/// Rows enriched by one call to the pricing API.
pub const ROWS_PER_API_CALL: u64 = 100;

/// The price of one call to the pricing API, in US dollars.
pub const API_CALL_COST_USD: f64 = 0.002;

/// The failure of the `save` step.
#[derive(Debug)]
pub struct SaveError(&'static str);

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
    let calls = data.len() as u64 / ROWS_PER_API_CALL;
    info!(
        api_calls = calls,
        cost_usd = calls as f64 * API_CALL_COST_USD,
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

/// Runs the `daily_import` pipeline over `rows` rows; with `disk_full` its
/// `save` step fails.
pub fn run_pipeline(rows: u64, disk_full: bool) -> Result<(), SaveError> {
    let _run = info_span!("daily_import", pipeline.name = "daily_import").entered();
    let data = load(rows);
    let data = transform(data);
    save(&data, disk_full)
}
