//! `promtool check metrics` accepts our scrape: every catalog metric, with
//! label values that need escaping.
#![cfg(feature = "prometheus")]

mod support;

use std::io::Write;
use std::process::{Command, Stdio};

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

fn check_metrics(bin: &std::path::Path, scrape: &str) -> (bool, String) {
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool starts");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(scrape.as_bytes())
        .expect("write the scrape");
    let output = child.wait_with_output().expect("promtool finishes");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), said)
}

#[test]
fn promtool_accepts_every_catalog_metric_with_awkward_label_values() {
    let Some(promtool) = support::peer_bin("AUTOTEL_PROMTOOL_BIN") else {
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
    let (ok, said) = check_metrics(&promtool, &scrape);
    assert!(
        ok,
        "promtool check metrics rejected our scrape:\n{said}\n--- scrape ---\n{scrape}"
    );
}

#[test]
fn promtool_rejects_a_gauge_named_like_a_counter() {
    // The check above can fail: promtool flags what we avoid.
    let Some(promtool) = support::peer_bin("AUTOTEL_PROMTOOL_BIN") else {
        return;
    };
    let scrape =
        "# HELP cost_usd_total Money spent\n# TYPE cost_usd_total gauge\ncost_usd_total 1.5\n";
    let (ok, said) = check_metrics(&promtool, scrape);
    assert!(!ok, "promtool accepted a gauge ending in _total: {said}");
}
