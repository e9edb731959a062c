//! The log filter: an [`EnvFilter`] that can be replaced while the program runs.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tracing::level_filters::LevelFilter;
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer};

/// The target of the line that records the configuration at start.
pub(crate) const START_TARGET: &str = "autotel";

/// The levels a bare directive can name.
const LEVELS: [&str; 6] = ["trace", "debug", "info", "warn", "error", "off"];

/// Words people write for a level that `RUST_LOG` does not take.
const LEVEL_SYNONYMS: [(&str, &str); 6] = [
    ("warning", "warn"),
    ("information", "info"),
    ("err", "error"),
    ("fatal", "error"),
    ("critical", "error"),
    ("dbg", "debug"),
];

/// The first bare directive of `directives` that looks like a misspelt
/// level, with that level: `inf0` (a digit for a letter), `inof` (two
/// letters swapped), `wrn` or `infoo` (a letter missing or doubled),
/// `warning`.
///
/// A bare word that is not a level is a target name to `RUST_LOG`, and a
/// filter of targets only hides everything else: a typo turns logging off
/// without a word. A word one letter away by substitution (`warp`, a web
/// framework) stays a target.
pub(crate) fn misspelt_level(directives: &str) -> Option<(&str, &'static str)> {
    directives.split(',').map(str::trim).find_map(|directive| {
        if directive.is_empty() || directive.contains(['=', '[', ':', '{']) {
            return None;
        }
        let word = directive.to_ascii_lowercase();
        if LEVELS.contains(&word.as_str()) || word.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if let Some(&(_, level)) = LEVEL_SYNONYMS.iter().find(|(synonym, _)| *synonym == word) {
            return Some((directive, level));
        }
        let not_a_letter = word.bytes().any(|b| !b.is_ascii_alphabetic());
        LEVELS
            .iter()
            .find(|level| {
                let distance = strsim::osa_distance(&word, level);
                let letters_moved = distance == 1
                    && level.len() >= 4
                    && (word.len() != level.len() || same_letters(&word, level));
                (not_a_letter && word.len() >= 2 && distance <= 2) || letters_moved
            })
            .map(|level| (directive, *level))
    })
}

/// Whether `a` and `b` hold the same letters in some order.
fn same_letters(a: &str, b: &str) -> bool {
    let mut a: Vec<u8> = a.bytes().collect();
    let mut b: Vec<u8> = b.bytes().collect();
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

/// The global filter of the subscriber that [`Preset::init`](crate::Preset::init)
/// installs: which spans and events exist at all.
///
/// The line that records the configuration at start (target `autotel`,
/// INFO) passes a filter that names other targets only
/// (`my_crate=debug`), which would hide it for that reason alone: how
/// telemetry was set up is never hidden by a filter meant for the program's
/// own lines. A level for every target (`warn`, `off`) or a directive that
/// covers `autotel` is obeyed.
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
    /// The start line passes (see [`LogFilter`]).
    start_line: bool,
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

/// Whether `metadata` is the start line's, or another INFO to ERROR event of
/// its exact target.
fn is_start_line(metadata: &Metadata<'_>) -> bool {
    metadata.is_event() && metadata.target() == START_TARGET && *metadata.level() <= Level::INFO
}

/// Whether `directives` hide the start line only because they name other
/// targets: none is a level for every target (`warn`, `off`), and none
/// names a target that covers `autotel`.
fn hides_start_line_by_target(directives: &str) -> bool {
    directives.split(',').map(str::trim).all(|directive| {
        if directive.is_empty() {
            return true;
        }
        let target = directive
            .split(['=', '['])
            .next()
            .unwrap_or_default()
            .trim();
        let level = directive.parse::<LevelFilter>().is_ok();
        !level && !target.is_empty() && !START_TARGET.starts_with(target)
    })
}

impl Current {
    /// Whether the start line passes whatever the directives say.
    fn passes_start_line(&self, metadata: &Metadata<'_>) -> bool {
        self.start_line && is_start_line(metadata)
    }

    fn parse(directives: &str) -> Self {
        Self {
            filter: EnvFilter::builder()
                .parse(directives)
                .unwrap_or_else(|_| EnvFilter::new("info")),
            directives: directives.to_owned(),
            start_line: hides_start_line_by_target(directives),
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
        let current = self.current.load();
        if current.passes_start_line(metadata) {
            return Interest::always();
        }
        Layer::<S>::register_callsite(&current.filter, metadata)
    }

    fn enabled(&self, metadata: &Metadata<'_>, ctx: Context<'_, S>) -> bool {
        let current = self.current.load();
        current.passes_start_line(metadata) || current.filter.enabled(metadata, ctx)
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        let current = self.current.load();
        let hint = Layer::<S>::max_level_hint(&current.filter);
        if !current.start_line {
            return hint;
        }
        // At least INFO, for the start line.
        hint.map(|hint| hint.max(LevelFilter::INFO))
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
        let current = self.current.load();
        current.passes_start_line(event.metadata())
            || Layer::<S>::event_enabled(&current.filter, event, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    /// Runs `emit` under a filter of `directives`, after each of `then`
    /// (none first), and returns the messages of the events that passed.
    fn messages_through(
        directives: &str,
        then: &[&str],
        emit: impl Fn(&str),
    ) -> (Vec<String>, FilterHandle) {
        let filter = LogFilter::new(directives);
        let handle = filter.handle();
        let capture = autotel_layers::testing::Capture::new();
        let subscriber = tracing_subscriber::registry()
            .with(filter)
            .with(capture.layer());
        tracing::subscriber::with_default(subscriber, || {
            emit(directives);
            for directives in then {
                handle.set(directives);
                emit(directives);
            }
        });
        let messages = capture
            .snapshot()
            .events()
            .iter()
            .map(|e| e.message().unwrap_or_default().to_owned())
            .collect();
        (messages, handle)
    }

    #[test]
    fn a_new_filter_applies_to_the_next_event() {
        let (messages, handle) = messages_through("info", &["debug", "warn"], |_| {
            tracing::debug!("debug line");
            tracing::info!("info line");
            tracing::warn!("warn line");
        });
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

    #[test]
    fn the_start_line_passes_a_filter_of_other_targets_only() {
        let then = [
            "my_crate",
            "warn",
            "my_crate=debug,warn",
            "off",
            "autotel=warn,my_crate=debug",
            "my_crate[span]=trace,other=info",
        ];
        let (messages, _) = messages_through("my_crate=debug", &then, |round| {
            tracing::info!(target: "autotel", "started {round}");
            tracing::debug!(target: "autotel", "debug {round}");
            tracing::info!(target: "autotel::http", "http {round}");
            tracing::info!(target: "unrelated", "unrelated {round}");
        });
        assert_eq!(
            messages,
            [
                "started my_crate=debug",
                "started my_crate",
                "started my_crate[span]=trace,other=info"
            ]
        );
    }
}

#[cfg(test)]
mod misspelt {
    use super::*;

    #[test]
    fn near_misses_of_a_level_are_found() {
        for (directives, directive, level) in [
            ("inf0", "inf0", "info"),
            ("INF0", "INF0", "info"),
            ("1nfo", "1nfo", "info"),
            ("inof", "inof", "info"),
            ("ifno", "ifno", "info"),
            ("infoo", "infoo", "info"),
            ("inf", "inf", "info"),
            ("debgu", "debgu", "debug"),
            ("dbug", "dbug", "debug"),
            ("wran", "wran", "warn"),
            ("w4rn", "w4rn", "warn"),
            ("warning", "warning", "warn"),
            ("eror", "eror", "error"),
            ("err0r", "err0r", "error"),
            ("trcae", "trcae", "trace"),
            ("0ff", "0ff", "off"),
            ("my_crate=debug, inf0", "inf0", "info"),
        ] {
            assert_eq!(
                misspelt_level(directives),
                Some((directive, level)),
                "{directives}"
            );
        }
    }

    #[test]
    fn levels_targets_and_crate_names_are_left_alone() {
        for directives in [
            "info",
            "WARN",
            "off",
            "3",
            "my_crate=debug,warn",
            "warp",
            "wasm",
            "log",
            "hyper",
            "tokio=info",
            "mio",
            "h2",
            "tower_http",
            "of",
            "info,my_crate[span{x=1}]=trace",
            "",
        ] {
            assert_eq!(misspelt_level(directives), None, "{directives}");
        }
    }
}
