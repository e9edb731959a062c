//! The non-blocking writer on a destination that fails or stalls: a full
//! disk (`/dev/full`), a pipe whose reader has gone, a pipe nobody reads, a
//! destination that panics. Lines are lost and counted, the writer does not
//! panic nor retry in a loop, and the program goes on.

use std::fs::File;
use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use autotel_layers::catalog::AUTOTEL_DROPPED_TOTAL;
use autotel_layers::writer::NonBlocking;
use autotel_test_support::recorder::global_counter_with;
use autotel_test_support::writer::Gate;

/// The tests that read the global recorder run one at a time.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// `autotel_dropped_total{signal="logs", reason}` so far.
fn dropped_for(reason: &str) -> u64 {
    global_counter_with(
        AUTOTEL_DROPPED_TOTAL.name(),
        &[("signal", "logs"), ("reason", reason)],
    )
}

/// A destination that counts the write calls it is given.
struct Counting<W> {
    inner: W,
    calls: Arc<AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Writes lines for a little over a second (the retry interval after an
/// error) and returns how many.
fn log_for_a_second(writer: &NonBlocking) -> u64 {
    let start = Instant::now();
    let mut lines = 0;
    while start.elapsed() < Duration::from_millis(1_300) {
        (&*writer)
            .write_all(format!("line {lines}\n").as_bytes())
            .expect("the writer never fails its producer");
        lines += 1;
        if lines % 64 == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    lines
}

/// Writes 1000 lines from another thread, `pause` apart, failing when that
/// takes longer than a generous bound instead of hanging the test.
fn thousand_lines_within_a_generous_bound(writer: &NonBlocking, pause: Duration) {
    let producer = writer.clone();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        for i in 0..1_000 {
            (&producer)
                .write_all(format!("line {i:04}\n").as_bytes())
                .unwrap();
            std::thread::sleep(pause);
        }
        let _ = done.send(());
    });
    finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the producer was blocked for more than 30 s");
}

/// Asserts what a destination that refuses every write leaves behind.
fn every_line_dropped_with_few_attempts(destination: impl Write + Send + 'static, max_calls: u64) {
    let _turn = one_at_a_time();
    let dropped_before = dropped_for("io_error");
    let calls = Arc::new(AtomicU64::new(0));
    let (writer, guard) = NonBlocking::builder()
        .build(Counting {
            inner: destination,
            calls: Arc::clone(&calls),
        })
        .expect("the writer starts");
    let lines = log_for_a_second(&writer);
    drop(guard);
    assert!(lines > 1_000, "the producer went on: {lines} lines");
    assert_eq!(writer.dropped(), lines, "every line is lost and counted");
    assert_eq!(dropped_for("io_error") - dropped_before, lines);
    let calls = calls.load(Ordering::Relaxed);
    assert!(
        (1..=max_calls).contains(&calls),
        "{calls} write attempts in a little over a second: the writer retries in a loop"
    );
}

#[test]
fn a_full_disk_drops_and_counts_with_one_attempt_a_second() {
    let full = File::options()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full exists on Linux");
    // The first attempt, one retry a second later, perhaps one more at close.
    every_line_dropped_with_few_attempts(full, 3);
}

#[test]
fn a_closed_pipe_drops_and_counts_after_one_attempt() {
    let (reader, writer) = io::pipe().expect("a pipe");
    drop(reader);
    every_line_dropped_with_few_attempts(writer, 1);
}

#[test]
fn a_stalled_destination_costs_one_bounded_wait() {
    let _turn = one_at_a_time();
    let dropped_before = dropped_for("buffer_full");
    let (stalled, release) = Gate::new();
    let (writer, guard) = NonBlocking::builder()
        .with_buffer_size(64)
        .with_max_wait(Duration::from_millis(200))
        .build(stalled)
        .expect("the writer starts");
    thousand_lines_within_a_generous_bound(&writer, Duration::ZERO);
    // One producer waited once; every other line that did not fit was
    // dropped at once.
    assert!(
        (1..=2).contains(&writer.waits()),
        "{} waits",
        writer.waits()
    );
    let dropped = writer.dropped();
    assert!(dropped >= 980, "{dropped} dropped of 1000");
    assert_eq!(dropped_for("buffer_full") - dropped_before, dropped);
    drop(release);
    drop(guard);
}

/// A destination that panics.
struct Panicking;

impl Write for Panicking {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        panic!("the destination panicked");
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn producers_do_not_wait_for_a_background_thread_that_died() {
    let (writer, guard) = NonBlocking::builder()
        .with_buffer_size(64)
        .with_max_wait(Duration::MAX)
        .build(Panicking)
        .expect("the writer starts");
    thousand_lines_within_a_generous_bound(&writer, Duration::from_micros(50));
    assert!(writer.dropped() > 900, "{} dropped", writer.dropped());
    drop(guard);
}
