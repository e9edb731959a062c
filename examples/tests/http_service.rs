//! Runs the http_service example and talks to it over real HTTP on
//! loopback: route templates in the metrics, the caller's trace in the log
//! lines, server errors counted, and a scrape that promtool accepts.

use std::net::SocketAddr;

use autotel_test_support::examples::Service;
use autotel_test_support::http::{get, get_with};
use autotel_test_support::peers::{PEER_DEADLINE, promtool_check_metrics};
use autotel_test_support::scrape::value;

fn start() -> Service {
    Service::http(&[])
}

/// `GET path` with extra headers; the status code and body.
fn call(address: SocketAddr, path: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let response = get_with(address, path, headers).expect("an answer");
    (response.status, response.body)
}

#[test]
fn requests_are_traced_and_measured_by_route() {
    let service = start();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let traceparent = format!("00-{trace}-00f067aa0ba902b8-01");
    assert_eq!(
        call(service.address, "/users/42", &[]),
        (200, "user 42\n".into())
    );
    assert_eq!(
        call(
            service.address,
            "/users/7",
            &[("traceparent", &traceparent)]
        )
        .0,
        200
    );
    assert_eq!(call(service.address, "/fail", &[]).0, 503);
    assert_eq!(call(service.address, "/no/such/page", &[]).0, 404);

    let text = get(service.metrics, "/metrics").unwrap().body;
    let count = |labels: &str| {
        value(
            &text,
            &format!("http_server_request_duration_seconds_count{{{labels}}}"),
        )
    };
    assert_eq!(
        count(
            r#"http_request_method="GET",http_route="/users/{id}",http_response_status_code="200""#
        ),
        2.0,
        "both users under one route template"
    );
    assert_eq!(
        count(r#"http_request_method="GET",http_route="/fail",http_response_status_code="503""#),
        1.0
    );
    assert_eq!(
        count(r#"http_request_method="GET",http_route="",http_response_status_code="404""#),
        1.0,
        "no route matched: no route label"
    );
    assert!(!text.contains("/users/42"), "raw paths stay out of labels");
    assert_eq!(
        value(
            &text,
            r#"http_server_active_requests{http_request_method="GET"}"#
        ),
        0.0
    );
    assert_eq!(
        value(
            &text,
            r#"span_calls_total{span_name="HTTP request",status="error"}"#
        ),
        1.0,
        "the 503"
    );
    assert_eq!(
        value(&text, "tokio_workers"),
        2.0,
        "the runtime handed to the preset is measured"
    );
    if let Some((ok, said)) = promtool_check_metrics(&text) {
        assert!(ok, "{said}");
    }

    // The handler's log lines carry the trace of their request.
    let mut found = Vec::new();
    while found.len() < 2 {
        let line = service
            .lines
            .recv_timeout(PEER_DEADLINE)
            .expect("the handler's log lines");
        let json: serde_json::Value = serde_json::from_str(&line).unwrap();
        if json["message"] == "found user" {
            found.push(json);
        }
    }
    let of = |id: u64| {
        found
            .iter()
            .find(|line| line["data"]["user_id"] == id)
            .unwrap()
    };
    assert_eq!(of(7)["trace_id"], trace, "the caller's trace continues");
    assert_ne!(of(7)["span_id"], "00f067aa0ba902b8");
    assert_ne!(of(42)["trace_id"], trace);
    assert_eq!(of(42)["data"]["http.route"], "/users/{id}");
    assert_eq!(of(42)["data"]["url.path"], "/users/42");
}
