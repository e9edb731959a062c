//! The W3C Trace Context test harness (the specification's own, in
//! `w3c_trace_context/`; see its NOTICE.md) against an axum service on
//! loopback with `HttpLayer`, which calls the harness back through reqwest
//! and `ReqwestMiddleware`: every case of Level 1, the advanced ones and
//! Level 2, at the strictest level (`tracestate` limits included).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use autotel_layers::http::{HttpLayer, ReqwestMiddleware};
use autotel_test_support::net::free_port;
use autotel_test_support::peers::peer_bin;
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::routing::post;
use reqwest_middleware::ClientWithMiddleware;
use serde_json::Value;

/// What the harness asks for: a list of `{url, arguments}`; each is posted
/// `arguments` in turn, with the trace context of the request being handled.
async fn test(
    State(clients): State<Clients>,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], String) {
    call_back(&clients.traced, &body).await
}

/// The same without `ReqwestMiddleware`: nothing carries the trace.
async fn untraced(
    State(clients): State<Clients>,
    body: Bytes,
) -> ([(&'static str, &'static str); 1], String) {
    call_back(&clients.untraced, &body).await
}

/// A client with `ReqwestMiddleware` and one without.
#[derive(Clone)]
struct Clients {
    traced: ClientWithMiddleware,
    untraced: ClientWithMiddleware,
}

/// Posts each action's arguments to its URL.
async fn call_back(
    client: &ClientWithMiddleware,
    body: &[u8],
) -> ([(&'static str, &'static str); 1], String) {
    let actions: Vec<Value> = serde_json::from_slice(body).unwrap_or_default();
    for action in actions {
        let (Some(url), arguments) = (action["url"].as_str(), &action["arguments"]) else {
            continue;
        };
        let body = serde_json::to_vec(arguments).unwrap_or_default();
        let _ = client
            .post(url)
            .header(CONTENT_TYPE.as_str(), "application/json")
            .body(body)
            .send()
            .await;
    }
    (
        [(CONTENT_TYPE.as_str(), "application/json")],
        "null".to_owned(),
    )
}

/// Serves the harness's test endpoint on a free loopback port, in the
/// background; its address.
fn service() -> SocketAddr {
    // This workspace builds reqwest's rustls without a crypto provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing::subscriber::set_global_default(tracing_subscriber::registry())
        .expect("the only subscriber of this test binary");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .expect("a port");
    let address = listener.local_addr().expect("an address");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("a client");
    let clients = Clients {
        traced: reqwest_middleware::ClientBuilder::new(client.clone())
            .with(ReqwestMiddleware::new())
            .build(),
        untraced: reqwest_middleware::ClientBuilder::new(client).build(),
    };
    let app = Router::new()
        .route("/test", post(test))
        .route("/untraced", post(untraced))
        .with_state(clients)
        .layer(HttpLayer::new());
    std::thread::spawn(move || runtime.block_on(async move { axum::serve(listener, app).await }));
    address
}

/// Runs the harness against `endpoint`, with the names of the tests to run
/// (all when empty); its result and report.
fn harness(python: &Path, endpoint: &str, tests: &[&str]) -> (bool, String) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/w3c_trace_context");
    let output = Command::new(python)
        .current_dir(&dir)
        .arg("test.py")
        .arg(endpoint)
        .args(tests)
        .envs([
            ("HARNESS_HOST", "127.0.0.1".to_owned()),
            ("HARNESS_PORT", free_port().to_string()),
            ("SPEC_LEVEL", "2".to_owned()),
            ("STRICT_LEVEL", "2".to_owned()),
            ("PYTHONDONTWRITEBYTECODE", "1".to_owned()),
        ])
        .output()
        .expect("the harness runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn the_w3c_harness_passes_every_level_1_and_level_2_case() {
    let Some(python) = peer_bin("AUTOTEL_PYTHON_BIN") else {
        return;
    };
    let service = service();
    let (passed, report) = harness(&python, &format!("http://{service}/test"), &[]);
    assert!(passed, "{report}");
    // Every test ran, none was skipped: the harness has 41 at this commit.
    let ran = report
        .lines()
        .find_map(|line| {
            line.strip_prefix("Ran ")?
                .split(' ')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(0);
    assert!(ran >= 41, "{report}");
    assert!(!report.contains("skipped"), "{report}");
    assert!(report.lines().any(|line| line == "OK"), "{report}");
    assert!(report.contains("test_propagates_random_flag"), "{report}");

    // The harness bites: a service whose client carries nothing fails.
    let (passed, report) = harness(
        &python,
        &format!("http://{service}/untraced"),
        &["TraceContextTest.test_traceparent_included_tracestate_missing"],
    );
    assert!(!passed, "{report}");
    assert!(report.contains("expect one traceparent header"), "{report}");
}
