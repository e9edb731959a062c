//! `HttpClientLayer` around a tower service that stands for the network,
//! driven in the test harness: the client span and its attributes, the
//! headers the server receives, the client metrics and their caps, and how
//! errors are told apart. `examples/tests/propagation.rs` runs it against
//! real servers on loopback.
#![cfg(feature = "http")]

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use autotel_layers::http::{BoxError, HttpClientLayer};
use autotel_layers::redact::Redaction;
use autotel_layers::testing::{FieldValue, Harness, Run};
use autotel_layers::{TraceContext, TraceParent};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use tower::{Service, ServiceBuilder, ServiceExt};

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

/// The headers each request arrived with.
type Received = Arc<Mutex<Vec<HeaderMap>>>;

/// Stands for the network and the server: answers with the status in the
/// path (`/status/503`), refuses `/refused` and times out on `/slow`.
fn network(
    received: Received,
) -> impl Service<Request<()>, Response = Response<()>, Error = BoxError> + Clone {
    tower::service_fn(move |request: Request<()>| {
        received.lock().unwrap().push(request.headers().clone());
        let path = request.uri().path().to_owned();
        async move {
            match path.as_str() {
                "/refused" => Err(Box::new(std::io::Error::from(
                    std::io::ErrorKind::ConnectionRefused,
                )) as BoxError),
                "/slow" => Err("request timed out".into()),
                _ => {
                    let status = path
                        .strip_prefix("/status/")
                        .and_then(|code| code.parse().ok())
                        .unwrap_or(200);
                    let mut response = Response::new(());
                    *response.status_mut() = StatusCode::from_u16(status)?;
                    Ok(response)
                }
            }
        }
    })
}

fn get(url: &str) -> Request<()> {
    Request::builder()
        .method(Method::GET)
        .uri(url)
        .body(())
        .unwrap()
}

/// Sends each request through the layer inside a `handler` span; the run
/// and the headers received.
fn send_all(layer: HttpClientLayer, urls: &[&str]) -> (Run, Vec<HeaderMap>, Option<TraceContext>) {
    let received = Received::default();
    let harness = Harness::new();
    let handler = harness.run(|| {
        let _handler = tracing::info_span!("handler").entered();
        let mut client = ServiceBuilder::new()
            .layer(layer)
            .service(network(received.clone()));
        for url in urls {
            let _ = block_on(async { client.ready().await?.call(get(url)).await });
        }
        TraceContext::current()
    });
    let received = received.lock().unwrap().clone();
    (harness.finish(), received, handler)
}

fn durations(run: &Run, labels: &[(&str, &str)]) -> usize {
    run.histogram("http_client_request_duration_seconds", labels)
        .len()
}

#[test]
fn a_request_gets_a_client_span_and_carries_it_to_the_server() {
    let (run, received, handler) = send_all(
        HttpClientLayer::new(),
        &["http://user:secret@orders.internal:8080/orders/7?token=abc&page=2"],
    );
    let span = run.span("HTTP client request").expect("a client span");
    let field = |name: &str| span.field(name).cloned();
    assert_eq!(field("otel.kind"), Some(FieldValue::Str("client".into())));
    assert_eq!(field("otel.name"), Some(FieldValue::Str("GET".into())));
    assert_eq!(
        field("http.request.method"),
        Some(FieldValue::Str("GET".into()))
    );
    assert_eq!(
        field("server.address"),
        Some(FieldValue::Str("orders.internal".into()))
    );
    assert_eq!(field("server.port"), Some(FieldValue::U64(8080)));
    assert_eq!(
        field("url.full"),
        Some(FieldValue::Str(
            "http://REDACTED:REDACTED@orders.internal:8080/orders/7?token=REDACTED&page=2".into()
        ))
    );
    assert_eq!(
        field("http.response.status_code"),
        Some(FieldValue::U64(200))
    );
    assert_eq!(field("otel.status_code"), None);
    let handler_span = run.span("handler").unwrap();
    assert_eq!(
        span.parent(),
        Some(handler_span.id()),
        "a child of the caller's span"
    );

    let traceparent = received[0]["traceparent"].to_str().unwrap();
    let parent = TraceParent::parse(traceparent).unwrap();
    let handler = handler.unwrap();
    assert_eq!(parent.trace_id(), handler.trace_id());
    assert_ne!(
        parent.parent_id(),
        handler.span_id(),
        "the client span is the parent"
    );
    assert!(parent.is_sampled() && parent.is_random());

    assert_eq!(
        durations(
            &run,
            &[
                ("http_request_method", "GET"),
                ("server_address", "orders.internal"),
                ("http_response_status_code", "200"),
                ("error_type", ""),
            ]
        ),
        1
    );
    assert_eq!(
        run.gauge(
            "http_client_active_requests",
            &[
                ("http_request_method", "GET"),
                ("server_address", "orders.internal")
            ]
        ),
        Some(0.0),
        "back to zero once answered"
    );
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "HTTP client request"), ("status", "ok")]
        ),
        1
    );
}

#[test]
fn each_request_is_its_own_child_span() {
    let (_, received, _) = send_all(
        HttpClientLayer::new(),
        &["http://a/1", "http://a/2", "http://a/3"],
    );
    let parents: std::collections::HashSet<String> = received
        .iter()
        .map(|headers| headers["traceparent"].to_str().unwrap()[36..52].to_owned())
        .collect();
    assert_eq!(parents.len(), 3);
}

#[test]
fn answers_of_400_and_more_and_failed_requests_are_errors() {
    let (run, _, _) = send_all(
        HttpClientLayer::new(),
        &[
            "http://api/status/503",
            "http://api/status/404",
            "http://api/refused",
            "http://api/slow",
        ],
    );
    let spans: Vec<_> = run
        .spans()
        .iter()
        .filter(|span| span.name() == "HTTP client request")
        .collect();
    let error = |i: usize| spans[i].field("error.type").cloned();
    assert_eq!(error(0), Some(FieldValue::Str("503".into())));
    assert_eq!(error(1), Some(FieldValue::Str("404".into())));
    assert_eq!(error(2), Some(FieldValue::Str("connection_refused".into())));
    assert_eq!(error(3), Some(FieldValue::Str("timeout".into())));
    for span in &spans {
        assert_eq!(
            span.field("otel.status_code"),
            Some(&FieldValue::Str("ERROR".into()))
        );
    }
    assert_eq!(spans[2].field("http.response.status_code"), None);
    for (status, error_type) in [
        ("503", "503"),
        ("404", "404"),
        ("", "connection_refused"),
        ("", "timeout"),
    ] {
        assert_eq!(
            durations(
                &run,
                &[
                    ("server_address", "api"),
                    ("http_response_status_code", status),
                    ("error_type", error_type),
                ]
            ),
            1,
            "{error_type}"
        );
    }
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "HTTP client request"), ("status", "error")]
        ),
        4
    );
}

#[test]
fn addresses_past_the_cap_go_to_the_overflow_series() {
    let layer = HttpClientLayer::new().with_max_server_addresses(2).unwrap();
    let (run, received, _) = send_all(
        layer,
        &[
            "http://a/",
            "http://b/",
            "http://c/",
            "http://d/",
            "http://a/",
        ],
    );
    assert_eq!(received.len(), 5, "every request still goes out");
    assert_eq!(durations(&run, &[("server_address", "a")]), 2);
    assert_eq!(durations(&run, &[("server_address", "b")]), 1);
    assert_eq!(durations(&run, &[("otel_metric_overflow", "true")]), 2);
    assert_eq!(
        run.counter(
            "autotel_series_overflow_total",
            &[("metric", "http_client_request_duration_seconds")]
        ),
        2
    );
    let c = run
        .spans()
        .iter()
        .find(|span| span.field("server.address") == Some(&FieldValue::Str("c".into())));
    assert!(c.is_some(), "the span keeps the address");
}

#[test]
fn query_redaction_is_configurable_and_bad_caps_are_errors() {
    let layer = HttpClientLayer::new().with_query_redaction(Redaction::new(["tenant"]));
    let (run, _, _) = send_all(layer, &["http://a/?tenant=acme&token=t"]);
    assert_eq!(
        run.span("HTTP client request").unwrap().field("url.full"),
        Some(&FieldValue::Str("http://a/?tenant=REDACTED&token=t".into()))
    );
    let error = HttpClientLayer::new()
        .with_max_server_addresses(0)
        .unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("with_max_server_addresses='0'"),
        "{error}"
    );
    let error = HttpClientLayer::new().with_max_series(0).unwrap_err();
    assert!(
        error.to_string().starts_with("with_max_series='0'"),
        "{error}"
    );
}

#[test]
fn without_a_subscriber_the_request_goes_out_untouched() {
    let received = Received::default();
    let mut client = ServiceBuilder::new()
        .layer(HttpClientLayer::new())
        .service(network(received.clone()));
    let response = block_on(async { client.ready().await?.call(get("http://a/")).await }).unwrap();
    assert_eq!(response.status(), 200);
    assert!(received.lock().unwrap()[0].get("traceparent").is_none());
}
