//! The response future of [`HttpService`](super::HttpService): what is
//! recorded when the response head arrives.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Response;
use metrics::{Histogram, Key, Label, Recorder, SharedString};

use super::{Active, METADATA, METHODS, NO_ROUTE, Shared};
use crate::catalog::{
    HTTP_SERVER_REQUEST_DURATION_SECONDS, HTTP_SERVER_RESPONSE_BODY_SIZE_BYTES, label,
};
use crate::exemplar;
use crate::internal::interner::OVERFLOW;
use crate::internal::middleware::short_type_name;
use crate::internal::series_cap::{Series, count_overflow, overflow_labels};

/// What the response future records when the response head arrives.
pub(super) struct Telemetry {
    pub(super) shared: Arc<Shared>,
    pub(super) start: quanta::Instant,
    pub(super) method: u8,
    pub(super) route: u32,
    pub(super) _active: Active,
}

impl Telemetry {
    fn finish(
        self,
        span: &tracing::Span,
        status: Option<u16>,
        size: Option<u64>,
        error: Option<&'static str>,
    ) {
        let seconds = self.start.elapsed().as_secs_f64();
        if let Some(status) = status {
            span.record("http.response.status_code", status);
        }
        if let Some(error) = error {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", error);
        }
        let shared = &self.shared;
        let status = status.unwrap_or(0);
        let overflowed = self.route == OVERFLOW;
        let exemplar = exemplar::of_span(span, shared.exemplars);
        metrics::with_recorder(|recorder| {
            shared.durations.with(
                recorder,
                (self.method, self.route, status),
                overflowed,
                |recorder| self.register(recorder, status),
                |recorder| {
                    let labels = overflow_labels;
                    [
                        HTTP_SERVER_REQUEST_DURATION_SECONDS,
                        HTTP_SERVER_RESPONSE_BODY_SIZE_BYTES,
                    ]
                    .map(|def| {
                        recorder
                            .register_histogram(&Key::from_parts(def.name(), labels()), &METADATA)
                    })
                },
                |[duration, body_size], series| {
                    exemplar::with_exemplar(exemplar, || duration.record(seconds));
                    if let Some(size) = size {
                        body_size.record(size as f64);
                    }
                    if series == Series::Overflow {
                        count_overflow(
                            recorder,
                            &SharedString::const_str(HTTP_SERVER_REQUEST_DURATION_SECONDS.name()),
                        );
                    }
                },
            );
        });
    }

    fn register(&self, recorder: &dyn Recorder, status: u16) -> [Histogram; 2] {
        let route = match self.route {
            NO_ROUTE | OVERFLOW => SharedString::const_str(""),
            id => self
                .shared
                .routes
                .value(id)
                .map_or(SharedString::const_str(""), SharedString::from_shared),
        };
        let status = if status == 0 {
            SharedString::const_str("")
        } else {
            SharedString::from_owned(status.to_string())
        };
        let labels = vec![
            Label::from_static_parts(label::HTTP_REQUEST_METHOD, METHODS[self.method as usize]),
            Label::new(label::HTTP_ROUTE, route),
            Label::new(label::HTTP_RESPONSE_STATUS_CODE, status),
        ];
        [
            HTTP_SERVER_REQUEST_DURATION_SECONDS,
            HTTP_SERVER_RESPONSE_BODY_SIZE_BYTES,
        ]
        .map(|def| {
            recorder.register_histogram(&Key::from_parts(def.name(), labels.clone()), &METADATA)
        })
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`HttpService`].
    pub struct ResponseFuture<F> {
        #[pin]
        pub(super) inner: F,
        pub(super) span: tracing::Span,
        pub(super) telemetry: Option<Telemetry>,
    }
}

impl<F: fmt::Debug> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("inner", &self.inner)
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: http_body::Body,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let result = std::task::ready!(this.inner.poll(cx));
        if let Some(telemetry) = this.telemetry.take() {
            match &result {
                Ok(response) => {
                    let status = response.status();
                    let error = status.is_server_error().then(|| status_error_type(status));
                    let size = http_body::Body::size_hint(response.body())
                        .exact()
                        .or_else(|| content_length(response.headers()));
                    telemetry.finish(this.span, Some(status.as_u16()), size, error);
                }
                Err(_) => telemetry.finish(this.span, None, None, Some(short_type_name::<E>())),
            }
        }
        Poll::Ready(result)
    }
}

/// The `Content-Length` of a response, when it has a valid one.
fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// The `error.type` of a 5xx answer: its status code, as the OpenTelemetry
/// conventions say.
fn status_error_type(status: http::StatusCode) -> &'static str {
    const CODES: [&str; 12] = [
        "500", "501", "502", "503", "504", "505", "506", "507", "508", "509", "510", "511",
    ];
    CODES
        .get(usize::from(status.as_u16() - 500))
        .copied()
        .unwrap_or("_OTHER")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_types_of_5xx_are_their_status() {
        assert_eq!(
            status_error_type(http::StatusCode::SERVICE_UNAVAILABLE),
            "503"
        );
        assert_eq!(
            status_error_type(http::StatusCode::from_u16(599).unwrap()),
            "_OTHER"
        );
    }
}
