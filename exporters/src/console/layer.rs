//! The layer that prints each finished span with its duration.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::Subscriber;
use tracing::span::{Attributes, Id};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The time source of [`ConsoleLayer`]: time elapsed since some fixed start.
pub type Clock = Arc<dyn Fn() -> Duration + Send + Sync>;

pub(super) fn system_clock() -> Clock {
    let start = Instant::now();
    Arc::new(move || start.elapsed())
}

/// A layer that prints each span when it closes, with the time since it was
/// created, indented by two spaces per parent.
pub struct ConsoleLayer<W = fn() -> std::io::Stderr> {
    make_writer: W,
    clock: Clock,
}

impl std::fmt::Debug for ConsoleLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleLayer").finish_non_exhaustive()
    }
}

impl Default for ConsoleLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl ConsoleLayer {
    /// A layer that writes to standard error.
    pub fn new() -> Self {
        Self {
            make_writer: std::io::stderr,
            clock: system_clock(),
        }
    }
}

impl<W> ConsoleLayer<W> {
    /// Writes to `make_writer` instead. Defaults to standard error.
    #[must_use]
    pub fn with_writer<W2>(self, make_writer: W2) -> ConsoleLayer<W2>
    where
        W2: for<'w> MakeWriter<'w> + 'static,
    {
        ConsoleLayer {
            make_writer,
            clock: self.clock,
        }
    }

    /// Reads time from `clock` (for tests). Defaults to the monotonic system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }
}

/// When a span was created, kept in its extensions.
struct Started(Duration);

impl<S, W> Layer<S> for ConsoleLayer<W>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fn on_new_span(&self, _attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started((self.clock)()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let Some(started) = span.extensions().get::<Started>().map(|s| s.0) else {
            return;
        };
        let elapsed = (self.clock)().saturating_sub(started);
        let depth = span.scope().skip(1).count();
        let line = format!(
            "{:indent$}{} {}\n",
            "",
            span.name(),
            format_duration(elapsed),
            indent = depth * 2
        );
        let _ = self.make_writer.make_writer().write_all(line.as_bytes());
    }
}

/// A duration with three significant digits and a unit people read at a glance.
pub(super) fn format_duration(d: Duration) -> String {
    let nanos = d.as_nanos() as f64;
    let (value, unit) = if nanos < 1e3 {
        (nanos, "ns")
    } else if nanos < 1e6 {
        (nanos / 1e3, "µs")
    } else if nanos < 1e9 {
        (nanos / 1e6, "ms")
    } else {
        (nanos / 1e9, "s")
    };
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    format!("{value:.decimals$}{unit}")
}
