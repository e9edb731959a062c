//! HTTP telemetry as tower middleware (feature `http`): [`HttpLayer`] for
//! servers, [`HttpClientLayer`] for clients.
//!
//! [`HttpLayer`] wraps any `tower::Service<http::Request<B>>` (axum, hyper,
//! tonic) and gives every request:
//!
//! - a span named `HTTP request` with the OpenTelemetry HTTP server
//!   attributes: `otel.name` (`GET /users/{id}`), `otel.kind = "server"`,
//!   `http.request.method`, `http.route`, `url.path`, and on completion
//!   `http.response.status_code`; a 5xx answer or a service error marks it
//!   `otel.status_code = "ERROR"` with an `error.type`, which
//!   [`SpanMetricsLayer`](crate::SpanMetricsLayer) counts as an error;
//! - the trace of the caller, when the request carries one valid W3C
//!   `traceparent` header, with its `tracestate` and `baggage` kept for the
//!   calls made while handling it (see [`crate::propagation`]);
//! - the catalog's HTTP metrics through the `metrics` facade:
//!   `http_server_request_duration_seconds{http_request_method, http_route,
//!   http_response_status_code}` and
//!   `http_server_active_requests{http_request_method}`, and
//!   `http_server_response_body_size_bytes` with the labels of the duration,
//!   for responses whose body size is known when the head is sent (a fixed
//!   body or a `Content-Length`; a streamed body of unknown size is not
//!   measured).
//!
//! The route label is the matched route template, never the raw path: the
//! router tells it through a request extension, read by the function given to
//! [`HttpLayer::with_route`]. Without one the label is empty, which
//! Prometheus treats as absent. Methods outside the standard ones are
//! recorded as `_OTHER`, as the OpenTelemetry conventions say. Label sets past
//! the cap (2000 by default) go to one overflow series and are counted in
//! `autotel_series_overflow_total`; route labels longer than 128 bytes are
//! cut and counted in `autotel_truncated_values_total{signal="metrics"}`.
//!
//! The duration runs from the request's arrival at the middleware until the
//! inner service returns the response head, as in `tower-http`'s trace
//! middleware; streaming the body afterwards is not included.
//!
//! ```
//! use autotel_layers::http::HttpLayer;
//! use http::{Request, Response};
//! use tower_layer::Layer;
//!
//! /// What a router puts in the request's extensions.
//! #[derive(Clone)]
//! struct MatchedRoute(&'static str);
//!
//! let layer = HttpLayer::new()
//!     .with_route(|extensions| extensions.get::<MatchedRoute>().map(|r| r.0));
//! let service = layer.layer(tower_service_fn(|_request: Request<String>| {
//!     Response::new(String::from("hello"))
//! }));
//! # fn tower_service_fn<F>(f: F) -> Echo<F> { Echo(f) }
//! # #[derive(Clone)] struct Echo<F>(F);
//! # impl<F: FnMut(Request<String>) -> Response<String>> tower_service::Service<Request<String>> for Echo<F> {
//! #     type Response = Response<String>;
//! #     type Error = std::convert::Infallible;
//! #     type Future = std::future::Ready<Result<Response<String>, Self::Error>>;
//! #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
//! #         std::task::Poll::Ready(Ok(()))
//! #     }
//! #     fn call(&mut self, request: Request<String>) -> Self::Future {
//! #         std::future::ready(Ok((self.0)(request)))
//! #     }
//! # }
//! # let _ = service;
//! ```
//!
//! With axum, the route is the `MatchedPath` extension:
//!
//! ```text
//! let app = Router::new()
//!     .route("/users/{id}", get(user))
//!     .layer(HttpLayer::new().with_route(|ext| ext.get::<MatchedPath>().map(MatchedPath::as_str)));
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Method, Request, Response};

use crate::exemplar::ExemplarFilter;
use metrics::{Gauge, Histogram, Key, Label};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;

use crate::Error;
use crate::catalog::{HTTP_SERVER_ACTIVE_REQUESTS, label};
use crate::internal::interner::Interner;
use crate::internal::middleware::continue_trace;
use crate::internal::series_cap::SeriesCache;

mod client;
mod future;
#[cfg(feature = "reqwest")]
mod middleware;

pub use client::{
    BoxError, ClientResponseFuture, DEFAULT_MAX_SERVER_ADDRESSES,
    DEFAULT_REDACTED_QUERY_PARAMETERS, HttpClientLayer, HttpClientService,
};
pub use future::ResponseFuture;
use future::Telemetry;
#[cfg(feature = "reqwest")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest")))]
pub use middleware::ReqwestMiddleware;

/// Finds the matched route template of a request in its extensions.
type RouteFn = dyn for<'a> Fn(&'a http::Extensions) -> Option<&'a str> + Send + Sync;

/// The standard methods, by index; anything else is `_OTHER`.
const METHODS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "_OTHER",
];

fn method_index(method: &Method) -> u8 {
    match *method {
        Method::GET => 0,
        Method::HEAD => 1,
        Method::POST => 2,
        Method::PUT => 3,
        Method::DELETE => 4,
        Method::CONNECT => 5,
        Method::OPTIONS => 6,
        Method::TRACE => 7,
        Method::PATCH => 8,
        _ => 9,
    }
}

/// A recorded route: an interned id, [`NO_ROUTE`] or
/// [`OVERFLOW`](crate::internal::interner::OVERFLOW).
const NO_ROUTE: u32 = u32::MAX - 1;

/// The default cap on distinct label sets of the duration histogram.
pub const DEFAULT_MAX_SERIES: usize = 2000;

/// A tower layer that gives each HTTP request a span, continues the caller's
/// trace and records the HTTP server metrics. See the [module docs](self).
#[derive(Clone)]
pub struct HttpLayer {
    shared: Arc<Shared>,
}

struct Shared {
    route: Option<Arc<RouteFn>>,
    routes: Interner,
    /// The duration and response size histograms of each label set.
    durations: SeriesCache<(u8, u32, u16), [Histogram; 2]>,
    active: SeriesCache<u8, Gauge>,
    max_series: usize,
    exemplars: ExemplarFilter,
}

impl Shared {
    fn new(route: Option<Arc<RouteFn>>, max_series: usize, exemplars: ExemplarFilter) -> Self {
        Self {
            route,
            routes: Interner::new(max_series),
            durations: SeriesCache::new(max_series),
            active: SeriesCache::new(METHODS.len()),
            max_series,
            exemplars,
        }
    }
}

impl HttpLayer {
    /// A layer with no route extractor and the default series cap.
    pub fn new() -> Self {
        Self {
            shared: Arc::new(Shared::new(
                None,
                DEFAULT_MAX_SERIES,
                ExemplarFilter::default(),
            )),
        }
    }

    /// Reads the matched route template from the request's extensions, where
    /// the router put it (axum's `MatchedPath`, for one).
    pub fn with_route<F>(self, route: F) -> Self
    where
        F: for<'a> Fn(&'a http::Extensions) -> Option<&'a str> + Send + Sync + 'static,
    {
        Self {
            shared: Arc::new(Shared::new(
                Some(Arc::new(route)),
                self.shared.max_series,
                self.shared.exemplars,
            )),
        }
    }

    /// Caps the distinct label sets of the duration histogram, and the
    /// distinct routes.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when `max_series` is zero.
    pub fn with_max_series(self, max_series: usize) -> Result<Self, Error> {
        let max_series = crate::error::check_max_series("with_max_series", max_series)?;
        Ok(Self {
            shared: Arc::new(Shared::new(
                self.shared.route.clone(),
                max_series,
                self.shared.exemplars,
            )),
        })
    }

    /// Sets which requests give the ids of their span, as an
    /// [exemplar](crate::exemplar), to their observation of
    /// `http_server_request_duration_seconds`. Defaults to
    /// [`ExemplarFilter::TraceBased`]: requests of sampled traces.
    #[must_use]
    pub fn with_exemplar_filter(self, filter: ExemplarFilter) -> Self {
        Self {
            shared: Arc::new(Shared::new(
                self.shared.route.clone(),
                self.shared.max_series,
                filter,
            )),
        }
    }
}

impl Default for HttpLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for HttpLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpLayer")
            .field("route", &self.shared.route.as_ref().map(|_| "fn"))
            .field("max_series", &self.shared.max_series)
            .field("exemplars", &self.shared.exemplars)
            .finish()
    }
}

impl<S> Layer<S> for HttpLayer {
    type Service = HttpService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`HttpLayer`] makes.
#[derive(Clone)]
pub struct HttpService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for HttpService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpService")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for HttpService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let start = quanta::Instant::now();
        let method = method_index(request.method());
        let method_name = METHODS[method as usize];
        let shared = &self.shared;
        let route_text = shared
            .route
            .as_ref()
            .and_then(|route| route(request.extensions()));
        let route = match route_text {
            Some(text) => shared.routes.intern(crate::internal::label_cap::cut(text)),
            None => NO_ROUTE,
        };
        let span = match route_text {
            Some(text) => tracing::info_span!(
                target: "autotel::http",
                "HTTP request",
                otel.name = format_args!("{method_name} {text}"),
                otel.kind = "server",
                http.request.method = method_name,
                http.route = text,
                url.path = request.uri().path(),
                http.response.status_code = Empty,
                otel.status_code = Empty,
                error.type = Empty,
            ),
            None => tracing::info_span!(
                target: "autotel::http",
                "HTTP request",
                otel.name = method_name,
                otel.kind = "server",
                http.request.method = method_name,
                url.path = request.uri().path(),
                http.response.status_code = Empty,
                otel.status_code = Empty,
                error.type = Empty,
            ),
        };
        continue_trace(&span, request.headers());
        let active = Active::start(shared, method);
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture {
            inner,
            span,
            telemetry: Some(Telemetry {
                shared: Arc::clone(shared),
                start,
                method,
                route,
                _active: active,
            }),
        }
    }
}

/// One request in progress in `http_server_active_requests`, until dropped,
/// answered or not.
struct Active(Option<Gauge>);

impl Active {
    fn start(shared: &Shared, method: u8) -> Self {
        let gauge = metrics::with_recorder(|recorder| {
            shared.active.with(
                recorder,
                method,
                false,
                |recorder| {
                    let labels = vec![Label::from_static_parts(
                        label::HTTP_REQUEST_METHOD,
                        METHODS[method as usize],
                    )];
                    recorder.register_gauge(
                        &Key::from_parts(HTTP_SERVER_ACTIVE_REQUESTS.name(), labels),
                        &METADATA,
                    )
                },
                |_| Gauge::noop(),
                |gauge, _| gauge.clone(),
            )
        });
        gauge.increment(1.0);
        Self(Some(gauge))
    }
}

impl Drop for Active {
    fn drop(&mut self) {
        if let Some(gauge) = self.0.take() {
            gauge.decrement(1.0);
        }
    }
}

const METADATA: metrics::Metadata<'static> =
    metrics::Metadata::new(module_path!(), metrics::Level::INFO, Some(module_path!()));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_ones_are_other() {
        assert_eq!(METHODS[method_index(&Method::GET) as usize], "GET");
        assert_eq!(METHODS[method_index(&Method::PATCH) as usize], "PATCH");
        let custom = Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(METHODS[method_index(&custom) as usize], "_OTHER");
    }

    #[test]
    fn long_routes_are_cut_at_a_character_boundary() {
        let route = "é".repeat(100);
        let cut = crate::internal::label_cap::cut(&route);
        assert_eq!(cut.len(), 128);
        assert_eq!(
            crate::internal::label_cap::cut("/users/{id}"),
            "/users/{id}"
        );
    }
}
