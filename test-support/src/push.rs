//! Recording through the push recorder and sending one interval now.

use std::time::Duration;

use autotel_exporters::push::{Push, PushExporter};

/// The longest [`record_and_send`] waits for the exporter.
pub const SEND_DEADLINE: Duration = Duration::from_secs(30);

/// Records `record` through a push recorder that keeps up to `budget`
/// values of each histogram series and sends to `exporter`, then sends
/// that interval at once and drops the guard (which sends the gauges once
/// more).
///
/// # Panics
///
/// When the recorder does not start, or the exporter has not finished
/// sending within [`SEND_DEADLINE`].
pub fn record_and_send(exporter: impl PushExporter, budget: usize, record: impl FnOnce()) {
    let (recorder, guard) = Push::new()
        .with_histogram_budget(budget)
        .expect("a budget of at least one value")
        .with_max_series(100_000)
        .expect("a cap of at least one series")
        .with_exporter(exporter)
        .build()
        .expect("the push threads start");
    metrics::with_local_recorder(&recorder, record);
    assert!(
        guard.flush(SEND_DEADLINE),
        "the exporter did not send the interval within {SEND_DEADLINE:?}"
    );
    drop(guard);
}
