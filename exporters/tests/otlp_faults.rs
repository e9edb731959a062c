//! Collector faults: one that accepts connections and never answers cannot
//! hold shutdown (or a drop) beyond its timeout with all three signals on,
//! and one restarted mid-run gets the export back once it listens again,
//! with the failures of the gap counted.
#![cfg(feature = "otlp")]

use std::net::{SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use autotel_exporters::otlp::{Otlp, OtlpError, OtlpGuard, Protocol};
use autotel_test_support::http::get_json;
use autotel_test_support::net::{black_hole, free_port, loopback};
use autotel_test_support::peers::{Peer, peer_bin};
use autotel_test_support::recorder::{global_total, snapshotter};
use tracing_subscriber::layer::SubscriberExt;

/// Shutdown timeout of the pipelines under test.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// How much longer than its timeout shutdown may take on a loaded machine.
const SLACK: Duration = Duration::from_secs(20);

fn emit(otlp: &OtlpGuard, name: &'static str, n: usize) {
    let subscriber = tracing_subscriber::registry()
        .with(otlp.trace_layer())
        .with(otlp.log_layer());
    tracing::subscriber::with_default(subscriber, || {
        for i in 0..n {
            let _span = match name {
                "before_restart" => tracing::info_span!("before_restart", i).entered(),
                "during_gap" => tracing::info_span!("during_gap", i).entered(),
                _ => tracing::info_span!("after_restart", i).entered(),
            };
            tracing::info!(i, "working");
        }
    });
    let recorder = otlp.metrics_recorder().expect("metrics are on");
    metrics::with_local_recorder(&recorder, || {
        metrics::counter!("span_calls_total", "span_name" => name).increment(n as u64);
    });
}

fn silent_pipeline(protocol: Protocol) -> OtlpGuard {
    Otlp::new()
        .with_endpoint(format!("http://{}", black_hole()))
        .expect("a valid endpoint")
        .with_protocol(protocol)
        .with_shutdown_timeout(SHUTDOWN_TIMEOUT)
        .expect("a valid setting")
        .with_metrics_interval(Duration::from_millis(200))
        .expect("a valid setting")
        .with_batch_delay(Duration::from_millis(100))
        .build()
        .expect("the pipeline starts")
}

fn shutdown_is_bounded_against_a_silent_collector(protocol: Protocol) {
    let otlp = silent_pipeline(protocol);
    emit(&otlp, "during_gap", 50);
    // Let every signal start an export that will never be answered.
    std::thread::sleep(Duration::from_secs(1));
    let start = Instant::now();
    let flushed = otlp.force_flush();
    assert!(
        start.elapsed() < SHUTDOWN_TIMEOUT + SLACK,
        "flush took {:?}",
        start.elapsed()
    );
    assert!(
        flushed.is_err(),
        "a flush to a silent collector cannot succeed"
    );

    let start = Instant::now();
    let result = otlp.shutdown();
    let took = start.elapsed();
    assert!(
        took < SHUTDOWN_TIMEOUT + SLACK,
        "shutdown took {took:?} with a timeout of {SHUTDOWN_TIMEOUT:?}"
    );
    match result {
        Err(OtlpError::Timeout { action, timeout }) => {
            assert_eq!(action, "shutdown");
            assert_eq!(timeout, SHUTDOWN_TIMEOUT);
        }
        other => panic!("shutdown against a silent collector returned {other:?}"),
    }
    let message = OtlpError::Timeout {
        action: "shutdown",
        timeout: SHUTDOWN_TIMEOUT,
    }
    .to_string();
    assert!(!message.trim().is_empty());

    // Dropping a pipeline instead of shutting it down is bounded the same way.
    let otlp = silent_pipeline(protocol);
    emit(&otlp, "during_gap", 50);
    std::thread::sleep(Duration::from_secs(1));
    let start = Instant::now();
    drop(otlp);
    assert!(
        start.elapsed() < SHUTDOWN_TIMEOUT + SLACK,
        "drop took {:?}",
        start.elapsed()
    );
}

/// Every pipeline adds to the global counters that the restart tests read:
/// the tests of this file run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(PoisonError::into_inner)
}

#[test]
fn silent_collector_over_grpc() {
    let _one = one_at_a_time();
    shutdown_is_bounded_against_a_silent_collector(Protocol::Grpc);
}

#[test]
fn silent_collector_over_http() {
    let _one = one_at_a_time();
    shutdown_is_bounded_against_a_silent_collector(Protocol::HttpProtobuf);
}

/// ddapm-test-agent on fixed ports, so that it can be started again on them.
struct Agent {
    bin: std::path::PathBuf,
    ports: [u16; 3],
}

impl Agent {
    fn http(&self) -> SocketAddr {
        loopback(self.ports[1])
    }

    fn grpc(&self) -> SocketAddr {
        loopback(self.ports[2])
    }

    /// Starts the agent and waits until both OTLP ports answer.
    fn start(&self) -> Peer {
        let [apm, http, grpc] = self.ports.map(|p| p.to_string());
        let args = [
            "--host",
            "127.0.0.1",
            "-p",
            &apm,
            "--otlp-http-port",
            &http,
            "--otlp-grpc-port",
            &grpc,
        ];
        let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        let mut peer = Peer::start("ddapm-test-agent", &self.bin, &args);
        let (http, grpc) = (self.http(), self.grpc());
        peer.wait_for("the OTLP HTTP port", || {
            get_json(http, "/test/session/traces")
        });
        peer.wait_for("the OTLP gRPC port", || {
            TcpStream::connect_timeout(&grpc, Duration::from_secs(1)).ok()
        });
        peer
    }

    /// Whether a span named `name` reached the running agent.
    fn has_span(&self, name: &str) -> bool {
        get_json(self.http(), "/test/session/traces")
            .is_some_and(|traces| traces.to_string().contains(&format!("\"{name}\"")))
    }
}

fn export_resumes_after_a_restart(protocol: Protocol) {
    let Some(bin) = peer_bin("AUTOTEL_TEST_AGENT_BIN") else {
        return;
    };
    snapshotter();
    let agent = Agent {
        bin,
        ports: [free_port(), free_port(), free_port()],
    };
    let mut peer = agent.start();
    let endpoint = match protocol {
        Protocol::Grpc => agent.grpc(),
        _ => agent.http(),
    };
    let otlp = Otlp::new()
        .with_endpoint(format!("http://{endpoint}"))
        .expect("a valid endpoint")
        .with_protocol(protocol)
        .with_export_timeout(Duration::from_secs(2))
        .expect("a valid setting")
        .with_shutdown_timeout(Duration::from_secs(10))
        .expect("a valid setting")
        .with_metrics_interval(Duration::from_millis(500))
        .expect("a valid setting")
        .build()
        .expect("the pipeline starts");

    emit(&otlp, "before_restart", 5);
    otlp.force_flush().expect("the agent is up");
    peer.wait_for("the spans sent before the restart", || {
        agent.has_span("before_restart").then_some(())
    });
    let errors_before = otlp.stats().export_errors();
    let counted_before = global_total("autotel_export_errors_total");

    // The collector goes away; the program keeps exporting.
    drop(peer);
    emit(&otlp, "during_gap", 5);
    assert!(
        otlp.force_flush().is_err(),
        "a flush with no collector cannot succeed"
    );
    // Periodic metric exports fail too.
    std::thread::sleep(Duration::from_secs(2));
    let stats = otlp.stats();
    assert!(
        stats.export_errors() > errors_before,
        "no export error counted during the gap: {stats:?}"
    );
    assert!(stats.dropped_spans() >= 5, "{stats:?}");
    assert!(stats.dropped_logs() >= 5, "{stats:?}");
    let counted = global_total("autotel_export_errors_total") - counted_before;
    assert!(
        counted >= 1,
        "autotel_export_errors_total did not move during the gap"
    );

    // The collector comes back on the same port: export resumes.
    let mut peer = agent.start();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        emit(&otlp, "after_restart", 5);
        let flushed = otlp.force_flush();
        if flushed.is_ok() && agent.has_span("after_restart") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "export did not resume within 60 s of the restart: {flushed:?}\n{}",
            peer.logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let gap = otlp.stats();
    emit(&otlp, "after_restart", 5);
    otlp.force_flush().expect("the agent is back");
    let after = otlp.stats();
    assert_eq!(
        (after.dropped_spans(), after.dropped_logs()),
        (gap.dropped_spans(), gap.dropped_logs()),
        "spans and logs after the restart are exported, not dropped"
    );
    peer.wait_for("metrics after the restart", || {
        get_json(agent.http(), "/test/session/metrics")
            .filter(|m| m.to_string().contains("span_calls_total"))
    });
    otlp.shutdown().expect("shutdown with the agent up");
}

#[test]
fn collector_restarted_over_grpc() {
    let _one = one_at_a_time();
    export_resumes_after_a_restart(Protocol::Grpc);
}

#[test]
fn collector_restarted_over_http() {
    let _one = one_at_a_time();
    export_resumes_after_a_restart(Protocol::HttpProtobuf);
}
