//! Bounded queues that count what they drop, and exporters that count their
//! failures.
//!
//! The SDK's batch processors drop silently when their queue is full. The
//! processors here admit a span or log record only while fewer than the queue
//! size are waiting or being exported, so the SDK queue never overflows and
//! every drop is counted, in [`OtlpStats`](super::OtlpStats) and in
//! `autotel_dropped_total{signal, reason}`; failed exports are counted and
//! reported by the [`Reporter`] of their signal.
//!
//! The processors also apply the redaction and length [`Limits`] to what
//! they admit.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use autotel_layers::catalog;
use opentelemetry::Context;
use opentelemetry::InstrumentationScope;
use opentelemetry::logs::Severity;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{
    BatchLogProcessor, LogBatch, LogExporter, LogProcessor, SdkLogRecord,
};
use opentelemetry_sdk::metrics::Temporality;
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::trace::{BatchSpanProcessor, Span, SpanData, SpanExporter, SpanProcessor};
use std::sync::Arc;

use super::limits::{Limits, count_cuts};
use super::protocol::Signal;
use super::report::Reporter;

/// Shared counts of one pipeline.
#[derive(Debug, Default)]
pub(crate) struct Counts {
    pending_spans: AtomicUsize,
    pending_logs: AtomicUsize,
    pub(crate) dropped_spans: AtomicU64,
    pub(crate) dropped_logs: AtomicU64,
    pub(crate) export_errors: AtomicU64,
    pub(crate) truncated: AtomicU64,
}

impl Counts {
    fn pending(&self, signal: Signal) -> &AtomicUsize {
        match signal {
            Signal::Logs => &self.pending_logs,
            _ => &self.pending_spans,
        }
    }

    fn dropped(&self, signal: Signal, reason: &'static str, n: u64) {
        if n == 0 {
            return;
        }
        match signal {
            Signal::Traces => self.dropped_spans.fetch_add(n, Ordering::Relaxed),
            Signal::Logs => self.dropped_logs.fetch_add(n, Ordering::Relaxed),
            Signal::Metrics => 0,
        };
        metrics::counter!(
            catalog::AUTOTEL_DROPPED_TOTAL.name(),
            "signal" => signal.name(),
            "reason" => reason
        )
        .increment(n);
    }

    fn export_failed(&self) {
        self.export_errors.fetch_add(1, Ordering::Relaxed);
    }

    fn truncated(&self, signal: Signal, n: u64) {
        if n > 0 {
            self.truncated.fetch_add(n, Ordering::Relaxed);
            count_cuts(signal.name(), n);
        }
    }

    /// Takes a place in the queue of `signal`, or counts a drop.
    fn admit(&self, signal: Signal, capacity: usize) -> bool {
        let pending = self.pending(signal);
        if pending.fetch_add(1, Ordering::AcqRel) >= capacity {
            pending.fetch_sub(1, Ordering::AcqRel);
            self.dropped(signal, "queue_full", 1);
            return false;
        }
        true
    }

    /// Gives back the places of `n` items that left the pipeline.
    fn release(&self, signal: Signal, n: usize) {
        let pending = self.pending(signal);
        let _ = pending.fetch_update(Ordering::AcqRel, Ordering::Acquire, |p| {
            Some(p.saturating_sub(n))
        });
    }

    /// Records the outcome of exporting `n` items.
    fn exported(&self, signal: Signal, n: usize, result: &OTelSdkResult) {
        self.release(signal, n);
        if result.is_err() {
            self.export_failed();
            self.dropped(signal, "export_failed", n as u64);
        }
    }
}

/// A batch span processor with a counted, bounded queue.
#[derive(Debug)]
pub(crate) struct CountingSpanProcessor {
    pub(crate) inner: BatchSpanProcessor,
    pub(crate) capacity: usize,
    pub(crate) counts: Arc<Counts>,
    pub(crate) limits: Limits,
}

impl SpanProcessor for CountingSpanProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        self.inner.on_start(span, cx);
    }

    fn on_end(&self, mut span: SpanData) {
        if self.counts.admit(Signal::Traces, self.capacity) {
            let cuts = self.limits.span(&mut span);
            self.counts.truncated(Signal::Traces, cuts);
            self.inner.on_end(span);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// A batch log processor with a counted, bounded queue.
#[derive(Debug)]
pub(crate) struct CountingLogProcessor {
    pub(crate) inner: BatchLogProcessor,
    pub(crate) capacity: usize,
    pub(crate) counts: Arc<Counts>,
    pub(crate) limits: Limits,
}

impl LogProcessor for CountingLogProcessor {
    fn emit(&self, data: &mut SdkLogRecord, instrumentation: &InstrumentationScope) {
        if self.counts.admit(Signal::Logs, self.capacity) {
            let cuts = self.limits.log(data);
            self.counts.truncated(Signal::Logs, cuts);
            self.inner.emit(data, instrumentation);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

/// An exporter that counts its failures and releases queue places.
#[derive(Debug)]
pub(crate) struct Counting<E> {
    pub(crate) inner: E,
    pub(crate) counts: Arc<Counts>,
    pub(crate) reporter: Arc<Reporter>,
}

impl<E> Counting<E> {
    fn report(&self, result: &OTelSdkResult) {
        match result {
            Ok(()) => self.reporter.export_succeeded(),
            Err(error) => {
                self.reporter.export_failed(error);
            }
        }
    }
}

impl<E: SpanExporter> SpanExporter for Counting<E> {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let n = batch.len();
        let result = self.inner.export(batch).await;
        self.report(&result);
        self.counts.exported(Signal::Traces, n, &result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for Counting<E> {
    async fn export(&self, batch: LogBatch<'_>) -> OTelSdkResult {
        let n = batch.iter().count();
        let result = self.inner.export(batch).await;
        self.report(&result);
        self.counts.exported(Signal::Logs, n, &result);
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn event_enabled(&self, level: Severity, target: &str, name: Option<&str>) -> bool {
        self.inner.event_enabled(level, target, name)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Counting<E> {
    async fn export(&self, metrics: &ResourceMetrics) -> OTelSdkResult {
        let result = self.inner.export(metrics).await;
        self.report(&result);
        if result.is_err() {
            self.counts.export_failed();
        }
        result
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admission_stops_at_capacity_and_counts_drops() {
        let counts = Counts::default();
        assert!(counts.admit(Signal::Traces, 2));
        assert!(counts.admit(Signal::Traces, 2));
        assert!(!counts.admit(Signal::Traces, 2));
        assert_eq!(counts.dropped_spans.load(Ordering::Relaxed), 1);
        counts.exported(Signal::Traces, 2, &Ok(()));
        assert!(counts.admit(Signal::Traces, 2));
        counts.exported(
            Signal::Traces,
            1,
            &Err(opentelemetry_sdk::error::OTelSdkError::InternalFailure(
                "down".into(),
            )),
        );
        assert_eq!(counts.export_errors.load(Ordering::Relaxed), 1);
        assert_eq!(counts.dropped_spans.load(Ordering::Relaxed), 2);
        assert!(counts.admit(Signal::Logs, 1));
        assert!(!counts.admit(Signal::Logs, 1));
        assert_eq!(counts.dropped_logs.load(Ordering::Relaxed), 1);
    }
}
