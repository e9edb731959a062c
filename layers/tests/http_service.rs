//! `HttpLayer` around a tower service, driven in the test harness: spans,
//! metrics, errors, the route label, the series cap and cancellation.
#![cfg(feature = "http")]

use std::convert::Infallible;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use autotel_layers::http::HttpLayer;
use autotel_layers::testing::{FieldValue, Harness, Run};
use autotel_layers::{SpanMetricsLayer, TraceContext, TraceParent};
use autotel_test_support::task::block_on;
use http::{Method, Request, Response, StatusCode};
use tower::{Service, ServiceBuilder, ServiceExt, service_fn};

/// The route a router would have matched.
#[derive(Clone)]
struct Route(&'static str);

fn layer() -> HttpLayer {
    HttpLayer::new().with_route(|extensions| extensions.get::<Route>().map(|r| r.0))
}

/// Answers with the status in the path (`/status/503`), or fails on `/fail`.
async fn handler(request: Request<()>) -> Result<Response<String>, std::io::Error> {
    let path = request.uri().path();
    if path == "/fail" {
        return Err(std::io::Error::other("the database is gone"));
    }
    let status = path
        .strip_prefix("/status/")
        .and_then(|code| code.parse().ok())
        .unwrap_or(200);
    let mut response = Response::new(String::from("body"));
    *response.status_mut() = StatusCode::from_u16(status).unwrap();
    Ok(response)
}

fn request(method: Method, path: &str, route: Option<&'static str>) -> Request<()> {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .body(())
        .unwrap();
    if let Some(route) = route {
        request.extensions_mut().insert(Route(route));
    }
    request
}

/// Sends `request` through `service` and waits for the answer.
fn send<S, B>(service: &mut S, request: Request<B>) -> Result<S::Response, S::Error>
where
    S: Service<Request<B>>,
{
    block_on(service.ready())?;
    block_on(service.call(request))
}

/// Sends each request through the middleware, in the harness.
fn serve(layer: HttpLayer, requests: Vec<Request<()>>) -> Run {
    let harness = Harness::new();
    harness.run(|| {
        let mut service = ServiceBuilder::new().layer(layer).service_fn(handler);
        for request in requests {
            let _ = send(&mut service, request);
        }
    });
    harness.finish()
}

fn duration_count(run: &Run, labels: &[(&str, &str)]) -> usize {
    run.histogram("http_server_request_duration_seconds", labels)
        .len()
}

#[test]
fn a_request_gets_a_span_with_the_http_attributes_and_a_duration() {
    let run = serve(
        layer(),
        vec![request(
            Method::GET,
            "/users/42?full=1",
            Some("/users/{id}"),
        )],
    );
    let span = run.span("HTTP request").expect("a request span");
    let field = |name: &str| span.field(name).cloned();
    assert_eq!(
        field("otel.name"),
        Some(FieldValue::Debug("GET /users/{id}".into()))
    );
    assert_eq!(field("otel.kind"), Some(FieldValue::Str("server".into())));
    assert_eq!(
        field("http.request.method"),
        Some(FieldValue::Str("GET".into()))
    );
    assert_eq!(
        field("http.route"),
        Some(FieldValue::Str("/users/{id}".into()))
    );
    assert_eq!(field("url.path"), Some(FieldValue::Str("/users/42".into())));
    assert_eq!(
        field("http.response.status_code"),
        Some(FieldValue::U64(200))
    );
    assert_eq!(field("otel.status_code"), None);
    assert_eq!(
        duration_count(
            &run,
            &[
                ("http_request_method", "GET"),
                ("http_route", "/users/{id}"),
                ("http_response_status_code", "200"),
            ]
        ),
        1
    );
    assert_eq!(
        run.histogram(
            "http_server_response_body_size_bytes",
            &[
                ("http_request_method", "GET"),
                ("http_route", "/users/{id}"),
                ("http_response_status_code", "200"),
            ]
        ),
        [4.0],
        "the body is `body`"
    );
    assert_eq!(
        run.gauge(
            "http_server_active_requests",
            &[("http_request_method", "GET")]
        ),
        Some(0.0),
        "back to zero once answered"
    );
    // The span layer sees the request span as any other.
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "HTTP request"), ("status", "ok")]
        ),
        1
    );
}

#[test]
fn server_errors_and_service_errors_mark_the_span_as_an_error() {
    let run = serve(
        layer(),
        vec![
            request(Method::POST, "/status/503", Some("/status/{code}")),
            request(Method::POST, "/status/404", Some("/status/{code}")),
            request(Method::DELETE, "/fail", Some("/fail")),
        ],
    );
    let spans: Vec<_> = run
        .spans()
        .iter()
        .filter(|s| s.name() == "HTTP request")
        .collect();
    assert_eq!(spans.len(), 3);
    let field = |i: usize, name: &str| spans[i].field(name).cloned();
    assert_eq!(
        field(0, "otel.status_code"),
        Some(FieldValue::Str("ERROR".into()))
    );
    assert_eq!(field(0, "error.type"), Some(FieldValue::Str("503".into())));
    assert_eq!(field(1, "otel.status_code"), None, "4xx is the client's");
    assert_eq!(
        field(2, "error.type"),
        Some(FieldValue::Str("Error".into()))
    );
    assert_eq!(field(2, "http.response.status_code"), None);
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[("span_name", "HTTP request"), ("error_type", "503")]
        ),
        1
    );
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "HTTP request"), ("status", "error")]
        ),
        2
    );
    for (method, route, status) in [
        ("POST", "/status/{code}", "503"),
        ("POST", "/status/{code}", "404"),
        ("DELETE", "/fail", ""),
    ] {
        assert_eq!(
            duration_count(
                &run,
                &[
                    ("http_request_method", method),
                    ("http_route", route),
                    ("http_response_status_code", status),
                ]
            ),
            1,
            "{method} {route} {status}"
        );
    }
}

/// A streamed body whose size is unknown up front: one chunk of 5 bytes.
struct Streamed(Option<&'static [u8]>);

impl http_body::Body for Streamed {
    type Data = &'static [u8];
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(self.0.take().map(|chunk| Ok(http_body::Frame::data(chunk))))
    }
}

#[test]
fn response_sizes_come_from_the_body_or_the_content_length() {
    let harness = Harness::new();
    harness.run(|| {
        let mut service =
            ServiceBuilder::new()
                .layer(layer())
                .service_fn(|request: Request<()>| async move {
                    let mut response = Response::new(Streamed(Some(b"12345")));
                    if request.uri().path() == "/sized" {
                        response
                            .headers_mut()
                            .insert(http::header::CONTENT_LENGTH, 5.into());
                    }
                    Ok::<_, std::io::Error>(response)
                });
        for (path, route) in [("/sized", "/sized"), ("/streamed", "/streamed")] {
            let _ = send(&mut service, request(Method::GET, path, Some(route)));
        }
    });
    let run = harness.finish();
    let sizes = |route| {
        run.histogram(
            "http_server_response_body_size_bytes",
            &[("http_route", route)],
        )
    };
    assert_eq!(sizes("/sized"), [5.0]);
    assert_eq!(sizes("/streamed"), Vec::<f64>::new(), "size unknown");
    assert_eq!(duration_count(&run, &[("http_route", "/streamed")]), 1);
    // A service error has no response, so no size either.
    let run = serve(layer(), vec![request(Method::GET, "/fail", Some("/fail"))]);
    assert_eq!(duration_count(&run, &[("http_route", "/fail")]), 1);
    assert!(
        run.histogram("http_server_response_body_size_bytes", &[])
            .is_empty()
    );
}

#[test]
fn without_a_route_the_label_is_empty_and_odd_methods_are_other() {
    let purge = Method::from_bytes(b"PURGE").unwrap();
    let run = serve(
        HttpLayer::new(),
        vec![request(purge, "/cache/users/42", Some("/ignored"))],
    );
    let span = run.span("HTTP request").unwrap();
    assert_eq!(span.field("http.route"), None);
    assert_eq!(
        span.field("otel.name"),
        Some(&FieldValue::Str("_OTHER".into()))
    );
    assert_eq!(
        duration_count(
            &run,
            &[
                ("http_request_method", "_OTHER"),
                ("http_route", ""),
                ("http_response_status_code", "200"),
            ]
        ),
        1
    );
}

#[test]
fn label_sets_past_the_cap_go_to_the_overflow_series() {
    let requests = (0..10)
        .map(|i| {
            let route: &'static str = Box::leak(format!("/r{i}").into_boxed_str());
            request(Method::GET, route, Some(route))
        })
        .collect();
    let run = serve(layer().with_max_series(4).unwrap(), requests);
    let own = run
        .series("http_server_request_duration_seconds", &[])
        .filter(|m| m.label("otel_metric_overflow").is_none())
        .count();
    assert_eq!(own, 4);
    assert_eq!(duration_count(&run, &[("otel_metric_overflow", "true")]), 6);
    assert_eq!(
        run.counter(
            "autotel_series_overflow_total",
            &[("metric", "http_server_request_duration_seconds")]
        ),
        6
    );
    assert!(HttpLayer::new().with_max_series(0).is_err());
}

#[test]
fn a_traceparent_header_continues_the_callers_trace() {
    let harness = Harness::new();
    let seen = harness.run(|| {
        let mut service = ServiceBuilder::new()
            .layer(layer())
            .service_fn(|_: Request<()>| async {
                let context = TraceContext::current().expect("inside the request span");
                let mut response = Response::new(String::new());
                response.extensions_mut().insert(context);
                Ok::<_, Infallible>(response)
            });
        let mut request = request(Method::GET, "/", Some("/"));
        request.headers_mut().insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b8-01"
                .parse()
                .unwrap(),
        );
        let response = send(&mut service, request).unwrap();
        let mut bad = self::request(Method::GET, "/", Some("/"));
        bad.headers_mut()
            .insert("traceparent", "00-zz-00-01".parse().unwrap());
        let fresh = send(&mut service, bad).unwrap();
        let context = |response: Response<String>| {
            *response
                .extensions()
                .get::<TraceContext>()
                .expect("the handler's trace context")
        };
        (context(response), context(fresh))
    });
    assert_eq!(
        seen.0.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_ne!(seen.0.span_id().to_string(), "00f067aa0ba902b8");
    assert!(seen.0.is_sampled());
    assert_ne!(
        seen.1.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "a malformed header starts a new trace"
    );
}

#[test]
fn a_request_dropped_before_its_answer_leaves_the_active_count() {
    let harness = Harness::new();
    harness.run(|| {
        let mut service = ServiceBuilder::new()
            .layer(layer())
            .service_fn(|_: Request<()>| {
                std::future::pending::<Result<Response<String>, Infallible>>()
            });
        let mut future = block_on(service.ready())
            .unwrap()
            .call(request(Method::PUT, "/", None));
        let mut cx = Context::from_waker(Waker::noop());
        assert!(std::pin::Pin::new(&mut future).poll(&mut cx).is_pending());
        drop(future);
    });
    let run = harness.finish();
    let active = run.gauge(
        "http_server_active_requests",
        &[("http_request_method", "PUT")],
    );
    assert_eq!(active, Some(0.0));
    assert!(
        run.series("http_server_request_duration_seconds", &[])
            .next()
            .is_none()
    );
}

#[test]
fn the_span_metrics_layer_can_leave_requests_out() {
    let harness =
        Harness::with_layer(SpanMetricsLayer::new().with_exclude_targets(["autotel::http"]));
    harness.run(|| {
        let mut service = ServiceBuilder::new().layer(layer()).service_fn(handler);
        let _ = send(&mut service, request(Method::GET, "/", None));
    });
    let run = harness.finish();
    assert_eq!(run.series("span_calls_total", &[]).count(), 0);
    assert_eq!(
        run.series("http_server_request_duration_seconds", &[])
            .count(),
        1
    );
}

#[allow(dead_code)]
fn layer_is_clone_send_sync() -> impl Clone + Send + Sync {
    let _ = service_fn(handler);
    layer()
}

/// What a handler would send downstream: the fields it injects.
async fn outgoing(_: Request<()>) -> Result<Response<String>, std::io::Error> {
    let mut fields = std::collections::HashMap::new();
    autotel_layers::propagation::inject(&mut fields);
    let mut names: Vec<_> = fields.into_iter().collect();
    names.sort();
    let text = names
        .iter()
        .map(|(name, value)| format!("{name}: {value}"))
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Response::new(text))
}

#[test]
fn hostile_trace_headers_are_ignored_and_the_request_served() {
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let valid = format!("00-{trace}-00f067aa0ba902b7-01");
    let huge = "k=v,".repeat(50_000);
    // The headers of each request, and whether the valid parent stands.
    type Case = (Vec<(&'static str, Vec<u8>)>, bool);
    let valid = || valid.clone().into_bytes();
    let cases: Vec<Case> = vec![
        // Two traceparent headers: a new trace.
        (
            vec![("traceparent", valid()), ("traceparent", valid())],
            false,
        ),
        // Bytes that are not text.
        (
            vec![
                ("traceparent", b"00-\xff\xfe".to_vec()),
                ("tracestate", b"\x80=1".to_vec()),
            ],
            false,
        ),
        // A valid parent with an oversized tracestate and baggage: the
        // parent stands, the rest is dropped.
        (
            vec![
                ("traceparent", valid()),
                ("tracestate", huge.clone().into_bytes()),
                ("baggage", huge.clone().into_bytes()),
            ],
            true,
        ),
        // A valid parent with malformed tracestate and baggage.
        (
            vec![
                ("traceparent", valid()),
                ("tracestate", b"FOO=1,bar".to_vec()),
                ("baggage", b"=;;,\"=\"".to_vec()),
            ],
            true,
        ),
    ];
    for (headers, keeps_parent) in cases {
        let mut request = request(Method::GET, "/", None);
        for (name, value) in &headers {
            request.headers_mut().append(
                *name,
                http::HeaderValue::from_bytes(value).expect("a header value"),
            );
        }
        let harness = Harness::new();
        let body = harness.run(|| {
            let mut service = ServiceBuilder::new().layer(layer()).service_fn(outgoing);
            send(&mut service, request).expect("served").into_body()
        });
        let lines: Vec<&str> = body.lines().collect();
        assert_eq!(lines.len(), 1, "only a traceparent goes out: {body}");
        let sent = TraceParent::parse(lines[0].strip_prefix("traceparent: ").unwrap()).unwrap();
        assert_eq!(sent.trace_id().to_string() == trace, keeps_parent, "{body}");
    }
}
