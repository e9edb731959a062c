//! A soak run: spans, events and HTTP requests from 4 threads, with every
//! exporter on, reporting memory, drops and export errors every 10 seconds.
//!
//! ```text
//! cargo run --release -p autotel-examples --example soak -- --seconds 600 > /dev/null
//! cargo run --release -p autotel-examples --example soak -- --seconds 60 --otlp http://127.0.0.1:4318 > /dev/null
//! ```
//!
//! The production preset is on: JSON logs through the non-blocking writer
//! on standard output (send it to `/dev/null`), span and pipeline metrics,
//! system metrics, the Prometheus `/metrics` endpoint, and OTLP export of
//! traces, logs and metrics. OTLP goes to `--otlp URL` (HTTP/protobuf unless
//! `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`), else to a ddapm-test-agent started
//! from `AUTOTEL_TEST_AGENT_BIN` (`source scripts/peers.sh`), else it is off
//! and the report says so.
//!
//! The service is the axum router of the `http_service` example behind
//! `HttpLayer`; each worker thread keeps one HTTP/1.1 connection to it. Every
//! 10 seconds one line goes to standard error, with the figures read from
//! the program's own `/metrics` endpoint over HTTP:
//!
//! ```text
//! soak t=10s rss_mib=14.1 iterations=2002 requests=2002 http_failures=0 dropped=0 export_errors=0 series_overflow=0
//! ```
//!
//! and a summary at the end (first and last RSS, growth, totals, drops and
//! export errors by reason). `--rate N` sets the iterations per second of
//! each worker (default 50: each iteration makes seven spans and five log
//! records, about what one ddapm-test-agent takes in; beyond what the
//! collector takes, OTLP queues fill and the drops are counted with
//! `reason="queue_full"`). Without `--seconds` it only says how to run it
//! (`cargo test --all-targets` runs every example, with no arguments).

mod agent;
mod client;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use autotel_presets::autotel_layers::http::HttpLayer;
use axum::Router;
use axum::extract::{MatchedPath, Path};
use axum::http::StatusCode;
use axum::routing::get;
use tracing::{error, info, info_span, instrument, warn};

/// Worker threads that drive the load.
const WORKERS: u64 = 4;

/// Time between two report lines.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// Steps of the pipeline each iteration runs through.
const STEPS: [&str; 3] = ["extract", "transform", "load"];

#[instrument]
async fn user(Path(id): Path<u64>) -> String {
    info!(user_id = id, "found user");
    format!("user {id}\n")
}

async fn fail() -> (StatusCode, &'static str) {
    warn!("the user store is down");
    (StatusCode::SERVICE_UNAVAILABLE, "try again later\n")
}

/// What the command line asks for.
struct Options {
    seconds: Option<u64>,
    rate: u64,
    otlp: Option<String>,
}

fn options() -> Options {
    let mut options = Options {
        seconds: None,
        rate: 50,
        otlp: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| {
            args.next().unwrap_or_else(|| {
                eprintln!("soak: {name} needs a value");
                std::process::exit(2)
            })
        };
        let number = |name: &str, text: String| {
            text.parse::<u64>().unwrap_or_else(|_| {
                eprintln!("soak: {name}='{text}' is not a whole number");
                std::process::exit(2)
            })
        };
        match arg.as_str() {
            "--seconds" => options.seconds = Some(number("--seconds", value("--seconds"))),
            "--rate" => options.rate = number("--rate", value("--rate")).max(1),
            "--otlp" => options.otlp = Some(value("--otlp")),
            // `cargo test --all-targets` runs this example too, passing on
            // the test runner's own arguments.
            other => eprintln!(
                "soak: ignoring the argument '{other}'; expected --seconds N, --rate N, --otlp URL"
            ),
        }
    }
    options
}

/// Counts shared by the workers.
#[derive(Default)]
struct Totals {
    iterations: AtomicU64,
    requests: AtomicU64,
    http_failures: AtomicU64,
}

fn main() {
    let options = options();
    let Some(seconds) = options.seconds else {
        eprintln!(
            "soak: say how long to run: soak --seconds N [--rate N] [--otlp URL] > /dev/null"
        );
        return;
    };
    let agent = match &options.otlp {
        Some(_) => None,
        None => agent::start(),
    };
    let otlp = options
        .otlp
        .clone()
        .or_else(|| agent.as_ref().map(agent::Agent::endpoint));
    let mut preset = autotel_presets::production("soak").service_version(env!("CARGO_PKG_VERSION"));
    if std::env::var_os("PROMETHEUS_PORT").is_none() {
        preset = preset.prometheus_port(0);
    }
    if let Some(url) = &otlp {
        preset = preset.otlp_endpoint(url.clone());
    }
    let telemetry = preset.init();
    eprintln!(
        "soak: {seconds} s, {WORKERS} workers at {} iterations/s each, OTLP {}",
        options.rate,
        otlp.as_deref()
            .unwrap_or("off (no --otlp and no AUTOTEL_TEST_AGENT_BIN)")
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let app = Router::new()
        .route("/users/{id}", get(user))
        .route("/fail", get(fail))
        .layer(
            HttpLayer::new()
                .with_route(|extensions| extensions.get::<MatchedPath>().map(MatchedPath::as_str)),
        );
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
        .expect("a loopback port for the service");
    let service = listener.local_addr().expect("a bound address");
    runtime.spawn(async move { axum::serve(listener, app).await });

    let stop = Arc::new(AtomicBool::new(false));
    let totals = Arc::new(Totals::default());
    let workers: Vec<_> = (0..WORKERS)
        .map(|worker| {
            let (stop, totals) = (Arc::clone(&stop), Arc::clone(&totals));
            let rate = options.rate;
            std::thread::Builder::new()
                .name(format!("soak-{worker}"))
                .spawn(move || drive(worker, service, rate, &stop, &totals))
                .expect("a worker thread")
        })
        .collect();

    let metrics = telemetry.prometheus_address();
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut first_rss = None;
    let mut last = Report::default();
    let mut scrape = String::new();
    while Instant::now() < deadline {
        let next = (start + REPORT_EVERY * (last.seconds / 10 + 1) as u32).min(deadline);
        std::thread::sleep(next.saturating_duration_since(Instant::now()));
        scrape = metrics
            .and_then(|address| client::scrape(loopback(address)).ok())
            .or_else(|| telemetry.metrics_text())
            .unwrap_or_default();
        last = Report::new(start.elapsed().as_secs(), &totals, &scrape);
        first_rss.get_or_insert(last.rss_mib);
        eprintln!("{}", last.line());
        if let Some(agent) = &agent {
            agent.clear();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        let _ = worker.join();
    }
    // The summary counts what the workers did up to their last iteration,
    // which may have ended after the last report.
    scrape = metrics
        .and_then(|address| client::scrape(loopback(address)).ok())
        .or_else(|| telemetry.metrics_text())
        .unwrap_or(scrape);
    last = Report::new(start.elapsed().as_secs(), &totals, &scrape);
    let first_rss = first_rss.unwrap_or(last.rss_mib);
    eprintln!(
        "soak done: {} s, rss first={first_rss:.1} MiB last={:.1} MiB growth={:+.1} MiB, \
         iterations={} requests={} http_failures={} dropped={} export_errors={}",
        last.seconds,
        last.rss_mib,
        last.rss_mib - first_rss,
        last.iterations,
        last.requests,
        last.http_failures,
        last.dropped,
        last.export_errors,
    );
    for line in scrape.lines().filter(|line| {
        line.starts_with("autotel_dropped_total{")
            || line.starts_with("autotel_export_errors_total{")
    }) {
        eprintln!("soak done: {line}");
    }
    drop(telemetry);
    drop(agent);
}

/// The same port on 127.0.0.1 (the endpoint listens on every interface).
fn loopback(address: SocketAddr) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, address.port()))
}

/// One worker: every iteration a request to the service, a span with
/// events and a pipeline run of three steps, at `rate` iterations a second.
fn drive(worker: u64, service: SocketAddr, rate: u64, stop: &AtomicBool, totals: &Totals) {
    let period = Duration::from_secs(1) / u32::try_from(rate).unwrap_or(u32::MAX);
    let mut connection = None;
    let mut next = Instant::now();
    let mut i: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        let path = if i % 100 == 99 {
            "/fail".to_owned()
        } else {
            format!("/users/{}", (worker * 1_000_003 + i) % 10_000)
        };
        match client::get(&mut connection, service, &path) {
            Ok(_) => totals.requests.fetch_add(1, Ordering::Relaxed),
            Err(_) => totals.http_failures.fetch_add(1, Ordering::Relaxed),
        };

        let span = info_span!("soak.iteration", worker, batch = i % 50);
        span.in_scope(|| {
            info!(item = i, "iteration started");
            let run = info_span!("pipeline", pipeline.name = "soak", items = 10u64);
            run.in_scope(|| {
                for step in STEPS {
                    let _step = info_span!("step", step.name = step).entered();
                    info!(items_processed = 10u64, "step done");
                }
            });
            if i.is_multiple_of(250) {
                error!(item = i, "iteration failed on purpose");
            }
        });
        totals.iterations.fetch_add(1, Ordering::Relaxed);
        i += 1;

        next += period;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else if now - next > Duration::from_secs(1) {
            // Behind by more than a second: do not try to catch up.
            next = now;
        }
    }
}

/// The figures of one report line.
#[derive(Default)]
struct Report {
    seconds: u64,
    rss_mib: f64,
    iterations: u64,
    requests: u64,
    http_failures: u64,
    dropped: f64,
    export_errors: f64,
    series_overflow: f64,
}

impl Report {
    fn new(seconds: u64, totals: &Totals, scrape: &str) -> Self {
        Self {
            seconds,
            rss_mib: rss_bytes().map_or(f64::NAN, |b| b as f64 / (1024.0 * 1024.0)),
            iterations: totals.iterations.load(Ordering::Relaxed),
            requests: totals.requests.load(Ordering::Relaxed),
            http_failures: totals.http_failures.load(Ordering::Relaxed),
            dropped: sum(scrape, "autotel_dropped_total"),
            export_errors: sum(scrape, "autotel_export_errors_total"),
            series_overflow: sum(scrape, "autotel_series_overflow_total"),
        }
    }

    fn line(&self) -> String {
        format!(
            "soak t={}s rss_mib={:.1} iterations={} requests={} http_failures={} dropped={} \
             export_errors={} series_overflow={}",
            self.seconds,
            self.rss_mib,
            self.iterations,
            self.requests,
            self.http_failures,
            self.dropped,
            self.export_errors,
            self.series_overflow,
        )
    }
}

/// The sum of every series of the metric `name` in a scrape.
fn sum(scrape: &str, name: &str) -> f64 {
    scrape
        .lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, |total, value| total + value)
}

/// The resident set size of this process, from `/proc/self/status` (Linux).
fn rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
