//! Reading the dashboards, rule files and runbooks of `dashboards/`, and the
//! metric and label names their PromQL uses, for the dashboard tests.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use autotel_layers::catalog::{self, MetricDef, MetricKind};
use promql_parser::label::{Labels, METRIC_NAME};
use promql_parser::parser::{Expr, LabelModifier, VectorSelector};
use serde_json::Value;

pub fn dashboards_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../dashboards")
}

/// The files in `dashboards/{folder}` whose names end in `suffix`, sorted.
pub fn files(folder: &str, suffix: &str) -> Vec<PathBuf> {
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

pub fn file_name(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}

/// Every Grafana dashboard, with its file name.
pub fn dashboards() -> Vec<(String, Value)> {
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
pub fn rule_files() -> Vec<PathBuf> {
    files("prometheus", ".yml")
        .into_iter()
        .filter(|path| !file_name(path).ends_with(".test.yml"))
        .collect()
}

/// One PromQL expression of a dashboard or rule file, and where it is.
#[derive(Debug)]
pub struct Query {
    pub place: String,
    pub expr: String,
    /// Labels that the panel's legend shows.
    pub legend: Vec<String>,
}

/// A dashboard variable filled from `label_values(selector, label)`.
#[derive(Debug)]
pub struct Variable {
    pub place: String,
    pub selector: String,
    pub label: String,
}

/// The panels of a dashboard, those inside rows included.
pub fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        out.push(panel);
        out.extend(panel["panels"].as_array().into_iter().flatten());
    }
    out
}

pub fn dashboard_queries(file: &str, dashboard: &Value) -> Vec<Query> {
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
pub fn legend_labels(format: &str) -> Vec<String> {
    format
        .split("{{")
        .skip(1)
        .filter_map(|part| Some(part.split_once("}}")?.0.trim().to_owned()))
        .collect()
}

pub fn dashboard_variables(file: &str, dashboard: &Value) -> Vec<Variable> {
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
pub fn rule_queries(path: &Path) -> Vec<Query> {
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
pub struct Names {
    pub metrics: BTreeSet<String>,
    pub labels: BTreeSet<String>,
}

/// The metric names and label names of a PromQL expression, read from the
/// syntax tree of `promql-parser` after the Grafana variables are replaced
/// as Prometheus would see them.
///
/// # Panics
///
/// When the expression is not valid PromQL.
pub fn names(expr: &str) -> Names {
    let query = as_prometheus_query(expr);
    let tree = promql_parser::parser::parse(&query)
        .unwrap_or_else(|error| panic!("not valid PromQL: {error}\n{query}"));
    let mut out = Names::default();
    collect_names(&tree, &mut out);
    out
}

pub fn collect_names(expr: &Expr, out: &mut Names) {
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

pub fn selector_names(selector: &VectorSelector, out: &mut Names) {
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
pub fn in_catalog(name: &str) -> Option<(&'static MetricDef, bool)> {
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
pub fn not_in_catalog(expr: &str, extra_labels: &[String]) -> Vec<String> {
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

/// A Grafana query as Prometheus runs it, with every variable at "All" and
/// the scrape job of `support::PrometheusPeer`.
pub fn as_prometheus_query(expr: &str) -> String {
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
