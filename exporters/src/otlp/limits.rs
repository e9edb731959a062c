//! Redaction and length limits on what leaves by OTLP.
//!
//! Span attributes, span event attributes and log record attributes whose
//! names match the [`Redaction`] (the same rule as the JSON logs) are sent as
//! `"[REDACTED]"`. String values longer than the length limit (attribute
//! values, span event names, log bodies) are cut on a character boundary and
//! counted in `autotel_truncated_values_total{signal}`.

use std::borrow::Cow;
use std::sync::OnceLock;

use autotel_layers::catalog;
use autotel_layers::redact::{REDACTED, Redaction};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _};
use opentelemetry::{Array, KeyValue, StringValue, Value};
use opentelemetry_sdk::logs::{SdkLogRecord, SdkLogger, SdkLoggerProvider};
use opentelemetry_sdk::trace::SpanData;

/// The attribute value length limit when nothing sets one, in bytes.
pub const DEFAULT_ATTRIBUTE_VALUE_LENGTH_LIMIT: usize = 8192;

/// Redaction and the length limit of one signal.
#[derive(Debug, Clone)]
pub(crate) struct Limits {
    pub(crate) redaction: Redaction,
    pub(crate) max_len: usize,
}

/// `text` cut to at most `max` bytes on a character boundary, or `None`
/// when it fits.
fn cut(text: &str, max: usize) -> Option<String> {
    if text.len() <= max {
        return None;
    }
    Some(text[..text.floor_char_boundary(max)].to_owned())
}

impl Limits {
    /// Applies the rules to one attribute; the number of values cut.
    fn attribute(&self, attribute: &mut KeyValue) -> u64 {
        if self.redaction.matches(attribute.key.as_str()) {
            attribute.value = Value::String(REDACTED.into());
            return 0;
        }
        match &mut attribute.value {
            Value::String(text) => match cut(text.as_str(), self.max_len) {
                Some(short) => {
                    *text = short.into();
                    1
                }
                None => 0,
            },
            Value::Array(Array::String(items)) => {
                let mut cuts = 0;
                for item in items.iter_mut() {
                    if let Some(short) = cut(item.as_str(), self.max_len) {
                        *item = StringValue::from(short);
                        cuts += 1;
                    }
                }
                cuts
            }
            _ => 0,
        }
    }

    /// Applies the rules to a finished span; the number of values cut.
    pub(crate) fn span(&self, span: &mut SpanData) -> u64 {
        let mut cuts = 0;
        for attribute in &mut span.attributes {
            cuts += self.attribute(attribute);
        }
        for event in &mut span.events.events {
            if let Some(short) = cut(&event.name, self.max_len) {
                event.name = Cow::Owned(short);
                cuts += 1;
            }
            for attribute in &mut event.attributes {
                cuts += self.attribute(attribute);
            }
        }
        cuts
    }

    /// Whether [`any_value`](Self::any_value) would change this value.
    fn changes(&self, key: Option<&str>, value: &AnyValue) -> bool {
        key.is_some_and(|key| self.redaction.matches(key))
            || matches!(value, AnyValue::String(text) if text.as_str().len() > self.max_len)
    }

    /// What one log attribute or body becomes, when it changes.
    fn any_value(&self, key: Option<&str>, value: &AnyValue) -> Option<(AnyValue, u64)> {
        if key.is_some_and(|key| self.redaction.matches(key)) {
            return Some((AnyValue::String(REDACTED.into()), 0));
        }
        match value {
            AnyValue::String(text) => {
                cut(text.as_str(), self.max_len).map(|short| (AnyValue::String(short.into()), 1))
            }
            _ => None,
        }
    }

    /// Applies the rules to a log record; the number of values cut.
    ///
    /// The SDK gives no mutable access to a record's attributes, so a record
    /// that needs a change is rebuilt; one that does not is left alone.
    pub(crate) fn log(&self, record: &mut SdkLogRecord) -> u64 {
        // The common case, nothing to change, allocates nothing.
        let changes_body = record.body().is_some_and(|body| self.changes(None, body));
        let changes_any = record
            .attributes_iter()
            .any(|(key, value)| self.changes(Some(key.as_str()), value));
        if !changes_body && !changes_any {
            return 0;
        }
        let body = record.body().and_then(|body| self.any_value(None, body));
        let changes: Vec<Option<(AnyValue, u64)>> = record
            .attributes_iter()
            .map(|(key, value)| self.any_value(Some(key.as_str()), value))
            .collect();
        let mut fresh = blank_record();
        if let Some(name) = record.event_name() {
            fresh.set_event_name(name);
        }
        if let Some(target) = record.target() {
            fresh.set_target(target.clone());
        }
        if let Some(time) = record.timestamp() {
            fresh.set_timestamp(time);
        }
        if let Some(time) = record.observed_timestamp() {
            fresh.set_observed_timestamp(time);
        }
        if let Some(cx) = record.trace_context() {
            fresh.set_trace_context(cx.trace_id, cx.span_id, cx.trace_flags);
        }
        if let Some(text) = record.severity_text() {
            fresh.set_severity_text(text);
        }
        if let Some(number) = record.severity_number() {
            fresh.set_severity_number(number);
        }
        let mut cuts = 0;
        match (body, record.body()) {
            (Some((body, n)), _) => {
                cuts += n;
                fresh.set_body(body);
            }
            (None, Some(body)) => fresh.set_body(body.clone()),
            (None, None) => {}
        }
        for ((key, value), change) in record.attributes_iter().zip(changes) {
            match change {
                Some((value, n)) => {
                    cuts += n;
                    fresh.add_attribute(key.clone(), value);
                }
                None => fresh.add_attribute(key.clone(), value.clone()),
            }
        }
        *record = fresh;
        cuts
    }
}

/// An empty log record (the SDK creates them only through a logger).
fn blank_record() -> SdkLogRecord {
    static LOGGER: OnceLock<SdkLogger> = OnceLock::new();
    LOGGER
        .get_or_init(|| SdkLoggerProvider::builder().build().logger("autotel"))
        .create_log_record()
}

/// Counts `n` values cut in `signal`.
pub(crate) fn count_cuts(signal: &'static str, n: u64) {
    if n > 0 {
        metrics::counter!(catalog::AUTOTEL_TRUNCATED_VALUES_TOTAL.name(), "signal" => signal)
            .increment(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::logs::Severity;

    fn limits(max_len: usize) -> Limits {
        Limits {
            redaction: Redaction::default(),
            max_len,
        }
    }

    #[test]
    fn values_are_cut_on_a_character_boundary() {
        assert_eq!(cut("héllo", 2), Some("h".to_owned()));
        assert_eq!(cut("héllo", 3), Some("hé".to_owned()));
        assert_eq!(cut("hello", 5), None);
        let mut attribute = KeyValue::new("note", "ééé");
        assert_eq!(limits(5).attribute(&mut attribute), 1);
        assert_eq!(attribute.value.as_str(), "éé");
    }

    #[test]
    fn secret_names_are_redacted_and_long_values_cut_in_log_records() {
        let mut record = blank_record();
        record.set_body(AnyValue::String("a long message".into()));
        record.set_severity_number(Severity::Warn);
        record.set_severity_text("WARN");
        record.add_attribute("password", "hunter2");
        record.add_attribute("X-Api-Key", "k");
        record.add_attribute("rows", 3i64);
        record.add_attribute("blob", "x".repeat(100));
        let cuts = limits(6).log(&mut record);
        assert_eq!(cuts, 2, "the body and the blob");
        let attributes: Vec<(String, AnyValue)> = record
            .attributes_iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        assert_eq!(
            attributes,
            vec![
                ("password".into(), AnyValue::String(REDACTED.into())),
                ("X-Api-Key".into(), AnyValue::String(REDACTED.into())),
                ("rows".into(), AnyValue::Int(3)),
                ("blob".into(), AnyValue::String("xxxxxx".into())),
            ]
        );
        assert_eq!(record.body(), Some(&AnyValue::String("a long".into())));
        assert_eq!(record.severity_number(), Some(Severity::Warn));
        assert_eq!(record.severity_text(), Some("WARN"));
        let mut clean = blank_record();
        clean.add_attribute("rows", 1i64);
        assert_eq!(limits(6).log(&mut clean), 0);
    }
}
