//! What can go wrong when telemetry starts.

/// A configuration error, or a part of the telemetry that could not start.
///
/// Messages name the setting or environment variable and the value, and say
/// what would be accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting, or the environment variable behind it, has an unusable
    /// value; also a variable autotel reads that is not UTF-8 text.
    ///
    /// The message is `SETTING='value' is not ... (what is expected)`, with
    /// `'[REDACTED]'` for a value that may hold a secret.
    #[error(transparent)]
    InvalidSetting(#[from] autotel_exporters::env::InvalidSetting),
    /// A log filter directive that looks like a misspelt level: as a target
    /// name it would hide every log line.
    #[error(
        "{setting}='{value}' is not a log level: '{directive}' would be read as the name of a \
         target and hide every other log line. Did you mean '{suggestion}'? \
         (For a target with that name, write '{directive}=trace'.)"
    )]
    MisspeltLevel {
        /// `RUST_LOG`, `Preset::log_level` or `TelemetryControl::set_log_filter`.
        setting: &'static str,
        /// The whole value given.
        value: String,
        /// The directive that looks misspelt.
        directive: String,
        /// The level it is close to.
        suggestion: &'static str,
    },
    /// JSON logs were turned off in an environment that requires them.
    #[error(
        "JSON logs cannot be turned off in {environment} (asked for by {setting}='{value}'): \
         log aggregation there expects one JSON object per line; \
         use development() for readable logs"
    )]
    JsonLogsRequired {
        /// `production` or `staging`.
        environment: &'static str,
        /// What asked for it: `JSON_LOGS` or `Preset::json_logs`.
        setting: &'static str,
        /// The value given.
        value: String,
    },
    /// Telemetry was initialised before in this process, by autotel or by
    /// something else that installed a global subscriber or recorder.
    #[error(
        "telemetry is already initialised in this process ({what} is installed); \
         initialise once, at the start of main, and keep the TelemetryGuard"
    )]
    AlreadyInitialized {
        /// What was found installed.
        what: &'static str,
    },
    /// The Prometheus exporter could not start.
    #[cfg(feature = "prometheus")]
    #[error(transparent)]
    Prometheus(#[from] autotel_exporters::prometheus::PrometheusError),
    /// The OTLP pipeline could not start.
    #[cfg(feature = "otlp")]
    #[error(transparent)]
    Otlp(#[from] autotel_exporters::otlp::OtlpError),
    /// The StatsD or DogStatsD exporter could not open its socket.
    #[cfg(feature = "statsd")]
    #[error(transparent)]
    StatsD(#[from] autotel_exporters::statsd::StatsDError),
    /// The Datadog API exporter could not start.
    #[cfg(feature = "datadog")]
    #[error(transparent)]
    Datadog(#[from] autotel_exporters::datadog::DatadogError),
    /// The console exporter could not start.
    #[cfg(feature = "console")]
    #[error(transparent)]
    Console(#[from] autotel_exporters::console::ConsoleError),
    /// A layer refused its configuration.
    #[error(transparent)]
    Layer(#[from] autotel_layers::Error),
    /// A background thread (log writer, system sampler) could not start.
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        /// Which thread.
        what: &'static str,
        /// What the operating system said.
        source: std::io::Error,
    },
}

impl Error {
    /// [`Error::InvalidSetting`]: `setting` has `value`, and `expected`
    /// says what is wrong and what would be accepted.
    pub(crate) fn invalid(
        setting: &'static str,
        value: impl Into<String>,
        expected: &'static str,
    ) -> Self {
        Self::InvalidSetting(autotel_exporters::env::InvalidSetting::new(
            setting, value, expected,
        ))
    }
}
