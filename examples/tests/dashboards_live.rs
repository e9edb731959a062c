//! Every panel query, dashboard variable and alert rule of `dashboards/` runs
//! on a real Prometheus server scraping the examples, and returns data.

mod dashboards_support;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Child;

use autotel_test_support::examples::{
    serve_benchmark, serve_grpc_traffic, serve_http_traffic, serve_quickstart,
    serve_self_monitoring,
};
use autotel_test_support::http::{encode, get, get_json};
use autotel_test_support::peers::PrometheusPeer;
use dashboards_support::*;
use serde_json::Value;

/// Kills an example when the test ends, passed or not.
struct Stop(Child);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn every_query_and_rule_runs_on_prometheus_scraping_the_examples() {
    let (child, quickstart) = serve_quickstart();
    let _stop = Stop(child);
    let (child, http_service) = serve_http_traffic();
    let _stop_http = Stop(child);
    let (child, benchmark) = serve_benchmark();
    let _stop_benchmark = Stop(child);
    let (child, self_monitoring) = serve_self_monitoring();
    let _stop_self_monitoring = Stop(child);
    let (child, grpc_greeter) = serve_grpc_traffic();
    let _stop_grpc = Stop(child);
    let targets = [
        quickstart,
        http_service,
        benchmark,
        self_monitoring,
        grpc_greeter,
    ];
    let rules: Vec<PathBuf> = rule_files()
        .iter()
        .map(|path| path.canonicalize().unwrap())
        .collect();
    let Some(mut prometheus) = PrometheusPeer::start_with_targets(&targets, &rules) else {
        return;
    };
    // Rates need two samples in their window.
    prometheus.query("count_over_time(span_calls_total[1m]) >= 3");
    prometheus.query("count_over_time(http_server_request_duration_seconds_count[1m]) >= 3");
    prometheus.query("count_over_time(rpc_client_duration_seconds_count[1m]) >= 3");
    prometheus.query("count_over_time(autotel_export_errors_total[1m]) >= 3");

    let exported: BTreeSet<String> = targets
        .iter()
        .flat_map(|target| {
            get(*target, "/metrics")
                .expect("a scrape")
                .body
                .lines()
                .filter(|line| !line.starts_with('#') && !line.is_empty())
                .filter_map(|line| line.split(['{', ' ']).next().map(str::to_owned))
                .collect::<Vec<_>>()
        })
        .collect();

    // Every panel shows data: a query that returns nothing fails, naming
    // the metrics no example exports.
    let mut failures = Vec::new();
    for (file, dashboard) in dashboards() {
        for query in dashboard_queries(&file, &dashboard) {
            let promql = as_prometheus_query(&query.expr);
            match prometheus.instant(&promql) {
                Err(refused) => failures.push(format!("{}: {promql}: {refused}", query.place)),
                Ok(samples) if samples.is_empty() => {
                    let missing: Vec<String> = names(&query.expr)
                        .metrics
                        .into_iter()
                        .filter(|metric| !exported.contains(metric))
                        .collect();
                    failures.push(format!(
                        "{}: no data for {promql} (not on any /metrics: {missing:?})",
                        query.place
                    ));
                }
                Ok(_) => {}
            }
        }
        for variable in dashboard_variables(&file, &dashboard) {
            let selector = as_prometheus_query(&variable.selector);
            let path = format!(
                "/api/v1/label/{}/values?match[]={}",
                variable.label,
                encode(&selector)
            );
            let values = get_json(prometheus.address, &path)
                .and_then(|answer| answer["data"].as_array().cloned())
                .unwrap_or_default();
            if values.is_empty() {
                failures.push(format!("{}: no values for {selector}", variable.place));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Prometheus loaded every rule, and each evaluates without error.
    let expected = rule_files().iter().flat_map(|f| rule_queries(f)).count();
    let loaded = prometheus.peer.wait_for("the rules to be evaluated", || {
        let answer = get_json(prometheus.address, "/api/v1/rules")?;
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
