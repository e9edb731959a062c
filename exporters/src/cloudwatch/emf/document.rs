//! The EMF lines of one snapshot: one JSON object per label set, split when
//! it would hold more than 100 metrics or be too long for its destination.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use serde_json::{Map, Number, Value as Json, json};

use super::histogram::{self, MAX_VALUES};
use crate::cloudwatch::drops::Drops;
use crate::cloudwatch::names::{self, Dimensions};
use crate::cloudwatch::units::standard_unit;
use crate::cloudwatch::values::{Statistics, accepted};
use crate::push::{Distribution, Snapshot, Value};

/// The most metrics one EMF object may define.
pub(super) const MAX_METRICS: usize = 100;

/// What every line of an exporter shares.
#[derive(Debug, Clone)]
pub(super) struct Format {
    pub(super) namespace: String,
    /// `StorageResolution`: 1 (high resolution) or 60.
    pub(super) resolution: u8,
    /// `_aws.LogGroupName`, read by the CloudWatch agent.
    pub(super) log_group: Option<String>,
    /// `_aws.LogStreamName`, read by the CloudWatch agent.
    pub(super) log_stream: Option<String>,
    /// The longest line the destination takes, without its `\n`.
    pub(super) max_line: usize,
}

/// One metric of an object: its name, unit and value.
struct Metric<'s> {
    name: &'s str,
    unit: &'static str,
    value: Json,
}

/// The series of one label set.
struct Group<'s> {
    dimensions: Dimensions,
    metrics: Vec<Metric<'s>>,
}

impl Format {
    /// Calls `line` with each line of `snapshot` (without `\n`), and says
    /// what was left out.
    pub(super) fn lines(&self, snapshot: &Snapshot, mut line: impl FnMut(String)) -> Drops {
        let mut drops = Drops::default();
        let mut groups: BTreeMap<Vec<(String, String)>, Group<'_>> = BTreeMap::new();
        for series in snapshot.series() {
            let Some(value) = value(series.value()) else {
                drops.out_of_range += 1;
                continue;
            };
            let dimensions = Dimensions::of(series);
            let name = names::metric_name(series.name());
            let taken = |(dimension, _): &(String, String)| dimension == name;
            if name == "_aws" || dimensions.kept.iter().chain(&dimensions.over).any(taken) {
                drops.name_conflict += 1;
                continue;
            }
            if !dimensions.over.is_empty() {
                drops.too_many_dimensions += 1;
            }
            let metric = Metric {
                name,
                unit: standard_unit(series),
                value,
            };
            groups
                .entry(dimensions.sorted())
                .or_insert_with(|| Group {
                    dimensions,
                    metrics: Vec::new(),
                })
                .metrics
                .push(metric);
        }
        let timestamp = snapshot
            .time()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis());
        let timestamp = u64::try_from(timestamp).unwrap_or(u64::MAX);
        for group in groups.into_values() {
            for chunk in chunks(group.metrics) {
                self.write(timestamp, &group.dimensions, &chunk, &mut drops, &mut line);
            }
        }
        drops
    }

    /// Writes `metrics` as one line, or as several when one would be too
    /// long.
    fn write(
        &self,
        timestamp: u64,
        dimensions: &Dimensions,
        metrics: &[Metric<'_>],
        drops: &mut Drops,
        line: &mut impl FnMut(String),
    ) {
        let text = self.object(timestamp, dimensions, metrics).to_string();
        if text.len() <= self.max_line {
            line(text);
        } else if metrics.len() > 1 {
            let (first, second) = metrics.split_at(metrics.len() / 2);
            self.write(timestamp, dimensions, first, drops, line);
            self.write(timestamp, dimensions, second, drops, line);
        } else {
            drops.too_large += 1;
        }
    }

    fn object(&self, timestamp: u64, dimensions: &Dimensions, metrics: &[Metric<'_>]) -> Json {
        let definitions: Vec<Json> = metrics
            .iter()
            .map(|metric| {
                json!({
                    "Name": metric.name,
                    "Unit": metric.unit,
                    "StorageResolution": self.resolution,
                })
            })
            .collect();
        let keys: Vec<&str> = dimensions.kept.iter().map(|(k, _)| k.as_str()).collect();
        let mut aws = Map::new();
        aws.insert("Timestamp".into(), timestamp.into());
        aws.insert(
            "CloudWatchMetrics".into(),
            json!([{
                "Namespace": self.namespace,
                "Dimensions": [keys],
                "Metrics": definitions,
            }]),
        );
        if let Some(group) = &self.log_group {
            aws.insert("LogGroupName".into(), group.as_str().into());
        }
        if let Some(stream) = &self.log_stream {
            aws.insert("LogStreamName".into(), stream.as_str().into());
        }
        let mut root = Map::new();
        root.insert("_aws".into(), Json::Object(aws));
        for (key, value) in dimensions.kept.iter().chain(&dimensions.over) {
            root.insert(key.clone(), value.as_str().into());
        }
        for metric in metrics {
            root.insert(metric.name.to_owned(), metric.value.clone());
        }
        Json::Object(root)
    }
}

/// The metrics of one label set in objects of at most [`MAX_METRICS`], no
/// name twice in one (two series whose labels were recorded in another
/// order have the same label set and name).
fn chunks(metrics: Vec<Metric<'_>>) -> Vec<Vec<Metric<'_>>> {
    let mut chunks: Vec<Vec<Metric<'_>>> = Vec::new();
    for metric in metrics {
        let room = chunks
            .iter()
            .position(|c| c.len() < MAX_METRICS && c.iter().all(|m| m.name != metric.name));
        match room {
            Some(index) => chunks[index].push(metric),
            None => chunks.push(vec![metric]),
        }
    }
    chunks
}

/// The JSON value of a series, or `None` when CloudWatch would refuse it.
fn value(value: &Value) -> Option<Json> {
    match value {
        Value::Counter(n) => Some(Json::from(*n)),
        Value::Sum(x) | Value::Gauge(x) => number(*x),
        Value::Distribution(distribution) => distribution_json(distribution),
    }
}

fn number(x: f64) -> Option<Json> {
    accepted(x).and_then(Number::from_f64).map(Json::Number)
}

/// A histogram: `Values` and `Counts` with the exact `Count`, `Sum`, `Min`
/// and `Max` (a statistic set alone when no value was kept).
fn distribution_json(distribution: &Distribution) -> Option<Json> {
    let statistics = Statistics::of(distribution)?;
    let mut object = Map::new();
    let (values, counts) = histogram::values_and_counts(distribution);
    debug_assert!(values.len() <= MAX_VALUES);
    if !values.is_empty() {
        let values: Option<Vec<Json>> = values.into_iter().map(number).collect();
        object.insert("Values".into(), Json::Array(values?));
        object.insert("Counts".into(), json!(counts));
    }
    object.insert("Max".into(), number(statistics.max)?);
    object.insert("Min".into(), number(statistics.min)?);
    object.insert("Count".into(), statistics.count.into());
    object.insert("Sum".into(), number(statistics.sum)?);
    Some(Json::Object(object))
}

#[cfg(test)]
mod tests;
