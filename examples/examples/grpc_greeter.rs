//! A gRPC greeter: a tonic server and a tonic client in one process, each
//! behind `GrpcLayer`, under the production preset.
//!
//! ```text
//! cargo run -p autotel-examples --example grpc_greeter
//! ```
//!
//! It starts the server on a loopback port, and the client calls it three
//! times inside one `greet_everyone` span: `SayHello` for Ada (answered),
//! `SayHello` for nobody (`NOT_FOUND`), and `SayHelloStream` asking Grace for
//! five greetings (three arrive, then the stream ends with
//! `RESOURCE_EXHAUSTED`). It ends by printing the RPC metrics. With
//! `-- --serve` it keeps serving until Ctrl-C, and with `-- --serve
//! --traffic` it also calls itself a few times a second, so that dashboards
//! and alerts have data to show.
//!
//! Each call gets a client span (`gRPC client`) and a server span
//! (`gRPC server`), both named `helloworld.Greeter/SayHello` in the exported
//! trace: the client sends a `traceparent` naming its span, and the server
//! continues that trace, so one trace spans the caller's span, the client
//! call and the server's work. The gRPC status, read from the trailers (of a
//! stream too), decides whether a call failed, although the HTTP status of
//! every answer is 200; the durations are in
//! `rpc_server_duration_seconds` and `rpc_client_duration_seconds{rpc_system,
//! rpc_service, rpc_method, rpc_grpc_status_code}`. `GRPC_PORT` sets the
//! server's port (50051 with `--serve`, any free one otherwise); the presets'
//! variables (`PROMETHEUS_PORT`, `OTLP_ENDPOINT`, ...) work as in the
//! quickstart.
//!
//! The greeter's messages, server and client are written by hand with prost
//! and tonic, in `autotel_examples::greeter`: no `protoc` is needed.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use autotel_examples::greeter::{GreeterClient, GreeterServer, HelloRequest, NOBODY};
use autotel_presets::autotel_layers::grpc::{GrpcLayer, GrpcService};
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tower::ServiceBuilder;
use tracing::{info, instrument, warn};

/// The client, every call of it through `GrpcLayer::client()`.
type Client = GreeterClient<GrpcService<Channel>>;

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let telemetry = autotel_presets::production("grpc_greeter")
        .service_version(env!("CARGO_PKG_VERSION"))
        .with_tokio_runtime(runtime.handle().clone())
        .init();

    let serve = std::env::args().any(|arg| arg == "--serve");
    let port = match std::env::var("GRPC_PORT") {
        Ok(text) => text.parse::<u16>().unwrap_or_else(|_| {
            eprintln!("GRPC_PORT='{text}' is not a port number (1-65535, or 0 for any free one)");
            std::process::exit(2);
        }),
        Err(_) if serve => 50051,
        Err(_) => 0,
    };
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, port)))
        .unwrap_or_else(|e| panic!("cannot listen on port {port}: {e}"));
    let address: SocketAddr = listener.local_addr().expect("a bound address");
    let server = Server::builder()
        .layer(GrpcLayer::server())
        .add_service(GreeterServer)
        .serve_with_incoming(TcpIncoming::from(listener));
    runtime.spawn(async move {
        if let Err(error) = server.await {
            eprintln!("the gRPC server stopped: {error}");
        }
    });

    let channel = runtime.block_on(async {
        Endpoint::from_shared(format!("http://{address}"))
            .expect("a valid endpoint")
            .connect_lazy()
    });
    let client = GreeterClient::new(
        ServiceBuilder::new()
            .layer(GrpcLayer::client())
            .service(channel),
    );

    if serve {
        eprintln!("serving grpc://{address}, Ctrl-C to stop");
        if let Some(metrics) = telemetry.prometheus_address() {
            eprintln!("metrics on http://127.0.0.1:{}/metrics", metrics.port());
        }
        if std::env::args().any(|arg| arg == "--traffic") {
            runtime.spawn(traffic(client));
        }
        runtime.block_on(async {
            let _ = tokio::signal::ctrl_c().await;
        });
        return;
    }

    runtime.block_on(greet_everyone(client));
    telemetry.flush();
    let text = telemetry.metrics_text().unwrap_or_default();
    let shown = |line: &&str| line.starts_with("rpc_") && line.contains("_count{");
    for line in text.lines().filter(shown) {
        println!("{line}");
    }
    std::io::stdout().flush().expect("stdout is writable");
    // Dropping `telemetry` flushes the last lines and exports.
}

/// Ada is greeted, nobody is not found, and Grace's stream of five
/// greetings ends with an error after three.
#[instrument(skip_all)]
async fn greet_everyone(mut client: Client) {
    for name in ["Ada", NOBODY] {
        hello(&mut client, name).await;
    }
    let request = HelloRequest {
        name: "Grace".into(),
        count: 5,
    };
    let mut stream = match client.say_hello_stream(request).await {
        Ok(stream) => stream,
        Err(status) => {
            warn!(code = ?status.code(), reason = status.message(), "SayHelloStream refused");
            return;
        }
    };
    loop {
        match stream.message().await {
            Ok(Some(reply)) => info!(reply = reply.message, "streamed greeting"),
            Ok(None) => break,
            Err(status) => {
                warn!(code = ?status.code(), reason = status.message(), "the stream ended with an error");
                break;
            }
        }
    }
}

/// Calls `SayHello` for `name` and logs the answer.
async fn hello(client: &mut Client, name: &str) {
    let request = HelloRequest {
        name: name.into(),
        count: 0,
    };
    match client.say_hello(request).await {
        Ok(reply) => info!(reply = reply.message, "answered"),
        Err(status) => {
            warn!(code = ?status.code(), reason = status.message(), "SayHello refused");
        }
    }
}

/// Calls the server every 200 ms, forever: `SayHello` for a few names, one
/// in five for nobody, and every tenth call a stream that ends in an error.
async fn traffic(mut client: Client) {
    let names = ["Ada", "Grace", "Edsger", "Barbara"];
    for round in 0u64.. {
        let name = names[(round % 4) as usize];
        if round % 10 == 9 {
            greet_everyone(client.clone()).await;
        } else if round % 5 == 4 {
            hello(&mut client, NOBODY).await;
        } else {
            hello(&mut client, name).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
