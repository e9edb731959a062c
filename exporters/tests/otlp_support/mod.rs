//! What the OTLP fault tests share: a collector that never answers, and the
//! `autotel_*` counters the pipelines' threads record globally.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Mutex, OnceLock, PoisonError};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// The process-wide recorder that receives `autotel_*` counters from the
/// pipelines' threads; installed by the first call.
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

/// The sum of the global counters `name` whose labels pass `labels_match`,
/// since the start. Snapshots drain counters and tests run in parallel, so
/// every snapshot is added to one running total.
fn total(name: &str, labels_match: impl Fn(&[(String, String)]) -> bool) -> u64 {
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
        .filter(|(n, labels, _)| n == name && labels_match(labels))
        .map(|(_, _, n)| n)
        .sum()
}

/// The sum of the global counters `name` with the label `key=value`.
pub fn global_counter(name: &str, key: &str, value: &str) -> u64 {
    total(name, |labels| {
        labels.iter().any(|(k, v)| k == key && v == value)
    })
}

/// The sum of the global counters `name`, whatever their labels.
pub fn global_total(name: &str) -> u64 {
    total(name, |_| true)
}

/// A receiver that accepts connections and never reads or answers.
pub fn black_hole() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a port");
    let address = listener.local_addr().expect("an address");
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    address
}
