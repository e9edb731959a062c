//! The fields of readable text logs, with the preset's redaction: the same
//! `name=value` layout as `tracing_subscriber`'s default, but a field whose
//! name looks like a secret shows `[REDACTED]`.

use std::fmt;

use autotel_layers::redact::{REDACTED, Redaction};
use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// Formats fields as `message name=value ...`, hiding the values that the
/// redaction matches.
#[derive(Debug, Clone)]
pub(crate) struct RedactingFields {
    redaction: Redaction,
}

impl RedactingFields {
    pub(crate) fn new(redaction: Redaction) -> Self {
        Self { redaction }
    }
}

impl<'writer> FormatFields<'writer> for RedactingFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut visitor = FieldVisitor {
            writer,
            redaction: &self.redaction,
            first: true,
            result: Ok(()),
        };
        fields.record(&mut visitor);
        visitor.result
    }
}

struct FieldVisitor<'a, 'writer> {
    writer: Writer<'writer>,
    redaction: &'a Redaction,
    first: bool,
    result: fmt::Result,
}

impl FieldVisitor<'_, '_> {
    fn write(&mut self, field: &Field, value: &dyn fmt::Debug, quoted_message: bool) {
        let name = field.name();
        // What the `log` bridge adds says no more than the line does.
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let space = if self.first { "" } else { " " };
        self.first = false;
        self.result = if name == "message" && !quoted_message {
            write!(self.writer, "{space}{value:?}")
        } else if self.redaction.matches(name) {
            write!(self.writer, "{space}{name}={REDACTED}")
        } else {
            write!(self.writer, "{space}{name}={value:?}")
        };
    }
}

impl Visit for FieldVisitor<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.write(field, &format_args!("{value}"), false);
        } else {
            self.write(field, &value, true);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.write(field, value, false);
    }
}
