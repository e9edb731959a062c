//! The guard that keeps telemetry running, and the order in which dropping
//! it flushes and stops each part.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

#[cfg(feature = "console")]
use autotel_exporters::console::ConsoleGuard;
#[cfg(feature = "otlp")]
use autotel_exporters::otlp::OtlpGuard;
#[cfg(feature = "prometheus")]
use autotel_exporters::prometheus::{PrometheusGuard, PrometheusHandle};
#[cfg(feature = "push")]
use autotel_exporters::push::PushGuard;
#[cfg(feature = "system")]
use autotel_layers::SamplerGuard;
#[cfg(feature = "testing")]
use autotel_layers::testing::{Capture, Run};
use autotel_layers::writer::{FlushGuard, NonBlocking};

use crate::config::Settings;
use crate::control::TelemetryControl;
use crate::output::Memory;

/// The longest [`TelemetryGuard::flush`] waits for the log writer.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// What a panic, or the guard, flushes.
#[derive(Debug)]
pub(crate) struct Flush {
    pub(crate) writer: Option<NonBlocking>,
    #[cfg(feature = "otlp")]
    pub(crate) otlp: Option<OtlpGuard>,
    #[cfg(feature = "push")]
    pub(crate) push: Option<PushGuard>,
}

impl Flush {
    /// Writes out log lines (waiting at most `timeout`), exports what OTLP
    /// holds (within its shutdown timeout) and sends what the push exporters
    /// aggregated (waiting at most `timeout`).
    pub(crate) fn flush(&self, timeout: Duration) {
        if let Some(writer) = &self.writer {
            writer.flush_within(timeout);
        }
        #[cfg(feature = "otlp")]
        if let Some(otlp) = &self.otlp {
            let _ = otlp.force_flush();
        }
        #[cfg(feature = "push")]
        if let Some(push) = &self.push {
            push.flush(timeout);
        }
        // No flush of `stdout()` here: the log writer's thread may hold its
        // lock, blocked on a pipe nobody reads, and the wait would have no
        // bound. The writer flushes what it writes; the standard library
        // flushes the rest at exit without waiting for that lock.
    }
}

impl Flush {
    /// Exports what OTLP and the push exporters hold and stops them, within
    /// their shutdown timeouts; the log writer is left to its own guard.
    fn stop_exporters(self) {
        #[cfg(feature = "otlp")]
        if let Some(otlp) = self.otlp {
            let _ = otlp.shutdown();
        }
        #[cfg(feature = "push")]
        drop(self.push);
    }
}

/// Keeps telemetry running; dropping it flushes and stops everything, within
/// a bounded time.
///
/// On drop, in this order: the OTLP pipeline exports what is queued and a
/// last metrics push (within its shutdown timeout, 5 seconds by default), the
/// StatsD and DogStatsD exporters send what they aggregated (within 5
/// seconds), the
/// system sampler stops, the console prints its last table, the Prometheus
/// endpoint closes, and the log writer writes out every buffered line
/// (within 5 seconds).
///
/// The subscriber and recorder stay installed (a process has them once):
/// what is logged after the drop is dropped and counted in
/// `autotel_dropped_total`.
#[must_use = "dropping the guard stops telemetry: keep it alive until the end of main"]
pub struct TelemetryGuard {
    pub(crate) settings: Settings,
    pub(crate) control: TelemetryControl,
    pub(crate) flush: Option<Arc<Flush>>,
    pub(crate) writer: Option<FlushGuard>,
    #[cfg(feature = "prometheus")]
    pub(crate) prometheus: Option<PrometheusGuard>,
    #[cfg(feature = "prometheus")]
    pub(crate) prometheus_handle: Option<PrometheusHandle>,
    #[cfg(feature = "system")]
    pub(crate) sampler: Option<SamplerGuard>,
    #[cfg(feature = "console")]
    pub(crate) console: Option<ConsoleGuard>,
    #[cfg(feature = "testing")]
    pub(crate) capture: Option<Capture>,
    /// The testing preset's log lines.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) memory: Option<Memory>,
}

impl TelemetryGuard {
    /// A handle that changes filters, sampling and metrics while the program runs.
    pub fn control(&self) -> TelemetryControl {
        self.control.clone()
    }

    /// The environment telemetry started in.
    pub fn environment(&self) -> crate::Environment {
        self.settings.environment
    }

    /// The service name in use (from code, `SERVICE_NAME`,
    /// `OTEL_SERVICE_NAME`, or the preset's argument).
    pub fn service_name(&self) -> &str {
        &self.settings.service_name
    }

    /// The address `/metrics` is served on, with the port the system chose
    /// when port 0 was asked for; `None` when nothing listens.
    pub fn prometheus_address(&self) -> Option<SocketAddr> {
        #[cfg(feature = "prometheus")]
        return self
            .prometheus
            .as_ref()
            .and_then(PrometheusGuard::local_addr);
        #[cfg(not(feature = "prometheus"))]
        None
    }

    /// The Prometheus text of every metric recorded so far, as `/metrics`
    /// serves it; `None` when the Prometheus exporter is off.
    pub fn metrics_text(&self) -> Option<String> {
        #[cfg(feature = "prometheus")]
        return self
            .prometheus_handle
            .as_ref()
            .map(PrometheusHandle::render);
        #[cfg(not(feature = "prometheus"))]
        None
    }

    /// With the testing preset: every finished span, event and metric so far.
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub fn captured(&self) -> Option<Run> {
        self.capture.as_ref().map(Capture::snapshot)
    }

    /// With the testing preset: the log lines written so far, one per entry.
    #[cfg(feature = "testing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
    pub fn captured_logs(&self) -> Vec<String> {
        let Some(memory) = &self.memory else {
            return Vec::new();
        };
        memory.lines()
    }

    /// Writes out the log lines taken so far and exports what OTLP holds,
    /// waiting at most a few seconds; telemetry keeps running.
    pub fn flush(&self) {
        if let Some(flush) = &self.flush {
            flush.flush(FLUSH_TIMEOUT);
        }
    }

    /// Flushes and stops everything now; the same as dropping the guard.
    pub fn shutdown(self) {}
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(flush) = self.flush.take() {
            // The panic hook holds only a weak reference: this is the last
            // strong one, unless a panic is flushing right now.
            match Arc::try_unwrap(flush) {
                Ok(flush) => flush.stop_exporters(),
                Err(shared) => shared.flush(FLUSH_TIMEOUT),
            }
        }
        #[cfg(feature = "system")]
        drop(self.sampler.take());
        #[cfg(feature = "console")]
        drop(self.console.take());
        #[cfg(feature = "prometheus")]
        drop(self.prometheus.take());
        drop(self.writer.take());
    }
}

impl fmt::Debug for TelemetryGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryGuard")
            .field("environment", &self.settings.environment)
            .field("service_name", &self.settings.service_name)
            .field("prometheus_address", &self.prometheus_address())
            .finish_non_exhaustive()
    }
}
