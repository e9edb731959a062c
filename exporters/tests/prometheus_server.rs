//! A real Prometheus server scrapes our endpoint; what it stored is what the
//! program recorded.
#![cfg(feature = "prometheus")]

mod support;

use std::net::SocketAddr;

use autotel_exporters::ServiceInfo;
use autotel_exporters::prometheus::Prometheus;
use autotel_layers::SpanMetricsLayer;
use support::PrometheusPeer;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn prometheus_server_stores_what_the_program_recorded() {
    let (recorder, server) = Prometheus::new()
        .with_listen_address(SocketAddr::from(([127, 0, 0, 1], 0)))
        .with_service(
            ServiceInfo::new("checkout")
                .with_version("2.3.4")
                .with_environment("testing"),
        )
        .with_global_label("region", "eu-west-1")
        .build()
        .expect("the endpoint starts");

    // Span and pipeline metrics come from real spans through SpanMetricsLayer;
    // one histogram is recorded directly, with known values.
    let subscriber = tracing_subscriber::registry().with(SpanMetricsLayer::new());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..3 {
                drop(tracing::info_span!("charge").entered());
            }
            drop(tracing::info_span!("charge", error = true).entered());
            let run = tracing::info_span!(
                "nightly",
                pipeline.name = "nightly_etl",
                items_processed = 5_u64,
                cost_usd = 0.375
            );
            drop(run.entered());
        });
        for seconds in [0.002, 0.004, 0.2, 3.0] {
            metrics::histogram!(
                "http_server_request_duration_seconds",
                "http_request_method" => "GET",
                "http_route" => "/orders/{id}",
                "http_response_status_code" => "200"
            )
            .record(seconds);
        }
    });
    let target = server.local_addr().expect("a listener");

    let Some(mut prometheus) = PrometheusPeer::start(target) else {
        return;
    };

    assert_eq!(
        prometheus.value(r#"span_calls_total{span_name="charge",status="ok",region="eu-west-1"}"#),
        3.0
    );
    assert_eq!(
        prometheus.value(r#"span_calls_total{span_name="charge",status="error"}"#),
        1.0
    );
    assert_eq!(
        prometheus
            .value(r#"span_duration_seconds_bucket{span_name="charge",status="ok",le="+Inf"}"#),
        3.0
    );
    assert_eq!(
        prometheus.value(r#"span_duration_seconds_count{span_name="charge",status="error"}"#),
        1.0
    );
    let http = r#"http_server_request_duration_seconds_bucket{http_route="/orders/{id}""#;
    assert_eq!(prometheus.value(&format!(r#"{http},le="0.005"}}"#)), 2.0);
    assert_eq!(prometheus.value(&format!(r#"{http},le="+Inf"}}"#)), 4.0);
    let median = prometheus.value(&format!("histogram_quantile(0.5, sum by (le) ({http}}}))"));
    assert!((0.0025..=0.005).contains(&median), "median {median}");
    assert_eq!(
        prometheus.value(r#"pipeline_executions_total{pipeline_name="nightly_etl",status="ok"}"#),
        1.0
    );
    assert_eq!(
        prometheus.value(r#"items_processed_total{pipeline_name="nightly_etl"}"#),
        5.0
    );
    assert_eq!(
        prometheus.value(r#"pipeline_cost_usd_total{pipeline_name="nightly_etl"}"#),
        0.375
    );
    let build_info = prometheus.query("autotel_build_info");
    assert_eq!(build_info.len(), 1, "{build_info:?}");
    let (labels, value) = &build_info[0];
    assert_eq!(*value, 1.0);
    assert_eq!(labels["service_name"], "checkout");
    assert_eq!(labels["service_version"], "2.3.4");
    assert_eq!(labels["deployment_environment"], "testing");
    assert_eq!(labels["autotel_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(labels["region"], "eu-west-1");

    // Prometheus keeps the type from our TYPE line: a counter, not a gauge.
    let metadata = support::get_json(
        prometheus.address,
        "/api/v1/metadata?metric=pipeline_cost_usd_total",
    )
    .expect("metadata answer");
    assert_eq!(
        metadata["data"]["pipeline_cost_usd_total"][0]["type"], "counter",
        "{metadata}"
    );
}
