//! [`OtlpGuard`], the running exporters of the three signals, and how
//! they are flushed and stopped within a bounded time.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::logs::{SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetryLayer;
use tracing_subscriber::Layer as _;
use tracing_subscriber::filter::{FilterFn, Filtered};

use super::counting::Counts;
use super::report::Reporter;
use super::sampler::SampleRatio;
use super::{OtelRecorder, OtlpError, SCOPE};

/// Counts of what the pipeline dropped or failed to export, since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtlpStats {
    dropped_spans: u64,
    dropped_logs: u64,
    export_errors: u64,
    truncated_values: u64,
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

    /// Attribute values, event names and log bodies cut to the length limit.
    pub fn truncated_values(&self) -> u64 {
        self.truncated_values
    }
}

/// The running OTLP pipeline. Dropping it flushes and shuts down, within the
/// shutdown timeout.
#[derive(Debug)]
pub struct OtlpGuard {
    pub(crate) tracer_provider: Option<SdkTracerProvider>,
    pub(crate) logger_provider: Option<SdkLoggerProvider>,
    pub(crate) meter_provider: Option<SdkMeterProvider>,
    pub(crate) recorder: Option<OtelRecorder>,
    pub(crate) sample_ratio: SampleRatio,
    pub(crate) counts: Arc<Counts>,
    pub(crate) reporters: Vec<Arc<Reporter>>,
    pub(crate) shutdown_timeout: Duration,
    pub(crate) runtime: Option<tokio::runtime::Runtime>,
    pub(crate) stopped: bool,
}

/// The layer that exports spans; see [`OtlpGuard::trace_layer`].
pub type OtlpTraceLayer<S> = OpenTelemetryLayer<S, SdkTracer>;

/// The layer that exports events as log records; see [`OtlpGuard::log_layer`].
pub type OtlpLogLayer<S> = Filtered<
    OpenTelemetryTracingBridge<SdkLoggerProvider, SdkLogger>,
    FilterFn<fn(&tracing::Metadata<'_>) -> bool>,
    S,
>;

/// The crates that carry OTLP out, and autotel's own reports about it.
/// Their events would travel the path they are about: a failed export
/// would log, that log would be exported and fail, and so on.
const EXPORT_PATH_TARGETS: [&str; 9] = [
    "opentelemetry",
    "hyper",
    "h2",
    "tonic",
    "tower",
    "reqwest",
    "rustls",
    "tokio_util",
    "autotel::otlp",
];

/// Whether an event may become an OTLP log record: not when it comes from
/// the export path itself.
fn outside_export_path(metadata: &tracing::Metadata<'_>) -> bool {
    let target = metadata.target();
    !EXPORT_PATH_TARGETS.iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(':') || rest.starts_with('_'))
    })
}

impl OtlpGuard {
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
    ///
    /// Events of the export path itself (the `opentelemetry*`, `hyper*`,
    /// `h2`, `tonic`, `tower`, `reqwest`, `rustls` targets, and autotel's
    /// `autotel::otlp` failure reports) are not exported, so that exporting
    /// cannot feed itself; the other layers still see them.
    pub fn log_layer<S>(&self) -> Option<OtlpLogLayer<S>>
    where
        S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    {
        let filter: fn(&tracing::Metadata<'_>) -> bool = outside_export_path;
        self.logger_provider.as_ref().map(|provider| {
            OpenTelemetryTracingBridge::new(provider).with_filter(FilterFn::new(filter))
        })
    }

    /// A `metrics` recorder that exports by OTLP, or `None` when metrics are off.
    pub fn metrics_recorder(&self) -> Option<OtelRecorder> {
        self.recorder.clone()
    }

    /// The ratio of root spans sampled, which can be changed while the
    /// program runs (it starts as [`Otlp::with_sample_ratio`](super::Otlp::with_sample_ratio) set it).
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
            truncated_values: self.counts.truncated.load(Ordering::Relaxed),
        }
    }

    /// Where telemetry goes, as `protocol endpoint` without credentials
    /// (`grpc http://127.0.0.1:4317`); one entry per distinct destination,
    /// prefixed by its signals when the signals differ; `off` when every
    /// signal is off.
    pub fn destination(&self) -> String {
        let signals = ["traces", "logs", "metrics"];
        let all: Vec<(&str, String)> = self
            .reporters
            .iter()
            .map(|r| (r.signal_name(), r.destination()))
            .collect();
        match all.first() {
            None => "off".to_owned(),
            Some((_, first)) if all.iter().all(|(_, d)| d == first) => first.clone(),
            Some(_) => signals
                .iter()
                .filter_map(|signal| {
                    let (_, d) = all.iter().find(|(s, _)| s == signal)?;
                    Some(format!("{signal}: {d}"))
                })
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// The most recent export failure of any signal as it was reported
    /// (signal, endpoint without credentials, protocol, cause and hint), or
    /// `None` when no export failed so far.
    pub fn last_export_error(&self) -> Option<String> {
        self.reporters
            .iter()
            .filter_map(|r| r.last_report())
            .max_by_key(|(at, _)| *at)
            .map(|(_, report)| report)
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
                    let started = Instant::now();
                    let result = run(provider);
                    let _ = sender.send((signal, result, started.elapsed()));
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
                Ok((_, Ok(()), _)) => {}
                Ok((_, Err(error), took)) if gave_up(&error, took, self.shutdown_timeout) => {
                    first_error.get_or_insert(OtlpError::Timeout {
                        action,
                        timeout: self.shutdown_timeout,
                    });
                }
                Ok((signal, Err(error), _)) => {
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

/// Whether the SDK gave up waiting: it says so (`Timeout`), or the call
/// failed only after the whole timeout went by. A provider reports the
/// timeouts of its processors inside an aggregated `InternalFailure`, whose
/// text is not meant to be parsed; the time the call took is the fact that
/// tells.
fn gave_up(error: &OTelSdkError, took: Duration, timeout: Duration) -> bool {
    matches!(error, OTelSdkError::Timeout(_)) || took >= timeout
}

impl Drop for OtlpGuard {
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
    #[test]
    fn events_of_the_export_path_are_not_exported_as_logs() {
        use super::outside_export_path;
        use tracing::{Level, Metadata, callsite::Identifier, field::FieldSet, metadata::Kind};
        struct Nowhere;
        impl tracing::Callsite for Nowhere {
            fn set_interest(&self, _: tracing::subscriber::Interest) {}
            fn metadata(&self) -> &Metadata<'_> {
                unreachable!()
            }
        }
        static NOWHERE: Nowhere = Nowhere;
        let check = |target: &'static str| {
            let metadata = Metadata::new(
                "event",
                target,
                Level::INFO,
                None,
                None,
                None,
                FieldSet::new(&[], Identifier(&NOWHERE)),
                Kind::EVENT,
            );
            outside_export_path(&metadata)
        };
        for inside in [
            "hyper_util::client::legacy::pool",
            "opentelemetry_sdk",
            "h2::codec",
            "autotel::otlp",
            "reqwest::connect",
        ] {
            assert!(!check(inside), "{inside}");
        }
        for outside in [
            "checkout",
            "hyperion",
            "h2o",
            "autotel::otlpx",
            "my_app::tower",
        ] {
            assert!(check(outside), "{outside}");
        }
    }
}
