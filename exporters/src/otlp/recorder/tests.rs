use super::*;
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};

fn collect(record: impl FnOnce()) -> Vec<ResourceMetrics> {
    let exporter = InMemoryMetricExporter::default();
    let provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(exporter.clone()).build())
        .build();
    let recorder = OtelRecorder::new(provider.meter("test"));
    metrics::with_local_recorder(&recorder, record);
    provider.force_flush().unwrap();
    exporter.get_finished_metrics().unwrap()
}

#[test]
fn secret_looking_label_values_are_redacted() {
    let exported = collect(|| {
        metrics::counter!("logins_total", "api_key" => "k-123", "user" => "alice").increment(1);
    });
    let last = exported.last().expect("one collection");
    let mut labels = Vec::new();
    for scope in last.scope_metrics() {
        for metric in scope.metrics() {
            if let AggregatedMetrics::U64(MetricData::Sum(sum)) = metric.data() {
                for point in sum.data_points() {
                    for kv in point.attributes() {
                        labels.push((kv.key.to_string(), kv.value.to_string()));
                    }
                }
            }
        }
    }
    labels.sort();
    assert_eq!(
        labels,
        vec![
            ("api_key".to_owned(), "[REDACTED]".to_owned()),
            ("user".to_owned(), "alice".to_owned()),
        ]
    );
}

#[test]
fn facade_metrics_become_otel_instruments() {
    let exported = collect(|| {
        metrics::counter!("span_calls_total", "span_name" => "a").increment(2);
        metrics::counter!("span_calls_total", "span_name" => "a").increment(3);
        metrics::gauge!("pipeline_cost_usd_total", "pipeline_name" => "p").set(0.25);
        metrics::gauge!("pipeline_cost_usd_total", "pipeline_name" => "p").set(0.75);
        metrics::gauge!("active_pipelines").increment(2.0);
        metrics::gauge!("active_pipelines").decrement(1.0);
        metrics::histogram!("http_server_request_duration_seconds").record(0.003);
    });
    let last = exported.last().expect("one collection");
    let mut seen = HashMap::new();
    for scope in last.scope_metrics() {
        for metric in scope.metrics() {
            let summary = match metric.data() {
                AggregatedMetrics::U64(MetricData::Sum(sum)) => {
                    format!(
                        "u64 sum {}",
                        sum.data_points().map(|p| p.value()).sum::<u64>()
                    )
                }
                AggregatedMetrics::F64(MetricData::Sum(sum)) => {
                    format!(
                        "f64 sum {}",
                        sum.data_points().map(|p| p.value()).sum::<f64>()
                    )
                }
                AggregatedMetrics::F64(MetricData::Gauge(gauge)) => {
                    format!(
                        "gauge {}",
                        gauge.data_points().map(|p| p.value()).sum::<f64>()
                    )
                }
                AggregatedMetrics::F64(MetricData::Histogram(h)) => {
                    let point = h.data_points().next().unwrap();
                    format!(
                        "histogram {} bounds {} unit {}",
                        point.count(),
                        point.bounds().count(),
                        metric.unit()
                    )
                }
                other => format!("{other:?}"),
            };
            seen.insert(metric.name().to_owned(), summary);
        }
    }
    assert_eq!(seen["span_calls_total"], "u64 sum 5");
    assert_eq!(seen["pipeline_cost_usd_total"], "f64 sum 0.75");
    assert_eq!(seen["active_pipelines"], "gauge 1");
    assert_eq!(
        seen["http.server.request.duration"],
        format!("histogram 1 bounds {} unit s", buckets::SECONDS.len())
    );
}
