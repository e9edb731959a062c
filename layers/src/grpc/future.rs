//! The response future and body of [`GrpcService`](super::GrpcService):
//! where the status of a call is found, and what is recorded then.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Response;
use http_body::{Body, Frame, SizeHint};

use super::Shared;
use super::status::{self, CANCELLED, Code, OK, UNKNOWN};
use crate::exemplar::{self, ExemplarFilter};
use crate::internal::middleware::short_type_name;

/// What is recorded when the status of a call is known.
pub(super) struct Telemetry {
    pub(super) shared: Arc<Shared>,
    pub(super) start: quanta::Instant,
    /// The interned full method name.
    pub(super) method: u32,
}

impl Telemetry {
    /// Records the end of the call on `span` and in the duration histogram;
    /// `error` is the `error.type` of a failure without a status.
    fn finish(self, span: &tracing::Span, code: Code, error: Option<&'static str>) {
        let seconds = self.start.elapsed().as_secs_f64();
        span.record("rpc.grpc.status_code", u64::from(code));
        if code != OK {
            span.record("otel.status_code", "ERROR");
            span.record(
                "error.type",
                error.unwrap_or(status::NAMES[usize::from(code)]),
            );
        }
        let exemplar = exemplar::of_span(span, ExemplarFilter::TraceBased);
        exemplar::with_exemplar(exemplar, || self.shared.record(self.method, code, seconds));
    }
}

pin_project_lite::pin_project! {
    /// The response future of [`GrpcService`](super::GrpcService).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        span: tracing::Span,
        telemetry: Option<Telemetry>,
    }

    impl<F> PinnedDrop for ResponseFuture<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(telemetry) = this.telemetry.take() {
                telemetry.finish(this.span, CANCELLED, None);
            }
        }
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, span: tracing::Span, telemetry: Telemetry) -> Self {
        Self {
            inner,
            span,
            telemetry: Some(telemetry),
        }
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
    ResBody: Body,
{
    type Output = Result<Response<ResponseBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.span.enter();
            std::task::ready!(this.inner.poll(cx))
        };
        let telemetry = this.telemetry.take();
        Poll::Ready(match result {
            Ok(response) => {
                let span = std::mem::replace(this.span, tracing::Span::none());
                // A trailers-only answer, or one that never reached a gRPC
                // server, has its status in the head; the others in the
                // trailers at the end of the body.
                let head = status::from_headers(response.headers())
                    .or_else(|| status::from_http_status(response.status()));
                let telemetry = match (head, telemetry) {
                    (Some(code), Some(telemetry)) => {
                        telemetry.finish(&span, code, None);
                        None
                    }
                    (_, telemetry) => telemetry,
                };
                Ok(response.map(|inner| ResponseBody {
                    inner,
                    span,
                    telemetry,
                }))
            }
            Err(error) => {
                if let Some(telemetry) = telemetry {
                    telemetry.finish(this.span, UNKNOWN, Some(short_type_name::<E>()));
                }
                Err(error)
            }
        })
    }
}

pin_project_lite::pin_project! {
    /// The response body of [`GrpcService`](super::GrpcService): the inner
    /// body, watched for the trailers that carry the call's status. The call's
    /// span stays open until it is dropped.
    pub struct ResponseBody<B: Body> {
        #[pin]
        inner: B,
        span: tracing::Span,
        telemetry: Option<Telemetry>,
    }

    impl<B: Body> PinnedDrop for ResponseBody<B> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Some(telemetry) = this.telemetry.take() {
                // Ended without a status, or dropped before the end.
                let code = if this.inner.is_end_stream() { UNKNOWN } else { CANCELLED };
                telemetry.finish(this.span, code, None);
            }
        }
    }
}

impl<B: Body + fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

impl<B: Body> Body for ResponseBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        // A streaming handler produces its messages here: its events belong
        // to the call's span.
        let _entered = this.span.enter();
        let frame = std::task::ready!(this.inner.poll_frame(cx));
        if this.telemetry.is_some() {
            let end = match &frame {
                Some(Ok(frame)) => frame
                    .trailers_ref()
                    .map(|trailers| (status::from_headers(trailers).unwrap_or(UNKNOWN), None)),
                Some(Err(_)) => Some((UNKNOWN, Some(short_type_name::<B::Error>()))),
                None => Some((UNKNOWN, None)),
            };
            if let Some((code, error)) = end
                && let Some(telemetry) = this.telemetry.take()
            {
                telemetry.finish(this.span, code, error);
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
