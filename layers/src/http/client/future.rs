//! The response future of [`HttpClientService`](super::HttpClientService):
//! what is recorded when the response head or an error arrives.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;

use super::{BoxError, Call, Outcome, error_type};

pin_project_lite::pin_project! {
    /// The response future of [`HttpClientService`](super::HttpClientService).
    pub struct ClientResponseFuture<F> {
        #[pin]
        inner: F,
        call: Option<Call>,
    }
}

impl<F> ClientResponseFuture<F> {
    pub(super) fn new(inner: F, call: Call) -> Self {
        Self {
            inner,
            call: Some(call),
        }
    }
}

impl<F: fmt::Debug> fmt::Debug for ClientResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponseFuture")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for ClientResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    E: Into<BoxError>,
{
    type Output = Result<Response<ResBody>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _entered = this.call.as_ref().map(|call| call.span().enter());
            std::task::ready!(this.inner.poll(cx)).map_err(Into::into)
        };
        if let Some(call) = this.call.take() {
            let outcome = match &result {
                Ok(response) => Outcome::Response(response.status().as_u16()),
                Err(error) => Outcome::Error(error_type(error.as_ref())),
            };
            call.finish(outcome);
        }
        Poll::Ready(result)
    }
}
