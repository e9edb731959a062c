//! One trace across three services on loopback: `http_service` as the users
//! service, `grpc_greeter` as a gRPC greeter, and a second `http_service`
//! taking orders that asks the first through reqwest and `ReqwestMiddleware`
//! and the second through tonic and `GrpcLayer::client()`. The OTLP receiver
//! gets one trace with the right parent-child links across the three
//! processes, the scrapes carry the HTTP and gRPC client and server metrics
//! with their labels, the JSON log lines of all three carry the trace id, and
//! a 503, a timeout and a refused connection are each an error with its
//! `error_type`.

use std::collections::HashMap;
use std::time::Duration;

use autotel_test_support::examples::Service;
use autotel_test_support::http::{get, get_with};
use autotel_test_support::otlp::{attribute, base64_to_hex, items};
use autotel_test_support::peers::TestAgent;
use autotel_test_support::scrape::value;
use serde_json::Value;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER: &str = "00f067aa0ba902b7";

const GREETER: &str = "helloworld.Greeter";

fn scrape(service: &Service) -> String {
    get(service.metrics, "/metrics").expect("a scrape").body
}

/// The count of `metric` with exactly `labels` in a scrape; 0 when absent.
fn count(text: &str, metric: &str, labels: &str) -> f64 {
    let series = format!("{metric}{{{labels}}}");
    if text.lines().any(|line| line.starts_with(&series)) {
        value(text, &series)
    } else {
        0.0
    }
}

fn client_count(text: &str, status: &str, error_type: &str) -> f64 {
    count(
        text,
        "http_client_request_duration_seconds_count",
        &format!(
            r#"http_request_method="GET",server_address="127.0.0.1",http_response_status_code="{status}",error_type="{error_type}""#
        ),
    )
}

/// The exported spans of trace `TRACE`, by name: (service name, span).
fn spans_of_the_trace(traces: &Value) -> HashMap<String, Vec<(String, Value)>> {
    let mut by_name: HashMap<String, Vec<(String, Value)>> = HashMap::new();
    for (resource, span) in items(traces, "spans", "spans") {
        if base64_to_hex(span["trace_id"].as_str().unwrap_or("")) != TRACE {
            continue;
        }
        let service = attribute(&resource["attributes"], "service.name").unwrap_or_default();
        let name = span["name"].as_str().unwrap_or("").to_owned();
        by_name.entry(name).or_default().push((service, span));
    }
    by_name
}

fn id(span: &Value, field: &str) -> String {
    base64_to_hex(span[field].as_str().unwrap_or(""))
}

/// The count of `SayHello` calls answered `OK` in an RPC duration histogram.
fn rpc_count(text: &str, side: &str) -> f64 {
    count(
        text,
        &format!("rpc_{side}_duration_seconds_count"),
        &format!(
            r#"rpc_system="grpc",rpc_service="{GREETER}",rpc_method="SayHello",rpc_grpc_status_code="0""#
        ),
    )
}

#[test]
fn one_trace_goes_across_three_services_and_failures_are_errors() {
    let mut agent = TestAgent::start();
    let endpoint = agent.as_ref().map(|agent| format!("http://{}", agent.http));
    let otlp: Vec<(&str, &str)> = endpoint
        .as_deref()
        .map(|endpoint| vec![("OTLP_ENDPOINT", endpoint)])
        .unwrap_or_default();
    let mut users = Service::http(&[&[("SERVICE_NAME", "users")], &otlp[..]].concat());
    let greeter = Service::grpc_greeter(&[&[("SERVICE_NAME", "greeter")], &otlp[..]].concat());
    let backend = format!("http://{}", users.address);
    let greeter_url = format!("http://{}", greeter.address);
    let orders = Service::http(
        &[
            &[
                ("SERVICE_NAME", "orders"),
                ("BACKEND_URL", backend.as_str()),
                ("GREETER_URL", greeter_url.as_str()),
            ],
            &otlp[..],
        ]
        .concat(),
    );

    let traceparent = format!("00-{TRACE}-{CALLER}-03");
    let answer = get_with(
        orders.address,
        "/orders/42",
        &[
            ("traceparent", &traceparent),
            ("tracestate", "vendor=abc, other=1"),
            ("baggage", "tenant=acme"),
        ],
    )
    .expect("an answer");
    assert_eq!(
        (answer.status, answer.body.as_str()),
        (200, "order for user 42\nHello, user 42!\n")
    );
    assert_eq!(get(orders.address, "/orders/fail").unwrap().status, 502);
    assert_eq!(get(orders.address, "/orders/slow").unwrap().status, 502);

    // The client metrics of orders, and the server metrics of all three.
    let text = scrape(&orders);
    assert_eq!(rpc_count(&text, "client"), 1.0, "{text}");
    let greeter_text = scrape(&greeter);
    assert_eq!(rpc_count(&greeter_text, "server"), 1.0, "{greeter_text}");
    // The counts README shows.
    let counts = |text: &str, prefixes: &[&str]| -> Vec<String> {
        text.lines()
            .filter(|line| prefixes.iter().any(|prefix| line.starts_with(prefix)))
            .map(str::to_owned)
            .collect()
    };
    for line in counts(
        &text,
        &[
            "http_server_request_duration_seconds_count",
            "http_client_request_duration_seconds_count",
            "rpc_client_duration_seconds_count",
        ],
    )
    .iter()
    .chain(&counts(
        &greeter_text,
        &["rpc_server_duration_seconds_count"],
    )) {
        println!("{line}");
    }
    assert_eq!(client_count(&text, "200", ""), 1.0, "{text}");
    assert_eq!(client_count(&text, "503", "503"), 1.0, "{text}");
    assert_eq!(client_count(&text, "", "timeout"), 1.0, "{text}");
    assert_eq!(
        count(
            &text,
            "http_server_request_duration_seconds_count",
            r#"http_request_method="GET",http_route="/orders/{id}",http_response_status_code="200""#
        ),
        1.0
    );
    assert_eq!(
        count(
            &text,
            "http_client_active_requests",
            r#"http_request_method="GET",server_address="127.0.0.1""#
        ),
        0.0
    );
    let users_text = scrape(&users);
    assert_eq!(
        count(
            &users_text,
            "http_server_request_duration_seconds_count",
            r#"http_request_method="GET",http_route="/users/{id}",http_response_status_code="200""#
        ),
        1.0,
        "{users_text}"
    );
    assert_eq!(
        count(
            &users_text,
            "http_server_request_duration_seconds_count",
            r#"http_request_method="GET",http_route="/fail",http_response_status_code="503""#
        ),
        1.0
    );

    // The log lines of the three services carry the caller's trace.
    let wait = Duration::from_secs(30);
    let has = |lines: &[Value], message: &str| lines.iter().any(|line| line["message"] == message);
    let order_lines =
        orders.json_lines_until(wait, |lines| has(lines, "the user service answered"));
    let user_lines = users.json_lines_until(wait, |lines| has(lines, "found user"));
    let greeter_lines = greeter.json_lines_until(wait, |lines| has(lines, "greeting"));
    let greeting = greeter_lines
        .iter()
        .find(|line| line["message"] == "greeting")
        .unwrap();
    assert_eq!(greeting["trace_id"], TRACE, "{greeting}");
    assert_eq!(greeting["service.name"], "greeter");
    let answered = order_lines
        .iter()
        .find(|line| line["message"] == "the user service answered")
        .unwrap();
    let found = user_lines
        .iter()
        .find(|line| line["message"] == "found user")
        .unwrap();
    assert_eq!(answered["trace_id"], TRACE, "{answered}");
    assert_eq!(found["trace_id"], TRACE, "{found}");
    assert_eq!(answered["service.name"], "orders");
    assert_eq!(found["service.name"], "users");

    if let Some(agent) = agent.as_mut() {
        trace_across_all(agent, found);
    }

    // The users service goes down: the next order meets a refused connection.
    users.stop();
    assert_eq!(get(orders.address, "/orders/7").unwrap().status, 502);
    let text = scrape(&orders);
    assert_eq!(client_count(&text, "", "connection_refused"), 1.0, "{text}");
    let errors = |error_type: &str| {
        count(
            &text,
            "span_errors_total",
            &format!(r#"span_name="HTTP client request",error_type="{error_type}""#),
        )
    };
    assert_eq!(
        [
            errors("503"),
            errors("timeout"),
            errors("connection_refused")
        ],
        [1.0; 3]
    );
    assert_eq!(
        count(
            &text,
            "span_calls_total",
            r#"span_name="HTTP client request",status="error""#
        ),
        3.0
    );
}

/// The spans of the three services form one trace under the caller, the
/// users service's request span carries the forwarded `tracestate`, and the
/// log line `found` is the `user` span's.
fn trace_across_all(agent: &mut TestAgent, found: &Value) {
    // One trace: orders' request span under the caller, its call under it,
    // users' request span under the call, and the handler's span under that;
    // orders' greeting, its gRPC call under it, and the greeter's server span
    // under the call.
    let rpc = format!("{GREETER}/SayHello");
    let traces = agent.received("traces", |traces| {
        let spans = spans_of_the_trace(traces);
        ["GET /orders/{id}", "ask", "GET", "GET /users/{id}", "user"]
            .iter()
            .all(|name| spans.contains_key(*name))
            && spans.contains_key("greet")
            && spans.get(&rpc).is_some_and(|spans| spans.len() == 2)
    });
    let spans = spans_of_the_trace(&traces);
    let of = |name: &str, service: &str| -> &Value {
        &spans[name]
            .iter()
            .find(|(from, _)| from == service)
            .unwrap_or_else(|| panic!("no {name} from {service}: {spans:#?}"))
            .1
    };
    // Exported under their `otel.name`.
    let orders_request = of("GET /orders/{id}", "orders");
    let ask = of("ask", "orders");
    let call = of("GET", "orders");
    let users_request = of("GET /users/{id}", "users");
    let user = of("user", "users");
    assert_eq!(id(orders_request, "parent_span_id"), CALLER);
    assert_eq!(id(ask, "parent_span_id"), id(orders_request, "span_id"));
    assert_eq!(id(call, "parent_span_id"), id(ask, "span_id"));
    assert_eq!(id(users_request, "parent_span_id"), id(call, "span_id"));
    assert_eq!(id(user, "parent_span_id"), id(users_request, "span_id"));
    let greet = of("greet", "orders");
    let rpc_client = of(&rpc, "orders");
    let rpc_server = of(&rpc, "greeter");
    assert_eq!(id(greet, "parent_span_id"), id(orders_request, "span_id"));
    assert_eq!(id(rpc_client, "parent_span_id"), id(greet, "span_id"));
    assert_eq!(id(rpc_server, "parent_span_id"), id(rpc_client, "span_id"));
    print_tree(&spans);
    assert_eq!(
        found["span_id"],
        id(user, "span_id"),
        "the line is the span's"
    );
    assert_eq!(
        users_request["trace_state"], "vendor=abc,other=1",
        "the tracestate went through orders to users"
    );
    assert_eq!(
        attribute(&call["attributes"], "server.address").as_deref(),
        Some("127.0.0.1")
    );
    assert_eq!(
        attribute(&call["attributes"], "http.response.status_code").as_deref(),
        Some("200")
    );
}

/// Prints the trace as the receiver saw it, one row a span, each under its
/// parent: the table README shows.
fn print_tree(spans: &HashMap<String, Vec<(String, Value)>>) {
    let rows: Vec<[String; 5]> = spans
        .iter()
        .flat_map(|(name, spans)| {
            spans.iter().map(move |(service, span)| {
                let kind = match span["kind"].as_i64() {
                    Some(1) => "internal".to_owned(),
                    Some(2) => "server".to_owned(),
                    Some(3) => "client".to_owned(),
                    _ => span["kind"]
                        .as_str()
                        .unwrap_or("")
                        .trim_start_matches("SPAN_KIND_")
                        .to_lowercase(),
                };
                [
                    service.clone(),
                    name.clone(),
                    kind,
                    id(span, "span_id"),
                    id(span, "parent_span_id"),
                ]
            })
        })
        .collect();
    fn children(rows: &[[String; 5]], parent: &str, depth: usize) {
        let mut under: Vec<&[String; 5]> = rows.iter().filter(|row| row[4] == parent).collect();
        under.sort_by(|a, b| (&a[0], &a[1]).cmp(&(&b[0], &b[1])));
        for [service, name, kind, span_id, parent] in under {
            let indent = "· ".repeat(depth);
            println!("| {service} | {indent}`{name}` | {kind} | `{span_id}` | `{parent}` |");
            children(rows, span_id, depth + 1);
        }
    }
    println!("| service | span | kind | span_id | parent_span_id |");
    println!("|---|---|---|---|---|");
    children(&rows, CALLER, 0);
}
