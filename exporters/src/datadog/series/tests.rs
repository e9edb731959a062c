//! Unit tests of `series`.

use std::io::Read as _;

use metrics::{Key, Label};

use super::*;

fn series(name: &'static str, labels: &[(&'static str, &'static str)], value: Value) -> Series {
    let labels: Vec<Label> = labels.iter().map(|(k, v)| Label::new(*k, *v)).collect();
    Series::new(Key::from_parts(name, labels), None, value)
}

fn objects(writer: &mut Writer, all: &[Series]) -> Objects {
    let mut out = Objects::default();
    for one in all {
        writer.write(one, 1_700_000_000, 10, &mut out);
    }
    out
}

fn unzip(body: &Body) -> serde_json::Value {
    let mut text = String::new();
    flate2::read::GzDecoder::new(body.gzip.as_slice())
        .read_to_string(&mut text)
        .expect("gzip");
    serde_json::from_str(&text).expect("JSON")
}

#[test]
fn counters_are_counts_over_the_interval_and_gauges_gauges() {
    let mut writer = Writer::new(
        "shop.",
        &["env:prod".into(), "canary".into()],
        Some("web-1"),
    );
    let written = objects(
        &mut writer,
        &[
            series(
                "span_calls_total",
                &[("span_name", "GET \"/\""), ("status", "ok")],
                Value::Counter(3),
            ),
            series("pipeline_cost_usd_total", &[], Value::Sum(0.25)),
            series("pipeline_queue_depth", &[], Value::Gauge(-3.5)),
        ],
    );
    assert_eq!(
        written.texts(),
        [
            r#"{"metric":"shop.span_calls_total","points":[[1700000000,3]],"type":"count","interval":10,"host":"web-1","tags":["span_name:GET \"/\"","status:ok","env:prod","canary"]}"#,
            r#"{"metric":"shop.pipeline_cost_usd_total","points":[[1700000000,0.25]],"type":"count","interval":10,"host":"web-1","tags":["env:prod","canary"]}"#,
            r#"{"metric":"shop.pipeline_queue_depth","points":[[1700000000,-3.5]],"type":"gauge","host":"web-1","tags":["env:prod","canary"]}"#,
        ]
    );
    let mut bare = Writer::new("", &[], None);
    assert_eq!(
        objects(&mut bare, &[series("up", &[], Value::Gauge(1.0))]).texts(),
        [r#"{"metric":"up","points":[[1700000000,1.0]],"type":"gauge"}"#]
    );
}

#[test]
fn histograms_are_exact_counts_and_sums_and_percentile_gauges() {
    let mut writer = Writer::new("", &[], None);
    let values: Vec<f64> = (1..=100).map(f64::from).collect();
    let written = objects(
        &mut writer,
        &[series(
            "step_duration_seconds",
            &[("step_name", "load")],
            Value::Distribution(Distribution::from_values(&values)),
        )],
    );
    let parsed: Vec<serde_json::Value> = written
        .texts()
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    let seen: Vec<(String, String, f64)> = parsed
        .iter()
        .map(|o| {
            assert_eq!(o["tags"], serde_json::json!(["step_name:load"]));
            (
                o["metric"].as_str().unwrap().to_owned(),
                o["type"].as_str().unwrap().to_owned(),
                o["points"][0][1].as_f64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("count", "count", 100.0),
        ("sum", "count", 5050.0),
        ("avg", "gauge", 50.5),
        ("min", "gauge", 1.0),
        ("max", "gauge", 100.0),
        ("median", "gauge", 50.0),
        ("95percentile", "gauge", 95.0),
        ("99percentile", "gauge", 99.0),
    ];
    assert_eq!(seen.len(), expected.len());
    for ((name, kind, value), (suffix, want_kind, want)) in seen.iter().zip(expected) {
        assert_eq!(name, &format!("step_duration_seconds.{suffix}"));
        assert_eq!(kind, want_kind, "{name}");
        assert_eq!(*value, want, "{name}");
    }
    // Counts carry the interval, gauges do not.
    assert_eq!(parsed[0]["interval"], 10);
    assert!(parsed[2].get("interval").is_none());
}

#[test]
fn sampled_histograms_keep_their_exact_count_and_sum() {
    let mut writer = Writer::new("", &[], None);
    let written = objects(
        &mut writer,
        &[series(
            "size_bytes",
            &[],
            Value::Distribution(Distribution::sampled(&[2.0; 1000], 10)),
        )],
    );
    let texts = written.texts();
    assert!(texts[0].contains(r#""metric":"size_bytes.count","points":[[1700000000,1000]]"#));
    assert!(texts[1].contains(r#""metric":"size_bytes.sum","points":[[1700000000,2000.0]]"#));
}

#[test]
fn values_that_are_not_finite_write_nothing() {
    let mut writer = Writer::new("", &[], None);
    let written = objects(
        &mut writer,
        &[
            series("g", &[], Value::Gauge(f64::NAN)),
            series("s", &[], Value::Sum(f64::INFINITY)),
        ],
    );
    assert!(written.is_empty());
}

fn many(count: usize) -> Objects {
    let mut writer = Writer::new("", &["env:test".into()], None);
    let mut out = Objects::default();
    for i in 0..count {
        // Tags that do not repeat, so that gzip cannot shrink them much.
        let tag = format!("{:016x}", (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let labels = vec![Label::new("id", tag)];
        let one = Series::new(
            Key::from_parts("requests_total", labels),
            None,
            Value::Counter(1),
        );
        writer.write(&one, 1_700_000_000, 10, &mut out);
    }
    out
}

#[test]
fn bodies_stay_under_both_limits_and_carry_every_series_once() {
    let objects = many(500);
    for limits in [
        Limits {
            compressed: 2_000,
            uncompressed: 1_000_000,
        },
        Limits {
            compressed: 1_000_000,
            uncompressed: 5_000,
        },
        API_LIMITS,
    ] {
        let (bodies, too_large) = bodies(&objects, limits);
        assert_eq!(too_large, 0);
        let mut seen = Vec::new();
        for body in &bodies {
            assert!(body.gzip.len() <= limits.compressed, "{limits:?}");
            let mut text = Vec::new();
            flate2::read::GzDecoder::new(body.gzip.as_slice())
                .read_to_end(&mut text)
                .unwrap();
            assert!(text.len() < limits.uncompressed, "{limits:?}");
            let json = unzip(body);
            let series = json["series"].as_array().unwrap();
            assert_eq!(series.len(), body.series);
            seen.extend(
                series
                    .iter()
                    .map(|s| s["tags"][0].as_str().unwrap().to_owned()),
            );
        }
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 500, "{limits:?}");
        if limits != API_LIMITS {
            assert!(bodies.len() > 1, "{limits:?}");
        } else {
            assert_eq!(bodies.len(), 1);
        }
    }
}

#[test]
fn a_series_too_large_alone_is_skipped_and_counted() {
    let objects = many(3);
    let one = objects.range(0).len();
    let limits = Limits {
        compressed: 1_000_000,
        uncompressed: HEAD.len() + TAIL.len() + one,
    };
    let (bodies, too_large) = bodies(&objects, limits);
    assert_eq!(too_large, 3);
    assert!(bodies.is_empty());
    let limits = Limits {
        compressed: 20,
        uncompressed: 1_000_000,
    };
    let (bodies, too_large) = super::bodies(&objects, limits);
    assert_eq!((bodies.len(), too_large), (0, 3));
    assert_eq!(super::bodies(&Objects::default(), API_LIMITS).0.len(), 0);
}
