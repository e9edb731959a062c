//! gRPC telemetry as a tower middleware (feature `grpc`), for tonic servers
//! and channels, or any gRPC stack built on `http` and `http-body` 1.
//!
//! [`GrpcLayer::server`] wraps a server (`tonic::transport::Server::builder()
//! .layer(...)`) and [`GrpcLayer::client`] a channel
//! (`ServiceBuilder::new().layer(...).service(channel)`, handed to a
//! generated or hand-written client). Every call gets, following the
//! OpenTelemetry RPC semantic conventions:
//!
//! - a span named `gRPC server` or `gRPC client`, with `otel.name` the full
//!   method (`helloworld.Greeter/SayHello`), `otel.kind` (`server` /
//!   `client`), `rpc.system = "grpc"`, `rpc.service`, `rpc.method`, and once
//!   the call ends `rpc.grpc.status_code`;
//! - an error status decided by the gRPC status, not the HTTP one (a failed
//!   call is still answered `200 OK`): any code but `OK` marks the span
//!   `otel.status_code = "ERROR"` with the code's name as `error.type`
//!   (`NOT_FOUND`), which [`SpanMetricsLayer`](crate::SpanMetricsLayer)
//!   counts as an error;
//! - on the server, the caller's trace when the request carries a W3C
//!   `traceparent` header; on the client, a `traceparent` naming the client
//!   span, so that one trace spans both sides;
//! - the catalog's RPC metrics through the `metrics` facade:
//!   `rpc_server_duration_seconds` or `rpc_client_duration_seconds`, with
//!   the labels `rpc_system`, `rpc_service`, `rpc_method` and
//!   `rpc_grpc_status_code` (the code as a number, `"5"` for `NOT_FOUND`).
//!
//! # Where the status comes from
//!
//! A gRPC call's status arrives last, in the `grpc-status` trailer, after
//! every message of the response; a call that fails at once may send it in
//! the response head instead ("trailers-only"). The middleware reads the head
//! and then watches the response body for its trailers frame, so a streaming
//! response that ends with an error status is counted as that error. The
//! duration runs from the request's arrival at the middleware to the status,
//! streaming included; the span stays open until the response body is
//! dropped. Without a status:
//!
//! - a response whose HTTP status is not `200` (a proxy's `503`) gets the code
//!   gRPC maps that status to (`UNAVAILABLE`);
//! - a body that ends without one, or a body or service error, is `UNKNOWN`
//!   (with the error's type as `error.type` for an error);
//! - a response or body dropped before its status arrived (the caller went
//!   away, or stopped reading a stream) is `CANCELLED`.
//!
//! The method label is the request's path, and a server answers any path it
//! is sent (unknown ones with `UNIMPLEMENTED`), so the distinct methods are
//! capped (2000 by default): past the cap, calls go to one overflow series
//! and are counted in `autotel_series_overflow_total`; method names longer
//! than 128 bytes are cut and counted in
//! `autotel_truncated_values_total{signal="metrics"}`.
//!
//! ```
//! use autotel_layers::grpc::GrpcLayer;
//! use tower_layer::Layer;
//!
//! // tonic: Server::builder().layer(GrpcLayer::server()).add_service(...)
//! let server = GrpcLayer::server();
//! // tonic: GreeterClient::new(ServiceBuilder::new().layer(GrpcLayer::client()).service(channel))
//! let client = GrpcLayer::client().with_max_series(500)?;
//! # let _ = (server.layer(()), client);
//! # Ok::<(), autotel_layers::Error>(())
//! ```

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use metrics::{Histogram, Key, Label, Recorder, SharedString};
use tower_layer::Layer;
use tower_service::Service;
use tracing::field::Empty;

use crate::Error;
use crate::catalog::{MetricDef, RPC_CLIENT_DURATION_SECONDS, RPC_SERVER_DURATION_SECONDS, label};
use crate::internal::interner::{Interner, OVERFLOW};
use crate::internal::middleware::{continue_trace, inject_trace};
use crate::internal::series_cap::{METADATA, Series, SeriesCache, count_overflow, overflow_labels};

mod future;
mod status;

pub use future::{ResponseBody, ResponseFuture};
use status::Code;

/// The default cap on distinct methods, and on label sets of the duration
/// histogram.
pub const DEFAULT_MAX_SERIES: usize = 2000;

/// The `rpc_system` label and `rpc.system` attribute.
const SYSTEM: &str = "grpc";

/// Which end of a call the middleware is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

/// A tower layer that gives each gRPC call a span, carries its trace across
/// the call and records the RPC metrics. See the [module docs](self).
#[derive(Clone)]
pub struct GrpcLayer {
    shared: Arc<Shared>,
}

struct Shared {
    side: Side,
    /// The full method names (`helloworld.Greeter/SayHello`) seen.
    methods: Interner,
    /// The duration histogram of each method and status code.
    durations: SeriesCache<(u32, Code), Histogram>,
    max_series: usize,
}

impl Shared {
    fn new(side: Side, max_series: usize) -> Self {
        Self {
            side,
            methods: Interner::new(max_series),
            durations: SeriesCache::new(max_series),
            max_series,
        }
    }

    fn metric(&self) -> MetricDef {
        match self.side {
            Side::Server => RPC_SERVER_DURATION_SECONDS,
            Side::Client => RPC_CLIENT_DURATION_SECONDS,
        }
    }

    /// Records one call that ended with `code`.
    fn record(&self, method: u32, code: Code, seconds: f64) {
        let name = self.metric().name();
        metrics::with_recorder(|recorder| {
            self.durations.with(
                recorder,
                (method, code),
                method == OVERFLOW,
                |recorder| self.register(recorder, method, code),
                |recorder| {
                    recorder
                        .register_histogram(&Key::from_parts(name, overflow_labels()), &METADATA)
                },
                |histogram, series| {
                    histogram.record(seconds);
                    if series == Series::Overflow {
                        count_overflow(recorder, &SharedString::const_str(name));
                    }
                },
            );
        });
    }

    fn register(&self, recorder: &dyn Recorder, method: u32, code: Code) -> Histogram {
        let full = self.methods.value(method);
        let (service, method) = split(full.as_deref().unwrap_or_default());
        let labels = vec![
            Label::from_static_parts(label::RPC_SYSTEM, SYSTEM),
            Label::new(
                label::RPC_SERVICE,
                SharedString::from_owned(service.to_owned()),
            ),
            Label::new(
                label::RPC_METHOD,
                SharedString::from_owned(method.to_owned()),
            ),
            Label::from_static_parts(
                label::RPC_GRPC_STATUS_CODE,
                status::LABELS[usize::from(code)],
            ),
        ];
        recorder.register_histogram(&Key::from_parts(self.metric().name(), labels), &METADATA)
    }
}

/// The service and method of a full method name (`helloworld.Greeter` and
/// `SayHello` of `helloworld.Greeter/SayHello`); a name without a `/` is a
/// method of no service.
fn split(full: &str) -> (&str, &str) {
    full.split_once('/').unwrap_or(("", full))
}

impl GrpcLayer {
    /// A layer for a gRPC server, with the default series cap: spans of kind
    /// `server`, the caller's trace from `traceparent`, and
    /// `rpc_server_duration_seconds`.
    pub fn server() -> Self {
        Self {
            shared: Arc::new(Shared::new(Side::Server, DEFAULT_MAX_SERIES)),
        }
    }

    /// A layer for a gRPC client (around a channel), with the default series
    /// cap: spans of kind `client`, a `traceparent` sent with each call, and
    /// `rpc_client_duration_seconds`.
    pub fn client() -> Self {
        Self {
            shared: Arc::new(Shared::new(Side::Client, DEFAULT_MAX_SERIES)),
        }
    }

    /// Caps the distinct methods, and the label sets of the duration
    /// histogram. Defaults to [`DEFAULT_MAX_SERIES`].
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when `max_series` is zero.
    pub fn with_max_series(self, max_series: usize) -> Result<Self, Error> {
        let max_series = crate::error::check_max_series("with_max_series", max_series)?;
        Ok(Self {
            shared: Arc::new(Shared::new(self.shared.side, max_series)),
        })
    }
}

impl fmt::Debug for GrpcLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcLayer")
            .field("side", &self.shared.side)
            .field("max_series", &self.shared.max_series)
            .finish()
    }
}

impl<S> Layer<S> for GrpcLayer {
    type Service = GrpcService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcService {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

/// The service [`GrpcLayer`] makes.
#[derive(Clone)]
pub struct GrpcService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S: fmt::Debug> fmt::Debug for GrpcService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GrpcService")
            .field("inner", &self.inner)
            .field("side", &self.shared.side)
            .finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for GrpcService<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: http_body::Body,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let start = quanta::Instant::now();
        let shared = &self.shared;
        let path = request.uri().path();
        let full = path.strip_prefix('/').unwrap_or(path);
        let (service, method) = split(full);
        let span = match shared.side {
            Side::Server => tracing::info_span!(
                target: "autotel::grpc",
                "gRPC server",
                otel.name = full,
                otel.kind = "server",
                rpc.system = SYSTEM,
                rpc.service = service,
                rpc.method = method,
                rpc.grpc.status_code = Empty,
                otel.status_code = Empty,
                error.type = Empty,
            ),
            Side::Client => tracing::info_span!(
                target: "autotel::grpc",
                "gRPC client",
                otel.name = full,
                otel.kind = "client",
                rpc.system = SYSTEM,
                rpc.service = service,
                rpc.method = method,
                rpc.grpc.status_code = Empty,
                otel.status_code = Empty,
                error.type = Empty,
            ),
        };
        let method = shared.methods.intern(crate::internal::label_cap::cut(full));
        match shared.side {
            Side::Server => continue_trace(&span, request.headers()),
            Side::Client => inject_trace(&span, request.headers_mut()),
        }
        let inner = span.in_scope(|| self.inner.call(request));
        ResponseFuture::new(
            inner,
            span,
            future::Telemetry {
                shared: Arc::clone(shared),
                start,
                method,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_method_names_split_into_service_and_method() {
        assert_eq!(
            split("helloworld.Greeter/SayHello"),
            ("helloworld.Greeter", "SayHello")
        );
        assert_eq!(split("Ping"), ("", "Ping"));
        assert_eq!(split("a/b/c"), ("a", "b/c"));
    }

    #[test]
    fn a_zero_series_cap_is_refused_with_the_setting_named() {
        let error = GrpcLayer::client().with_max_series(0).unwrap_err();
        assert!(error.to_string().contains("with_max_series"), "{error}");
        let layer = GrpcLayer::client().with_max_series(3).unwrap();
        assert_eq!(layer.shared.side, Side::Client);
        assert_eq!(layer.shared.max_series, 3);
    }
}
