//! The Grafana dashboards and Prometheus alert rules of `dashboards/`:
//! every metric and label they name is in the catalog, Grafana's dashboard
//! types accept the dashboards, promtool accepts the rules and their unit
//! tests, and every query and rule runs on a real Prometheus server that
//! scrapes the quickstart.

mod common;
#[path = "../../exporters/tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use autotel_layers::catalog::{self, MetricDef, MetricKind};
use promql_parser::label::{Labels, METRIC_NAME};
use promql_parser::parser::{Expr, LabelModifier, VectorSelector};
use serde_json::Value;

fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards")
}

/// The files in `dashboards/{folder}` whose names end in `suffix`, sorted.
fn files(folder: &str, suffix: &str) -> Vec<PathBuf> {
    let dir = dashboards_dir().join(folder);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a folder entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.ends_with(suffix))
        })
        .collect();
    files.sort();
    files
}

fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Every Grafana dashboard, with its file name.
fn dashboards() -> Vec<(String, Value)> {
    files("grafana", ".json")
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
            (file_name(&path), value)
        })
        .collect()
}

/// Every alert rule file (not the unit tests of the rules).
fn rule_files() -> Vec<PathBuf> {
    files("prometheus", ".yml")
        .into_iter()
        .filter(|path| !file_name(path).ends_with(".test.yml"))
        .collect()
}

/// One PromQL expression of a dashboard or rule file, and where it is.
#[derive(Debug)]
struct Query {
    place: String,
    expr: String,
    /// Labels that the panel's legend shows.
    legend: Vec<String>,
}

/// A dashboard variable filled from `label_values(selector, label)`.
#[derive(Debug)]
struct Variable {
    place: String,
    selector: String,
    label: String,
}

/// The panels of a dashboard, those inside rows included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

fn dashboard_queries(file: &str, dashboard: &Value) -> Vec<Query> {
    let mut queries = Vec::new();
    for panel in panels(dashboard) {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let place = format!("{file}: panel {:?} {}", panel["title"], target["refId"]);
            let expr = target["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("{place}: no expr"));
            let legend = target["legendFormat"].as_str().unwrap_or_default();
            queries.push(Query {
                place,
                expr: expr.to_owned(),
                legend: legend_labels(legend),
            });
        }
    }
    queries
}

/// The labels a legend format names as `{{label}}`.
fn legend_labels(format: &str) -> Vec<String> {
    format
        .split("{{")
        .skip(1)
        .filter_map(|part| Some(part.split_once("}}")?.0.trim().to_owned()))
        .collect()
}

fn dashboard_variables(file: &str, dashboard: &Value) -> Vec<Variable> {
    let mut variables = Vec::new();
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] != "query" {
            continue;
        }
        let place = format!("{file}: variable {}", variable["name"]);
        let query = variable["query"]["query"]
            .as_str()
            .or(variable["query"].as_str())
            .unwrap_or_else(|| panic!("{place}: no query"));
        let inner = query
            .strip_prefix("label_values(")
            .and_then(|rest| rest.strip_suffix(')'))
            .unwrap_or_else(|| panic!("{place}: {query} is not label_values(selector, label)"));
        let (selector, label) = inner
            .rsplit_once(',')
            .unwrap_or_else(|| panic!("{place}: {query} names no label"));
        variables.push(Variable {
            place,
            selector: selector.trim().to_owned(),
            label: label.trim().to_owned(),
        });
    }
    variables
}

/// The `expr` of every rule in a rule file, with the rule's name.
///
/// The files keep to one layout, `expr: |` followed by an indented block
/// or `expr: ...` on one line; the live test checks that Prometheus loads
/// as many rules as this finds.
fn rule_queries(path: &Path) -> Vec<Query> {
    let text = std::fs::read_to_string(path).unwrap();
    let file = file_name(path);
    let lines: Vec<&str> = text.lines().collect();
    let mut queries = Vec::new();
    let mut name = String::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        if let Some(alert) = trimmed
            .strip_prefix("alert:")
            .or(trimmed.strip_prefix("record:"))
        {
            name = alert.trim().to_owned();
        }
        let Some(value) = trimmed.strip_prefix("expr:") else {
            continue;
        };
        let value = value.trim();
        let expr = if value == "|" || value == ">" || value == "|-" || value == ">-" {
            let indent = line.len() - line.trim_start().len();
            lines[i + 1..]
                .iter()
                .take_while(|next| {
                    next.trim().is_empty() || next.len() - next.trim_start().len() > indent
                })
                .map(|next| next.trim())
                .collect::<Vec<_>>()
                .join("\n")
        } else {
            value.trim_matches(|c| c == '\'' || c == '"').to_owned()
        };
        queries.push(Query {
            place: format!("{file}: {name}"),
            expr,
            legend: Vec::new(),
        });
    }
    queries
}

/// The metric names and label names in a PromQL expression.
#[derive(Debug, Default, PartialEq)]
struct Names {
    metrics: BTreeSet<String>,
    labels: BTreeSet<String>,
}

/// The metric names and label names of a PromQL expression, read from the
/// syntax tree of `promql-parser` after the Grafana variables are replaced
/// as Prometheus would see them.
///
/// # Panics
///
/// When the expression is not valid PromQL.
fn names(expr: &str) -> Names {
    let query = as_prometheus_query(expr);
    let tree = promql_parser::parser::parse(&query)
        .unwrap_or_else(|error| panic!("not valid PromQL: {error}\n{query}"));
    let mut out = Names::default();
    collect_names(&tree, &mut out);
    out
}

fn collect_names(expr: &Expr, out: &mut Names) {
    let mut labels = |labels: Option<&Labels>| {
        out.labels
            .extend(labels.into_iter().flat_map(|l| l.labels.iter().cloned()));
    };
    match expr {
        Expr::Aggregate(aggregate) => {
            labels(aggregate.modifier.as_ref().map(LabelModifier::labels));
            collect_names(&aggregate.expr, out);
            if let Some(param) = &aggregate.param {
                collect_names(param, out);
            }
        }
        Expr::Binary(binary) => {
            if let Some(modifier) = &binary.modifier {
                labels(modifier.matching.as_ref().map(LabelModifier::labels));
                labels(modifier.card.labels());
            }
            collect_names(&binary.lhs, out);
            collect_names(&binary.rhs, out);
        }
        Expr::Unary(unary) => collect_names(&unary.expr, out),
        Expr::Paren(paren) => collect_names(&paren.expr, out),
        Expr::Subquery(subquery) => collect_names(&subquery.expr, out),
        Expr::Call(call) => call
            .args
            .args
            .iter()
            .for_each(|arg| collect_names(arg, out)),
        Expr::VectorSelector(selector) => selector_names(selector, out),
        Expr::MatrixSelector(matrix) => selector_names(&matrix.vs, out),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn selector_names(selector: &VectorSelector, out: &mut Names) {
    out.metrics.extend(selector.name.clone());
    let matchers = &selector.matchers;
    for matcher in matchers
        .matchers
        .iter()
        .chain(matchers.or_matchers.iter().flatten())
    {
        if matcher.name == METRIC_NAME {
            out.metrics.insert(matcher.value.clone());
        } else {
            out.labels.insert(matcher.name.clone());
        }
    }
}

/// The catalog metric behind a series name, `_bucket`, `_sum` and `_count`
/// of histograms included, and whether the name is the bucket series.
fn in_catalog(name: &str) -> Option<(&'static MetricDef, bool)> {
    if let Some(def) = catalog::find(name) {
        return Some((def, false));
    }
    ["_bucket", "_sum", "_count"].iter().find_map(|suffix| {
        let def = catalog::find(name.strip_suffix(suffix)?)?;
        (def.kind() == MetricKind::Histogram).then_some((def, *suffix == "_bucket"))
    })
}

/// What a query names that the catalog does not have: unknown metrics, and
/// labels that none of its metrics carry (`job` and `instance` come from the
/// scrape; `le` from histogram buckets).
fn not_in_catalog(expr: &str, extra_labels: &[String]) -> Vec<String> {
    let found = names(expr);
    let mut problems = Vec::new();
    let mut labels: BTreeSet<&str> = ["job", "instance"].into();
    for metric in &found.metrics {
        match in_catalog(metric) {
            Some((def, bucket)) => {
                labels.extend(def.labels());
                if bucket {
                    labels.insert("le");
                }
            }
            None => problems.push(format!("metric {metric}")),
        }
    }
    for label in found.labels.iter().chain(extra_labels) {
        if !labels.contains(label.as_str()) {
            problems.push(format!("label {label}"));
        }
    }
    problems
}

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
fn grafana_types_accept_the_dashboards() {
    let Some(grafana) = support::peer_dir("AUTOTEL_GRAFANA_SCHEMA_DIR") else {
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
    let Some(promtool) = support::peer_bin("AUTOTEL_PROMTOOL_BIN") else {
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

/// A Grafana query as Prometheus runs it, with every variable at "All" and
/// the scrape job of [`support::PrometheusPeer`].
fn as_prometheus_query(expr: &str) -> String {
    [
        ("$__rate_interval", "1m"),
        ("$__range", "1m"),
        ("$job", "autotel"),
        ("$instance", ".*"),
        ("$span_name", ".*"),
        ("$pipeline", ".*"),
    ]
    .iter()
    .fold(expr.to_owned(), |expr, (from, to)| expr.replace(from, to))
}

/// Kills the quickstart when the test ends, passed or not.
struct Stop(std::process::Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_query_and_rule_runs_on_prometheus_scraping_the_examples() {
    let (child, quickstart) = common::serve_quickstart();
    let _stop = Stop(child);
    let (child, http_service) = common::serve_http_traffic();
    let _stop_http = Stop(child);
    let (child, benchmark) = common::serve_benchmark();
    let _stop_benchmark = Stop(child);
    let targets = [quickstart, http_service, benchmark];
    let rules: Vec<PathBuf> = rule_files()
        .iter()
        .map(|path| path.canonicalize().unwrap())
        .collect();
    let Some(mut prometheus) = support::PrometheusPeer::start_with_targets(&targets, &rules) else {
        return;
    };
    // Rates need two samples in their window.
    prometheus.query("count_over_time(span_calls_total[1m]) >= 3");
    prometheus.query("count_over_time(http_server_request_duration_seconds_count[1m]) >= 3");

    let exported: BTreeSet<String> = targets
        .iter()
        .flat_map(|target| {
            support::http_get(*target, "/metrics")
                .expect("a scrape")
                .body
                .lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .filter_map(|line| line.split(['{', ' ']).next().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();

    let mut failures = Vec::new();
    let mut without_data = BTreeSet::new();
    for (file, dashboard) in dashboards() {
        for query in dashboard_queries(&file, &dashboard) {
            let promql = as_prometheus_query(&query.expr);
            match prometheus.instant(&promql) {
                Err(refused) => failures.push(format!("{}: {promql}: {refused}", query.place)),
                Ok(samples) => {
                    let metrics = names(&query.expr).metrics;
                    if samples.is_empty() {
                        if metrics.iter().all(|m| exported.contains(m)) {
                            failures.push(format!("{}: no data for {promql}", query.place));
                        }
                        without_data.extend(metrics.into_iter().filter(|m| !exported.contains(m)));
                    }
                }
            }
        }
        for variable in dashboard_variables(&file, &dashboard) {
            let selector = as_prometheus_query(&variable.selector);
            let path = format!(
                "/api/v1/label/{}/values?match[]={}",
                variable.label,
                support::encode(&selector)
            );
            let values = support::get_json(prometheus.address, &path)
                .and_then(|answer| answer["data"].as_array().cloned())
                .unwrap_or_default();
            if values.is_empty() {
                failures.push(format!("{}: no values for {selector}", variable.place));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Only what the examples do not do shows no data: they sample no tokio
    // runtime, export nothing over OTLP, cut nothing and stay far below
    // every series cap. (The /metrics endpoint publishes its own drop
    // counters from the start, at zero.)
    assert_eq!(
        without_data,
        [
            "autotel_export_errors_total",
            "autotel_series_overflow_total",
            "autotel_truncated_values_total",
            "tokio_alive_tasks",
            "tokio_global_queue_depth",
            "tokio_workers",
        ]
        .map(String::from)
        .into()
    );

    // Prometheus loaded every rule, and each evaluates without error.
    let expected = rule_files().iter().flat_map(|f| rule_queries(f)).count();
    let loaded = prometheus.peer.wait_for("the rules to be evaluated", || {
        let answer = support::get_json(prometheus.address, "/api/v1/rules")?;
        let rules: Vec<Value> = answer["data"]["groups"]
            .as_array()?
            .iter()
            .flat_map(|group| group["rules"].as_array().cloned().unwrap_or_default())
            .collect();
        rules
            .iter()
            .all(|rule| {
                rule["lastEvaluation"]
                    .as_str()
                    .is_some_and(|t| !t.starts_with("0001"))
            })
            .then_some(rules)
    });
    assert_eq!(loaded.len(), expected, "{loaded:#?}");
    for rule in &loaded {
        assert_eq!(rule["health"], "ok", "{rule:#}");
    }

    // Served, the quickstart's save step fails every fourth round; the
    // alert fires on the counters as exported.
    let firing = prometheus.query(
        "ALERTS{alertname=\"AutotelPipelineFailing\", alertstate=\"firing\", \
         pipeline_name=\"daily_import\"}",
    );
    assert_eq!(firing[0].0["severity"], "warning", "{firing:?}");
    // The HTTP example's /fail route always answers 503: the 5xx alert
    // matches the labels HttpLayer exports, and waits out its `for`.
    let pending = prometheus.query(
        "ALERTS{alertname=\"AutotelHttpErrorRateHigh\", alertstate=\"pending\", \
         http_route=\"/fail\"}",
    );
    assert_eq!(pending[0].0["job"], "autotel", "{pending:?}");
}
