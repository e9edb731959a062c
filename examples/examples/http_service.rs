//! An HTTP service that calls another one: one line of setup, `HttpLayer` on
//! an axum router, and `ReqwestMiddleware` on the reqwest client it calls the
//! other service with, so that one trace goes across both.
//!
//! ```text
//! cargo run -p autotel-examples --example http_service
//! ```
//!
//! It starts the service, sends it a few requests (one with a `traceparent`
//! header, one that fails, one to a page that does not exist, one order that
//! calls the user service), and ends by printing the HTTP metrics. With
//! `-- --serve` it keeps serving until Ctrl-C:
//!
//! ```text
//! cargo run -p autotel-examples --example http_service -- --serve
//! curl localhost:3000/users/42
//! curl -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01' localhost:3000/users/7
//! curl localhost:3000/fail
//! curl localhost:3000/orders/42
//! curl localhost:9464/metrics
//! ```
//!
//! Two of them make two services: one serves the users, the other takes the
//! orders and asks the first for each order's user (`BACKEND_URL`):
//!
//! ```text
//! SERVICE_NAME=users HTTP_PORT=3001 PROMETHEUS_PORT=9465 \
//!   cargo run -p autotel-examples --example http_service -- --serve
//! SERVICE_NAME=orders BACKEND_URL=http://127.0.0.1:3001 \
//!   cargo run -p autotel-examples --example http_service -- --serve
//! curl localhost:3000/orders/42        # one trace: orders, then users
//! curl localhost:3000/orders/fail      # the users service answers 503
//! curl localhost:3000/orders/slow      # the users service is too slow
//! ```
//!
//! With `GREETER_URL` it also greets each order's user through a gRPC
//! greeter (`grpc_greeter -- --serve`), with `GrpcLayer::client()` on the
//! tonic channel, so that one trace goes across three services, over HTTP
//! and gRPC:
//!
//! ```text
//! GRPC_PORT=50051 cargo run -p autotel-examples --example grpc_greeter -- --serve
//! SERVICE_NAME=orders BACKEND_URL=http://127.0.0.1:3001 GREETER_URL=http://127.0.0.1:50051 \
//!   cargo run -p autotel-examples --example http_service -- --serve
//! curl localhost:3000/orders/42        # orders, then users, then the greeter
//! ```
//!
//! With `-- --serve --traffic` it also sends itself a few requests a second
//! (one in five fails), so that dashboards and alerts have data to show.
//!
//! Each request gets a span with the OpenTelemetry HTTP attributes, continues
//! the caller's trace when it sends a `traceparent` header (with its
//! `tracestate` and `baggage`), and is counted in
//! `http_server_request_duration_seconds{http_request_method, http_route,
//! http_response_status_code}` under its route template (`/users/{id}`), never
//! its raw path. Each call to the other service gets a client span whose ids
//! go in the request's `traceparent` header, and is counted in
//! `http_client_request_duration_seconds{http_request_method, server_address,
//! http_response_status_code, error_type}`: a 503, a timeout (after 500 ms)
//! or a refused connection is an error, with its `error_type`. Log lines
//! written while handling a request carry its trace ids, in both services.
//! The system sampler measures the service's tokio runtime (`tokio_workers`,
//! `tokio_alive_tasks`, `tokio_global_queue_depth`). `HTTP_PORT` sets the
//! service's port (3000 with `--serve`, any free one otherwise);
//! `BACKEND_URL` the service that orders call (this one when unset); the
//! presets' variables (`SERVICE_NAME`, `ENVIRONMENT`, `PROMETHEUS_PORT`,
//! `OTLP_ENDPOINT`, ...) work as in the quickstart.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

use autotel_examples::greeter::{GreeterClient, HelloRequest};
use autotel_presets::autotel_layers::grpc::{GrpcLayer, GrpcService};
use autotel_presets::autotel_layers::http::{HttpLayer, ReqwestMiddleware};
use axum::Router;
use axum::extract::{MatchedPath, Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use reqwest_middleware::ClientWithMiddleware;
use tonic::transport::{Channel, Endpoint};
use tower::ServiceBuilder;
use tracing::{info, instrument, warn};

/// The greeter's client, every call of it through `GrpcLayer::client()`.
type Greeter = GreeterClient<GrpcService<Channel>>;

/// How orders reach the user service, and the greeter when there is one.
struct Backend {
    client: ClientWithMiddleware,
    url: String,
    greeter: Option<Greeter>,
}

#[instrument]
async fn user(Path(id): Path<u64>) -> String {
    info!(user_id = id, "found user");
    format!("user {id}\n")
}

async fn fail() -> (StatusCode, &'static str) {
    warn!("the user store is down");
    (StatusCode::SERVICE_UNAVAILABLE, "try again later\n")
}

/// A user store that takes two seconds, longer than callers wait.
async fn slow() -> &'static str {
    tokio::time::sleep(Duration::from_secs(2)).await;
    "too late\n"
}

async fn order(State(backend): State<Arc<Backend>>, Path(id): Path<u64>) -> (StatusCode, String) {
    let (status, text) = ask(&backend, &format!("/users/{id}")).await;
    match &backend.greeter {
        Some(greeter) if status == StatusCode::OK => {
            let greeting = greet(greeter.clone(), id).await;
            (status, format!("{text}{greeting}"))
        }
        _ => (status, text),
    }
}

/// Asks the greeter to greet user `id`; the client span and the
/// `traceparent` metadata come from `GrpcLayer::client()`.
#[instrument(skip(greeter))]
async fn greet(mut greeter: Greeter, id: u64) -> String {
    let request = HelloRequest {
        name: format!("user {id}"),
        count: 0,
    };
    match greeter.say_hello(request).await {
        Ok(reply) => {
            info!("the greeter answered");
            format!("{}\n", reply.message)
        }
        Err(status) => {
            warn!(code = ?status.code(), reason = status.message(), "the greeter failed");
            String::new()
        }
    }
}

async fn order_fail(State(backend): State<Arc<Backend>>) -> (StatusCode, String) {
    ask(&backend, "/fail").await
}

async fn order_slow(State(backend): State<Arc<Backend>>) -> (StatusCode, String) {
    ask(&backend, "/slow").await
}

/// Asks the user service; the client span and the `traceparent` header come
/// from the middleware.
#[instrument(skip(backend))]
async fn ask(backend: &Backend, path: &str) -> (StatusCode, String) {
    match backend
        .client
        .get(format!("{}{path}", backend.url))
        .send()
        .await
    {
        Ok(answer) if answer.status().is_success() => {
            let user = answer.text().await.unwrap_or_default();
            info!("the user service answered");
            (StatusCode::OK, format!("order for {user}"))
        }
        Ok(answer) => {
            warn!(status = answer.status().as_u16(), "the user service failed");
            (StatusCode::BAD_GATEWAY, "the user service failed\n".into())
        }
        Err(error) => {
            warn!(%error, "the user service cannot be reached");
            (
                StatusCode::BAD_GATEWAY,
                "the user service cannot be reached\n".into(),
            )
        }
    }
}

fn main() {
    // Telemetry starts outside the runtime, so it is handed the runtime to
    // measure (`tokio_workers`, `tokio_alive_tasks`,
    // `tokio_global_queue_depth`, feature `tokio` of autotel-presets). Inside
    // `#[tokio::main]`, `init()` finds the runtime by itself.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let telemetry = autotel_presets::from_env("http_service")
        .service_version(env!("CARGO_PKG_VERSION"))
        .with_tokio_runtime(runtime.handle().clone())
        .init();

    let serve = std::env::args().any(|arg| arg == "--serve");
    let port = match std::env::var("HTTP_PORT") {
        Ok(text) => text.parse::<u16>().unwrap_or_else(|_| {
            eprintln!("HTTP_PORT='{text}' is not a port number");
            std::process::exit(2);
        }),
        Err(_) if serve => 3000,
        Err(_) => 0,
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)))
        .unwrap_or_else(|e| panic!("cannot listen on port {port}: {e}"));
    let address: SocketAddr = listener.local_addr().expect("a bound address");

    // This workspace builds reqwest's rustls without a crypto provider; an
    // application with reqwest's default features needs no such line.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("a reqwest client");
    let backend = Arc::new(Backend {
        client: reqwest_middleware::ClientBuilder::new(client)
            .with(ReqwestMiddleware::new())
            .build(),
        url: std::env::var("BACKEND_URL").unwrap_or_else(|_| format!("http://{address}")),
        greeter: std::env::var("GREETER_URL").ok().map(|url| {
            // A lazy channel connects on its first call, on this runtime.
            let _runtime = runtime.enter();
            let channel = Endpoint::from_shared(url.clone())
                .unwrap_or_else(|e| {
                    eprintln!("GREETER_URL='{url}' is not a gRPC endpoint: {e}");
                    std::process::exit(2);
                })
                .connect_lazy();
            GreeterClient::new(
                ServiceBuilder::new()
                    .layer(GrpcLayer::client())
                    .service(channel),
            )
        }),
    });
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route("/fail", get(fail))
        .route("/slow", get(slow))
        .route("/orders/{id}", get(order))
        .route("/orders/fail", get(order_fail))
        .route("/orders/slow", get(order_slow))
        .with_state(backend)
        .layer(
            HttpLayer::new()
                .with_route(|extensions| extensions.get::<MatchedPath>().map(MatchedPath::as_str)),
        );

    if serve {
        eprintln!("serving http://{address}, Ctrl-C to stop");
        if let Some(metrics) = telemetry.prometheus_address() {
            eprintln!("metrics on http://127.0.0.1:{}/metrics", metrics.port());
        }
        if std::env::args().any(|arg| arg == "--traffic") {
            std::thread::spawn(move || traffic(address));
        }
        runtime.block_on(async {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
                .expect("the server runs");
        });
        return;
    }

    runtime.spawn(async move { axum::serve(listener, app).await });
    let traceparent = "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01\r\n";
    for (path, headers) in [
        ("/users/42", ""),
        ("/users/7", traceparent),
        ("/fail", ""),
        ("/no/such/page", ""),
        ("/orders/42", ""),
    ] {
        let status = request(address, path, headers).expect("the service answers");
        eprintln!("GET {path}: {status}");
    }
    telemetry.flush();
    let text = telemetry.metrics_text().unwrap_or_default();
    let shown = |line: &&str| {
        line.contains("http_server_")
            || line.contains("http_client_")
            || line.starts_with("tokio_workers")
    };
    for line in text.lines().filter(shown) {
        println!("{line}");
    }
    std::io::stdout().flush().expect("stdout is writable");
    // Dropping `telemetry` flushes the last lines and exports.
}

/// `GET path` over HTTP/1.1 with extra `headers`; the status line.
fn request(address: SocketAddr, path: &str, headers: &str) -> std::io::Result<String> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\n{headers}Connection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer.lines().next().unwrap_or_default().to_owned())
}

/// Requests to the service every 200 ms, forever: users and orders, and one
/// in five to a failing page.
fn traffic(address: SocketAddr) {
    for round in 0u64.. {
        let path = match round % 10 {
            4 => "/fail".to_owned(),
            9 => "/orders/fail".to_owned(),
            n if n % 2 == 0 => format!("/orders/{}", round % 100),
            _ => format!("/users/{}", round % 100),
        };
        if let Err(error) = request(address, &path, "") {
            eprintln!("GET {path} failed: {error}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
