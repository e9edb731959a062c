//! What a push exporter is, and how its failures are counted and reported.

use autotel_layers::catalog;

use crate::throttle::{Throttle, note_suppressed};

use super::snapshot::Snapshot;

/// A destination of the push recorder's snapshots: StatsD, DogStatsD, the
/// Datadog API, CloudWatch, or one of your own.
///
/// Each exporter runs on a thread of its own, so a slow one delays no other.
/// [`export`](Self::export) gets every interval's snapshot (a snapshot is
/// dropped, and counted in `autotel_dropped_total{signal="metrics",
/// reason="queue_full"}`, when the exporter is still busy with the two
/// before it).
pub trait PushExporter: Send + 'static {
    /// The exporter's name, as the `exporter` label of
    /// `autotel_export_errors_total` shows it (`statsd`, `datadog`, ...).
    fn name(&self) -> &'static str;

    /// Sends one interval's metrics.
    ///
    /// # Errors
    ///
    /// An [`ExportError`] saying how many sends failed and why; it is
    /// counted and reported, and the next interval is tried as usual.
    fn export(&mut self, snapshot: &Snapshot) -> Result<(), ExportError>;

    /// Sends what the exporter still buffers; called once, after the last
    /// snapshot, when the guard is dropped.
    ///
    /// # Errors
    ///
    /// As for [`export`](Self::export).
    fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

/// Sends of one export that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExportError {
    reason: &'static str,
    failures: u64,
    message: String,
}

impl ExportError {
    /// `failures` sends failed for `reason` (`unavailable`, `timeout`,
    /// `rejected`, `too_large`, `io`, ...); `message` says what failed,
    /// where and why, without secrets.
    pub fn new(reason: &'static str, failures: u64, message: impl Into<String>) -> Self {
        Self {
            reason,
            failures: failures.max(1),
            message: message.into(),
        }
    }

    /// The `reason` label of the failures.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// How many sends failed.
    pub fn failures(&self) -> u64 {
        self.failures
    }

    /// What failed, where and why.
    pub fn message(&self) -> &str {
        &self.message
    }
}

/// Counts every failure and writes one warning per reason per minute.
#[derive(Debug)]
pub(super) struct Reporter {
    exporter: &'static str,
    throttle: Throttle,
}

impl Reporter {
    pub(super) fn new(exporter: &'static str) -> Self {
        Self {
            exporter,
            throttle: Throttle::default(),
        }
    }

    pub(super) fn failed(&mut self, error: &ExportError) {
        metrics::counter!(
            catalog::AUTOTEL_EXPORT_ERRORS_TOTAL.name(),
            "exporter" => self.exporter,
            "signal" => "metrics",
            "reason" => error.reason()
        )
        .increment(error.failures());
        let Some(suppressed) = self.throttle.due(error.reason(), error.failures()) else {
            return;
        };
        let mut message = error.message().to_owned();
        note_suppressed(&mut message, suppressed);
        tracing::warn!(
            target: "autotel::push",
            exporter = self.exporter,
            reason = error.reason(),
            "{message}"
        );
    }
}
