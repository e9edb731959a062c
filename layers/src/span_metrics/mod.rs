//! RED metrics (calls, errors, duration) and pipeline metrics from every span.
//!
//! [`SpanMetricsLayer`] (in `layer`) is configured once; its callbacks
//! (`hooks`) keep each live span's state (`store`) and record it when the
//! span closes (`record`, `pipeline`), through the shared state of `state`.

mod callsites;
mod fields;
mod hooks;
mod layer;
mod names;
mod pipeline;
mod record;
mod state;
mod store;
mod switch;

pub use layer::SpanMetricsLayer;
pub use switch::MetricsSwitch;

/// The `error_type` label of an error that carries no `error.type` field (the
/// OpenTelemetry semantic conventions' fallback value).
pub const DEFAULT_ERROR_TYPE: &str = "_OTHER";

/// The default cap on distinct label sets per metric.
pub const DEFAULT_MAX_SERIES: usize = 2000;

/// How many dimensions (extra labels from span fields) a layer can have.
pub const MAX_DIMENSIONS: usize = 8;

/// Label values taken from fields are cut to at most this many bytes (at a
/// character boundary).
pub const MAX_LABEL_VALUE_BYTES: usize = 128;

/// Histogram bucket boundaries, in seconds, for duration metrics unless
/// configured otherwise: from half a millisecond to five minutes. The
/// exporters use the same boundaries for every `_seconds` histogram.
pub const DEFAULT_DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

/// The label that marks the series collecting label sets past a metric's cap.
pub const OVERFLOW_LABEL: &str = crate::internal::series_cap::OVERFLOW_LABEL;
