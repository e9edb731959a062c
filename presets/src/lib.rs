//! One-line observability for Rust services.
//!
//! ```no_run
//! // At the start of `main`:
//! let _telemetry = autotel_presets::production("checkout").init();
//! // ... the program, instrumented with ordinary `tracing` spans and events
//! ```
//!
//! That line installs, for the whole process:
//!
//! - a `tracing` subscriber with a log filter that can change at run time;
//! - logs: JSON lines on standard output (one object per line, with the
//!   `trace_id` and `span_id` of the current span), or readable text in
//!   development;
//! - [`SpanMetricsLayer`]: RED metrics from
//!   every span, and pipeline and step metrics;
//! - process and system metrics from
//!   [`SystemSampler`] every 15 seconds, and
//!   the CPU and memory of pipeline runs;
//! - a Prometheus `/metrics` endpoint, with `autotel_build_info`;
//! - OTLP export of traces, logs and metrics when an endpoint is configured;
//! - the `log` crate bridge, so that libraries using `log` end up in the same
//!   lines;
//! - a panic hook: a panic becomes an ERROR event (message, location,
//!   backtrace, and the trace ids of the current span), everything is
//!   flushed, then the previous hook runs.
//!
//! It returns a [`TelemetryGuard`]: keep it until the end of `main`.
//! Dropping it flushes everything within a bounded time.
//!
//! autotel-presets is the only autotel crate that installs global state.
//! Every part is an ordinary layer or recorder of [`autotel_layers`] and
//! [`autotel_exporters`], to compose by hand when a preset does not fit.
//!
//! # Trace every function
//!
//! [`instrument_all`] on an inline module or an impl block traces each
//! function inside it (spans named `module::function` or `Type::method`,
//! errors of `Result`s recorded with their [`ErrorType`]), with no attribute
//! per function:
//!
//! ```
//! #[autotel_presets::instrument_all]
//! mod billing {
//!     pub fn charge(cents: u64) -> Result<u64, std::io::Error> {
//!         Ok(cents)
//!     }
//! }
//! # billing::charge(1).unwrap();
//! ```
//!
//! # What each preset turns on
//!
//! | | [`production`] | [`staging`] | [`development`] | [`testing`] |
//! |---|---|---|---|---|
//! | logs | JSON, stdout | JSON, stdout | readable text, stdout | JSON, in memory |
//! | log level | INFO | INFO | DEBUG | DEBUG |
//! | span and pipeline metrics | on | on | on | on |
//! | system sampling (15 s) and pipeline CPU / memory | on | on | on | off |
//! | Prometheus `/metrics` | `0.0.0.0:9464` | `0.0.0.0:9464` | `0.0.0.0:9464` | in memory, no socket |
//! | OTLP traces, logs, metrics | when an endpoint is set | when an endpoint is set | when an endpoint is set | when an endpoint is set |
//! | console export (finished spans, metrics table on stderr) | off | off | on | off |
//! | trace sampling ratio | 1.0 | 1.0 | 1.0 | 1.0 |
//! | JSON logs can be turned off | no | no | yes | yes |
//!
//! [`from_env`] picks the preset from `ENVIRONMENT`; when it is unset,
//! development in debug builds and production in release builds.
//!
//! # Configuration
//!
//! Each setting is taken from the builder when the code sets it, else from
//! the environment, else from the preset:
//!
//! | builder method | environment variables |
//! |---|---|
//! | [`service_name`](Preset::service_name) (else the preset's argument) | `SERVICE_NAME`, then `OTEL_SERVICE_NAME` |
//! | [`service_version`](Preset::service_version) (else `0.0.0`) | `SERVICE_VERSION` |
//! | [`environment`](Preset::environment) (with [`from_env`] only) | `ENVIRONMENT` |
//! | [`prometheus_port`](Preset::prometheus_port) (0: any free port) | `PROMETHEUS_PORT` |
//! | | `PROMETHEUS_BIND` (an IP, or IP:port; default `0.0.0.0`) |
//! | | `PROMETHEUS_BEARER_TOKEN` or `PROMETHEUS_BASIC_AUTH` (`user:password`): scrapes without them get 401 |
//! | [`otlp_endpoint`](Preset::otlp_endpoint) | `OTLP_ENDPOINT`, then `OTEL_EXPORTER_OTLP_ENDPOINT` and its per-signal forms |
//! | [`json_logs`](Preset::json_logs) | `JSON_LOGS` |
//! | [`log_level`](Preset::log_level) | `RUST_LOG`, then `LOG_LEVEL` |
//! | [`trace_sample_ratio`](Preset::trace_sample_ratio) | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` |
//! | [`console_export`](Preset::console_export) | |
//! | [`exemplars`](Preset::exemplars) | `OTEL_METRICS_EXEMPLAR_FILTER` (`trace_based`, `always_on`, `always_off`) |
//! | [`without_otlp`](Preset::without_otlp) | `OTEL_SDK_DISABLED=true` |
//! | | `OTEL_PROPAGATORS`: the fields written on outgoing calls and read on incoming ones, `tracecontext,baggage` by default; `b3`, `b3multi` (feature `b3`) and `jaeger` (feature `jaeger`) too, and `none` for none |
//!
//! OTLP also reads the other standard variables (`OTEL_EXPORTER_OTLP_PROTOCOL`,
//! `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_EXPORTER_OTLP_CERTIFICATE`,
//! `OTEL_EXPORTER_OTLP_COMPRESSION`, `OTEL_EXPORTER_OTLP_TIMEOUT`,
//! `OTEL_RESOURCE_ATTRIBUTES`, ...). Port 4317 means gRPC unless a protocol
//! variable says otherwise; the whole rule is in
//! [`autotel_exporters::otlp`](autotel_exporters::otlp#endpoint-and-protocol).
//!
//! A bad value is an [`Error`] that names the variable and the value:
//!
//! ```text
//! PROMETHEUS_PORT='abc' is not a port number (1-65535, or 0 for any free port)
//! ```
//!
//! A variable that autotel reads and that is not UTF-8 is an error too,
//! never taken as unset. So is a `RUST_LOG` directive that looks like a
//! misspelt level, which `RUST_LOG` would read as a target name, hiding
//! every line:
//!
//! ```text
//! RUST_LOG='inf0' is not a log level: 'inf0' would be read as the name of a target and hide every other log line. Did you mean 'info'? (For a target with that name, write 'inf0=trace'.)
//! ```
//!
//! JSON logs cannot be turned off in production or staging: asking for it,
//! in code or with `JSON_LOGS=false`, is an error that says so. At start, one
//! INFO line (`telemetry started`, target `autotel`) records the effective
//! configuration, without credentials; a filter that names only other
//! targets (`my_crate=debug`) does not hide it.
//!
//! # Runtime control
//!
//! [`TelemetryGuard::control`] returns a [`TelemetryControl`] that, while the
//! program runs, replaces the log filter, changes the trace sampling ratio,
//! and turns span and pipeline metrics off and on, globally or per span or
//! pipeline name. A change applies to the next span or event.
//!
//! ```no_run
//! let telemetry = autotel_presets::production("checkout").init();
//! let control = telemetry.control();
//! control.set_log_filter("checkout=debug,info")?;
//! control.set_trace_sample_ratio(0.1)?;
//! control.disable_metrics_for("nightly_backfill");
//! # Ok::<(), autotel_presets::Error>(())
//! ```
//!
//! # Testing
//!
//! The testing preset writes nothing and opens no socket; read what the
//! program produced from the guard:
//!
//! ```no_run
//! # #[cfg(feature = "testing")] {
//! let telemetry = autotel_presets::testing("checkout").init();
//! tracing::info_span!("charge").in_scope(|| tracing::info!("charged"));
//! let run = telemetry.captured().expect("the testing preset captures");
//! assert_eq!(run.counter("span_calls_total", &[("span_name", "charge")]), 1);
//! assert!(telemetry.captured_logs()[1].contains("charged"));
//! # }
//! ```
//!
//! [`SpanMetricsLayer`]: autotel_layers::SpanMetricsLayer
//! [`SystemSampler`]: autotel_layers::SystemSampler
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `prometheus` | on | the Prometheus recorder and `/metrics` endpoint |
//! | `otlp` | on | OTLP export, and the re-exported `opentelemetry` crates |
//! | `system` | on | the system sampler (sysinfo) |
//! | `tokio` | on | tokio runtime metrics from the system sampler: of the runtime [`Preset::init`] runs in, or of [`Preset::with_tokio_runtime`] (implies `system`) |
//! | `console` | on | console export in development |
//! | `statsd` | on | StatsD (`STATSD_HOST`) and DogStatsD (`DD_AGENT_HOST`, `DD_DOGSTATSD_URL`), started when their variable is set |
//! | `datadog` | on | the Datadog metrics API without an agent, started when `DD_API_KEY` is set |
//! | `cloudwatch-emf` | on | CloudWatch embedded metric format lines, started when `AWS_EMF_NAMESPACE` or `AWS_EMF_AGENT_ENDPOINT` is set |
//! | `cloudwatch` | off | CloudWatch PutMetricData through the AWS SDK (a heavy build), started when `CLOUDWATCH_NAMESPACE` is set; without the feature, that variable is an error |
//! | `push` | with any of the four above | the push recorder they share |
//! | `b3`, `jaeger` | off | B3 and Jaeger propagation named in `OTEL_PROPAGATORS` |
//! | `testing` | off | [`testing`] and [`TelemetryGuard::captured`] (enable it in `[dev-dependencies]`) |
//!
//! Without one, its part is off, and asking for it (`PROMETHEUS_PORT`, an
//! OTLP endpoint, `ENVIRONMENT=testing`, ...) is an [`Error`] that names the
//! feature.
//!
//! # Versions
//!
//! The crates below are re-exported at the versions autotel is built with,
//! so that a program never mixes two versions of one of them.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod config;
mod control;
mod error;
mod exporters;
mod filter;
mod guard;
mod install;
mod output;
mod panic;
mod ratio;
mod registered;
mod stack;
mod text;

pub use autotel_exporters;
pub use autotel_layers;
#[doc(hidden)]
pub use autotel_layers::__private;
pub use autotel_layers::ErrorType;
pub use autotel_macros::instrument_all;
pub use config::Environment;
pub use control::TelemetryControl;
pub use error::Error;
pub use filter::LogFilter;
pub use guard::TelemetryGuard;
pub use metrics;
#[cfg(feature = "otlp")]
pub use opentelemetry;
#[cfg(feature = "otlp")]
pub use opentelemetry_otlp;
#[cfg(feature = "otlp")]
pub use opentelemetry_sdk;
pub use tracing;
#[cfg(feature = "otlp")]
pub use tracing_opentelemetry;
pub use tracing_subscriber;

use autotel_layers::SpanMetricsLayer;
use autotel_layers::redact::Redaction;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Layered;

/// The subscriber that layers added with [`Preset::with_layer`] are stacked
/// on: the registry and the log filter.
pub type Base = Layered<LogFilter, tracing_subscriber::Registry>;

/// Layers added with [`Preset::with_layer`].
type UserLayers = Vec<Box<dyn Layer<Base> + Send + Sync>>;

/// The production preset for the service `service_name`.
pub fn production(service_name: impl Into<String>) -> Preset {
    Preset::new(service_name, Some(Environment::Production))
}

/// The staging preset: as production.
pub fn staging(service_name: impl Into<String>) -> Preset {
    Preset::new(service_name, Some(Environment::Staging))
}

/// The development preset: readable logs at DEBUG and console export.
pub fn development(service_name: impl Into<String>) -> Preset {
    Preset::new(service_name, Some(Environment::Development))
}

/// The testing preset: everything captured in memory, no socket opened.
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub fn testing(service_name: impl Into<String>) -> Preset {
    Preset::new(service_name, Some(Environment::Testing))
}

/// The preset named by `ENVIRONMENT` (`production`, `staging`,
/// `development`, `testing`); when it is unset, development in debug builds
/// and production in release builds.
pub fn from_env(service_name: impl Into<String>) -> Preset {
    Preset::new(service_name, None)
}

/// A preset's configuration, adjusted with its methods, then started with
/// [`init`](Preset::init) or [`try_init`](Preset::try_init).
///
/// Each setting the code makes wins over the environment variables; see the
/// [crate docs](crate#configuration).
#[must_use = "a preset does nothing until init() or try_init()"]
pub struct Preset {
    default_name: String,
    code: config::Code,
    span_metrics: Option<SpanMetricsLayer>,
    redaction: Redaction,
    layers: UserLayers,
    #[cfg(feature = "tokio")]
    tokio_runtime: Option<tokio::runtime::Handle>,
}

impl Preset {
    fn new(service_name: impl Into<String>, environment: Option<Environment>) -> Self {
        Self {
            default_name: service_name.into(),
            code: config::Code::new(environment),
            span_metrics: None,
            redaction: Redaction::default(),
            layers: Vec::new(),
            #[cfg(feature = "tokio")]
            tokio_runtime: None,
        }
    }

    /// Sets the service name, over `SERVICE_NAME` and `OTEL_SERVICE_NAME`.
    /// Defaults to those variables, then to the name given to the preset.
    pub fn service_name(mut self, name: impl Into<String>) -> Self {
        self.code.service_name = Some(name.into());
        self
    }

    /// Sets the service version, such as `env!("CARGO_PKG_VERSION")`.
    /// Defaults to `SERVICE_VERSION`, then to `0.0.0`.
    pub fn service_version(mut self, version: impl Into<String>) -> Self {
        self.code.service_version = Some(version.into());
        self
    }

    /// Uses the preset of `environment` instead. Defaults to the preset's
    /// own environment, or for [`from_env`] to `ENVIRONMENT`.
    pub fn environment(mut self, environment: Environment) -> Self {
        self.code.environment = Some(environment);
        self
    }

    /// Serves `/metrics` on this port (0: a free port the system picks, see
    /// [`TelemetryGuard::prometheus_address`]), of the address in
    /// `PROMETHEUS_BIND`, else of every interface.
    /// Defaults to `PROMETHEUS_PORT`, then to 9464 (no socket with the
    /// testing preset).
    pub fn prometheus_port(mut self, port: u16) -> Self {
        self.code.prometheus_port = Some(port);
        self
    }

    /// Exports traces, logs and metrics by OTLP to this collector
    /// (`http://host:4317` sends gRPC, `http://host:4318` or
    /// `https://host` HTTP/protobuf; see the
    /// [rule](autotel_exporters::otlp#endpoint-and-protocol)). Defaults to `OTLP_ENDPOINT`, then
    /// to the `OTEL_EXPORTER_OTLP_*ENDPOINT` variables, then to no OTLP.
    pub fn otlp_endpoint(mut self, url: impl Into<String>) -> Self {
        self.code.otlp_endpoint = Some(url.into());
        self
    }

    /// Writes logs as JSON lines, or as readable text. Defaults to
    /// `JSON_LOGS`, then to JSON except in development. Production and
    /// staging refuse `false` ([`Error::JsonLogsRequired`]).
    pub fn json_logs(mut self, json: bool) -> Self {
        self.code.json_logs = Some(json);
        self
    }

    /// Prints finished spans and a table of metrics on standard error.
    /// Defaults to on in development, off elsewhere.
    pub fn console_export(mut self, enabled: bool) -> Self {
        self.code.console_export = Some(enabled);
        self
    }

    /// Sets the log filter: a level (`info`) or `RUST_LOG`-style directives
    /// (`my_crate=debug,warn`). Defaults to `RUST_LOG`, then `LOG_LEVEL`,
    /// then to INFO (production, staging) or DEBUG (development, testing).
    pub fn log_level(mut self, directives: impl Into<String>) -> Self {
        self.code.log_level = Some(directives.into());
        self
    }

    /// Exports this fraction of traces by OTLP (decided at the root span).
    /// Defaults to `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`, then to 1.0.
    pub fn trace_sample_ratio(mut self, ratio: f64) -> Self {
        self.code.sample_ratio = Some(ratio);
        self
    }

    /// Attaches exemplars (the trace and span ids of a sampled span) to the
    /// duration histograms, shown by the OpenMetrics scrape of `/metrics`
    /// and sent with OTLP/HTTP metrics; `false` turns them off in the span
    /// metrics layer and both exporters. Defaults to
    /// `OTEL_METRICS_EXEMPLAR_FILTER` (`trace_based`, `always_on`,
    /// `always_off`), then to on for sampled traces.
    pub fn exemplars(mut self, enabled: bool) -> Self {
        self.code.exemplars = Some(enabled);
        self
    }

    /// Uses this span metrics layer (dimensions, filters, prefix, buckets)
    /// instead of the default one. Its buckets are given to Prometheus.
    pub fn span_metrics_layer(mut self, layer: SpanMetricsLayer) -> Self {
        self.span_metrics = Some(layer);
        self
    }

    /// Sets the names whose values are hidden, one rule for every output:
    /// JSON and text log fields are written as `[REDACTED]` and span metric
    /// dimensions get the label value `[REDACTED]` (this replaces the
    /// redaction of a layer given to
    /// [`span_metrics_layer`](Self::span_metrics_layer)).
    /// [`autotel_layers::redact`] says what redaction does not catch.
    /// Defaults to [`Redaction::default`].
    pub fn redaction(mut self, redaction: Redaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Adds a layer of your own to the subscriber, after the log filter.
    pub fn with_layer<L>(mut self, layer: L) -> Self
    where
        L: Layer<Base> + Send + Sync + 'static,
    {
        self.layers.push(Box::new(layer));
        self
    }

    /// Turns span and pipeline metrics off. Defaults to on.
    pub fn without_span_metrics(mut self) -> Self {
        self.code.span_metrics = false;
        self
    }

    /// Turns the system sampler and pipeline CPU and memory off. Defaults
    /// to on (off in testing).
    pub fn without_system_metrics(mut self) -> Self {
        self.code.system_metrics = false;
        self
    }

    /// Samples the metrics of this tokio runtime (`tokio_workers`,
    /// `tokio_alive_tasks`, `tokio_global_queue_depth`) with the system
    /// metrics: for a program that initialises telemetry before it builds
    /// its runtime.
    ///
    /// ```no_run
    /// let runtime = tokio::runtime::Runtime::new()?;
    /// let _telemetry = autotel_presets::production("checkout")
    ///     .with_tokio_runtime(runtime.handle().clone())
    ///     .init();
    /// runtime.block_on(async { /* the service */ });
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// Defaults to the runtime that [`init`](Self::init) runs in, if any
    /// (inside `#[tokio::main]`, say); none outside a runtime. Without
    /// system metrics ([`without_system_metrics`](Self::without_system_metrics),
    /// the testing preset) no runtime is sampled.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    pub fn with_tokio_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.tokio_runtime = Some(runtime);
        self
    }

    /// Turns the Prometheus exporter off, endpoint and recorder. Defaults to on.
    pub fn without_prometheus(mut self) -> Self {
        self.code.prometheus = false;
        self
    }

    /// Turns OTLP off, whatever the endpoint variables say. Defaults to on
    /// when an endpoint is configured.
    pub fn without_otlp(mut self) -> Self {
        self.code.otlp = false;
        self
    }

    /// Writes readable text logs; the same as `json_logs(false)`, refused
    /// in production and staging.
    pub fn without_json_logs(self) -> Self {
        self.json_logs(false)
    }

    /// Starts telemetry; see [`try_init`](Self::try_init).
    ///
    /// # Panics
    ///
    /// On any error of [`try_init`](Self::try_init), with its message.
    #[track_caller]
    pub fn init(self) -> TelemetryGuard {
        match self.try_init() {
            Ok(guard) => guard,
            Err(error) => panic!("autotel: telemetry did not start: {error}"),
        }
    }

    /// Starts telemetry: reads the environment, starts every exporter and
    /// installs the subscriber, the recorder, the `log` bridge and the panic
    /// hook.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] (also for a variable that is not UTF-8),
    /// [`Error::MisspeltLevel`] or [`Error::JsonLogsRequired`] for a bad
    /// setting or variable; [`Error::AlreadyInitialized`] when telemetry was
    /// initialised before in this process; an exporter's error when it
    /// cannot start (a port in use, say).
    pub fn try_init(self) -> Result<TelemetryGuard, Error> {
        autotel_exporters::env::check_text(std::env::vars_os())?;
        let read: autotel_exporters::env::ReadVar<'_> = &autotel_exporters::env::var;
        let settings = self
            .code
            .resolve(&self.default_name, read)?
            .within_features(&self.code, read)?;
        let given = install::Given {
            span_metrics: self.span_metrics,
            redaction: self.redaction,
            user_layers: self.layers,
            #[cfg(feature = "tokio")]
            tokio_runtime: self.tokio_runtime,
        };
        install::install(settings, given)
    }
}

impl std::fmt::Debug for Preset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = f.debug_struct("Preset");
        out.field("service_name", &self.default_name)
            .field("code", &self.code)
            .field("span_metrics", &self.span_metrics)
            .field("redaction", &self.redaction)
            .field("layers", &self.layers.len());
        #[cfg(feature = "tokio")]
        out.field("tokio_runtime", &self.tokio_runtime);
        out.finish()
    }
}
