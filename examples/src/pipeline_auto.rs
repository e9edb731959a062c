//! The load / transform / save pipeline of [`pipeline`](crate::pipeline),
//! written as plain functions in one module under
//! `#[instrument_all(pipeline = "daily_import")]`: the same spans and the
//! same metrics, with one marker (`err = false` on the run) instead of an
//! attribute on every function.

use autotel_presets::ErrorType;

/// The failure of the `save` step.
#[derive(Debug)]
pub enum SaveError {
    /// No space left on the device.
    DiskFull,
}

impl std::fmt::Display for SaveError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DiskFull => f.write_str("no space left on device"),
        }
    }
}

impl std::error::Error for SaveError {}

/// The `error_type` label of each failure.
impl ErrorType for SaveError {
    fn error_type(&self) -> &str {
        match self {
            Self::DiskFull => "disk_full",
        }
    }
}

/// The `daily_import` pipeline: `run` (public) is a run of it, the other
/// functions are its steps.
#[autotel_presets::instrument_all(pipeline = "daily_import")]
pub mod daily_import {
    use super::SaveError;
    use crate::pipeline::{API_CALL_COST_USD, ROWS_PER_API_CALL};
    use autotel_presets::tracing::info;

    /// Runs the pipeline over `rows` rows; with `disk_full` its `save` step
    /// fails.
    // The failure is the `save` step's: recorded on its span and counted in
    // `pipeline_executions_total{status="error"}`. As in the hand-written
    // pipeline, the run's own span does not record it a second time.
    #[autotel(err = false)]
    pub fn run(rows: u64, disk_full: bool) -> Result<(), SaveError> {
        let data = load(rows);
        let data = transform(data);
        save(&data, disk_full)
    }

    fn load(rows: u64) -> Vec<u64> {
        let data: Vec<u64> = (0..rows).collect();
        info!(items_processed = rows, "loaded");
        data
    }

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

    fn save(data: &[u64], disk_full: bool) -> Result<(), SaveError> {
        if disk_full {
            return Err(SaveError::DiskFull);
        }
        info!(items_processed = data.len() as u64, "saved");
        Ok(())
    }
}
