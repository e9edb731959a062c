//! [`Otlp`], the builder of an [`OtlpGuard`]: what code sets, then what
//! the standard variables say, then the defaults.

use std::path::PathBuf;
use std::time::Duration;

use autotel_layers::redact::Redaction;

use super::limits::{DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT, Limits};
use super::pipeline::OtlpGuard;
use super::protocol::{Protocol, Signal};
use super::resource;
use super::sampler::Sampling;
use super::start::Parts;
use super::tls::NamedFile;
use super::transport::{self, CodeSettings};
use super::{DEFAULT_QUEUE_SIZE, DEFAULT_SHUTDOWN_TIMEOUT, OtlpError};
use crate::ServiceInfo;
use crate::env::{self, InvalidSetting};

/// Builder of an [`OtlpGuard`].
///
/// `Debug` shows header names, never their values.
#[derive(Clone)]
pub struct Otlp {
    transport: CodeSettings,
    service: Option<ServiceInfo>,
    attributes: Vec<(String, String)>,
    sampling: Option<Sampling>,
    traces: bool,
    logs: bool,
    metrics: bool,
    queue_size: usize,
    shutdown_timeout: Duration,
    metrics_interval: Option<Duration>,
    batch_delay: Option<Duration>,
    redaction: Redaction,
    value_length_limit: Option<usize>,
    exemplars: bool,
}

impl std::fmt::Debug for Otlp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self
            .transport
            .headers
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        f.debug_struct("Otlp")
            .field("endpoint", &self.transport.endpoint)
            .field("protocol", &self.transport.protocol)
            .field("header_names", &header_names)
            .field("gzip", &self.transport.gzip)
            .field("export_timeout", &self.transport.timeout)
            .field("tls", &self.transport.tls)
            .field("service", &self.service)
            .field("sampling", &self.sampling)
            .field("signals", &(self.traces, self.logs, self.metrics))
            .field("queue_size", &self.queue_size)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("redaction", &self.redaction)
            .field("value_length_limit", &self.value_length_limit)
            .finish_non_exhaustive()
    }
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
            transport: CodeSettings::default(),
            service: None,
            attributes: Vec::new(),
            sampling: None,
            traces: true,
            logs: true,
            metrics: true,
            queue_size: DEFAULT_QUEUE_SIZE,
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            metrics_interval: None,
            batch_delay: None,
            redaction: Redaction::default(),
            value_length_limit: None,
            exemplars: true,
        }
    }

    /// Sets the collector's base URL: `http://host:4317`, `otel-collector:4317`
    /// (no scheme means `http://`), `https://otlp.example.com`. For
    /// HTTP/protobuf, `/v1/traces`, `/v1/logs` and `/v1/metrics` are
    /// appended. Without [`with_protocol`](Self::with_protocol), the port
    /// chooses the protocol (see the [module docs](super)).
    /// Defaults to `OTEL_EXPORTER_OTLP_ENDPOINT` (and the per-signal
    /// variables, used as they are), then to `http://localhost:4318`.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] for a URL with another scheme, no host, a port
    /// outside 1-65535, a query or a fragment; the message hides credentials.
    pub fn with_endpoint(mut self, url: impl AsRef<str>) -> Result<Self, OtlpError> {
        self.transport.endpoint = Some(env::parse_endpoint("Otlp::with_endpoint", url.as_ref())?);
        Ok(self)
    }

    /// Sets the transport. Defaults to `OTEL_EXPORTER_OTLP_{SIGNAL}_PROTOCOL`,
    /// then `OTEL_EXPORTER_OTLP_PROTOCOL`, then to what the endpoint's port
    /// implies (4317: gRPC; otherwise HTTP/protobuf).
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.transport.protocol = Some(protocol);
        self
    }

    /// Adds a header (gRPC metadata) to every export, such as an API key; it
    /// replaces a header of the same name from the variables. Its value never
    /// appears in `Debug` output, logs or errors. Defaults to the headers of
    /// `OTEL_EXPORTER_OTLP_HEADERS` and `OTEL_EXPORTER_OTLP_{SIGNAL}_HEADERS`
    /// (`key=value,key2=value2`, percent-decoded), then to none.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        let name = name.into();
        self.transport
            .headers
            .retain(|(k, _)| !k.eq_ignore_ascii_case(&name));
        self.transport.headers.push((name, value.into()));
        self
    }

    /// Compresses exports with gzip, or not. Defaults to
    /// `OTEL_EXPORTER_OTLP_{SIGNAL}_COMPRESSION`, then
    /// `OTEL_EXPORTER_OTLP_COMPRESSION` (`gzip` or `none`), then to off.
    #[must_use]
    pub fn with_gzip(mut self, gzip: bool) -> Self {
        self.transport.gzip = Some(gzip);
        self
    }

    /// Trusts the CAs of this PEM file, instead of the system's roots, for
    /// `https://` endpoints. Defaults to `OTEL_EXPORTER_OTLP_{SIGNAL}_CERTIFICATE`,
    /// then `OTEL_EXPORTER_OTLP_CERTIFICATE`, then to the system's roots.
    #[must_use]
    pub fn with_certificate(mut self, ca_pem_file: impl Into<PathBuf>) -> Self {
        self.transport.tls.ca = Some(NamedFile {
            setting: "Otlp::with_certificate",
            path: ca_pem_file.into(),
        });
        self
    }

    /// Presents this client certificate (PEM chain) and key (PEM) to
    /// `https://` collectors that ask for one (mutual TLS). Defaults to
    /// `OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE` and
    /// `OTEL_EXPORTER_OTLP_CLIENT_KEY` (and their per-signal forms), then to
    /// none.
    #[must_use]
    pub fn with_client_certificate(
        mut self,
        certificate_pem_file: impl Into<PathBuf>,
        key_pem_file: impl Into<PathBuf>,
    ) -> Self {
        self.transport.tls.client_certificate = Some(NamedFile {
            setting: "Otlp::with_client_certificate",
            path: certificate_pem_file.into(),
        });
        self.transport.tls.client_key = Some(NamedFile {
            setting: "Otlp::with_client_certificate",
            path: key_pem_file.into(),
        });
        self
    }

    /// Sets `service.name`, `service.version` and `deployment.environment.name`.
    /// Defaults to `OTEL_SERVICE_NAME`, then to the `service.name` of
    /// `OTEL_RESOURCE_ATTRIBUTES`, then to `unknown_service:<executable>`.
    #[must_use]
    pub fn with_service(mut self, service: ServiceInfo) -> Self {
        self.service = Some(service);
        self
    }

    /// Adds a resource attribute. Defaults to the host and process attributes
    /// and those of `OTEL_RESOURCE_ATTRIBUTES`, which this one overrides.
    #[must_use]
    pub fn with_resource_attribute(
        mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.attributes.push((key.into(), value.into()));
        self
    }

    /// Samples this fraction of root spans; child spans, remote ones
    /// included, follow their parent (`parentbased_traceidratio`).
    /// Defaults to `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, then to
    /// `parentbased_always_on`.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] unless `0.0 <= ratio <= 1.0`.
    pub fn with_sample_ratio(mut self, ratio: f64) -> Result<Self, OtlpError> {
        super::sampler::check_ratio("Otlp::with_sample_ratio", ratio)?;
        self.sampling = Some(Sampling::parent_based(ratio)?);
        Ok(self)
    }

    /// Sets the sampler. Defaults to `OTEL_TRACES_SAMPLER` /
    /// `OTEL_TRACES_SAMPLER_ARG`, then to `parentbased_always_on`.
    #[must_use]
    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = Some(sampling);
        self
    }

    /// Sets the names whose span and log attribute values are sent as
    /// `"[REDACTED]"`. Defaults to [`Redaction::default`], the rule of the
    /// JSON logs.
    #[must_use]
    pub fn with_redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Cuts string attribute values, span event names and log bodies longer
    /// than `bytes` (on a character boundary), counting each cut in
    /// `autotel_truncated_values_total`. Defaults to
    /// `OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT` (spans) or
    /// `OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT` (logs), then
    /// `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`, then to 8192 bytes.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] for 0.
    pub fn with_attribute_value_length_limit(mut self, bytes: usize) -> Result<Self, OtlpError> {
        if bytes == 0 {
            return Err(OtlpError::config(
                "Otlp::with_attribute_value_length_limit",
                "0",
                "is not a length limit: give at least 1 byte",
            ));
        }
        self.value_length_limit = Some(bytes);
        Ok(self)
    }

    /// Exports traces or not. Defaults to `true` (`false` when `OTEL_SDK_DISABLED` is true).
    #[must_use]
    pub fn with_traces(mut self, enabled: bool) -> Self {
        self.traces = enabled;
        self
    }

    /// Exports logs or not. Defaults to `true` (`false` when `OTEL_SDK_DISABLED` is true).
    #[must_use]
    pub fn with_logs(mut self, enabled: bool) -> Self {
        self.logs = enabled;
        self
    }

    /// Exports metrics or not. Defaults to `true` (`false` when `OTEL_SDK_DISABLED` is true).
    #[must_use]
    pub fn with_metrics(mut self, enabled: bool) -> Self {
        self.metrics = enabled;
        self
    }

    /// Sets how many spans, and how many log records, may wait for export;
    /// more are dropped and counted. Defaults to 2048.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] for 0: nothing could be exported.
    pub fn with_queue_size(mut self, size: usize) -> Result<Self, OtlpError> {
        if size == 0 {
            return Err(OtlpError::config(
                "Otlp::with_queue_size",
                "0",
                "is not a queue size: give at least 1 (nothing could wait for export)",
            ));
        }
        self.queue_size = size;
        Ok(self)
    }

    /// Sets how long one export may take. Defaults to
    /// `OTEL_EXPORTER_OTLP_{SIGNAL}_TIMEOUT`, then `OTEL_EXPORTER_OTLP_TIMEOUT`
    /// (milliseconds), then to 10 seconds.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] for zero: every export would time out.
    pub fn with_export_timeout(mut self, timeout: Duration) -> Result<Self, OtlpError> {
        nonzero("Otlp::with_export_timeout", timeout)?;
        self.transport.timeout = Some(timeout);
        Ok(self)
    }

    /// Sets how long [`OtlpGuard::shutdown`] (and dropping the pipeline)
    /// and [`OtlpGuard::force_flush`] may take. Defaults to 5 seconds.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] for zero: every flush would time out.
    pub fn with_shutdown_timeout(mut self, timeout: Duration) -> Result<Self, OtlpError> {
        nonzero("Otlp::with_shutdown_timeout", timeout)?;
        self.shutdown_timeout = timeout;
        Ok(self)
    }

    /// Adds exemplars (the trace and span ids of a sampled span, see
    /// [`autotel_layers::exemplar`]) to the histogram data points of the
    /// metrics export: one per bucket per series, among the observations
    /// since the previous export, over OTLP/HTTP and gRPC alike. Defaults
    /// to `true`.
    #[must_use]
    pub fn with_exemplars(mut self, exemplars: bool) -> Self {
        self.exemplars = exemplars;
        self
    }

    /// Sets how often metrics are exported. Defaults to
    /// `OTEL_METRIC_EXPORT_INTERVAL`, then to 60 seconds.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] for zero.
    pub fn with_metrics_interval(mut self, interval: Duration) -> Result<Self, OtlpError> {
        nonzero("Otlp::with_metrics_interval", interval)?;
        self.metrics_interval = Some(interval);
        Ok(self)
    }

    /// Sets how long spans and log records wait to fill a batch.
    /// Defaults to `OTEL_BSP_SCHEDULE_DELAY` / `OTEL_BLRP_SCHEDULE_DELAY`,
    /// then to 5 seconds for spans and 1 second for logs.
    #[must_use]
    pub fn with_batch_delay(mut self, delay: Duration) -> Self {
        self.batch_delay = Some(delay);
        self
    }

    /// Starts the exporters and their threads.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] for a bad setting or environment variable,
    /// [`OtlpError::Tls`] for a certificate or key that cannot be used,
    /// [`OtlpError::Exporter`] when an exporter cannot be built,
    /// [`OtlpError::Runtime`] when the gRPC runtime cannot start.
    pub fn build(self) -> Result<OtlpGuard, OtlpError> {
        self.build_with(&|name| env::var(name))
    }

    fn build_with(mut self, read: transport::ReadVar<'_>) -> Result<OtlpGuard, OtlpError> {
        if env::sdk_disabled(read)? {
            (self.traces, self.logs, self.metrics) = (false, false, false);
        }
        let sampling = match self.sampling {
            Some(sampling) => sampling,
            None => match read("OTEL_TRACES_SAMPLER")? {
                Some(sampler) => {
                    Sampling::parse(&sampler, read("OTEL_TRACES_SAMPLER_ARG")?.as_deref())?
                }
                None => Sampling::default(),
            },
        };
        let general_limit = length_limit(read, "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")?;
        let limits = |signal_var| -> Result<Limits, OtlpError> {
            let max_len = match self.value_length_limit {
                Some(limit) => limit,
                None => length_limit(read, signal_var)?
                    .or(general_limit)
                    .unwrap_or(DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT),
            };
            Ok(Limits {
                redaction: self.redaction.clone(),
                max_len,
            })
        };
        let span_limits = limits("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT")?;
        let log_limits = limits("OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT")?;
        let resource = resource::resource(self.service.as_ref(), &self.attributes, read)?;
        let resolve = |on: bool, signal| {
            on.then(|| transport::resolve(signal, &self.transport, read))
                .transpose()
        };
        let parts = Parts {
            traces: resolve(self.traces, Signal::Traces)?,
            logs: resolve(self.logs, Signal::Logs)?,
            metrics: resolve(self.metrics, Signal::Metrics)?,
            resource,
            sampling,
            span_limits,
            log_limits,
            queue_size: self.queue_size,
            shutdown_timeout: self.shutdown_timeout,
            metrics_interval: self.metrics_interval,
            batch_delay: self.batch_delay,
            exemplars: self.exemplars,
        };
        OtlpGuard::start(parts)
    }
}

/// A length limit variable: a whole number of bytes above 0.
fn length_limit(
    read: transport::ReadVar<'_>,
    name: &'static str,
) -> Result<Option<usize>, OtlpError> {
    match read(name)? {
        None => Ok(None),
        Some(value) => match value.trim().parse::<usize>() {
            Ok(limit) if limit > 0 => Ok(Some(limit)),
            _ => Err(InvalidSetting::new(
                name,
                value,
                "is not a length limit in bytes (a whole number above 0, such as 8192)",
            )
            .into()),
        },
    }
}

/// `duration` unless it is zero.
fn nonzero(setting: &'static str, duration: Duration) -> Result<(), OtlpError> {
    if duration.is_zero() {
        return Err(OtlpError::config(
            setting,
            "0s",
            "is not a duration: give more than zero",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
