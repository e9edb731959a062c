//! The resources layer's callbacks: it reads the clocks when a span is
//! entered and exited and publishes a pipeline run's figures when it closes.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tracing_core::field::{Field, Visit};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::facts::Facts;
use super::figures::Unslotted;
use super::thread_tables::{Entry, SpanFacts, Tables};
use super::{PIPELINE_FIELD, SpanResources, SpanResourcesLayer};
use crate::alloc;

/// What a pipeline run needs besides its [`SpanResources`]: when it opened
/// and its name. Only pipeline runs carry it.
pub(super) struct PipelineRun {
    pub(super) opened: Instant,
    pub(super) name: Option<String>,
}

/// Finds the `pipeline.name` value of a span.
pub(super) struct PipelineName(Option<String>);

impl Visit for PipelineName {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == PIPELINE_FIELD {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == PIPELINE_FIELD {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

impl<S> Layer<S> for SpanResourcesLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
        // Calibrates the TSC and allocates the slots now rather than in the
        // first span.
        self.clock.prepare();
        if !self.span_extensions {
            self.figures.allocate();
        }
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let metadata = attrs.metadata();
        let facts = Tables::with(|tables| {
            let facts = self.facts(tables, metadata);
            tables.remember(SpanFacts {
                layer: self.key,
                span: id.into_u64(),
                metadata: Some(metadata),
                facts,
            });
            facts
        });
        let measured = facts.has(Facts::MEASURED);
        if !measured || !facts.has(Facts::PIPELINE) {
            return;
        }
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut name = PipelineName(None);
        attrs.record(&mut name);
        span.extensions_mut().insert(PipelineRun {
            opened: Instant::now(),
            name: name.0,
        });
        self.open_runs.fetch_add(1, Ordering::Relaxed);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let mut name = PipelineName(None);
        values.record(&mut name);
        let Some(name) = name.0 else {
            return;
        };
        if let Some(span) = ctx.span(id)
            && let Some(run) = span.extensions_mut().get_mut::<PipelineRun>()
        {
            run.name = Some(name);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let span = id.into_u64();
        Tables::with(|tables| {
            let (metadata, facts) = match tables.recall(self.key, span) {
                Some(known) => (known.metadata, known.facts),
                // Created on another thread: the registry tells the callsite.
                None => match ctx.metadata(id) {
                    Some(metadata) => (Some(metadata), self.facts(tables, metadata)),
                    None => return,
                },
            };
            if !facts.has(Facts::MEASURED) {
                return;
            }
            let Some(cpu) = self.clock.nanos() else {
                return;
            };
            tables.push(Entry {
                layer: self.key,
                span,
                cpu,
                allocated: alloc::thread_allocated_bytes(),
                metadata: metadata.filter(|_| {
                    self.record_fields && facts.has(Facts::CPU_FIELD | Facts::ALLOCATED_FIELD)
                }),
                again: false,
            });
        });
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(entry) = Tables::with(|tables| tables.pop(self.key, id.into_u64())) else {
            return;
        };
        if entry.again {
            return;
        }
        let cpu = self.clock.nanos().unwrap_or(entry.cpu);
        let used = SpanResources {
            cpu_nanos: cpu.saturating_sub(entry.cpu),
            allocated: alloc::thread_allocated_bytes().saturating_sub(entry.allocated),
        };
        let Some(total) = self.add(id, used, &ctx) else {
            return;
        };
        if let Some(metadata) = entry.metadata {
            self.record_into_fields(id, metadata.fields(), total);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let known = Tables::with(|tables| tables.forget(self.key, id.into_u64()));
        let slotted = self.figures.take(id.into_u64());
        if known.is_some_and(|known| !known.facts.has(Facts::PIPELINE))
            || self.open_runs.load(Ordering::Relaxed) == 0
        {
            return;
        }
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let extensions = span.extensions();
        let Some(run) = extensions.get::<PipelineRun>() else {
            return;
        };
        self.open_runs.fetch_sub(1, Ordering::Relaxed);
        let figures = slotted
            .or_else(|| extensions.get::<SpanResources>().copied())
            .or_else(|| extensions.get::<Unslotted>().map(|unslotted| unslotted.0))
            .unwrap_or_default();
        if let Some(pipeline) = &run.name {
            self.publish_pipeline(pipeline, run.opened, figures);
        }
    }
}
