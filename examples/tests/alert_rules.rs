//! The alert rules are generated from one thresholds file: the committed rule
//! file is what the `alert_rules` example writes, a changed threshold changes
//! the rules (and promtool accepts them), mistakes in the thresholds file are
//! refused with a sentence that names them, and every alert has its runbook.

mod dashboards_support;

use std::path::{Path, PathBuf};
use std::process::Output;

use autotel_test_support::examples::example;
use autotel_test_support::peers::peer_bin;

fn prometheus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards/prometheus")
}

fn generate(args: &[&std::ffi::OsStr]) -> Output {
    example("alert_rules")
        .args(args)
        .output()
        .expect("the alert_rules example starts")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 rules")
}

/// A scratch folder of this test process, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("autotel-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn the_committed_rules_are_generated_from_the_thresholds() {
    let generated = stdout(&generate(&[]));
    let committed = std::fs::read_to_string(prometheus_dir().join("autotel-alerts.yml")).unwrap();
    assert!(
        generated == committed,
        "dashboards/prometheus/autotel-alerts.yml differs from what its template and \
         thresholds.toml give; regenerate it with `cargo run -p autotel-examples --example \
         alert_rules -- --output dashboards/prometheus/autotel-alerts.yml`"
    );
    let left = generated
        .match_indices("${")
        .any(|(at, _)| generated[at + 2..].starts_with(|c: char| c.is_ascii_lowercase()));
    assert!(!left, "a placeholder is left");
}

#[test]
fn one_changed_threshold_changes_the_rule_and_its_description() {
    let scratch = Scratch::new("thresholds");
    let defaults = std::fs::read_to_string(prometheus_dir().join("thresholds.toml")).unwrap();
    let changed = defaults.replace(
        "pipeline_cost_usd_per_hour = 10\n",
        "pipeline_cost_usd_per_hour = 50\n",
    );
    assert_ne!(changed, defaults);
    let thresholds = scratch.0.join("thresholds.toml");
    std::fs::write(&thresholds, changed).unwrap();
    let rules = scratch.0.join("alerts.yml");
    let output = generate(&[
        "--thresholds".as_ref(),
        thresholds.as_os_str(),
        "--output".as_ref(),
        rules.as_os_str(),
    ]);
    stdout(&output);
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(
        text.contains("(increase(pipeline_cost_usd_total[1h])) > 50\n"),
        "{text}"
    );
    assert!(text.contains("(threshold $50/hour)"), "{text}");
    assert!(!text.contains("$10/hour"));

    if let Some(promtool) = peer_bin("AUTOTEL_PROMTOOL_BIN") {
        let check = std::process::Command::new(promtool)
            .args(["check", "rules"])
            .arg(&rules)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "{}",
            String::from_utf8_lossy(&check.stdout)
        );
    }
}

#[test]
fn mistakes_in_the_thresholds_are_refused_by_name() {
    let scratch = Scratch::new("bad-thresholds");
    let defaults = std::fs::read_to_string(prometheus_dir().join("thresholds.toml")).unwrap();
    let cases = [
        (
            defaults.replace("pipeline_cpu_percent = 80\n", "pipeline_cpu_percnt = 80\n"),
            vec!["pipeline_cpu_percent", "line", "pipeline_cpu_percent = ..."],
        ),
        (
            format!("{defaults}queue_depht_floor = 5\n"),
            vec!["queue_depht_floor", "never uses"],
        ),
        (
            defaults.replace("http_error_ratio = 0.05\n", "http_error_ratio = [1]\n"),
            vec!["http_error_ratio", "neither a number nor a string"],
        ),
        (
            defaults.replace("http_error_ratio = 0.05\n", "http_error_ratio = \n"),
            vec!["not a valid TOML thresholds file"],
        ),
    ];
    for (text, expected) in cases {
        let thresholds = scratch.0.join("thresholds.toml");
        std::fs::write(&thresholds, text).unwrap();
        let output = generate(&["--thresholds".as_ref(), thresholds.as_os_str()]);
        let message = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{message}");
        assert!(output.stdout.is_empty());
        for part in expected {
            assert!(message.contains(part), "{part:?} not in {message}");
        }
    }
    let output = generate(&["--thresholds".as_ref()]);
    assert!(String::from_utf8_lossy(&output.stderr).contains("needs a file name"));
}

/// The names of the alerts in the committed rule file.
fn alert_names() -> Vec<String> {
    std::fs::read_to_string(prometheus_dir().join("autotel-alerts.yml"))
        .unwrap()
        .lines()
        .filter_map(|line| line.trim().strip_prefix("- alert:"))
        .map(|name| name.trim().to_owned())
        .collect()
}

#[test]
fn every_alert_has_a_runbook_and_is_unit_tested() {
    let alerts = alert_names();
    assert!(alerts.len() >= 25, "{alerts:?}");
    let rules = std::fs::read_to_string(prometheus_dir().join("autotel-alerts.yml")).unwrap();
    let tests = std::fs::read_to_string(prometheus_dir().join("autotel-alerts.test.yml")).unwrap();
    let runbooks = prometheus_dir().join("../runbooks");
    for alert in &alerts {
        let link = format!("runbook_url: \"../runbooks/{alert}.md\"");
        assert!(rules.contains(&link), "{alert}: no {link}");
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "{alert}: no promtool unit test"
        );
        let page = runbooks.join(format!("{alert}.md"));
        let text = std::fs::read_to_string(&page)
            .unwrap_or_else(|e| panic!("{alert}: no runbook {}: {e}", page.display()));
        assert!(text.starts_with(&format!("# {alert}\n")), "{alert}: title");
        for section in [
            "## What it means",
            "## First queries",
            "## Likely causes",
            "## What to do",
        ] {
            assert!(text.contains(section), "{alert}: no {section:?} section");
        }
        // The first queries are PromQL blocks that Prometheus parses, naming
        // catalog metrics and labels (and Prometheus' own `up` and
        // `__name__`).
        let queries: Vec<&str> = text
            .split("```promql\n")
            .skip(1)
            .filter_map(|block| block.split_once("```").map(|(q, _)| q.trim()))
            .collect();
        assert!(queries.len() >= 3, "{alert}: fewer than three queries");
        for query in queries {
            if let Err(error) = promql_parser::parser::parse(query) {
                panic!("{alert}: runbook query {query:?} is not PromQL: {error}");
            }
            let problems: Vec<String> = dashboards_support::not_in_catalog(query, &[])
                .into_iter()
                .filter(|p| !["metric up", "label __name__"].contains(&p.as_str()))
                .filter(|p| !(p.starts_with("metric ") && p.contains(".*")))
                .collect();
            assert!(problems.is_empty(), "{alert}: {problems:?} in {query}");
        }
    }
    let pages = std::fs::read_dir(&runbooks).unwrap().count();
    assert_eq!(pages, alerts.len() + 1, "one page per alert, and a README");
}
