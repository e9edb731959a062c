//! The Datadog API exporter against a receiver that answers what each test
//! scripts: 5xx and connection failures are retried within the interval,
//! `Retry-After` is honoured, a refused API key is `rejected` at once and
//! never shown, and `DD_URL` points `Datadog::from_env` at the receiver.
#![cfg(feature = "datadog")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use autotel_exporters::datadog::{Datadog, DatadogExporter};
use autotel_exporters::push::{ExportError, Push, PushExporter, Series, Snapshot, Value};
use autotel_test_support::child::run_test_in_child;
use autotel_test_support::recorder;
use metrics::{Key, Label};

const KEY: &str = "0123456789abcdef0123456789abcdef";

/// One request as the receiver read it: header lines (lowercased names)
/// and the body, decompressed.
#[derive(Debug, Clone)]
struct Request {
    head: Vec<(String, String)>,
    json: serde_json::Value,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP/1.1 server on loopback that answers each request with the next
/// scripted answer (the last one again once they run out), and keeps what
/// it received.
struct Receiver {
    address: SocketAddr,
    received: Arc<Mutex<Vec<Request>>>,
}

impl Receiver {
    /// `answers`: status, extra header lines, body.
    fn start(answers: Vec<(u16, &'static str, &'static str)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let address = listener.local_addr().expect("its address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let kept = received.clone();
        std::thread::spawn(move || {
            for (served, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { continue };
                let mut reader = BufReader::new(stream);
                let Some(request) = read_request(&mut reader) else {
                    continue;
                };
                kept.lock().unwrap().push(request);
                let (status, headers, body) = answers[served.min(answers.len() - 1)];
                let answer = format!(
                    "HTTP/1.1 {status} Scripted\r\n{headers}Content-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = reader.get_mut().write_all(answer.as_bytes());
            }
        });
        Self { address, received }
    }

    fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    fn received(&self) -> Vec<Request> {
        self.received.lock().unwrap().clone()
    }
}

fn read_request(reader: &mut BufReader<std::net::TcpStream>) -> Option<Request> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    assert!(
        line.starts_with("POST /api/v1/series HTTP/1.1"),
        "request line {line:?}"
    );
    let mut head = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        head.push((name.to_ascii_lowercase(), value.trim().to_owned()));
    }
    let length: usize = head
        .iter()
        .find(|(n, _)| n == "content-length")?
        .1
        .parse()
        .ok()?;
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut text = String::new();
    flate2::read::GzDecoder::new(body.as_slice())
        .read_to_string(&mut text)
        .expect("a gzip body");
    let json = serde_json::from_str(&text).expect("a JSON body");
    Some(Request { head, json })
}

/// A snapshot of one counter, over an interval of `interval`.
fn snapshot(interval: Duration) -> Snapshot {
    let key = Key::from_parts("orders_total", vec![Label::new("route", "/orders")]);
    Snapshot::new(
        SystemTime::now(),
        interval,
        vec![Series::new(key, None, Value::Counter(3))],
    )
}

/// The error of one export to `receiver` of a snapshot over `interval`.
fn failed_export(receiver: &Receiver, interval: Duration) -> ExportError {
    exporter(&receiver.url())
        .export(&snapshot(interval))
        .expect_err("the export fails")
}

fn exporter(url: &str) -> DatadogExporter {
    Datadog::new()
        .with_api_key(KEY)
        .unwrap()
        .with_url(url)
        .unwrap()
        .build()
        .unwrap()
}

#[test]
fn a_503_is_retried_and_the_series_arrive() {
    let receiver = Receiver::start(vec![
        (503, "", r#"{"errors":["try later"]}"#),
        (202, "", r#"{"status":"ok"}"#),
    ]);
    let mut exporter = exporter(&receiver.url());
    exporter
        .export(&snapshot(Duration::from_secs(10)))
        .expect("sent on the second attempt");
    let received = receiver.received();
    assert_eq!(received.len(), 2, "{received:?}");
    for request in &received {
        assert_eq!(request.header("dd-api-key"), Some(KEY));
        assert_eq!(request.header("content-encoding"), Some("gzip"));
        assert_eq!(request.header("content-type"), Some("application/json"));
        let series = &request.json["series"][0];
        assert_eq!(series["metric"], "orders_total");
        assert_eq!(series["type"], "count");
        assert_eq!(series["interval"], 10);
        assert_eq!(series["points"][0][1], 3);
        assert_eq!(series["tags"], serde_json::json!(["route:/orders"]));
    }
    assert_eq!(received[0].json, received[1].json, "the same body again");
}

#[test]
fn a_retry_after_past_the_interval_ends_the_attempts() {
    let receiver = Receiver::start(vec![(429, "Retry-After: 3600\r\n", "")]);
    let error = failed_export(&receiver, Duration::from_secs(10));
    assert_eq!(error.reason(), "throttled");
    assert!(
        error.message().contains("asked to wait 3600 s"),
        "{}",
        error.message()
    );
    assert_eq!(receiver.received().len(), 1, "no second attempt");
}

#[test]
fn a_retry_after_within_the_interval_is_waited_for() {
    let receiver = Receiver::start(vec![(429, "Retry-After: 0\r\n", ""), (202, "", "")]);
    let mut exporter = exporter(&receiver.url());
    exporter
        .export(&snapshot(Duration::from_secs(10)))
        .expect("sent on the second attempt");
    assert_eq!(receiver.received().len(), 2);
}

#[test]
fn a_refused_key_is_rejected_at_once_and_never_shown() {
    // The answer quotes the key back: the report must still not show it.
    let receiver = Receiver::start(vec![(
        403,
        "",
        r#"{"errors":["Forbidden: 0123456789abcdef0123456789abcdef"]}"#,
    )]);
    let error = failed_export(&receiver, Duration::from_secs(10));
    assert_eq!(error.reason(), "rejected");
    assert_eq!(error.failures(), 1);
    let message = error.message();
    assert!(
        message.contains("the API key was refused (HTTP 403 Forbidden)"),
        "{message}"
    );
    assert!(message.contains(&receiver.url()), "{message}");
    assert!(!message.contains(KEY), "{message}");
    assert!(!format!("{:?}", exporter(&receiver.url())).contains(KEY));
    assert_eq!(receiver.received().len(), 1, "a refused key is not retried");
}

#[test]
fn a_refused_body_is_quoted_without_the_key() {
    let receiver = Receiver::start(vec![(
        400,
        "",
        r#"{"errors":["bad series; your key 0123456789abcdef0123456789abcdef"]}"#,
    )]);
    let error = failed_export(&receiver, Duration::from_secs(10));
    assert_eq!(error.reason(), "rejected");
    let message = error.message();
    assert!(
        message.contains("the server refused the series (HTTP 400 Bad Request)"),
        "{message}"
    );
    assert!(
        message.contains("bad series; your key [REDACTED]"),
        "{message}"
    );
    assert!(!message.contains(KEY), "{message}");
    assert_eq!(
        receiver.received().len(),
        1,
        "a refused body is not retried"
    );
}

#[test]
fn a_refused_key_is_counted_as_rejected() {
    let receiver = Receiver::start(vec![(403, "", "")]);
    let before = recorder::global_counter_with(
        "autotel_export_errors_total",
        &[("exporter", "datadog"), ("reason", "rejected")],
    );
    let (recorder, guard) = Push::new()
        .with_exporter(exporter(&receiver.url()))
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("orders_total").increment(1);
    });
    assert!(guard.flush(Duration::from_secs(30)));
    let after = recorder::global_counter_with(
        "autotel_export_errors_total",
        &[
            ("exporter", "datadog"),
            ("signal", "metrics"),
            ("reason", "rejected"),
        ],
    );
    assert_eq!(after - before, 1);
}

#[test]
fn a_server_that_stays_down_is_given_up_when_the_interval_ends() {
    let receiver = Receiver::start(vec![(503, "", "")]);
    let error = failed_export(&receiver, Duration::from_secs(1));
    assert_eq!(error.reason(), "unavailable");
    assert!(
        error.message().contains("HTTP 503 Service Unavailable"),
        "{}",
        error.message()
    );
    assert!(error.message().contains("attempts"), "{}", error.message());
    assert!(receiver.received().len() >= 2, "retried before giving up");
}

#[test]
fn no_listener_is_unavailable() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let error = exporter(&url)
        .export(&snapshot(Duration::from_secs(1)))
        .unwrap_err();
    assert_eq!(error.reason(), "unavailable", "{}", error.message());
    assert!(!error.message().contains(KEY));
}

#[test]
fn dd_url_points_from_env_at_the_receiver() {
    let receiver = Receiver::start(vec![(202, "", "")]);
    let url = receiver.url();
    run_test_in_child(
        "export_configured_from_the_environment",
        &[
            ("DD_API_KEY", KEY),
            ("DD_URL", url.as_str()),
            ("DD_SITE", "datadoghq.eu"),
            ("DD_ENV", "staging"),
            ("DD_TAGS", "team:payments"),
            ("DD_HOSTNAME", "web-1"),
        ],
        |var| var.starts_with("DD_"),
    );
    let received = receiver.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].header("dd-api-key"), Some(KEY));
    let series = &received[0].json["series"][0];
    assert_eq!(series["host"], "web-1");
    assert_eq!(
        series["tags"],
        serde_json::json!(["route:/orders", "env:staging", "team:payments"])
    );
}

/// Run by [`dd_url_points_from_env_at_the_receiver`] in a child process
/// with the variables set.
#[test]
#[ignore = "run in a child process by dd_url_points_from_env_at_the_receiver"]
fn export_configured_from_the_environment() {
    let datadog = Datadog::from_env()
        .expect("valid variables")
        .expect("DD_API_KEY is set");
    assert!(datadog.url().ends_with("/api/v1/series"));
    let mut exporter = datadog.build().unwrap();
    exporter
        .export(&snapshot(Duration::from_secs(10)))
        .expect("the receiver accepts it");
}
