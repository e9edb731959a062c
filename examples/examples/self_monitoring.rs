//! What autotel counts about itself: telemetry it could not export, values
//! it cut, label sets past a cap. Each shows on `/metrics` beside the
//! program's own metrics, and on the dashboards' "Export errors", "Dropped
//! telemetry" and "Series overflow" panels.
//!
//! ```text
//! cargo run -p autotel-examples --example self_monitoring
//! ```
//!
//! It makes each of them happen, on purpose, then prints its `autotel_*`
//! metrics:
//!
//! - the OTLP collector is down (the endpoint is a loopback port on which
//!   nothing listens): each failed export is counted in
//!   `autotel_export_errors_total{exporter="otlp", signal, reason}`, and
//!   reported in a warning line at most once a minute per signal and reason;
//! - a log field is longer than the limit (16 KiB): it is cut, marked
//!   `[truncated]`, and counted in `autotel_truncated_values_total{signal}`;
//! - a span metric gets more label sets than its cap: here a `customer_id`
//!   dimension with the cap lowered to 20 (2000 by default). Later label sets
//!   go to the series labelled `otel_metric_overflow="true"`, and are counted
//!   in `autotel_series_overflow_total{metric}`.
//!
//! With `-- --serve` it keeps doing so every few seconds while it serves
//! `/metrics`, until Ctrl-C. The presets' variables (`ENVIRONMENT`,
//! `PROMETHEUS_PORT`, ...) work as in the quickstart, but for the OTLP
//! endpoint, the log format and the log level, which the code sets.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use autotel_presets::autotel_layers::SpanMetricsLayer;
use tracing::{info, info_span};

/// The series cap of each span metric, lowered from 2000.
const MAX_SERIES: usize = 20;

/// A loopback endpoint on which nothing listens: a collector that is down.
fn closed_endpoint() -> String {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("a free port");
    let address = listener.local_addr().expect("a bound address");
    drop(listener);
    format!("http://{address}")
}

/// One checkout of a customer never seen before: one more label set of
/// `span_calls_total` and `span_duration_seconds`.
fn checkout(customer: u64) {
    let _span = info_span!("checkout", customer_id = customer).entered();
}

/// A log line with a field over the length limit.
fn oversized_payload(round: u64) {
    let payload = "x".repeat(20 * 1024);
    info!(round, payload = %payload, "received an oversized payload");
}

fn main() {
    let span_metrics = SpanMetricsLayer::new()
        .with_dimension("customer_id")
        .and_then(|layer| layer.with_max_series(MAX_SERIES))
        .expect("a valid dimension and cap");
    let telemetry = autotel_presets::from_env("self_monitoring")
        .service_version(env!("CARGO_PKG_VERSION"))
        .otlp_endpoint(closed_endpoint())
        .span_metrics_layer(span_metrics)
        // JSON lines in every environment, so the cut shows in the output
        // (readable text logs are never cut).
        .json_logs(true)
        .console_export(false)
        .log_level("info")
        .init();

    for customer in 0..2 * MAX_SERIES as u64 {
        checkout(customer);
    }
    oversized_payload(0);
    // Exports now, and fails: the collector is down.
    telemetry.flush();

    if std::env::args().any(|arg| arg == "--serve") {
        serve(&telemetry);
    }

    let text = telemetry.metrics_text().unwrap_or_default();
    let ours = |line: &&str| {
        line.starts_with("autotel_export_errors_total")
            || line.starts_with("autotel_truncated_values_total")
            || line.starts_with("autotel_series_overflow_total")
    };
    let mut stdout = std::io::stdout().lock();
    for line in text.lines().filter(ours) {
        let _ = writeln!(stdout, "{line}");
    }
    let _ = stdout.flush();
    // Dropping `telemetry` tries the collector once more, within its
    // shutdown timeout.
}

/// Serves `/metrics`, with a new customer and an oversized payload every
/// few seconds.
fn serve(telemetry: &autotel_presets::TelemetryGuard) -> ! {
    match telemetry.prometheus_address() {
        Some(address) => eprintln!(
            "serving http://{}/metrics, Ctrl-C to stop",
            SocketAddr::new(Ipv4Addr::LOCALHOST.into(), address.port())
        ),
        None => eprintln!("no Prometheus endpoint in this environment; Ctrl-C to stop"),
    }
    let mut round = 0;
    loop {
        std::thread::sleep(Duration::from_secs(2));
        round += 1;
        checkout(2 * MAX_SERIES as u64 + round);
        oversized_payload(round);
    }
}
