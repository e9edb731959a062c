//! Starting everything, the guard that stops it, and the runtime control.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use autotel_exporters::ServiceInfo;
use autotel_exporters::console::{ConsoleLayer, ConsoleMetrics, ConsoleRecorder, ConsoleReporter};
use autotel_exporters::fanout::Fanout;
use autotel_exporters::otlp::{Otlp, OtlpPipeline, SampleRatio};
use autotel_exporters::prometheus::{Prometheus, PrometheusHandle, PrometheusServer};
use autotel_layers::catalog::{self, MetricKind};
use autotel_layers::redact::Redaction;
use autotel_layers::testing::{Capture, Run};
use autotel_layers::writer::{FlushGuard, NonBlocking};
use autotel_layers::{
    JsonLayer, MetricsSwitch, SamplerGuard, SpanMetricsLayer, SpanResourcesLayer, SystemSampler,
};
use tracing::Subscriber;
use tracing::span;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::config::{self, Listen, OtlpTarget, Settings};
use crate::filter::{FilterHandle, LogFilter};
use crate::{Error, UserLayers};

/// The longest [`TelemetryGuard::flush`] waits for the log writer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The longest start-up waits for the system sampler's first sample.
const FIRST_SAMPLE_WAIT: Duration = Duration::from_secs(1);

/// Set by the first initialisation that got past its checks.
static INITIALIZED: AtomicBool = AtomicBool::new(false);

/// What a panic, or the guard, flushes.
#[derive(Debug)]
pub(crate) struct Flush {
    writer: Option<NonBlocking>,
    otlp: Option<OtlpPipeline>,
}

impl Flush {
    /// Writes out log lines (waiting at most `timeout`) and exports what OTLP
    /// holds (within its shutdown timeout).
    pub(crate) fn flush(&self, timeout: Duration) {
        if let Some(writer) = &self.writer {
            writer.flush_within(timeout);
        }
        if let Some(otlp) = &self.otlp {
            let _ = otlp.force_flush();
        }
        // No flush of `stdout()` here: the log writer's thread may hold its
        // lock, blocked on a pipe nobody reads, and the wait would have no
        // bound. The writer flushes what it writes; the standard library
        // flushes the rest at exit without waiting for that lock.
    }
}

/// Log lines kept in memory by the testing preset.
#[derive(Debug, Clone, Default)]
struct Memory(Arc<Mutex<Vec<u8>>>);

impl Write for &Memory {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Memory {
    type Writer = &'a Memory;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Keeps telemetry running; dropping it flushes and stops everything, within
/// a bounded time.
///
/// On drop, in this order: the OTLP pipeline exports what is queued and a
/// last metrics push (within its shutdown timeout, 5 seconds by default), the
/// system sampler stops, the console prints its last table, the Prometheus
/// endpoint closes, and the log writer writes out every buffered line
/// (within 5 seconds).
///
/// The subscriber and recorder stay installed (a process has them once):
/// what is logged after the drop is dropped and counted in
/// `autotel_dropped_total`.
#[must_use = "dropping the guard stops telemetry: keep it alive until the end of main"]
pub struct TelemetryGuard {
    settings: Settings,
    control: TelemetryControl,
    flush: Option<Arc<Flush>>,
    writer: Option<FlushGuard>,
    prometheus: Option<PrometheusServer>,
    prometheus_handle: Option<PrometheusHandle>,
    sampler: Option<SamplerGuard>,
    console: Option<ConsoleReporter>,
    capture: Option<Capture>,
    memory: Option<Memory>,
}

impl TelemetryGuard {
    /// A handle that changes filters, sampling and metrics while the program runs.
    pub fn control(&self) -> TelemetryControl {
        self.control.clone()
    }

    /// The environment telemetry started in.
    pub fn environment(&self) -> crate::Environment {
        self.settings.environment
    }

    /// The service name in use (from code, `SERVICE_NAME`,
    /// `OTEL_SERVICE_NAME`, or the preset's argument).
    pub fn service_name(&self) -> &str {
        &self.settings.service_name
    }

    /// The address `/metrics` is served on, with the port the system chose
    /// when port 0 was asked for; `None` when nothing listens.
    pub fn prometheus_address(&self) -> Option<SocketAddr> {
        self.prometheus
            .as_ref()
            .and_then(PrometheusServer::local_addr)
    }

    /// The Prometheus text of every metric recorded so far, as `/metrics`
    /// serves it; `None` when the Prometheus exporter is off.
    pub fn metrics_text(&self) -> Option<String> {
        self.prometheus_handle
            .as_ref()
            .map(PrometheusHandle::render)
    }

    /// With the testing preset: every finished span, event and metric so far.
    pub fn captured(&self) -> Option<Run> {
        self.capture.as_ref().map(Capture::snapshot)
    }

    /// With the testing preset: the log lines written so far, one per entry.
    pub fn captured_logs(&self) -> Vec<String> {
        let Some(memory) = &self.memory else {
            return Vec::new();
        };
        let bytes = memory.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Writes out the log lines taken so far and exports what OTLP holds,
    /// waiting at most a few seconds; telemetry keeps running.
    pub fn flush(&self) {
        if let Some(flush) = &self.flush {
            flush.flush(FLUSH_TIMEOUT);
        }
    }

    /// Flushes and stops everything now; the same as dropping the guard.
    pub fn shutdown(self) {}
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(flush) = self.flush.take() {
            // The panic hook holds only a weak reference: this is the last
            // strong one, unless a panic is flushing right now.
            match Arc::try_unwrap(flush) {
                Ok(Flush { otlp, .. }) => {
                    if let Some(otlp) = otlp {
                        let _ = otlp.shutdown();
                    }
                }
                Err(shared) => shared.flush(FLUSH_TIMEOUT),
            }
        }
        drop(self.sampler.take());
        drop(self.console.take());
        drop(self.prometheus.take());
        drop(self.writer.take());
    }
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("environment", &self.settings.environment)
            .field("service_name", &self.settings.service_name)
            .field("prometheus_address", &self.prometheus_address())
            .finish_non_exhaustive()
    }
}

/// Changes telemetry while the program runs; from
/// [`TelemetryGuard::control`]. Clones control the same telemetry.
///
/// Every change applies to the next span or event, without a restart.
#[derive(Clone)]
pub struct TelemetryControl {
    filter: FilterHandle,
    switch: MetricsSwitch,
    sample_ratio: SampleRatio,
}

impl TelemetryControl {
    /// Replaces the log filter: a level (`debug`) or directives
    /// (`my_crate=trace,warn`), as `RUST_LOG` takes them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when the directives do not parse; the
    /// filter is unchanged.
    pub fn set_log_filter(&self, directives: &str) -> Result<(), Error> {
        let directives = config::check_filter("TelemetryControl::set_log_filter", directives)?;
        self.filter.set(&directives);
        Ok(())
    }

    /// The log filter in force.
    pub fn log_filter(&self) -> String {
        self.filter.directives()
    }

    /// Sets the fraction of root spans exported by OTLP (child spans follow
    /// their parent). Without OTLP traces the ratio is kept and has no effect.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] unless `0.0 <= ratio <= 1.0`.
    pub fn set_trace_sample_ratio(&self, ratio: f64) -> Result<(), Error> {
        self.sample_ratio.set(ratio).map_err(|_| {
            Error::invalid(
                "TelemetryControl::set_trace_sample_ratio",
                ratio.to_string(),
                "is not a ratio from 0.0 to 1.0",
            )
        })
    }

    /// The fraction of root spans exported by OTLP.
    pub fn trace_sample_ratio(&self) -> f64 {
        self.sample_ratio.get()
    }

    /// Turns span and pipeline metrics on or off for every span.
    pub fn set_metrics_enabled(&self, enabled: bool) {
        self.switch.set_enabled(enabled);
    }

    /// Turns span and pipeline metrics off for spans called `name` and for
    /// the pipeline runs (with their steps) whose `pipeline.name` is `name`.
    pub fn disable_metrics_for(&self, name: impl Into<String>) {
        self.switch.disable(name);
    }

    /// Turns metrics back on for `name`.
    pub fn enable_metrics_for(&self, name: &str) {
        self.switch.enable(name);
    }

    /// The switch of the span metrics layer, for finer control.
    pub fn metrics_switch(&self) -> &MetricsSwitch {
        &self.switch
    }
}

impl fmt::Debug for TelemetryControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryControl")
            .field("log_filter", &self.log_filter())
            .field("trace_sample_ratio", &self.trace_sample_ratio())
            .field("metrics", &self.switch)
            .finish()
    }
}

/// Where log lines go: the non-blocking writer, or memory for testing.
#[derive(Debug, Clone)]
enum Output {
    NonBlocking(NonBlocking),
    Memory(Memory),
}

/// The writer of one line, from [`Output`].
#[derive(Debug)]
enum OutputWriter<'a> {
    NonBlocking(&'a NonBlocking),
    Memory(&'a Memory),
}

impl Write for OutputWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::NonBlocking(writer) => writer.write(buf),
            Self::Memory(memory) => memory.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::NonBlocking(writer) => writer.flush(),
            Self::Memory(memory) => memory.flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = OutputWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        match self {
            Self::NonBlocking(writer) => OutputWriter::NonBlocking(writer),
            Self::Memory(memory) => OutputWriter::Memory(memory),
        }
    }
}

/// An optional layer that, unlike `Option`, passes on
/// [`Layer::on_register_dispatch`].
#[derive(Debug)]
struct Registered<L>(Option<L>);

impl<S, L> Layer<S> for Registered<L>
where
    S: Subscriber,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        if let Some(layer) = &self.0 {
            layer.on_register_dispatch(subscriber);
        }
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.0.on_layer(subscriber);
    }

    fn register_callsite(
        &self,
        metadata: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        self.0.register_callsite(metadata)
    }

    fn enabled(&self, metadata: &tracing::Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.0.enabled(metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.0.max_level_hint()
    }

    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        self.0.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        self.0.on_record(id, values, ctx);
    }

    fn on_follows_from(&self, id: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
        self.0.on_follows_from(id, follows, ctx);
    }

    fn event_enabled(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) -> bool {
        self.0.event_enabled(event, ctx)
    }

    fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
        self.0.on_event(event, ctx);
    }

    fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.0.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
        self.0.on_exit(id, ctx);
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        self.0.on_close(id, ctx);
    }

    fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
        self.0.on_id_change(old, new, ctx);
    }
}

/// Builds everything `settings` asks for and installs it globally.
pub(crate) fn install(
    settings: Settings,
    span_metrics: Option<SpanMetricsLayer>,
    redaction: &Redaction,
    user_layers: UserLayers,
) -> Result<TelemetryGuard, Error> {
    if INITIALIZED.swap(true, Ordering::SeqCst) {
        return Err(Error::AlreadyInitialized {
            what: "autotel telemetry",
        });
    }
    match build_and_install(settings, span_metrics, redaction, user_layers) {
        Ok(guard) => Ok(guard),
        Err((error, installed)) => {
            if !installed {
                INITIALIZED.store(false, Ordering::SeqCst);
            }
            Err(error)
        }
    }
}

/// The error, and whether global state was installed before it happened.
type Failure = (Error, bool);

fn build_and_install(
    settings: Settings,
    span_metrics: Option<SpanMetricsLayer>,
    redaction: &Redaction,
    user_layers: UserLayers,
) -> Result<TelemetryGuard, Failure> {
    let early = |error: Error| (error, false);
    if tracing::dispatcher::has_been_set() {
        return Err(early(Error::AlreadyInitialized {
            what: "a global tracing subscriber",
        }));
    }
    let service = ServiceInfo::new(&settings.service_name)
        .with_version(&settings.service_version)
        .with_environment(settings.environment.as_str());

    // Span metrics, with the one redaction rule of every output.
    let span_metrics = if settings.span_metrics {
        Some(
            span_metrics
                .unwrap_or_default()
                .with_redaction(redaction.clone()),
        )
    } else {
        None
    };
    let switch = span_metrics
        .as_ref()
        .map_or_else(MetricsSwitch::new, SpanMetricsLayer::switch);

    // Recorders.
    let mut fanout = Fanout::new();
    let mut prometheus_server = None;
    let mut prometheus_handle = None;
    if settings.prometheus != Listen::Off {
        let mut prometheus = Prometheus::new()
            .with_service(service.clone())
            .with_redaction(redaction.clone());
        if let Some(layer) = &span_metrics {
            for (name, def) in layer.metric_names() {
                if def.kind() == MetricKind::Histogram {
                    prometheus = prometheus
                        .with_buckets(name, layer.histogram_buckets())
                        .map_err(|e| early(e.into()))?;
                }
            }
        }
        prometheus = match settings.prometheus {
            Listen::On(address) => prometheus.with_listen_address(address),
            _ => prometheus.without_listener(),
        };
        if let Some(auth) = &settings.prometheus_auth {
            prometheus = auth.apply(prometheus).map_err(|e| early(e.into()))?;
        }
        let (recorder, server) = prometheus.build().map_err(|e| early(e.into()))?;
        prometheus_handle = Some(recorder.handle());
        prometheus_server = Some(server);
        fanout = fanout.with_recorder(recorder);
    }

    let otlp = match &settings.otlp {
        OtlpTarget::Off => None,
        target => {
            let mut otlp = Otlp::new()
                .with_service(service.clone())
                .with_redaction(redaction.clone());
            if let OtlpTarget::Endpoint(endpoint) = target {
                otlp = otlp.with_endpoint(endpoint).map_err(|e| early(e.into()))?;
            }
            if let Some(ratio) = settings.sample_ratio {
                otlp = otlp.with_sample_ratio(ratio).map_err(|e| early(e.into()))?;
            }
            Some(otlp.build().map_err(|e| early(e.into()))?)
        }
    };
    if let Some(recorder) = otlp.as_ref().and_then(OtlpPipeline::metrics_recorder) {
        fanout = fanout.with_recorder(recorder);
    }
    let sample_ratio = match &otlp {
        Some(pipeline) => pipeline.sample_ratio(),
        None => {
            SampleRatio::new(settings.sample_ratio.unwrap_or(1.0)).map_err(|e| early(e.into()))?
        }
    };

    let mut console = None;
    if settings.console_export {
        let recorder = ConsoleRecorder::default();
        console = Some(
            ConsoleMetrics::new()
                .start(recorder.clone(), std::io::stderr)
                .map_err(|e| early(e.into()))?,
        );
        fanout = fanout.with_recorder(recorder);
    }

    let capture = settings.in_memory.then(Capture::new);
    if let Some(capture) = &capture {
        fanout = fanout.with_recorder(capture.recorder());
    }

    // Log output: stdout through the non-blocking writer, or memory.
    let (output, writer_guard) = if settings.in_memory {
        (Output::Memory(Memory::default()), None)
    } else {
        let (writer, guard) = NonBlocking::builder().stdout().map_err(|source| {
            early(Error::Thread {
                what: "log writer",
                source,
            })
        })?;
        (Output::NonBlocking(writer), Some(guard))
    };

    // Everything global happens from here on.
    let recorder = fanout.build();
    if !recorder.is_empty() {
        metrics::set_global_recorder(recorder).map_err(|_| {
            early(Error::AlreadyInitialized {
                what: "a global metrics recorder",
            })
        })?;
    }

    // The sampler publishes through the recorder installed above.
    let sampler = if settings.system_metrics {
        let sampler = SystemSampler::new().start().map_err(|source| {
            (
                Error::Thread {
                    what: "system sampler",
                    source,
                },
                true,
            )
        })?;
        // The first scrape, even of a short program, has the process metrics.
        let deadline = std::time::Instant::now() + FIRST_SAMPLE_WAIT;
        while sampler.samples() == 0 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        Some(sampler)
    } else {
        None
    };

    let filter = LogFilter::new(&settings.log_filter);
    let filter_handle = filter.handle();
    let ansi = matches!(output, Output::NonBlocking(_)) && std::io::stdout().is_terminal();
    // One flat list: nesting a layer per part makes the subscriber's type
    // grow with each part.
    let mut stack: UserLayers = Vec::new();
    if let Some(layer) = otlp.as_ref().and_then(OtlpPipeline::trace_layer) {
        stack.push(Box::new(layer));
    }
    if let Some(layer) = span_metrics {
        stack.push(Box::new(layer));
    }
    if !settings.json_logs {
        stack.push(Box::new(
            tracing_subscriber::fmt::layer()
                .fmt_fields(crate::text::RedactingFields::new(redaction.clone()))
                .with_writer(output.clone())
                .with_ansi(ansi),
        ));
    }
    if let Some(layer) = otlp.as_ref().and_then(OtlpPipeline::log_layer) {
        stack.push(Box::new(layer));
    }
    if settings.console_export {
        stack.push(Box::new(ConsoleLayer::new()));
    }
    if let Some(capture) = &capture {
        stack.push(Box::new(capture.layer()));
    }
    stack.extend(user_layers);
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(stack)
        // These two read the dispatcher they run in, which a `Vec` of layers
        // does not pass on.
        .with(Registered(
            settings.system_metrics.then(SpanResourcesLayer::new),
        ))
        .with(Registered(
            settings
                .json_logs
                .then(|| json_layer(&settings, redaction, output.clone())),
        ));
    // The recorder may be installed and the subscriber not: telemetry is
    // half set up, so a retry must not pass the first check.
    tracing::subscriber::set_global_default(subscriber).map_err(|_| {
        (
            Error::AlreadyInitialized {
                what: "a global tracing subscriber",
            },
            true,
        )
    })?;

    let log_bridge = tracing_log::LogTracer::builder()
        .with_max_level(filter_handle.max_log_level())
        .init()
        .is_ok();

    let (writer, memory) = match output {
        Output::NonBlocking(writer) => (Some(writer), None),
        Output::Memory(memory) => (None, Some(memory)),
    };
    let flush = Arc::new(Flush { writer, otlp });
    crate::panic::install(Arc::downgrade(&flush));

    // Prometheus has it already; the other recorders get it here.
    metrics::gauge!(
        catalog::AUTOTEL_BUILD_INFO.name(),
        &service.build_info_labels()
    )
    .set(1.0);

    let guard = TelemetryGuard {
        control: TelemetryControl {
            filter: filter_handle,
            switch,
            sample_ratio,
        },
        flush: Some(flush),
        writer: writer_guard,
        prometheus: prometheus_server,
        prometheus_handle,
        sampler,
        console,
        capture,
        memory,
        settings,
    };
    log_start(&guard, log_bridge);
    Ok(guard)
}

/// The JSON log layer, with the service's identity on every line.
fn json_layer<W>(settings: &Settings, redaction: &Redaction, make_writer: W) -> JsonLayer<W>
where
    W: for<'w> MakeWriter<'w> + 'static,
{
    JsonLayer::new(make_writer)
        .with_redaction(redaction.clone())
        .with_service_name(&settings.service_name)
        .with_service_version(&settings.service_version)
        .with_environment(settings.environment.as_str())
}

/// The one INFO line that records the effective configuration.
fn log_start(guard: &TelemetryGuard, log_bridge: bool) {
    let settings = &guard.settings;
    let prometheus = match (settings.prometheus, guard.prometheus_address()) {
        (Listen::Off, _) => "off".to_owned(),
        (_, Some(address)) => match &settings.prometheus_auth {
            Some(auth) => format!("{address} ({})", auth.scheme()),
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
    let otlp_destination = guard
        .flush
        .as_ref()
        .and_then(|flush| flush.otlp.as_ref())
        .map_or_else(|| "off".to_owned(), OtlpPipeline::destination);
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
        "telemetry started"
    );
}
