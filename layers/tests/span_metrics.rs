//! End-to-end behaviour of `SpanMetricsLayer`: counts, status, error types,
//! dimensions, filters, prefix, configuration errors, the runtime switch and
//! odd field values.

use autotel_layers::testing::{Harness, MetricValue, SpanStatus, capture, capture_with};
use autotel_layers::{Error, SpanMetricsLayer};
use tracing::{error, info, info_span, instrument, warn};

fn calls(run: &autotel_layers::testing::Run, span: &str, status: &str) -> u64 {
    run.counter(
        "span_calls_total",
        &[("span_name", span), ("status", status)],
    )
}

#[test]
fn every_closed_span_counts_once_with_its_duration() {
    let run = capture(|| {
        for _ in 0..3 {
            let _span = info_span!("load").entered();
        }
        let span = info_span!("slow");
        std::thread::sleep(std::time::Duration::from_millis(20));
        drop(span);
    });
    assert_eq!(calls(&run, "load", "ok"), 3);
    assert_eq!(calls(&run, "load", "error"), 0);
    let durations = run.histogram(
        "span_duration_seconds",
        &[("span_name", "slow"), ("status", "ok")],
    );
    assert_eq!(durations.len(), 1);
    assert!(
        durations[0] >= 0.020,
        "wall time from creation to close, got {}",
        durations[0]
    );
    assert_eq!(
        run.histogram("span_duration_seconds", &[("span_name", "load")])
            .len(),
        3
    );
    assert_eq!(run.counter("span_errors_total", &[]), 0);
}

#[test]
fn a_span_closes_when_its_last_handle_drops() {
    let run = capture(|| {
        let span = info_span!("shared");
        let clone = span.clone();
        drop(span);
        drop(clone);
    });
    assert_eq!(
        calls(&run, "shared", "ok"),
        1,
        "one span, however many handles"
    );
}

#[test]
fn an_error_event_directly_inside_marks_the_span() {
    let run = capture(|| {
        let outer = info_span!("outer").entered();
        {
            let _inner = info_span!("inner").entered();
            error!("boom");
        }
        warn!("only a warning");
        drop(outer);
    });
    assert_eq!(calls(&run, "inner", "error"), 1);
    assert_eq!(calls(&run, "outer", "ok"), 1, "only the innermost span");
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[("span_name", "inner"), ("error_type", "_OTHER")]
        ),
        1
    );
    assert_eq!(run.span("inner").unwrap().status(), SpanStatus::Error);
    assert_eq!(run.span("outer").unwrap().status(), SpanStatus::Ok);
}

#[test]
fn an_event_with_an_explicit_parent_marks_that_parent() {
    let run = capture(|| {
        let target = info_span!("target");
        let _other = info_span!("current").entered();
        error!(parent: &target, "failed elsewhere");
    });
    assert_eq!(calls(&run, "target", "error"), 1);
    assert_eq!(calls(&run, "current", "ok"), 1);
}

#[test]
fn error_fields_and_status_codes_mark_the_span() {
    let run = capture(|| {
        drop(info_span!("flag_true", error = true));
        drop(info_span!("flag_false", error = false));
        drop(info_span!("message", error = "disk full"));
        drop(info_span!("status_error", otel.status_code = "ERROR"));
        drop(info_span!("status_lower", otel.status_code = "error"));
        drop(info_span!("status_ok", otel.status_code = "OK"));
        let later = info_span!("recorded_later", error = tracing::field::Empty);
        later.record("error", true);
        drop(later);
        let io = std::io::Error::other("broken pipe");
        drop(info_span!(
            "dyn_error",
            error = &io as &(dyn std::error::Error + 'static)
        ));
    });
    for span in [
        "flag_true",
        "message",
        "status_error",
        "status_lower",
        "recorded_later",
        "dyn_error",
    ] {
        assert_eq!(calls(&run, span, "error"), 1, "{span}");
        assert_eq!(
            run.span(span).unwrap().status(),
            SpanStatus::Error,
            "{span}"
        );
    }
    for span in ["flag_false", "status_ok"] {
        assert_eq!(calls(&run, span, "ok"), 1, "{span}");
        assert_eq!(run.span(span).unwrap().status(), SpanStatus::Ok, "{span}");
    }
}

#[derive(Debug)]
struct Timeout;

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("timed out")
    }
}

impl std::error::Error for Timeout {}

#[instrument(err)]
fn fetch(fail: bool) -> Result<u32, Timeout> {
    if fail { Err(Timeout) } else { Ok(1) }
}

#[instrument(err, fields(error.type = "timeout"))]
fn fetch_typed() -> Result<u32, Timeout> {
    Err(Timeout)
}

#[test]
fn instrument_err_returning_err_counts_as_an_error() {
    let run = capture(|| {
        let _ = fetch(false);
        let _ = fetch(true);
        let _ = fetch(true);
        let _ = fetch_typed();
    });
    assert_eq!(calls(&run, "fetch", "ok"), 1);
    assert_eq!(calls(&run, "fetch", "error"), 2);
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[("span_name", "fetch"), ("error_type", "_OTHER")]
        ),
        2
    );
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[("span_name", "fetch_typed"), ("error_type", "timeout")]
        ),
        1
    );
}

#[test]
fn error_type_comes_from_the_event_then_the_span() {
    let run = capture(|| {
        {
            let _s = info_span!("event_type", error.type = "span_level").entered();
            error!(error.type = "event_level", "failed");
        }
        {
            let _s = info_span!("span_type", error.type = "span_level").entered();
            error!("failed");
        }
        drop(info_span!(
            "field_only",
            error = true,
            error.type = "validation"
        ));
        {
            let _s = info_span!("debug_type").entered();
            error!(error.type = ?std::io::ErrorKind::NotFound, "failed");
        }
    });
    let errors = |span: &str, ty: &str| {
        run.counter(
            "span_errors_total",
            &[("span_name", span), ("error_type", ty)],
        )
    };
    assert_eq!(errors("event_type", "event_level"), 1);
    assert_eq!(errors("span_type", "span_level"), 1);
    assert_eq!(errors("field_only", "validation"), 1);
    assert_eq!(errors("debug_type", "NotFound"), 1);
    assert_eq!(run.counter("span_errors_total", &[]), 4);
}

#[test]
fn dimensions_become_labels_and_long_values_are_cut() {
    let layer = SpanMetricsLayer::new()
        .with_dimension("tenant")
        .unwrap()
        .with_dimension("http.route")
        .unwrap();
    let long = "x".repeat(500);
    let run = capture_with(layer, || {
        drop(info_span!("req", tenant = "acme", http.route = "/a"));
        drop(info_span!("req", tenant = "acme", http.route = "/a"));
        drop(info_span!("req", tenant = 42, http.route = "/b"));
        drop(info_span!("req", http.route = "/c"));
        drop(info_span!("req", tenant = long.as_str()));
        let later = info_span!("req", tenant = tracing::field::Empty);
        later.record("tenant", "late");
        drop(later);
    });
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("tenant", "acme"), ("http_route", "/a")]
        ),
        2
    );
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("tenant", "42"), ("http_route", "/b")]
        ),
        1
    );
    assert_eq!(
        run.counter("span_calls_total", &[("tenant", ""), ("http_route", "/c")]),
        1
    );
    assert_eq!(run.counter("span_calls_total", &[("tenant", "late")]), 1);
    let cut = "x".repeat(128);
    assert_eq!(
        run.counter("span_calls_total", &[("tenant", cut.as_str())]),
        1
    );
    for series in run.series("span_calls_total", &[]) {
        assert!(series.labels().iter().all(|(_, value)| value.len() <= 128));
        assert_eq!(
            series.labels().len(),
            4,
            "span_name, status and both dimensions: {series:?}"
        );
    }
    assert_eq!(
        run.histogram("span_duration_seconds", &[("tenant", "acme")])
            .len(),
        2
    );
}

#[test]
fn include_and_exclude_filter_by_name_and_target() {
    let layer = SpanMetricsLayer::new()
        .with_exclude_names(["noisy"])
        .with_include_targets(["span_metrics"]);
    let run = capture_with(layer, || {
        drop(info_span!("kept"));
        drop(info_span!("noisy"));
        drop(info_span!(target: "span_metrics::db", "nested_target"));
        drop(info_span!(target: "span_metricsx", "lookalike_target"));
        drop(info_span!(target: "other", "elsewhere"));
    });
    assert_eq!(calls(&run, "kept", "ok"), 1);
    assert_eq!(calls(&run, "nested_target", "ok"), 1);
    assert_eq!(run.counter("span_calls_total", &[]), 2);

    let layer = SpanMetricsLayer::new()
        .with_include_names(["only"])
        .with_exclude_targets(["span_metrics::skip"]);
    let run = capture_with(layer, || {
        drop(info_span!("only"));
        drop(info_span!("not_this"));
        drop(info_span!(target: "span_metrics::skip::deep", "only"));
    });
    assert_eq!(run.counter("span_calls_total", &[]), 1);
}

#[test]
fn the_prefix_goes_in_front_of_every_metric() {
    let layer = SpanMetricsLayer::new().with_prefix("shop").unwrap();
    let names: Vec<String> = layer.metric_names().map(|(name, _)| name).collect();
    assert!(names.contains(&"shop_span_calls_total".to_owned()));
    assert!(names.contains(&"shop_pipeline_cost_usd_total".to_owned()));
    let run = capture_with(layer, || {
        let _run = info_span!("run", pipeline.name = "etl").entered();
        drop(info_span!("plain"));
        error!("x");
    });
    assert_eq!(
        run.counter(
            "shop_span_calls_total",
            &[("span_name", "plain"), ("status", "ok")]
        ),
        1
    );
    assert_eq!(
        run.counter(
            "shop_pipeline_executions_total",
            &[("pipeline_name", "etl"), ("status", "error")]
        ),
        1
    );
    assert!(
        run.metrics()
            .iter()
            .all(|series| series.name().starts_with("shop_"))
    );
}

#[test]
fn bad_configuration_is_an_error_naming_the_setting_and_value() {
    let message = |result: Result<SpanMetricsLayer, Error>| result.unwrap_err().to_string();
    assert_eq!(
        message(SpanMetricsLayer::new().with_prefix("9lives")),
        "with_prefix='9lives' is not a metric name prefix (a letter or '_', then letters, digits or '_')"
    );
    assert!(message(SpanMetricsLayer::new().with_prefix("")).starts_with("with_prefix=''"));
    assert!(message(SpanMetricsLayer::new().with_max_series(0)).starts_with("with_max_series='0'"));
    assert!(
        message(SpanMetricsLayer::new().with_buckets([1.0, 0.5]))
            .starts_with("with_buckets='[1.0, 0.5]' must be")
    );
    assert!(message(SpanMetricsLayer::new().with_buckets([f64::NAN])).contains("NaN"));
    assert!(message(SpanMetricsLayer::new().with_buckets([])).contains("no boundary"));
    assert!(
        message(SpanMetricsLayer::new().with_dimension("has space"))
            .starts_with("with_dimension='has space'")
    );
    let twice = SpanMetricsLayer::new().with_dimension("a").unwrap();
    assert!(message(twice.with_dimension("a")).contains("already"));
    let mut many = SpanMetricsLayer::new();
    for i in 0..autotel_layers::span_metrics::MAX_DIMENSIONS {
        many = many.with_dimension(format!("d{i}")).unwrap();
    }
    assert!(message(many.with_dimension("one_more")).contains("too many"));

    let layer = SpanMetricsLayer::new()
        .with_buckets([0.1, 1.0, 10.0])
        .unwrap();
    assert_eq!(layer.histogram_buckets(), &[0.1, 1.0, 10.0]);
    assert_eq!(
        SpanMetricsLayer::new().histogram_buckets(),
        autotel_layers::span_metrics::DEFAULT_DURATION_BUCKETS
    );
}

#[test]
fn the_switch_turns_metrics_off_globally_and_by_name() {
    let layer = SpanMetricsLayer::new();
    let switch = layer.switch();
    let harness = Harness::with_layer(layer);
    harness.run(|| {
        drop(info_span!("a"));
        switch.set_enabled(false);
        drop(info_span!("a"));
        let _run = info_span!("off_run", pipeline.name = "etl").entered();
        error!("not counted");
    });
    switch.set_enabled(true);
    harness.run(|| {
        drop(info_span!("a"));
        switch.disable("a");
        drop(info_span!("a"));
        drop(info_span!("b"));
        switch.enable("a");
        drop(info_span!("a"));
    });
    let run = harness.finish();
    assert_eq!(calls(&run, "a", "ok"), 3);
    assert_eq!(calls(&run, "b", "ok"), 1);
    assert_eq!(run.counter("pipeline_executions_total", &[]), 0);
}

#[test]
fn a_span_created_while_on_is_recorded_when_it_closes() {
    let layer = SpanMetricsLayer::new();
    let switch = layer.switch();
    let run = capture_with(layer, || {
        let span = info_span!("straddles");
        switch.set_enabled(false);
        drop(span);
        switch.set_enabled(true);
    });
    assert_eq!(calls(&run, "straddles", "ok"), 1);
}

#[test]
fn a_disabled_pipeline_records_neither_run_nor_steps() {
    let layer = SpanMetricsLayer::new();
    layer.switch().disable("nightly");
    let run = capture_with(layer, || {
        for pipeline in ["nightly", "hourly"] {
            let _run = info_span!("run", pipeline.name = pipeline).entered();
            let _step = info_span!("step", step.name = "load", items_processed = 5u64).entered();
        }
    });
    assert_eq!(
        run.counter("pipeline_executions_total", &[("pipeline_name", "hourly")]),
        1
    );
    assert_eq!(
        run.counter("pipeline_executions_total", &[("pipeline_name", "nightly")]),
        0
    );
    assert_eq!(run.counter("items_processed_total", &[]), 5);
    assert_eq!(calls(&run, "run", "ok"), 1);
    assert_eq!(calls(&run, "step", "ok"), 1);
    assert_eq!(
        run.histogram("step_duration_seconds", &[("pipeline_name", "nightly")])
            .len(),
        0
    );
}

#[derive(Debug)]
struct Weird;

impl std::fmt::Debug for Nested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == 0 {
            return f.write_str("leaf");
        }
        f.debug_list().entry(&Nested(self.0 - 1)).finish()
    }
}

struct Nested(u32);

struct FailingDebug;

impl std::fmt::Debug for FailingDebug {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Err(std::fmt::Error)
    }
}

#[test]
fn odd_field_values_never_panic() {
    let layer = SpanMetricsLayer::new()
        .with_dimension("tenant")
        .unwrap()
        .with_dimension("other")
        .unwrap();
    let huge = "é".repeat(1 << 20);
    let run = capture_with(layer, || {
        let values: Vec<Box<dyn Fn()>> = vec![
            Box::new(|| drop(info_span!("v", tenant = ?Weird))),
            Box::new(|| drop(info_span!("v", tenant = huge.as_str()))),
            Box::new(|| drop(info_span!("v", tenant = "\u{0}\u{7f}\"\\\n\u{fffd}𝄞"))),
            Box::new(|| drop(info_span!("v", tenant = ?Nested(500)))),
            Box::new(|| drop(info_span!("v", tenant = ?FailingDebug, other = f64::NAN))),
            Box::new(|| drop(info_span!("v", tenant = u128::MAX, other = i128::MIN))),
            Box::new(|| drop(info_span!("v", error = ?FailingDebug, error.type = ?FailingDebug))),
            Box::new(|| {
                drop(info_span!(
                    "v",
                    pipeline.name = huge.as_str(),
                    items_processed = -5i64,
                    cost_usd = f64::NAN,
                    api_calls = "many"
                ))
            }),
            Box::new(|| drop(info_span!("v", otel.status_code = ?FailingDebug))),
        ];
        for value in &values {
            value();
        }
        let _p = info_span!("p", pipeline.name = "odd").entered();
        info!(
            cost_usd = f64::INFINITY,
            items_processed = u64::MAX,
            "odd counts"
        );
        info!(items_processed = 0u64, "nothing to add");
    });
    assert_eq!(run.counter("span_calls_total", &[("span_name", "v")]), 9);
    for series in run.metrics() {
        for (_, value) in series.labels() {
            assert!(value.len() <= 128, "{value:?}");
        }
    }
    assert_eq!(
        run.counter(
            "autotel_dropped_total",
            &[("signal", "metrics"), ("reason", "invalid_value")]
        ),
        4,
        "negative items, NaN cost, textual api calls, infinite cost"
    );
    assert_eq!(
        run.counter("items_processed_total", &[("pipeline_name", "odd")]),
        u64::MAX
    );
}

#[test]
fn two_dispatchers_count_independently() {
    // The second layer sees a callsite that the first one registered.
    let first = capture(|| drop(info_span!("shared_site")));
    let second = capture(|| drop(info_span!("shared_site")));
    assert_eq!(calls(&first, "shared_site", "ok"), 1);
    assert_eq!(calls(&second, "shared_site", "ok"), 1);
}

#[test]
fn counts_are_exact_across_eight_threads() {
    const THREADS: usize = 8;
    const SPANS: usize = 100_000;
    let harness = Harness::new();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let harness = &harness;
            scope.spawn(move || {
                harness.run(|| {
                    for i in 0..SPANS {
                        let span = if thread % 2 == 0 {
                            info_span!("even", i)
                        } else {
                            info_span!("odd", i)
                        };
                        let _entered = span.enter();
                        if i % 1000 == 0 {
                            error!("one in a thousand");
                        }
                    }
                });
            });
        }
    });
    let run = harness.finish();
    let per_name = (THREADS / 2 * SPANS) as u64;
    let errors = (THREADS / 2 * SPANS / 1000) as u64;
    assert_eq!(calls(&run, "even", "ok"), per_name - errors);
    assert_eq!(calls(&run, "even", "error"), errors);
    assert_eq!(calls(&run, "odd", "ok"), per_name - errors);
    assert_eq!(calls(&run, "odd", "error"), errors);
    assert_eq!(
        run.counter("span_errors_total", &[]),
        2 * errors,
        "every error span counted once"
    );
    let durations = run.histogram("span_duration_seconds", &[]);
    assert_eq!(durations.len(), THREADS * SPANS);
    assert!(durations.iter().all(|d| d.is_finite() && *d >= 0.0));
    assert!(matches!(
        run.series("span_calls_total", &[])
            .next()
            .map(|s| s.value()),
        Some(MetricValue::Counter(_))
    ));
}

#[test]
fn many_live_spans_closed_on_other_threads_count_exactly() {
    // More live spans than the layer keeps in its lock-free slots, marked
    // failed and closed on threads other than the one that opened them.
    const SPANS: usize = 20_000;
    let harness = Harness::new();
    let spans: Vec<tracing::Span> = harness.run(|| {
        (0..SPANS)
            .map(|i| {
                if i % 2 == 0 {
                    info_span!("held", i)
                } else {
                    info_span!("held_with_error_field", error = tracing::field::Empty)
                }
            })
            .collect()
    });
    let mut spans = spans.into_iter();
    let chunks: Vec<Vec<tracing::Span>> = (0..4)
        .map(|_| spans.by_ref().take(SPANS / 4).collect())
        .collect();
    std::thread::scope(|scope| {
        for chunk in chunks {
            let harness = &harness;
            scope.spawn(move || {
                harness.run(|| {
                    for (i, span) in chunk.into_iter().enumerate() {
                        if i % 10 == 0 {
                            error!(parent: &span, error.type = "late", "failed");
                        }
                        if i % 10 == 1 {
                            span.record("error", true);
                        }
                        drop(span);
                    }
                });
            });
        }
    });
    let run = harness.finish();
    let per_name = (SPANS / 2) as u64;
    // Each chunk of 5000 starts on an even span: spans at i % 10 == 0 are
    // `held` (error event), those at i % 10 == 1 `held_with_error_field`.
    let marked = (SPANS / 10) as u64;
    assert_eq!(calls(&run, "held", "error"), marked);
    assert_eq!(calls(&run, "held", "ok"), per_name - marked);
    assert_eq!(calls(&run, "held_with_error_field", "error"), marked);
    assert_eq!(
        calls(&run, "held_with_error_field", "ok"),
        per_name - marked
    );
    assert_eq!(
        run.counter(
            "span_errors_total",
            &[("span_name", "held"), ("error_type", "late")]
        ),
        marked
    );
    assert_eq!(
        run.histogram("span_duration_seconds", &[]).len(),
        SPANS,
        "every span closed once"
    );
}

#[test]
fn label_sets_past_the_cap_go_to_one_overflow_series() {
    let layer = SpanMetricsLayer::new()
        .with_max_series(2)
        .unwrap()
        .with_dimension("tenant")
        .unwrap();
    let run = capture_with(layer, || {
        for tenant in ["a", "b", "c", "d", "a", "c"] {
            drop(info_span!("req", tenant));
        }
        for pipeline in ["p1", "p2", "p3", "p3"] {
            let _run = info_span!("run", pipeline.name = pipeline).entered();
            error!(error.type = pipeline, "failed");
        }
    });
    assert_eq!(run.counter("span_calls_total", &[("tenant", "a")]), 2);
    assert_eq!(run.counter("span_calls_total", &[("tenant", "b")]), 1);
    let overflow = [("otel_metric_overflow", "true")];
    assert_eq!(run.counter("span_calls_total", &overflow), 3 + 4);
    assert_eq!(
        run.histogram("span_duration_seconds", &overflow).len(),
        3 + 4
    );
    for series in run.series("span_calls_total", &overflow) {
        assert_eq!(
            series.labels().len(),
            1,
            "the overflow series has one label"
        );
    }
    assert_eq!(
        run.counter(
            "autotel_series_overflow_total",
            &[("metric", "span_calls_total")]
        ),
        7
    );
    assert_eq!(
        run.counter("pipeline_executions_total", &[("pipeline_name", "p1")]),
        1
    );
    assert_eq!(run.counter("pipeline_executions_total", &overflow), 2);
    // Each overflowed run is counted once per metric it reaches: its start
    // under active_pipelines, its end under the executions and durations.
    for metric in [
        "pipeline_executions_total",
        "pipeline_duration_seconds",
        "active_pipelines",
    ] {
        assert_eq!(
            run.counter("autotel_series_overflow_total", &[("metric", metric)]),
            2,
            "{metric}"
        );
    }
    assert_eq!(run.counter("span_errors_total", &overflow), 2);
    assert_eq!(run.counter("span_errors_total", &[]), 4);
}
