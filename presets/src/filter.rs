//! The log filter: an [`EnvFilter`] that can be replaced while the program runs.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer};

/// The global filter of the subscriber that [`Preset::init`](crate::Preset::init)
/// installs: which spans and events exist at all.
///
/// It holds an [`EnvFilter`] behind an [`ArcSwap`]: reading it is a load,
/// and [`TelemetryControl::set_log_filter`](crate::TelemetryControl::set_log_filter)
/// swaps in a new one, then rebuilds the callsite interest cache so that the
/// change applies to the next span or event.
pub struct LogFilter {
    current: Arc<ArcSwap<Current>>,
}

/// A filter and the directives it was parsed from.
struct Current {
    filter: EnvFilter,
    directives: String,
}

impl LogFilter {
    /// A filter from directives already checked by `config::check_filter`.
    pub(crate) fn new(directives: &str) -> Self {
        Self {
            current: Arc::new(ArcSwap::from_pointee(Current::parse(directives))),
        }
    }

    /// A handle that replaces this filter's directives.
    pub(crate) fn handle(&self) -> FilterHandle {
        FilterHandle {
            current: Arc::clone(&self.current),
        }
    }
}

impl Current {
    fn parse(directives: &str) -> Self {
        Self {
            filter: EnvFilter::builder()
                .parse(directives)
                .unwrap_or_else(|_| EnvFilter::new("info")),
            directives: directives.to_owned(),
        }
    }
}

/// Replaces the directives of a [`LogFilter`].
#[derive(Clone)]
pub(crate) struct FilterHandle {
    current: Arc<ArcSwap<Current>>,
}

impl FilterHandle {
    /// Swaps in `directives` (already checked) and makes every callsite ask again.
    pub(crate) fn set(&self, directives: &str) {
        self.current.store(Arc::new(Current::parse(directives)));
        tracing_core::callsite::rebuild_interest_cache();
        log::set_max_level(self.max_log_level());
    }

    /// The directives in force.
    pub(crate) fn directives(&self) -> String {
        self.current.load().directives.clone()
    }

    /// The most verbose `log` level the filter can let through.
    pub(crate) fn max_log_level(&self) -> log::LevelFilter {
        let hint = <EnvFilter as Layer<tracing_subscriber::Registry>>::max_level_hint(
            &self.current.load().filter,
        );
        match hint {
            Some(LevelFilter::OFF) => log::LevelFilter::Off,
            Some(LevelFilter::ERROR) => log::LevelFilter::Error,
            Some(LevelFilter::WARN) => log::LevelFilter::Warn,
            Some(LevelFilter::INFO) => log::LevelFilter::Info,
            Some(LevelFilter::DEBUG) => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        }
    }
}

impl fmt::Debug for FilterHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FilterHandle")
            .field(&self.directives())
            .finish()
    }
}

impl fmt::Debug for LogFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("LogFilter")
            .field(&self.current.load().directives)
            .finish()
    }
}

impl<S: Subscriber> Layer<S> for LogFilter {
    fn register_callsite(&self, metadata: &'static Metadata<'static>) -> Interest {
        Layer::<S>::register_callsite(&self.current.load().filter, metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        self.current.load().filter.enabled(metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Layer::<S>::max_level_hint(&self.current.load().filter)
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        self.current.load().filter.on_new_span(attrs, id, ctx);
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        self.current.load().filter.on_record(id, values, ctx);
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        self.current.load().filter.on_enter(id, ctx);
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        self.current.load().filter.on_exit(id, ctx);
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        self.current.load().filter.on_close(id, ctx);
    }

    fn event_enabled(&self, event: &Event<'_>, ctx: Context<'_, S>) -> bool {
        Layer::<S>::event_enabled(&self.current.load().filter, event, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn a_new_filter_applies_to_the_next_event() {
        let filter = LogFilter::new("info");
        let handle = filter.handle();
        let capture = autotel_layers::testing::Capture::new();
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(capture.layer());
        tracing::subscriber::with_default(subscriber, || {
            let emit = || {
                tracing::debug!("debug line");
                tracing::info!("info line");
                tracing::warn!("warn line");
            };
            emit();
            handle.set("debug");
            emit();
            handle.set("warn");
            emit();
        });
        let messages: Vec<_> = capture
            .snapshot()
            .events()
            .iter()
            .map(|e| e.message().unwrap_or_default().to_owned())
            .collect();
        assert_eq!(
            messages,
            [
                "info line",
                "warn line", // info
                "debug line",
                "info line",
                "warn line", // debug
                "warn line", // warn
            ]
        );
        assert_eq!(handle.directives(), "warn");
        assert_eq!(handle.max_log_level(), log::LevelFilter::Warn);
    }
}
