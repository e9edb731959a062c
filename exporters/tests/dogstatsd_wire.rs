//! DogStatsD on the wire: every datagram the exporter sends to a real UDP
//! or Unix datagram socket is parsed by the documented grammar
//! (`name:value|type[|@rate][|#tag,...]`), its size checked against the
//! transport's limit, and its values added up against what was recorded.
#![cfg(all(unix, feature = "statsd"))]

use std::collections::BTreeMap;
use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use autotel_exporters::ServiceInfo;
use autotel_exporters::push::Push;
use autotel_exporters::statsd::StatsD;
use autotel_test_support::push::record_and_send;
use autotel_test_support::recorder;

const FLUSH: Duration = Duration::from_secs(20);

/// One line of a datagram, parsed.
#[derive(Debug, Clone)]
struct Line {
    name: String,
    value: f64,
    kind: String,
    rate: f64,
    tags: Vec<String>,
}

/// Parses one line by the DogStatsD grammar, failing on anything else.
fn parse(line: &str) -> Line {
    let (name, rest) = line
        .split_once(':')
        .unwrap_or_else(|| panic!("no ':' in {line:?}"));
    assert!(!name.is_empty(), "empty name in {line:?}");
    assert!(
        !name.contains(['|', '#', ',', ' ', '@']),
        "reserved character in the name of {line:?}"
    );
    let mut fields = rest.split('|');
    let value: f64 = fields
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|e| panic!("value of {line:?}: {e}"));
    let kind = fields
        .next()
        .unwrap_or_else(|| panic!("no type in {line:?}"));
    assert!(
        ["c", "g", "d", "ms", "h"].contains(&kind),
        "type of {line:?}"
    );
    let mut rate = 1.0;
    let mut tags = Vec::new();
    for field in fields {
        if let Some(r) = field.strip_prefix('@') {
            rate = r
                .parse()
                .unwrap_or_else(|e| panic!("rate of {line:?}: {e}"));
            assert!(rate > 0.0 && rate <= 1.0, "rate of {line:?}");
        } else if let Some(t) = field.strip_prefix('#') {
            tags = t.split(',').map(str::to_owned).collect();
            assert!(
                tags.iter().all(|t| !t.is_empty() && !t.starts_with(':')),
                "tags of {line:?}"
            );
        } else {
            panic!("unknown field {field:?} in {line:?}");
        }
    }
    Line {
        name: name.to_owned(),
        value,
        kind: kind.to_owned(),
        rate,
        tags,
    }
}

/// Reads datagrams on a thread until stopped.
struct Listener {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<Vec<Vec<u8>>>,
}

impl Listener {
    fn start(mut receive: impl FnMut(&mut [u8]) -> Option<usize> + Send + 'static) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut datagrams = Vec::new();
            let mut buffer = vec![0; 65_536];
            while !stopped.load(Ordering::Relaxed) {
                if let Some(n) = receive(&mut buffer) {
                    datagrams.push(buffer[..n].to_vec());
                }
            }
            while let Some(n) = receive(&mut buffer) {
                datagrams.push(buffer[..n].to_vec());
            }
            datagrams
        });
        Self { stop, thread }
    }

    fn finish(self) -> Vec<Vec<u8>> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap()
    }
}

fn record_workload() {
    for i in 0..300_u64 {
        let op = format!("operation_{i:03}_with_a_long_name_to_fill_packets");
        metrics::counter!("span_calls_total", "span_name" => op, "status" => "ok").increment(i + 1);
    }
    metrics::gauge!("pipeline_queue_depth", "pipeline_name" => "etl").set(-3.5);
    for v in 1..=1000 {
        metrics::histogram!("span_duration_seconds", "span_name" => "checkout")
            .record(f64::from(v) / 1000.0);
    }
}

/// Checks every datagram and every line, then the totals.
fn check(datagrams: &[Vec<u8>], limit: usize) {
    assert!(datagrams.len() > 1, "the workload needs several datagrams");
    let mut lines = Vec::new();
    for datagram in datagrams {
        assert!(
            datagram.len() <= limit,
            "a datagram of {} bytes, over {limit}",
            datagram.len()
        );
        let text = std::str::from_utf8(datagram).expect("UTF-8 datagrams");
        lines.extend(text.lines().filter(|l| !l.is_empty()).map(parse));
    }
    let unified = [
        "env:prod",
        "service:checkout",
        "version:1.2.3",
        "team:payments",
    ];
    for line in &lines {
        assert!(line.name.starts_with("app."), "{line:?}");
        for tag in unified {
            assert!(
                line.tags.iter().any(|t| t == tag),
                "{tag} missing in {line:?}"
            );
        }
    }
    let mut counters = BTreeMap::new();
    for line in lines.iter().filter(|l| l.name == "app.span_calls_total") {
        assert_eq!(line.kind, "c");
        *counters.entry(line.tags[0].clone()).or_insert(0.0) += line.value;
    }
    assert_eq!(counters.len(), 300);
    for i in 0..300_u64 {
        let tag = format!("span_name:operation_{i:03}_with_a_long_name_to_fill_packets");
        assert_eq!(counters[&tag], (i + 1) as f64, "{tag}");
    }
    let gauge: Vec<_> = lines
        .iter()
        .filter(|l| l.name == "app.pipeline_queue_depth")
        .collect();
    // Sent with every interval: the one recorded, and the last at the drop.
    assert_eq!(gauge.len(), 2, "{gauge:?}");
    for line in gauge {
        assert_eq!((line.kind.as_str(), line.value), ("g", -3.5));
        assert!(line.tags.contains(&"pipeline_name:etl".to_owned()));
    }
    let durations: Vec<_> = lines
        .iter()
        .filter(|l| l.name == "app.span_duration_seconds")
        .collect();
    assert_eq!(durations.len(), 100, "the budget of kept values");
    assert!(durations.iter().all(|l| l.kind == "d" && l.rate == 0.1));
    let represented: f64 = durations.iter().map(|l| 1.0 / l.rate).sum();
    assert!((represented - 1000.0).abs() < 1e-6, "{represented}");
    assert!(
        durations.iter().all(|l| (0.001..=1.0).contains(&l.value)
            && l.tags.contains(&"span_name:checkout".to_owned()))
    );
}

fn exporter() -> StatsD {
    StatsD::dogstatsd()
        .with_prefix("app")
        .with_tag("team:payments")
        .with_service(
            &ServiceInfo::new("checkout")
                .with_environment("prod")
                .with_version("1.2.3"),
        )
}

#[test]
fn udp_datagrams_follow_the_grammar_and_stay_under_1432_bytes() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let listener = Listener::start(move |buffer| socket.recv(buffer).ok());
    let exporter = exporter().with_host("127.0.0.1", port).build().unwrap();
    record_and_send(exporter, 100, record_workload);
    std::thread::sleep(Duration::from_millis(300));
    check(&listener.finish(), 1432);
}

#[test]
fn unix_datagrams_follow_the_grammar_and_stay_under_8192_bytes() {
    let dir = std::env::temp_dir().join(format!("autotel-dsd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("dsd.socket");
    let _ = std::fs::remove_file(&path);
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let listener = Listener::start(move |buffer| socket.recv(buffer).ok());
    let exporter = exporter()
        .with_address(&format!("unix://{}", path.display()))
        .unwrap()
        .build()
        .unwrap();
    record_and_send(exporter, 100, record_workload);
    std::thread::sleep(Duration::from_millis(300));
    let datagrams = listener.finish();
    assert!(
        datagrams.iter().any(|d| d.len() > 1432),
        "Unix datagrams are filled past the UDP size"
    );
    check(&datagrams, 8192);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_absent_agent_blocks_nothing_and_is_counted() {
    recorder::snapshotter();
    let path = std::env::temp_dir().join(format!("autotel-no-agent-{}.socket", std::process::id()));
    let exporter = StatsD::dogstatsd()
        .with_address(&format!("unix://{}", path.display()))
        .unwrap()
        .build()
        .expect("a socket to nowhere opens: the agent may come later");
    let (recorder, guard) = Push::new().with_exporter(exporter).build().unwrap();
    let started = Instant::now();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..1000 {
            metrics::counter!("calls_total", "n" => i.to_string()).increment(1);
        }
    });
    assert!(guard.flush(FLUSH));
    drop(guard);
    assert!(started.elapsed() < FLUSH);
    let errors = recorder::global_counter_with(
        "autotel_export_errors_total",
        &[
            ("exporter", "statsd"),
            ("signal", "metrics"),
            ("reason", "unavailable"),
        ],
    );
    assert!(errors >= 1, "send errors are counted: {errors}");
}

#[test]
fn a_line_longer_than_a_datagram_is_dropped_and_counted() {
    recorder::snapshotter();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let port = socket.local_addr().unwrap().port();
    let listener = Listener::start(move |buffer| socket.recv(buffer).ok());
    let exporter = StatsD::dogstatsd()
        .with_host("127.0.0.1", port)
        .build()
        .unwrap();
    let (recorder, guard) = Push::new().with_exporter(exporter).build().unwrap();
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("big_total", "payload" => "x".repeat(2000)).increment(1);
        metrics::counter!("small_total").increment(1);
    });
    assert!(guard.flush(FLUSH));
    std::thread::sleep(Duration::from_millis(300));
    let datagrams = listener.finish();
    let text: String = datagrams
        .iter()
        .map(|d| String::from_utf8_lossy(d).into_owned())
        .collect();
    assert!(text.contains("small_total:1|c"), "{text}");
    assert!(!text.contains("big_total"), "{text}");
    let dropped = recorder::global_counter_with(
        "autotel_dropped_total",
        &[("signal", "metrics"), ("reason", "too_large")],
    );
    assert!(dropped >= 1);
}
