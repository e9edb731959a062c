//! Exemplars in the OpenMetrics exposition: spans recorded through
//! `SpanMetricsLayer` put their trace and span ids on the bucket they fell
//! into; the endpoint serves OpenMetrics when the scraper prefers it (with
//! gzip and authentication as for the text format), the text format
//! otherwise, which `promtool` accepts; and a real Prometheus server with
//! exemplar storage ingests the OpenMetrics scrape and gives the ids back.
#![cfg(feature = "prometheus")]

use std::io::Read;
use std::net::SocketAddr;

use autotel_exporters::buckets;
use autotel_exporters::prometheus::{Prometheus, PrometheusRecorder};
use autotel_layers::exemplar::ExemplarFilter;
use autotel_layers::{SpanMetricsLayer, TraceContext};
use autotel_test_support::http::{agent, get_with, url};
use autotel_test_support::peers::{PrometheusPeer, peer_bin, promtool_check_metrics};
use tracing_subscriber::layer::SubscriberExt;

/// What Prometheus 2.42 sends in `Accept`.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,\
     application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Runs one span named `name` (`charge` or `off`) that lasts at least
/// `millis` ms, and returns its trace context (read inside it, which gives
/// it its ids).
fn span(
    recorder: &PrometheusRecorder,
    layer: SpanMetricsLayer,
    name: &str,
    millis: u64,
) -> TraceContext {
    let subscriber = tracing_subscriber::registry().with(layer);
    metrics::with_local_recorder(recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            let span = match name {
                "charge" => tracing::info_span!("charge"),
                _ => tracing::info_span!("off"),
            };
            let _entered = span.enter();
            std::thread::sleep(std::time::Duration::from_millis(millis));
            TraceContext::current().expect("the span has ids")
        })
    })
}

/// The `_bucket` lines of `span_duration_seconds` in `text` that carry an
/// exemplar, as (le, trace_id, span_id).
fn exemplar_lines(text: &str) -> Vec<(String, String, String)> {
    text.lines()
        .filter(|line| line.starts_with("span_duration_seconds_bucket{"))
        .filter_map(|line| {
            let (sample, exemplar) = line.split_once(" # ")?;
            let le = sample.split("le=\"").nth(1)?.split('"').next()?.to_owned();
            let field = |name: &str| {
                exemplar
                    .split(&format!("{name}=\""))
                    .nth(1)?
                    .split('"')
                    .next()
                    .map(str::to_owned)
            };
            Some((le, field("trace_id")?, field("span_id")?))
        })
        .collect()
}

/// The `le` of the first bucket of the duration histograms that holds `value`.
fn bucket_of(value: f64) -> String {
    buckets::SECONDS
        .iter()
        .find(|bound| value <= **bound)
        .map_or("+Inf".to_owned(), |bound| bound.to_string())
}

fn endpoint(
    builder: Prometheus,
) -> (
    PrometheusRecorder,
    autotel_exporters::prometheus::PrometheusGuard,
    SocketAddr,
) {
    let (recorder, guard) = builder
        .with_listen_address(SocketAddr::from(([127, 0, 0, 1], 0)))
        .build()
        .expect("the endpoint starts");
    let address = guard.local_addr().expect("a listener");
    (recorder, guard, address)
}

/// The body of an OpenMetrics scrape of `address`.
fn openmetrics_scrape(address: SocketAddr) -> String {
    get_with(
        address,
        "/metrics",
        &[("Accept", "application/openmetrics-text")],
    )
    .expect("a scrape")
    .body
}

#[test]
fn openmetrics_scrape_carries_the_ids_of_the_span_in_its_bucket() {
    let (recorder, _guard, address) = endpoint(Prometheus::new().with_global_label("region", "eu"));
    let context = span(&recorder, SpanMetricsLayer::new(), "charge", 30);

    let response =
        get_with(address, "/metrics", &[("Accept", PROMETHEUS_ACCEPT)]).expect("a scrape");
    assert_eq!(response.header("content-type"), Some(OPENMETRICS));
    let text = response.body;
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(!text.contains("\n\n"), "{text}");
    assert!(text.contains("# TYPE span_calls counter\n"), "{text}");
    let lines = exemplar_lines(&text);
    assert_eq!(lines.len(), 1, "{text}");
    let (le, trace_id, span_id) = &lines[0];
    assert_eq!(trace_id, &context.trace_id().to_string());
    assert_eq!(span_id, &context.span_id().to_string());
    let line = text
        .lines()
        .find(|line| line.contains(" # {"))
        .expect("an exemplar line");
    assert!(
        line.starts_with(&format!(
            "span_duration_seconds_bucket{{region=\"eu\",span_name=\"charge\",status=\"ok\",le=\"{le}\"}} 1 # {{"
        )),
        "{line}"
    );
    let mut tail = line.rsplit(' ');
    let time: f64 = tail.next().unwrap().parse().expect("a timestamp");
    let value: f64 = tail.next().unwrap().parse().expect("a value");
    // The exemplar sits on the first bucket whose bound holds its value.
    assert!(value >= 0.03, "{line}");
    assert_eq!(le, &bucket_of(value), "{line}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!((now - 600.0..=now).contains(&time), "{line}");

    // The text format has no exemplars.
    let plain = get_with(address, "/metrics", &[]).expect("a scrape");
    assert_eq!(plain.header("content-type"), Some(TEXT));
    assert!(!plain.body.contains(" # {"), "{}", plain.body);
    assert!(!plain.body.contains("# EOF"), "{}", plain.body);
}

#[test]
fn unsampled_traces_and_a_filter_turned_off_give_no_exemplar() {
    let (recorder, _guard, address) = endpoint(Prometheus::new());
    let subscriber = tracing_subscriber::registry().with(SpanMetricsLayer::new());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("unsampled");
            let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
                .parse()
                .expect("a traceparent");
            TraceContext::set_remote_parent(&span, &parent).expect("the parent is set");
            let _entered = span.enter();
        });
    });
    span(
        &recorder,
        SpanMetricsLayer::new().with_exemplar_filter(ExemplarFilter::AlwaysOff),
        "off",
        1,
    );
    let text = openmetrics_scrape(address);
    assert!(text.contains("span_name=\"unsampled\""), "{text}");
    assert!(text.contains("span_name=\"off\""), "{text}");
    assert!(exemplar_lines(&text).is_empty(), "{text}");

    // A recorder built without exemplars keeps none.
    let (recorder, _guard, address) = endpoint(Prometheus::new().with_exemplars(false));
    span(&recorder, SpanMetricsLayer::new(), "charge", 1);
    let text = openmetrics_scrape(address);
    assert!(text.contains("span_name=\"charge\""), "{text}");
    assert!(exemplar_lines(&text).is_empty(), "{text}");
}

#[test]
fn openmetrics_goes_through_gzip_and_authentication() {
    let (recorder, _guard, address) = endpoint(
        Prometheus::new()
            .with_bearer_token("s3cret")
            .expect("a token"),
    );
    let context = span(&recorder, SpanMetricsLayer::new(), "charge", 1);
    let refused =
        get_with(address, "/metrics", &[("Accept", PROMETHEUS_ACCEPT)]).expect("an answer");
    assert_eq!(refused.status, 401, "{refused:?}");
    let mut response = agent()
        .get(url(address, "/metrics"))
        .header("Accept", PROMETHEUS_ACCEPT)
        .header("Accept-Encoding", "gzip")
        .header("Authorization", "Bearer s3cret")
        .call()
        .expect("an authenticated scrape");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(header("content-type").as_deref(), Some(OPENMETRICS));
    assert_eq!(header("content-encoding").as_deref(), Some("gzip"));
    assert_eq!(header("vary").as_deref(), Some("Accept, Accept-Encoding"));
    let compressed = response.body_mut().read_to_vec().expect("a body");
    let mut text = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut text)
        .expect("valid gzip");
    assert!(text.ends_with("# EOF\n"), "{text}");
    let lines = exemplar_lines(&text);
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0].1, context.trace_id().to_string());
}

#[test]
fn promtool_accepts_the_text_format_beside_exemplars() {
    let Some(_) = peer_bin("AUTOTEL_PROMTOOL_BIN") else {
        return;
    };
    let (recorder, _guard, address) = endpoint(Prometheus::new());
    span(&recorder, SpanMetricsLayer::new(), "charge", 1);
    let openmetrics = get_with(address, "/metrics", &[("Accept", PROMETHEUS_ACCEPT)])
        .expect("a scrape")
        .body;
    assert_eq!(exemplar_lines(&openmetrics).len(), 1, "{openmetrics}");
    let text = get_with(address, "/metrics", &[]).expect("a scrape").body;
    let (ok, said) = promtool_check_metrics(&text).expect("promtool is installed");
    assert!(ok, "{said}\n{text}");
}

#[test]
fn prometheus_ingests_the_openmetrics_scrape_and_keeps_its_exemplars() {
    let (recorder, _guard, address) = endpoint(Prometheus::new());
    let context = span(&recorder, SpanMetricsLayer::new(), "charge", 20);
    let Some(mut prometheus) = PrometheusPeer::start_with_exemplars(address) else {
        return;
    };
    // The target is up: Prometheus parsed the OpenMetrics scrape.
    let trace_id = context.trace_id().to_string();
    let found = prometheus.exemplars("span_duration_seconds_bucket", |found| {
        found
            .iter()
            .any(|(_, labels, _)| labels["trace_id"] == trace_id.as_str())
    });
    let (series, labels, value) = found
        .iter()
        .find(|(_, labels, _)| labels["trace_id"] == trace_id.as_str())
        .expect("the exemplar");
    assert_eq!(labels["span_id"], context.span_id().to_string().as_str());
    assert_eq!(series["span_name"], "charge");
    assert_eq!(series["le"], bucket_of(*value).as_str());
    assert!(*value >= 0.02, "{value}");
    // Samples are stored as from the text format.
    assert_eq!(
        prometheus.value("span_calls_total{span_name=\"charge\",status=\"ok\"}"),
        1.0
    );
}
