//! The `MetricDatum`s of one snapshot, in requests within the API's limits:
//! at most 1,000 per request and under 1 MB each.

use aws_sdk_cloudwatch::primitives::DateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, StatisticSet};

use crate::cloudwatch::drops::Drops;
use crate::cloudwatch::names::{self, Dimensions};
use crate::cloudwatch::units::standard_unit;
use crate::cloudwatch::values::{Statistics, accepted};
use crate::push::{Distribution, Series, Snapshot, Value};

/// The most metric values one `PutMetricData` request may carry.
pub const MAX_VALUES_PER_REQUEST: usize = 1_000;

/// The most bytes of metric data one request is given: the API takes 1 MB,
/// and the namespace and the framing take some.
const MAX_REQUEST_BYTES: usize = 1_000_000 - 16 * 1024;

/// One request's worth of metric data, and its estimated encoded size.
#[derive(Debug, Default)]
pub(super) struct Batch {
    pub(super) data: Vec<MetricDatum>,
    bytes: usize,
}

/// The requests that carry `snapshot`, and what was left out.
pub(super) fn batches(snapshot: &Snapshot, resolution: i32) -> (Vec<Batch>, Drops) {
    let mut drops = Drops::default();
    let mut batches: Vec<Batch> = Vec::new();
    let timestamp = DateTime::from(snapshot.time());
    for series in snapshot.series() {
        let Some((datum, bytes)) = datum(series, timestamp, resolution, &mut drops) else {
            continue;
        };
        let room = batches.last().is_some_and(|batch| {
            batch.data.len() < MAX_VALUES_PER_REQUEST && batch.bytes + bytes <= MAX_REQUEST_BYTES
        });
        if !room {
            batches.push(Batch::default());
        }
        if let Some(batch) = batches.last_mut() {
            batch.data.push(datum);
            batch.bytes += bytes;
        }
    }
    (batches, drops)
}

/// The datum of `series` and its estimated encoded size, or `None` (and
/// counted) when CloudWatch would refuse its value.
fn datum(
    series: &Series,
    timestamp: DateTime,
    resolution: i32,
    drops: &mut Drops,
) -> Option<(MetricDatum, usize)> {
    let name = names::metric_name(series.name());
    let unit = standard_unit(series);
    let builder = MetricDatum::builder()
        .metric_name(name)
        .timestamp(timestamp)
        .unit(StandardUnit::from(unit))
        .storage_resolution(resolution);
    let builder = match series.value() {
        Value::Counter(n) => Some(builder.value(*n as f64)),
        Value::Sum(x) | Value::Gauge(x) => accepted(*x).map(|x| builder.value(x)),
        Value::Distribution(distribution) => {
            statistic_set(distribution).map(|set| builder.statistic_values(set))
        }
    };
    let Some(mut builder) = builder else {
        drops.out_of_range += 1;
        return None;
    };
    let dimensions = Dimensions::of(series);
    if !dimensions.over.is_empty() {
        drops.too_many_dimensions += 1;
    }
    // Keys, strings and numbers as CBOR writes them, generously rounded.
    let mut bytes = 160 + name.len() + unit.len();
    for (key, value) in dimensions.kept {
        bytes += 24 + key.len() + value.len();
        builder = builder.dimensions(Dimension::builder().name(key).value(value).build());
    }
    Some((builder.build(), bytes))
}

/// The statistic set of a histogram: exact count, sum, minimum, maximum.
fn statistic_set(distribution: &Distribution) -> Option<StatisticSet> {
    let statistics = Statistics::of(distribution)?;
    Some(
        StatisticSet::builder()
            .sample_count(statistics.count as f64)
            .sum(statistics.sum)
            .minimum(statistics.min)
            .maximum(statistics.max)
            .build(),
    )
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use metrics::{Key, Label, Unit};

    use super::*;

    use crate::cloudwatch::test_series as series;

    fn snapshot(series: Vec<Series>) -> Snapshot {
        let time = UNIX_EPOCH + Duration::from_millis(1_750_000_000_500);
        Snapshot::new(time, Duration::from_secs(10), series)
    }

    #[test]
    fn each_kind_of_series_becomes_one_datum() {
        let histogram = Series::new(
            Key::from_parts("span_duration_seconds", vec![Label::new("span_name", "db")]),
            Some(Unit::Seconds),
            Value::Distribution(Distribution::sampled(&[0.5, 0.25, 2.0, 1.25], 2)),
        );
        let (batches, drops) = batches(
            &snapshot(vec![
                series("span_calls_total", &[("status", "ok")], Value::Counter(7)),
                series("pipeline_cost_usd_total", &[], Value::Sum(0.25)),
                series("queue_depth", &[], Value::Gauge(-3.5)),
                histogram,
            ]),
            60,
        );
        assert_eq!(drops, Drops::default());
        assert_eq!(batches.len(), 1);
        let data = &batches[0].data;
        let calls = &data[0];
        assert_eq!(calls.metric_name(), Some("span_calls_total"));
        assert_eq!(calls.value(), Some(7.0));
        assert_eq!(calls.unit(), Some(&StandardUnit::Count));
        assert_eq!(calls.storage_resolution(), Some(60));
        assert_eq!(
            calls.timestamp().map(|t| t.to_millis().unwrap()),
            Some(1_750_000_000_500)
        );
        let status = &calls.dimensions()[0];
        assert_eq!(
            (status.name(), status.value()),
            (Some("status"), Some("ok"))
        );
        assert_eq!(data[1].value(), Some(0.25));
        assert_eq!(data[1].unit(), Some(&StandardUnit::None));
        assert!(data[1].dimensions().is_empty());
        assert_eq!(data[2].value(), Some(-3.5));
        let set = data[3].statistic_values().unwrap();
        assert_eq!(
            (set.sample_count(), set.sum(), set.minimum(), set.maximum()),
            (Some(4.0), Some(4.0), Some(0.25), Some(2.0))
        );
        assert_eq!(data[3].value(), None);
        assert_eq!(data[3].unit(), Some(&StandardUnit::Seconds));
    }

    #[test]
    fn requests_carry_at_most_a_thousand_values() {
        let many = (0..2_500)
            .map(|i| series("calls_total", &[("i", &i.to_string())], Value::Counter(1)))
            .collect();
        let (batches, _) = batches(&snapshot(many), 1);
        let sizes: Vec<usize> = batches.iter().map(|b| b.data.len()).collect();
        assert_eq!(sizes, [1_000, 1_000, 500]);
        assert_eq!(batches[0].data[0].storage_resolution(), Some(1));
    }

    #[test]
    fn requests_stay_under_a_megabyte() {
        let value = "v".repeat(1_000);
        let many = (0..200)
            .map(|i| {
                let labels: Vec<(String, &str)> = (0..10)
                    .map(|d| (format!("d{d}_{i}"), value.as_str()))
                    .collect();
                let labels: Vec<(&str, &str)> =
                    labels.iter().map(|(k, v)| (k.as_str(), *v)).collect();
                series("wide", &labels, Value::Gauge(1.0))
            })
            .collect();
        let (batches, _) = batches(&snapshot(many), 60);
        assert!(batches.len() > 1);
        assert!(batches.iter().all(|b| b.bytes <= MAX_REQUEST_BYTES));
        assert_eq!(batches.iter().map(|b| b.data.len()).sum::<usize>(), 200);
    }

    #[test]
    fn what_cloudwatch_would_refuse_is_left_out_and_counted() {
        let labels: Vec<(String, String)> = (0..32)
            .map(|i| (format!("l{i:02}"), "v".to_owned()))
            .collect();
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let (batches, drops) = batches(
            &snapshot(vec![
                series("huge", &[], Value::Gauge(-1e300)),
                series("nan", &[], Value::Sum(f64::NAN)),
                series("wide", &labels, Value::Counter(1)),
            ]),
            60,
        );
        assert_eq!((drops.out_of_range, drops.too_many_dimensions), (2, 1));
        assert_eq!(batches[0].data.len(), 1);
        assert_eq!(batches[0].data[0].dimensions().len(), 30);
    }
}
