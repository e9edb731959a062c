//! `GrpcLayer` around a tower service that answers as a gRPC server does
//! (status in the trailers, or in the head of a trailers-only answer),
//! driven in the test harness: spans, the status deciding the error, the
//! duration metrics, streaming, cancellation, trace context and the series
//! cap. `examples/tests/grpc_greeter.rs` runs it between a real tonic server
//! and client.
#![cfg(feature = "grpc")]

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, Waker};

use autotel_layers::grpc::GrpcLayer;
use autotel_layers::testing::{FieldValue, Harness, Run};
use autotel_layers::{TraceContext, TraceParent};
use autotel_test_support::task::{block_on, poll_once};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame};
use tower::{Service, ServiceBuilder, ServiceExt};

/// A response body: its frames in order, then its end.
struct Frames(VecDeque<Result<Frame<&'static [u8]>, std::io::Error>>);

impl Body for Frames {
    type Data = &'static [u8];
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(self.0.pop_front())
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_empty()
    }
}

fn status(code: &'static str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("grpc-status", HeaderValue::from_static(code));
    headers
}

fn message() -> Result<Frame<&'static [u8]>, std::io::Error> {
    Ok(Frame::data(b"\0\0\0\0\x02hi".as_slice()))
}

fn trailers(code: &'static str) -> Result<Frame<&'static [u8]>, std::io::Error> {
    Ok(Frame::trailers(status(code)))
}

/// Answers as a gRPC server would, after the method in the path.
async fn server(request: Request<()>) -> Result<Response<Frames>, std::io::Error> {
    let method = request.uri().path().rsplit('/').next().unwrap_or_default();
    let mut head = Response::builder();
    let frames = match method {
        "SayHello" => vec![message(), trailers("0")],
        "Missing" => vec![trailers("5")],
        "TrailersOnly" => {
            head = head.header("grpc-status", "5");
            vec![]
        }
        "Stream" => vec![message(), message(), message(), trailers("8")],
        "NoStatus" => vec![message()],
        "BrokenBody" => vec![message(), Err(std::io::Error::other("reset"))],
        "Proxy" => {
            head = head.status(StatusCode::SERVICE_UNAVAILABLE);
            vec![]
        }
        "Fail" => return Err(std::io::Error::other("the handler is gone")),
        _ => vec![trailers("12")],
    };
    Ok(head.body(Frames(frames.into())).unwrap())
}

fn request(path: &str) -> Request<()> {
    Request::builder().uri(path).body(()).unwrap()
}

/// Calls `path` through the layer and reads the whole response body; the
/// number of data frames read.
fn call<S, B>(service: &mut S, path: &str) -> Result<usize, S::Error>
where
    S: Service<Request<()>, Response = Response<B>>,
    B: Body,
{
    let response = block_on(block_on(service.ready())?.call(request(path)))?;
    let mut body = pin!(response.into_body());
    let mut messages = 0;
    while let Poll::Ready(Some(frame)) = next_frame(body.as_mut()) {
        if frame.is_ok_and(|frame| frame.is_data()) {
            messages += 1;
        }
    }
    Ok(messages)
}

/// Reads a body to its end.
fn drain<B: Body>(body: B) {
    let mut body = pin!(body);
    while let Poll::Ready(Some(_)) = next_frame(body.as_mut()) {}
}

/// What polling a body for a frame gives.
type Polled<B> = Poll<Option<Result<Frame<<B as Body>::Data>, <B as Body>::Error>>>;

/// Polls a body once for its next frame.
fn next_frame<B: Body>(body: Pin<&mut B>) -> Polled<B> {
    body.poll_frame(&mut Context::from_waker(Waker::noop()))
}

/// Calls each path through a server layer, in the harness.
fn serve(layer: GrpcLayer, paths: &[&str]) -> Run {
    let harness = Harness::new();
    harness.run(|| {
        let mut service = ServiceBuilder::new().layer(layer).service_fn(server);
        for path in paths {
            let _ = call(&mut service, path);
        }
    });
    harness.finish()
}

fn durations(run: &Run, labels: &[(&str, &str)]) -> usize {
    run.histogram("rpc_server_duration_seconds", labels).len()
}

fn field(run: &Run, index: usize, name: &str) -> Option<FieldValue> {
    let spans: Vec<_> = run
        .spans()
        .iter()
        .filter(|span| span.name() == "gRPC server")
        .collect();
    spans[index].field(name).cloned()
}

fn text(value: &str) -> Option<FieldValue> {
    Some(FieldValue::Str(value.into()))
}

#[test]
fn a_call_gets_a_span_with_the_rpc_attributes_and_a_duration() {
    let run = serve(GrpcLayer::server(), &["/helloworld.Greeter/SayHello"]);
    let span = run.span("gRPC server").expect("a call span");
    assert_eq!(span.target(), "autotel::grpc");
    assert_eq!(
        span.field("otel.name"),
        text("helloworld.Greeter/SayHello").as_ref()
    );
    for (name, value) in [
        ("otel.kind", "server"),
        ("rpc.system", "grpc"),
        ("rpc.service", "helloworld.Greeter"),
        ("rpc.method", "SayHello"),
    ] {
        assert_eq!(span.field(name), text(value).as_ref(), "{name}");
    }
    assert_eq!(
        span.field("rpc.grpc.status_code"),
        Some(&FieldValue::U64(0))
    );
    assert_eq!(span.field("otel.status_code"), None);
    assert_eq!(
        durations(
            &run,
            &[
                ("rpc_system", "grpc"),
                ("rpc_service", "helloworld.Greeter"),
                ("rpc_method", "SayHello"),
                ("rpc_grpc_status_code", "0"),
            ]
        ),
        1
    );
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "gRPC server"), ("status", "ok")]
        ),
        1
    );
}

#[test]
fn the_grpc_status_decides_the_error_whatever_the_http_status() {
    let run = serve(
        GrpcLayer::server(),
        &[
            "/helloworld.Greeter/Missing",
            "/helloworld.Greeter/TrailersOnly",
            "/helloworld.Greeter/Proxy",
        ],
    );
    // Both NOT_FOUND answers came with HTTP 200.
    for index in 0..2 {
        assert_eq!(
            field(&run, index, "rpc.grpc.status_code"),
            Some(FieldValue::U64(5))
        );
        assert_eq!(field(&run, index, "otel.status_code"), text("ERROR"));
        assert_eq!(field(&run, index, "error.type"), text("NOT_FOUND"));
    }
    // No gRPC status, HTTP 503: what gRPC maps it to, UNAVAILABLE.
    assert_eq!(
        field(&run, 2, "rpc.grpc.status_code"),
        Some(FieldValue::U64(14))
    );
    assert_eq!(field(&run, 2, "error.type"), text("UNAVAILABLE"));
    assert_eq!(durations(&run, &[("rpc_grpc_status_code", "5")]), 2);
    assert_eq!(
        durations(
            &run,
            &[("rpc_method", "Proxy"), ("rpc_grpc_status_code", "14")]
        ),
        1
    );
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[("span_name", "gRPC server"), ("error_type", "NOT_FOUND")]
        ),
        2
    );
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "gRPC server"), ("status", "error")]
        ),
        3
    );
}

#[test]
fn a_stream_is_measured_to_its_trailers_and_its_error_status_counts() {
    let harness = Harness::new();
    let (before_trailers, messages) = harness.run(|| {
        let mut service = ServiceBuilder::new()
            .layer(GrpcLayer::server())
            .service_fn(server);
        let response =
            block_on(service.call(request("/helloworld.Greeter/Stream"))).expect("a response");
        let mut body = pin!(response.into_body());
        let mut messages = 0;
        for _ in 0..3 {
            if let Poll::Ready(Some(Ok(frame))) = next_frame(body.as_mut()) {
                messages += usize::from(frame.is_data());
            }
        }
        let before_trailers = harness.snapshot();
        while let Poll::Ready(Some(_)) = next_frame(body.as_mut()) {}
        (before_trailers, messages)
    });
    assert_eq!(messages, 3);
    assert_eq!(
        durations(&before_trailers, &[]),
        0,
        "nothing is recorded before the status"
    );
    assert!(
        before_trailers.span("gRPC server").is_none(),
        "the span is open"
    );
    let run = harness.finish();
    assert_eq!(
        field(&run, 0, "rpc.grpc.status_code"),
        Some(FieldValue::U64(8))
    );
    assert_eq!(field(&run, 0, "error.type"), text("RESOURCE_EXHAUSTED"));
    assert_eq!(
        durations(
            &run,
            &[("rpc_method", "Stream"), ("rpc_grpc_status_code", "8")]
        ),
        1
    );
}

#[test]
fn calls_without_a_status_are_unknown_or_cancelled() {
    let run = serve(
        GrpcLayer::server(),
        &[
            "/helloworld.Greeter/NoStatus",
            "/helloworld.Greeter/BrokenBody",
            "/helloworld.Greeter/Fail",
        ],
    );
    assert_eq!(
        field(&run, 0, "rpc.grpc.status_code"),
        Some(FieldValue::U64(2))
    );
    assert_eq!(field(&run, 0, "error.type"), text("UNKNOWN"));
    assert_eq!(
        field(&run, 1, "rpc.grpc.status_code"),
        Some(FieldValue::U64(2))
    );
    assert_eq!(
        field(&run, 1, "error.type"),
        text("Error"),
        "the body's error type"
    );
    assert_eq!(
        field(&run, 2, "error.type"),
        text("Error"),
        "the service's error type"
    );
    assert_eq!(durations(&run, &[("rpc_grpc_status_code", "2")]), 3);

    // Dropped before the head, and before the trailers of a stream.
    let harness = Harness::new();
    harness.run(|| {
        let mut service = ServiceBuilder::new().layer(GrpcLayer::server()).service_fn(
            |request: Request<()>| async move {
                if request.uri().path().ends_with("Pending") {
                    std::future::pending::<()>().await;
                }
                server(request).await
            },
        );
        let mut pending = Box::pin(service.call(request("/helloworld.Greeter/Pending")));
        assert!(poll_once(&mut pending).is_pending());
        drop(pending);
        let response = block_on(service.call(request("/helloworld.Greeter/Stream"))).unwrap();
        let mut body = Box::pin(response.into_body());
        assert!(next_frame(body.as_mut()).is_ready());
        drop(body);
    });
    let run = harness.finish();
    for method in ["Pending", "Stream"] {
        assert_eq!(
            durations(
                &run,
                &[("rpc_method", method), ("rpc_grpc_status_code", "1")]
            ),
            1,
            "{method}"
        );
    }
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[("span_name", "gRPC server"), ("error_type", "CANCELLED")]
        ),
        2
    );
}

#[test]
fn the_server_continues_the_callers_trace_and_the_client_sends_its_own() {
    let harness = Harness::new();
    let (server_context, client_span, sent) = harness.run(|| {
        let mut server =
            ServiceBuilder::new()
                .layer(GrpcLayer::server())
                .service_fn(|_: Request<()>| async {
                    let context = TraceContext::current().expect("inside the call span");
                    let mut response = Response::new(Frames(vec![trailers("0")].into()));
                    response.extensions_mut().insert(context);
                    Ok::<_, Infallible>(response)
                });
        let mut incoming = request("/helloworld.Greeter/SayHello");
        incoming.headers_mut().insert(
            "traceparent",
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01"),
        );
        let response = block_on(server.call(incoming)).unwrap();
        let server_context = *response.extensions().get::<TraceContext>().unwrap();
        drain(response.into_body());

        let mut client = ServiceBuilder::new().layer(GrpcLayer::client()).service_fn(
            |request: Request<()>| async move {
                let context = TraceContext::current().expect("inside the call span");
                let sent = request.headers().get("traceparent").cloned();
                let mut response = Response::new(Frames(vec![trailers("0")].into()));
                response.extensions_mut().insert((context, sent));
                Ok::<_, Infallible>(response)
            },
        );
        let caller = tracing::info_span!("checkout");
        let response = caller.in_scope(|| {
            let mut outgoing = request("/helloworld.Greeter/SayHello");
            outgoing
                .headers_mut()
                .insert("traceparent", HeaderValue::from_static("stale"));
            block_on(client.call(outgoing)).unwrap()
        });
        let (client_span, sent) = response
            .extensions()
            .get::<(TraceContext, Option<HeaderValue>)>()
            .cloned()
            .unwrap();
        drain(response.into_body());
        (server_context, client_span, sent)
    });
    assert_eq!(
        server_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_ne!(server_context.span_id().to_string(), "00f067aa0ba902b8");
    let sent = sent
        .as_ref()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| TraceParent::parse(v).ok())
        .expect("a valid traceparent replaces the stale one");
    assert_eq!(
        (sent.trace_id(), sent.parent_id(), sent.is_sampled()),
        (client_span.trace_id(), client_span.span_id(), true),
        "the client span is the parent the server hears of"
    );
    let run = harness.finish();
    let client = run.span("gRPC client").expect("a client span");
    let checkout = run.span("checkout").unwrap();
    assert_eq!(client.parent(), Some(checkout.id()));
    assert_eq!(
        client.field("otel.kind"),
        Some(&FieldValue::Str("client".into()))
    );
    assert_eq!(
        run.histogram(
            "rpc_client_duration_seconds",
            &[("rpc_method", "SayHello"), ("rpc_grpc_status_code", "0")]
        )
        .len(),
        1
    );
}

#[test]
fn methods_past_the_cap_go_to_the_overflow_series() {
    let paths: Vec<String> = (0..6).map(|i| format!("/pkg.S/M{i}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    let run = serve(GrpcLayer::server().with_max_series(2).unwrap(), &paths);
    let own = run
        .series("rpc_server_duration_seconds", &[])
        .filter(|m| m.label("otel_metric_overflow").is_none())
        .count();
    assert_eq!(own, 2);
    assert_eq!(durations(&run, &[("otel_metric_overflow", "true")]), 4);
    assert_eq!(
        run.counter(
            "autotel_series_overflow_total",
            &[("metric", "rpc_server_duration_seconds")]
        ),
        4
    );
}
