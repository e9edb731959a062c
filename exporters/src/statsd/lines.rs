//! The text of each StatsD or DogStatsD line of a series.
//!
//! Grammar: `name:value|type[|@rate][|#tag:value,...]`, types `c` (count),
//! `g` (gauge), `ms` (timer, plain StatsD) and `d` (distribution,
//! DogStatsD). Values are written in full decimal notation (Rust's `f64`
//! `Display`, which never uses an exponent), so every StatsD parser reads
//! them.

use std::fmt::Write as _;

use metrics::Unit;

use crate::push::{Series, Value};

/// Which dialect the lines are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    /// Etsy StatsD and compatible servers: no tags, labels folded into the
    /// name, histograms as `ms` timers.
    StatsD,
    /// The Datadog agent: labels as tags, histograms as `d` distributions.
    DogStatsD,
}

/// Writes the lines of series, with a name prefix and (DogStatsD) global
/// tags.
#[derive(Debug, Clone)]
pub(crate) struct Lines {
    flavor: Flavor,
    /// Empty, or the prefix followed by `.`.
    prefix: String,
    /// Global tags, already written as `k:v,k:v` (DogStatsD only).
    tags: String,
}

impl Lines {
    pub(crate) fn new(flavor: Flavor, prefix: &str, tags: &[String]) -> Self {
        let prefix = prefix.trim_end_matches('.');
        let prefix = if prefix.is_empty() {
            String::new()
        } else {
            let mut out = String::new();
            push_name(&mut out, prefix);
            out.push('.');
            out
        };
        let mut written = String::new();
        for tag in tags {
            if !written.is_empty() {
                written.push(',');
            }
            match tag.split_once(':') {
                Some((key, value)) => push_tag(&mut written, key, value),
                None => push_tag_key(&mut written, tag),
            }
        }
        Self {
            flavor,
            prefix,
            tags: written,
        }
    }

    /// Calls `emit` with each line of `series` (without a line ending);
    /// `line` is the buffer the lines are written in.
    pub(crate) fn write(&self, series: &Series, line: &mut String, mut emit: impl FnMut(&str)) {
        match series.value() {
            Value::Counter(n) => self.one(series, line, &mut emit, |out| {
                let _ = write!(out, "{n}|c");
            }),
            Value::Sum(x) if x.is_finite() => self.one(series, line, &mut emit, |out| {
                let _ = write!(out, "{x}|c");
            }),
            Value::Gauge(v) if v.is_finite() => {
                if *v < 0.0 && self.flavor == Flavor::StatsD {
                    // Plain StatsD reads a signed gauge value as a change:
                    // set it to zero first, then subtract.
                    self.one(series, line, &mut emit, |out| out.push_str("0|g"));
                }
                self.one(series, line, &mut emit, |out| {
                    let _ = write!(out, "{v}|g");
                });
            }
            Value::Distribution(distribution) => {
                let rate = distribution.sample_rate();
                let (kind, scale) = match self.flavor {
                    Flavor::DogStatsD => ("d", 1.0),
                    Flavor::StatsD if is_seconds(series) => ("ms", 1000.0),
                    Flavor::StatsD => ("ms", 1.0),
                };
                for value in distribution.samples() {
                    self.one(series, line, &mut emit, |out| {
                        let _ = write!(out, "{}|{kind}", value * scale);
                        if rate < 1.0 {
                            let _ = write!(out, "|@{rate}");
                        }
                    });
                }
            }
            _ => {}
        }
    }

    /// Writes one line: the name, `:`, what `value` writes, then the tags.
    fn one(
        &self,
        series: &Series,
        line: &mut String,
        emit: &mut impl FnMut(&str),
        value: impl FnOnce(&mut String),
    ) {
        line.clear();
        line.push_str(&self.prefix);
        push_name(line, series.name());
        if self.flavor == Flavor::StatsD {
            for (key, label) in series.labels() {
                line.push('.');
                push_segment(line, key);
                line.push('.');
                push_segment(line, label);
            }
        }
        line.push(':');
        value(line);
        if self.flavor == Flavor::DogStatsD && (series.labels().len() > 0 || !self.tags.is_empty())
        {
            line.push_str("|#");
            let mut first = true;
            for (key, label) in series.labels() {
                if !first {
                    line.push(',');
                }
                first = false;
                push_tag(line, key, label);
            }
            if !self.tags.is_empty() {
                if !first {
                    line.push(',');
                }
                line.push_str(&self.tags);
            }
        }
        emit(line);
    }
}

fn is_seconds(series: &Series) -> bool {
    series.unit() == Some(Unit::Seconds) || series.name().ends_with("_seconds")
}

/// A metric name with the characters the grammar reserves (`:`, `|`, `@`,
/// `#`, `,`) and white space replaced by `_`.
fn push_name(out: &mut String, name: &str) {
    out.extend(name.chars().map(|c| match c {
        ':' | '|' | '@' | '#' | ',' => '_',
        c if c.is_whitespace() || c.is_control() => '_',
        c => c,
    }));
}

/// One segment of a folded plain-StatsD name: only ASCII letters, digits,
/// `_` and `-`, so that a value adds exactly one segment to the name.
fn push_segment(out: &mut String, text: &str) {
    if text.is_empty() {
        out.push('_');
        return;
    }
    out.extend(text.chars().map(|c| {
        if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '_'
        }
    }));
}

/// A DogStatsD tag `key:value`, with `,`, `|`, `#`, white space and control
/// characters replaced by `_` (and `:` in the key, which would end it).
fn push_tag(out: &mut String, key: &str, value: &str) {
    push_tag_key(out, key);
    out.push(':');
    out.extend(value.chars().map(tag_char));
}

/// A tag key, or a tag without a value.
fn push_tag_key(out: &mut String, key: &str) {
    out.extend(
        key.chars()
            .map(|c| if c == ':' { '_' } else { tag_char(c) }),
    );
}

fn tag_char(c: char) -> char {
    match c {
        ',' | '|' | '#' => '_',
        c if c.is_whitespace() || c.is_control() => '_',
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::push::Distribution;
    use metrics::{Key, Label};

    fn series(name: &'static str, labels: &[(&'static str, &'static str)], value: Value) -> Series {
        let labels: Vec<Label> = labels.iter().map(|(k, v)| Label::new(*k, *v)).collect();
        Series::new(Key::from_parts(name, labels), None, value)
    }

    fn lines(lines: &Lines, series: &Series) -> Vec<String> {
        let mut out = Vec::new();
        lines.write(series, &mut String::new(), |line| out.push(line.to_owned()));
        out
    }

    #[test]
    fn plain_statsd_folds_labels_into_the_name() {
        let plain = Lines::new(Flavor::StatsD, "checkout", &[]);
        let calls = series(
            "span_calls_total",
            &[("span_name", "GET /orders/{id}"), ("status", "ok")],
            Value::Counter(3),
        );
        assert_eq!(
            lines(&plain, &calls),
            ["checkout.span_calls_total.span_name.GET__orders__id_.status.ok:3|c"]
        );
    }

    #[test]
    fn plain_statsd_sets_negative_gauges_from_zero() {
        let plain = Lines::new(Flavor::StatsD, "", &[]);
        let gauge = series("balance", &[], Value::Gauge(-2.5));
        assert_eq!(lines(&plain, &gauge), ["balance:0|g", "balance:-2.5|g"]);
    }

    #[test]
    fn plain_statsd_timers_are_milliseconds() {
        let plain = Lines::new(Flavor::StatsD, "", &[]);
        let histogram = series(
            "span_duration_seconds",
            &[],
            Value::Distribution(Distribution::from_values(&[0.0015, 2.0])),
        );
        assert_eq!(
            lines(&plain, &histogram),
            [
                "span_duration_seconds:1.5|ms",
                "span_duration_seconds:2000|ms"
            ]
        );
    }

    #[test]
    fn dogstatsd_carries_labels_and_global_tags() {
        let dog = Lines::new(
            Flavor::DogStatsD,
            "app",
            &[
                "env:prod".into(),
                "service:checkout".into(),
                "canary".into(),
            ],
        );
        let calls = series(
            "span_calls_total",
            &[("span_name", "a,b|c#d e"), ("status", "ok")],
            Value::Counter(3),
        );
        assert_eq!(
            lines(&dog, &calls),
            [
                "app.span_calls_total:3|c|#span_name:a_b_c_d_e,status:ok,env:prod,service:checkout,canary"
            ]
        );
        let bare = Lines::new(Flavor::DogStatsD, "", &[]);
        let cost = series("pipeline_cost_usd_total", &[], Value::Sum(0.25));
        assert_eq!(lines(&bare, &cost), ["pipeline_cost_usd_total:0.25|c"]);
    }

    #[test]
    fn dogstatsd_distributions_keep_their_unit_and_rate() {
        let dog = Lines::new(Flavor::DogStatsD, "", &[]);
        let values: Vec<f64> = (1..=4).map(f64::from).collect();
        let reservoir = Distribution::from_values(&values);
        let histogram = series("size_bytes", &[("k", "v")], Value::Distribution(reservoir));
        assert_eq!(
            lines(&dog, &histogram),
            [
                "size_bytes:1|d|#k:v",
                "size_bytes:2|d|#k:v",
                "size_bytes:3|d|#k:v",
                "size_bytes:4|d|#k:v"
            ]
        );
    }

    #[test]
    fn sampled_values_carry_their_rate() {
        let dog = Lines::new(Flavor::DogStatsD, "", &[]);
        let plain = Lines::new(Flavor::StatsD, "", &[]);
        let histogram = series(
            "latency_seconds",
            &[],
            Value::Distribution(Distribution::sampled(&[1.0; 8], 2)),
        );
        assert_eq!(lines(&dog, &histogram), ["latency_seconds:1|d|@0.25"; 2]);
        assert_eq!(
            lines(&plain, &histogram),
            ["latency_seconds:1000|ms|@0.25"; 2]
        );
    }

    #[test]
    fn values_that_are_not_finite_write_no_line() {
        let dog = Lines::new(Flavor::DogStatsD, "", &[]);
        assert!(lines(&dog, &series("g", &[], Value::Gauge(f64::NAN))).is_empty());
        assert!(lines(&dog, &series("s", &[], Value::Sum(f64::INFINITY))).is_empty());
    }
}
