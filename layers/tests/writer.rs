//! The non-blocking writer: lossless by default, every line exactly once and
//! whole; lossy mode counts its drops.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use autotel_layers::JsonLayer;
use autotel_layers::writer::NonBlocking;
use autotel_test_support::writer::Gate;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use tracing_subscriber::prelude::*;

/// A file path in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        Self(std::env::temp_dir().join(format!("autotel-{name}-{}-{nanos}", std::process::id())))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

const THREADS: usize = 4;
const LINES_PER_THREAD: usize = 250_000;

#[test]
fn a_million_lines_from_four_threads_each_exactly_once() {
    let file = TempFile::new("million");
    let (writer, guard) = NonBlocking::builder()
        .with_buffer_size(64 * 1024)
        .file(&file.0)
        .unwrap();
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let writer = writer.clone();
            scope.spawn(move || {
                let mut line = Vec::with_capacity(64);
                for i in 0..LINES_PER_THREAD {
                    line.clear();
                    writeln!(line, "thread={thread} line={i:06} payload=abcdefghijklmnop").unwrap();
                    (&writer).write_all(&line).unwrap();
                }
            });
        }
    });
    drop(guard);
    assert_eq!(writer.dropped(), 0);

    let contents = std::fs::read_to_string(&file.0).unwrap();
    let mut next = [0usize; THREADS];
    let mut count = 0;
    for line in contents.lines() {
        let rest = line
            .strip_prefix("thread=")
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let (thread, rest) = rest
            .split_once(" line=")
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        let (number, payload) = rest
            .split_once(' ')
            .unwrap_or_else(|| panic!("bad line {line:?}"));
        assert_eq!(payload, "payload=abcdefghijklmnop", "interleaved: {line:?}");
        let thread: usize = thread.parse().unwrap();
        let number: usize = number.parse().unwrap();
        assert_eq!(
            number, next[thread],
            "thread {thread} lost or repeated a line"
        );
        next[thread] += 1;
        count += 1;
    }
    assert_eq!(count, THREADS * LINES_PER_THREAD);
    assert_eq!(next, [LINES_PER_THREAD; THREADS]);
    assert!(contents.ends_with('\n'));
}

#[test]
fn json_lines_from_several_threads_all_parse() {
    let file = TempFile::new("json");
    let (writer, guard) = NonBlocking::builder().file(&file.0).unwrap();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(writer));
    let dispatch = tracing::Dispatch::new(subscriber);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let dispatch = dispatch.clone();
            scope.spawn(move || {
                tracing::dispatcher::with_default(&dispatch, || {
                    let span = tracing::info_span!("worker", thread);
                    let _entered = span.enter();
                    for i in 0..2_000 {
                        tracing::info!(i, text = "quote \" and newline \n", "event {i}");
                    }
                });
            });
        }
    });
    drop(dispatch);
    drop(guard);
    let contents = std::fs::read_to_string(&file.0).unwrap();
    let mut per_thread: HashMap<u64, usize> = HashMap::new();
    for line in contents.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        *per_thread
            .entry(value["data"]["thread"].as_u64().unwrap())
            .or_default() += 1;
    }
    assert_eq!(per_thread.len(), THREADS);
    assert!(per_thread.values().all(|&count| count == 2_000));
}

#[test]
fn a_full_buffer_makes_the_producer_wait_and_loses_nothing() {
    let (gate, open) = Gate::new();
    let (writer, guard) = NonBlocking::builder()
        .with_buffer_size(16)
        .build(gate.clone())
        .unwrap();
    let producer = {
        let writer = writer.clone();
        std::thread::spawn(move || {
            for i in 0..50 {
                (&writer)
                    .write_all(format!("line {i:04}\n").as_bytes())
                    .unwrap();
            }
        })
    };
    // The background thread blocks on its first write; the producer fills
    // the buffer and has to wait.
    while writer.waits() == 0 {
        std::thread::yield_now();
    }
    for _ in 0..100 {
        let _ = open.send(());
    }
    producer.join().unwrap();
    drop(open);
    drop(guard);
    let written = gate.text();
    let expected: String = (0..50).map(|i| format!("line {i:04}\n")).collect();
    assert_eq!(written, expected);
    assert_eq!(writer.dropped(), 0);
    assert!(writer.waits() >= 1);
}

#[test]
fn lossy_mode_drops_and_counts_when_full() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let (gate, open) = Gate::new();
    let (writer, guard) = NonBlocking::builder()
        .with_buffer_size(16)
        .lossy(true)
        .build(gate.clone())
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        for i in 0..50 {
            (&writer)
                .write_all(format!("line {i:04}\n").as_bytes())
                .unwrap();
        }
    });
    drop(open);
    drop(guard);
    let dropped = writer.dropped();
    assert!(dropped > 0);
    assert_eq!(writer.waits(), 0);
    let written = gate.text();
    let kept = written.lines().count() as u64;
    assert_eq!(kept + dropped, 50);
    // Kept lines are whole and in order.
    let mut previous = None;
    for line in written.lines() {
        let number: u32 = line.strip_prefix("line ").unwrap().parse().unwrap();
        assert!(previous < Some(number));
        previous = Some(number);
    }

    let counted: Vec<_> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| {
            key.key().name() == autotel_layers::catalog::AUTOTEL_DROPPED_TOTAL.name()
        })
        .collect();
    assert_eq!(counted.len(), 1);
    let (key, _, _, value) = &counted[0];
    let labels: Vec<_> = key
        .key()
        .labels()
        .map(|label| (label.key().to_owned(), label.value().to_owned()))
        .collect();
    assert_eq!(
        labels,
        [
            ("signal".to_owned(), "logs".to_owned()),
            ("reason".to_owned(), "buffer_full".to_owned())
        ]
    );
    assert_eq!(value, &DebugValue::Counter(dropped));
}
