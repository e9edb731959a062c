//! Exemplars: the trace behind a histogram observation.
//!
//! An exemplar ties one observation of a histogram to the span that produced
//! it (its trace id and span id), so that a latency spike on a dashboard leads
//! to a trace that caused it. The [`metrics`] facade's
//! [`Histogram::record`](metrics::Histogram::record) has no parameter for it,
//! so autotel passes it beside the call: the code that records sets the
//! *current exemplar* of its thread around the call with [`with_exemplar`],
//! and a recorder that keeps exemplars reads it with [`current`] when the
//! observation arrives.
//!
//! Who sets it: [`SpanMetricsLayer`](crate::SpanMetricsLayer) around
//! `span_duration_seconds`, `pipeline_duration_seconds` and
//! `step_duration_seconds`, and the HTTP and gRPC middlewares around their
//! duration histograms, with the ids of the span measured, when its trace is
//! sampled (see [`ExemplarFilter`]). Who reads it: the Prometheus recorder of
//! autotel-exporters (OpenMetrics exposition) and its OTLP metrics recorder.
//! Any other recorder may read it too; one that does not simply never sees it.
//!
//! Setting and reading cost a thread-local access each, and never allocate.
//!
//! ```
//! use autotel_layers::exemplar::{self, Exemplar};
//! use autotel_layers::{SpanId, TraceId};
//!
//! let ids = Exemplar::new(
//!     TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736),
//!     SpanId::from_u64(0x00f067aa0ba902b7),
//! );
//! assert_eq!(exemplar::current(), None);
//! exemplar::with_exemplar(Some(ids), || {
//!     // A recorder reads it while the histogram records.
//!     assert_eq!(exemplar::current(), Some(ids));
//!     metrics::histogram!("job_duration_seconds").record(0.25);
//! });
//! assert_eq!(exemplar::current(), None);
//! ```

use std::cell::Cell;

use tracing::Dispatch;
use tracing_subscriber::registry::{LookupSpan, SpanRef};

use crate::trace_context::{self, SpanId, TraceId};

/// The ids of the span behind an observation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Exemplar {
    trace_id: TraceId,
    span_id: SpanId,
}

impl Exemplar {
    /// An exemplar naming the span `span_id` of the trace `trace_id`.
    pub const fn new(trace_id: TraceId, span_id: SpanId) -> Self {
        Self { trace_id, span_id }
    }

    /// The trace id.
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The span id.
    pub const fn span_id(&self) -> SpanId {
        self.span_id
    }
}

/// Which spans give their ids to the observations they produce; the values
/// are those of the OpenTelemetry variable `OTEL_METRICS_EXEMPLAR_FILTER`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ExemplarFilter {
    /// Spans of sampled traces only, so that an exemplar always leads to a
    /// trace that was exported (`trace_based`, the default).
    #[default]
    TraceBased,
    /// Every span with ids, sampled or not (`always_on`).
    AlwaysOn,
    /// No exemplars (`always_off`): the layers do not look the ids up.
    AlwaysOff,
}

impl ExemplarFilter {
    /// The filter named `name` as `OTEL_METRICS_EXEMPLAR_FILTER` writes it
    /// (`trace_based`, `always_on`, `always_off`, in any case); `None` for
    /// any other text.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.trim();
        [
            ("trace_based", Self::TraceBased),
            ("always_on", Self::AlwaysOn),
            ("always_off", Self::AlwaysOff),
        ]
        .into_iter()
        .find_map(|(known, filter)| name.eq_ignore_ascii_case(known).then_some(filter))
    }

    /// The name of the filter, as `OTEL_METRICS_EXEMPLAR_FILTER` writes it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::TraceBased => "trace_based",
            Self::AlwaysOn => "always_on",
            Self::AlwaysOff => "always_off",
        }
    }

    /// Whether any exemplar passes.
    pub const fn is_enabled(self) -> bool {
        !matches!(self, Self::AlwaysOff)
    }

    fn admits(self, sampled: bool) -> bool {
        match self {
            Self::TraceBased => sampled,
            Self::AlwaysOn => true,
            Self::AlwaysOff => false,
        }
    }
}

thread_local! {
    static CURRENT: Cell<Option<Exemplar>> = const { Cell::new(None) };
}

/// The exemplar set on this thread by the [`with_exemplar`] call in
/// progress, if any. Recorders call it when a histogram observation arrives.
#[inline]
pub fn current() -> Option<Exemplar> {
    CURRENT.try_with(Cell::get).ok().flatten()
}

/// Runs `record` with `exemplar` as this thread's [`current`] exemplar, and
/// restores the previous one afterwards (also when `record` panics).
#[inline]
pub fn with_exemplar<R>(exemplar: Option<Exemplar>, record: impl FnOnce() -> R) -> R {
    struct Restore(Option<Exemplar>);
    impl Drop for Restore {
        #[inline]
        fn drop(&mut self) {
            let _ = CURRENT.try_with(|current| current.set(self.0));
        }
    }
    let previous = CURRENT
        .try_with(|current| current.replace(exemplar))
        .ok()
        .flatten();
    let _restore = Restore(previous);
    record()
}

/// The exemplar of `span`, from inside a layer, when `filter` admits it;
/// never assigns ids (see [`trace_context::peek`]).
pub(crate) fn of_span_ref<'a, S>(
    span: &SpanRef<'a, S>,
    dispatch: Option<&Dispatch>,
    filter: ExemplarFilter,
) -> Option<Exemplar>
where
    S: LookupSpan<'a>,
{
    if !filter.is_enabled() {
        return None;
    }
    let context = trace_context::peek(span, dispatch)?;
    filter
        .admits(context.is_sampled())
        .then(|| Exemplar::new(context.trace_id(), context.span_id()))
}

/// The exemplar of a `tracing::Span`, when `filter` admits it.
#[cfg_attr(not(any(feature = "http", feature = "grpc")), allow(dead_code))]
pub(crate) fn of_span(span: &tracing::Span, filter: ExemplarFilter) -> Option<Exemplar> {
    if !filter.is_enabled() {
        return None;
    }
    span.with_subscriber(|(id, dispatch)| {
        let registry = dispatch.downcast_ref::<tracing_subscriber::Registry>()?;
        let span = registry.span(id)?;
        of_span_ref(&span, Some(dispatch), filter)
    })
    .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u64) -> Exemplar {
        Exemplar::new(TraceId::from_u128(u128::from(n)), SpanId::from_u64(n))
    }

    #[test]
    fn with_exemplar_nests_and_restores() {
        assert_eq!(current(), None);
        with_exemplar(Some(ids(1)), || {
            assert_eq!(current(), Some(ids(1)));
            with_exemplar(None, || assert_eq!(current(), None));
            with_exemplar(Some(ids(2)), || assert_eq!(current(), Some(ids(2))));
            assert_eq!(current(), Some(ids(1)));
        });
        assert_eq!(current(), None);
        let _ = std::panic::catch_unwind(|| with_exemplar(Some(ids(3)), || panic!("recorder")));
        assert_eq!(current(), None);
    }

    #[test]
    fn filters_read_their_otel_names() {
        for filter in [
            ExemplarFilter::TraceBased,
            ExemplarFilter::AlwaysOn,
            ExemplarFilter::AlwaysOff,
        ] {
            assert_eq!(ExemplarFilter::from_name(filter.name()), Some(filter));
        }
        assert_eq!(
            ExemplarFilter::from_name(" ALWAYS_OFF "),
            Some(ExemplarFilter::AlwaysOff)
        );
        assert_eq!(ExemplarFilter::from_name("sometimes"), None);
        assert!(!ExemplarFilter::TraceBased.admits(false));
        assert!(ExemplarFilter::AlwaysOn.admits(false));
    }
}
