//! The sampler thread ends when its guard drops. Its own test binary, so that
//! no other sampler runs meanwhile.
#![cfg(target_os = "linux")]

use std::time::Duration;

use autotel_layers::SystemSampler;

fn sampler_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.trim() == "autotel-sampler")
        .count()
}

#[test]
fn the_sampler_thread_is_gone_after_the_guard_drops() {
    assert_eq!(sampler_threads(), 0);
    // A long interval: the thread waits on its condition variable, which the
    // guard must interrupt rather than wait an hour.
    let guard = SystemSampler::new()
        .with_interval(Duration::from_secs(3600))
        .unwrap()
        .start()
        .unwrap();
    while guard.samples() == 0 {
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(sampler_threads(), 1);
    drop(guard);
    // The guard joined the thread: it is gone once `drop` returns.
    assert_eq!(sampler_threads(), 0);
}
