//! tracing-subscriber layers that derive metrics and structured logs from
//! `tracing` spans and events.
//!
//! Each piece is an ordinary [`Layer`](tracing_subscriber::Layer) that works
//! on any subscriber whose spans can be looked up (`Registry`, the fmt
//! subscriber). Nothing here installs global state: metrics go to whatever
//! `metrics` recorder is current (global, or local with
//! [`metrics::with_local_recorder`]).
//!
//! # Span metrics
//!
//! [`SpanMetricsLayer`] records RED metrics for every span when it closes
//! (`span_calls_total`, `span_duration_seconds`, `span_errors_total`) and
//! pipeline metrics for spans with `pipeline.name` / `step.name` fields. Its
//! hooks: `on_new_span` starts the clock and reads the fields that matter,
//! `on_record` reads fields recorded later, `on_event` marks a span as failed
//! on an `ERROR` event directly inside it and adds pipeline counters,
//! `on_close` records. [`catalog`] declares every metric.
//!
//! ```
//! use tracing_subscriber::prelude::*;
//!
//! let subscriber = tracing_subscriber::registry()
//!     .with(autotel_layers::SpanMetricsLayer::new().with_dimension("tenant")?);
//! tracing::subscriber::with_default(subscriber, || {
//!     let _span = tracing::info_span!("checkout", tenant = "acme").entered();
//! });
//! # Ok::<(), autotel_layers::Error>(())
//! ```
//!
//! The duration histograms carry [exemplars](exemplar): around each
//! observation the layers set the trace and span ids of the span measured
//! (of a sampled trace) as the thread's current exemplar, which a recorder
//! reads with [`exemplar::current`].
//!
//! # Trace every function
//!
//! [`instrument_all`] (from autotel-macros) on an inline module or an impl
//! block wraps each function inside it in a span named `module::function`
//! or `Type::method`, so that the span metrics above follow with no
//! attribute per function; an `Err` is recorded with its [`ErrorType`].
//! Through this crate, the generated code names `::autotel_layers`; the
//! same attribute is `autotel_presets::instrument_all` for users of the
//! presets.
//!
//! ```
//! #[autotel_layers::instrument_all]
//! mod billing {
//!     pub fn charge(cents: u64) -> u64 {
//!         cents
//!     }
//! }
//! # billing::charge(1);
//! ```
//!
//! # System metrics
//!
//! [`SystemSampler`] publishes process and system metrics on an interval,
//! [`alloc::CountingAllocator`] counts heap allocations, and
//! [`SpanResourcesLayer`] measures the CPU time and memory of pipeline runs,
//! reading threads' CPU time through [`cpu_clock`].
//!
//! # Queue depth
//!
//! [`queue::record_queue_depth`] and [`queue::QueueDepths`] report how many
//! items wait in a pipeline's queue (`pipeline_queue_depth`).
//!
//! # JSON logs
//!
//! [`JsonLayer`] writes one JSON object per event, with the schema of
//! DESIGN.md: timestamp, level, logger (the target), message, service name,
//! version and environment, `trace_id` / `span_id` of the event's span, and
//! the fields under `data`. Secret-looking fields are redacted; other key
//! styles ([`KeyStyle`]) suit ECS, Google Cloud Logging and Datadog.
//! [`writer::NonBlocking`] takes the writing off the producing thread.
//!
//! ```no_run
//! use tracing_subscriber::prelude::*;
//!
//! let (writer, _guard) = autotel_layers::writer::NonBlocking::builder().stdout()?;
//! tracing_subscriber::registry()
//!     .with(autotel_layers::JsonLayer::new(writer).with_service_name("checkout"))
//!     .init();
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Trace ids
//!
//! Every span gets W3C ids ([`TraceContext`]) stored in its extensions, so any
//! layer can read them with [`TraceContext::for_span_ref`], and application
//! code with [`TraceContext::current`]. A remote parent from a `traceparent`
//! header is set with [`TraceContext::set_remote_parent`].
//!
//! # Propagation
//!
//! [`propagation`] continues traces across processes: it injects the current
//! span's `traceparent`, `tracestate` and `baggage` into any carrier (HTTP
//! headers, a map, message attributes) and extracts a caller's from one.
//!
//! # Feature flags
//!
//! - `opentelemetry`: with a `tracing_opentelemetry` layer in the stack, the
//!   ids are those of the OpenTelemetry spans, so log lines match exported
//!   traces, and remote parents are set on the OpenTelemetry span too (with
//!   their `tracestate`). A propagator installed as OpenTelemetry's global
//!   one writes and reads its fields beside the W3C ones;
//!   `propagation::B3Propagator` and `propagation::JaegerPropagator` are
//!   two.
//! - `system`: [`SystemSampler`], process and system metrics through sysinfo.
//! - `tokio`: tokio runtime metrics from the system sampler.
//! - `http`: [`http::HttpLayer`], the tower middleware for HTTP servers.
//! - `grpc`: [`grpc::GrpcLayer`], the tower middleware for gRPC servers and
//!   clients.
//! - `http`: [`http::HttpLayer`], the tower middleware for HTTP servers, and
//!   [`http::HttpClientLayer`], the one for HTTP clients.
//! - `reqwest`: `http::ReqwestMiddleware`, the HTTP client telemetry as a
//!   `reqwest-middleware` middleware.
//! - `benchmark`: [`benchmark::BenchmarkRunner`], benchmark results as
//!   `benchmark_*` metrics.
//! - `testing`: a harness that captures spans, events and metrics.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod alloc;
#[cfg(feature = "benchmark")]
#[cfg_attr(docsrs, doc(cfg(feature = "benchmark")))]
pub mod benchmark;
pub mod catalog;
pub mod cpu_clock;
mod error;
pub mod exemplar;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;
#[cfg(feature = "http")]
pub mod http;
mod instrument_all;
mod internal;
pub mod json;
pub mod propagation;
pub mod queue;
pub mod redact;
pub mod resources;
pub mod span_metrics;
#[cfg(feature = "system")]
#[cfg_attr(docsrs, doc(cfg(feature = "system")))]
pub mod system;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod trace_context;
pub mod writer;

pub use autotel_macros::instrument_all_layers as instrument_all;
pub use error::Error;
#[doc(hidden)]
pub use instrument_all::__private;
pub use instrument_all::ErrorType;
pub use json::{Clock, JsonLayer, KeyStyle, SpanFields, SystemClock};
pub use resources::{ResourceScope, SpanResources, SpanResourcesLayer};
pub use span_metrics::{MetricsSwitch, SpanMetricsLayer};
#[cfg(feature = "system")]
pub use system::{SamplerGuard, SystemSampler};
pub use trace_context::{
    SetParentError, SpanId, TraceContext, TraceId, TraceParent, TraceParentError,
};
