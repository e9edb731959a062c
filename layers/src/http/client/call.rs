//! One client request from start to finish: its span, the headers it
//! carries, the in-flight gauge and the duration histogram. The tower layer
//! and the reqwest middleware both go through it.

use std::error::Error as StdError;
use std::sync::Arc;

use http::{HeaderMap, Method};
use metrics::{Gauge, Histogram, Key, Label, Recorder, SharedString};
use tracing::field::Empty;

use super::Shared;
use super::url::redacted;
use crate::catalog::{HTTP_CLIENT_ACTIVE_REQUESTS, HTTP_CLIENT_REQUEST_DURATION_SECONDS, label};
use crate::exemplar::ExemplarFilter;
use crate::http::{METADATA, METHODS, method_index};
use crate::internal::interner::OVERFLOW;
use crate::internal::label_cap::cut;
use crate::internal::series_cap::{Series, count_overflow, overflow_labels};
use crate::propagation;

/// Why a request failed, as the `error_type` label and `error.type` field
/// say it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Failure {
    /// It did not fail.
    None,
    /// The answer's status code, 400 or more.
    Status,
    /// No answer: a timeout, a refused connection, ...
    Kind(&'static str),
}

/// How a request ended.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Outcome {
    /// A response head arrived with this status.
    Response(u16),
    /// No response: the error's `error.type`.
    Error(&'static str),
}

/// A client request in progress.
pub(crate) struct Call {
    shared: Arc<Shared>,
    span: tracing::Span,
    start: quanta::Instant,
    method: u8,
    address: u32,
    active: Option<Gauge>,
}

impl Call {
    /// Starts the span and the clock, and counts the request in flight.
    /// `url` gives the full URL, asked only when the span is enabled.
    pub(crate) fn start(
        shared: &Arc<Shared>,
        method: &Method,
        scheme: Option<&str>,
        host: &str,
        port: Option<u16>,
        url: impl FnOnce() -> String,
    ) -> Self {
        let start = quanta::Instant::now();
        let method = method_index(method);
        let method_name = METHODS[method as usize];
        let port = port.or(match scheme {
            Some("https") => Some(443),
            Some("http") => Some(80),
            _ => None,
        });
        let span = tracing::info_span!(
            target: "autotel::http",
            "HTTP client request",
            otel.name = method_name,
            otel.kind = "client",
            http.request.method = method_name,
            server.address = host,
            server.port = port,
            url.full = Empty,
            http.response.status_code = Empty,
            otel.status_code = Empty,
            error.type = Empty,
        );
        if !span.is_disabled() {
            span.record(
                "url.full",
                redacted(&url(), &shared.redaction).as_ref() as &str,
            );
        }
        let address = shared.addresses.intern(cut(host));
        let active = start_active(shared, method, address);
        Self {
            shared: Arc::clone(shared),
            span,
            start,
            method,
            address,
            active: Some(active),
        }
    }

    /// The request's span.
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Writes the span's `traceparent`, `tracestate` and `baggage` into the
    /// request headers; those of the current span when the client span is
    /// disabled, so that the trace goes on whatever the filter keeps.
    pub(crate) fn inject(&self, headers: &mut HeaderMap) {
        if self.span.is_disabled() {
            propagation::inject(headers);
        } else {
            propagation::inject_span(&self.span, headers);
        }
    }

    /// Records how the request ended, on the span and in the metrics.
    pub(crate) fn finish(mut self, outcome: Outcome) {
        let seconds = self.start.elapsed().as_secs_f64();
        let (status, failure, error) = match outcome {
            Outcome::Response(status) if status >= 400 => {
                (status, Failure::Status, Some(status_text(status)))
            }
            Outcome::Response(status) => (status, Failure::None, None),
            Outcome::Error(kind) => (0, Failure::Kind(kind), Some(SharedString::const_str(kind))),
        };
        if status != 0 {
            self.span.record("http.response.status_code", status);
        }
        if let Some(error) = &error {
            self.span.record("otel.status_code", "ERROR");
            self.span.record("error.type", error.as_ref() as &str);
        }
        let shared = &self.shared;
        let overflowed = self.address == OVERFLOW;
        let (method, address) = (self.method, self.address);
        let exemplar = crate::exemplar::of_span(&self.span, ExemplarFilter::TraceBased);
        metrics::with_recorder(|recorder| {
            shared.durations.with(
                recorder,
                (method, address, status, failure),
                overflowed,
                |recorder| {
                    let status = match status {
                        0 => SharedString::const_str(""),
                        status => status_text(status),
                    };
                    let labels = vec![
                        Label::from_static_parts(
                            label::HTTP_REQUEST_METHOD,
                            METHODS[method as usize],
                        ),
                        Label::new(label::SERVER_ADDRESS, address_label(shared, address)),
                        Label::new(label::HTTP_RESPONSE_STATUS_CODE, status),
                        Label::new(
                            label::ERROR_TYPE,
                            error.unwrap_or(SharedString::const_str("")),
                        ),
                    ];
                    register_duration(recorder, labels)
                },
                |recorder| register_duration(recorder, overflow_labels()),
                |duration, series| {
                    crate::exemplar::with_exemplar(exemplar, || duration.record(seconds));
                    if series == Series::Overflow {
                        count_overflow(
                            recorder,
                            &SharedString::const_str(HTTP_CLIENT_REQUEST_DURATION_SECONDS.name()),
                        );
                    }
                },
            );
        });
        if let Some(active) = self.active.take() {
            active.decrement(1.0);
        }
    }
}

impl Drop for Call {
    /// A request dropped before its answer leaves the in-flight count.
    fn drop(&mut self) {
        if let Some(active) = self.active.take() {
            active.decrement(1.0);
        }
    }
}

fn register_duration(recorder: &dyn Recorder, labels: Vec<Label>) -> Histogram {
    let key = Key::from_parts(HTTP_CLIENT_REQUEST_DURATION_SECONDS.name(), labels);
    recorder.register_histogram(&key, &METADATA)
}

fn address_label(shared: &Shared, address: u32) -> SharedString {
    shared
        .addresses
        .value(address)
        .map_or(SharedString::const_str(""), SharedString::from_shared)
}

/// Counts one request in `http_client_active_requests`.
fn start_active(shared: &Shared, method: u8, address: u32) -> Gauge {
    let overflowed = address == OVERFLOW;
    let gauge = metrics::with_recorder(|recorder| {
        shared.active.with(
            recorder,
            (method, address),
            overflowed,
            |recorder| {
                let labels = vec![
                    Label::from_static_parts(label::HTTP_REQUEST_METHOD, METHODS[method as usize]),
                    Label::new(label::SERVER_ADDRESS, address_label(shared, address)),
                ];
                let key = Key::from_parts(HTTP_CLIENT_ACTIVE_REQUESTS.name(), labels);
                recorder.register_gauge(&key, &METADATA)
            },
            |recorder| {
                let key = Key::from_parts(HTTP_CLIENT_ACTIVE_REQUESTS.name(), overflow_labels());
                recorder.register_gauge(&key, &METADATA)
            },
            |gauge, _| gauge.clone(),
        )
    });
    gauge.increment(1.0);
    gauge
}

/// A status code as label text, without allocating for the common ones.
fn status_text(status: u16) -> SharedString {
    const COMMON: [(u16, &str); 12] = [
        (400, "400"),
        (401, "401"),
        (403, "403"),
        (404, "404"),
        (408, "408"),
        (409, "409"),
        (429, "429"),
        (500, "500"),
        (502, "502"),
        (503, "503"),
        (504, "504"),
        (200, "200"),
    ];
    match COMMON.iter().find(|(code, _)| *code == status) {
        Some((_, text)) => SharedString::const_str(text),
        None => SharedString::from_owned(status.to_string()),
    }
}

/// The `error.type` of a request that got no answer, from its error and the
/// errors that caused it: `timeout`, `connection_refused`,
/// `connection_reset`, `name_resolution`, or `_OTHER`.
pub(crate) fn error_type(error: &(dyn StdError + 'static)) -> &'static str {
    let mut next = Some(error);
    while let Some(error) = next {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            match io.kind() {
                TimedOut => return "timeout",
                ConnectionRefused => return "connection_refused",
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    return "connection_reset";
                }
                _ => {}
            }
        }
        // Errors that name what happened only in their text: tower's and
        // reqwest's timeouts, hyper-util's resolver.
        let text = error.to_string().to_ascii_lowercase();
        if text.contains("timed out") || text.contains("timeout") {
            return "timeout";
        }
        if text.contains("dns error") || text.contains("failed to lookup address") {
            return "name_resolution";
        }
        next = error.source();
    }
    "_OTHER"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(std::io::Error);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error (Connect)")
        }
    }

    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn errors_are_classified_through_their_causes() {
        let refused = Wrapper(std::io::ErrorKind::ConnectionRefused.into());
        assert_eq!(error_type(&refused), "connection_refused");
        let elapsed: Box<dyn StdError + Send + Sync> = "request timed out".into();
        assert_eq!(error_type(elapsed.as_ref()), "timeout");
        let dns = std::io::Error::other("dns error: failed to lookup address information");
        assert_eq!(error_type(&dns), "name_resolution");
        assert_eq!(error_type(&std::fmt::Error), "_OTHER");
    }

    #[test]
    fn status_texts_match_the_code() {
        for code in [200, 404, 418, 503, 599] {
            assert_eq!(status_text(code).as_ref() as &str, code.to_string());
        }
    }
}
