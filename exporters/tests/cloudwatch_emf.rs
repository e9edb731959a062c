//! CloudWatch EMF on the wire: the lines the exporter writes to a TCP and a
//! UDP socket standing for the CloudWatch agent's EMF listener, and to the
//! standard output of a child process, each one checked against
//! `schemas/emf.schema.json` and added up against what was recorded.
#![cfg(feature = "cloudwatch-emf")]

use std::collections::BTreeMap;

use autotel_test_support::emf;
use autotel_test_support::push::record_and_send;
use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::process::Command;
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, SystemTime};

use autotel_exporters::cloudwatch::Emf;
use autotel_exporters::push::{Push, PushExporter, Series, Snapshot, Value as Recorded};
use metrics::Key;
use serde_json::Value;

const FLUSH: Duration = Duration::from_secs(20);
/// How long a test waits for lines that should come (never asserted on).
const PATIENCE: Duration = Duration::from_secs(20);

/// An agent's TCP listener: every line read, with the number of the
/// connection it came on.
struct TcpAgent {
    port: u16,
    lines: Receiver<(usize, String)>,
}

impl TcpAgent {
    /// Listens on `listener`; closes each connection after
    /// `lines_per_connection` lines when given.
    fn start(listener: TcpListener, lines_per_connection: Option<usize>) -> Self {
        let port = listener.local_addr().unwrap().port();
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for (connection, stream) in listener.incoming().enumerate() {
                let Ok(stream) = stream else { return };
                let mut reader = BufReader::new(stream);
                let mut read = 0;
                let mut line = String::new();
                while lines_per_connection.is_none_or(|most| read < most) {
                    line.clear();
                    match reader.read_line(&mut line) {
                        Ok(0) | Err(_) => break,
                        Ok(_) => {
                            assert!(line.ends_with('\n'), "a line cut short: {line:?}");
                            read += 1;
                            if sender
                                .send((connection, line.trim_end().to_owned()))
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                }
            }
        });
        Self { port, lines }
    }

    /// The next `n` lines, waiting for them.
    fn take(&self, n: usize) -> Vec<(usize, String)> {
        (0..n)
            .map(|i| {
                self.lines
                    .recv_timeout(PATIENCE)
                    .unwrap_or_else(|_| panic!("line {} of {n} never came", i + 1))
            })
            .collect()
    }
}

/// What the workload records: 3 label sets, so 3 lines per export.
fn record_workload() {
    for (route, calls) in [("/orders", 7_u64), ("/orders/{id}", 5)] {
        metrics::counter!("http_server_requests_total", "http_route" => route, "status" => "200")
            .increment(calls);
    }
    metrics::gauge!("pipeline_cost_usd_total").set(0.25);
    metrics::gauge!("pipeline_queue_depth").set(-3.5);
    for v in 1..=1000 {
        metrics::histogram!("http_server_request_duration_seconds", "http_route" => "/orders", "status" => "200")
            .record(f64::from(v) / 1000.0);
    }
}

/// Checks every line of one export of the workload, and that they carry
/// what was recorded.
fn check_workload(lines: &[String], log_group: Option<&str>) {
    let lines: Vec<Value> = lines.iter().map(|l| emf::parse_valid(l)).collect();
    assert_eq!(lines.len(), 3, "one line per label set: {lines:#?}");
    let mut by_route = BTreeMap::new();
    for line in &lines {
        let aws = &line["_aws"];
        assert_eq!(aws["CloudWatchMetrics"][0]["Namespace"], "Shop/Checkout");
        assert_eq!(aws["LogGroupName"].as_str(), log_group);
        let route = line["http_route"].as_str().unwrap_or("-").to_owned();
        by_route.insert(route, line.clone());
    }
    let plain = &by_route["-"];
    assert_eq!(plain["pipeline_cost_usd_total"], 0.25);
    assert_eq!(plain["pipeline_queue_depth"], -3.5);
    assert_eq!(
        plain["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([[]])
    );

    let orders = &by_route["/orders"];
    assert_eq!(orders["http_server_requests_total"], 7);
    assert_eq!(orders["status"], "200");
    assert_eq!(
        orders["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["http_route", "status"]])
    );
    let histogram = &orders["http_server_request_duration_seconds"];
    assert_eq!(histogram["Count"], 1000);
    assert_eq!(
        (histogram["Min"].as_f64(), histogram["Max"].as_f64()),
        (Some(0.001), Some(1.0))
    );
    assert!((histogram["Sum"].as_f64().unwrap() - 500.5).abs() < 1e-9);
    let counts: Vec<u64> = serde_json::from_value(histogram["Counts"].clone()).unwrap();
    assert_eq!(
        counts.iter().sum::<u64>(),
        1000,
        "each kept value stands for ten"
    );
    assert!(counts.len() <= 100);
    let units: BTreeMap<&str, &str> = orders["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["Name"].as_str().unwrap(), m["Unit"].as_str().unwrap()))
        .collect();
    assert_eq!(units["http_server_request_duration_seconds"], "Seconds");
    assert_eq!(units["http_server_requests_total"], "Count");
    assert_eq!(by_route["/orders/{id}"]["http_server_requests_total"], 5);
}

fn emf() -> Emf {
    Emf::new()
        .with_namespace("Shop/Checkout")
        .unwrap()
        .with_service_name("checkout")
}

/// Records the workload through a push recorder with `exporter` and
/// sends it once.
fn export_workload(exporter: impl PushExporter) {
    record_and_send(exporter, 100, record_workload);
}

#[test]
fn tcp_agent_gets_one_valid_line_per_label_set() {
    let agent = TcpAgent::start(TcpListener::bind("127.0.0.1:0").unwrap(), None);
    let exporter = emf()
        .with_agent_endpoint(&format!("tcp://127.0.0.1:{}", agent.port))
        .unwrap()
        .build();
    export_workload(exporter);
    let lines: Vec<String> = agent.take(3).into_iter().map(|(_, line)| line).collect();
    check_workload(&lines, Some("checkout-metrics"));
}

fn gauge_snapshot(value: f64) -> Snapshot {
    let series = vec![Series::new(
        Key::from_name("queue_depth"),
        None,
        Recorded::Gauge(value),
    )];
    Snapshot::new(SystemTime::now(), Duration::from_secs(10), series)
}

#[test]
fn tcp_agent_that_closed_the_connection_gets_the_next_export_on_a_new_one() {
    // The agent reads one line per connection, then closes it.
    let agent = TcpAgent::start(TcpListener::bind("127.0.0.1:0").unwrap(), Some(1));
    let mut exporter = emf()
        .with_agent_endpoint(&format!("tcp://127.0.0.1:{}", agent.port))
        .unwrap()
        .build();
    for (n, value) in [1.0, 2.0, 3.0].into_iter().enumerate() {
        exporter.export(&gauge_snapshot(value)).unwrap();
        let (connection, line) = agent.take(1).remove(0);
        assert_eq!(connection, n, "export {n} came on a new connection");
        assert_eq!(emf::parse_valid(&line)["queue_depth"], value);
    }
}

#[test]
fn an_agent_that_starts_late_gets_what_is_sent_once_it_listens() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let mut exporter = emf()
        .with_agent_endpoint(&format!("tcp://127.0.0.1:{port}"))
        .unwrap()
        .build();
    let error = exporter.export(&gauge_snapshot(1.0)).unwrap_err();
    assert_eq!((error.reason(), error.failures()), ("unavailable", 1));
    assert!(
        error.message().starts_with(&format!(
            "CloudWatch EMF export to tcp://127.0.0.1:{port} failed (unavailable):"
        )),
        "{error}"
    );
    assert!(
        error
            .message()
            .contains("check that the CloudWatch agent runs there"),
        "{error}"
    );

    let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) else {
        return; // Another program took the port meanwhile.
    };
    let agent = TcpAgent::start(listener, None);
    exporter.export(&gauge_snapshot(2.0)).unwrap();
    let (_, line) = agent.take(1).remove(0);
    assert_eq!(emf::parse_valid(&line)["queue_depth"], 2.0);
}

#[test]
fn udp_agent_gets_one_valid_line_per_datagram() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let port = socket.local_addr().unwrap().port();
    let exporter = emf()
        .with_agent_endpoint(&format!("udp://127.0.0.1:{port}"))
        .unwrap()
        .with_log_group("/shop/metrics")
        .build();
    export_workload(exporter);
    let mut lines = Vec::new();
    let mut buffer = vec![0; 65_536];
    for _ in 0..3 {
        let n = socket.recv(&mut buffer).expect("a datagram");
        let text = std::str::from_utf8(&buffer[..n]).unwrap();
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{text:?}"
        );
        lines.push(text.trim_end().to_owned());
    }
    check_workload(&lines, Some("/shop/metrics"));
}

#[test]
fn udp_lines_of_many_series_stay_in_one_datagram_each() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(PATIENCE)).unwrap();
    let port = socket.local_addr().unwrap().port();
    // Read on a thread of its own from the start, so that no datagram
    // waits in the socket's buffer while the exporter sends.
    let (sender, datagrams) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buffer = vec![0; 65_536];
        while let Ok(n) = socket.recv(&mut buffer) {
            if sender.send(buffer[..n].to_vec()).is_err() {
                return;
            }
        }
    });
    let exporter = emf()
        .with_agent_endpoint(&format!("udp://127.0.0.1:{port}"))
        .unwrap()
        .build();
    let (recorder, guard) = Push::new().with_exporter(exporter).build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        // 100 histograms of one label set (one object by count), each of
        // 100 distinct values: about 85 KB, more than one datagram holds,
        // less than the socket's buffer.
        for h in 0..100 {
            for v in 0..100 {
                metrics::histogram!(format!("latency_{h:03}_seconds"), "k" => "v")
                    .record(f64::from(v));
            }
        }
    });
    assert!(guard.flush(FLUSH));
    let mut seen = 0;
    let mut lines = 0;
    while seen < 100 {
        let datagram = datagrams.recv_timeout(PATIENCE).expect("a datagram");
        assert!(datagram.len() <= 65_507);
        let line = emf::parse_valid(std::str::from_utf8(&datagram).unwrap().trim_end());
        let metrics = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        for metric in metrics {
            assert_eq!(line[metric["Name"].as_str().unwrap()]["Count"], 100);
        }
        seen += metrics.len();
        lines += 1;
    }
    assert_eq!(seen, 100);
    assert!(lines > 1, "split into lines that fit a datagram: {lines}");
}

/// The child's side of the stdout tests: an exporter from the environment
/// writes one export to its standard output, or says why there is none.
#[test]
fn stdout_child() {
    if std::env::var_os("AUTOTEL_EMF_STDOUT_CHILD").is_none() {
        return;
    }
    match Emf::from_env() {
        Ok(Some(emf)) => export_workload(emf.build()),
        Ok(None) => println!("off"),
        Err(error) => println!("error: {error}"),
    }
}

/// Runs [`stdout_child`] with `vars` as its only `AWS_EMF_*` variables;
/// its standard output.
fn child(vars: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(["--exact", "stdout_child", "--nocapture", "--test-threads=1"])
        .env("AUTOTEL_EMF_STDOUT_CHILD", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_EMF_") {
            command.env_remove(name);
        }
    }
    command.envs(vars.iter().copied());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn stdout_gets_one_valid_line_per_label_set() {
    let stdout = child(&[
        ("AWS_EMF_NAMESPACE", "Shop/Checkout"),
        ("AWS_EMF_SERVICE_NAME", "checkout"),
    ]);
    // The test harness writes its own lines too; the EMF ones are objects
    // ("test stdout_child ... " may start the first line).
    let lines: Vec<String> = stdout
        .lines()
        .filter_map(|line| line.find('{').map(|start| line[start..].to_owned()))
        .collect();
    // The flush, then the last snapshot as the guard drops: the gauge again.
    assert_eq!(lines.len(), 4, "{stdout}");
    check_workload(&lines[..3], None);
    assert_eq!(emf::parse_valid(&lines[3])["pipeline_queue_depth"], -3.5);
}

#[test]
fn the_environment_turns_emf_on_and_names_a_bad_variable() {
    assert!(
        child(&[]).contains("off\n"),
        "EMF is off without its variables"
    );
    let stdout = child(&[("AWS_EMF_AGENT_ENDPOINT", "http://agent:25888")]);
    assert!(
        stdout.contains(
            "error: AWS_EMF_AGENT_ENDPOINT='http://agent:25888' is not a CloudWatch agent \
             endpoint: give tcp://host:port or udp://host:port"
        ),
        "{stdout}"
    );
    let stdout = child(&[("AWS_EMF_NAMESPACE", "AWS/Lambda")]);
    assert!(
        stdout.contains("error: AWS_EMF_NAMESPACE='AWS/Lambda' is not a CloudWatch namespace"),
        "{stdout}"
    );
}
