//! Metric names and label values through the Prometheus recorder: whatever
//! they are, the scrape follows the text exposition format, and label values
//! come back exactly.
#![no_main]

use std::collections::HashSet;

use autotel_exporters::prometheus::Prometheus;
use libfuzzer_sys::fuzz_target;
use metrics::{Key, Label, Level, Metadata, Recorder};
use metrics_exporter_prometheus::formatting::{sanitize_label_key, sanitize_metric_name};

/// Label names the recorder adds itself or that the target uses: a key that
/// repeats one of them is a duplicate label, which `metrics` lets a caller
/// write and no exposition can hold, so it is out of this target's scope.
const TAKEN: &[&str] = &["span_name", "host", "le", "quantile"];

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(8));
    let mut amount = [0u8; 8];
    amount[..head.len()].copy_from_slice(head);
    let amount = f64::from_le_bytes(amount);
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\u{1}');
    let name = parts.next().unwrap_or_default();
    let value = parts.next().unwrap_or_default();
    let key_name = parts.next().unwrap_or_default();
    if TAKEN.contains(&sanitize_label_key(key_name).as_str()) {
        return;
    }
    let recorder = Prometheus::new()
        .without_listener()
        .with_summary("fuzz_summary_seconds")
        .with_global_label("host", value)
        .build_recorder()
        .expect("the recorder builds");
    let metadata = Metadata::new(module_path!(), Level::INFO, None);
    let labels = || {
        vec![
            Label::new("span_name", value.to_owned()),
            Label::new(key_name.to_owned(), "v"),
        ]
    };
    recorder
        .register_counter(&Key::from_parts(format!("c_{name}"), labels()), &metadata)
        .increment(amount.to_bits() >> 40);
    recorder
        .register_gauge(&Key::from_parts(format!("g_{name}"), labels()), &metadata)
        .set(amount);
    recorder
        .register_histogram(&Key::from_parts(format!("h_{name}"), labels()), &metadata)
        .record(amount);
    recorder
        .register_histogram(
            &Key::from_parts("fuzz_summary_seconds", labels()),
            &metadata,
        )
        .record(amount);
    recorder
        .register_counter(&Key::from_name(name.to_owned()), &metadata)
        .increment(1);
    let handle = recorder.handle();
    handle.run_upkeep();
    let scrape = handle.render();

    let samples =
        check_exposition(&scrape).unwrap_or_else(|e| panic!("{e}\n--- scrape ---\n{scrape}"));
    let (counter, gauge) = (
        sanitize_metric_name(&format!("c_{name}")),
        sanitize_metric_name(&format!("g_{name}")),
    );
    let ours: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            (s.name == counter || s.name == gauge) && s.labels.iter().any(|(k, _)| k == "span_name")
        })
        .collect();
    assert_eq!(ours.len(), 2, "{scrape}");
    for sample in ours {
        let found = sample.labels.iter().find(|(k, _)| k == "span_name");
        assert_eq!(found.map(|(_, v)| v.as_str()), Some(value), "{scrape}");
        let host = sample.labels.iter().find(|(k, _)| k == "host");
        assert_eq!(host.map(|(_, v)| v.as_str()), Some(value), "{scrape}");
    }
});

/// One sample line, its label values unescaped.
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
}

/// Checks `scrape` against the rules of the Prometheus text format 0.0.4:
/// `# HELP` / `# TYPE` lines, at most one `TYPE` per family, before its
/// samples; sample lines `name{label="value",...} value [timestamp]` with
/// valid names, the three escapes in label values, unique label names and
/// unique series.
fn check_exposition(scrape: &str) -> Result<Vec<Sample>, String> {
    let mut typed = HashSet::new();
    let mut series = HashSet::new();
    let mut samples = Vec::new();
    if !scrape.is_empty() && !scrape.ends_with('\n') {
        return Err("the scrape does not end with a newline".into());
    }
    for line in scrape.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.trim_start().splitn(3, ' ');
            match words.next() {
                Some("HELP") => {
                    let name = words.next().unwrap_or_default();
                    check_name(name, true).map_err(|e| format!("{e} in {line:?}"))?;
                    let help = words.next().unwrap_or_default();
                    let mut chars = help.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' && !matches!(chars.next(), Some('\\' | 'n')) {
                            return Err(format!("bad escape in HELP {line:?}"));
                        }
                    }
                }
                Some("TYPE") => {
                    let name = words.next().unwrap_or_default();
                    check_name(name, true).map_err(|e| format!("{e} in {line:?}"))?;
                    let kind = words.next().unwrap_or_default();
                    if !matches!(
                        kind,
                        "counter" | "gauge" | "histogram" | "summary" | "untyped"
                    ) {
                        return Err(format!("unknown type in {line:?}"));
                    }
                    if !typed.insert(name.to_owned()) {
                        return Err(format!("second TYPE line for {name}"));
                    }
                }
                _ => {}
            }
            continue;
        }
        let sample = parse_sample(line).map_err(|e| format!("{e} in {line:?}"))?;
        let mut labels = sample.labels.clone();
        labels.sort();
        let before = labels.len();
        labels.dedup_by(|a, b| a.0 == b.0);
        if labels.len() != before {
            return Err(format!("a label name repeats in {line:?}"));
        }
        if !series.insert((sample.name.clone(), labels)) {
            return Err(format!("a series repeats: {line:?}"));
        }
        samples.push(sample);
    }
    Ok(samples)
}

fn check_name(name: &str, metric: bool) -> Result<(), String> {
    let mut chars = name.chars();
    let first = chars.next().ok_or("an empty name")?;
    let start = first.is_ascii_alphabetic() || first == '_' || (metric && first == ':');
    let rest = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || (metric && c == ':'));
    if start && rest {
        Ok(())
    } else {
        Err(format!("invalid name {name:?}"))
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let end = line.find(['{', ' ']).ok_or("no value")?;
    let name = &line[..end];
    check_name(name, true)?;
    let mut rest = &line[end..];
    let mut labels = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        rest = inner;
        loop {
            if let Some(after) = rest.strip_prefix('}') {
                rest = after;
                break;
            }
            let eq = rest.find('=').ok_or("a label without '='")?;
            let key = &rest[..eq];
            check_name(key, false)?;
            rest = rest[eq + 1..]
                .strip_prefix('"')
                .ok_or("a label value without quotes")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next().ok_or("an unterminated label value")? {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().map(|(_, c)| c) {
                        Some('\\') => value.push('\\'),
                        Some('"') => value.push('"'),
                        Some('n') => value.push('\n'),
                        other => return Err(format!("invalid escape \\{other:?}")),
                    },
                    (_, '\n') => return Err("a raw newline in a label value".into()),
                    (_, c) => value.push(c),
                }
            };
            labels.push((key.to_owned(), value));
            rest = &rest[close + 1..];
            if let Some(after) = rest.strip_prefix(',') {
                rest = after;
            } else if !rest.starts_with('}') {
                return Err("labels not separated by ','".into());
            }
        }
    }
    let mut fields = rest
        .strip_prefix(' ')
        .ok_or("no space before the value")?
        .split(' ');
    let value = fields.next().unwrap_or_default();
    if !matches!(value, "NaN" | "+Inf" | "-Inf") && value.parse::<f64>().is_err() {
        return Err(format!("invalid value {value:?}"));
    }
    if let Some(timestamp) = fields.next() {
        timestamp
            .parse::<i64>()
            .map_err(|_| format!("invalid timestamp {timestamp:?}"))?;
    }
    if fields.next().is_some() {
        return Err("extra fields after the timestamp".into());
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
    })
}
