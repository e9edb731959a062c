//! The testing preset installed in this process: a second initialisation,
//! runtime control, the user's own layers, and what the guard captures.
//!
//! Telemetry is global, so everything runs in one test, in order.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use autotel_presets::{Environment, Error};
use tracing_subscriber::Layer;

/// Counts the events it sees: a layer of the user's own.
struct CountEvents(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for CountEvents {
    fn on_event(&self, _: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

fn calls(telemetry: &autotel_presets::TelemetryGuard, span: &str) -> u64 {
    telemetry
        .captured()
        .expect("the testing preset captures")
        .counter("span_calls_total", &[("span_name", span)])
}

#[test]
fn the_testing_preset_captures_and_obeys_runtime_control() {
    let events = Arc::new(AtomicUsize::new(0));
    let telemetry = autotel_presets::testing("checkout")
        .service_version("1.2.3")
        .with_layer(CountEvents(Arc::clone(&events)))
        .init();
    assert_eq!(telemetry.environment(), Environment::Testing);
    assert_eq!(telemetry.prometheus_address(), None, "no socket in testing");

    // A second initialisation is an error, not a panic.
    let again = autotel_presets::production("other").try_init();
    assert!(
        matches!(again, Err(Error::AlreadyInitialized { .. })),
        "{again:?}"
    );
    assert!(
        again
            .unwrap_err()
            .to_string()
            .contains("already initialised")
    );

    // Logs are JSON lines in memory, starting with the configuration.
    let logs = telemetry.captured_logs();
    let started: serde_json::Value = serde_json::from_str(&logs[0]).unwrap();
    assert_eq!(started["message"], "telemetry started");
    assert_eq!(started["service.version"], "1.2.3");
    assert_eq!(started["data"]["prometheus"], "in memory");
    assert_eq!(started["data"]["log_filter"], "debug");
    assert_eq!(events.load(Ordering::Relaxed), 1, "the user's layer saw it");

    // Span metrics, into the capture and the Prometheus text.
    tracing::info_span!("charge").in_scope(|| tracing::debug!("charging"));
    assert_eq!(calls(&telemetry, "charge"), 1);
    let text = telemetry.metrics_text().expect("Prometheus in memory");
    assert!(
        text.contains("span_calls_total{span_name=\"charge\",status=\"ok\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("autotel_build_info{service_name=\"checkout\",service_version=\"1.2.3\",deployment_environment=\"testing\""),
        "{text}"
    );

    // The log filter changes for the next event.
    let control = telemetry.control();
    control.set_log_filter("warn").unwrap();
    assert_eq!(control.log_filter(), "warn");
    let before = telemetry.captured_logs().len();
    tracing::info!("hidden");
    tracing::warn!("shown");
    let logs = telemetry.captured_logs();
    assert_eq!(logs.len(), before + 1, "{logs:#?}");
    assert!(logs.last().unwrap().contains("shown"));
    let error = control.set_log_filter("a=b=c").unwrap_err().to_string();
    assert!(
        error.starts_with("TelemetryControl::set_log_filter='a=b=c'"),
        "{error}"
    );
    assert_eq!(control.log_filter(), "warn", "a bad filter changes nothing");
    control.set_log_filter("info").unwrap();
    // The `log` bridge follows the filter too.
    log::debug!("hidden from log");
    log::info!("from log");
    let logs = telemetry.captured_logs();
    assert!(logs.last().unwrap().contains("from log"), "{logs:#?}");
    assert!(!logs.iter().any(|line| line.contains("hidden")));

    // Span metrics off for one name, then for all, then on again.
    control.disable_metrics_for("charge");
    tracing::info_span!("charge").in_scope(|| {});
    tracing::info_span!("refund").in_scope(|| {});
    assert_eq!(calls(&telemetry, "charge"), 1);
    assert_eq!(calls(&telemetry, "refund"), 1);
    control.enable_metrics_for("charge");
    control.set_metrics_enabled(false);
    tracing::info_span!("charge").in_scope(|| {});
    tracing::info_span!("refund").in_scope(|| {});
    assert_eq!(
        (calls(&telemetry, "charge"), calls(&telemetry, "refund")),
        (1, 1)
    );
    control.set_metrics_enabled(true);
    tracing::info_span!("charge").in_scope(|| {});
    assert_eq!(calls(&telemetry, "charge"), 2);

    // The sampling ratio.
    assert_eq!(control.trace_sample_ratio(), 1.0);
    control.set_trace_sample_ratio(0.25).unwrap();
    assert_eq!(control.trace_sample_ratio(), 0.25);
    let error = control.set_trace_sample_ratio(1.5).unwrap_err().to_string();
    assert!(
        error.starts_with("TelemetryControl::set_trace_sample_ratio='1.5'"),
        "{error}"
    );

    // Spans and events are captured with their fields.
    let run = telemetry.captured().unwrap();
    assert!(run.spans().iter().any(|span| span.name() == "refund"));
    assert!(run.events().iter().any(|e| e.message() == Some("shown")));

    drop(telemetry);
    let after = autotel_presets::testing("checkout").try_init();
    assert!(
        matches!(after, Err(Error::AlreadyInitialized { .. })),
        "a process initialises once"
    );
}
