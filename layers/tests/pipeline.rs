//! Pipeline conventions: runs, steps, counters recorded on spans and events,
//! step failures and the exact dollar sum.

use autotel_layers::testing::{Run, capture};
use tracing::{error, info, info_span, instrument};

fn executions(run: &Run, pipeline: &str, status: &str) -> u64 {
    run.counter(
        "pipeline_executions_total",
        &[("pipeline_name", pipeline), ("status", status)],
    )
}

#[derive(Debug)]
struct SaveFailed;

impl std::fmt::Display for SaveFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("disk full")
    }
}

impl std::error::Error for SaveFailed {}

#[instrument(fields(step.name = "load"))]
fn load() -> Vec<u32> {
    let rows: Vec<u32> = (0..100).collect();
    info!(items_processed = rows.len() as u64, "loaded");
    rows
}

#[instrument(skip(rows), fields(step.name = "transform", items_processed = rows.len() as u64))]
fn transform(rows: Vec<u32>) -> Vec<u32> {
    info!(api_calls = 3u64, cost_usd = 0.01, "enriched");
    rows.into_iter().map(|r| r * 2).collect()
}

#[instrument(skip(rows), err, fields(step.name = "save", error.type = tracing::field::Empty))]
fn save(rows: &[u32], fail: bool) -> Result<(), SaveFailed> {
    if fail {
        tracing::Span::current().record("error.type", "io");
        return Err(SaveFailed);
    }
    info!(items_processed = rows.len() as u64, "saved");
    Ok(())
}

fn etl(fail: bool) {
    let _run = info_span!("etl_run", pipeline.name = "etl").entered();
    let rows = load();
    let rows = transform(rows);
    let _ = save(&rows, fail);
}

#[test]
fn runs_steps_and_counters_follow_the_conventions() {
    let run = capture(|| {
        etl(false);
        etl(false);
        etl(true);
    });
    assert_eq!(executions(&run, "etl", "ok"), 2);
    assert_eq!(
        executions(&run, "etl", "error"),
        1,
        "a failed step fails the run"
    );
    assert_eq!(
        run.histogram("pipeline_duration_seconds", &[("pipeline_name", "etl")])
            .len(),
        3
    );
    for step in ["load", "transform", "save"] {
        assert_eq!(
            run.histogram(
                "step_duration_seconds",
                &[("pipeline_name", "etl"), ("step_name", step)]
            )
            .len(),
            3,
            "{step}"
        );
    }
    assert_eq!(
        run.counter(
            "step_errors_total",
            &[
                ("pipeline_name", "etl"),
                ("step_name", "save"),
                ("error_type", "io")
            ]
        ),
        1
    );
    assert_eq!(run.counter("step_errors_total", &[]), 1);
    // load: 100 per run from an event; transform: 100 per run as a span
    // field; save: 100 per successful run.
    assert_eq!(
        run.counter("items_processed_total", &[("pipeline_name", "etl")]),
        3 * 100 + 3 * 100 + 2 * 100
    );
    assert_eq!(
        run.counter("api_calls_total", &[("pipeline_name", "etl")]),
        9
    );
    assert_eq!(
        run.gauge("active_pipelines", &[("pipeline_name", "etl")]),
        Some(0.0)
    );
    // The run span itself had no error event, so its span status is ok;
    // the pipeline status is error because a step failed.
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "etl_run"), ("status", "ok")]
        ),
        3
    );
    assert_eq!(
        run.counter(
            "span_calls_total",
            &[("span_name", "save"), ("status", "error")]
        ),
        1
    );
}

#[test]
fn fractional_dollars_add_up_exactly_to_the_cent() {
    let run = capture(|| {
        let _run = info_span!("billing", pipeline.name = "billing").entered();
        for _ in 0..1000 {
            info!(cost_usd = 0.01, "one cent");
        }
        for _ in 0..10 {
            info!(cost_usd = 0.1, "ten cents");
        }
        info!(cost_usd = "0.07", "as text");
        info!(cost_usd = 2u64, "whole dollars");
    });
    let total = run
        .gauge("pipeline_cost_usd_total", &[("pipeline_name", "billing")])
        .expect("the cost series exists");
    // 10.00 + 1.00 + 0.07 + 2.00; a float sum of 0.01 a thousand times
    // would be 9.999999999999831.
    assert_eq!(total, 13.07);
    assert_eq!((total * 100.0).round() / 100.0, total);
}

#[test]
fn active_pipelines_counts_runs_in_progress() {
    let harness = autotel_layers::testing::Harness::new();
    let active = |harness: &autotel_layers::testing::Harness| {
        harness
            .snapshot()
            .gauge("active_pipelines", &[("pipeline_name", "p")])
    };
    let (first, second) = harness.run(|| {
        (
            info_span!("a", pipeline.name = "p"),
            info_span!("b", pipeline.name = "p"),
        )
    });
    assert_eq!(active(&harness), Some(2.0));
    harness.run(|| drop(first));
    assert_eq!(active(&harness), Some(1.0));
    harness.run(|| drop(second));
    let run = harness.finish();
    assert_eq!(
        run.gauge("active_pipelines", &[("pipeline_name", "p")]),
        Some(0.0)
    );
    assert_eq!(executions(&run, "p", "ok"), 2);
    assert_eq!(
        run.histogram("pipeline_duration_seconds", &[("pipeline_name", "p")])
            .len(),
        2,
        "histogram values survive earlier snapshots"
    );
}

#[test]
fn steps_find_their_run_through_intermediate_spans() {
    let run = capture(|| {
        let _run = info_span!("run", pipeline.name = "deep").entered();
        let _helper = info_span!("helper").entered();
        let _step = info_span!("step", step.name = "inner").entered();
        let _below = info_span!("below").entered();
        info!(items_processed = 7u64, api_calls = 2u64);
        error!(error.type = "bad_row", "failed in a child of the step");
    });
    assert_eq!(
        run.counter("items_processed_total", &[("pipeline_name", "deep")]),
        7
    );
    assert_eq!(
        run.counter("api_calls_total", &[("pipeline_name", "deep")]),
        2
    );
    assert_eq!(
        run.histogram(
            "step_duration_seconds",
            &[("pipeline_name", "deep"), ("step_name", "inner")]
        )
        .len(),
        1
    );
    // The error was directly inside `below`, not inside the step.
    assert_eq!(run.counter("step_errors_total", &[]), 0);
    assert_eq!(executions(&run, "deep", "ok"), 1);
}

#[test]
fn an_error_directly_in_the_run_fails_it() {
    let run = capture(|| {
        let _run = info_span!("run", pipeline.name = "direct").entered();
        error!("aborted");
    });
    assert_eq!(executions(&run, "direct", "error"), 1);
    assert_eq!(run.counter("step_errors_total", &[]), 0);
}

#[test]
fn names_recorded_after_creation_still_count() {
    let run = capture(|| {
        let span = info_span!("late", pipeline.name = tracing::field::Empty);
        span.record("pipeline.name", "late_pipeline");
        let _entered = span.enter();
        let step = info_span!("late_step", step.name = tracing::field::Empty);
        step.record("step.name", "fill");
        drop(step);
    });
    assert_eq!(executions(&run, "late_pipeline", "ok"), 1);
    assert_eq!(
        run.histogram("step_duration_seconds", &[("step_name", "fill")])
            .len(),
        1
    );
}

#[test]
fn a_step_outside_any_run_is_a_plain_span_unless_it_names_its_pipeline() {
    let run = capture(|| {
        drop(info_span!("orphan", step.name = "lonely"));
        drop(info_span!(
            "named",
            step.name = "standalone",
            pipeline.name = "adhoc"
        ));
    });
    assert_eq!(run.histogram("step_duration_seconds", &[]).len(), 1);
    assert_eq!(
        run.histogram(
            "step_duration_seconds",
            &[("pipeline_name", "adhoc"), ("step_name", "standalone")]
        )
        .len(),
        1
    );
    assert_eq!(run.counter("pipeline_executions_total", &[]), 0);
    assert_eq!(run.counter("span_calls_total", &[]), 2);
}

#[test]
fn counters_outside_a_pipeline_are_ignored() {
    let run = capture(|| {
        let _span = info_span!("no_pipeline").entered();
        info!(items_processed = 10u64, "not part of a run");
    });
    assert_eq!(run.counter("items_processed_total", &[]), 0);
}

#[test]
fn a_queue_depth_field_sets_the_queue_depth_of_its_pipeline() {
    let harness = autotel_layers::testing::Harness::new();
    let depth = |harness: &autotel_layers::testing::Harness| {
        harness
            .snapshot()
            .gauge("pipeline_queue_depth", &[("pipeline_name", "orders")])
    };
    // On the run itself, when it opens.
    let run = harness.run(|| info_span!("import", pipeline.name = "orders", queue_depth = 40u64));
    assert_eq!(depth(&harness), Some(40.0));
    // On an event inside the run: the last value reported, not a sum.
    harness.run(|| run.in_scope(|| info!(queue_depth = 12u64, "polled")));
    assert_eq!(depth(&harness), Some(12.0));
    // On a step, and recorded later on the run.
    harness.run(|| {
        run.in_scope(|| drop(info_span!("load", step.name = "load", queue_depth = 7u64)));
    });
    assert_eq!(depth(&harness), Some(7.0));
    harness.run(|| run.record("queue_depth", 3u64));
    assert_eq!(depth(&harness), Some(3.0));
    harness.run(|| {
        // A pipeline that never reports one has no queue series; outside a
        // pipeline the field says nothing; a negative depth is dropped and
        // counted.
        drop(info_span!("other", pipeline.name = "no_queue"));
        info!(queue_depth = 99u64, "not part of a run");
        run.in_scope(|| info!(queue_depth = -1i64, "a bad value"));
        drop(run);
    });
    let run = harness.finish();
    assert_eq!(
        run.gauge("pipeline_queue_depth", &[("pipeline_name", "orders")]),
        Some(3.0)
    );
    assert_eq!(run.series("pipeline_queue_depth", &[]).count(), 1);
    assert_eq!(
        run.counter("autotel_dropped_total", &[("reason", "invalid_value")]),
        1
    );
}

#[test]
fn a_queue_depth_field_and_the_queue_api_report_to_one_series() {
    // (A layer with a prefix reports under its prefixed name, as it does
    // every metric.)
    let run = capture(|| {
        autotel_layers::queue::record_queue_depth("shared", 5);
        let _run = info_span!("drain", pipeline.name = "shared", queue_depth = 2u64).entered();
    });
    assert_eq!(run.series("pipeline_queue_depth", &[]).count(), 1);
    assert_eq!(
        run.gauge("pipeline_queue_depth", &[("pipeline_name", "shared")]),
        Some(2.0)
    );
}
