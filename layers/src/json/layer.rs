//! The `Layer` hooks of [`JsonLayer`]: span fields serialised when a span is
//! created or recorded, one line written per event.

use std::io::Write;

use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::{ExtensionsMut, LookupSpan, SpanRef};

use super::fields::{FieldSet, JsonSpanFields};
use super::scratch::{SCRATCH, Scratch};
use super::{JsonLayer, SpanFields};
use crate::trace_context;

/// Puts the span fields of one layer into the span's extensions.
fn store_fields(extensions: &mut ExtensionsMut<'_>, fields: FieldSet) {
    match extensions.get_mut::<JsonSpanFields>() {
        Some(all) => all.put(fields),
        None => {
            let mut all = JsonSpanFields::default();
            all.put(fields);
            extensions.insert(all);
        }
    }
}

/// Span fields taken out of a span's extensions while a record is
/// formatted; dropping it, even while a panic unwinds, puts them back.
struct PutBack<'a, 'b, S>
where
    S: for<'l> LookupSpan<'l>,
{
    span: &'b SpanRef<'a, S>,
    fields: FieldSet,
    layer: usize,
}

impl<S> Drop for PutBack<'_, '_, S>
where
    S: for<'l> LookupSpan<'l>,
{
    fn drop(&mut self) {
        let fields = std::mem::take(&mut self.fields).with_layer(self.layer);
        store_fields(&mut self.span.extensions_mut(), fields);
    }
}

impl<S, W> Layer<S> for JsonLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    #[cfg(feature = "opentelemetry")]
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        trace_context::assign(&span);
        if self.span_fields == SpanFields::Omit || attrs.fields().is_empty() {
            return;
        }
        let mut fields = FieldSet::default();
        self.record_span_fields(&mut fields, attrs, attrs.metadata().name());
        store_fields(&mut span.extensions_mut(), fields.with_layer(self.id));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if self.span_fields == SpanFields::Omit || values.is_empty() {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        // Formatting runs user code, which may log: never hold the
        // extensions while it runs.
        let fields = span
            .extensions_mut()
            .get_mut::<JsonSpanFields>()
            .map(|all| std::mem::replace(all.get_or_insert(self.id), FieldSet::empty(self.id)))
            .unwrap_or_default();
        // It may also panic (a `Debug` impl): the guard puts the fields back
        // either way, with the values recorded before the panic.
        let mut taken = PutBack {
            span: &span,
            fields,
            layer: self.id,
        };
        self.record_span_fields(&mut taken.fields, values, span.name());
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let emit = |scratch: &mut Scratch| {
            self.format_event(event, &ctx, scratch);
            let mut writer = self.make_writer.make_writer_for(event.metadata());
            let _ = writer.write_all(&scratch.line);
            scratch.trim();
        };
        let reused = SCRATCH.try_with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => {
                emit(&mut scratch);
                true
            }
            Err(_) => false,
        });
        if reused != Ok(true) {
            emit(&mut Scratch::default());
        }
    }
}
