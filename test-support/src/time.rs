//! Time without timings: a fixed wall-clock instant for golden output,
//! waiting on a condition, and CPU time spent and read independently of
//! autotel's own clocks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2026-06-15T14:32:45.123Z, the timestamp of golden log lines.
pub fn fixed_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_781_533_965_123)
}

/// Waits until `done` holds; polls, so it asserts nothing about time.
pub fn wait_until(mut done: impl FnMut() -> bool) {
    while !done() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Keeps the calling thread busy on the CPU for `cpu` of its own CPU time
/// (as [`thread_cpu_nanos`] reads it).
///
/// # Panics
///
/// As [`thread_cpu_nanos`].
pub fn burn_cpu(cpu: Duration) {
    let start = thread_cpu_nanos();
    let mut x = 0u64;
    while thread_cpu_nanos() - start < cpu.as_nanos() as u64 {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
        }
    }
    std::hint::black_box(x);
}

/// CPU time of the calling thread in nanoseconds, from the first field of
/// `/proc/thread-self/schedstat` (time spent on the CPU).
///
/// # Panics
///
/// When that file cannot be read (not Linux).
pub fn thread_cpu_nanos() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")
        .expect("/proc/thread-self/schedstat is readable on Linux");
    stat.split_ascii_whitespace()
        .next()
        .and_then(|nanos| nanos.parse().ok())
        .unwrap_or_else(|| panic!("no CPU time in /proc/thread-self/schedstat: {stat:?}"))
}
