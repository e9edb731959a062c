//! The two OTLP transports, how an endpoint implies one, and the three
//! signals with their standard variables.

use crate::env::{Endpoint, InvalidSetting};

/// How OTLP travels. See the [module docs](super) for how it is chosen when
/// nothing says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// OTLP/gRPC, by default to port 4317.
    Grpc,
    /// OTLP/HTTP with protobuf bodies, by default to port 4318.
    HttpProtobuf,
}

impl Protocol {
    /// Parses the values of `OTEL_EXPORTER_OTLP_PROTOCOL` (`grpc`,
    /// `http/protobuf`), in any case.
    pub(crate) fn parse(setting: &'static str, value: &str) -> Result<Self, InvalidSetting> {
        match value.trim().to_ascii_lowercase().as_str() {
            "grpc" => Ok(Self::Grpc),
            "http/protobuf" => Ok(Self::HttpProtobuf),
            "http/json" => Err(InvalidSetting::new(
                setting,
                value,
                "is not supported here; use grpc or http/protobuf",
            )),
            _ => Err(InvalidSetting::new(
                setting,
                value,
                "is not an OTLP protocol (grpc or http/protobuf)",
            )),
        }
    }

    /// The name `OTEL_EXPORTER_OTLP_PROTOCOL` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Grpc => "grpc",
            Self::HttpProtobuf => "http/protobuf",
        }
    }

    /// The protocol an endpoint implies when nothing else says: a path
    /// ending in `/v1/<something>` is OTLP/HTTP's; otherwise port 4317 is
    /// gRPC, and port 4318 and everything else are HTTP/protobuf.
    pub(crate) fn implied_by(endpoint: &Endpoint) -> Self {
        let http_path = endpoint
            .path()
            .rsplit_once('/')
            .is_some_and(|(parent, last)| !last.is_empty() && parent.ends_with("/v1"));
        match endpoint.port() {
            4317 if !http_path => Self::Grpc,
            _ => Self::HttpProtobuf,
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three OTLP signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Logs,
    Metrics,
}

/// The variables of one signal, or the general ones.
pub(crate) struct Vars {
    pub(crate) endpoint: &'static str,
    pub(crate) protocol: &'static str,
    pub(crate) headers: &'static str,
    pub(crate) compression: &'static str,
    pub(crate) timeout: &'static str,
    pub(crate) certificate: &'static str,
    pub(crate) client_certificate: &'static str,
    pub(crate) client_key: &'static str,
}

macro_rules! vars {
    ($prefix:literal) => {
        Vars {
            endpoint: concat!($prefix, "ENDPOINT"),
            protocol: concat!($prefix, "PROTOCOL"),
            headers: concat!($prefix, "HEADERS"),
            compression: concat!($prefix, "COMPRESSION"),
            timeout: concat!($prefix, "TIMEOUT"),
            certificate: concat!($prefix, "CERTIFICATE"),
            client_certificate: concat!($prefix, "CLIENT_CERTIFICATE"),
            client_key: concat!($prefix, "CLIENT_KEY"),
        }
    };
}

pub(crate) const GENERAL: Vars = vars!("OTEL_EXPORTER_OTLP_");
const TRACES: Vars = vars!("OTEL_EXPORTER_OTLP_TRACES_");
const LOGS: Vars = vars!("OTEL_EXPORTER_OTLP_LOGS_");
const METRICS: Vars = vars!("OTEL_EXPORTER_OTLP_METRICS_");

impl Signal {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Traces => "traces",
            Self::Logs => "logs",
            Self::Metrics => "metrics",
        }
    }

    pub(crate) fn vars(self) -> &'static Vars {
        match self {
            Self::Traces => &TRACES,
            Self::Logs => &LOGS,
            Self::Metrics => &METRICS,
        }
    }

    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::Traces => "/v1/traces",
            Self::Logs => "/v1/logs",
            Self::Metrics => "/v1/metrics",
        }
    }
}
