//! A real Prometheus server scrapes our endpoint; what it stored is what the
//! program recorded.
#![cfg(feature = "prometheus")]

mod support;

use std::net::SocketAddr;

use autotel_exporters::ServiceInfo;
use autotel_exporters::prometheus::Prometheus;
use support::PrometheusPeer;

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

    metrics::with_local_recorder(&recorder, || {
        for _ in 0..3 {
            metrics::counter!("span_calls_total", "span_name" => "charge", "status" => "ok")
                .increment(1);
        }
        metrics::counter!("span_calls_total", "span_name" => "charge", "status" => "error")
            .increment(1);
        for seconds in [0.002, 0.004, 0.2, 3.0] {
            metrics::histogram!("span_duration_seconds", "span_name" => "charge", "status" => "ok")
                .record(seconds);
        }
        metrics::counter!("pipeline_executions_total", "pipeline_name" => "nightly_etl", "status" => "ok")
            .increment(5);
        metrics::gauge!("pipeline_cost_usd_total", "pipeline_name" => "nightly_etl").set(0.375);
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
            .value(r#"span_duration_seconds_bucket{span_name="charge",status="ok",le="0.005"}"#),
        2.0
    );
    assert_eq!(
        prometheus
            .value(r#"span_duration_seconds_bucket{span_name="charge",status="ok",le="+Inf"}"#),
        4.0
    );
    assert_eq!(
        prometheus.value(r#"span_duration_seconds_count{span_name="charge"}"#),
        4.0
    );
    let median = prometheus.value(
        r#"histogram_quantile(0.5, sum by (le) (span_duration_seconds_bucket{span_name="charge"}))"#,
    );
    assert!((0.0025..=0.005).contains(&median), "median {median}");
    assert_eq!(
        prometheus.value(r#"pipeline_executions_total{pipeline_name="nightly_etl",status="ok"}"#),
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
