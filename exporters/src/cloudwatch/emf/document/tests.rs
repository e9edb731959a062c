//! Unit tests of `document`.

use std::time::Duration;

use metrics::{Key, Unit};

use super::*;
use crate::push::Series;

use crate::cloudwatch::test_series as series;

fn format() -> Format {
    Format {
        namespace: "checkout".into(),
        resolution: 60,
        log_group: None,
        log_stream: None,
        max_line: 256 * 1024,
    }
}

fn snapshot(series: Vec<Series>) -> Snapshot {
    let time = UNIX_EPOCH + Duration::from_millis(1_750_000_000_123);
    Snapshot::new(time, Duration::from_secs(10), series)
}

fn lines(format: &Format, series: Vec<Series>) -> (Vec<Json>, Drops) {
    let mut out = Vec::new();
    let drops = format.lines(&snapshot(series), |line| {
        assert!(!line.contains('\n'), "{line}");
        assert!(line.len() <= format.max_line);
        out.push(serde_json::from_str(&line).unwrap());
    });
    for line in &out {
        autotel_test_support::emf::assert_valid(line);
    }
    (out, drops)
}

/// How many metrics `line` defines.
fn metrics_in(line: &Json) -> usize {
    line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .map_or(0, Vec::len)
}

#[test]
fn one_object_per_label_set_with_every_metric_of_it() {
    let (lines, drops) = lines(
        &format(),
        vec![
            series(
                "span_calls_total",
                &[("span_name", "checkout"), ("status", "ok")],
                Value::Counter(7),
            ),
            series("queue_depth", &[], Value::Gauge(3.5)),
            series(
                "span_errors_total",
                &[("status", "ok"), ("span_name", "checkout")],
                Value::Counter(2),
            ),
            series("pipeline_cost_usd_total", &[], Value::Sum(0.25)),
        ],
    );
    assert_eq!(drops, Drops::default());
    assert_eq!(
        lines,
        [
            json!({
                "_aws": {
                    "Timestamp": 1_750_000_000_123_u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "checkout",
                        "Dimensions": [[]],
                        "Metrics": [
                            {"Name": "queue_depth", "Unit": "None", "StorageResolution": 60},
                            {"Name": "pipeline_cost_usd_total", "Unit": "None", "StorageResolution": 60},
                        ],
                    }],
                },
                "queue_depth": 3.5,
                "pipeline_cost_usd_total": 0.25,
            }),
            json!({
                "_aws": {
                    "Timestamp": 1_750_000_000_123_u64,
                    "CloudWatchMetrics": [{
                        "Namespace": "checkout",
                        "Dimensions": [["span_name", "status"]],
                        "Metrics": [
                            {"Name": "span_calls_total", "Unit": "Count", "StorageResolution": 60},
                            {"Name": "span_errors_total", "Unit": "Count", "StorageResolution": 60},
                        ],
                    }],
                },
                "span_name": "checkout",
                "status": "ok",
                "span_calls_total": 7,
                "span_errors_total": 2,
            }),
        ]
    );
}

#[test]
fn histograms_carry_values_counts_and_exact_statistics() {
    let values: Vec<f64> = (1..=400).map(|v| f64::from(v) / 1000.0).collect();
    let distribution = Distribution::sampled(&values, 200);
    let histogram = Series::new(
        Key::from_name("span_duration_seconds"),
        Some(Unit::Seconds),
        Value::Distribution(distribution),
    );
    let (lines, _) = lines(&format(), vec![histogram]);
    let metric = &lines[0]["span_duration_seconds"];
    assert_eq!(metric["Count"], 400);
    assert_eq!(metric["Min"], 0.001);
    assert_eq!(metric["Max"], 0.4);
    assert!((metric["Sum"].as_f64().unwrap() - 80.2).abs() < 1e-9);
    let counts: Vec<u64> = serde_json::from_value(metric["Counts"].clone()).unwrap();
    assert_eq!(counts.len(), MAX_VALUES);
    assert_eq!(counts.iter().sum::<u64>(), 400);
    assert_eq!(metric["Values"].as_array().unwrap().len(), MAX_VALUES);
    let unit = &lines[0]["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Unit"];
    assert_eq!(unit, "Seconds");
}

#[test]
fn objects_hold_at_most_a_hundred_metrics() {
    let many = (0..250)
        .map(|i| series(&format!("m{i:03}"), &[("k", "v")], Value::Counter(1)))
        .collect();
    let (lines, _) = lines(&format(), many);
    let sizes: Vec<usize> = lines.iter().map(metrics_in).collect();
    assert_eq!(sizes, [100, 100, 50]);
    assert!(lines.iter().all(|l| l["k"] == "v"));
}

#[test]
fn a_line_too_long_for_the_destination_is_split() {
    let small = Format {
        max_line: 600,
        ..format()
    };
    let many: Vec<Series> = (0..20)
        .map(|i| series(&format!("metric_number_{i:02}"), &[], Value::Gauge(1.0)))
        .collect();
    let (lines, drops) = lines(&small, many);
    assert!(lines.len() > 1);
    let total: usize = lines.iter().map(metrics_in).sum();
    assert_eq!(total, 20);
    assert_eq!(drops, Drops::default());

    let tiny = Format {
        max_line: 50,
        ..format()
    };
    let (none, drops) = super::tests::lines(&tiny, vec![series("g", &[], Value::Gauge(1.0))]);
    assert!(none.is_empty());
    assert_eq!(drops.too_large, 1);
}

#[test]
fn the_same_name_recorded_with_labels_in_another_order_goes_in_another_object() {
    let (lines, _) = lines(
        &format(),
        vec![
            series("c_total", &[("a", "1"), ("b", "2")], Value::Counter(1)),
            series("c_total", &[("b", "2"), ("a", "1")], Value::Counter(2)),
        ],
    );
    let values: Vec<&Json> = lines.iter().map(|l| &l["c_total"]).collect();
    assert_eq!(values, [&json!(1), &json!(2)]);
}

#[test]
fn what_cloudwatch_would_refuse_is_left_out_and_counted() {
    let labels: Vec<(String, String)> = (0..31)
        .map(|i| (format!("l{i:02}"), "v".to_owned()))
        .collect();
    let labels: Vec<(&str, &str)> = labels
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let (lines, drops) = lines(
        &format(),
        vec![
            series("huge", &[], Value::Gauge(1e200)),
            series("nan", &[], Value::Gauge(f64::NAN)),
            series("status", &[("status", "ok")], Value::Counter(1)),
            series("_aws", &[], Value::Counter(1)),
            series("wide", &labels, Value::Counter(1)),
            series("tiny", &[], Value::Gauge(1e-300)),
        ],
    );
    assert_eq!(
        drops,
        Drops {
            out_of_range: 2,
            too_many_dimensions: 1,
            too_large: 0,
            name_conflict: 2,
        }
    );
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["tiny"], 0.0);
    let wide = &lines[1];
    assert_eq!(
        wide["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0]
            .as_array()
            .unwrap()
            .len(),
        30
    );
    assert_eq!(wide["l30"], "v", "the 31st label stays in the line");
}

#[test]
fn the_agent_metadata_and_high_resolution_are_written_when_set() {
    let agent = Format {
        resolution: 1,
        log_group: Some("checkout-metrics".into()),
        log_stream: Some("host-1".into()),
        ..format()
    };
    let (lines, _) = lines(&agent, vec![series("g", &[], Value::Gauge(1.0))]);
    let aws = &lines[0]["_aws"];
    assert_eq!(aws["LogGroupName"], "checkout-metrics");
    assert_eq!(aws["LogStreamName"], "host-1");
    assert_eq!(
        aws["CloudWatchMetrics"][0]["Metrics"][0]["StorageResolution"],
        1
    );
}

#[test]
fn the_schema_refuses_what_the_specification_forbids() {
    use autotel_test_support::emf::errors;
    let (lines, _) = lines(
        &format(),
        vec![
            series("c_total", &[("k", "v")], Value::Counter(1)),
            series(
                "h",
                &[("k", "v")],
                Value::Distribution(Distribution::from_values(&[1.0, 2.0])),
            ),
        ],
    );
    let good = &lines[0];
    let broken = |edit: &dyn Fn(&mut Json)| {
        let mut line = good.clone();
        edit(&mut line);
        errors(&line)
    };
    let directive = "/_aws/CloudWatchMetrics/0";
    type Edit = Box<dyn Fn(&mut Json)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "no timestamp",
            Box::new(|l| {
                l["_aws"].as_object_mut().unwrap().remove("Timestamp");
            }),
        ),
        (
            "a bad unit",
            Box::new(move |l| {
                *l.pointer_mut(&format!("{directive}/Metrics/0/Unit"))
                    .unwrap() = json!("Dollars");
            }),
        ),
        (
            "a bad resolution",
            Box::new(move |l| {
                *l.pointer_mut(&format!("{directive}/Metrics/0/StorageResolution"))
                    .unwrap() = json!(30);
            }),
        ),
        (
            "31 dimensions",
            Box::new(move |l| {
                let keys: Vec<String> = (0..31).map(|i| format!("d{i}")).collect();
                for key in &keys {
                    l[key] = json!("v");
                }
                *l.pointer_mut(&format!("{directive}/Dimensions/0")).unwrap() = json!(keys);
            }),
        ),
        (
            "101 metrics",
            Box::new(move |l| {
                let metrics: Vec<Json> = (0..101)
                    .map(|i| {
                        l[format!("m{i}")] = json!(1);
                        json!({"Name": format!("m{i}")})
                    })
                    .collect();
                *l.pointer_mut(&format!("{directive}/Metrics")).unwrap() = json!(metrics);
            }),
        ),
        (
            "101 values",
            Box::new(|l| {
                l["c_total"] = json!(vec![1.0; 101]);
            }),
        ),
        (
            "a dimension without its member",
            Box::new(|l| {
                l.as_object_mut().unwrap().remove("k");
            }),
        ),
        (
            "a metric without its member",
            Box::new(|l| {
                l.as_object_mut().unwrap().remove("c_total");
            }),
        ),
        (
            "a metric that is text",
            Box::new(|l| {
                l["c_total"] = json!("1");
            }),
        ),
        (
            "a non-ASCII dimension value",
            Box::new(|l| {
                l["k"] = json!("café");
            }),
        ),
        (
            "an unknown metadata member",
            Box::new(|l| {
                l["_aws"]["Extra"] = json!(1);
            }),
        ),
        (
            "a reserved namespace",
            Box::new(move |l| {
                *l.pointer_mut(&format!("{directive}/Namespace")).unwrap() = json!("AWS/EC2");
            }),
        ),
        (
            "values without counts",
            Box::new(|l| {
                l["h"].as_object_mut().unwrap().remove("Counts");
            }),
        ),
    ];
    assert!(errors(good).is_empty());
    for (case, edit) in cases {
        assert!(!broken(&*edit).is_empty(), "{case} passed");
    }
}
