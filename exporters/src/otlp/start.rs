//! Starting an [`OtlpGuard`]: one exporter, batch processor (or
//! periodic reader) and provider per signal, and the runtime gRPC needs.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider};

use super::counting::{Counting, CountingLogProcessor, CountingSpanProcessor, Counts};
use super::exemplars::OtlpExemplars;
use super::exporters;
use super::limits::Limits;
use super::pipeline::OtlpGuard;
use super::protocol::Protocol;
use super::report::Reporter;
use super::sampler::{SampleRatio, Sampling};
use super::transport::SignalConfig;
use super::{OtelRecorder, OtlpError, SCOPE};

/// A batch processor of spans or log records behind a counted, bounded
/// queue that applies the limits (the SDK's span and log types differ, the
/// logic does not).
macro_rules! counted_batch {
    ($parts:ident, $counts:ident, $exporter:expr, $reporter:expr, $config:ty, $batch:ident, $counting:ident, $limits:expr) => {{
        let mut batch = <$config>::default()
            .with_max_queue_size($parts.queue_size)
            .with_max_export_batch_size($parts.queue_size.min(512));
        if let Some(delay) = $parts.batch_delay {
            batch = batch.with_scheduled_delay(delay);
        }
        $counting {
            inner: $batch::builder(Counting {
                inner: $exporter,
                counts: $counts.clone(),
                reporter: $reporter,
            })
            .with_batch_config(batch.build())
            .build(),
            capacity: $parts.queue_size,
            counts: $counts.clone(),
            limits: $limits,
        }
    }};
}

/// Everything [`Otlp::build`](super::Otlp::build) resolved.
pub(crate) struct Parts {
    pub(crate) traces: Option<SignalConfig>,
    pub(crate) logs: Option<SignalConfig>,
    pub(crate) metrics: Option<SignalConfig>,
    pub(crate) resource: Resource,
    pub(crate) sampling: Sampling,
    pub(crate) span_limits: Limits,
    pub(crate) log_limits: Limits,
    pub(crate) queue_size: usize,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) metrics_interval: Option<Duration>,
    pub(crate) batch_delay: Option<Duration>,
    pub(crate) exemplars: bool,
}

impl OtlpGuard {
    /// Starts the exporters of `parts`.
    pub(crate) fn start(parts: Parts) -> Result<Self, OtlpError> {
        let sample_ratio = SampleRatio::new(parts.sampling.sample_ratio())?;
        let counts = Arc::new(Counts::default());
        let configs = [&parts.traces, &parts.logs, &parts.metrics];
        // tonic needs a Tokio runtime; the pipeline owns a small one, so it
        // works the same with or without a runtime in the program.
        let grpc = configs
            .iter()
            .any(|c| c.as_ref().is_some_and(|c| c.protocol == Protocol::Grpc));
        let runtime = if grpc {
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("autotel-otlp")
                    .enable_all()
                    .build()
                    .map_err(OtlpError::Runtime)?,
            )
        } else {
            None
        };
        let _entered = runtime.as_ref().map(tokio::runtime::Runtime::enter);
        let mut reporters = Vec::new();
        let mut reporter = |config: &SignalConfig| {
            let reporter = Arc::new(Reporter::new(config));
            reporters.push(reporter.clone());
            reporter
        };

        let tracer_provider = match &parts.traces {
            Some(config) => {
                let reporter = reporter(config);
                let exporter = exporters::span_exporter(config, &reporter)?;
                let processor = counted_batch!(
                    parts,
                    counts,
                    exporter,
                    reporter,
                    opentelemetry_sdk::trace::BatchConfigBuilder,
                    BatchSpanProcessor,
                    CountingSpanProcessor,
                    parts.span_limits.clone()
                );
                Some(
                    SdkTracerProvider::builder()
                        .with_span_processor(processor)
                        .with_resource(parts.resource.clone())
                        .with_sampler(sample_ratio.sampler(parts.sampling.follows_parent()))
                        .build(),
                )
            }
            None => None,
        };

        let logger_provider = match &parts.logs {
            Some(config) => {
                let reporter = reporter(config);
                let exporter = exporters::log_exporter(config, &reporter)?;
                let processor = counted_batch!(
                    parts,
                    counts,
                    exporter,
                    reporter,
                    opentelemetry_sdk::logs::BatchConfigBuilder,
                    BatchLogProcessor,
                    CountingLogProcessor,
                    parts.log_limits.clone()
                );
                Some(
                    SdkLoggerProvider::builder()
                        .with_log_processor(processor)
                        .with_resource(parts.resource.clone())
                        .build(),
                )
            }
            None => None,
        };

        let exemplars = (parts.exemplars && parts.metrics.is_some())
            .then(|| Arc::new(OtlpExemplars::default()));
        let meter_provider = match &parts.metrics {
            Some(config) => {
                let reporter = reporter(config);
                let exporter = exporters::metric_exporter(config, &reporter, exemplars.clone())?;
                let mut reader = PeriodicReader::builder(Counting {
                    inner: exporter,
                    counts: counts.clone(),
                    reporter,
                });
                if let Some(interval) = parts.metrics_interval {
                    reader = reader.with_interval(interval);
                }
                Some(
                    SdkMeterProvider::builder()
                        .with_reader(reader.build())
                        .with_resource(parts.resource)
                        .build(),
                )
            }
            None => None,
        };
        let recorder = meter_provider.as_ref().map(|provider| {
            OtelRecorder::with_redaction(
                provider.meter(SCOPE),
                parts.span_limits.redaction.clone(),
                exemplars.clone(),
            )
        });

        drop(_entered);
        Ok(OtlpGuard {
            tracer_provider,
            logger_provider,
            meter_provider,
            recorder,
            sample_ratio,
            counts,
            reporters,
            shutdown_timeout: parts.shutdown_timeout,
            runtime,
            stopped: false,
        })
    }
}
