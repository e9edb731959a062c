//! Building the exporters and recorders a preset asks for: Prometheus, OTLP,
//! the console and the in-memory capture, all behind one fan-out recorder.

use autotel_exporters::ServiceInfo;
#[cfg(feature = "cloudwatch")]
use autotel_exporters::cloudwatch::CloudWatch;
#[cfg(feature = "cloudwatch-emf")]
use autotel_exporters::cloudwatch::Emf;
#[cfg(feature = "console")]
use autotel_exporters::console::{ConsoleGuard, ConsoleMetrics, ConsoleRecorder};
#[cfg(feature = "datadog")]
use autotel_exporters::datadog::Datadog;
use autotel_exporters::fanout::Fanout;
#[cfg(feature = "otlp")]
use autotel_exporters::otlp::{Otlp, OtlpGuard};
#[cfg(feature = "prometheus")]
use autotel_exporters::prometheus::{
    Prometheus, PrometheusGuard, PrometheusHandle, PrometheusRecorder,
};
#[cfg(feature = "push")]
use autotel_exporters::push::{Push, PushGuard, PushRecorder};
#[cfg(feature = "statsd")]
use autotel_exporters::statsd::StatsD;
use autotel_layers::SpanMetricsLayer;
#[cfg(feature = "prometheus")]
use autotel_layers::catalog::MetricKind;
use autotel_layers::redact::Redaction;
#[cfg(feature = "testing")]
use autotel_layers::testing::Capture;

use crate::Error;
#[cfg(feature = "otlp")]
use crate::config::OtlpTarget;
use crate::config::Settings;
#[cfg(feature = "prometheus")]
use crate::config::{Listen, with_credentials};
use crate::ratio::SampleRatio;

/// The exporters started, and the recorder that feeds them all.
pub(crate) struct Exporters {
    /// Every recorder below, not installed yet.
    pub(crate) fanout: Fanout,
    #[cfg(feature = "prometheus")]
    pub(crate) prometheus: Option<PrometheusGuard>,
    #[cfg(feature = "prometheus")]
    pub(crate) prometheus_handle: Option<PrometheusHandle>,
    #[cfg(feature = "otlp")]
    pub(crate) otlp: Option<OtlpGuard>,
    /// The OTLP pipeline's ratio, or a detached one without OTLP traces.
    pub(crate) sample_ratio: SampleRatio,
    /// StatsD, DogStatsD and the Datadog API, sharing one push recorder.
    #[cfg(feature = "push")]
    pub(crate) push: Option<PushGuard>,
    #[cfg(feature = "console")]
    pub(crate) console: Option<ConsoleGuard>,
    #[cfg(feature = "testing")]
    pub(crate) capture: Option<Capture>,
}

impl Exporters {
    /// Starts every exporter `settings` asks for; nothing global is installed.
    #[allow(unused_variables, unused_mut)]
    pub(crate) fn start(
        settings: &Settings,
        service: &ServiceInfo,
        span_metrics: Option<&SpanMetricsLayer>,
        redaction: &Redaction,
    ) -> Result<Self, Error> {
        let mut fanout = Fanout::new();
        #[cfg(feature = "prometheus")]
        let (prometheus, prometheus_handle) =
            match prometheus(settings, service, span_metrics, redaction)? {
                Some((recorder, server)) => {
                    let handle = recorder.handle();
                    fanout = fanout.with_recorder(recorder);
                    (Some(server), Some(handle))
                }
                None => (None, None),
            };
        #[cfg(feature = "otlp")]
        let otlp = otlp(settings, service, redaction)?;
        #[cfg(feature = "otlp")]
        if let Some(recorder) = otlp.as_ref().and_then(OtlpGuard::metrics_recorder) {
            fanout = fanout.with_recorder(recorder);
        }
        #[cfg(feature = "otlp")]
        let pipeline_ratio = otlp.as_ref().map(OtlpGuard::sample_ratio);
        #[cfg(not(feature = "otlp"))]
        let pipeline_ratio: Option<()> = None;
        let sample_ratio = match pipeline_ratio {
            #[cfg(feature = "otlp")]
            Some(shared) => SampleRatio::of(shared),
            _ => SampleRatio::new(
                "Preset::trace_sample_ratio",
                settings.sample_ratio.unwrap_or(1.0),
            )?,
        };
        #[cfg(feature = "push")]
        let push = match push(service, redaction)? {
            Some((recorder, guard)) => {
                fanout = fanout.with_recorder(recorder);
                Some(guard)
            }
            None => None,
        };
        #[cfg(feature = "console")]
        let mut console = None;
        #[cfg(feature = "console")]
        if settings.console_export {
            let recorder = ConsoleRecorder::default();
            console = Some(ConsoleMetrics::new().start(recorder.clone(), std::io::stderr)?);
            fanout = fanout.with_recorder(recorder);
        }
        #[cfg(feature = "testing")]
        let capture = settings.in_memory.then(Capture::new);
        #[cfg(feature = "testing")]
        if let Some(capture) = &capture {
            fanout = fanout.with_recorder(capture.recorder());
        }
        Ok(Self {
            fanout,
            #[cfg(feature = "prometheus")]
            prometheus,
            #[cfg(feature = "prometheus")]
            prometheus_handle,
            #[cfg(feature = "otlp")]
            otlp,
            sample_ratio,
            #[cfg(feature = "push")]
            push,
            #[cfg(feature = "console")]
            console,
            #[cfg(feature = "testing")]
            capture,
        })
    }
}

/// The Prometheus recorder and its endpoint, with the span metrics' buckets.
#[cfg(feature = "prometheus")]
fn prometheus(
    settings: &Settings,
    service: &ServiceInfo,
    span_metrics: Option<&SpanMetricsLayer>,
    redaction: &Redaction,
) -> Result<Option<(PrometheusRecorder, PrometheusGuard)>, Error> {
    if settings.prometheus == Listen::Off {
        return Ok(None);
    }
    let mut prometheus = Prometheus::new()
        .with_service(service.clone())
        .with_redaction(redaction.clone())
        .with_exemplars(settings.exemplars.is_enabled());
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
        prometheus = with_credentials(prometheus, auth)?;
    }
    Ok(Some(prometheus.build()?))
}

/// The OTLP pipeline, when an endpoint is configured.
#[cfg(feature = "otlp")]
fn otlp(
    settings: &Settings,
    service: &ServiceInfo,
    redaction: &Redaction,
) -> Result<Option<OtlpGuard>, Error> {
    let mut otlp = match &settings.otlp {
        OtlpTarget::Off => return Ok(None),
        _ => Otlp::new()
            .with_service(service.clone())
            .with_redaction(redaction.clone())
            .with_exemplars(settings.exemplars.is_enabled()),
    };
    if let OtlpTarget::Endpoint(endpoint) = &settings.otlp {
        otlp = otlp.with_endpoint(endpoint)?;
    }
    if let Some(ratio) = settings.sample_ratio {
        otlp = otlp.with_sample_ratio(ratio)?;
    }
    Ok(Some(otlp.build()?))
}

/// The push recorder and its exporters, when the environment asks for any:
/// plain StatsD (`STATSD_HOST`), DogStatsD (`DD_DOGSTATSD_URL` or
/// `DD_AGENT_HOST`), the Datadog API (`DD_API_KEY`), CloudWatch EMF lines
/// (`AWS_EMF_NAMESPACE`, `AWS_EMF_AGENT_ENDPOINT`) and PutMetricData
/// (`CLOUDWATCH_NAMESPACE`), in any combination.
#[cfg(feature = "push")]
fn push(
    service: &ServiceInfo,
    redaction: &Redaction,
) -> Result<Option<(PushRecorder, PushGuard)>, Error> {
    let mut push = Push::new().with_redaction(redaction.clone());
    #[cfg(feature = "statsd")]
    if let Some(statsd) = StatsD::from_env()? {
        push = push.with_exporter(statsd.build()?);
    }
    #[cfg(feature = "statsd")]
    if let Some(dogstatsd) = StatsD::dogstatsd_from_env()? {
        push = push.with_exporter(dogstatsd.with_service(service).build()?);
    }
    #[cfg(feature = "datadog")]
    if let Some(datadog) = Datadog::from_env()? {
        push = push.with_exporter(datadog.with_service(service).build()?);
    }
    #[cfg(feature = "cloudwatch-emf")]
    if let Some(emf) = Emf::from_env()? {
        push = push.with_exporter(emf.with_service(service).build());
    }
    #[cfg(feature = "cloudwatch")]
    if let Some(cloudwatch) = CloudWatch::from_env()? {
        push = push.with_exporter(cloudwatch.with_service(service).build());
    }
    if push.exporters() == 0 {
        return Ok(None);
    }
    push.build().map(Some).map_err(|source| Error::Thread {
        what: "push exporters",
        source,
    })
}
