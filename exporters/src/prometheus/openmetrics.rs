//! The OpenMetrics text format 1.0.0, written from the Prometheus text
//! format, with the exemplars of the histogram buckets.
//!
//! What changes from the Prometheus text format:
//! - a counter's family is named without its `_total` suffix in `HELP` and
//!   `TYPE` (its samples keep it); a counter whose name does not end in
//!   `_total` is typed `unknown`, so that its samples keep their name;
//! - `HELP` text escapes double quotes too;
//! - there are no blank lines, and the exposition ends with `# EOF`;
//! - a `_bucket` sample of a series with an exemplar for that bucket ends
//!   with `# {trace_id="…",span_id="…"} value timestamp`.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use super::exemplars::SeriesExemplars;
use crate::exemplar_reservoir::Kept;

/// The exemplars of the series, by metric name and label text.
pub(super) type Exemplars = HashMap<(String, String), Arc<SeriesExemplars>>;

/// `text` (Prometheus text format 0.0.4) in the OpenMetrics text format,
/// with the exemplars of `exemplars`; each series' reservoirs restart.
pub(super) fn from_prometheus_text(text: &str, exemplars: &Exemplars) -> String {
    let counters: HashMap<&str, ()> = text
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("# TYPE ")?;
            let (name, kind) = rest.split_once(' ')?;
            (kind.trim() == "counter").then_some((name, ()))
        })
        .collect();
    let kept: HashMap<&(String, String), Vec<Option<Kept>>> = exemplars
        .iter()
        .map(|(key, series)| (key, series.reservoir.kept(true)))
        .collect();
    let mut out = String::with_capacity(text.len() + text.len() / 8 + 8);
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            let name = family(name, &counters).0;
            out.push_str("# HELP ");
            out.push_str(name);
            out.push(' ');
            escape_quotes(&mut out, help);
            out.push('\n');
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, ""));
            let (name, counter_kind) = family(name, &counters);
            out.push_str("# TYPE ");
            out.push_str(name);
            out.push(' ');
            out.push_str(counter_kind.unwrap_or(kind));
            out.push('\n');
        } else if line.starts_with('#') {
            // Comments other than HELP and TYPE are not part of OpenMetrics.
            continue;
        } else {
            out.push_str(line);
            if let Some(kept) = bucket_exemplar(line, exemplars, &kept) {
                write_exemplar(&mut out, &kept);
            }
            out.push('\n');
        }
    }
    out.push_str("# EOF\n");
    out
}

/// The family name of the metric `name`, and the type its counter family
/// takes (`counter` without the `_total` suffix, else `unknown`).
fn family<'a>(name: &'a str, counters: &HashMap<&str, ()>) -> (&'a str, Option<&'static str>) {
    if !counters.contains_key(name) {
        return (name, None);
    }
    match name.strip_suffix("_total") {
        Some(family) if !family.is_empty() => (family, Some("counter")),
        _ => (name, Some("unknown")),
    }
}

fn escape_quotes(out: &mut String, help: &str) {
    let mut escaped = false;
    for c in help.chars() {
        if c == '"' && !escaped {
            out.push('\\');
        }
        escaped = c == '\\' && !escaped;
        out.push(c);
    }
}

/// The exemplar kept for the bucket of the sample `line`, when it is a
/// `_bucket` sample of a series with exemplars.
fn bucket_exemplar(
    line: &str,
    exemplars: &Exemplars,
    kept: &HashMap<&(String, String), Vec<Option<Kept>>>,
) -> Option<Kept> {
    let (series, _value) = line.rsplit_once(' ')?;
    let (name, labels) = series.split_once('{')?;
    let name = name.strip_suffix("_bucket")?;
    let labels = labels.strip_suffix('}')?;
    let (labels, le) = match labels.rsplit_once(",le=\"") {
        Some((labels, le)) => (labels, le),
        None => ("", labels.strip_prefix("le=\"")?),
    };
    let le = le.strip_suffix('"')?;
    let key = (name.to_owned(), labels.to_owned());
    let series = exemplars.get(&key)?;
    let index = if le == "+Inf" {
        series.reservoir.bounds.len()
    } else {
        let le: f64 = le.parse().ok()?;
        series
            .reservoir
            .bounds
            .iter()
            .position(|bound| *bound == le)?
    };
    kept.get(&key)?.get(index).copied().flatten()
}

fn write_exemplar(out: &mut String, kept: &Kept) {
    let _ = write!(
        out,
        " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {:.3}",
        kept.exemplar.trace_id(),
        kept.exemplar.span_id(),
        kept.value,
        kept.time
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_lose_their_suffix_in_metadata_and_the_exposition_ends_with_eof() {
        let text = "# HELP hits_total Hits \"so far\"\n# TYPE hits_total counter\nhits_total 7\n\n\
                    # TYPE restarts counter\nrestarts 2\n\n\
                    # HELP temp Temperature\n# TYPE temp gauge\ntemp{room=\"a\"} 20.5\n\n";
        assert_eq!(
            from_prometheus_text(text, &Exemplars::new()),
            "# HELP hits Hits \\\"so far\\\"\n# TYPE hits counter\nhits_total 7\n\
             # TYPE restarts unknown\nrestarts 2\n\
             # HELP temp Temperature\n# TYPE temp gauge\ntemp{room=\"a\"} 20.5\n# EOF\n"
        );
    }
}
