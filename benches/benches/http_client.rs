//! What the HTTP client middleware costs per request on loopback, against
//! the same client without it and the named peer (`reqwest-tracing`), in one
//! run.
//!
//! A hyper server on 127.0.0.1 (its own thread and runtime) answers `ok` to
//! `GET /items/7`. Each iteration sends that request over a kept-alive
//! connection and reads the answer, from a current-thread tokio runtime on
//! the bench thread. All variants run under the same scoped dispatcher, the
//! registry and `LevelFilter::INFO`, inside an enabled `handler` span (as a
//! request handler would call out), and a local `metrics` recorder:
//!
//! - `reqwest_floor`: a `reqwest-middleware` client with no middleware;
//! - `reqwest_autotel_noop_recorder`: with [`ReqwestMiddleware`], into the
//!   no-op recorder;
//! - `reqwest_autotel_prometheus`: the same, into the
//!   metrics-exporter-prometheus recorder;
//! - `reqwest_tracing`: with `reqwest-tracing`'s `TracingMiddleware` (its
//!   default span backend). Its OpenTelemetry features stop at
//!   opentelemetry 0.32, so here it makes its span and injects no header:
//!   it does less than autotel, which also writes `traceparent` and records
//!   the client metrics;
//! - `hyper_floor`: hyper-util's client, no middleware;
//! - `hyper_autotel_prometheus`: the same client under [`HttpClientLayer`],
//!   into the metrics-exporter-prometheus recorder.
//!
//! Loopback times move by several microseconds between runs on a shared
//! machine, more than the middleware costs; the `http_client_layer` group
//! measures [`HttpClientLayer`] alone, over a tower service that answers at
//! once: `floor` (no layer), `autotel_noop_recorder`, `autotel_prometheus`.
//!
//! ```text
//! cargo bench -p autotel-benches --bench http_client -- --warm-up-time 2 --measurement-time 5
//! ```

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Instant;

use autotel_layers::http::{HttpClientLayer, ReqwestMiddleware};
use autotel_layers::span_metrics::DEFAULT_DURATION_BUCKETS;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use metrics::{NoopRecorder, Recorder};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusRecorder};
use reqwest_middleware::ClientWithMiddleware;
use tower::{Service, ServiceBuilder, ServiceExt};
use tracing::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

/// Serves `ok` on a free loopback port, from `runtime`: the server's tasks
/// run on the bench thread between the client's, so no request waits for
/// another thread to wake up. The address.
fn server(runtime: &tokio::runtime::Runtime) -> SocketAddr {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let answer = hyper::service::service_fn(|_: Request<Incoming>| async {
                    Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), answer)
                    .await;
            });
        }
    });
    address
}

/// The registry and a level filter, under every variant.
fn dispatch() -> Dispatch {
    Dispatch::new(tracing_subscriber::registry().with(LevelFilter::INFO))
}

/// The metrics-exporter-prometheus recorder, with the duration buckets
/// autotel's Prometheus exporter sets.
fn prometheus_recorder() -> PrometheusRecorder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), DEFAULT_DURATION_BUCKETS)
        .expect("the default duration buckets are valid")
        .build_recorder()
}

/// A reqwest client with `middleware` (none when `None`).
fn reqwest_client(
    middleware: Option<std::sync::Arc<dyn reqwest_middleware::Middleware>>,
) -> ClientWithMiddleware {
    let client = reqwest::Client::builder().build().expect("a client");
    let builder = reqwest_middleware::ClientBuilder::new(client);
    match middleware {
        Some(middleware) => builder.with_arc(middleware).build(),
        None => builder.build(),
    }
}

/// One request through a reqwest client, its answer read.
async fn reqwest_request(client: &ClientWithMiddleware, url: &str) {
    let answer = client.get(url).send().await.expect("an answer");
    let body = answer.bytes().await.expect("a body");
    assert_eq!(&body[..], b"ok");
}

/// One request through a tower client, its answer read.
async fn tower_request<S>(client: &mut S, url: &str)
where
    S: Service<Request<Empty<Bytes>>, Response = Response<Incoming>>,
    S::Error: std::fmt::Debug,
{
    let request = Request::get(url).body(Empty::new()).expect("a request");
    let answer = client
        .ready()
        .await
        .expect("ready")
        .call(request)
        .await
        .expect("an answer");
    let body = answer.into_body().collect().await.expect("a body");
    assert_eq!(&body.to_bytes()[..], b"ok");
}

/// Benchmarks `routine` under the dispatcher and `recorder`, inside an
/// enabled span, with `runtime` driving it on this thread; `after_batch`
/// runs after each timed batch and its time counts.
fn bench<F>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    recorder: &dyn Recorder,
    after_batch: &dyn Fn(),
    mut routine: impl FnMut() -> F,
) where
    F: std::future::Future<Output = ()>,
{
    let dispatch = dispatch();
    tracing::dispatcher::with_default(&dispatch, || {
        metrics::with_local_recorder(recorder, || {
            let _handler = tracing::info_span!("handler").entered();
            c.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let start = Instant::now();
                    runtime.block_on(async {
                        for _ in 0..iters {
                            routine().await;
                        }
                    });
                    after_batch();
                    start.elapsed()
                });
            });
        });
    });
}

/// Sends one request with `request` under the dispatcher and `recorder`,
/// and checks that the client duration reached the recorder, so that the
/// variant measures what it claims.
fn assert_records<F: std::future::Future<Output = ()>>(
    runtime: &tokio::runtime::Runtime,
    request: impl FnOnce() -> F,
) {
    let recorder = prometheus_recorder();
    tracing::dispatcher::with_default(&dispatch(), || {
        metrics::with_local_recorder(&recorder, || runtime.block_on(request()));
    });
    let text = recorder.handle().render();
    assert!(
        text.lines().any(
            |line| line.starts_with("http_client_request_duration_seconds_count{")
                && line.contains(r#"server_address="127.0.0.1""#)
                && line.contains(r#"http_response_status_code="200""#)
        ),
        "nothing recorded:\n{text}"
    );
}

fn http_client_request(c: &mut Criterion) {
    // This workspace builds reqwest's rustls without a crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let address = server(&runtime);
    let url = format!("http://{address}/items/7");
    let mut group = c.benchmark_group("http_client_request");
    let nothing = || {};

    let client = reqwest_client(None);
    bench(
        &mut group,
        "reqwest_floor",
        &runtime,
        &NoopRecorder,
        &nothing,
        || reqwest_request(&client, &url),
    );

    let client = reqwest_client(Some(std::sync::Arc::new(ReqwestMiddleware::new())));
    assert_records(&runtime, || reqwest_request(&client, &url));
    bench(
        &mut group,
        "reqwest_autotel_noop_recorder",
        &runtime,
        &NoopRecorder,
        &nothing,
        || reqwest_request(&client, &url),
    );

    let recorder = prometheus_recorder();
    let upkeep = || recorder.handle().run_upkeep();
    let client = reqwest_client(Some(std::sync::Arc::new(ReqwestMiddleware::new())));
    bench(
        &mut group,
        "reqwest_autotel_prometheus",
        &runtime,
        &recorder,
        &upkeep,
        || reqwest_request(&client, &url),
    );

    let client = reqwest_client(Some(std::sync::Arc::new(
        reqwest_tracing::TracingMiddleware::<reqwest_tracing::DefaultSpanBackend>::new(),
    )));
    bench(
        &mut group,
        "reqwest_tracing",
        &runtime,
        &NoopRecorder,
        &nothing,
        || reqwest_request(&client, &url),
    );

    let hyper: Client<_, Empty<Bytes>> =
        runtime.block_on(async { Client::builder(TokioExecutor::new()).build_http() });
    let url = url.as_str();
    bench(
        &mut group,
        "hyper_floor",
        &runtime,
        &NoopRecorder,
        &nothing,
        || {
            let mut client = hyper.clone();
            async move { tower_request(&mut client, url).await }
        },
    );

    let recorder = prometheus_recorder();
    let upkeep = || recorder.handle().run_upkeep();
    let traced = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(hyper);
    assert_records(&runtime, || {
        let mut client = traced.clone();
        async move { tower_request(&mut client, url).await }
    });
    bench(
        &mut group,
        "hyper_autotel_prometheus",
        &runtime,
        &recorder,
        &upkeep,
        || {
            let mut client = traced.clone();
            async move { tower_request(&mut client, url).await }
        },
    );
    group.finish();
}

/// Polls a future that needs no runtime to completion.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// The layer alone, without the network: a tower client whose inner service
/// answers 200 at once, so the added time is the layer's own (span, header
/// injection, `url.full`, metrics).
fn http_client_layer(c: &mut Criterion) {
    let mut group = c.benchmark_group("http_client_layer");
    let answer = tower::service_fn(|_: Request<()>| {
        std::future::ready(Ok::<_, Infallible>(Response::new(())))
    });
    let request = || {
        Request::get("http://inventory.internal:8080/items/7?page=2")
            .body(())
            .expect("a request")
    };
    let dispatch = dispatch();
    let prometheus = prometheus_recorder();
    let upkeep = || prometheus.handle().run_upkeep();
    let nothing = || {};
    // Name, recorder, what runs after each batch, whether the layer is on.
    type Variant<'a> = (&'a str, &'a dyn Recorder, &'a dyn Fn(), bool);
    let variants: [Variant<'_>; 3] = [
        ("floor", &NoopRecorder, &nothing, false),
        ("autotel_noop_recorder", &NoopRecorder, &nothing, true),
        ("autotel_prometheus", &prometheus, &upkeep, true),
    ];
    for (name, recorder, after_batch, layered) in variants {
        tracing::dispatcher::with_default(&dispatch, || {
            metrics::with_local_recorder(recorder, || {
                let _handler = tracing::info_span!("handler").entered();
                let mut plain = answer;
                let mut traced = ServiceBuilder::new()
                    .layer(HttpClientLayer::new())
                    .service(answer);
                group.bench_function(name, |b| {
                    b.iter_custom(|iters| {
                        let start = Instant::now();
                        for _ in 0..iters {
                            let response = if layered {
                                block_on(traced.call(request())).expect("an answer")
                            } else {
                                block_on(plain.call(request())).expect("an answer")
                            };
                            std::hint::black_box(response);
                        }
                        after_batch();
                        start.elapsed()
                    });
                });
            });
        });
    }
    group.finish();
}

criterion_group!(benches, http_client_request, http_client_layer);
criterion_main!(benches);
