//! Whatever names and label values a program records through the `metrics`
//! facade, the scrape is valid text exposition: label values read back
//! exactly, backslashes included, two different values never render as one
//! series, and no line has an empty metric or label name. Found by the
//! `prometheus` fuzz target.
#![cfg(feature = "prometheus")]

use autotel_exporters::prometheus::Prometheus;
use metrics::{Key, Label, Level, Metadata, Recorder};

/// Values a backslash makes ambiguous: each pair differs only by it.
const VALUES: &[&str] = &[
    r#"say "hi""#,
    r#"say \"hi\""#,
    "line\nbreak",
    r"line\nbreak",
    r"C:\temp",
    r"C:\\temp",
    r"trailing \",
    r"trailing \\",
];

/// Unescapes one label value of the text format (`\\`, `\"`, `\n`).
fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match (c, c == '\\') {
            (_, true) => match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => out.push('\\'),
            },
            (c, false) => out.push(c),
        }
    }
    out
}

/// The `span_name` value of each `span_calls_total` sample, unescaped.
fn read_back(scrape: &str) -> Vec<String> {
    scrape
        .lines()
        .filter_map(|line| line.strip_prefix("span_calls_total{span_name=\""))
        .filter_map(|rest| {
            // The value ends at the first quote that no backslash escapes.
            let mut escaped = false;
            let end = rest.char_indices().find_map(|(i, c)| match (c, escaped) {
                ('"', false) => Some(i),
                ('\\', false) => {
                    escaped = true;
                    None
                }
                _ => {
                    escaped = false;
                    None
                }
            })?;
            Some(unescape(&rest[..end]))
        })
        .collect()
}

#[test]
fn label_values_with_backslashes_read_back_exactly() {
    let recorder = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("recorder");
    let metadata = Metadata::new(module_path!(), Level::INFO, None);
    for value in VALUES {
        let labels = vec![Label::new("span_name", *value)];
        recorder
            .register_counter(&Key::from_parts("span_calls_total", labels), &metadata)
            .increment(1);
    }
    let scrape = recorder.handle().render();
    let samples: Vec<&str> = scrape
        .lines()
        .filter(|line| line.starts_with("span_calls_total{"))
        .collect();
    let mut unique = samples.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(
        unique.len(),
        samples.len(),
        "two values render as one series, which Prometheus drops as a duplicate:\n{scrape}"
    );
    let mut read = read_back(&scrape);
    read.sort();
    let mut expected: Vec<String> = VALUES.iter().map(|v| (*v).to_owned()).collect();
    expected.sort();
    assert_eq!(read, expected, "\n--- scrape ---\n{scrape}");
}

/// Sample lines whose metric name or a label name is empty.
fn nameless(scrape: &str) -> Vec<&str> {
    scrape
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter(|line| line.starts_with(['{', ' ']) || line.contains("{=") || line.contains(",="))
        .collect()
}

#[test]
fn empty_names_never_reach_the_scrape() {
    let recorder = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("recorder");
    let metadata = Metadata::new(module_path!(), Level::INFO, None);
    let labels = || vec![Label::new("", "v"), Label::new("status", "ok")];
    recorder
        .register_counter(&Key::from_parts("requests_total", labels()), &metadata)
        .increment(1);
    recorder
        .register_gauge(&Key::from_parts("", labels()), &metadata)
        .set(1.0);
    let scrape = recorder.handle().render();
    assert!(
        nameless(&scrape).is_empty(),
        "lines with an empty name: {:?}\n--- scrape ---\n{scrape}",
        nameless(&scrape)
    );
    // The series keeps its other labels, and what was left out is counted.
    for line in [
        r#"requests_total{status="ok"} 1"#,
        r#"autotel_dropped_total{signal="metrics",reason="empty_metric_name"} 1"#,
        r#"autotel_dropped_total{signal="metrics",reason="empty_label_name"} 1"#,
    ] {
        assert!(
            scrape.lines().any(|l| l == line),
            "no `{line}`\n--- scrape ---\n{scrape}"
        );
    }
}

#[test]
fn global_label_values_read_back_exactly() {
    for value in VALUES {
        let recorder = Prometheus::new()
            .without_listener()
            .with_global_label("host", *value)
            .build_recorder()
            .expect("recorder");
        let metadata = Metadata::new(module_path!(), Level::INFO, None);
        recorder
            .register_counter(&Key::from_name("requests_total"), &metadata)
            .increment(1);
        let scrape = recorder.handle().render();
        let line = scrape
            .lines()
            .find_map(|line| line.strip_prefix("requests_total{host=\""))
            .unwrap_or_else(|| panic!("no requests_total line:\n{scrape}"));
        let written = line.rsplit_once("\"} ").map(|(v, _)| v).unwrap_or_default();
        assert_eq!(unescape(written), *value, "\n--- scrape ---\n{scrape}");
    }
}
