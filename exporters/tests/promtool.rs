//! `promtool check metrics` accepts our scrape: every catalog metric, with
//! label values that need escaping.
#![cfg(feature = "prometheus")]

use autotel_test_support::peers::{peer_bin, promtool_check_metrics};

use autotel_exporters::prometheus::Prometheus;
use autotel_layers::catalog::{self, MetricKind};
use metrics::{Key, Label, Level, Metadata, Recorder};

const AWKWARD_VALUES: &[&str] = &[
    "plain",
    "with \"quotes\"",
    r"back\slash and trailing \",
    "new\nline",
    "Traitement terminé — 処理 ✓",
    "",
];

/// What promtool says of `scrape`; the tests that call it have checked
/// that promtool is there.
fn check_metrics(scrape: &str) -> (bool, String) {
    promtool_check_metrics(scrape).expect("promtool is installed")
}

#[test]
fn promtool_accepts_every_catalog_metric_with_awkward_label_values() {
    let Some(_) = peer_bin("AUTOTEL_PROMTOOL_BIN") else {
        return;
    };
    let recorder = Prometheus::new()
        .without_listener()
        .with_summary("step_duration_seconds")
        .with_global_label("host", "db-1 \"primary\"")
        .build_recorder()
        .expect("recorder");
    let metadata = Metadata::new(module_path!(), Level::INFO, None);
    for (i, value) in AWKWARD_VALUES.iter().enumerate() {
        for def in catalog::ALL {
            let labels: Vec<Label> = def
                .labels()
                .iter()
                .map(|name| Label::new(*name, (*value).to_owned()))
                .collect();
            let key = Key::from_parts(def.name(), labels);
            let amount = i as f64 + 0.5;
            match def.kind() {
                MetricKind::Counter => recorder
                    .register_counter(&key, &metadata)
                    .increment(i as u64 + 1),
                MetricKind::Histogram => {
                    recorder.register_histogram(&key, &metadata).record(amount)
                }
                _ => recorder.register_gauge(&key, &metadata).set(amount),
            }
        }
    }
    let handle = recorder.handle();
    handle.run_upkeep();
    let scrape = handle.render();
    for def in catalog::ALL {
        assert!(
            scrape.contains(&format!("# HELP {} ", def.name())),
            "{} has no HELP line",
            def.name()
        );
    }
    assert!(scrape.contains("# TYPE pipeline_cost_usd_total counter\n"));
    let (ok, said) = check_metrics(&scrape);
    assert!(
        ok,
        "promtool check metrics rejected our scrape:\n{said}\n--- scrape ---\n{scrape}"
    );
}

#[test]
fn promtool_rejects_a_gauge_named_like_a_counter() {
    // The check above can fail: promtool flags what we avoid.
    let Some(_) = peer_bin("AUTOTEL_PROMTOOL_BIN") else {
        return;
    };
    let scrape =
        "# HELP cost_usd_total Money spent\n# TYPE cost_usd_total gauge\ncost_usd_total 1.5\n";
    let (ok, said) = check_metrics(scrape);
    assert!(!ok, "promtool accepted a gauge ending in _total: {said}");
}

/// Label values that stress the escaping: the three escaped characters,
/// backslashes before them, other control characters and any Unicode.
fn label_value() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    prop_oneof![
        any::<String>(),
        proptest::collection::vec(
            prop_oneof![
                Just("\\".to_owned()),
                Just("\"".to_owned()),
                Just("\n".to_owned()),
                Just("\\n".to_owned()),
                Just("}".to_owned()),
                Just(",x=\"".to_owned()),
                Just("\r\t\u{0}".to_owned()),
                "[a-z ]{0,4}",
                any::<char>().prop_map(String::from),
            ],
            0..12
        )
        .prop_map(|parts| parts.concat()),
    ]
}

/// The value of label `name` in each sample line of `metric`, unescaped.
fn label_values(scrape: &str, metric: &str, name: &str) -> Vec<String> {
    let start = format!("{name}=\"");
    scrape
        .lines()
        .filter(|line| line.starts_with(&format!("{metric}{{")))
        .filter_map(|line| {
            let at = line.find(&start)? + start.len();
            let mut value = String::new();
            let mut chars = line[at..].chars();
            while let Some(c) = chars.next() {
                match c {
                    '"' => return Some(value),
                    '\\' => match chars.next()? {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            }
            None
        })
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 12,
        failure_persistence: None,
        ..proptest::prelude::ProptestConfig::default()
    })]

    /// Many series with arbitrary label values per promtool call: the scrape
    /// passes `promtool check metrics` (parse and lint), and values without
    /// backslashes read back exactly.
    #[test]
    fn promtool_accepts_arbitrary_label_values(
        values in proptest::collection::hash_set(label_value(), 1..60),
        host in label_value(),
    ) {
        let Some(_) = peer_bin("AUTOTEL_PROMTOOL_BIN") else {
            return Ok(());
        };
        let recorder = Prometheus::new()
            .without_listener()
            .with_summary("step_duration_seconds")
            .with_global_label("host", host.clone())
            .build_recorder()
            .expect("recorder");
        let metadata = Metadata::new(module_path!(), Level::INFO, None);
        for (i, value) in values.iter().enumerate() {
            let labels = |extra: (&'static str, &'static str)| {
                vec![Label::new("span_name", value.clone()), Label::new(extra.0, extra.1)]
            };
            recorder
                .register_counter(&Key::from_parts("span_calls_total", labels(("status", "ok"))), &metadata)
                .increment(i as u64 + 1);
            recorder
                .register_histogram(&Key::from_parts("span_duration_seconds", labels(("status", "ok"))), &metadata)
                .record(i as f64 / 7.0);
            recorder
                .register_histogram(&Key::from_parts("step_duration_seconds", labels(("step_name", "load"))), &metadata)
                .record(i as f64 / 3.0);
            recorder
                .register_gauge(&Key::from_parts("active_pipelines", vec![Label::new("pipeline_name", value.clone())]), &metadata)
                .set(i as f64);
        }
        let handle = recorder.handle();
        handle.run_upkeep();
        let scrape = handle.render();
        let (ok, said) = check_metrics(&scrape);
        proptest::prop_assert!(ok, "promtool check metrics rejected the scrape:\n{}\n--- scrape ---\n{}", said, scrape);

        let read: std::collections::HashSet<String> =
            label_values(&scrape, "span_calls_total", "span_name").into_iter().collect();
        proptest::prop_assert_eq!(read.len(), values.len(), "one series per value");
        for value in values.iter().filter(|v| !v.contains('\\')) {
            proptest::prop_assert!(read.contains(value), "{:?} did not read back:\n{}", value, scrape);
        }
        if !host.contains('\\') {
            for read_host in label_values(&scrape, "span_calls_total", "host") {
                proptest::prop_assert_eq!(&read_host, &host);
            }
        }
    }
}
