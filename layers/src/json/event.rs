//! Building one JSON line from an event: the fixed members, the trace ids of
//! its span, its fields and those of the spans around it.

use tracing::field::Field;
use tracing::{Event, Metadata, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;

use super::fields::{
    ERROR_MESSAGE_SUFFIX, ERROR_SOURCES_SUFFIX, FieldKey, JsonSpanFields, REDACTED, Value, Visitor,
    key_into, sources_into,
};
use super::format::{escape_into, timestamp_into};
use super::limit::{Limit, count_truncated};
use super::scratch::Scratch;
use super::{JsonLayer, SpanFields};
use crate::trace_context::TraceContext;

impl<W> JsonLayer<W> {
    pub(super) fn format_event<S>(
        &self,
        event: &Event<'_>,
        ctx: &Context<'_, S>,
        scratch: &mut Scratch,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        scratch.clear();
        let Scratch {
            line,
            message,
            stand_in,
            data,
            seen,
            timestamps,
            callsites,
        } = scratch;
        let metadata = event.metadata();
        let keys = callsites.get(self.id, metadata, &self.redaction);
        let track = self.span_fields != SpanFields::Omit;
        // A record of the `log` crate, bridged by tracing-log: its target is
        // the logger, and its `log.*` fields say no more than the line does.
        let normalized = event.normalized_metadata();
        let from_log = normalized.is_some();
        // The rank of the field whose text is in `stand_in`.
        let mut stand_in_rank = 0;
        let mut limit = Limit::new(self.max_field_len);
        // The stand-in copies a field whose cut `limit` counts.
        let mut stand_in_limit = Limit::new(self.max_field_len);
        event.record(&mut Visitor(|field: &Field, value: Value<'_>| {
            if field.name() == "message" {
                value.text_into(message, &mut limit);
                return;
            }
            if from_log && field.name().starts_with("log.") {
                return;
            }
            let FieldKey {
                text: fragment,
                redacted,
                stand_in: rank,
            } = keys.get(field.index()).unwrap_or_default();
            if rank != 0 && (stand_in_rank == 0 || rank < stand_in_rank) {
                stand_in_rank = rank;
                stand_in.clear();
                value.text_into(stand_in, &mut stand_in_limit);
            }
            let mut key = |data: &mut Vec<u8>, suffix: &str| {
                if !data.is_empty() {
                    data.push(b',');
                }
                let start = data.len() + 1;
                let key_end = if suffix.is_empty() && !fragment.is_empty() {
                    data.extend_from_slice(fragment);
                    data.len() - 2
                } else {
                    key_into(data, None, field.name(), suffix)
                };
                if track {
                    seen.record(data, start, key_end);
                }
            };
            if redacted {
                key(data, "");
                data.extend_from_slice(REDACTED);
            } else if let Value::Error(error) = value {
                key(data, ERROR_MESSAGE_SUFFIX);
                value.json_into(data, &mut limit);
                let rollback = data.len();
                key(data, ERROR_SOURCES_SUFFIX);
                if !sources_into(data, error, &mut limit) {
                    data.truncate(rollback);
                    if track {
                        seen.pop();
                    }
                }
            } else {
                key(data, "");
                value.json_into(data, &mut limit);
            }
        }));
        count_truncated(limit.cuts());

        let mut context = None;
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope {
                let mut extensions = span.extensions();
                if context.is_none() {
                    match extensions.get::<TraceContext>() {
                        Some(cached) if cached.is_settled() => context = Some(*cached),
                        _ => {
                            drop(extensions);
                            context = Some(self.trace_context(&span));
                            extensions = span.extensions();
                        }
                    }
                }
                if !track {
                    break;
                }
                if let Some(fields) = extensions
                    .get::<JsonSpanFields>()
                    .and_then(|fields| fields.get(self.id))
                {
                    fields.merge_into(data, seen);
                }
            }
        }

        let prepared = &self.prepared;
        line.extend_from_slice(&prepared.open);
        timestamp_into(line, self.now(), timestamps);
        let level = match *metadata.level() {
            tracing::Level::TRACE => 0,
            tracing::Level::DEBUG => 1,
            tracing::Level::INFO => 2,
            tracing::Level::WARN => 3,
            tracing::Level::ERROR => 4,
        };
        line.extend_from_slice(&prepared.level_and_logger[level]);
        escape_into(
            line,
            normalized
                .as_ref()
                .map_or(metadata.target(), Metadata::target),
        );
        line.extend_from_slice(&prepared.message);
        // Never an empty message: an event without one (`#[instrument(err)]`,
        // the OpenTelemetry SDK's error reports) takes its error's text, or
        // else its name.
        if !message.is_empty() {
            line.extend_from_slice(message);
        } else if !stand_in.is_empty() {
            line.extend_from_slice(stand_in);
        } else {
            escape_into(line, metadata.name());
        }
        line.extend_from_slice(&prepared.resource);
        if let Some(context) = &context {
            self.style.ids_into(line, context);
        }
        line.extend_from_slice(b",\"data\":{");
        line.extend_from_slice(data);
        line.extend_from_slice(b"}}\n");
    }
}
