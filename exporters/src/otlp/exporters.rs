//! The exporter of each signal, built from its resolved [`SignalConfig`]:
//! tonic for gRPC (headers set by an interceptor, tonic's TLS), or the
//! OTLP/HTTP exporter with our own reqwest client (headers, rustls).
//! Metrics over gRPC leave through our own exporter
//! ([`GrpcMetricExporter`]), which adds the exemplars.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};

use super::OtlpError;
use super::exemplars::OtlpExemplars;
use super::grpc_metrics::GrpcMetricExporter;
use super::http_client::DiagnosingClient;
use super::protocol::Protocol;
use super::report::Reporter;
use super::transport::SignalConfig;

/// Builds the exporter of one signal for the chosen protocol.
macro_rules! build_exporter {
    ($config:expr, $reporter:expr, $kind:ident) => {{
        let config: &SignalConfig = $config;
        let built = match config.protocol {
            Protocol::Grpc => {
                let mut builder = opentelemetry_otlp::$kind::builder()
                    .with_tonic()
                    .with_endpoint(config.url.clone())
                    .with_timeout(config.timeout)
                    .with_interceptor(grpc_headers(config)?);
                if config.gzip {
                    builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                if let Some(tls) = &config.tls {
                    builder = builder.with_tls_config(tls.tonic());
                }
                builder.build()
            }
            Protocol::HttpProtobuf => {
                let client = DiagnosingClient::new(config, $reporter)?;
                let mut builder = opentelemetry_otlp::$kind::builder()
                    .with_http()
                    .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                    .with_endpoint(config.url.clone())
                    .with_timeout(config.timeout)
                    .with_http_client(client);
                if config.gzip {
                    builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
                }
                builder.build()
            }
        };
        built.map_err(|source| OtlpError::Exporter {
            signal: config.signal.name(),
            source,
        })
    }};
}

/// The span exporter of `config`.
pub(crate) fn span_exporter(
    config: &SignalConfig,
    reporter: &Arc<Reporter>,
) -> Result<opentelemetry_otlp::SpanExporter, OtlpError> {
    build_exporter!(config, reporter, SpanExporter)
}

/// The log exporter of `config`.
pub(crate) fn log_exporter(
    config: &SignalConfig,
    reporter: &Arc<Reporter>,
) -> Result<opentelemetry_otlp::LogExporter, OtlpError> {
    build_exporter!(config, reporter, LogExporter)
}

/// The variable that chooses the temporality of the metrics.
const TEMPORALITY_VAR: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";

/// The metrics exporter of a pipeline: opentelemetry-otlp's over HTTP, ours
/// over gRPC; both send the exemplars of `exemplars`.
#[derive(Debug)]
pub(crate) enum MetricExporter {
    /// OTLP/HTTP, whose client adds the exemplars.
    Http(opentelemetry_otlp::MetricExporter),
    /// OTLP/gRPC.
    Grpc(GrpcMetricExporter),
}

impl PushMetricExporter for MetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        match self {
            Self::Http(exporter) => exporter.export(metrics).await,
            Self::Grpc(exporter) => exporter.export(metrics).await,
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        match self {
            Self::Http(exporter) => exporter.force_flush(),
            Self::Grpc(exporter) => exporter.force_flush(),
        }
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        match self {
            Self::Http(exporter) => exporter.shutdown_with_timeout(timeout),
            Self::Grpc(exporter) => exporter.shutdown_with_timeout(timeout),
        }
    }

    fn temporality(&self) -> Temporality {
        match self {
            Self::Http(exporter) => exporter.temporality(),
            Self::Grpc(exporter) => exporter.temporality(),
        }
    }
}

/// The metrics exporter of `config`; its requests carry the exemplars of
/// `exemplars`. Over gRPC, it must be built within the pipeline's runtime.
pub(crate) fn metric_exporter(
    config: &SignalConfig,
    reporter: &Arc<Reporter>,
    exemplars: Option<Arc<OtlpExemplars>>,
) -> Result<MetricExporter, OtlpError> {
    let temporality = temporality(std::env::var(TEMPORALITY_VAR).ok())?;
    match config.protocol {
        Protocol::Grpc => Ok(MetricExporter::Grpc(GrpcMetricExporter::new(
            config,
            Arc::new(grpc_metadata(config)?),
            temporality,
            exemplars,
        )?)),
        Protocol::HttpProtobuf => {
            let client = DiagnosingClient::new(config, reporter)?.with_exemplars(exemplars);
            let mut builder = opentelemetry_otlp::MetricExporter::builder()
                .with_http()
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(config.url.clone())
                .with_timeout(config.timeout)
                .with_http_client(client)
                .with_temporality(temporality);
            if config.gzip {
                builder = builder.with_compression(opentelemetry_otlp::Compression::Gzip);
            }
            builder
                .build()
                .map(MetricExporter::Http)
                .map_err(|source| OtlpError::Exporter {
                    signal: config.signal.name(),
                    source,
                })
        }
    }
}

/// The temporality that `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`
/// (`value`) asks for; cumulative when it is unset or empty.
fn temporality(value: Option<String>) -> Result<Temporality, OtlpError> {
    match value.as_deref().map(str::trim) {
        None | Some("") => Ok(Temporality::Cumulative),
        Some(text) => text.parse().map_err(|()| {
            OtlpError::config(
                TEMPORALITY_VAR,
                text,
                "is not a temporality: use cumulative, delta or lowmemory",
            )
        }),
    }
}

/// The headers of `config` as gRPC metadata.
fn grpc_metadata(
    config: &SignalConfig,
) -> Result<Vec<(AsciiMetadataKey, AsciiMetadataValue)>, OtlpError> {
    let mut entries = Vec::with_capacity(config.headers.len());
    for (key, value) in &config.headers {
        let parsed = (
            AsciiMetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes()),
            AsciiMetadataValue::try_from(value.as_str()),
        );
        match parsed {
            (Ok(key), Ok(value)) => entries.push((key, value)),
            _ => {
                return Err(OtlpError::config(
                    config.headers_setting,
                    format!("{key}=[REDACTED]"),
                    "has a header that gRPC metadata does not allow (ASCII names and values)",
                ));
            }
        }
    }
    Ok(entries)
}

/// A gRPC interceptor that sets the headers, replacing any of the same name
/// that opentelemetry-otlp added from the environment, so code wins and no
/// header is sent twice.
fn grpc_headers(
    config: &SignalConfig,
) -> Result<
    impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status>
    + Clone
    + Send
    + Sync
    + 'static,
    OtlpError,
> {
    let entries = Arc::new(grpc_metadata(config)?);
    Ok(move |mut request: tonic::Request<()>| {
        for (key, value) in entries.iter() {
            request.metadata_mut().insert(key.clone(), value.clone());
        }
        Ok(request)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_temporality_variable_is_read_or_refused() {
        assert_eq!(temporality(None).unwrap(), Temporality::Cumulative);
        assert_eq!(
            temporality(Some(" ".into())).unwrap(),
            Temporality::Cumulative
        );
        assert_eq!(
            temporality(Some("Delta".into())).unwrap(),
            Temporality::Delta
        );
        let error = temporality(Some("sometimes".into()))
            .unwrap_err()
            .to_string();
        assert!(error.contains(TEMPORALITY_VAR), "{error}");
        assert!(error.contains("sometimes"), "{error}");
    }
}
