//! The CloudWatch unit of a series: from the catalog or `describe_*`, else
//! from the name, else from the kind of metric.

use metrics::Unit;

use crate::push::{Series, Value};

/// The CloudWatch standard unit of `series`, as its API and EMF spell it.
///
/// A described unit wins; units CloudWatch has no exact equal for
/// (nanoseconds, the binary multiples of bytes) are `None` rather than a
/// wrong scale. Without one, names ending in `_seconds`, `_bytes` or
/// `_percent` (before any `_total`) say it, counters count (`Count`), and
/// everything else is `None`.
pub(crate) fn standard_unit(series: &Series) -> &'static str {
    if let Some(unit) = series.unit() {
        return described(unit);
    }
    let name = series.name();
    let stem = name.strip_suffix("_total").unwrap_or(name);
    if stem.ends_with("_seconds") {
        "Seconds"
    } else if stem.ends_with("_bytes") {
        "Bytes"
    } else if stem.ends_with("_percent") {
        "Percent"
    } else if matches!(series.value(), Value::Counter(_)) {
        "Count"
    } else {
        "None"
    }
}

fn described(unit: Unit) -> &'static str {
    match unit {
        Unit::Count => "Count",
        Unit::Percent => "Percent",
        Unit::Seconds => "Seconds",
        Unit::Milliseconds => "Milliseconds",
        Unit::Microseconds => "Microseconds",
        Unit::Bytes => "Bytes",
        Unit::BitsPerSecond => "Bits/Second",
        Unit::KilobitsPerSecond => "Kilobits/Second",
        Unit::MegabitsPerSecond => "Megabits/Second",
        Unit::GigabitsPerSecond => "Gigabits/Second",
        Unit::TerabitsPerSecond => "Terabits/Second",
        Unit::CountPerSecond => "Count/Second",
        Unit::Nanoseconds
        | Unit::Kibibytes
        | Unit::Mebibytes
        | Unit::Gibibytes
        | Unit::Tebibytes => "None",
    }
}

#[cfg(test)]
mod tests {
    use metrics::Key;

    use super::*;

    fn unit(name: &'static str, unit: Option<Unit>, value: Value) -> &'static str {
        standard_unit(&Series::new(Key::from_name(name), unit, value))
    }

    #[test]
    fn described_units_win() {
        assert_eq!(unit("x", Some(Unit::Seconds), Value::Gauge(1.0)), "Seconds");
        assert_eq!(
            unit("x_total", Some(Unit::Bytes), Value::Counter(1)),
            "Bytes"
        );
        assert_eq!(
            unit("cpu", Some(Unit::Percent), Value::Gauge(1.0)),
            "Percent"
        );
        assert_eq!(
            unit("t_seconds", Some(Unit::Nanoseconds), Value::Gauge(1.0)),
            "None"
        );
        assert_eq!(
            unit("rate", Some(Unit::CountPerSecond), Value::Gauge(1.0)),
            "Count/Second"
        );
    }

    #[test]
    fn names_and_kinds_say_the_rest() {
        assert_eq!(
            unit("span_duration_seconds", None, Value::Gauge(1.0)),
            "Seconds"
        );
        assert_eq!(
            unit("process_cpu_seconds_total", None, Value::Sum(1.0)),
            "Seconds"
        );
        assert_eq!(
            unit("payload_bytes_total", None, Value::Counter(1)),
            "Bytes"
        );
        assert_eq!(unit("disk_percent", None, Value::Gauge(1.0)), "Percent");
        assert_eq!(unit("span_calls_total", None, Value::Counter(3)), "Count");
        assert_eq!(
            unit("pipeline_cost_usd_total", None, Value::Sum(0.5)),
            "None"
        );
        assert_eq!(unit("queue_depth", None, Value::Gauge(3.0)), "None");
    }
}
