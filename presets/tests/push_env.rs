//! StatsD, DogStatsD and the Datadog API switched on by the environment
//! alone: the one line `production("checkout").init()`, with `DD_AGENT_HOST`
//! and `STATSD_HOST` set, sends the program's metrics and the span metrics to
//! both agents (here, UDP sockets of the test), with the unified service
//! tags; with `DD_API_KEY` and `DD_URL`, to the Datadog API (here,
//! VictoriaMetrics); with `AWS_EMF_AGENT_ENDPOINT`, CloudWatch EMF lines to
//! the agent (here, a TCP listener); a bad value is an error naming the
//! variable.
//!
//! Each case runs in a child process (this test binary, running only one
//! ignored test), since telemetry is global.
#![cfg(all(feature = "statsd", feature = "datadog", feature = "cloudwatch-emf"))]

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use autotel_test_support::child::run_test_in_child;
use autotel_test_support::victoria_metrics::VictoriaMetrics;

/// Set in the child process.
const CHILD: &str = "AUTOTEL_STATSD_CHILD";

/// The program under test: the one line, a span, a counter; dropping the
/// guard sends the last interval.
#[test]
#[ignore = "run by the other tests of this file, in a child process"]
fn child() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let telemetry = autotel_presets::production("checkout").init();
    {
        let _span = tracing::info_span!("place_order").entered();
    }
    metrics::counter!("orders_total", "kind" => "express").increment(2);
    drop(telemetry);
}

/// The program under test when a variable is wrong: what `try_init` says.
#[test]
#[ignore = "run by the other tests of this file, in a child process"]
fn child_with_a_bad_port() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let error = autotel_presets::production("checkout")
        .try_init()
        .expect_err("DD_DOGSTATSD_PORT is not a port");
    println!("error: {error}");
}

fn run(name: &str, vars: &[(&str, &str)]) -> String {
    let ours = [
        "SERVICE_",
        "ENVIRONMENT",
        "PROMETHEUS_",
        "JSON_LOGS",
        "LOG_LEVEL",
        "RUST_LOG",
        "STATSD_",
        "DD_",
        "OTLP_",
    ];
    let mut all = vec![(CHILD, "1"), ("PROMETHEUS_PORT", "0")];
    all.extend_from_slice(vars);
    run_test_in_child(name, &all, |var| {
        var.starts_with("OTEL_") || ours.iter().any(|p| var.starts_with(p))
    })
}

fn receive_all(socket: &UdpSocket) -> String {
    socket
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut text = String::new();
    let mut buffer = [0; 65_536];
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        match socket.recv(&mut buffer) {
            Ok(n) => text.push_str(&String::from_utf8_lossy(&buffer[..n])),
            Err(_) if !text.is_empty() => break,
            Err(_) => {}
        }
    }
    text
}

#[test]
fn the_environment_alone_turns_on_dogstatsd_and_statsd() {
    let dogstatsd = UdpSocket::bind("127.0.0.1:0").unwrap();
    let statsd = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dd_port = dogstatsd.local_addr().unwrap().port().to_string();
    let statsd_port = statsd.local_addr().unwrap().port().to_string();
    run(
        "child",
        &[
            ("DD_AGENT_HOST", "127.0.0.1"),
            ("DD_DOGSTATSD_PORT", &dd_port),
            ("DD_TAGS", "team:payments region:eu"),
            ("STATSD_HOST", "127.0.0.1"),
            ("STATSD_PORT", &statsd_port),
            ("STATSD_PREFIX", "shop"),
        ],
    );

    let dog = receive_all(&dogstatsd);
    let orders = dog
        .lines()
        .find(|l| l.starts_with("orders_total:"))
        .unwrap_or_else(|| panic!("orders_total in DogStatsD:\n{dog}"));
    assert!(orders.starts_with("orders_total:2|c|#"), "{orders}");
    for tag in [
        "kind:express",
        "team:payments",
        "region:eu",
        "service:checkout",
        "env:production",
    ] {
        assert!(orders.contains(tag), "{tag} in {orders}");
    }
    let calls = dog
        .lines()
        .find(|l| l.starts_with("span_calls_total:"))
        .unwrap_or_else(|| panic!("span metrics in DogStatsD:\n{dog}"));
    assert!(calls.contains("span_name:place_order"), "{calls}");
    assert!(
        dog.lines()
            .any(|l| l.starts_with("span_duration_seconds:") && l.contains("|d")),
        "span durations as distributions:\n{dog}"
    );

    let plain = receive_all(&statsd);
    assert!(
        plain
            .lines()
            .any(|l| l == "shop.orders_total.kind.express:2|c"),
        "{plain}"
    );
    assert!(
        plain
            .lines()
            .any(|l| l.starts_with("shop.span_duration_seconds.") && l.contains("|ms")),
        "{plain}"
    );
}

#[test]
fn a_bad_port_is_an_error_naming_the_variable() {
    let out = run(
        "child_with_a_bad_port",
        &[
            ("DD_AGENT_HOST", "127.0.0.1"),
            ("DD_DOGSTATSD_PORT", "eighty"),
        ],
    );
    assert!(
        out.contains("error: DD_DOGSTATSD_PORT='eighty' is not a port number (1 to 65535)"),
        "{out}"
    );
}

#[test]
fn dd_api_key_and_dd_url_turn_on_the_datadog_api() {
    let Some(mut victoria) = VictoriaMetrics::start() else {
        return;
    };
    let url = victoria.datadog_url();
    run(
        "child",
        &[
            ("DD_API_KEY", "0123456789abcdef0123456789abcdef"),
            ("DD_URL", &url),
        ],
    );
    let orders = victoria.wait_for_samples(r#"{__name__="orders_total"}"#, 1);
    assert_eq!(orders[0].1, 2.0);
    for (key, value) in [
        ("kind", "express"),
        ("service", "checkout"),
        ("env", "production"),
    ] {
        assert_eq!(orders[0].0[key], value, "{key} of {orders:?}");
    }
    let calls = victoria.wait_for_samples(r#"{__name__="span_calls_total"}"#, 1);
    assert_eq!(calls[0].0["span_name"], "place_order", "{calls:?}");
}

#[test]
fn aws_emf_agent_endpoint_turns_on_cloudwatch_emf() {
    use std::io::{BufRead, BufReader};
    use std::net::TcpListener;

    let agent = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("tcp://{}", agent.local_addr().unwrap());
    let reader = std::thread::spawn(move || {
        let (stream, _) = agent.accept().expect("the exporter connects");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    run("child", &[("AWS_EMF_AGENT_ENDPOINT", &endpoint)]);
    let lines = reader.join().unwrap();
    let orders = lines
        .iter()
        .map(|line| autotel_test_support::emf::parse_valid(line))
        .find(|line| line.get("orders_total").is_some())
        .unwrap_or_else(|| panic!("orders_total in {lines:#?}"));
    assert_eq!(orders["orders_total"], 2.0);
    assert_eq!(orders["kind"], "express");
    let directive = &orders["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(
        directive["Namespace"], "checkout",
        "the service name by default"
    );
}
