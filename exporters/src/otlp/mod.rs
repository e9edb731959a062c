//! OTLP export of traces, logs and metrics, over gRPC or HTTP/protobuf.
//!
//! - Traces leave through [`tracing_opentelemetry`]: add
//!   [`OtlpPipeline::trace_layer`] to your subscriber.
//! - Logs (tracing events) leave through [`opentelemetry_appender_tracing`]:
//!   add [`OtlpPipeline::log_layer`].
//! - Metrics recorded through the `metrics` facade leave through
//!   [`OtelRecorder`], from [`OtlpPipeline::metrics_recorder`]; install it, or
//!   combine it with Prometheus in a [`Fanout`](crate::fanout::Fanout).
//!
//! The resource carries `service.name`, `service.version`,
//! `deployment.environment.name`, host and process attributes. Traces are
//! sampled parent-based with a ratio for root spans. Settings not made in
//! code are read from the standard variables (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, the per-signal variants, `OTEL_SERVICE_NAME`,
//! `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`,
//! `OTEL_SDK_DISABLED`); code wins over the environment.
//!
//! A collector that is down or never answers does not slow the program:
//! spans and log records wait in bounded queues, what does not fit is dropped
//! and counted (`autotel_dropped_total`, [`OtlpStats`]), failed exports are
//! counted (`autotel_export_errors_total`), and shutdown gives up after a
//! timeout.
//!
//! ```no_run
//! use autotel_exporters::ServiceInfo;
//! use autotel_exporters::otlp::{Otlp, Protocol};
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! let otlp = Otlp::new()
//!     .with_endpoint("http://127.0.0.1:4317")?
//!     .with_protocol(Protocol::Grpc)
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

mod counting;
mod recorder;
mod sampler;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{BatchLogProcessor, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetryLayer;

use crate::ServiceInfo;
use counting::{Counting, CountingLogProcessor, CountingSpanProcessor, Counts};
pub use recorder::OtelRecorder;
pub use sampler::SampleRatio;

/// Time a shutdown or flush may take by default.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Spans, or log records, that may wait for export by default.
pub const DEFAULT_QUEUE_SIZE: usize = 2048;

/// The instrumentation scope of everything autotel exports.
const SCOPE: &str = "autotel";

/// Builds the exporter of one signal for the chosen protocol.
macro_rules! exporter {
    ($self:ident, $protocol:expr, $kind:ident, $signal:literal, $path:literal) => {{
        let built = match $protocol {
            Protocol::Grpc => {
                let mut builder = opentelemetry_otlp::$kind::builder().with_tonic();
                if let Some(endpoint) = &$self.endpoint {
                    builder = builder.with_endpoint(endpoint.clone());
                }
                if let Some(timeout) = $self.export_timeout {
                    builder = builder.with_timeout(timeout);
                }
                builder.build()
            }
            Protocol::HttpProtobuf => {
                let mut builder = opentelemetry_otlp::$kind::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary);
                if let Some(endpoint) = &$self.endpoint {
                    builder = builder.with_endpoint(format!("{}{}", endpoint, $path));
                }
                if let Some(timeout) = $self.export_timeout {
                    builder = builder.with_timeout(timeout);
                }
                builder.build()
            }
        };
        built.map_err(|source| OtlpError::Exporter {
            signal: $signal,
            source,
        })?
    }};
}

/// How OTLP travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/gRPC, by default to port 4317.
    Grpc,
    /// OTLP/HTTP with protobuf bodies, by default to port 4318.
    HttpProtobuf,
}

impl Protocol {
    /// Parses the values of `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`, `http/protobuf`).
    fn parse(value: &str) -> Option<Self> {
        match value.trim() {
            "grpc" => Some(Self::Grpc),
            "http/protobuf" => Some(Self::HttpProtobuf),
            _ => None,
        }
    }
}

/// A configuration error or a failure of the OTLP pipeline.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// A setting or environment variable has a value that cannot be used.
    #[error("{setting}='{value}' is not usable: {expected}")]
    Config {
        /// The builder method or environment variable.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What would be accepted.
        expected: &'static str,
    },
    /// opentelemetry-otlp refused to build an exporter.
    #[error("cannot build the OTLP {signal} exporter: {source}")]
    Exporter {
        /// `traces`, `logs` or `metrics`.
        signal: &'static str,
        /// The reason.
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The runtime that drives gRPC could not be started.
    #[error("cannot start the OTLP/gRPC runtime: {0}")]
    Runtime(std::io::Error),
    /// Flushing or shutting down did not finish within the timeout; what was
    /// still queued may be lost.
    #[error("OTLP {action} did not finish within {timeout:?}; unsent telemetry may be lost")]
    Timeout {
        /// `flush` or `shutdown`.
        action: &'static str,
        /// The timeout that passed.
        timeout: Duration,
    },
    /// Flushing or shutting down failed.
    #[error("OTLP {action} of {signal} failed: {reason}")]
    Export {
        /// `flush` or `shutdown`.
        action: &'static str,
        /// `traces`, `logs` or `metrics`.
        signal: &'static str,
        /// What the SDK said.
        reason: String,
    },
}

/// Builder of an [`OtlpPipeline`].
#[derive(Debug, Clone)]
pub struct Otlp {
    endpoint: Option<String>,
    protocol: Option<Protocol>,
    service: Option<ServiceInfo>,
    attributes: Vec<(String, String)>,
    sample_ratio: Option<f64>,
    traces: bool,
    logs: bool,
    metrics: bool,
    queue_size: usize,
    export_timeout: Option<Duration>,
    shutdown_timeout: Duration,
    metrics_interval: Option<Duration>,
    batch_delay: Option<Duration>,
}

impl Default for Otlp {
    fn default() -> Self {
        Self::new()
    }
}

impl Otlp {
    /// An OTLP pipeline with the defaults below, for all three signals.
    pub fn new() -> Self {
        Self {
            endpoint: None,
            protocol: None,
            service: None,
            attributes: Vec::new(),
            sample_ratio: None,
            traces: true,
            logs: true,
            metrics: true,
            queue_size: DEFAULT_QUEUE_SIZE,
            export_timeout: None,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            metrics_interval: None,
            batch_delay: None,
        }
    }

    /// Sets the collector's base URL (`http://host:4317` for gRPC,
    /// `http://host:4318` for HTTP, to which `/v1/traces`, `/v1/logs` and
    /// `/v1/metrics` are appended).
    /// Defaults to `OTEL_EXPORTER_OTLP_ENDPOINT` (and the per-signal
    /// variables), then to `http://localhost:4317` or `http://localhost:4318`.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] unless the URL starts with `http://`: this crate
    /// is built without TLS, so send to a collector on a trusted network.
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Result<Self, OtlpError> {
        let url = url.into();
        let rest = url.strip_prefix("http://").unwrap_or("");
        if rest.is_empty() || rest.starts_with('/') {
            return Err(OtlpError::Config {
                setting: "Otlp::with_endpoint",
                value: url,
                expected: "an http:// URL with a host, such as http://127.0.0.1:4317 (TLS is not built in)",
            });
        }
        self.endpoint = Some(url.trim_end_matches('/').to_owned());
        Ok(self)
    }

    /// Sets the transport. Defaults to `OTEL_EXPORTER_OTLP_PROTOCOL`, then
    /// to [`Protocol::HttpProtobuf`].
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Sets `service.name`, `service.version` and `deployment.environment.name`.
    /// Defaults to `OTEL_SERVICE_NAME` / `OTEL_RESOURCE_ATTRIBUTES`, then to
    /// `unknown_service`.
    #[must_use]
    pub fn with_service(mut self, service: ServiceInfo) -> Self {
        self.service = Some(service);
        self
    }

    /// Adds a resource attribute. Defaults to the host and process attributes
    /// and those of `OTEL_RESOURCE_ATTRIBUTES`.
    #[must_use]
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Samples this fraction of root spans; child spans follow their parent.
    /// Defaults to `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, then to 1.0.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] unless `0.0 <= ratio <= 1.0`.
    pub fn with_sample_ratio(mut self, ratio: f64) -> Result<Self, OtlpError> {
        sampler::check_ratio("Otlp::with_sample_ratio", ratio)?;
        self.sample_ratio = Some(ratio);
        Ok(self)
    }

    /// Exports traces or not. Defaults to `true` (`false` when `OTEL_SDK_DISABLED=true`).
    #[must_use]
    pub fn with_traces(mut self, enabled: bool) -> Self {
        self.traces = enabled;
        self
    }

    /// Exports logs or not. Defaults to `true` (`false` when `OTEL_SDK_DISABLED=true`).
    #[must_use]
    pub fn with_logs(mut self, enabled: bool) -> Self {
        self.logs = enabled;
        self
    }

    /// Exports metrics or not. Defaults to `true` (`false` when `OTEL_SDK_DISABLED=true`).
    #[must_use]
    pub fn with_metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled;
        self
    }

    /// Sets how many spans, and how many log records, may wait for export;
    /// more are dropped and counted. Defaults to 2048.
    #[must_use]
    pub fn with_queue_size(mut self, size: usize) -> Self {
        self.queue_size = size.max(1);
        self
    }

    /// Sets how long one export may take. Defaults to `OTEL_EXPORTER_OTLP_TIMEOUT`,
    /// then to 10 seconds.
    #[must_use]
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.export_timeout = Some(timeout);
        self
    }

    /// Sets how long [`OtlpPipeline::shutdown`] (and dropping the pipeline)
    /// and [`OtlpPipeline::force_flush`] may take. Defaults to 5 seconds.
    #[must_use]
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Sets how often metrics are exported. Defaults to
    /// `OTEL_METRIC_EXPORT_INTERVAL`, then to 60 seconds.
    #[must_use]
    pub fn with_metrics_interval(mut self, interval: Duration) -> Self {
        self.metrics_interval = Some(interval);
        self
    }

    /// Sets how long spans and log records wait to fill a batch.
    /// Defaults to `OTEL_BSP_SCHEDULE_DELAY` / `OTEL_BLRP_SCHEDULE_DELAY`,
    /// then to 5 seconds for spans and 1 second for logs.
    #[must_use]
    pub fn with_batch_delay(mut self, delay: Duration) -> Self {
        self.batch_delay = Some(delay);
        self
    }

    /// Fills the settings not made in code from the environment.
    fn resolve_env(&mut self) -> Result<(), OtlpError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        if let Some(value) = var("OTEL_SDK_DISABLED") {
            match value.trim().to_ascii_lowercase().as_str() {
                "true" => (self.traces, self.logs, self.metrics) = (false, false, false),
                "false" => {}
                _ => {
                    return Err(OtlpError::Config {
                        setting: "OTEL_SDK_DISABLED",
                        value,
                        expected: "true or false",
                    });
                }
            }
        }
        if self.protocol.is_none()
            && let Some(value) = var("OTEL_EXPORTER_OTLP_PROTOCOL")
        {
            self.protocol = Some(Protocol::parse(&value).ok_or(OtlpError::Config {
                setting: "OTEL_EXPORTER_OTLP_PROTOCOL",
                value,
                expected: "grpc or http/protobuf",
            })?);
        }
        if self.sample_ratio.is_none()
            && let Some(sampler) = var("OTEL_TRACES_SAMPLER")
        {
            let arg = var("OTEL_TRACES_SAMPLER_ARG");
            self.sample_ratio = Some(sampler_ratio(&sampler, arg)?);
        }
        Ok(())
    }

    /// Starts the exporters and their threads.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] for a bad environment variable,
    /// [`OtlpError::Exporter`] when an exporter cannot be built,
    /// [`OtlpError::Runtime`] when the gRPC runtime cannot start.
    pub fn build(mut self) -> Result<OtlpPipeline, OtlpError> {
        self.resolve_env()?;
        let protocol = self.protocol.unwrap_or(Protocol::HttpProtobuf);
        let resource = self.resource();
        let sample_ratio = SampleRatio::new(self.sample_ratio.unwrap_or(1.0))?;
        let counts = Arc::new(Counts::default());
        // tonic needs a Tokio runtime; the pipeline owns a small one, so it
        // works the same with or without a runtime in the program.
        let runtime = match protocol {
            Protocol::Grpc if self.traces || self.logs || self.metrics => Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("autotel-otlp")
                    .enable_all()
                    .build()
                    .map_err(OtlpError::Runtime)?,
            ),
            _ => None,
        };
        let _entered = runtime.as_ref().map(tokio::runtime::Runtime::enter);

        let tracer_provider = if self.traces {
            let exporter = exporter!(self, protocol, SpanExporter, "traces", "/v1/traces");
            let mut config = opentelemetry_sdk::trace::BatchConfigBuilder::default()
                .with_max_queue_size(self.queue_size)
                .with_max_export_batch_size(self.queue_size.min(512));
            if let Some(delay) = self.batch_delay {
                config = config.with_scheduled_delay(delay);
            }
            let processor = CountingSpanProcessor {
                inner: BatchSpanProcessor::builder(Counting {
                    inner: exporter,
                    counts: counts.clone(),
                })
                .with_batch_config(config.build())
                .build(),
                capacity: self.queue_size,
                counts: counts.clone(),
            };
            Some(
                SdkTracerProvider::builder()
                    .with_span_processor(processor)
                    .with_resource(resource.clone())
                    .with_sampler(sample_ratio.sampler())
                    .build(),
            )
        } else {
            None
        };

        let logger_provider = if self.logs {
            let exporter = exporter!(self, protocol, LogExporter, "logs", "/v1/logs");
            let mut config = opentelemetry_sdk::logs::BatchConfigBuilder::default()
                .with_max_queue_size(self.queue_size)
                .with_max_export_batch_size(self.queue_size.min(512));
            if let Some(delay) = self.batch_delay {
                config = config.with_scheduled_delay(delay);
            }
            let processor = CountingLogProcessor {
                inner: BatchLogProcessor::builder(Counting {
                    inner: exporter,
                    counts: counts.clone(),
                })
                .with_batch_config(config.build())
                .build(),
                capacity: self.queue_size,
                counts: counts.clone(),
            };
            Some(
                SdkLoggerProvider::builder()
                    .with_log_processor(processor)
                    .with_resource(resource.clone())
                    .build(),
            )
        } else {
            None
        };

        let meter_provider = if self.metrics {
            let exporter = exporter!(self, protocol, MetricExporter, "metrics", "/v1/metrics");
            let mut reader = PeriodicReader::builder(Counting {
                inner: exporter,
                counts: counts.clone(),
            });
            if let Some(interval) = self.metrics_interval {
                reader = reader.with_interval(interval);
            }
            Some(
                SdkMeterProvider::builder()
                    .with_reader(reader.build())
                    .with_resource(resource)
                    .build(),
            )
        } else {
            None
        };
        let recorder = meter_provider
            .as_ref()
            .map(|provider| OtelRecorder::new(provider.meter(SCOPE)));

        drop(_entered);
        Ok(OtlpPipeline {
            tracer_provider,
            logger_provider,
            meter_provider,
            recorder,
            sample_ratio,
            counts,
            shutdown_timeout: self.shutdown_timeout,
            runtime,
            stopped: false,
        })
    }

    fn resource(&self) -> Resource {
        let mut attributes = host_and_process_attributes();
        let mut builder = Resource::builder();
        if let Some(service) = &self.service {
            builder = builder.with_service_name(service.name().to_owned());
            attributes.push(KeyValue::new(
                "service.version",
                service.version().to_owned(),
            ));
            attributes.push(KeyValue::new(
                "deployment.environment.name",
                service.environment().to_owned(),
            ));
        }
        attributes.extend(
            self.attributes
                .iter()
                .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
        );
        builder.with_attributes(attributes).build()
    }
}

/// The ratio of root spans that `OTEL_TRACES_SAMPLER` asks for.
fn sampler_ratio(sampler: &str, arg: Option<String>) -> Result<f64, OtlpError> {
    match sampler.trim() {
        "always_on" | "parentbased_always_on" => Ok(1.0),
        "always_off" | "parentbased_always_off" => Ok(0.0),
        "traceidratio" | "parentbased_traceidratio" => match arg {
            None => Ok(1.0),
            Some(arg) => arg
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or(OtlpError::Config {
                    setting: "OTEL_TRACES_SAMPLER_ARG",
                    value: arg,
                    expected: "a ratio from 0.0 to 1.0",
                }),
        },
        _ => Err(OtlpError::Config {
            setting: "OTEL_TRACES_SAMPLER",
            value: sampler.to_owned(),
            expected: "always_on, always_off, traceidratio or their parentbased_ forms",
        }),
    }
}

/// `host.*`, `os.type` and `process.*` resource attributes.
fn host_and_process_attributes() -> Vec<KeyValue> {
    let mut attributes = vec![
        KeyValue::new("host.arch", std::env::consts::ARCH),
        KeyValue::new("os.type", std::env::consts::OS),
        KeyValue::new("process.pid", i64::from(std::process::id())),
        KeyValue::new("process.runtime.name", "rust"),
    ];
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty());
    if let Some(host) = host {
        attributes.push(KeyValue::new("host.name", host));
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(name) = exe.file_name().and_then(|n| n.to_str()) {
            attributes.push(KeyValue::new("process.executable.name", name.to_owned()));
        }
        attributes.push(KeyValue::new(
            "process.executable.path",
            exe.display().to_string(),
        ));
    }
    attributes
}

/// Counts of what the pipeline dropped or failed to export, since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtlpStats {
    dropped_spans: u64,
    dropped_logs: u64,
    export_errors: u64,
}

impl OtlpStats {
    /// Spans dropped because the queue was full or their export failed.
    pub fn dropped_spans(&self) -> u64 {
        self.dropped_spans
    }

    /// Log records dropped because the queue was full or their export failed.
    pub fn dropped_logs(&self) -> u64 {
        self.dropped_logs
    }

    /// Exports of any signal that failed.
    pub fn export_errors(&self) -> u64 {
        self.export_errors
    }
}

/// The running OTLP pipeline. Dropping it flushes and shuts down, within the
/// shutdown timeout.
#[derive(Debug)]
pub struct OtlpPipeline {
    tracer_provider: Option<SdkTracerProvider>,
    logger_provider: Option<SdkLoggerProvider>,
    meter_provider: Option<SdkMeterProvider>,
    recorder: Option<OtelRecorder>,
    sample_ratio: SampleRatio,
    counts: Arc<Counts>,
    shutdown_timeout: Duration,
    runtime: Option<tokio::runtime::Runtime>,
    stopped: bool,
}

/// The layer that exports spans; see [`OtlpPipeline::trace_layer`].
pub type OtlpTraceLayer<S> = OpenTelemetryLayer<S, SdkTracer>;

/// The layer that exports events as log records; see [`OtlpPipeline::log_layer`].
pub type OtlpLogLayer = OpenTelemetryTracingBridge<SdkLoggerProvider, SdkLogger>;

impl OtlpPipeline {
    /// A layer that exports spans, or `None` when traces are off (an absent
    /// layer is a no-op layer).
    pub fn trace_layer<S>(&self) -> Option<OtlpTraceLayer<S>>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        self.tracer_provider
            .as_ref()
            .map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer(SCOPE)))
    }

    /// A layer that exports events as log records, with the trace and span
    /// ids of the current span, or `None` when logs are off.
    pub fn log_layer(&self) -> Option<OtlpLogLayer> {
        self.logger_provider
            .as_ref()
            .map(OpenTelemetryTracingBridge::new)
    }

    /// A `metrics` recorder that exports by OTLP, or `None` when metrics are off.
    pub fn metrics_recorder(&self) -> Option<OtelRecorder> {
        self.recorder.clone()
    }

    /// The ratio of root spans sampled, which can be changed while the
    /// program runs (it starts as [`Otlp::with_sample_ratio`] set it).
    pub fn sample_ratio(&self) -> SampleRatio {
        self.sample_ratio.clone()
    }

    /// The tracer provider, for code that uses the OpenTelemetry API directly.
    pub fn tracer_provider(&self) -> Option<&SdkTracerProvider> {
        self.tracer_provider.as_ref()
    }

    /// What was dropped or failed so far.
    pub fn stats(&self) -> OtlpStats {
        OtlpStats {
            dropped_spans: self.counts.dropped_spans.load(Ordering::Relaxed),
            dropped_logs: self.counts.dropped_logs.load(Ordering::Relaxed),
            export_errors: self.counts.export_errors.load(Ordering::Relaxed),
        }
    }

    /// Exports everything waiting now, within the shutdown timeout.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Timeout`] or [`OtlpError::Export`] when an export did not
    /// finish or failed.
    pub fn force_flush(&self) -> Result<(), OtlpError> {
        self.on_each("flush", |p| p.force_flush())
    }

    /// Flushes and stops the pipeline, within the shutdown timeout.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Timeout`] when the collector did not answer in time,
    /// [`OtlpError::Export`] when the last export failed.
    pub fn shutdown(mut self) -> Result<(), OtlpError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), OtlpError> {
        if std::mem::replace(&mut self.stopped, true) {
            return Ok(());
        }
        let timeout = self.shutdown_timeout;
        let result = self.on_each("shutdown", move |p| p.shutdown(timeout));
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        result
    }

    /// Runs `action` on each provider in its own thread, waiting at most the
    /// shutdown timeout for all of them.
    fn on_each(
        &self,
        action: &'static str,
        run: impl Fn(Provider) -> OTelSdkResult + Send + Sync + Clone + 'static,
    ) -> Result<(), OtlpError> {
        let providers = [
            self.tracer_provider.clone().map(Provider::Traces),
            self.logger_provider.clone().map(Provider::Logs),
            self.meter_provider.clone().map(Provider::Metrics),
        ];
        let (sender, receiver) = mpsc::channel();
        let mut started = 0;
        for provider in providers.into_iter().flatten() {
            let (sender, run) = (sender.clone(), run.clone());
            let signal = provider.signal();
            let spawned = std::thread::Builder::new()
                .name(format!("autotel-otlp-{action}"))
                .spawn(move || {
                    let _ = sender.send((signal, run(provider)));
                });
            match spawned {
                Ok(_) => started += 1,
                Err(error) => {
                    return Err(OtlpError::Export {
                        action,
                        signal,
                        reason: error.to_string(),
                    });
                }
            }
        }
        let deadline = Instant::now() + self.shutdown_timeout;
        let mut first_error = None;
        for _ in 0..started {
            let left = deadline.saturating_duration_since(Instant::now());
            match receiver.recv_timeout(left) {
                Ok((_, Ok(()))) => {}
                Ok((_, Err(error))) if is_timeout(&error) => {
                    first_error.get_or_insert(OtlpError::Timeout {
                        action,
                        timeout: self.shutdown_timeout,
                    });
                }
                Ok((signal, Err(error))) => {
                    first_error.get_or_insert(OtlpError::Export {
                        action,
                        signal,
                        reason: error.to_string(),
                    });
                }
                Err(_) => {
                    return Err(OtlpError::Timeout {
                        action,
                        timeout: self.shutdown_timeout,
                    });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

/// Whether the SDK gave up waiting; a provider reports the timeouts of its
/// processors inside an aggregated failure.
fn is_timeout(error: &opentelemetry_sdk::error::OTelSdkError) -> bool {
    match error {
        opentelemetry_sdk::error::OTelSdkError::Timeout(_) => true,
        other => format!("{other:?}").contains("Timeout("),
    }
}

impl Drop for OtlpPipeline {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// One provider of the pipeline, moved to the thread that flushes or stops it.
enum Provider {
    Traces(SdkTracerProvider),
    Logs(SdkLoggerProvider),
    Metrics(SdkMeterProvider),
}

impl Provider {
    fn signal(&self) -> &'static str {
        match self {
            Self::Traces(_) => "traces",
            Self::Logs(_) => "logs",
            Self::Metrics(_) => "metrics",
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match self {
            Self::Traces(p) => p.force_flush(),
            Self::Logs(p) => p.force_flush(),
            Self::Metrics(p) => p.force_flush(),
        }
    }

    fn shutdown(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Self::Traces(p) => p.shutdown_with_timeout(timeout),
            Self::Logs(p) => p.shutdown_with_timeout(timeout),
            Self::Metrics(p) => p.shutdown_with_timeout(timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_settings_name_the_setting_and_the_value() {
        let err = Otlp::new().with_endpoint("localhost:4317").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("Otlp::with_endpoint='localhost:4317'"),
            "{err}"
        );
        assert!(Otlp::new().with_endpoint("https://collector:4317").is_err());
        assert!(Otlp::new().with_endpoint("http://collector:4317/").is_ok());
        let err = Otlp::new().with_sample_ratio(1.5).unwrap_err();
        assert!(
            err.to_string().starts_with("Otlp::with_sample_ratio='1.5'"),
            "{err}"
        );
        let err = sampler_ratio("sometimes", None).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("OTEL_TRACES_SAMPLER='sometimes'"),
            "{err}"
        );
        let err = sampler_ratio("traceidratio", Some("2".into())).unwrap_err();
        assert!(
            err.to_string().starts_with("OTEL_TRACES_SAMPLER_ARG='2'"),
            "{err}"
        );
        assert_eq!(
            sampler_ratio("parentbased_traceidratio", Some("0.25".into())).unwrap(),
            0.25
        );
        assert_eq!(sampler_ratio("always_off", None).unwrap(), 0.0);
    }

    #[test]
    fn protocols_parse_from_the_standard_values() {
        assert_eq!(Protocol::parse("grpc"), Some(Protocol::Grpc));
        assert_eq!(
            Protocol::parse("http/protobuf"),
            Some(Protocol::HttpProtobuf)
        );
        assert_eq!(Protocol::parse("http/json"), None);
    }
}
