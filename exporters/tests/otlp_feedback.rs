//! The report of a failed log export is a tracing event; when the OTLP log
//! layer is in the same (global) subscriber, that report must not become a
//! log record that fails again, endlessly. It reaches the other layers.
#![cfg(feature = "otlp")]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use autotel_exporters::otlp::Otlp;
use autotel_test_support::net::closed_port;
use tracing_subscriber::Layer;
use tracing_subscriber::layer::SubscriberExt;

/// Counts the events of target `autotel::otlp` and keeps their messages.
struct Reports(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for Reports {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() == "autotel::otlp" {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn a_failed_log_export_is_reported_once_and_not_exported_again() {
    let port = closed_port().port();
    let otlp = Otlp::new()
        .with_endpoint(format!("http://127.0.0.1:{port}"))
        .expect("a valid endpoint")
        .with_export_timeout(Duration::from_secs(1))
        .expect("a valid setting")
        .with_traces(false)
        .with_metrics(false)
        .build()
        .expect("the pipeline starts");
    let reports = Arc::new(AtomicUsize::new(0));
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry()
            .with(otlp.log_layer())
            .with(Reports(reports.clone())),
    )
    .expect("the only global subscriber of this test binary");
    for round in 0..3 {
        for i in 0..5 {
            tracing::info!(round, i, "work");
        }
        assert!(otlp.force_flush().is_err(), "nothing listens");
    }
    let stats = otlp.stats();
    assert_eq!(
        stats.dropped_logs(),
        15,
        "only the 15 events were exported (and dropped), no report: {stats:?}"
    );
    assert_eq!(
        reports.load(Ordering::Relaxed),
        1,
        "one report per kind of failure per interval"
    );
    let _ = otlp.shutdown();
}
