//! The client telemetry of [`HttpClientLayer`](super::HttpClientLayer) as a
//! `reqwest-middleware` middleware (feature `reqwest`).

use std::fmt;
use std::sync::Arc;

use reqwest_middleware::{Middleware, Next};
use tracing::Instrument;

use super::client::{self, Call, Outcome, Shared, error_type};
use crate::Error;
use crate::redact::Redaction;

/// A `reqwest-middleware` middleware that does for reqwest what
/// [`HttpClientLayer`](super::HttpClientLayer) does for tower clients: a
/// client span per request (the same name, attributes and error types), the
/// `traceparent`, `tracestate` and `baggage` headers of that span, and the
/// HTTP client metrics with the same caps.
///
/// ```
/// use autotel_layers::http::ReqwestMiddleware;
/// use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
///
/// fn traced(client: reqwest::Client) -> ClientWithMiddleware {
///     ClientBuilder::new(client).with(ReqwestMiddleware::new()).build()
/// }
/// // traced(reqwest::Client::new()).get("http://inventory:8080/items/7").send().await?
/// ```
///
/// A request that fails with a timeout, a refused connection or an answer of
/// 400 or more marks its span as an error, with `error.type` and the
/// `error_type` label saying which (`timeout`, `connection_refused`, the
/// status code, ...).
#[derive(Clone)]
pub struct ReqwestMiddleware {
    shared: Arc<Shared>,
}

impl ReqwestMiddleware {
    /// A middleware with the default caps and query redaction.
    pub fn new() -> Self {
        Self {
            shared: client::default_shared(),
        }
    }

    /// Caps the distinct label sets of the client metrics. Defaults to 2000.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when `max_series` is zero.
    pub fn with_max_series(self, max_series: usize) -> Result<Self, Error> {
        Ok(Self {
            shared: self.shared.with_max_series(max_series)?,
        })
    }

    /// Caps the distinct `server_address` values. Defaults to 200.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when `max` is zero.
    pub fn with_max_server_addresses(self, max: usize) -> Result<Self, Error> {
        Ok(Self {
            shared: self.shared.with_max_addresses(max)?,
        })
    }

    /// The query parameters whose values `url.full` writes as `REDACTED`.
    /// Defaults to [`Redaction::default`] with
    /// [`DEFAULT_REDACTED_QUERY_PARAMETERS`](super::DEFAULT_REDACTED_QUERY_PARAMETERS).
    #[must_use]
    pub fn with_query_redaction(self, redaction: Redaction) -> Self {
        Self {
            shared: self.shared.with_redaction(redaction),
        }
    }
}

impl Default for ReqwestMiddleware {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for ReqwestMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ReqwestMiddleware")
            .field(&self.shared)
            .finish()
    }
}

#[async_trait::async_trait]
impl Middleware for ReqwestMiddleware {
    async fn handle(
        &self,
        mut request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let url = request.url();
        let call = Call::start(
            &self.shared,
            request.method(),
            Some(url.scheme()),
            url.host_str().unwrap_or(""),
            url.port(),
            || url.as_str().to_owned(),
        );
        call.inject(request.headers_mut());
        let span = call.span().clone();
        let result = next.run(request, extensions).instrument(span).await;
        let outcome = match &result {
            Ok(response) => Outcome::Response(response.status().as_u16()),
            Err(reqwest_middleware::Error::Reqwest(error)) if error.is_timeout() => {
                Outcome::Error("timeout")
            }
            Err(reqwest_middleware::Error::Reqwest(error)) => Outcome::Error(error_type(error)),
            Err(reqwest_middleware::Error::Middleware(error)) => {
                Outcome::Error(error_type(error.as_ref()))
            }
        };
        call.finish(outcome);
        result
    }
}
