//! The layer of a [`Capture`](super::Capture): it follows each live span's
//! fields and start, and keeps a record of every span that closes and every
//! event.

use std::fmt::{self, Write as _};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::records::{EventRecord, FieldValue, SpanRecord};

/// What the layer collected, shared with its [`Capture`](super::Capture).
#[derive(Default)]
pub(super) struct Sink {
    inner: Mutex<SinkInner>,
}

#[derive(Default)]
pub(super) struct SinkInner {
    pub(super) spans: Vec<SpanRecord>,
    pub(super) events: Vec<EventRecord>,
}

impl Sink {
    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, SinkInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The layer of a [`Capture`](super::Capture): collects finished spans and events.
pub struct CaptureLayer {
    pub(super) sink: Arc<Sink>,
}

impl fmt::Debug for CaptureLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureLayer").finish_non_exhaustive()
    }
}

struct LiveSpan {
    start: Instant,
    fields: Vec<(&'static str, FieldValue)>,
    error_event: bool,
}

struct Fields<'a>(&'a mut Vec<(&'static str, FieldValue)>);

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.push((field.name(), FieldValue::F64(value)));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.push((field.name(), FieldValue::I64(value)));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.push((field.name(), FieldValue::U64(value)));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.push((field.name(), FieldValue::Bool(value)));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0
            .push((field.name(), FieldValue::Str(value.to_owned())));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.0
            .push((field.name(), FieldValue::Debug(value.to_string())));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // A Debug impl may fail; keep what it wrote rather than panic.
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        self.0.push((field.name(), FieldValue::Debug(text)));
    }
}

impl<S> Layer<S> for CaptureLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        attrs.record(&mut Fields(&mut fields));
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(LiveSpan {
                start: Instant::now(),
                fields,
                error_event: false,
            });
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id)
            && let Some(live) = span.extensions_mut().get_mut::<LiveSpan>()
        {
            values.record(&mut Fields(&mut live.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Vec::new();
        event.record(&mut Fields(&mut fields));
        let span = ctx.event_span(event);
        if *event.metadata().level() == Level::ERROR
            && let Some(span) = &span
            && let Some(live) = span.extensions_mut().get_mut::<LiveSpan>()
        {
            live.error_event = true;
        }
        self.sink.lock().events.push(EventRecord {
            level: *event.metadata().level(),
            target: event.metadata().target().to_owned(),
            fields,
            span: span.map(|span| span.id().into_u64()),
        });
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(live) = span.extensions_mut().remove::<LiveSpan>() else {
            return;
        };
        let record = SpanRecord {
            id: id.into_u64(),
            name: span.name(),
            target: span.metadata().target().to_owned(),
            fields: live.fields,
            parent: span.parent().map(|parent| parent.id().into_u64()),
            duration: live.start.elapsed(),
            error_event: live.error_event,
        };
        self.sink.lock().spans.push(record);
    }
}
