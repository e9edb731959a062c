//! The exporter of each signal, built from its resolved [`SignalConfig`]:
//! tonic for gRPC (headers set by an interceptor, tonic's TLS), or the
//! OTLP/HTTP exporter with our own reqwest client (headers, rustls).

use std::sync::Arc;

use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};

use super::OtlpError;
use super::exemplars::OtlpExemplars;
use super::http_client::DiagnosingClient;
use super::protocol::Protocol;
use super::report::Reporter;
use super::transport::SignalConfig;

/// Builds the exporter of one signal for the chosen protocol.
macro_rules! build_exporter {
    ($config:expr, $reporter:expr, $kind:ident) => {
        build_exporter!($config, $reporter, $kind, None)
    };
    ($config:expr, $reporter:expr, $kind:ident, $exemplars:expr) => {{
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
                let client = DiagnosingClient::new(config, $reporter)?.with_exemplars($exemplars);
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

/// The metric exporter of `config`.
/// The metrics exporter; over HTTP, its requests carry the exemplars of
/// `exemplars`.
pub(crate) fn metric_exporter(
    config: &SignalConfig,
    reporter: &Arc<Reporter>,
    exemplars: Option<Arc<OtlpExemplars>>,
) -> Result<opentelemetry_otlp::MetricExporter, OtlpError> {
    build_exporter!(config, reporter, MetricExporter, exemplars)
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
    use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue};
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
    let entries = Arc::new(entries);
    Ok(move |mut request: tonic::Request<()>| {
        for (key, value) in entries.iter() {
            request.metadata_mut().insert(key.clone(), value.clone());
        }
        Ok(request)
    })
}
