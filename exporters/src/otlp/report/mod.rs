//! Readable export failures: each failure is classified (`timeout`,
//! `unavailable`, `tls`, `protocol`, `rejected`, `too_large`, `other`),
//! counted in `autotel_export_errors_total{exporter="otlp", signal, reason}`,
//! and reported as one warning line per signal and reason per interval,
//! naming the endpoint (without credentials), the protocol and the cause,
//! with a hint when the cause looks like a protocol/port mismatch or TLS.
//!
//! The warning is emitted with OpenTelemetry's telemetry suppressed, so a
//! report about failing log exports is not itself exported as a log record.

mod cause;
mod classify;

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use autotel_layers::catalog;

use self::cause::{scrub_credentials, without_repeats};
use self::classify::classify;
use super::protocol::{Protocol, Signal};
use super::transport::SignalConfig;
use crate::env;
use crate::throttle::{Throttle, note_suppressed};

/// Reports the export failures of one signal.
pub(crate) struct Reporter {
    signal: Signal,
    protocol: Protocol,
    port: u16,
    https: bool,
    /// The URL as used (may hold credentials; never shown).
    url: String,
    /// The URL as shown.
    shown: String,
    /// The configured endpoint as shown.
    base: String,
    last_cause: Mutex<Option<String>>,
    last_report: Mutex<Option<(Instant, String)>>,
    throttle: Mutex<Throttle>,
}

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reporter")
            .field("signal", &self.signal)
            .field("endpoint", &self.shown)
            .field("protocol", &self.protocol)
            .finish_non_exhaustive()
    }
}

impl Reporter {
    pub(crate) fn new(config: &SignalConfig) -> Self {
        Self {
            signal: config.signal,
            protocol: config.protocol,
            port: config.endpoint.port(),
            https: config.endpoint.is_https(),
            url: config.url.clone(),
            shown: env::redact_url(&config.url),
            base: config.endpoint.redacted(),
            last_cause: Mutex::new(None),
            last_report: Mutex::new(None),
            throttle: Mutex::new(Throttle::default()),
        }
    }

    /// `traces`, `logs` or `metrics`.
    pub(crate) fn signal_name(&self) -> &'static str {
        self.signal.name()
    }

    /// `protocol endpoint` (without credentials), as the start-up line shows it.
    pub(crate) fn destination(&self) -> String {
        format!("{} {}", self.protocol, self.base)
    }

    /// Keeps the cause of a failed request, more precise than the SDK's.
    pub(crate) fn transport_failed(&self, cause: String) {
        let cause = scrub_credentials(&cause.replace(&self.url, &self.shown));
        if let Ok(mut last) = self.last_cause.lock() {
            *last = Some(cause);
        }
    }

    /// Forgets the cause of an earlier failed attempt.
    pub(crate) fn export_succeeded(&self) {
        if let Ok(mut last) = self.last_cause.lock() {
            *last = None;
        }
    }

    /// The last failure, as reported, and when.
    pub(crate) fn last_report(&self) -> Option<(Instant, String)> {
        self.last_report.lock().ok()?.clone()
    }

    /// Classifies, counts and (at most once per interval and reason)
    /// reports a failed export; returns the reason.
    pub(crate) fn export_failed(&self, error: &dyn std::fmt::Display) -> &'static str {
        let transport = self.last_cause.lock().ok().and_then(|mut c| c.take());
        let sdk = scrub_credentials(&error.to_string().replace(&self.url, &self.shown));
        let cause = match transport {
            Some(cause) => cause,
            None if sdk.trim().is_empty() => "no cause given".to_owned(),
            None => sdk,
        };
        let cause = without_repeats(&cause);
        let (reason, hint) = classify(self.protocol, self.port, self.https, &cause);
        metrics::counter!(
            catalog::AUTOTEL_EXPORT_ERRORS_TOTAL.name(),
            "exporter" => "otlp",
            "signal" => self.signal.name(),
            "reason" => reason
        )
        .increment(1);
        let mut message = format!(
            "OTLP export of {} to {} over {} failed ({reason}): {cause}",
            self.signal.name(),
            self.shown,
            self.protocol,
        );
        if let Some(hint) = hint {
            message.push_str(". Hint: ");
            message.push_str(hint);
        }
        if let Ok(mut last) = self.last_report.lock() {
            *last = Some((Instant::now(), message.clone()));
        }
        let due = self
            .throttle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .due(reason, 1);
        let Some(suppressed) = due else {
            return reason;
        };
        note_suppressed(&mut message, suppressed);
        let _quiet = opentelemetry::Context::enter_telemetry_suppressed_scope();
        tracing::warn!(
            target: "autotel::otlp",
            signal = self.signal.name(),
            endpoint = %self.shown,
            protocol = self.protocol.as_str(),
            reason,
            "{message}"
        );
        reason
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_reason_per_interval() {
        let config = crate::otlp::transport::tests_support::config("http://u:pw@c:4318");
        let reporter = Reporter::new(&config);
        assert_eq!(
            reporter.throttle.lock().unwrap().due("unavailable", 1),
            Some(0)
        );
        assert_eq!(
            reporter.throttle.lock().unwrap().due("unavailable", 1),
            None
        );
        assert_eq!(
            reporter.throttle.lock().unwrap().due("unavailable", 1),
            None
        );
        assert_eq!(reporter.throttle.lock().unwrap().due("tls", 1), Some(0));
        reporter.transport_failed(
            "error sending request for url (http://u:pw@c:4318/v1/traces)".into(),
        );
        assert_eq!(
            reporter.export_failed(&"HTTP export failed: network error"),
            "other"
        );
        let (_, report) = reporter.last_report().unwrap();
        assert!(!report.contains("pw"), "{report}");
        assert!(report.starts_with("OTLP export of traces to http://[REDACTED]@c:4318/v1/traces over http/protobuf failed"), "{report}");
    }
}
