//! Building the exporters and recorders a preset asks for: Prometheus, OTLP,
//! the console and the in-memory capture, all behind one fan-out recorder.

use autotel_exporters::ServiceInfo;
use autotel_exporters::console::{ConsoleMetrics, ConsoleRecorder, ConsoleReporter};
use autotel_exporters::fanout::Fanout;
use autotel_exporters::otlp::{Otlp, OtlpPipeline, SampleRatio};
use autotel_exporters::prometheus::{Prometheus, PrometheusHandle, PrometheusServer};
use autotel_layers::SpanMetricsLayer;
use autotel_layers::catalog::MetricKind;
use autotel_layers::redact::Redaction;
use autotel_layers::testing::Capture;

use crate::Error;
use crate::config::{Listen, OtlpTarget, Settings};

/// The exporters started, and the recorder that feeds them all.
pub(crate) struct Exporters {
    /// Every recorder below, not installed yet.
    pub(crate) fanout: Fanout,
    pub(crate) prometheus: Option<PrometheusServer>,
    pub(crate) prometheus_handle: Option<PrometheusHandle>,
    pub(crate) otlp: Option<OtlpPipeline>,
    /// The OTLP pipeline's ratio, or a detached one without OTLP traces.
    pub(crate) sample_ratio: SampleRatio,
    pub(crate) console: Option<ConsoleReporter>,
    pub(crate) capture: Option<Capture>,
}

impl Exporters {
    /// Starts every exporter `settings` asks for; nothing global is installed.
    pub(crate) fn start(
        settings: &Settings,
        service: &ServiceInfo,
        span_metrics: Option<&SpanMetricsLayer>,
        redaction: &Redaction,
    ) -> Result<Self, Error> {
        let mut fanout = Fanout::new();
        let (prometheus, prometheus_handle) = match prometheus(settings, service, span_metrics)? {
            Some((recorder, server)) => {
                let handle = recorder.handle();
                fanout = fanout.with_recorder(recorder);
                (Some(server), Some(handle))
            }
            None => (None, None),
        };
        let otlp = otlp(settings, service, redaction)?;
        if let Some(recorder) = otlp.as_ref().and_then(OtlpPipeline::metrics_recorder) {
            fanout = fanout.with_recorder(recorder);
        }
        let sample_ratio = match &otlp {
            Some(pipeline) => pipeline.sample_ratio(),
            None => SampleRatio::new(settings.sample_ratio.unwrap_or(1.0))?,
        };
        let mut console = None;
        if settings.console_export {
            let recorder = ConsoleRecorder::default();
            console = Some(ConsoleMetrics::new().start(recorder.clone(), std::io::stderr)?);
            fanout = fanout.with_recorder(recorder);
        }
        let capture = settings.in_memory.then(Capture::new);
        if let Some(capture) = &capture {
            fanout = fanout.with_recorder(capture.recorder());
        }
        Ok(Self {
            fanout,
            prometheus,
            prometheus_handle,
            otlp,
            sample_ratio,
            console,
            capture,
        })
    }
}

/// The Prometheus recorder and its endpoint, with the span metrics' buckets.
fn prometheus(
    settings: &Settings,
    service: &ServiceInfo,
    span_metrics: Option<&SpanMetricsLayer>,
) -> Result<
    Option<(
        autotel_exporters::prometheus::PrometheusRecorder,
        PrometheusServer,
    )>,
    Error,
> {
    if settings.prometheus == Listen::Off {
        return Ok(None);
    }
    let mut prometheus = Prometheus::new().with_service(service.clone());
    if let Some(layer) = span_metrics {
        for (name, def) in layer.metric_names() {
            if def.kind() == MetricKind::Histogram {
                prometheus = prometheus.with_buckets(name, layer.histogram_buckets())?;
            }
        }
    }
    prometheus = match settings.prometheus {
        Listen::On(address) => prometheus.with_listen_address(address),
        _ => prometheus.without_listener(),
    };
    if let Some(auth) = &settings.prometheus_auth {
        prometheus = auth.apply(prometheus)?;
    }
    Ok(Some(prometheus.build()?))
}

/// The OTLP pipeline, when an endpoint is configured.
fn otlp(
    settings: &Settings,
    service: &ServiceInfo,
    redaction: &Redaction,
) -> Result<Option<OtlpPipeline>, Error> {
    let mut otlp = match &settings.otlp {
        OtlpTarget::Off => return Ok(None),
        _ => Otlp::new()
            .with_service(service.clone())
            .with_redaction(redaction.clone()),
    };
    if let OtlpTarget::Endpoint(endpoint) = &settings.otlp {
        otlp = otlp.with_endpoint(endpoint)?;
    }
    if let Some(ratio) = settings.sample_ratio {
        otlp = otlp.with_sample_ratio(ratio)?;
    }
    Ok(Some(otlp.build()?))
}
