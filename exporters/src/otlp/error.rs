//! What can go wrong when an OTLP pipeline is configured, flushed or stopped.

use std::time::Duration;

use crate::env::InvalidSetting;

/// A configuration error or a failure of the OTLP pipeline.
///
/// No message contains a header value or the credentials of an endpoint URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtlpError {
    /// A setting or environment variable has a value that cannot be used;
    /// the message names it and the value, and says what would be accepted.
    #[error(transparent)]
    Config(#[from] InvalidSetting),
    /// A certificate or key could not be read or used.
    #[error("{setting}='{path}' cannot be used: {reason}")]
    Tls {
        /// The builder method or environment variable that named the file.
        setting: &'static str,
        /// The file.
        path: String,
        /// What went wrong, and what to do.
        reason: String,
    },
    /// opentelemetry-otlp refused to build an exporter.
    #[error("cannot build the OTLP {signal} exporter: {source}")]
    Exporter {
        /// `traces`, `logs` or `metrics`.
        signal: &'static str,
        /// The reason.
        source: opentelemetry_otlp::ExporterBuildError,
    },
    /// The HTTP client could not be built.
    #[error("cannot build the OTLP/HTTP client for {signal}: {reason}")]
    HttpClient {
        /// `traces`, `logs` or `metrics`.
        signal: &'static str,
        /// What the client library said.
        reason: String,
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

impl OtlpError {
    /// A configuration error: `setting` has `value` (stripped of secrets).
    pub(crate) fn config(
        setting: &'static str,
        value: impl Into<String>,
        expected: &'static str,
    ) -> Self {
        Self::Config(InvalidSetting::new(setting, value, expected))
    }
}
