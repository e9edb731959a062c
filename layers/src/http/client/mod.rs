//! HTTP client telemetry as a tower middleware: a client span per request,
//! the caller's context injected into the request headers, and the HTTP
//! client metrics.

mod call;
mod future;
mod url;

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

pub(crate) use self::call::{Call, Outcome, error_type};
pub use self::future::ClientResponseFuture;
use crate::Error;
use crate::internal::interner::Interner;
use crate::internal::series_cap::SeriesCache;
use crate::redact::Redaction;

/// The error of [`HttpClientService`]: the inner service's, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The default cap on distinct `server_address` values.
pub const DEFAULT_MAX_SERVER_ADDRESSES: usize = 200;

/// The query parameters whose values `url.full` hides by default, besides
/// the names of [`Redaction::default`]: the signatures and keys of signed
/// URLs (AWS, Google Cloud, Azure), as the OpenTelemetry conventions list.
pub const DEFAULT_REDACTED_QUERY_PARAMETERS: &[&str] =
    &["AWSAccessKeyId", "Signature", "sig", "X-Goog-Signature"];

/// A tower layer for HTTP clients (hyper-util's `Client`, or any
/// `tower::Service<http::Request<B>>`): each request gets a client span,
/// carries the current trace to the server, and is measured.
///
/// - The span, named `HTTP client request`, has the OpenTelemetry HTTP
///   client attributes: `otel.name` (the method), `otel.kind = "client"`,
///   `http.request.method`, `server.address`, `server.port`, `url.full`
///   (credentials in the URL and the values of secret-looking query
///   parameters written `REDACTED`), and on completion
///   `http.response.status_code`. A status of 400 or more, a connection
///   refused or a timeout marks it `otel.status_code = "ERROR"` with an
///   `error.type` (the status code, `timeout`, `connection_refused`,
///   `connection_reset`, `name_resolution` or `_OTHER`), which
///   [`SpanMetricsLayer`](crate::SpanMetricsLayer) counts as an error.
/// - The request gets the `traceparent`, `tracestate` and `baggage` headers
///   of the client span (see [`propagation`](crate::propagation)), so the
///   server continues the trace; every request is its own child span.
/// - `http_client_request_duration_seconds{http_request_method,
///   server_address, http_response_status_code, error_type}` and
///   `http_client_active_requests{http_request_method, server_address}`
///   are recorded through the `metrics` facade. Distinct server addresses
///   are capped (200 by default), and label sets too (2000 by default):
///   past either cap, requests go to one overflow series and are counted in
///   `autotel_series_overflow_total`.
///
/// The duration runs until the response head arrives; reading the body
/// afterwards is not included. The service's error is the inner service's,
/// boxed, as tower's own middleware do.
///
/// ```
/// use autotel_layers::http::HttpClientLayer;
/// use tower_layer::Layer;
///
/// # #[derive(Clone)] struct Client;
/// # impl tower_service::Service<http::Request<String>> for Client {
/// #     type Response = http::Response<String>;
/// #     type Error = std::io::Error;
/// #     type Future = std::future::Ready<Result<Self::Response, Self::Error>>;
/// #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
/// #         std::task::Poll::Ready(Ok(()))
/// #     }
/// #     fn call(&mut self, _: http::Request<String>) -> Self::Future {
/// #         std::future::ready(Ok(http::Response::new(String::new())))
/// #     }
/// # }
/// // With hyper-util: `Client::builder(TokioExecutor::new()).build_http()`.
/// let client = Client;
/// let traced = HttpClientLayer::new().with_max_server_addresses(50)?.layer(client);
/// # let _ = traced;
/// # Ok::<(), autotel_layers::Error>(())
/// ```
#[derive(Clone)]
pub struct HttpClientLayer {
    shared: Arc<Shared>,
}

/// What every request of a client layer (or middleware) shares: the address
/// cap, the metric handles and the query redaction.
pub(crate) struct Shared {
    pub(crate) addresses: Interner,
    /// The duration histogram of each label set.
    pub(crate) durations: SeriesCache<(u8, u32, u16, call::Failure), metrics::Histogram>,
    pub(crate) active: SeriesCache<(u8, u32), metrics::Gauge>,
    pub(crate) redaction: Redaction,
    max_series: usize,
    max_addresses: usize,
}

impl Shared {
    fn new(max_series: usize, max_addresses: usize, redaction: Redaction) -> Self {
        Self {
            addresses: Interner::new(max_addresses),
            durations: SeriesCache::new(max_series),
            active: SeriesCache::new(max_series),
            redaction,
            max_series,
            max_addresses,
        }
    }
}

impl Shared {
    /// The same settings with a cap of `max_series` label sets.
    pub(crate) fn with_max_series(&self, max_series: usize) -> Result<Arc<Self>, Error> {
        let max_series = crate::error::check_max_series("with_max_series", max_series)?;
        Ok(self.rebuilt(max_series, self.max_addresses, None))
    }

    /// The same settings with a cap of `max` server addresses.
    pub(crate) fn with_max_addresses(&self, max: usize) -> Result<Arc<Self>, Error> {
        if max == 0 {
            return Err(Error::invalid(
                "with_max_server_addresses",
                max,
                "is not an address cap: give at least 1 (requests to addresses past the cap go \
                 to the overflow series)",
            ));
        }
        Ok(self.rebuilt(self.max_series, max, None))
    }

    /// The same settings with `redaction` for query parameters.
    pub(crate) fn with_redaction(&self, redaction: Redaction) -> Arc<Self> {
        self.rebuilt(self.max_series, self.max_addresses, Some(redaction))
    }

    fn rebuilt(
        &self,
        max_series: usize,
        max_addresses: usize,
        redaction: Option<Redaction>,
    ) -> Arc<Self> {
        let redaction = redaction.unwrap_or_else(|| self.redaction.clone());
        Arc::new(Self::new(max_series, max_addresses, redaction))
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClient")
            .field("max_series", &self.max_series)
            .field("max_server_addresses", &self.max_addresses)
            .field("redaction", &self.redaction)
            .finish()
    }
}

/// The default query redaction: [`Redaction::default`] and
/// [`DEFAULT_REDACTED_QUERY_PARAMETERS`].
fn default_redaction() -> Redaction {
    DEFAULT_REDACTED_QUERY_PARAMETERS
        .iter()
        .fold(Redaction::default(), |redaction, name| {
            redaction.with_name(name)
        })
}

/// The default settings of a client layer or middleware, shared by
/// [`HttpClientLayer`] and the reqwest middleware.
pub(crate) fn default_shared() -> Arc<Shared> {
    Arc::new(Shared::new(
        super::DEFAULT_MAX_SERIES,
        DEFAULT_MAX_SERVER_ADDRESSES,
        default_redaction(),
    ))
}

impl HttpClientLayer {
    /// A layer with the default caps and query redaction.
    pub fn new() -> Self {
        Self {
            shared: default_shared(),
        }
    }

    /// Caps the distinct label sets of the duration histogram and of the
    /// in-flight gauge. Defaults to 2000.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when `max_series` is zero.
    pub fn with_max_series(self, max_series: usize) -> Result<Self, Error> {
        Ok(Self {
            shared: self.shared.with_max_series(max_series)?,
        })
    }

    /// Caps the distinct `server_address` values: requests to addresses past
    /// the cap go to the overflow series. Defaults to 200.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when `max` is zero.
    pub fn with_max_server_addresses(self, max: usize) -> Result<Self, Error> {
        Ok(Self {
            shared: self.shared.with_max_addresses(max)?,
        })
    }

    /// The query parameters whose values `url.full` writes as `REDACTED`:
    /// those whose names match `redaction`. Defaults to
    /// [`Redaction::default`] with [`DEFAULT_REDACTED_QUERY_PARAMETERS`].
    #[must_use]
    pub fn with_query_redaction(self, redaction: Redaction) -> Self {
        Self {
            shared: self.shared.with_redaction(redaction),
        }
    }
}

impl Default for HttpClientLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HttpClientLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("HttpClientLayer")
            .field(&self.shared)
            .finish()
    }
}

impl<S> Layer<S> for HttpClientLayer {
    type Service = HttpClientService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpClientService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`HttpClientLayer`] makes.
#[derive(Clone)]
pub struct HttpClientService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for HttpClientService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpClientService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for HttpClientService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    S::Error: Into<BoxError>,
{
    type Response = Response<ResBody>;
    type Error = BoxError;
    type Future = ClientResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let uri = request.uri();
        let call = Call::start(
            &self.shared,
            request.method(),
            uri.scheme_str(),
            uri.host().unwrap_or(""),
            uri.port_u16(),
            || uri.to_string(),
        );
        call.inject(request.headers_mut());
        let inner = call.span().in_scope(|| self.inner.call(request));
        ClientResponseFuture::new(inner, call)
    }
}
