//! What the HTTP middleware costs per request, against the floor and the named
//! peer (`tower-http`'s trace middleware), in one run.
//!
//! Every variant sends one request through the same tower stack,
//! `ServiceBuilder::new().layer(X).service_fn(handler)`, where the handler
//! answers 200 at once (`std::future::ready`). The futures are driven by a
//! no-op-waker `block_on`, no runtime. Each iteration builds a fresh request
//! (`GET /users/42`, with the matched route `/users/{id}` in a request
//! extension, as a router would put it) and drops the response, in the floor
//! too. All variants run under the same scoped dispatcher, the registry and
//! `LevelFilter::INFO`, and a local `metrics` recorder:
//!
//! - `floor`: no middleware;
//! - `autotel_http_layer_noop_recorder`: [`HttpLayer`] with the route read
//!   from the extension, into the no-op recorder;
//! - `autotel_http_layer_prometheus`: the same, into the
//!   metrics-exporter-prometheus recorder (the time of folding the histogram
//!   samples into buckets is included, once per batch);
//! - `tower_http_trace_layer`: `TraceLayer::new_for_http()` with its span and
//!   its response event at `INFO` instead of their default `DEBUG`, so that,
//!   under the `INFO` filter, it makes a request span as [`HttpLayer`] does
//!   (and logs one event on the response, which the registry drops) rather
//!   than being filtered out; its request event stays at `DEBUG`, off;
//! - `tower_http_trace_layer_plus_metrics`: that `TraceLayer` plus the
//!   request-duration histogram as people write it by hand today (a
//!   `service_fn` around the inner service that calls `metrics::histogram!`
//!   with the method, route and status labels when the response arrives),
//!   into the metrics-exporter-prometheus recorder.
//!
//! `tower-http` needs bodies that implement `http_body::Body`, which `()` does
//! not, so every variant sends and answers an empty `String` (no allocation).
//!
//! ```text
//! cargo bench -p autotel-benches --bench http -- --warm-up-time 2 --measurement-time 5
//! ```

use std::convert::Infallible;
use std::fmt::Debug;
use std::future::{Future, Ready};
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use autotel_benches::{bench_scoped, dispatch, nothing, prometheus_recorder};
use autotel_layers::http::HttpLayer;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Method, Request, Response};
use metrics::NoopRecorder;
use metrics_exporter_prometheus::PrometheusRecorder;
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultMakeSpan, DefaultOnRequest, DefaultOnResponse, TraceLayer};
use tracing::{Dispatch, Level};

/// The route a router would have matched, in the request's extensions.
#[derive(Debug, Clone, Copy)]
struct Route(&'static str);

/// A fresh `GET /users/42` with its matched route.
fn request() -> Request<String> {
    let mut request = Request::builder()
        .method(Method::GET)
        .uri("/users/42")
        .body(String::new())
        .expect("a valid request");
    request.extensions_mut().insert(Route("/users/{id}"));
    request
}

/// Answers 200 at once.
fn handler(_request: Request<String>) -> Ready<Result<Response<String>, Infallible>> {
    std::future::ready(Ok(Response::new(String::new())))
}

/// Polls a future that needs no runtime to completion.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// Sends one fresh request through `service`, waits for the answer and drops
/// it.
fn one_request<S>(service: &mut S)
where
    S: Service<Request<String>>,
    S::Error: Debug,
{
    let ready = block_on(service.ready()).expect("the service is ready");
    let response = block_on(ready.call(request())).expect("the service answers");
    drop(black_box(response));
}

/// The autotel middleware, with the route from the request's extension.
fn autotel_layer() -> HttpLayer {
    HttpLayer::new().with_route(|extensions| extensions.get::<Route>().map(|route| route.0))
}

/// `TraceLayer::new_for_http()` with its span and response event at `INFO`.
fn trace_layer() -> TraceLayer<
    SharedClassifier<ServerErrorsAsFailures>,
    DefaultMakeSpan,
    DefaultOnRequest,
    DefaultOnResponse,
> {
    TraceLayer::new_for_http()
        .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}

/// The request-duration histogram as people write it by hand around a tower
/// service: the start, method and route taken from the request, and one
/// `metrics::histogram!` call (which builds and hashes the key every time)
/// when the response arrives.
fn request_metrics<S>(
    inner: S,
) -> impl Service<Request<String>, Response = S::Response, Error = S::Error> + Clone
where
    S: Service<Request<String>, Response = Response<String>> + Clone,
{
    service_fn(move |request: Request<String>| {
        let mut inner = inner.clone();
        let start = Instant::now();
        let method = request.method().clone();
        let route = request
            .extensions()
            .get::<Route>()
            .map_or("", |route| route.0);
        async move {
            let response = inner.ready().await?.call(request).await?;
            let seconds = start.elapsed().as_secs_f64();
            metrics::histogram!(
                "http_server_request_duration_seconds",
                "http_request_method" => method.to_string(),
                "http_route" => route,
                "http_response_status_code" => response.status().as_u16().to_string(),
            )
            .record(seconds);
            Ok(response)
        }
    })
}

/// Sends one request through `service` under `dispatch` and `recorder`, and
/// checks that the duration histogram reached the Prometheus recorder, so that
/// the variant measures something.
fn assert_records<S>(service: &mut S, dispatch: &Dispatch, recorder: &PrometheusRecorder)
where
    S: Service<Request<String>>,
    S::Error: Debug,
{
    tracing::dispatcher::with_default(dispatch, || {
        metrics::with_local_recorder(recorder, || one_request(service));
    });
    let exposition = recorder.handle().render();
    let recorded = exposition.lines().any(|line| {
        line.starts_with("http_server_request_duration_seconds_count{")
            && line.contains(r#"http_request_method="GET""#)
            && line.contains(r#"http_route="/users/{id}""#)
            && line.contains(r#"http_response_status_code="200""#)
            && line.ends_with(" 1")
    });
    assert!(
        recorded,
        "the middleware recorded nothing into the Prometheus recorder:\n{exposition}"
    );
}

/// Answers 200 once it has checked that it runs inside an enabled span.
fn handler_in_span(request: Request<String>) -> Ready<Result<Response<String>, Infallible>> {
    assert!(
        !tracing::Span::current().is_disabled(),
        "the middleware made no span, or the filter turned it off"
    );
    handler(request)
}

/// One request through the floor, autotel and its peer.
fn http_request(c: &mut Criterion) {
    let mut group = c.benchmark_group("http_request");
    let dispatch = dispatch();

    // Both middlewares run the handler inside an enabled request span.
    let mut service = ServiceBuilder::new()
        .layer(autotel_layer())
        .service_fn(handler_in_span);
    tracing::dispatcher::with_default(&dispatch, || one_request(&mut service));
    let mut service = ServiceBuilder::new()
        .layer(trace_layer())
        .service_fn(handler_in_span);
    tracing::dispatcher::with_default(&dispatch, || one_request(&mut service));

    let mut service = ServiceBuilder::new().service_fn(handler);
    bench_scoped(
        &mut group,
        "floor",
        &dispatch,
        &NoopRecorder,
        &nothing,
        || one_request(&mut service),
    );

    let mut service = ServiceBuilder::new()
        .layer(autotel_layer())
        .service_fn(handler);
    bench_scoped(
        &mut group,
        "autotel_http_layer_noop_recorder",
        &dispatch,
        &NoopRecorder,
        &nothing,
        || one_request(&mut service),
    );

    let prometheus = prometheus_recorder();
    let handle = prometheus.handle();
    let mut service = ServiceBuilder::new()
        .layer(autotel_layer())
        .service_fn(handler);
    assert_records(&mut service, &dispatch, &prometheus);
    bench_scoped(
        &mut group,
        "autotel_http_layer_prometheus",
        &dispatch,
        &prometheus,
        &|| handle.run_upkeep(),
        || one_request(&mut service),
    );

    let mut service = ServiceBuilder::new()
        .layer(trace_layer())
        .service_fn(handler);
    bench_scoped(
        &mut group,
        "tower_http_trace_layer",
        &dispatch,
        &NoopRecorder,
        &nothing,
        || one_request(&mut service),
    );

    let prometheus = prometheus_recorder();
    let handle = prometheus.handle();
    let mut service = ServiceBuilder::new()
        .layer(trace_layer())
        .layer_fn(request_metrics)
        .service_fn(handler);
    assert_records(&mut service, &dispatch, &prometheus);
    bench_scoped(
        &mut group,
        "tower_http_trace_layer_plus_metrics",
        &dispatch,
        &prometheus,
        &|| handle.run_upkeep(),
        || one_request(&mut service),
    );

    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = http_request
}
criterion_main!(benches);
