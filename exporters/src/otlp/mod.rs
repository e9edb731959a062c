//! OTLP export of traces, logs and metrics, over gRPC or HTTP/protobuf,
//! to `http://` or `https://` collectors.
//!
//! - Traces leave through [`tracing_opentelemetry`]: add
//!   [`OtlpGuard::trace_layer`] to your subscriber.
//! - Logs (tracing events) leave through [`opentelemetry_appender_tracing`]:
//!   add [`OtlpGuard::log_layer`].
//! - Metrics recorded through the `metrics` facade leave through
//!   [`OtelRecorder`], from [`OtlpGuard::metrics_recorder`]; install it, or
//!   combine it with Prometheus in a [`Fanout`](crate::fanout::Fanout).
//!
//! # Endpoint and protocol
//!
//! This is the one place that states the rule; everything else links here.
//!
//! 1. **Endpoint**: [`Otlp::with_endpoint`], then the signal's variable
//!    (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, `_LOGS_`, `_METRICS_`, used as it
//!    is), then `OTEL_EXPORTER_OTLP_ENDPOINT`. An endpoint without a scheme
//!    (`otel-collector:4317`) is `http://`; `https://` uses TLS. The port must
//!    be 1-65535, and a query or fragment is refused (the `/v1/...` path of
//!    OTLP/HTTP would land after it).
//! 2. **Protocol**: [`Otlp::with_protocol`], then
//!    `OTEL_EXPORTER_OTLP_{TRACES,METRICS,LOGS}_PROTOCOL`, then
//!    `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc` or `http/protobuf`, any case) win.
//!    When none says, the endpoint decides: **port 4317 means gRPC**, unless
//!    the path ends in `/v1/...` (OTLP/HTTP's paths); port 4318, such a path,
//!    and anything else mean HTTP/protobuf (the specification's default).
//! 3. **Paths**: over HTTP/protobuf, `/v1/traces`, `/v1/logs` and
//!    `/v1/metrics` are appended to the builder's or the general endpoint
//!    (one that already ends in `/v1/<signal>` has that part replaced);
//!    per-signal endpoints are used as they are. Without any endpoint:
//!    `http://localhost:4318` (or `http://localhost:4317` for gRPC).
//!
//! | endpoint | protocol variable | sends |
//! |---|---|---|
//! | `http://127.0.0.1:4317` | none | gRPC to `127.0.0.1:4317` |
//! | `otel-collector:4318` | none | HTTP/protobuf to `http://otel-collector:4318/v1/traces`, ... |
//! | `https://otlp.example.com/otlp` | none | HTTP/protobuf over TLS to `.../otlp/v1/traces`, ... |
//! | `http://collector:4317` | `http/protobuf` | HTTP/protobuf to `http://collector:4317/v1/traces` (the variable wins) |
//!
//! # TLS, headers, compression, timeout
//!
//! TLS uses rustls (no OpenSSL) with the system's roots, or the CA of
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` ([`Otlp::with_certificate`]); a client
//! certificate comes from `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and
//! `OTEL_EXPORTER_OTLP_CLIENT_KEY` ([`Otlp::with_client_certificate`]).
//! Headers (API keys) come from `OTEL_EXPORTER_OTLP_HEADERS`
//! (`key=value,key2=value2`, percent-decoded) and [`Otlp::with_header`]; their
//! values never appear in `Debug` output, logs or errors. `gzip` compression
//! from `OTEL_EXPORTER_OTLP_COMPRESSION` ([`Otlp::with_gzip`]); the export
//! timeout from `OTEL_EXPORTER_OTLP_TIMEOUT` in milliseconds. Each has a
//! per-signal variable (`OTEL_EXPORTER_OTLP_TRACES_HEADERS`, ...) that wins
//! over the general one.
//!
//! # What leaves, and what happens when it cannot
//!
//! The resource carries `service.name`, `service.version`,
//! `deployment.environment.name`, host and process attributes, and those of
//! `OTEL_RESOURCE_ATTRIBUTES` (percent-decoded). Span and log attributes
//! whose names match the [`Redaction`](autotel_layers::redact::Redaction)
//! are sent as `"[REDACTED]"`, and long string values are cut
//! ([`Otlp::with_attribute_value_length_limit`], 8192 bytes by default).
//! Traces are sampled by [`Sampling`] (`OTEL_TRACES_SAMPLER`): only the
//! `parentbased_*` samplers follow an incoming `traceparent`.
//!
//! A collector that is down or never answers does not slow the program:
//! spans and log records wait in bounded queues, what does not fit is dropped
//! and counted (`autotel_dropped_total`, [`OtlpStats`]), and shutdown gives up
//! after a timeout. Every failed export is counted in
//! `autotel_export_errors_total{exporter="otlp", signal, reason}` and reported
//! as a warning (target `autotel::otlp`), once per signal and reason per
//! minute, naming the signal, the endpoint (without credentials), the
//! protocol and the cause, with a hint for a protocol/port mismatch or TLS:
//!
//! ```text
//! OTLP export of traces to http://127.0.0.1:4317/v1/traces over http/protobuf failed (protocol): ...
//! ```
//!
//! ```no_run
//! use autotel_exporters::ServiceInfo;
//! use autotel_exporters::otlp::Otlp;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let otlp = Otlp::new()
//!     .with_endpoint("https://otlp.example.com")?
//!     .with_header("x-api-key", "secret")
//!     .with_gzip(true)
//!     .with_service(ServiceInfo::new("checkout").with_version("1.4.2"))
//!     .build()?;
//! let subscriber = tracing_subscriber::registry()
//!     .with(otlp.trace_layer())
//!     .with(otlp.log_layer());
//! tracing::subscriber::with_default(subscriber, || {
//!     let _span = tracing::info_span!("charge").entered();
//!     tracing::info!(amount = 12, "charged");
//! });
//! otlp.shutdown()?; // or drop it: both flush, within the shutdown timeout
//! # Ok::<(), autotel_exporters::otlp::OtlpError>(())
//! ```

mod builder;
mod counting;
mod error;
mod exemplars;
mod exporters;
mod grpc_metrics;
mod http_client;
mod limits;
mod pipeline;
mod protocol;
mod recorder;
mod report;
mod resource;
mod sampler;
mod start;
mod tls;
mod transport;

use std::time::Duration;

pub use builder::Otlp;
pub use error::OtlpError;
pub use limits::DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT;
pub use pipeline::{OtlpGuard, OtlpLogLayer, OtlpStats, OtlpTraceLayer};
pub use protocol::Protocol;
pub use recorder::OtelRecorder;
pub use sampler::{SampleRatio, Sampling};

/// The former name of [`OtlpGuard`].
#[deprecated(
    since = "0.1.1",
    note = "renamed to OtlpGuard: every drop guard is named ...Guard"
)]
pub type OtlpPipeline = OtlpGuard;

/// Time a shutdown or flush may take by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Spans, or log records, that may wait for export by default.
pub const DEFAULT_QUEUE_SIZE: usize = 2048;

/// The instrumentation scope of everything autotel exports.
const SCOPE: &str = "autotel";
