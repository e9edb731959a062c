//! Environments, their defaults, and how code, the environment and the
//! defaults combine into the settings telemetry starts with.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use autotel_exporters::env::{self, PrometheusCredentials, ReadVar};
#[cfg(feature = "otlp")]
use autotel_exporters::otlp::Sampling;
use autotel_layers::exemplar::ExemplarFilter;
use tracing_subscriber::EnvFilter;

use crate::Error;

mod features;
mod prometheus;

pub(crate) use prometheus::credentials_scheme;
#[cfg(feature = "prometheus")]
pub(crate) use prometheus::with_credentials;

/// Where the program runs; each environment has its own defaults (see the
/// [crate docs](crate#what-each-preset-turns-on)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Environment {
    /// JSON logs at INFO, Prometheus, OTLP when an endpoint is set, system metrics.
    Production,
    /// As production.
    Staging,
    /// Readable logs at DEBUG, finished spans and a metrics table on standard
    /// error, Prometheus, OTLP when an endpoint is set.
    Development,
    /// Everything captured in memory, nothing written out, no socket opened.
    Testing,
}

impl Environment {
    /// The name used in logs, metrics labels and `ENVIRONMENT`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Production => "production",
            Self::Staging => "staging",
            Self::Development => "development",
            Self::Testing => "testing",
        }
    }

    /// The environment of a build that does not say: development in debug
    /// builds, production in release builds.
    pub fn of_build() -> Self {
        if cfg!(debug_assertions) {
            Self::Development
        } else {
            Self::Production
        }
    }

    /// Whether logs must be JSON.
    fn requires_json(self) -> bool {
        matches!(self, Self::Production | Self::Staging)
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Environment {
    type Err = Error;

    /// Parses `production`, `staging`, `development`, `testing` (or `prod`,
    /// `stage`, `dev`, `test`), in any case.
    fn from_str(value: &str) -> Result<Self, Error> {
        match value.trim().to_ascii_lowercase().as_str() {
            "production" | "prod" => Ok(Self::Production),
            "staging" | "stage" => Ok(Self::Staging),
            "development" | "dev" => Ok(Self::Development),
            "testing" | "test" => Ok(Self::Testing),
            _ => Err(Error::invalid(
                "ENVIRONMENT",
                value,
                "is not an environment (production, staging, development or testing)",
            )),
        }
    }
}

/// What the code asked for; `None` leaves the setting to the environment
/// variables, then to the preset.
#[derive(Debug, Clone, Default)]
pub(crate) struct Code {
    pub(crate) environment: Option<Environment>,
    pub(crate) service_name: Option<String>,
    pub(crate) service_version: Option<String>,
    pub(crate) prometheus_port: Option<u16>,
    pub(crate) otlp_endpoint: Option<String>,
    pub(crate) json_logs: Option<bool>,
    pub(crate) console_export: Option<bool>,
    pub(crate) log_level: Option<String>,
    pub(crate) sample_ratio: Option<f64>,
    pub(crate) exemplars: Option<bool>,
    pub(crate) prometheus: bool,
    pub(crate) otlp: bool,
    pub(crate) span_metrics: bool,
    pub(crate) system_metrics: bool,
}

impl Code {
    pub(crate) fn new(environment: Option<Environment>) -> Self {
        Self {
            environment,
            prometheus: true,
            otlp: true,
            span_metrics: true,
            system_metrics: true,
            ..Self::default()
        }
    }
}

/// Where the Prometheus endpoint listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listen {
    /// No exporter at all.
    Off,
    /// The recorder only, rendered in memory.
    InMemory,
    /// The endpoint on this address.
    On(SocketAddr),
}

/// Where OTLP goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OtlpTarget {
    Off,
    /// To this endpoint.
    Endpoint(String),
    /// To the endpoints of the `OTEL_EXPORTER_OTLP_*ENDPOINT` variables.
    Standard,
}

/// The settings telemetry starts with, every choice made.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) environment: Environment,
    pub(crate) service_name: String,
    pub(crate) service_version: String,
    pub(crate) log_filter: String,
    pub(crate) json_logs: bool,
    pub(crate) console_export: bool,
    pub(crate) in_memory: bool,
    pub(crate) prometheus: Listen,
    pub(crate) prometheus_auth: Option<PrometheusCredentials>,
    pub(crate) otlp: OtlpTarget,
    pub(crate) sample_ratio: Option<f64>,
    pub(crate) span_metrics: bool,
    pub(crate) system_metrics: bool,
    /// Which spans give exemplars to the duration histograms.
    pub(crate) exemplars: ExemplarFilter,
    /// What `OTEL_PROPAGATORS` names: autotel writes and reads the W3C
    /// fields named there itself; B3 and Jaeger are installed as the
    /// OpenTelemetry global propagator.
    pub(crate) propagators: Vec<env::Propagator>,
}

/// The variables that name an OTLP endpoint in the OpenTelemetry convention.
const STANDARD_ENDPOINTS: [&str; 4] = [
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
];

impl Code {
    /// Combines the code's choices, the environment read by `read`, and the
    /// defaults of the environment, in that order of precedence.
    pub(crate) fn resolve(&self, default_name: &str, read: ReadVar<'_>) -> Result<Settings, Error> {
        let environment = match self.environment {
            Some(environment) => environment,
            None => match read("ENVIRONMENT")? {
                Some(value) => value.parse()?,
                None => Environment::of_build(),
            },
        };
        let testing = environment == Environment::Testing;

        let service_name = match &self.service_name {
            Some(name) => env::check_identity("Preset::service_name", name.clone())?,
            None => match env::service_name(read)? {
                Some(name) => name,
                None => env::check_identity("the preset's service name", default_name.to_owned())?,
            },
        };
        let service_version = match &self.service_version {
            Some(version) => env::check_identity("Preset::service_version", version.clone())?,
            None => env::service_version(read)?.unwrap_or_else(|| "0.0.0".to_owned()),
        };

        let log_filter = match &self.log_level {
            Some(level) => check_filter("Preset::log_level", level)?,
            None => match read("RUST_LOG")? {
                Some(directives) => check_filter("RUST_LOG", &directives)?,
                None => match env::log_level(read)? {
                    Some(level) => level.to_string(),
                    None => match environment {
                        Environment::Production | Environment::Staging => "info",
                        Environment::Development | Environment::Testing => "debug",
                    }
                    .to_owned(),
                },
            },
        };

        let json_logs = match self.json_logs {
            Some(false) if environment.requires_json() => {
                return Err(Error::JsonLogsRequired {
                    environment: environment.as_str(),
                    setting: "Preset::json_logs",
                    value: "false".to_owned(),
                });
            }
            Some(json) => json,
            None => match env::json_logs(read)? {
                Some((false, value)) if environment.requires_json() => {
                    return Err(Error::JsonLogsRequired {
                        environment: environment.as_str(),
                        setting: "JSON_LOGS",
                        value,
                    });
                }
                Some((json, _)) => json,
                None => environment != Environment::Development,
            },
        };

        let console_export = self
            .console_export
            .unwrap_or(environment == Environment::Development);

        let (prometheus, prometheus_auth) =
            prometheus::resolve(self.prometheus, self.prometheus_port, testing, read)?;

        let sdk_disabled = env::sdk_disabled(read)?;
        // Checked even when OTLP is off, so a typo is never silently ignored.
        #[cfg(feature = "otlp")]
        if let Some(sampler) = read("OTEL_TRACES_SAMPLER")? {
            Sampling::parse(&sampler, read("OTEL_TRACES_SAMPLER_ARG")?.as_deref())?;
        }
        let otlp = if !self.otlp || sdk_disabled {
            OtlpTarget::Off
        } else if let Some(endpoint) = &self.otlp_endpoint {
            OtlpTarget::Endpoint(check_endpoint("Preset::otlp_endpoint", endpoint)?)
        } else if let Some(endpoint) = env::otlp_endpoint(read)? {
            OtlpTarget::Endpoint(endpoint.url())
        } else if any_set(read, &STANDARD_ENDPOINTS)? {
            OtlpTarget::Standard
        } else {
            OtlpTarget::Off
        };

        let sample_ratio = match self.sample_ratio {
            Some(ratio) if !(0.0..=1.0).contains(&ratio) => {
                return Err(Error::invalid(
                    "Preset::trace_sample_ratio",
                    ratio.to_string(),
                    "is not a ratio from 0.0 to 1.0",
                ));
            }
            ratio => ratio,
        };

        Ok(Settings {
            environment,
            service_name,
            service_version,
            log_filter,
            json_logs,
            console_export,
            in_memory: testing,
            prometheus,
            prometheus_auth,
            otlp,
            sample_ratio,
            span_metrics: self.span_metrics,
            system_metrics: self.system_metrics && !testing,
            exemplars: match self.exemplars {
                Some(true) => ExemplarFilter::TraceBased,
                Some(false) => ExemplarFilter::AlwaysOff,
                None => env::exemplar_filter(read)?.unwrap_or_default(),
            },
            propagators: env::propagators(read)?,
        })
    }
}

/// Whether `read` finds any of `names` set.
fn any_set(read: ReadVar<'_>, names: &[&'static str]) -> Result<bool, Error> {
    for name in names {
        if read(name)?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// `directives` if they parse as a filter (`info`, `my_crate=debug,warn`)
/// and none is a misspelt level (`inf0`).
///
/// The directives come back trimmed one by one, empty ones left out:
/// tracing-subscriber 0.3's parser cuts a directive by positions found in its
/// trimmed text, and panics when white space before it shifts a cut into a
/// multi-byte character (`" é=debug"`).
pub(crate) fn check_filter(setting: &'static str, directives: &str) -> Result<String, Error> {
    let trimmed: Vec<&str> = directives
        .split(',')
        .map(str::trim)
        .filter(|directive| !directive.is_empty())
        .collect();
    let trimmed = trimmed.join(",");
    if let Some((directive, suggestion)) = crate::filter::misspelt_level(directives) {
        return Err(Error::MisspeltLevel {
            setting,
            value: directives.to_owned(),
            directive: directive.to_owned(),
            suggestion,
        });
    }
    EnvFilter::builder()
        .parse(&trimmed)
        .map(|_| trimmed.clone())
        .map_err(|_| {
            Error::invalid(
                setting,
                directives,
                "is not a log filter (a level such as info, or directives such as my_crate=debug,warn)",
            )
        })
}

/// `endpoint` if it is an OTLP collector URL (`http://`, `https://`, or no
/// scheme, which means `http://`).
fn check_endpoint(setting: &'static str, endpoint: &str) -> Result<String, Error> {
    env::parse_endpoint(setting, endpoint)
        .map(|endpoint| endpoint.url())
        .map_err(Error::from)
}

/// `endpoint` without user information, for the start-up log line.
pub(crate) fn redact_endpoint(endpoint: &str) -> String {
    env::redact_url(endpoint)
}

#[cfg(test)]
mod tests;
