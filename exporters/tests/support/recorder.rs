//! A process-wide `metrics` recorder for tests that read the `autotel_*`
//! counters the pipelines' threads record.
#![allow(dead_code)]

use std::sync::{Mutex, OnceLock, PoisonError};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// The process-wide recorder that receives `autotel_*` counters from the
/// pipelines' threads.
pub fn snapshotter() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("the only global recorder of this test binary");
        snapshotter
    })
}

/// A counter increase: name, labels, amount.
type Recorded = (String, Vec<(String, String)>, u64);

/// The sum of the global counters `name` with the label `key=value`, since
/// the start. Snapshots drain counters and tests run in parallel, so every
/// snapshot is added to one running total.
pub fn global_counter(name: &str, key: &str, value: &str) -> u64 {
    global_counter_with(name, &[(key, value)])
}

/// [`global_counter`] of the counters carrying all of `labels`.
pub fn global_counter_with(name: &str, labels: &[(&str, &str)]) -> u64 {
    static TOTALS: Mutex<Vec<Recorded>> = Mutex::new(Vec::new());
    let mut totals = TOTALS.lock().unwrap_or_else(PoisonError::into_inner);
    for (key, _, _, value) in snapshotter().snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            let labels = key
                .key()
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            totals.push((key.key().name().to_owned(), labels, n));
        }
    }
    totals
        .iter()
        .filter(|(n, have, _)| {
            n == name
                && labels
                    .iter()
                    .all(|(key, value)| have.iter().any(|(k, v)| k == key && v == value))
        })
        .map(|(_, _, n)| n)
        .sum()
}
