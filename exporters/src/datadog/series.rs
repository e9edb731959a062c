//! The JSON of the v1 series API: one object per series,
//! `{"metric","points":[[ts,value]],"type","interval","host","tags"}`, and
//! the gzip bodies that carry them, each under the API's size limits.

use std::io::Write as _;
use std::ops::Range;

use flate2::Compression;
use flate2::write::GzEncoder;

use crate::push::{Distribution, Series, Value};

/// The most a request body may weigh, as sent (3.2 MB) and decompressed
/// (62 MiB), as the API documents them for `POST /api/v1/series`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The body as sent, compressed.
    pub(crate) compressed: usize,
    /// The body decompressed: the JSON text.
    pub(crate) uncompressed: usize,
}

/// The limits of `POST /api/v1/series`.
pub(crate) const API_LIMITS: Limits = Limits {
    compressed: 3_200_000,
    uncompressed: 62_914_560,
};

/// What opens and closes every body.
const HEAD: &[u8] = b"{\"series\":[";
const TAIL: &[u8] = b"]}";

/// The series of one histogram: the aggregates the Datadog agent names
/// (`.count`, `.avg`, `.median`, `.max`, `.95percentile`) and `.sum`,
/// `.min`, `.99percentile`.
const AGGREGATES: [Aggregate; 8] = [
    Aggregate::Count,
    Aggregate::Sum,
    Aggregate::Avg,
    Aggregate::Min,
    Aggregate::Max,
    Aggregate::Quantile("median", 0),
    Aggregate::Quantile("95percentile", 1),
    Aggregate::Quantile("99percentile", 2),
];

/// The quantiles [`Aggregate::Quantile`] indexes.
const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

#[derive(Debug, Clone, Copy)]
enum Aggregate {
    Count,
    Sum,
    Avg,
    Min,
    Max,
    /// A suffix, and the index of its quantile in [`QUANTILES`].
    Quantile(&'static str, usize),
}

/// One object to write: what follows the series' name, its type, its
/// interval (counts only) and its value.
#[derive(Debug, Clone, Copy)]
struct Point {
    suffix: Option<&'static str>,
    kind: &'static str,
    interval: Option<u64>,
    value: Number,
}

/// A number as JSON writes it.
#[derive(Debug, Clone, Copy)]
enum Number {
    Integer(u64),
    Float(f64),
}

/// The JSON objects of one snapshot, back to back in one buffer.
#[derive(Debug, Default)]
pub(crate) struct Objects {
    bytes: Vec<u8>,
    ends: Vec<usize>,
}

impl Objects {
    /// How many objects there are.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there is none.
    pub(crate) fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn range(&self, index: usize) -> Range<usize> {
        let start = if index == 0 { 0 } else { self.ends[index - 1] };
        start..self.ends[index]
    }

    fn get(&self, index: usize) -> &[u8] {
        &self.bytes[self.range(index)]
    }

    /// Empties it, keeping its memory for the next snapshot.
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
    }

    #[cfg(test)]
    pub(crate) fn texts(&self) -> Vec<String> {
        (0..self.len())
            .map(|i| String::from_utf8(self.get(i).to_vec()).expect("UTF-8"))
            .collect()
    }
}

/// Writes series as v1 JSON objects, with a name prefix, global tags and
/// an optional host.
#[derive(Debug, Clone)]
pub(crate) struct Writer {
    /// Empty, or the prefix followed by `.`.
    prefix: String,
    /// The global tags, as JSON strings separated by commas.
    tags: Vec<u8>,
    /// `,"host":"..."`, or empty.
    host: Vec<u8>,
    /// Holds a name or a tag while it is written.
    scratch: String,
}

impl Writer {
    pub(crate) fn new(prefix: &str, tags: &[String], host: Option<&str>) -> Self {
        let prefix = prefix.trim().trim_end_matches('.');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}.")
        };
        let mut written = Vec::new();
        for tag in tags {
            if !written.is_empty() {
                written.push(b',');
            }
            string(&mut written, tag);
        }
        let mut host_field = Vec::new();
        if let Some(host) = host {
            host_field.extend_from_slice(b",\"host\":");
            string(&mut host_field, host);
        }
        Self {
            prefix,
            tags: written,
            host: host_field,
            scratch: String::new(),
        }
    }

    /// Appends the objects of `series` to `out`: one for a counter or a
    /// gauge, [`AGGREGATES`] for a histogram, none for a value that is not
    /// finite. `time` is the point's Unix time in seconds, `interval` the
    /// interval of counts in seconds.
    pub(crate) fn write(&mut self, series: &Series, time: u64, interval: u64, out: &mut Objects) {
        let count = |value| Point {
            suffix: None,
            kind: "count",
            interval: Some(interval),
            value,
        };
        match series.value() {
            Value::Counter(n) => self.object(series, count(Number::Integer(*n)), time, out),
            Value::Sum(x) if x.is_finite() => {
                self.object(series, count(Number::Float(*x)), time, out);
            }
            Value::Gauge(v) if v.is_finite() => {
                let gauge = Point {
                    suffix: None,
                    kind: "gauge",
                    interval: None,
                    value: Number::Float(*v),
                };
                self.object(series, gauge, time, out);
            }
            Value::Distribution(distribution) if distribution.count() > 0 => {
                let quantiles = distribution.quantiles(QUANTILES);
                for aggregate in AGGREGATES {
                    if let Some(point) = aggregate.of(distribution, &quantiles, interval) {
                        self.object(series, point, time, out);
                    }
                }
            }
            _ => {}
        }
    }

    fn object(&mut self, series: &Series, point: Point, time: u64, out: &mut Objects) {
        let bytes = &mut out.bytes;
        self.scratch.clear();
        self.scratch.push_str(&self.prefix);
        self.scratch.push_str(series.name());
        if let Some(suffix) = point.suffix {
            self.scratch.push('.');
            self.scratch.push_str(suffix);
        }
        bytes.extend_from_slice(b"{\"metric\":");
        string(bytes, &self.scratch);
        let _ = write!(bytes, ",\"points\":[[{time},");
        match point.value {
            Number::Integer(n) => {
                let _ = write!(bytes, "{n}");
            }
            Number::Float(x) => {
                let _ = serde_json::to_writer(&mut *bytes, &x);
            }
        }
        let _ = write!(bytes, "]],\"type\":\"{}\"", point.kind);
        if let Some(interval) = point.interval {
            let _ = write!(bytes, ",\"interval\":{interval}");
        }
        bytes.extend_from_slice(&self.host);
        if series.labels().len() > 0 || !self.tags.is_empty() {
            bytes.extend_from_slice(b",\"tags\":[");
            let mut first = true;
            for (key, label) in series.labels() {
                if !first {
                    bytes.push(b',');
                }
                first = false;
                self.scratch.clear();
                self.scratch.push_str(key);
                self.scratch.push(':');
                self.scratch.push_str(label);
                string(bytes, &self.scratch);
            }
            if !self.tags.is_empty() {
                if !first {
                    bytes.push(b',');
                }
                bytes.extend_from_slice(&self.tags);
            }
            bytes.push(b']');
        }
        bytes.push(b'}');
        out.ends.push(bytes.len());
    }
}

impl Aggregate {
    /// This aggregate of `distribution`, whose [`QUANTILES`] are
    /// `quantiles`, or `None` when it has no finite value.
    fn of(self, distribution: &Distribution, quantiles: &[f64], interval: u64) -> Option<Point> {
        let (suffix, kind, value) = match self {
            Self::Count => ("count", "count", Number::Integer(distribution.count())),
            Self::Sum => ("sum", "count", Number::Float(distribution.sum())),
            Self::Avg => ("avg", "gauge", Number::Float(distribution.mean())),
            Self::Min => ("min", "gauge", Number::Float(distribution.min())),
            Self::Max => ("max", "gauge", Number::Float(distribution.max())),
            Self::Quantile(_, _) if distribution.samples().is_empty() => return None,
            Self::Quantile(suffix, index) => (suffix, "gauge", Number::Float(quantiles[index])),
        };
        if let Number::Float(x) = value
            && !x.is_finite()
        {
            return None;
        }
        Some(Point {
            suffix: Some(suffix),
            kind,
            interval: (kind == "count").then_some(interval),
            value,
        })
    }
}

/// `text` as a JSON string.
fn string(out: &mut Vec<u8>, text: &str) {
    // Writing a string into a Vec cannot fail.
    let _ = serde_json::to_writer(out, text);
}

/// The request bodies of `objects`: gzip-compressed JSON, each under
/// `limits`, and how many objects were too large to send even alone.
pub(crate) fn bodies(objects: &Objects, limits: Limits) -> (Vec<Body>, u64) {
    let mut bodies = Vec::new();
    let mut too_large = 0;
    let mut start = 0;
    let mut size = HEAD.len() + TAIL.len();
    for index in 0..objects.len() {
        let length = objects.range(index).len();
        if HEAD.len() + TAIL.len() + length >= limits.uncompressed {
            // Alone over the limit: send what came before, skip it.
            pack(objects, start..index, limits, &mut bodies, &mut too_large);
            too_large += 1;
            start = index + 1;
            size = HEAD.len() + TAIL.len();
            continue;
        }
        let added = length + usize::from(index > start);
        if size + added >= limits.uncompressed {
            pack(objects, start..index, limits, &mut bodies, &mut too_large);
            start = index;
            size = HEAD.len() + TAIL.len() + length;
        } else {
            size += added;
        }
    }
    pack(
        objects,
        start..objects.len(),
        limits,
        &mut bodies,
        &mut too_large,
    );
    (bodies, too_large)
}

/// One request body.
#[derive(Debug, Clone)]
pub(crate) struct Body {
    /// The JSON, gzip-compressed.
    pub(crate) gzip: Vec<u8>,
    /// How many series objects it carries.
    pub(crate) series: usize,
}

/// Compresses the objects `range` into one body, or, when that is over the
/// compressed limit, each half into bodies of their own.
fn pack(
    objects: &Objects,
    range: Range<usize>,
    limits: Limits,
    bodies: &mut Vec<Body>,
    too_large: &mut u64,
) {
    if range.is_empty() {
        return;
    }
    let gzip = compress(objects, range.clone());
    if gzip.len() <= limits.compressed {
        bodies.push(Body {
            gzip,
            series: range.len(),
        });
    } else if range.len() == 1 {
        *too_large += 1;
    } else {
        let middle = range.start + range.len() / 2;
        pack(objects, range.start..middle, limits, bodies, too_large);
        pack(objects, middle..range.end, limits, bodies, too_large);
    }
}

fn compress(objects: &Objects, range: Range<usize>) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(HEAD);
    for index in range.clone() {
        if index > range.start {
            let _ = encoder.write_all(b",");
        }
        let _ = encoder.write_all(objects.get(index));
    }
    let _ = encoder.write_all(TAIL);
    encoder.finish().unwrap_or_default()
}

#[cfg(test)]
mod tests;
