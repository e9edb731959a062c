//! The Grafana dashboards and Prometheus alert rules of `dashboards/`:
//! every metric and label they name is in the catalog, Grafana's dashboard
//! types accept the dashboards, and promtool accepts the rules and their unit
//! tests. `dashboards_live.rs` runs them on a real Prometheus.

mod dashboards_support;

use autotel_test_support::peers::{peer_bin, peer_dir};
use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use autotel_layers::catalog::{self, MetricDef};
use dashboards_support::*;

#[test]
fn metric_and_label_names_come_from_the_syntax_tree() {
    let found = names(
        "histogram_quantile(0.99, sum by (span_name, le) \
         (rate(span_duration_seconds_bucket{job=~\"$job\", status=\"error, or\"}[$__rate_interval])))\n\
         > bool 2.5 and on (job) count without(instance) (autotel_build_info offset 5m) > 1e3",
    );
    assert_eq!(
        found.metrics,
        ["autotel_build_info", "span_duration_seconds_bucket"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        found.labels,
        ["instance", "job", "le", "span_name", "status"]
            .map(String::from)
            .into()
    );
    assert_eq!(
        not_in_catalog("rate(spans_total[5m])", &[]),
        ["metric spans_total"]
    );
    assert_eq!(
        not_in_catalog("sum by (tenant) (rate(span_calls_total[5m]))", &[]),
        ["label tenant"]
    );
    assert_eq!(
        not_in_catalog("rate(span_duration_seconds_count[5m])", &["le".into()]),
        ["label le"],
        "le only comes with buckets"
    );
    assert!(not_in_catalog("rate(span_duration_seconds_bucket[5m])", &["le".into()]).is_empty());
    assert_eq!(
        legend_labels("{{span_name}} p{{ le }}"),
        ["span_name", "le"]
    );
}

#[test]
fn every_metric_and_label_they_name_is_in_the_catalog() {
    let dashboards = dashboards();
    assert!(dashboards.len() >= 3, "{dashboards:?}");
    let mut queries = Vec::new();
    let mut problems = Vec::new();
    for (file, dashboard) in &dashboards {
        queries.extend(dashboard_queries(file, dashboard));
        for variable in dashboard_variables(file, dashboard) {
            for problem in not_in_catalog(&variable.selector, std::slice::from_ref(&variable.label))
            {
                problems.push(format!("{}: {problem}", variable.place));
            }
        }
    }
    let rules: Vec<Query> = rule_files().iter().flat_map(|f| rule_queries(f)).collect();
    assert!(rules.len() >= 10, "{rules:?}");
    queries.extend(rules);

    let mut named = BTreeSet::new();
    for query in &queries {
        for problem in not_in_catalog(&query.expr, &query.legend) {
            problems.push(format!("{}: {problem} in {}", query.place, query.expr));
        }
        named.extend(
            names(&query.expr)
                .metrics
                .iter()
                .filter_map(|m| in_catalog(m))
                .map(|(def, _)| def.name()),
        );
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Every metric autotel records is on a dashboard or in a rule.
    let missing: Vec<&str> = catalog::ALL
        .iter()
        .map(MetricDef::name)
        .filter(|name| !named.contains(name))
        .collect();
    assert!(
        missing.is_empty(),
        "catalog metrics on no dashboard: {missing:?}"
    );
}

#[test]
fn every_dashboard_is_complete_and_laid_out() {
    let mut uids = BTreeSet::new();
    for (file, dashboard) in dashboards() {
        let uid = dashboard["uid"].as_str().unwrap_or_default();
        assert!(uids.insert(uid.to_owned()), "{file}: uid {uid:?} repeated");
        assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));
        let mut ids = BTreeSet::new();
        for panel in panels(&dashboard) {
            let place = format!("{file}: panel {}", panel["title"]);
            assert!(ids.insert(panel["id"].as_u64()), "{place}: id repeated");
            let grid = &panel["gridPos"];
            let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
            assert!(x + w <= 24, "{place}: wider than the dashboard");
            if panel["type"] == "row" {
                continue;
            }
            assert!(
                panel["description"].as_str().is_some_and(|d| !d.is_empty()),
                "{place}: no description"
            );
            assert_eq!(
                panel["datasource"]["uid"], "${datasource}",
                "{place}: the data source is the dashboard's variable"
            );
            assert!(
                panel["targets"].as_array().is_some_and(|t| !t.is_empty()),
                "{place}: no query"
            );
        }
    }
}

#[test]
fn latency_graphs_show_the_exemplars_of_duration_histograms() {
    let mut graphs = 0;
    for (file, dashboard) in dashboards() {
        for panel in panels(&dashboard) {
            if panel["type"] != "timeseries" {
                continue;
            }
            for target in panel["targets"].as_array().into_iter().flatten() {
                let expr = target["expr"].as_str().unwrap_or_default();
                if expr.contains("_duration_seconds_bucket") {
                    graphs += 1;
                    assert_eq!(
                        target["exemplar"], true,
                        "{file}: panel {} does not ask for exemplars",
                        panel["title"]
                    );
                }
            }
        }
    }
    assert!(graphs >= 10, "{graphs} latency graphs");
}

#[test]
fn grafana_types_accept_the_dashboards() {
    let Some(grafana) = peer_dir("AUTOTEL_GRAFANA_SCHEMA_DIR") else {
        return;
    };
    // The compiler resolves `@grafana/schema` from the folder's node_modules.
    let dir = grafana.join(format!("check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let check = |name: &str, json: &str| {
        let file = dir.join(format!("{name}.ts"));
        std::fs::write(
            &file,
            format!(
                "import type {{ Dashboard }} from '@grafana/schema';\n\
                 export const dashboard: Dashboard = {json};\n"
            ),
        )
        .unwrap();
        let output = Command::new("node")
            .arg(grafana.join("node_modules/typescript/bin/tsc"))
            .args([
                "--noEmit",
                "--strict",
                "--module",
                "nodenext",
                "--moduleResolution",
                "nodenext",
                "--skipLibCheck",
            ])
            .arg(&file)
            .stdin(Stdio::null())
            .output()
            .expect("node runs tsc");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
        )
    };
    for path in files("grafana", ".json") {
        let json = std::fs::read_to_string(&path).unwrap();
        let name = file_name(&path).replace(['.', '-'], "_");
        let (ok, errors) = check(&name, &json);
        assert!(ok, "{}: {errors}", path.display());
    }
    // A dashboard with a misspelled property is refused, so the check bites.
    let json = std::fs::read_to_string(&files("grafana", ".json")[0]).unwrap();
    let broken = json.replacen("\"gridPos\"", "\"gridpos\"", 1);
    let (ok, errors) = check("misspelled", &broken);
    assert!(!ok && errors.contains("gridpos"), "{errors}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn promtool_accepts_the_rules_and_their_unit_tests() {
    let Some(promtool) = peer_bin("AUTOTEL_PROMTOOL_BIN") else {
        return;
    };
    let rules = rule_files();
    assert!(!rules.is_empty());
    succeeds(
        Command::new(&promtool)
            .args(["check", "rules"])
            .args(&rules),
    );
    let tests = files("prometheus", ".test.yml");
    assert_eq!(tests.len(), rules.len(), "one unit-test file per rule file");
    succeeds(
        Command::new(&promtool)
            .current_dir(dashboards_dir().join("prometheus"))
            .args(["test", "rules"])
            .args(tests.iter().map(|t| file_name(t))),
    );
}

/// Runs `command` and fails the test with its output unless it succeeds.
fn succeeds(command: &mut Command) {
    let output = command.output().expect("the command starts");
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn the_pipelines_dashboard_opens_with_the_second_seeds_eleven_panels() {
    let (_, pipelines) = dashboards()
        .into_iter()
        .find(|(file, _)| file == "autotel-pipelines.json")
        .expect("the pipelines dashboard");
    let titles: Vec<&str> = pipelines["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|panel| panel["title"].as_str())
        .collect();
    assert_eq!(
        titles[..12],
        [
            "Pipeline monitoring",
            "Pipeline execution rate",
            "Success rate (%)",
            "Active pipelines",
            "Duration (P95)",
            "Step duration by name",
            "Error rate by type",
            "API calls per pipeline",
            "Cost per hour",
            "Throughput (items/sec)",
            "Memory usage",
            "CPU usage",
        ]
    );
}
