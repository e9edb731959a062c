//! The set-ups compared, each installed as the process's global subscriber
//! and recorder in a child process of its own.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

use autotel_exporters::otlp::{Otlp, OtlpGuard};
use autotel_exporters::prometheus::Prometheus;
use autotel_layers::http::HttpLayer;
use autotel_layers::writer::NonBlocking;
use autotel_layers::{JsonLayer, SpanMetricsLayer};
use axum::extract::MatchedPath;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse};
use tracing::Level;
use tracing::span::{Attributes, Id};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// One set-up: its name in the results and what it installs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub name: &'static str,
    pub about: &'static str,
    /// Whether it writes log lines, exports spans, exports logs.
    pub writes_lines: bool,
    pub exports_spans: bool,
    pub exports_logs: bool,
    /// Whether the HTTP workload runs under it.
    pub http: bool,
}

const fn setup(
    name: &'static str,
    about: &'static str,
    [writes_lines, exports_spans, exports_logs, http]: [bool; 4],
) -> Setup {
    Setup {
        name,
        about,
        writes_lines,
        exports_spans,
        exports_logs,
        http,
    }
}

/// Every set-up, in the order they run and are reported.
pub const SETUPS: [Setup; 8] = [
    setup("none", "1. no subscriber", [false, false, false, true]),
    setup(
        "preset",
        "2. production preset, OTLP/HTTP to the sink",
        [true, true, true, true],
    ),
    setup(
        "by_hand",
        "3. fmt().json() + tracing-opentelemetry + hand histogram",
        [true, true, false, true],
    ),
    setup(
        "metrics",
        "4. span metrics + Prometheus recorder only",
        [false, false, false, false],
    ),
    setup("json", "   4 + JSON logs", [true, false, false, false]),
    setup(
        "otlp_spans",
        "   4 + JSON + OTLP spans",
        [true, true, false, false],
    ),
    setup(
        "otlp_logs",
        "   4 + JSON + OTLP spans + OTLP logs",
        [true, true, true, false],
    ),
    setup(
        "preset_no_resources",
        "   2 without per-step CPU time and system metrics",
        [true, true, true, false],
    ),
];

/// A set-up once installed: what flushes it, what scrapes it, what it adds
/// around the HTTP service, and what keeps it running.
pub struct Running {
    pub flush: Box<dyn Fn()>,
    pub scrape: Box<dyn Fn() -> String>,
    pub router: fn(axum::Router) -> axum::Router,
    pub guards: Vec<Box<dyn Any>>,
}

fn unchanged(router: axum::Router) -> axum::Router {
    router
}

fn autotel_http(router: axum::Router) -> axum::Router {
    router.route_layer(
        HttpLayer::new().with_route(|ext| ext.get::<MatchedPath>().map(MatchedPath::as_str)),
    )
}

/// `TraceLayer` with its span and response event at `INFO` (its defaults,
/// `DEBUG`, would be filtered out), and the hand-written histogram.
fn by_hand_http(router: axum::Router) -> axum::Router {
    router
        .route_layer(axum::middleware::from_fn(request_histogram))
        .route_layer(
            tower_http::trace::TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

/// The request-duration histogram as people write it by hand.
async fn request_histogram(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let start = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(String::new, |path| path.as_str().to_owned());
    let response = next.run(request).await;
    metrics::histogram!(
        "http_server_request_duration_seconds",
        "http_request_method" => method,
        "http_route" => route,
        "http_response_status_code" => response.status().as_u16().to_string(),
    )
    .record(start.elapsed().as_secs_f64());
    response
}

/// Installs the set-up named `name`, exporting to the sink at `sink`.
pub fn install(name: &str, sink: SocketAddr) -> Running {
    let endpoint = format!("http://{sink}");
    match name {
        "none" => Running {
            flush: Box::new(|| {}),
            scrape: Box::new(String::new),
            router: unchanged,
            guards: Vec::new(),
        },
        "preset" | "preset_no_resources" => {
            let mut preset = autotel_presets::production("bench")
                .otlp_endpoint(endpoint)
                .prometheus_port(0);
            if name == "preset_no_resources" {
                preset = preset.without_system_metrics();
            }
            let telemetry = std::rc::Rc::new(preset.try_init().expect("the preset starts"));
            let (flush, scrape) = (telemetry.clone(), telemetry.clone());
            Running {
                flush: Box::new(move || flush.flush()),
                scrape: Box::new(move || scrape.metrics_text().unwrap_or_default()),
                router: autotel_http,
                guards: vec![Box::new(telemetry)],
            }
        }
        "by_hand" => by_hand(&endpoint),
        _ => parts(name, &endpoint),
    }
}

/// Set-ups 4 and its additions: autotel's layers composed by hand, in the
/// order the preset stacks them.
fn parts(name: &str, endpoint: &str) -> Running {
    let (recorder, prometheus) = Prometheus::new()
        .without_listener()
        .build()
        .expect("the Prometheus recorder builds");
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("no recorder was installed");
    let json = name != "metrics";
    let otlp = (name == "otlp_spans" || name == "otlp_logs").then(|| {
        Otlp::new()
            .with_endpoint(endpoint)
            .expect("a valid endpoint")
            .with_logs(name == "otlp_logs")
            .with_metrics(false)
            .build()
            .expect("the OTLP pipeline starts")
    });
    let (writer, writer_guard) = NonBlocking::builder()
        .stdout()
        .expect("the log writer starts");
    tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(otlp.as_ref().and_then(OtlpGuard::trace_layer))
        .with(SpanMetricsLayer::new())
        .with(otlp.as_ref().and_then(OtlpGuard::log_layer))
        .with(json.then(|| JsonLayer::new(writer.clone()).with_service_name("bench")))
        .init();
    let otlp = std::rc::Rc::new(otlp);
    let flushed = otlp.clone();
    Running {
        flush: Box::new(move || {
            writer.flush_within(std::time::Duration::from_secs(5));
            if let Some(otlp) = flushed.as_ref() {
                let _ = otlp.force_flush();
            }
        }),
        scrape: Box::new(move || handle.render()),
        router: unchanged,
        guards: vec![Box::new(otlp), Box::new(writer_guard), Box::new(prometheus)],
    }
}

/// Set-up 3: the stack people assemble by hand from the usual crates.
fn by_hand(endpoint: &str) -> Running {
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    metrics::set_global_recorder(recorder).expect("no recorder was installed");
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(format!("{endpoint}/v1/traces"))
        .build()
        .expect("the OTLP span exporter builds");
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("bench")
                .build(),
        )
        .build();
    let (writer, writer_guard) = tracing_appender::non_blocking(std::io::stdout());
    tracing_subscriber::registry()
        .with(LevelFilter::INFO)
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("bench")))
        .with(SpanDurations)
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_writer(writer),
        )
        .init();
    let flushed = provider.clone();
    Running {
        flush: Box::new(move || {
            let _ = flushed.force_flush();
        }),
        scrape: Box::new(move || {
            handle.run_upkeep();
            handle.render()
        }),
        router: by_hand_http,
        guards: vec![Box::new(ShutdownOnDrop(provider)), Box::new(writer_guard)],
    }
}

/// Shuts the tracer provider down (exporting what waits) when dropped.
struct ShutdownOnDrop(opentelemetry_sdk::trace::SdkTracerProvider);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        let _ = self.0.shutdown();
    }
}

/// A span-duration histogram as people write it: the start time in the
/// span's extensions, one `histogram!` call when it closes.
struct SpanDurations;

struct Started(Instant);

impl<S> tracing_subscriber::Layer<S> for SpanDurations
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, _: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(Started(Instant::now()));
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(&id)
            && let Some(Started(start)) = span.extensions().get::<Started>()
        {
            metrics::histogram!("span_duration_seconds", "span_name" => span.name())
                .record(start.elapsed().as_secs_f64());
        }
    }
}
