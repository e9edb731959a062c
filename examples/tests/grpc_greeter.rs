//! `GrpcLayer` between a real tonic server and client on loopback: the
//! grpc_greeter example exports one trace that spans both to a real OTLP
//! receiver and prints the RPC metrics; in the test harness, a `NOT_FOUND`
//! answer is an error with code 5 while its HTTP status is 200, and a stream
//! that ends with an error status counts as that error on both sides.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Output;

use autotel_examples::greeter::{GreeterClient, GreeterServer, HelloRequest, NOBODY};
use autotel_presets::autotel_layers::grpc::{GrpcLayer, GrpcService};
use autotel_presets::autotel_layers::http::HttpLayer;
use autotel_presets::autotel_layers::testing::{FieldValue, Harness, Run};
use autotel_test_support::examples::example;
use autotel_test_support::otlp::{attribute, items};
use autotel_test_support::peers::TestAgent;
use autotel_test_support::scrape::value;
use serde_json::Value;
use tonic::Code;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tower::ServiceBuilder;

/// Runs the example once with `vars`.
fn greeter(vars: &[(&str, &str)]) -> Output {
    let output = example("grpc_greeter")
        .env("PROMETHEUS_PORT", "0")
        .envs(vars.iter().copied())
        .output()
        .expect("grpc_greeter runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn the_example_prints_the_calls_of_both_sides_by_method_and_status() {
    let output = greeter(&[]);
    let stdout = String::from_utf8(output.stdout).unwrap();
    let metrics: String = stdout
        .lines()
        .filter(|line| line.starts_with("rpc_"))
        .map(|line| format!("{line}\n"))
        .collect();
    for side in ["server", "client"] {
        let count = |method: &str, code: &str| {
            value(
                &metrics,
                &format!(
                    "rpc_{side}_duration_seconds_count{{rpc_system=\"grpc\",\
                     rpc_service=\"helloworld.Greeter\",rpc_method=\"{method}\",\
                     rpc_grpc_status_code=\"{code}\"}}"
                ),
            )
        };
        assert_eq!(count("SayHello", "0"), 1.0, "{side}: Ada\n{metrics}");
        assert_eq!(count("SayHello", "5"), 1.0, "{side}: nobody");
        assert_eq!(count("SayHelloStream", "8"), 1.0, "{side}: the stream");
    }
    // The log lines of every call carry the one trace of the run.
    let traces: Vec<String> = stdout
        .lines()
        .filter(|line| line.starts_with('{'))
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter_map(|line| line["trace_id"].as_str().map(str::to_owned))
        .collect();
    assert!(traces.len() >= 8, "{stdout}");
    assert!(traces.iter().all(|t| *t == traces[0]), "{traces:?}");
}

/// Whether an exported span is of `kind` (`SERVER`, `CLIENT`), whichever
/// way the receiver writes the enum.
fn is_kind(span: &Value, kind: &str) -> bool {
    let number = match kind {
        "SERVER" => 2,
        "CLIENT" => 3,
        _ => -1,
    };
    span["kind"] == number || span["kind"].as_str().is_some_and(|k| k.ends_with(kind))
}

#[test]
fn one_trace_spans_client_and_server_at_a_real_otlp_receiver() {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let endpoint = format!("http://{}", agent.http);
    greeter(&[("OTLP_ENDPOINT", &endpoint)]);

    let traces = agent.received("traces", |v| {
        items(v, "spans", "spans")
            .iter()
            .filter(|(_, span)| span["name"] == "helloworld.Greeter/SayHelloStream")
            .count()
            >= 2
    });
    let spans: Vec<Value> = items(&traces, "spans", "spans")
        .into_iter()
        .map(|(_, span)| span)
        .collect();
    let named = |name: &str, kind: &str| -> Vec<&Value> {
        spans
            .iter()
            .filter(|span| span["name"] == name && is_kind(span, kind))
            .collect()
    };
    let caller = spans
        .iter()
        .find(|span| span["name"] == "greet_everyone")
        .unwrap_or_else(|| panic!("no greet_everyone span in {traces}"));
    let servers: Vec<&Value> = [
        "helloworld.Greeter/SayHello",
        "helloworld.Greeter/SayHelloStream",
    ]
    .iter()
    .flat_map(|name| named(name, "SERVER"))
    .collect();
    assert_eq!(servers.len(), 3, "{traces}");
    for server in &servers {
        let client = spans
            .iter()
            .find(|span| span["span_id"] == server["parent_span_id"])
            .unwrap_or_else(|| panic!("no parent of {server} in {traces}"));
        assert!(is_kind(client, "CLIENT"), "{client}");
        assert_eq!(client["name"], server["name"]);
        assert_eq!(client["trace_id"], caller["trace_id"]);
        assert_eq!(server["trace_id"], caller["trace_id"]);
        assert_eq!(client["parent_span_id"], caller["span_id"]);
        for key in ["rpc.system", "rpc.service", "rpc.method"] {
            assert_eq!(
                attribute(&server["attributes"], key),
                attribute(&client["attributes"], key),
                "{key}"
            );
        }
        assert_eq!(
            attribute(&server["attributes"], "rpc.system").as_deref(),
            Some("grpc")
        );
    }
    let code = |span: &Value| {
        attribute(&span["attributes"], "rpc.grpc.status_code")
            .map(|code| code.trim_matches('"').to_owned())
    };
    let not_found = servers
        .iter()
        .find(|span| code(span).as_deref() == Some("5"))
        .unwrap_or_else(|| panic!("no NOT_FOUND call in {traces}"));
    assert!(
        not_found["status"].to_string().contains("ERROR") || not_found["status"]["code"] == 2,
        "{not_found}"
    );
    let ok = servers
        .iter()
        .find(|span| code(span).as_deref() == Some("0"))
        .unwrap_or_else(|| panic!("no OK call in {traces}"));
    assert!(
        !ok["status"].to_string().contains("ERROR") && ok["status"]["code"] != 2,
        "{ok}"
    );
}

/// A tonic server with both middlewares, HTTP outside gRPC, on a free
/// loopback port; the client through `GrpcLayer::client()`.
async fn start() -> GreeterClient<GrpcService<Channel>> {
    let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .unwrap();
    let address: SocketAddr = listener.local_addr().unwrap();
    let server = Server::builder()
        .layer(HttpLayer::new())
        .layer(GrpcLayer::server())
        .add_service(GreeterServer)
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(server);
    let channel = Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_lazy();
    GreeterClient::new(
        ServiceBuilder::new()
            .layer(GrpcLayer::client())
            .service(channel),
    )
}

/// Runs `calls` against a fresh server in the harness, on one thread, and
/// returns what they recorded once the runtime has stopped.
fn in_harness<F: Future<Output = ()>>(calls: impl FnOnce() -> F) -> Run {
    let harness = Harness::new();
    harness.run(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(calls());
    });
    harness.finish()
}

fn spans<'a>(run: &'a Run, name: &str, method: &str) -> Vec<&'a FieldValue> {
    run.spans()
        .iter()
        .filter(|span| {
            span.name() == name && span.field("rpc.method") == Some(&FieldValue::Str(method.into()))
        })
        .filter_map(|span| span.field("rpc.grpc.status_code"))
        .collect()
}

#[test]
fn not_found_is_an_error_with_code_5_while_the_http_status_is_200() {
    let run = in_harness(|| async {
        let mut client = start().await;
        let ada = HelloRequest {
            name: "Ada".into(),
            count: 0,
        };
        assert_eq!(client.say_hello(ada).await.unwrap().message, "Hello, Ada!");
        let nobody = HelloRequest {
            name: NOBODY.into(),
            count: 0,
        };
        let status = client.say_hello(nobody).await.unwrap_err();
        assert_eq!(status.code(), Code::NotFound);
    });
    assert_eq!(
        run.histogram(
            "http_server_request_duration_seconds",
            &[("http_response_status_code", "200")]
        )
        .len(),
        2,
        "both answers are HTTP 200"
    );
    for side in ["server", "client"] {
        let count = |code| {
            run.histogram(
                &format!("rpc_{side}_duration_seconds"),
                &[
                    ("rpc_system", "grpc"),
                    ("rpc_service", "helloworld.Greeter"),
                    ("rpc_method", "SayHello"),
                    ("rpc_grpc_status_code", code),
                ],
            )
            .len()
        };
        assert_eq!((count("0"), count("5")), (1, 1), "{side}");
        assert_eq!(
            run.counter(
                "span_errors_total",
                &[
                    ("span_name", &format!("gRPC {side}")),
                    ("error_type", "NOT_FOUND")
                ]
            ),
            1,
            "{side}"
        );
    }
    assert_eq!(
        spans(&run, "gRPC server", "SayHello"),
        [&FieldValue::U64(0), &FieldValue::U64(5)]
    );
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "HTTP request"), ("status", "error")]
        ),
        0,
        "the HTTP layer sees two successes"
    );
}

#[test]
fn a_stream_that_ends_with_an_error_status_counts_as_that_error() {
    let run = in_harness(|| async {
        let mut client = start().await;
        let grace = HelloRequest {
            name: "Grace".into(),
            count: 5,
        };
        let mut stream = client.say_hello_stream(grace).await.unwrap();
        let mut greetings = 0;
        let status = loop {
            match stream.message().await {
                Ok(Some(_)) => greetings += 1,
                Ok(None) => panic!("the stream ended without its error"),
                Err(status) => break status,
            }
        };
        assert_eq!(greetings, 3);
        assert_eq!(status.code(), Code::ResourceExhausted);
    });
    for side in ["server", "client"] {
        assert_eq!(
            run.histogram(
                &format!("rpc_{side}_duration_seconds"),
                &[
                    ("rpc_method", "SayHelloStream"),
                    ("rpc_grpc_status_code", "8")
                ]
            )
            .len(),
            1,
            "{side}"
        );
        assert_eq!(
            spans(&run, &format!("gRPC {side}"), "SayHelloStream"),
            [&FieldValue::U64(8)],
            "{side}"
        );
        assert_eq!(
            run.counter(
                "span_errors_total",
                &[
                    ("span_name", &format!("gRPC {side}")),
                    ("error_type", "RESOURCE_EXHAUSTED")
                ]
            ),
            1,
            "{side}"
        );
    }
}
