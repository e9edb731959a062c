//! tracing-subscriber layers that derive metrics and structured logs from
//! `tracing` spans and events.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alloc;
pub mod catalog;
mod error;
mod json;
mod resources;
mod span_metrics;
mod system;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod trace_context;
pub mod writer;

pub use error::Error;
pub use json::{Clock, JsonLayer, KeyStyle, SpanFields, SystemClock};
pub use resources::{
    ALLOCATED_BYTES_FIELD, CPU_TIME_FIELD, ResourceScope, SpanResources, SpanResourcesLayer,
};
pub use span_metrics::{
    DEFAULT_DURATION_BUCKETS, DEFAULT_ERROR_TYPE, DEFAULT_MAX_SERIES, MAX_DIMENSIONS,
    MAX_LABEL_VALUE_BYTES, MetricsSwitch, OVERFLOW_LABEL, SpanMetricsLayer,
};
pub use system::{DEFAULT_SAMPLE_INTERVAL, SamplerGuard, SystemSampler};
pub use trace_context::{
    SetParentError, SpanId, TraceContext, TraceId, TraceParent, TraceParentError,
};
