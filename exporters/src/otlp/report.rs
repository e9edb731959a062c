//! Readable export failures: each failure is classified (`timeout`,
//! `unavailable`, `tls`, `protocol`, `rejected`, `too_large`, `other`),
//! counted in `autotel_export_errors_total{exporter="otlp", signal, reason}`,
//! and reported as one warning line per signal and reason per interval,
//! naming the endpoint (without credentials), the protocol and the cause,
//! with a hint when the cause looks like a protocol/port mismatch or TLS.
//!
//! The warning is emitted with OpenTelemetry's telemetry suppressed, so a
//! report about failing log exports is not itself exported as a log record.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use autotel_layers::catalog;

use super::protocol::{Protocol, Signal};
use super::transport::SignalConfig;
use crate::env;

/// How often one kind of failure of one signal is reported at most.
pub(crate) const REPORT_INTERVAL: Duration = Duration::from_secs(60);

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
    lines: Mutex<Vec<Line>>,
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

#[derive(Debug)]
struct Line {
    reason: &'static str,
    last: Instant,
    suppressed: u64,
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
            lines: Mutex::new(Vec::new()),
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
        let Some(suppressed) = self.due(reason) else {
            return reason;
        };
        if suppressed > 0 {
            message.push_str(&format!(
                " ({suppressed} more failures of this kind since the last report)"
            ));
        }
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

    /// `Some(failures not reported)` when `reason` is due for a report.
    fn due(&self, reason: &'static str) -> Option<u64> {
        let mut lines = self.lines.lock().ok()?;
        let now = Instant::now();
        match lines.iter_mut().find(|line| line.reason == reason) {
            None => {
                lines.push(Line {
                    reason,
                    last: now,
                    suppressed: 0,
                });
                Some(0)
            }
            Some(line) if now.duration_since(line.last) >= REPORT_INTERVAL => {
                line.last = now;
                Some(std::mem::take(&mut line.suppressed))
            }
            Some(line) => {
                line.suppressed += 1;
                None
            }
        }
    }
}

/// `text` with the user information of every URL in it (`scheme://user:secret@host`)
/// replaced by `[REDACTED]`, whatever form a library printed the URL in.
fn scrub_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (before, after) = rest.split_at(at + 3);
        out.push_str(before);
        let end = after
            .find(|c: char| c == '/' || c == ')' || c == '(' || c.is_whitespace() || c == '"')
            .unwrap_or(after.len());
        let authority = &after[..end];
        match authority.rfind('@') {
            Some(user_end) => {
                out.push_str("[REDACTED]");
                out.push_str(&authority[user_end..]);
            }
            None => out.push_str(authority),
        }
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// `cause` without a `: `-separated part that repeats the one before it
/// (error chains often say the same thing twice).
fn without_repeats(cause: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in cause.split(": ") {
        parts.push(part);
        for run in [1, 2] {
            let n = parts.len();
            if n >= 2 * run && parts[n - 2 * run..n - run] == parts[n - run..] {
                parts.truncate(n - run);
                break;
            }
        }
    }
    parts.join(": ")
}

/// The HTTP status in a failure cause, as this crate's client or the SDK
/// writes it ("answered HTTP 401", "status code: 401"); never a number that
/// happens to stand in a URL.
fn http_status(text: &str) -> Option<u16> {
    ["answered http ", "status code: "]
        .iter()
        .find_map(|marker| {
            let start = text.find(marker)? + marker.len();
            text.get(start..start + 3)?.parse().ok()
        })
}

const GRPC_PORT_HINT: &str = "port 4317 is where collectors serve OTLP/gRPC, and this exporter \
     speaks http/protobuf: set OTEL_EXPORTER_OTLP_PROTOCOL=grpc (or Otlp::with_protocol), or \
     send to the collector's HTTP port (4318)";
const HTTP_PORT_HINT: &str = "this exporter speaks gRPC, which an OTLP/HTTP port (4318) does \
     not serve: set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (or Otlp::with_protocol), or send \
     to the collector's gRPC port (4317)";
const HUNG_UP_HINT: &str = "the collector hung up as soon as gRPC (HTTP/2) spoke, as a \
     port that serves only OTLP/HTTP does: set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (or \
     Otlp::with_protocol), or send to the collector's gRPC port (4317)";
const CLIENT_CERTIFICATE_HINT: &str = "the collector ended the TLS connection: it may require a \
     client certificate (OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY, \
     or Otlp::with_client_certificate), or not serve TLS on this port";
const NOT_TLS_HINT: &str =
    "the collector does not seem to speak TLS on this port: use http:// for a plain endpoint";
const CA_HINT: &str = "the collector's certificate was not accepted: set \
     OTEL_EXPORTER_OTLP_CERTIFICATE (or Otlp::with_certificate) to the PEM file of the CA that \
     signed it (the system's roots are used otherwise), and check that the host name matches the \
     certificate";
const UNAVAILABLE_HINT: &str = "check that the collector runs and listens at this address";
const CREDENTIALS_HINT: &str = "the collector refused the credentials: check the authentication \
     header (OTEL_EXPORTER_OTLP_HEADERS or Otlp::with_header)";
const PATH_HINT: &str = "the collector has no OTLP receiver at this path: give its base URL, or \
     a per-signal URL ending in /v1/<signal>";

/// The reason label of a failure, and a hint when one helps.
pub(crate) fn classify(
    protocol: Protocol,
    port: u16,
    https: bool,
    cause: &str,
) -> (&'static str, Option<&'static str>) {
    let text = cause.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));

    if has(&[
        "timed out",
        "timeout",
        "deadline exceeded",
        "deadlineexceeded",
    ]) {
        return ("timeout", None);
    }
    if has(&[
        "connection refused",
        "tcp connect error",
        "dns error",
        "failed to lookup address",
        "name or service not known",
        "no route to host",
        "network is unreachable",
    ]) {
        return ("unavailable", Some(UNAVAILABLE_HINT));
    }
    if https {
        if has(&[
            "invalidcontenttype",
            "corrupt message",
            "wrong version number",
        ]) {
            return ("tls", Some(NOT_TLS_HINT));
        }
        if has(&[
            "close_notify",
            "broken pipe",
            "unexpected eof",
            "connection reset",
            "certificaterequired",
            "certificate required",
        ]) {
            return ("tls", Some(CLIENT_CERTIFICATE_HINT));
        }
        if has(&["certificate", "unknownissuer", "handshake", "tls", "alert"]) {
            return ("tls", Some(CA_HINT));
        }
    }
    let http_answer_from_grpc = has(&[
        "invalid http version",
        "connection closed before message completed",
        "incomplete message",
        "received unexpected message from connection",
        "http2 preface",
    ]);
    if protocol == Protocol::HttpProtobuf && (port == 4317 || http_answer_from_grpc) {
        return ("protocol", Some(GRPC_PORT_HINT));
    }
    let grpc_answer_from_http = has(&[
        "frame with invalid size",
        "h2 protocol error",
        "http2 error",
        "invalid content-type",
        "grpc code: unimplemented",
    ]);
    if protocol == Protocol::Grpc && (port == 4318 || grpc_answer_from_http) {
        return ("protocol", Some(HTTP_PORT_HINT));
    }
    // An HTTP/1 server often just hangs up on HTTP/2's opening bytes.
    let hung_up = has(&["broken pipe", "connection reset", "unexpected eof"]);
    if protocol == Protocol::Grpc && !https && hung_up {
        return ("protocol", Some(HUNG_UP_HINT));
    }
    if has(&["grpc code: unauthenticated", "grpc code: permissiondenied"]) {
        return ("rejected", Some(CREDENTIALS_HINT));
    }
    if has(&[
        "grpc code: resourceexhausted",
        "too large",
        "exceeding the configured limit",
    ]) {
        return ("too_large", None);
    }
    match http_status(&text) {
        Some(401 | 403) => return ("rejected", Some(CREDENTIALS_HINT)),
        Some(404) => return ("rejected", Some(PATH_HINT)),
        Some(413) => return ("too_large", None),
        Some(_) => return ("rejected", None),
        None => {}
    }
    if has(&[
        "grpc code: unavailable",
        "network error",
        "connection reset",
        "connect error",
    ]) {
        return ("unavailable", Some(UNAVAILABLE_HINT));
    }
    if has(&["grpc code: "]) {
        return ("rejected", None);
    }
    ("other", None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_map_to_reasons_and_hints() {
        let http = Protocol::HttpProtobuf;
        let grpc = Protocol::Grpc;
        let (reason, hint) = classify(
            http,
            4317,
            false,
            "client error (SendRequest): connection closed before message completed",
        );
        assert_eq!(reason, "protocol");
        assert!(hint.unwrap().contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"));
        let (reason, hint) = classify(
            grpc,
            4318,
            false,
            "export failed with gRPC code: Unknown: h2 protocol error: http2 error",
        );
        assert_eq!(reason, "protocol");
        assert!(
            hint.unwrap()
                .contains("OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf")
        );
        let (reason, hint) = classify(
            grpc,
            443,
            true,
            "transport error: invalid peer certificate: UnknownIssuer",
        );
        assert_eq!(reason, "tls");
        assert!(hint.unwrap().contains("OTEL_EXPORTER_OTLP_CERTIFICATE"));
        let (reason, _) = classify(
            http,
            4318,
            false,
            "tcp connect error: Connection refused (os error 111)",
        );
        assert_eq!(reason, "unavailable");
        let (reason, _) = classify(http, 4318, false, "operation timed out");
        assert_eq!(reason, "timeout");
        let (reason, hint) = classify(
            http,
            443,
            true,
            "the collector answered HTTP 401 Unauthorized",
        );
        assert_eq!(reason, "rejected");
        assert!(hint.unwrap().contains("OTEL_EXPORTER_OTLP_HEADERS"));
        assert_eq!(classify(http, 4318, false, "something odd").0, "other");
        // Numbers in a URL are not statuses; refused connections are not mismatches.
        let (reason, _) = classify(
            http,
            4317,
            false,
            "error sending request for url (http://127.0.0.1:4317/v1/traces): tcp connect error: Connection refused",
        );
        assert_eq!(reason, "unavailable");
        let (reason, _) = classify(
            http,
            14041,
            false,
            "error for url (http://c:14041/v1/traces): something odd",
        );
        assert_eq!(reason, "other");
        let (reason, hint) = classify(
            http,
            4318,
            false,
            "HTTP export failed with status code: 404",
        );
        assert_eq!(reason, "rejected");
        assert!(hint.unwrap().contains("/v1/<signal>"));
        assert_eq!(
            classify(
                http,
                4318,
                false,
                "the collector answered HTTP 413 Payload Too Large"
            )
            .0,
            "too_large"
        );
        assert_eq!(
            classify(
                grpc,
                4317,
                false,
                "export failed with gRPC code: Unauthenticated"
            )
            .0,
            "rejected"
        );
        assert_eq!(
            classify(http, 4318, false, "certificate mentioned over plain http").0,
            "other"
        );
        let (reason, hint) = classify(
            http,
            443,
            true,
            "connection error: peer closed connection without sending TLS close_notify",
        );
        assert_eq!(reason, "tls");
        assert!(hint.unwrap().contains("client certificate"));
        assert_eq!(
            without_repeats(
                "transport error: invalid peer certificate: UnknownIssuer: invalid peer certificate: UnknownIssuer"
            ),
            "transport error: invalid peer certificate: UnknownIssuer"
        );
        assert_eq!(without_repeats("a: a: b"), "a: b");
        assert_eq!(
            scrub_credentials(
                "error for url (http://us%40er:p%3Ass@host:4318/v1/logs): refused; see https://docs.rs/x"
            ),
            "error for url (http://[REDACTED]@host:4318/v1/logs): refused; see https://docs.rs/x"
        );
    }

    #[test]
    fn one_line_per_reason_per_interval() {
        let config = super::super::transport::tests_support::config("http://u:pw@c:4318");
        let reporter = Reporter::new(&config);
        assert_eq!(reporter.due("unavailable"), Some(0));
        assert_eq!(reporter.due("unavailable"), None);
        assert_eq!(reporter.due("unavailable"), None);
        assert_eq!(reporter.due("tls"), Some(0));
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
