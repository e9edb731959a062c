//! What the gRPC middleware costs per unary call, against bare tonic, in one
//! run.
//!
//! Every variant makes one `SayHello` call of the examples' greeter
//! (`autotel_examples::greeter`, prost messages, tonic's codec) from a tonic
//! client to a tonic server over loopback TCP and HTTP/2, and checks the
//! answer. Server and client run on one current-thread tokio runtime on the
//! bench thread, so that the scoped dispatcher (the registry and
//! `LevelFilter::INFO`) and the local `metrics` recorder apply to both ends:
//!
//! - `bare_tonic`: no middleware, the no-op recorder;
//! - `autotel_grpc_layers_noop_recorder`: `GrpcLayer::server()` on the server
//!   and `GrpcLayer::client()` around the channel (two spans, a `traceparent`
//!   sent and read, the status read from the trailers on both sides, two
//!   histogram recordings), into the no-op recorder;
//! - `autotel_grpc_layers_prometheus`: the same, into the
//!   metrics-exporter-prometheus recorder (the time of folding the histogram
//!   samples into buckets is included, once per batch).
//!
//! ```text
//! cargo bench -p autotel-benches --bench grpc -- --warm-up-time 2 --measurement-time 5
//! ```

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use autotel_benches::{bench_scoped, dispatch, nothing, prometheus_recorder};
use autotel_examples::greeter::{GreeterClient, GreeterServer, HelloRequest};
use autotel_layers::grpc::GrpcLayer;
use criterion::{Criterion, criterion_group, criterion_main};
use metrics::NoopRecorder;
use tokio::runtime::Runtime;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tower::ServiceBuilder;

/// The request of every call.
fn request() -> HelloRequest {
    HelloRequest {
        name: "Ada".into(),
        count: 0,
    }
}

/// Starts the greeter on a free loopback port, behind `GrpcLayer::server()`
/// when `traced`, and returns a channel connected to it.
fn start(runtime: &Runtime, traced: bool) -> Channel {
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("a loopback port");
        let address: SocketAddr = listener.local_addr().expect("a bound address");
        let incoming = TcpIncoming::from(listener);
        if traced {
            let server = Server::builder()
                .layer(GrpcLayer::server())
                .add_service(GreeterServer)
                .serve_with_incoming(incoming);
            tokio::spawn(server);
        } else {
            let server = Server::builder()
                .add_service(GreeterServer)
                .serve_with_incoming(incoming);
            tokio::spawn(server);
        }
        Endpoint::from_shared(format!("http://{address}"))
            .expect("a valid endpoint")
            .connect()
            .await
            .expect("the greeter accepts the connection")
    })
}

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// One unary call through the floor and autotel.
fn grpc_unary(c: &mut Criterion) {
    let mut group = c.benchmark_group("grpc_unary");
    let dispatch = dispatch();
    let runtime = runtime();

    let mut client = GreeterClient::new(start(&runtime, false));
    let mut call = || {
        let reply = runtime.block_on(client.say_hello(request()));
        black_box(reply.expect("the greeter answers"));
    };
    bench_scoped(
        &mut group,
        "bare_tonic",
        &dispatch,
        &NoopRecorder,
        &nothing,
        &mut call,
    );

    let traced = |runtime: &Runtime| {
        GreeterClient::new(
            ServiceBuilder::new()
                .layer(GrpcLayer::client())
                .service(start(runtime, true)),
        )
    };
    let mut client = traced(&runtime);
    let mut call = || {
        let reply = runtime.block_on(client.say_hello(request()));
        black_box(reply.expect("the greeter answers"));
    };
    bench_scoped(
        &mut group,
        "autotel_grpc_layers_noop_recorder",
        &dispatch,
        &NoopRecorder,
        &nothing,
        &mut call,
    );

    let prometheus = prometheus_recorder();
    let handle = prometheus.handle();
    let mut client = traced(&runtime);
    let mut call = || {
        let reply = runtime.block_on(client.say_hello(request()));
        black_box(reply.expect("the greeter answers"));
    };
    bench_scoped(
        &mut group,
        "autotel_grpc_layers_prometheus",
        &dispatch,
        &prometheus,
        &|| handle.run_upkeep(),
        &mut call,
    );
    // The variant measured something: both sides recorded every call.
    let exposition = handle.render();
    for side in ["server", "client"] {
        let recorded = exposition.lines().any(|line| {
            line.starts_with(&format!("rpc_{side}_duration_seconds_count{{"))
                && line.contains(r#"rpc_method="SayHello""#)
                && line.contains(r#"rpc_grpc_status_code="0""#)
        });
        assert!(
            recorded,
            "the {side} layer recorded nothing into the Prometheus recorder:\n{exposition}"
        );
    }

    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(5));
    targets = grpc_unary
}
criterion_main!(benches);
