//! Plain StatsD against Etsy statsd 0.9.0: what statsd aggregated and
//! flushed equals what the program recorded, for counters (labels folded
//! into the name), fractional counters, gauges (negative ones too) and
//! timers (in milliseconds, weighed by their sample rate).
#![cfg(feature = "statsd")]

use autotel_exporters::statsd::StatsD;
use autotel_test_support::push::record_and_send;
use autotel_test_support::statsd::{EtsyStatsd, read_flushes};
use serde_json::Value;

/// The sum over every flush of `field[key]`.
fn total(flushes: &[Value], field: &str, key: &str) -> f64 {
    flushes
        .iter()
        .filter_map(|flush| flush[field][key].as_f64())
        .sum()
}

#[test]
fn statsd_aggregates_what_the_program_recorded() {
    let Some(mut statsd) = EtsyStatsd::start() else {
        return;
    };
    let exporter = StatsD::new()
        .with_host("127.0.0.1", statsd.port)
        .with_prefix("shop")
        .build()
        .unwrap();
    let mut timer_values = Vec::new();
    record_and_send(exporter, 100, || {
        for (route, calls) in [("/orders", 7_u64), ("/orders/{id}", 5)] {
            metrics::counter!("http_server_requests_total", "route" => route, "status" => "200")
                .increment(calls);
        }
        metrics::gauge!("pipeline_cost_usd_total").set(0.25);
        metrics::gauge!("pipeline_queue_depth", "pipeline_name" => "etl").set(-3.5);
        for v in 1..=40 {
            let seconds = f64::from(v) / 10_000.0;
            timer_values.push(seconds * 1000.0);
            metrics::histogram!("span_duration_seconds", "span_name" => "checkout").record(seconds);
        }
        for _ in 0..1000 {
            metrics::histogram!("span_duration_seconds", "span_name" => "batch").record(2.0);
        }
    });

    let orders = "shop.http_server_requests_total.route._orders.status.200";
    let order = "shop.http_server_requests_total.route._orders__id_.status.200";
    let checkout = "shop.span_duration_seconds.span_name.checkout";
    let batch = "shop.span_duration_seconds.span_name.batch";
    let flushes_file = statsd.flushes_file();
    let flushes = statsd
        .peer
        .wait_for("statsd to flush the recorded metrics", || {
            let flushes = read_flushes(&flushes_file);
            let batch_count = total(&flushes, "timer_counts", batch);
            (total(&flushes, "counters", orders) == 7.0
                && total(&flushes, "counters", order) == 5.0
                && (batch_count - 1000.0).abs() < 1e-6
                && flushes.iter().any(|f| {
                    f["gauges"]
                        .get("shop.pipeline_queue_depth.pipeline_name.etl")
                        .is_some()
                }))
            .then_some(flushes)
        });
    assert_eq!(
        total(&flushes, "counters", "shop.pipeline_cost_usd_total"),
        0.25
    );
    let last = flushes.last().unwrap();
    assert_eq!(
        last["gauges"]["shop.pipeline_queue_depth.pipeline_name.etl"],
        -3.5
    );

    // Under the budget every value arrives, in milliseconds.
    let mut seen: Vec<f64> = flushes
        .iter()
        .filter_map(|f| f["timers"][checkout].as_array())
        .flatten()
        .filter_map(Value::as_f64)
        .collect();
    seen.sort_by(f64::total_cmp);
    assert_eq!(seen.len(), timer_values.len());
    for (seen, recorded) in seen.iter().zip(&timer_values) {
        assert!((seen - recorded).abs() < 1e-9, "{seen} != {recorded}");
    }
    assert_eq!(total(&flushes, "timer_counts", checkout), 40.0);
    // Past it, 100 values arrive, each standing for ten.
    let batch_values: usize = flushes
        .iter()
        .filter_map(|f| f["timers"][batch].as_array())
        .map(Vec::len)
        .sum();
    assert_eq!(batch_values, 100);
    assert_eq!(
        flushes
            .iter()
            .map(|f| f["counters"]["statsd.bad_lines_seen"]
                .as_f64()
                .unwrap_or(0.0))
            .sum::<f64>(),
        0.0,
        "statsd read every line"
    );
}
