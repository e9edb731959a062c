//! The OTLP/gRPC metrics exporter: the SDK's data converted to an
//! `ExportMetricsServiceRequest`, the exemplars of its histogram data points
//! added, and the request sent with tonic's `MetricsServiceClient`.
//!
//! opentelemetry-otlp's gRPC exporter converts and sends in one step, with
//! no way to change the request in between, so the histograms would leave
//! without their exemplars. This one keeps its behaviour otherwise: the same
//! channel settings (endpoint, timeout, TLS, gzip, headers as metadata), a
//! few retries of the failures worth retrying within the timeout, and an
//! error naming the gRPC code and the transport's cause, never the
//! collector's message (it may echo credentials).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use tonic::codec::CompressionEncoding;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, ClientTlsConfig, Endpoint};

use super::OtlpError;
use super::exemplars::OtlpExemplars;
use super::transport::SignalConfig;

/// Retries after the first attempt, at most.
const MAX_RETRIES: u32 = 3;
/// The wait before the first retry; it doubles for each further one.
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// Sends metrics over OTLP/gRPC, with the exemplars of `exemplars`.
pub(crate) struct GrpcMetricExporter {
    /// `None` once shut down.
    client: Mutex<Option<MetricsServiceClient<Channel>>>,
    metadata: Arc<Vec<(AsciiMetadataKey, AsciiMetadataValue)>>,
    /// The pipeline's runtime, where requests and their timers run.
    runtime: tokio::runtime::Handle,
    timeout: Duration,
    temporality: Temporality,
    exemplars: Option<Arc<OtlpExemplars>>,
}

impl std::fmt::Debug for GrpcMetricExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrpcMetricExporter")
            .field("timeout", &self.timeout)
            .field("temporality", &self.temporality)
            .field("exemplars", &self.exemplars.is_some())
            .finish_non_exhaustive()
    }
}

impl GrpcMetricExporter {
    /// The exporter of `config`; must be called within the pipeline's Tokio
    /// runtime, which then carries its requests.
    pub(crate) fn new(
        config: &SignalConfig,
        metadata: Arc<Vec<(AsciiMetadataKey, AsciiMetadataValue)>>,
        temporality: Temporality,
        exemplars: Option<Arc<OtlpExemplars>>,
    ) -> Result<Self, OtlpError> {
        let signal = config.signal.name();
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|error| OtlpError::Runtime(
                std::io::Error::other(format!("the OTLP/gRPC {signal} exporter was built outside the pipeline's Tokio runtime: {error}")),
            ))?;
        let mut endpoint = Endpoint::from_shared(config.url.clone())
            .map_err(|error| build_error(config, "url", &error))?
            .timeout(config.timeout);
        endpoint = match (&config.tls, config.endpoint.is_https()) {
            (Some(tls), _) => endpoint.tls_config(tls.tonic()),
            (None, true) => endpoint.tls_config(ClientTlsConfig::new().with_native_roots()),
            (None, false) => Ok(endpoint),
        }
        .map_err(|error| build_error(config, "tls_config", &error))?;
        let mut client = MetricsServiceClient::new(endpoint.connect_lazy());
        if config.gzip {
            client = client
                .send_compressed(CompressionEncoding::Gzip)
                .accept_compressed(CompressionEncoding::Gzip);
        }
        Ok(Self {
            client: Mutex::new(Some(client)),
            metadata,
            runtime,
            timeout: config.timeout,
            temporality,
            exemplars,
        })
    }
}

/// A request to send, once or again.
struct Outgoing {
    metadata: Arc<Vec<(AsciiMetadataKey, AsciiMetadataValue)>>,
    message: ExportMetricsServiceRequest,
}

impl Outgoing {
    /// One attempt: the message with the configured metadata.
    fn request(&self) -> tonic::Request<ExportMetricsServiceRequest> {
        let mut metadata = MetadataMap::with_capacity(self.metadata.len());
        for (key, value) in self.metadata.iter() {
            metadata.insert(key.clone(), value.clone());
        }
        tonic::Request::from_parts(metadata, tonic::Extensions::default(), self.message.clone())
    }
}

/// An [`OtlpError::Exporter`] for a channel setting tonic refused.
fn build_error(
    config: &SignalConfig,
    setting: &str,
    error: &(dyn std::error::Error + 'static),
) -> OtlpError {
    OtlpError::Exporter {
        signal: config.signal.name(),
        source: opentelemetry_otlp::ExporterBuildError::InvalidConfiguration(format!(
            "{setting}: {}",
            source_chain(error)
        )),
    }
}

/// An error and its sources, `: `-separated.
fn source_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// Whether a failure with `code` may pass if tried again.
fn worth_retrying(code: tonic::Code) -> bool {
    matches!(
        code,
        tonic::Code::Unavailable
            | tonic::Code::Cancelled
            | tonic::Code::DeadlineExceeded
            | tonic::Code::Aborted
            | tonic::Code::OutOfRange
            | tonic::Code::DataLoss
    )
}

/// The SDK error of a failed export: the gRPC code and, when the failure
/// happened on this side (connection, TLS, HTTP/2), its causes; never the
/// collector's message.
fn export_error(status: &tonic::Status) -> OTelSdkError {
    let mut text = format!(
        "OTLP/gRPC metrics export failed with gRPC code: {:?}",
        status.code()
    );
    if let Some(source) = std::error::Error::source(status) {
        text.push_str(": ");
        text.push_str(&source_chain(source));
    }
    OTelSdkError::InternalFailure(text)
}

/// Sends `outgoing` with `client`, retrying what is worth it while
/// `timeout` allows; the number of data points the collector rejected when
/// it accepted the rest (a partial success).
async fn send(
    client: MetricsServiceClient<Channel>,
    outgoing: Outgoing,
    timeout: Duration,
) -> Result<i64, tonic::Status> {
    let start = Instant::now();
    let mut backoff = FIRST_BACKOFF;
    let mut retries = 0;
    loop {
        let error = match client.clone().export(outgoing.request()).await {
            Ok(response) => {
                let rejected = response
                    .get_ref()
                    .partial_success
                    .as_ref()
                    .map_or(0, |partial| partial.rejected_data_points);
                return Ok(rejected);
            }
            Err(error) => error,
        };
        let left = timeout.saturating_sub(start.elapsed());
        if retries == MAX_RETRIES || !worth_retrying(error.code()) || backoff >= left {
            return Err(error);
        }
        tokio::time::sleep(backoff).await;
        retries += 1;
        backoff = backoff.saturating_mul(2);
    }
}

impl PushMetricExporter for GrpcMetricExporter {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let client = self
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| {
                OTelSdkError::InternalFailure(
                    "the OTLP/gRPC metrics exporter is already shut down".into(),
                )
            })?;
        let mut message = ExportMetricsServiceRequest::from(metrics);
        if let Some(exemplars) = &self.exemplars {
            exemplars.fill(&mut message);
        }
        let outgoing = Outgoing {
            metadata: self.metadata.clone(),
            message,
        };
        let timeout = self.timeout;
        // The request and its timers run on the pipeline's runtime, whatever
        // executor polls this future.
        let sent = self.runtime.spawn(send(client, outgoing, timeout));
        match sent.await {
            Ok(Ok(0)) => Ok(()),
            // Counted and reported as a failed export: part of it was lost.
            Ok(Ok(rejected)) => Err(OTelSdkError::InternalFailure(format!(
                "the collector accepted the OTLP/gRPC metrics export but rejected {rejected} of \
                 its data points (a partial success): check the collector's logs for why"
            ))),
            Ok(Err(status)) => Err(export_error(&status)),
            Err(error) => Err(OTelSdkError::InternalFailure(format!(
                "the OTLP/gRPC metrics export did not finish: its runtime stopped ({error})"
            ))),
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        // Nothing is buffered here.
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        self.client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_code_and_never_the_collectors_message() {
        let status = tonic::Status::unauthenticated("bad key sk-12345");
        let error = export_error(&status).to_string();
        assert!(error.contains("gRPC code: Unauthenticated"), "{error}");
        assert!(!error.contains("sk-12345"), "{error}");
        assert!(worth_retrying(tonic::Code::Unavailable));
        assert!(!worth_retrying(tonic::Code::Unauthenticated));
    }
}
