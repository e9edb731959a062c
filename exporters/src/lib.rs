//! Metrics recorders and export pipelines for autotel.
//!
//! autotel-exporters owns the sockets and threads that carry telemetry out of
//! the program; the layers of `autotel-layers` record (their only threads are
//! the log writer's and the system sampler's). Each exporter is a module
//! behind a feature:
//!
//! | feature | module | what it gives |
//! |---|---|---|
//! | `prometheus` (default) | [`prometheus`] | a `metrics` recorder and a `/metrics` endpoint |
//! | `otlp` | `otlp` | OTLP traces, logs and metrics over gRPC or HTTP/protobuf, to `http://` or `https://` (rustls) collectors |
//! | `console` | `console` | finished spans and a periodic table of metrics, for development |
//! | `push` | `push` | one in-process aggregation read once per interval, for the exporters that push |
//! | `statsd` | `statsd` | StatsD and DogStatsD over UDP or Unix datagram sockets |
//! | `datadog` | `datadog` | the Datadog metrics API without an agent (`DD_API_KEY`), over HTTPS |
//! | `cloudwatch-emf` | `cloudwatch` | CloudWatch embedded metric format lines on stdout or to the CloudWatch agent |
//! | `cloudwatch` | `cloudwatch` | CloudWatch `PutMetricData` through the AWS SDK for Rust (a heavy build) |
//! | `full` | all of them | |
//!
//! The crate root re-exports the builders, guards, recorders and errors of
//! the exporters compiled in; constants stay in their modules
//! (`prometheus::DEFAULT_PORT`, `otlp::DEFAULT_QUEUE_SIZE`, `buckets::SECONDS`).
//!
//! [`fanout`] sends every `metrics` call to several recorders at once,
//! [`buckets`] holds the histogram boundaries that every exporter shares, and
//! [`env`](mod@env) reads environment variables the same way for every crate.
//!
//! ```no_run
//! # #[cfg(feature = "prometheus")] {
//! use autotel_exporters::prometheus::Prometheus;
//!
//! // Serves /metrics on 0.0.0.0:9464 until `server` is dropped.
//! let server = Prometheus::new().install().expect("port 9464 is free");
//! # drop(server); }
//! ```
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod buckets;
#[cfg(any(feature = "cloudwatch-emf", feature = "cloudwatch"))]
pub mod cloudwatch;
pub mod env;
#[cfg(any(feature = "prometheus", feature = "otlp"))]
mod exemplar_reservoir;
pub mod fanout;
#[cfg(any(feature = "statsd", feature = "datadog"))]
mod global_tags;
#[cfg(any(feature = "otlp", feature = "datadog"))]
mod https;
mod service;
#[cfg(any(feature = "otlp", feature = "push"))]
mod throttle;

#[cfg(feature = "console")]
pub mod console;
#[cfg(feature = "datadog")]
pub mod datadog;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "prometheus")]
pub mod prometheus;
#[cfg(feature = "push")]
pub mod push;
#[cfg(feature = "statsd")]
pub mod statsd;

pub use env::InvalidSetting;
pub use fanout::{Fanout, FanoutRecorder};
pub use service::ServiceInfo;

#[cfg(feature = "cloudwatch")]
pub use cloudwatch::{CloudWatch, CloudWatchExporter};
#[cfg(feature = "cloudwatch-emf")]
pub use cloudwatch::{Emf, EmfExporter};
#[cfg(feature = "console")]
pub use console::{ConsoleError, ConsoleGuard, ConsoleLayer, ConsoleMetrics, ConsoleRecorder};
#[cfg(feature = "datadog")]
pub use datadog::{Datadog, DatadogError, DatadogExporter};
#[cfg(feature = "otlp")]
pub use otlp::{Otlp, OtlpError, OtlpGuard};
#[cfg(feature = "prometheus")]
pub use prometheus::{
    Prometheus, PrometheusError, PrometheusGuard, PrometheusHandle, PrometheusRecorder,
};
#[cfg(feature = "push")]
pub use push::{Push, PushGuard, PushRecorder};
#[cfg(feature = "statsd")]
pub use statsd::{StatsD, StatsDError, StatsDExporter};

use autotel_layers::catalog::{self, MetricKind};

/// Whether the gauge `name` holds the running total of a catalog fractional
/// counter, under its catalog name or after a prefix (`myapp_pipeline_cost_usd_total`).
#[cfg_attr(
    not(any(feature = "prometheus", feature = "otlp", feature = "push")),
    allow(dead_code)
)]
pub(crate) fn is_fractional_counter(name: &str) -> bool {
    catalog::ALL
        .iter()
        .filter(|def| def.kind() == MetricKind::FractionalCounter)
        .any(|def| {
            name == def.name()
                || name
                    .strip_suffix(def.name())
                    .is_some_and(|prefix| prefix.ends_with('_'))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn fractional_counters_are_found_with_and_without_prefix() {
        assert!(super::is_fractional_counter("pipeline_cost_usd_total"));
        assert!(super::is_fractional_counter("app_pipeline_cost_usd_total"));
        assert!(!super::is_fractional_counter("xpipeline_cost_usd_total"));
        assert!(!super::is_fractional_counter("span_calls_total"));
    }
}
