//! Layers that pass on [`Layer::on_register_dispatch`].
//!
//! tracing-subscriber 0.3 forwards every callback through `Option<L>` and
//! `Vec<L>` except `on_register_dispatch`; the layers that read the
//! dispatcher they run in (span resources, JSON logs, span metrics) need it.
//! [`Registered`] wraps an optional layer outside the `Vec`; a layer that
//! must keep its place in the `Vec` sits there as [`Shared`] and hears of the
//! dispatcher through a [`DispatchOnly`] outside it.

use tracing::Subscriber;
use tracing::span;
use tracing_subscriber::layer::{Context, Layer};

/// The callbacks that [`Registered`] and [`Shared`] pass on to the layer
/// they hold in their field `0` as they are.
macro_rules! forward_callbacks {
    () => {
        fn register_callsite(
            &self,
            metadata: &'static tracing::Metadata<'static>,
        ) -> tracing::subscriber::Interest {
            self.0.register_callsite(metadata)
        }

        fn enabled(&self, metadata: &tracing::Metadata<'_>, ctx: Context<'_, S>) -> bool {
            self.0.enabled(metadata, ctx)
        }

        fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
            self.0.max_level_hint()
        }

        fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
            self.0.on_new_span(attrs, id, ctx);
        }

        fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
            self.0.on_record(id, values, ctx);
        }

        fn on_follows_from(&self, id: &span::Id, follows: &span::Id, ctx: Context<'_, S>) {
            self.0.on_follows_from(id, follows, ctx);
        }

        fn event_enabled(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) -> bool {
            self.0.event_enabled(event, ctx)
        }

        fn on_event(&self, event: &tracing::Event<'_>, ctx: Context<'_, S>) {
            self.0.on_event(event, ctx);
        }

        fn on_enter(&self, id: &span::Id, ctx: Context<'_, S>) {
            self.0.on_enter(id, ctx);
        }

        fn on_exit(&self, id: &span::Id, ctx: Context<'_, S>) {
            self.0.on_exit(id, ctx);
        }

        fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
            self.0.on_close(id, ctx);
        }

        fn on_id_change(&self, old: &span::Id, new: &span::Id, ctx: Context<'_, S>) {
            self.0.on_id_change(old, new, ctx);
        }
    };
}

/// An optional layer that, unlike `Option`, passes on
/// [`Layer::on_register_dispatch`].
#[derive(Debug)]
pub(crate) struct Registered<L>(pub(crate) Option<L>);

impl<S, L> Layer<S> for Registered<L>
where
    S: Subscriber,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        if let Some(layer) = &self.0 {
            layer.on_register_dispatch(subscriber);
        }
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.0.on_layer(subscriber);
    }

    forward_callbacks!();
}

/// A layer kept behind an `Arc`, so that a [`DispatchOnly`] can tell it the
/// dispatcher from outside a `Vec` of layers (which does not pass
/// [`Layer::on_register_dispatch`] on) while the layer keeps its place in
/// the `Vec`.
#[derive(Debug)]
pub(crate) struct Shared<L>(pub(crate) std::sync::Arc<L>);

impl<S, L> Layer<S> for Shared<L>
where
    S: Subscriber,
    L: Layer<S>,
{
    forward_callbacks!();
}

/// Passes [`Layer::on_register_dispatch`], and nothing else, to a layer
/// that sits in a `Vec` of layers as [`Shared`].
#[derive(Debug)]
pub(crate) struct DispatchOnly<L>(pub(crate) Option<std::sync::Arc<L>>);

impl<S, L> Layer<S> for DispatchOnly<L>
where
    S: Subscriber,
    L: Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        if let Some(layer) = &self.0 {
            layer.on_register_dispatch(subscriber);
        }
    }
}
