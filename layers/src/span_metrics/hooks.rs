//! The span metrics layer's callbacks: a span opens, records fields, sees
//! events and closes.

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Interest, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::SpanMetricsLayer;
use super::callsites::Callsite;
use super::fields::{Captured, FieldVisitor};
use super::pipeline::{ParentLink, PipelineRole};
use super::state::{State, count_invalid};
use super::store::{Holder, SlotSpan, SpanState};
use crate::exemplar::{self, Exemplar};
use crate::internal::interner::ABSENT;

impl SpanMetricsLayer {
    /// Stores a new span of a callsite with fields that matter, with what
    /// they said, and starts a pipeline run when the span is one.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn start_span<S>(
        &self,
        id: &Id,
        attrs: &Attributes<'_>,
        start: u64,
        callsite: u32,
        site: &Callsite,
        captured: &Captured,
        ctx: &Context<'_, S>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let state = self.state();
        let key = id.into_u64();
        let mut parent = ParentLink::new(id, Some(attrs), ctx);
        let error_type = state.error_type(captured);
        let slot = SlotSpan {
            start,
            callsite,
            error: captured.error,
            error_type,
        };
        let role = if site.slotted {
            None
        } else {
            state.classify(captured, &self.switch, || parent.get(state))
        };
        if !(site.slotted && state.slots.claim(key, slot)) {
            state.spans.insert(
                key,
                SpanState {
                    role: role.unwrap_or(PipelineRole::None),
                    dims: captured.dims,
                    ..SpanState::from(slot)
                },
            );
        }
        if let Some(PipelineRole::Run { pipeline }) = role {
            self.start_run(pipeline);
        }
        if captured.has_counts() {
            let link = match role {
                Some(role) => role.link(key),
                None => parent.get(state),
            };
            self.add_counts(link, captured);
        }
        if captured.invalid > 0 {
            metrics::with_recorder(|recorder| count_invalid(recorder, captured.invalid));
        }
    }

    /// Applies what the fields recorded on span `id` said, and starts a
    /// pipeline run when the span just became one.
    pub(super) fn update_span<S>(
        &self,
        id: &Id,
        holder: Holder,
        captured: &Captured,
        ctx: &Context<'_, S>,
    ) where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let state = self.state();
        let key = id.into_u64();
        let mut parent = ParentLink::new(id, None, ctx);
        let error_type = state.error_type(captured);
        let changes_error = captured.error || error_type != ABSENT;
        let role = match holder {
            Holder::Slot => {
                if changes_error {
                    state.slots.record_error(key, captured.error, error_type);
                }
                PipelineRole::None
            }
            Holder::Table(role) => {
                let new_role = if role == PipelineRole::None {
                    state.classify(captured, &self.switch, || parent.get(state))
                } else {
                    None
                };
                let dims = captured.dims;
                let changes_state =
                    changes_error || new_role.is_some() || dims.iter().any(|d| *d != ABSENT);
                let applied = changes_state
                    .then(|| {
                        state.spans.with(key, |span| {
                            span.error |= captured.error;
                            if error_type != ABSENT {
                                span.error_type = error_type;
                            }
                            for (slot, value) in span.dims.iter_mut().zip(dims) {
                                if value != ABSENT {
                                    *slot = value;
                                }
                            }
                            let started = match new_role {
                                Some(new_role) if span.role == PipelineRole::None => {
                                    span.role = new_role;
                                    true
                                }
                                _ => false,
                            };
                            (span.role, started)
                        })
                    })
                    .flatten();
                match applied {
                    Some((role, started)) => {
                        if let (true, PipelineRole::Run { pipeline }) = (started, role) {
                            self.start_run(pipeline);
                        }
                        role
                    }
                    None => role,
                }
            }
        };
        if captured.has_counts() {
            let link = match role.link(key) {
                Some(link) => Some(link),
                None => parent.get(state),
            };
            self.add_counts(link, captured);
        }
        if captured.invalid > 0 {
            metrics::with_recorder(|recorder| count_invalid(recorder, captured.invalid));
        }
    }
}

impl<S> Layer<S> for SpanMetricsLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        self.state.callsites.with(metadata, &self.config, |_, _| ());
        Interest::always()
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if !self.switch.is_enabled() {
            return;
        }
        let state = self.state();
        let start = state.clock.raw();
        state
            .callsites
            .with(attrs.metadata(), &self.config, |index, site| {
                if !site.tracked || !site.decision.is_enabled(&self.switch, site.name) {
                    return;
                }
                if !site.any_role {
                    let key = id.into_u64();
                    let slot = SlotSpan {
                        start,
                        callsite: index,
                        error: false,
                        error_type: ABSENT,
                    };
                    if !state.slots.claim(key, slot) {
                        state.spans.insert(key, SpanState::from(slot));
                    }
                    return;
                }
                let captured = capture(state, site, |visitor| attrs.record(visitor));
                self.start_span(id, attrs, start, index, site, &captured, &ctx);
            });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        if !self.switch.is_enabled() {
            return;
        }
        let state = self.state();
        let key = id.into_u64();
        let (index, holder) = match state.slots.callsite(key) {
            Some(index) => (index, Holder::Slot),
            None => match state.spans.with(key, |span| (span.callsite, span.role)) {
                Some((index, role)) => (index, Holder::Table(role)),
                None => return,
            },
        };
        let Some(site) = state.callsites.get(index).filter(|site| site.any_role) else {
            return;
        };
        let captured = capture(state, site, |visitor| values.record(visitor));
        self.update_span(id, holder, &captured, &ctx);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        if !self.switch.is_enabled() {
            return;
        }
        let metadata = event.metadata();
        let is_error = *metadata.level() == Level::ERROR;
        let state = self.state();
        let captured = state.callsites.with(metadata, &self.config, |_, site| {
            if !is_error && !site.any_role {
                return None;
            }
            let mut captured = Captured::new();
            if site.any_role {
                event.record(&mut FieldVisitor::new(&site.roles, &[], &[], &mut captured));
            }
            Some(captured)
        });
        let Some(captured) = captured.flatten() else {
            return;
        };
        let span = match event.parent() {
            Some(parent) => Some(parent.clone()),
            None if event.is_contextual() => ctx.current_span().id().cloned(),
            None => None,
        };
        let Some(span) = span else {
            return;
        };
        // Only an ERROR event marks its span; an event's own `error` field or
        // pipeline names say nothing about the span.
        let key = span.into_u64();
        let mut role = None;
        if is_error {
            let error_type = state.error_type(&captured);
            if !state.slots.record_error(key, true, error_type) {
                role = state.spans.with(key, |span| {
                    span.error = true;
                    if error_type != ABSENT {
                        span.error_type = error_type;
                    }
                    span.role
                });
            }
        }
        if captured.has_counts() {
            let link = match role.and_then(|role| role.link(key)) {
                Some(link) => Some(link),
                None => state.pipeline_of(&span, role.is_some(), &ctx),
            };
            self.add_counts(link, &captured);
        }
        if captured.invalid > 0 {
            metrics::with_recorder(|recorder| count_invalid(recorder, captured.invalid));
        }
    }

    #[cfg(feature = "opentelemetry")]
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let state = self.state();
        let key = id.into_u64();
        let span = match state.slots.release(key) {
            Some(slot) => SpanState::from(slot),
            None => match state.spans.remove(key) {
                Some(span) if span.role != PipelineRole::Muted => span,
                _ => return,
            },
        };
        let nanos = state.clock.delta_as_nanos(span.start, state.clock.raw());
        // A multiplication costs a fraction of a division; the result differs
        // from `nanos / 1e9` by at most one unit in the last place.
        let seconds = nanos as f64 * 1e-9;
        let exemplar = self.exemplar(&id, &ctx);
        metrics::with_recorder(|recorder| {
            exemplar::with_exemplar(exemplar, || self.record_close(recorder, &span, seconds));
        });
    }
}

impl SpanMetricsLayer {
    /// The exemplar of the closing span `id`, when the filter admits one.
    fn exemplar<S>(&self, id: &Id, ctx: &Context<'_, S>) -> Option<Exemplar>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let filter = self.config.exemplars;
        if !filter.is_enabled() {
            return None;
        }
        let span = ctx.span(id)?;
        #[cfg(feature = "opentelemetry")]
        let dispatch = self
            .dispatch
            .get()
            .and_then(tracing::dispatcher::WeakDispatch::upgrade);
        #[cfg(not(feature = "opentelemetry"))]
        let dispatch: Option<tracing::Dispatch> = None;
        exemplar::of_span_ref(&span, dispatch.as_ref(), filter)
    }
}

/// What the fields that matter of a span of `site` say, as `record` reads
/// them.
fn capture(state: &State, site: &Callsite, record: impl FnOnce(&mut FieldVisitor<'_>)) -> Captured {
    let mut captured = Captured::new();
    record(&mut FieldVisitor::new(
        &site.roles,
        &state.dimension_values,
        &state.dimension_redacted,
        &mut captured,
    ));
    captured
}
