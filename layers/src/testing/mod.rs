//! Capture every signal of a closure, for tests: finished spans, events and
//! the metrics recorded, with no global state.
//!
//! ```
//! use autotel_layers::testing::{capture, SpanStatus};
//!
//! let run = capture(|| {
//!     let _span = tracing::info_span!("load", rows = 3).entered();
//!     tracing::error!(error.type = "timeout", "gave up");
//! });
//!
//! let load = run.span("load").expect("the span closed");
//! assert_eq!(load.status(), SpanStatus::Error);
//! assert_eq!(load.field("rows").map(|v| v.to_string()), Some("3".into()));
//! assert_eq!(run.counter("span_calls_total", &[("span_name", "load"), ("status", "error")]), 1);
//! assert_eq!(run.counter("span_errors_total", &[("error_type", "timeout")]), 1);
//! assert_eq!(run.events()[0].message(), Some("gave up"));
//! ```
//!
//! [`capture`] runs the closure on the current thread. For work spread over
//! threads, create a [`Harness`], call [`Harness::run`] on each thread, then
//! [`Harness::finish`].

mod capture;
mod layer;
mod records;
mod run;

use std::fmt;

use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

use crate::SpanMetricsLayer;

pub use capture::{Capture, CaptureRecorder};
pub use layer::CaptureLayer;
pub use records::{EventRecord, FieldValue, MetricRecord, MetricValue, SpanRecord, SpanStatus};
pub use run::Run;

/// Runs `f` under a fresh subscriber (a registry with a default
/// [`SpanMetricsLayer`]) and a fresh metrics recorder, both local to the
/// current thread, and returns everything it produced.
pub fn capture(f: impl FnOnce()) -> Run {
    capture_with(SpanMetricsLayer::new(), f)
}

/// Like [`capture`], with a span metrics layer of your own configuration.
pub fn capture_with(layer: SpanMetricsLayer, f: impl FnOnce()) -> Run {
    let harness = Harness::with_layer(layer);
    harness.run(f);
    harness.finish()
}

/// A subscriber and a metrics recorder that threads can run work under, and
/// that collect what the work produced.
///
/// ```
/// use autotel_layers::testing::Harness;
///
/// let harness = Harness::new();
/// std::thread::scope(|scope| {
///     for _ in 0..4 {
///         scope.spawn(|| harness.run(|| drop(tracing::info_span!("job").entered())));
///     }
/// });
/// assert_eq!(harness.finish().counter("span_calls_total", &[("span_name", "job")]), 4);
/// ```
pub struct Harness {
    dispatch: Dispatch,
    capture: Capture,
}

impl Harness {
    /// A harness with a default [`SpanMetricsLayer`].
    pub fn new() -> Self {
        Self::with_layer(SpanMetricsLayer::new())
    }

    /// A harness with the given span metrics layer.
    pub fn with_layer(layer: SpanMetricsLayer) -> Self {
        let capture = Capture::new();
        let subscriber = tracing_subscriber::registry()
            .with(capture.layer())
            .with(layer);
        Self {
            dispatch: Dispatch::new(subscriber),
            capture,
        }
    }

    /// Runs `f` on the current thread with this harness's subscriber and
    /// recorder as the thread's defaults.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        tracing::dispatcher::with_default(&self.dispatch, || {
            metrics::with_local_recorder(&self.capture.recorder, f)
        })
    }

    /// The dispatcher, to hand to code that sets its own defaults.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
    }

    /// Everything produced so far; taking a snapshot changes nothing.
    pub fn snapshot(&self) -> Run {
        self.capture.snapshot()
    }

    /// Everything produced, once the work is over.
    pub fn finish(self) -> Run {
        self.snapshot()
    }
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness").finish_non_exhaustive()
    }
}
