//! Key styles: the names of the top-level keys for each log backend.

use tracing::Level;

use super::format::{escape_into, int_into, string_into};
use crate::trace_context::TraceContext;

/// The names of the top-level keys and the spelling of levels and ids, for
/// the log backend that reads the lines.
///
/// | style | time | level | logger | trace / span id | service, version, environment |
/// |---|---|---|---|---|---|
/// | [`autotel`](KeyStyle::autotel) (default) | `timestamp` | `level`: `INFO` | `logger` | `trace_id` / `span_id` (hex) | `service.name`, `service.version`, `deployment.environment` |
/// | [`ecs`](KeyStyle::ecs) | `@timestamp` | `log.level`: `info` | `log.logger` | `trace.id` / `span.id` (hex) | `service.name`, `service.version`, `service.environment`, plus `ecs.version` |
/// | [`google_cloud`](KeyStyle::google_cloud) | `time` | `severity`: `INFO`, `WARNING`, `DEBUG` for trace | `logger` | `logging.googleapis.com/trace` (`projects/P/traces/HEX`) / `logging.googleapis.com/spanId`, plus `logging.googleapis.com/trace_sampled` | as autotel |
/// | [`datadog`](KeyStyle::datadog) | `timestamp` | `status`: `info` | `logger.name` | `dd.trace_id` / `dd.span_id` (decimal of the low 64 bits, as strings) | `dd.service`, `dd.version`, `dd.env` |
///
/// In every style the message is `message` and the fields are under `data`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyStyle(Style);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Style {
    Autotel,
    Ecs,
    GoogleCloud { project_id: String },
    Datadog,
}

impl Default for KeyStyle {
    fn default() -> Self {
        Self::autotel()
    }
}

impl KeyStyle {
    /// The autotel schema of DESIGN.md (OpenTelemetry names).
    pub fn autotel() -> Self {
        Self(Style::Autotel)
    }

    /// Elastic Common Schema (ECS 8).
    pub fn ecs() -> Self {
        Self(Style::Ecs)
    }

    /// Google Cloud Logging structured logs; `project_id` forms the trace
    /// resource name `projects/{project_id}/traces/{trace_id}`.
    pub fn google_cloud(project_id: impl Into<String>) -> Self {
        Self(Style::GoogleCloud {
            project_id: project_id.into(),
        })
    }

    /// Datadog log pipelines, with the `dd.*` correlation attributes.
    pub fn datadog() -> Self {
        Self(Style::Datadog)
    }

    pub(crate) fn timestamp(&self) -> &'static str {
        match self.0 {
            Style::Autotel | Style::Datadog => "timestamp",
            Style::Ecs => "@timestamp",
            Style::GoogleCloud { .. } => "time",
        }
    }

    pub(crate) fn level_key(&self) -> &'static str {
        match self.0 {
            Style::Autotel => "level",
            Style::Ecs => "log.level",
            Style::GoogleCloud { .. } => "severity",
            Style::Datadog => "status",
        }
    }

    pub(crate) fn level(&self, level: Level) -> &'static str {
        match self.0 {
            Style::Autotel => level.as_str(),
            Style::Ecs | Style::Datadog => match level {
                Level::TRACE => "trace",
                Level::DEBUG => "debug",
                Level::INFO => "info",
                Level::WARN => "warn",
                Level::ERROR => "error",
            },
            Style::GoogleCloud { .. } => match level {
                Level::TRACE | Level::DEBUG => "DEBUG",
                Level::INFO => "INFO",
                Level::WARN => "WARNING",
                Level::ERROR => "ERROR",
            },
        }
    }

    pub(crate) fn logger(&self) -> &'static str {
        match self.0 {
            Style::Autotel | Style::GoogleCloud { .. } => "logger",
            Style::Ecs => "log.logger",
            Style::Datadog => "logger.name",
        }
    }

    pub(crate) fn service_keys(&self) -> [&'static str; 3] {
        match self.0 {
            Style::Autotel | Style::GoogleCloud { .. } => {
                ["service.name", "service.version", "deployment.environment"]
            }
            Style::Ecs => ["service.name", "service.version", "service.environment"],
            Style::Datadog => ["dd.service", "dd.version", "dd.env"],
        }
    }

    /// Fields every line of this style carries.
    pub(crate) fn constant_fields(&self) -> &'static [(&'static str, &'static str)] {
        match self.0 {
            Style::Ecs => &[("ecs.version", "8.11.0")],
            _ => &[],
        }
    }

    /// Appends `,"<trace key>":...,"<span key>":...` for `context`.
    pub(crate) fn ids_into(&self, buf: &mut Vec<u8>, context: &TraceContext) {
        let trace_hex = context.trace_id().to_hex();
        let span_hex = context.span_id().to_hex();
        match &self.0 {
            Style::Autotel | Style::Ecs => {
                let (trace_key, span_key): (&[u8], &[u8]) = if self.0 == Style::Autotel {
                    (b",\"trace_id\":\"", b"\",\"span_id\":\"")
                } else {
                    (b",\"trace.id\":\"", b"\",\"span.id\":\"")
                };
                buf.extend_from_slice(trace_key);
                buf.extend_from_slice(&trace_hex);
                buf.extend_from_slice(span_key);
                buf.extend_from_slice(&span_hex);
                buf.push(b'"');
            }
            Style::GoogleCloud { project_id } => {
                buf.extend_from_slice(b",\"logging.googleapis.com/trace\":\"projects/");
                escape_into(buf, project_id);
                buf.extend_from_slice(b"/traces/");
                buf.extend_from_slice(&trace_hex);
                buf.extend_from_slice(b"\",\"logging.googleapis.com/spanId\":\"");
                buf.extend_from_slice(&span_hex);
                buf.extend_from_slice(b"\",\"logging.googleapis.com/trace_sampled\":");
                buf.extend_from_slice(if context.is_sampled() {
                    b"true"
                } else {
                    b"false"
                });
            }
            Style::Datadog => {
                buf.extend_from_slice(b",\"dd.trace_id\":\"");
                int_into(buf, context.trace_id().to_u128() as u64);
                buf.extend_from_slice(b"\",\"dd.span_id\":\"");
                int_into(buf, context.span_id().to_u64());
                buf.push(b'"');
            }
        }
    }
}

/// Appends `,"key":"value"`.
pub(crate) fn member_into(buf: &mut Vec<u8>, key: &str, value: &str) {
    buf.push(b',');
    string_into(buf, key);
    buf.push(b':');
    string_into(buf, value);
}
