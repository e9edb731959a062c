//! One-line observability for Rust services.
//!
//! autotel-presets is the only autotel crate that installs global state (the
//! `tracing` subscriber, the `metrics` recorder, the panic hook). The
//! environment-aware presets (`production`, `staging`, `development`,
//! `testing`) build on [`autotel_layers`] and [`autotel_exporters`].

pub use autotel_exporters;
pub use autotel_layers;
pub use metrics;
pub use tracing;
pub use tracing_subscriber;
