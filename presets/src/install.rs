//! Starting telemetry: the checks, the exporters, the log output, then the
//! global recorder, sampler, subscriber, `log` bridge and panic hook, in
//! that order.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "system")]
use std::time::{Duration, Instant};

use autotel_exporters::ServiceInfo;
use autotel_exporters::fanout::Fanout;
#[cfg(feature = "otlp")]
use autotel_exporters::otlp::OtlpGuard;
use autotel_layers::catalog;
use autotel_layers::redact::Redaction;
use autotel_layers::writer::{FlushGuard, NonBlocking};
use autotel_layers::{MetricsSwitch, SpanMetricsLayer};
#[cfg(feature = "system")]
use autotel_layers::{SamplerGuard, SystemSampler};

use crate::config::{self, Listen, OtlpTarget, Settings};
use crate::control::TelemetryControl;
use crate::exporters::Exporters;
use crate::filter::LogFilter;
use crate::guard::{Flush, TelemetryGuard};
use crate::output::{Memory, Output};
use crate::stack::Layers;
use crate::{Error, UserLayers};

/// The longest start-up waits for the system sampler's first sample.
#[cfg(feature = "system")]
const FIRST_SAMPLE_WAIT: Duration = Duration::from_secs(1);

/// Set by the first initialisation that got past its checks.
static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// What the code handed to the preset besides its settings.
pub(crate) struct Given {
    pub(crate) span_metrics: Option<SpanMetricsLayer>,
    pub(crate) redaction: Redaction,
    pub(crate) user_layers: UserLayers,
    /// The runtime to sample, else the one `init()` runs in.
    #[cfg(feature = "tokio")]
    pub(crate) tokio_runtime: Option<tokio::runtime::Handle>,
}

/// Builds everything `settings` and `given` ask for and installs it globally.
pub(crate) fn install(settings: Settings, given: Given) -> Result<TelemetryGuard, Error> {
    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return Err(Error::AlreadyInitialized {
            what: "autotel telemetry",
        });
    }
    match build_and_install(settings, given) {
        Ok(guard) => Ok(guard),
        Err(Failure { error, installed }) => {
            // The recorder may be installed and the subscriber not:
            // telemetry is half set up, so a retry must not pass the first
            // check.
            if !installed {
                INITIALIZED.store(false, Ordering::SeqCst);
            }
            Err(error)
        }
    }
}

/// An error, and whether global state was installed before it happened.
struct Failure {
    error: Error,
    installed: bool,
}

/// An error before anything global was installed.
fn early(error: impl Into<Error>) -> Failure {
    Failure {
        error: error.into(),
        installed: false,
    }
}

/// An error after something global was installed.
fn late(error: impl Into<Error>) -> Failure {
    Failure {
        error: error.into(),
        installed: true,
    }
}

fn build_and_install(settings: Settings, given: Given) -> Result<TelemetryGuard, Failure> {
    let Given {
        span_metrics,
        redaction,
        user_layers,
        #[cfg(feature = "tokio")]
        tokio_runtime,
    } = given;
    let redaction = &redaction;
    if tracing::dispatcher::has_been_set() {
        return Err(early(Error::AlreadyInitialized {
            what: "a global tracing subscriber",
        }));
    }
    let service = ServiceInfo::new(&settings.service_name)
        .with_version(&settings.service_version)
        .with_environment(settings.environment.as_str());
    let span_metrics = span_metrics_layer(&settings, span_metrics, redaction);
    let switch = span_metrics
        .as_ref()
        .map_or_else(MetricsSwitch::new, SpanMetricsLayer::switch);
    let mut exporters =
        Exporters::start(&settings, &service, span_metrics.as_ref(), redaction).map_err(early)?;
    let (output, writer_guard) = open_output(&settings).map_err(early)?;

    // Everything global happens from here on.
    install_recorder(std::mem::replace(&mut exporters.fanout, Fanout::new()))?;
    // The sampler publishes through the recorder installed above.
    #[cfg(feature = "system")]
    let sampler = {
        let sampler = SystemSampler::new();
        // Without a runtime given, the sampler takes the one it starts in.
        #[cfg(feature = "tokio")]
        let sampler = match tokio_runtime {
            Some(runtime) => sampler.with_runtime(runtime),
            None => sampler,
        };
        start_sampler(&settings, sampler).map_err(late)?
    };
    #[cfg(not(feature = "system"))]
    let sampler = None;
    let filter = LogFilter::new(&settings.log_filter);
    let filter_handle = filter.handle();
    let layers = Layers {
        settings: &settings,
        redaction,
        output: &output,
        #[cfg(feature = "otlp")]
        otlp: exporters.otlp.as_ref(),
        span_metrics,
        #[cfg(feature = "testing")]
        capture: exporters.capture.as_ref(),
        user_layers,
    };
    let log_bridge = install_subscriber(layers, filter)?;
    set_w3c_fields(&settings.propagators);
    install_propagators(&settings.propagators);
    let control = TelemetryControl {
        filter: filter_handle,
        switch,
        sample_ratio: exporters.sample_ratio.clone(),
    };

    let parts = Parts {
        exporters,
        output,
        writer_guard,
        sampler,
        control,
    };
    let guard = finish(settings, &service, parts);
    log_start(&guard, log_bridge);
    Ok(guard)
}

/// Every part started, for the guard.
struct Parts {
    exporters: Exporters,
    output: Output,
    writer_guard: Option<FlushGuard>,
    #[cfg(feature = "system")]
    sampler: Option<SamplerGuard>,
    #[cfg(not(feature = "system"))]
    sampler: Option<()>,
    control: TelemetryControl,
}

/// The guard over every part started, once the panic hook (which flushes
/// them) is installed and the build info gauge is set.
// A part left out at build time leaves its variable unused.
#[allow(unused_variables)]
fn finish(settings: Settings, service: &ServiceInfo, parts: Parts) -> TelemetryGuard {
    let Parts {
        exporters,
        output,
        writer_guard,
        sampler,
        control,
    } = parts;
    let (writer, memory) = match output {
        Output::NonBlocking(writer) => (Some(writer), None),
        Output::Memory(memory) => (None, Some(memory)),
    };
    let flush = Arc::new(Flush {
        writer,
        #[cfg(feature = "otlp")]
        otlp: exporters.otlp,
        #[cfg(feature = "push")]
        push: exporters.push,
    });
    crate::panic::install(Arc::downgrade(&flush));
    // Prometheus has it already; the other recorders get it here.
    metrics::gauge!(
        catalog::AUTOTEL_BUILD_INFO.name(),
        &service.build_info_labels()
    )
    .set(1.0);
    TelemetryGuard {
        control,
        flush: Some(flush),
        writer: writer_guard,
        #[cfg(feature = "prometheus")]
        prometheus: exporters.prometheus,
        #[cfg(feature = "prometheus")]
        prometheus_handle: exporters.prometheus_handle,
        #[cfg(feature = "system")]
        sampler,
        #[cfg(feature = "console")]
        console: exporters.console,
        #[cfg(feature = "testing")]
        capture: exporters.capture,
        memory,
        settings,
    }
}

/// Installs the subscriber globally, then the `log` bridge; whether the
/// bridge could be installed (another `log` logger may be).
fn install_subscriber(layers: Layers<'_>, filter: LogFilter) -> Result<bool, Failure> {
    let max_log_level = filter.handle().max_log_level();
    tracing::subscriber::set_global_default(layers.subscriber(filter)).map_err(|_| {
        late(Error::AlreadyInitialized {
            what: "a global tracing subscriber",
        })
    })?;
    Ok(tracing_log::LogTracer::builder()
        .with_max_level(max_log_level)
        .init()
        .is_ok())
}

/// The span metrics layer, with the one redaction rule of every output;
/// `None` when span metrics are off.
fn span_metrics_layer(
    settings: &Settings,
    layer: Option<SpanMetricsLayer>,
    redaction: &Redaction,
) -> Option<SpanMetricsLayer> {
    settings.span_metrics.then(|| {
        layer
            .unwrap_or_default()
            .with_redaction(redaction.clone())
            .with_exemplar_filter(settings.exemplars)
    })
}

/// Standard output through the non-blocking writer (and the guard of its
/// thread), or memory for the testing preset.
fn open_output(settings: &Settings) -> Result<(Output, Option<FlushGuard>), Error> {
    if settings.in_memory {
        return Ok((Output::Memory(Memory::default()), None));
    }
    let (writer, guard) = NonBlocking::builder()
        .stdout()
        .map_err(|source| Error::Thread {
            what: "log writer",
            source,
        })?;
    Ok((Output::NonBlocking(writer), Some(guard)))
}

/// Installs the fan-out of every recorder as the global `metrics` recorder,
/// unless there is none.
fn install_recorder(fanout: Fanout) -> Result<(), Failure> {
    let recorder = fanout.build();
    if recorder.is_empty() {
        return Ok(());
    }
    metrics::set_global_recorder(recorder).map_err(|_| {
        early(Error::AlreadyInitialized {
            what: "a global metrics recorder",
        })
    })
}

/// Starts `sampler`, when system metrics are asked for, and waits (briefly)
/// for its first sample: the first scrape, even of a short program, has the
/// process metrics.
#[cfg(feature = "system")]
fn start_sampler(
    settings: &Settings,
    sampler: SystemSampler,
) -> Result<Option<SamplerGuard>, Error> {
    if !settings.system_metrics {
        return Ok(None);
    }
    let sampler = sampler.start().map_err(|source| Error::Thread {
        what: "system sampler",
        source,
    })?;
    let deadline = Instant::now() + FIRST_SAMPLE_WAIT;
    while sampler.samples() == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(Some(sampler))
}

/// Makes autotel's propagation write and read the W3C fields that
/// `OTEL_PROPAGATORS` names, and those alone: `tracecontext` for
/// `traceparent` and `tracestate`, `baggage` for `baggage`.
fn set_w3c_fields(propagators: &[autotel_exporters::env::Propagator]) {
    use autotel_exporters::env::Propagator;
    autotel_layers::propagation::set_w3c_fields(autotel_layers::propagation::W3cFields {
        trace_context: propagators.contains(&Propagator::TraceContext),
        baggage: propagators.contains(&Propagator::Baggage),
    });
}

/// Installs the propagators that `OTEL_PROPAGATORS` names besides the W3C
/// ones (which autotel writes and reads itself, see [`set_w3c_fields`]) as
/// the OpenTelemetry global propagator, which autotel's propagation consults
/// too.
#[cfg(any(feature = "b3", feature = "jaeger"))]
fn install_propagators(propagators: &[autotel_exporters::env::Propagator]) {
    use autotel_exporters::env::Propagator;
    #[cfg(feature = "b3")]
    use autotel_layers::propagation::{B3Encoding, B3Propagator};
    use opentelemetry::propagation::TextMapPropagator;
    let mut others: Vec<Box<dyn TextMapPropagator + Send + Sync>> = Vec::new();
    for propagator in propagators {
        match propagator {
            #[cfg(feature = "b3")]
            Propagator::B3 => others.push(Box::new(B3Propagator::new(B3Encoding::Single))),
            #[cfg(feature = "b3")]
            Propagator::B3Multi => {
                others.push(Box::new(B3Propagator::new(B3Encoding::Multiple)));
            }
            #[cfg(feature = "jaeger")]
            Propagator::Jaeger => others.push(Box::new(
                autotel_layers::propagation::JaegerPropagator::new(),
            )),
            _ => {}
        }
    }
    if !others.is_empty() {
        opentelemetry::global::set_text_map_propagator(
            opentelemetry::propagation::TextMapCompositePropagator::new(others),
        );
    }
}

/// Without the `b3` and `jaeger` features there is nothing to install: the
/// configuration refused their names already.
#[cfg(not(any(feature = "b3", feature = "jaeger")))]
fn install_propagators(_: &[autotel_exporters::env::Propagator]) {}

/// The propagators' names, comma-separated; `none` for none.
fn propagator_names(propagators: &[autotel_exporters::env::Propagator]) -> String {
    if propagators.is_empty() {
        return "none".to_owned();
    }
    propagators
        .iter()
        .map(|propagator| propagator.name())
        .collect::<Vec<_>>()
        .join(",")
}

/// The one INFO line that records the effective configuration.
fn log_start(guard: &TelemetryGuard, log_bridge: bool) {
    let settings = &guard.settings;
    let prometheus = match (settings.prometheus, guard.prometheus_address()) {
        (Listen::Off, _) => "off".to_owned(),
        (_, Some(address)) => match &settings.prometheus_auth {
            Some(auth) => format!("{address} ({})", config::credentials_scheme(auth)),
            None => address.to_string(),
        },
        (_, None) => "in memory".to_owned(),
    };
    let otlp = match &settings.otlp {
        OtlpTarget::Off => "off".to_owned(),
        OtlpTarget::Endpoint(endpoint) => config::redact_endpoint(endpoint),
        OtlpTarget::Standard => "OTEL_EXPORTER_OTLP_* endpoints".to_owned(),
    };
    // The protocol and endpoint each signal really uses (port 4317 means
    // gRPC, see autotel_exporters::otlp), without credentials.
    #[cfg(feature = "otlp")]
    let otlp_destination = guard
        .flush
        .as_ref()
        .and_then(|flush| flush.otlp.as_ref())
        .map_or_else(|| "off".to_owned(), OtlpGuard::destination);
    #[cfg(not(feature = "otlp"))]
    let otlp_destination = "off";
    tracing::info!(
        target: crate::filter::START_TARGET,
        prometheus = %prometheus,
        service.name = %settings.service_name,
        service.version = %settings.service_version,
        deployment.environment = settings.environment.as_str(),
        log_filter = %settings.log_filter,
        log_format = if settings.json_logs { "json" } else { "text" },
        log_bridge = log_bridge,
        otlp = %otlp,
        otlp_destination = %otlp_destination,
        trace.sample_ratio = guard.control.trace_sample_ratio(),
        span_metrics = settings.span_metrics,
        system_metrics = settings.system_metrics,
        console_export = settings.console_export,
        propagators = %propagator_names(&settings.propagators),
        "telemetry started"
    );
}
