//! Runnable examples of autotel; see the `examples/` folder.

pub mod greeter;
pub mod pipeline;
pub mod pipeline_auto;
pub mod pipeline_telemetry;
