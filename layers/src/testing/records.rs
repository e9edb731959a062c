//! The records of a run: finished spans, events and metric series.

use std::fmt;
use std::time::Duration;

use metrics::Key;
use tracing_core::Level;

/// How a span ended, by the rule of [`SpanMetricsLayer`](crate::SpanMetricsLayer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanStatus {
    /// No error.
    Ok,
    /// An ERROR event inside it, an `error` field, or
    /// `otel.status_code = "ERROR"`.
    Error,
}

/// A field value as it was recorded.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum FieldValue {
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer.
    U64(u64),
    /// A floating-point number.
    F64(f64),
    /// A string, recorded as such.
    Str(String),
    /// The `Debug` (or `Display`, for `%value`) text of anything else,
    /// including errors.
    Debug(String),
}

impl fmt::Display for FieldValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Bool(v) => v.fmt(f),
            Self::I64(v) => v.fmt(f),
            Self::U64(v) => v.fmt(f),
            Self::F64(v) => v.fmt(f),
            Self::Str(v) | Self::Debug(v) => f.write_str(v),
        }
    }
}

/// A span that closed.
#[derive(Debug, Clone)]
pub struct SpanRecord {
    pub(super) id: u64,
    pub(super) name: &'static str,
    pub(super) target: String,
    pub(super) fields: Vec<(&'static str, FieldValue)>,
    pub(super) parent: Option<u64>,
    pub(super) duration: Duration,
    pub(super) error_event: bool,
}

impl SpanRecord {
    /// The span's name.
    pub fn name(&self) -> &str {
        self.name
    }

    /// The span's target.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The span's id while it was live (ids are reused after close).
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Every field recorded on the span, at creation or later, in order.
    pub fn fields(&self) -> &[(&'static str, FieldValue)] {
        &self.fields
    }

    /// The last value recorded for the field `name`.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// The id of the parent span, if it had one.
    pub fn parent(&self) -> Option<u64> {
        self.parent
    }

    /// Wall time from creation to close.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Whether the span ended in error.
    pub fn status(&self) -> SpanStatus {
        let error_field = self
            .field("error")
            .is_some_and(|value| *value != FieldValue::Bool(false));
        let status_code = self.field("otel.status_code").is_some_and(|value| {
            value
                .to_string()
                .trim_matches('"')
                .eq_ignore_ascii_case("error")
        });
        if self.error_event || error_field || status_code {
            SpanStatus::Error
        } else {
            SpanStatus::Ok
        }
    }
}

/// An event that was recorded.
#[derive(Debug, Clone)]
pub struct EventRecord {
    pub(super) level: Level,
    pub(super) target: String,
    pub(super) fields: Vec<(&'static str, FieldValue)>,
    pub(super) span: Option<u64>,
}

impl EventRecord {
    /// The event's level.
    pub fn level(&self) -> Level {
        self.level
    }

    /// The event's target.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The event's fields, the message included.
    pub fn fields(&self) -> &[(&'static str, FieldValue)] {
        &self.fields
    }

    /// The value of the field `name`.
    pub fn field(&self, name: &str) -> Option<&FieldValue> {
        self.fields.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The event's message.
    pub fn message(&self) -> Option<&str> {
        match self.field("message")? {
            FieldValue::Str(s) | FieldValue::Debug(s) => Some(s),
            _ => None,
        }
    }

    /// The id of the span the event was recorded in.
    pub fn span(&self) -> Option<u64> {
        self.span
    }
}

/// One metric series and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRecord {
    pub(super) name: String,
    pub(super) labels: Vec<(String, String)>,
    pub(super) value: MetricValue,
}

impl MetricRecord {
    pub(super) fn new(key: &Key, value: MetricValue) -> Self {
        Self {
            name: key.name().to_owned(),
            labels: key
                .labels()
                .map(|label| (label.key().to_owned(), label.value().to_owned()))
                .collect(),
            value,
        }
    }

    /// The metric name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The labels, in the order they were given.
    pub fn labels(&self) -> &[(String, String)] {
        &self.labels
    }

    /// The value of the label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The value.
    pub fn value(&self) -> &MetricValue {
        &self.value
    }

    pub(super) fn has_labels(&self, labels: &[(&str, &str)]) -> bool {
        labels
            .iter()
            .all(|(key, value)| self.label(key) == Some(*value))
    }
}

/// The value of a metric series.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum MetricValue {
    /// A counter's total.
    Counter(u64),
    /// A gauge's last value.
    Gauge(f64),
    /// Every value a histogram received.
    Histogram(Vec<f64>),
}
