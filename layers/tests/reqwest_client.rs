//! `ReqwestMiddleware` on a real reqwest client talking to a real axum
//! server on loopback: the headers the server receives, the client span,
//! and the client metrics for an answer, a 503, a refused connection and a
//! timeout.
#![cfg(feature = "reqwest")]

use std::time::Duration;

use autotel_layers::TraceParent;
use autotel_layers::http::ReqwestMiddleware;
use autotel_layers::testing::{FieldValue, Harness};
use autotel_test_support::net::{black_hole, closed_port};
use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;

/// What the server saw: the request's `traceparent`, `tracestate` and
/// `baggage`, one per line.
async fn echo(headers: HeaderMap) -> String {
    ["traceparent", "tracestate", "baggage"]
        .map(|name| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("-")
                .to_owned()
        })
        .join("\n")
}

#[test]
fn requests_carry_the_span_and_every_outcome_is_measured() {
    // Built with the rest of the workspace, reqwest has rustls and no
    // crypto provider of its own.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let harness = Harness::new();
    let (echoed, trace_id) = harness.run(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let server = listener.local_addr().unwrap();
            let app = Router::new()
                .route("/echo", get(echo))
                .route("/down", get(|| async { StatusCode::SERVICE_UNAVAILABLE }));
            tokio::spawn(async move { axum::serve(listener, app).await });

            let client = reqwest_middleware::ClientBuilder::new(
                reqwest::Client::builder()
                    .timeout(Duration::from_millis(300))
                    .build()
                    .unwrap(),
            )
            .with(ReqwestMiddleware::new())
            .build();
            let handler = tracing::info_span!("handler");
            let incoming = autotel_layers::propagation::RemoteContext::new(
                TraceParent::parse("00-12345678901234567890123456789012-1234567890123456-03")
                    .unwrap(),
            )
            .with_trace_state("vendor=abc".parse().unwrap())
            .with_baggage(autotel_layers::propagation::Baggage::parse("user=7"));
            incoming.set_as_parent_of(&handler).unwrap();
            let _handler = handler.enter();
            let echoed = client
                .get(format!("http://{server}/echo?api_key=k"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let down = client
                .get(format!("http://{server}/down"))
                .send()
                .await
                .unwrap();
            assert_eq!(down.status(), 503);
            let refused = client
                .get(format!("http://{}/", closed_port()))
                .send()
                .await;
            assert!(refused.is_err());
            let slow = client.get(format!("http://{}/", black_hole())).send().await;
            assert!(slow.is_err());
            (echoed, "12345678901234567890123456789012")
        })
    });
    let run = harness.finish();
    let lines: Vec<&str> = echoed.lines().collect();
    let parent = TraceParent::parse(lines[0]).unwrap();
    assert_eq!(parent.trace_id().to_string(), trace_id);
    assert!(parent.is_random() && parent.is_sampled());
    assert_eq!(lines[1..], ["vendor=abc", "user=7"]);

    let spans: Vec<_> = run
        .spans()
        .iter()
        .filter(|span| span.name() == "HTTP client request")
        .collect();
    assert_eq!(spans.len(), 4);
    assert!(
        matches!(spans[0].field("url.full"), Some(FieldValue::Str(url)) if url.ends_with("/echo?api_key=REDACTED")),
        "{:?}",
        spans[0].field("url.full")
    );
    let error = |i: usize| spans[i].field("error.type").cloned();
    assert_eq!(error(0), None);
    assert_eq!(error(1), Some(FieldValue::Str("503".into())));
    assert_eq!(error(2), Some(FieldValue::Str("connection_refused".into())));
    assert_eq!(error(3), Some(FieldValue::Str("timeout".into())));
    for (status, error_type) in [
        ("200", ""),
        ("503", "503"),
        ("", "connection_refused"),
        ("", "timeout"),
    ] {
        let recorded = run.histogram(
            "http_client_request_duration_seconds",
            &[
                ("server_address", "127.0.0.1"),
                ("http_response_status_code", status),
                ("error_type", error_type),
            ],
        );
        assert_eq!(recorded.len(), 1, "{status} {error_type}");
    }
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "HTTP client request"), ("status", "error")]
        ),
        3
    );
}
