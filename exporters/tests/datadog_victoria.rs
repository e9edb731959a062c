//! The Datadog API exporter against VictoriaMetrics, which accepts v1
//! series at `/datadog/api/v1/series`: what it stored, read back with
//! PromQL, has the names, tags and values that the program recorded.
#![cfg(feature = "datadog")]

use autotel_exporters::ServiceInfo;
use autotel_exporters::datadog::Datadog;
use autotel_exporters::push;
use autotel_test_support::push::record_and_send;
use autotel_test_support::victoria_metrics::VictoriaMetrics;
use serde_json::Value;

/// The label `key` of a sample.
fn label<'a>(sample: &'a (Value, f64), key: &str) -> &'a str {
    sample.0[key].as_str().unwrap_or("")
}

#[test]
fn victoria_metrics_stores_what_the_program_recorded() {
    let Some(mut victoria) = VictoriaMetrics::start() else {
        return;
    };
    let service = ServiceInfo::new("checkout")
        .with_version("1.4.2")
        .with_environment("staging");
    let exporter = Datadog::new()
        .with_api_key("0123456789abcdef0123456789abcdef")
        .unwrap()
        .with_url(&victoria.datadog_url())
        .unwrap()
        .with_prefix("shop")
        .with_tag("team:payments")
        .with_service(&service)
        .with_host("web-1")
        .build()
        .unwrap();
    record_and_send(exporter, push::DEFAULT_HISTOGRAM_BUDGET, || {
        for (route, calls) in [("/orders", 7_u64), ("/orders/{id}", 5)] {
            metrics::counter!("http_server_requests_total", "route" => route, "status" => "200")
                .increment(calls);
        }
        metrics::gauge!("pipeline_cost_usd_total").set(0.25);
        metrics::gauge!("pipeline_queue_depth", "pipeline_name" => "etl").set(-3.5);
        for v in 1..=100 {
            metrics::histogram!("step_duration_seconds", "step_name" => "load")
                .record(f64::from(v) / 1000.0);
        }
    });

    let requests = victoria.wait_for_samples(r#"{__name__="shop.http_server_requests_total"}"#, 2);
    for sample in &requests {
        let expected = match label(sample, "route") {
            "/orders" => 7.0,
            "/orders/{id}" => 5.0,
            other => panic!("unexpected route {other:?} in {requests:?}"),
        };
        assert_eq!(sample.1, expected, "{sample:?}");
        for (key, value) in [
            ("status", "200"),
            ("team", "payments"),
            ("service", "checkout"),
            ("env", "staging"),
            ("version", "1.4.2"),
            ("host", "web-1"),
        ] {
            assert_eq!(label(sample, key), value, "{key} of {sample:?}");
        }
    }

    let cost = victoria.wait_for_samples(r#"{__name__="shop.pipeline_cost_usd_total"}"#, 1);
    assert_eq!(cost[0].1, 0.25);
    let depth = victoria.wait_for_samples(r#"{__name__="shop.pipeline_queue_depth"}"#, 1);
    assert_eq!(depth[0].1, -3.5);
    assert_eq!(label(&depth[0], "pipeline_name"), "etl");

    // The histogram's aggregates: exact count, sum, average, minimum and
    // maximum; percentiles of every value (under the histogram budget).
    let expected = [
        ("count", 100.0),
        ("sum", 5.05),
        ("avg", 0.0505),
        ("min", 0.001),
        ("max", 0.1),
        ("median", 0.05),
        ("95percentile", 0.095),
        ("99percentile", 0.099),
    ];
    for (suffix, value) in expected {
        let name = format!("shop.step_duration_seconds.{suffix}");
        let samples = victoria.wait_for_samples(&format!(r#"{{__name__="{name}"}}"#), 1);
        assert!(
            (samples[0].1 - value).abs() < 1e-9,
            "{name}: {} != {value}",
            samples[0].1
        );
        assert_eq!(label(&samples[0], "step_name"), "load", "{name}");
        assert_eq!(label(&samples[0], "service"), "checkout", "{name}");
    }
    // Nothing else arrived under the prefix.
    let all = victoria.instant(r#"{__name__=~"shop[.].*"}"#);
    assert_eq!(all.len(), 2 + 1 + 1 + expected.len(), "{all:?}");
}
