//! The system sampler end to end: figures agree with /proc, CPU seconds grow
//! under load, the thread ends with its guard.
#![cfg(target_os = "linux")]

use std::time::Duration;

use autotel_layers::SystemSampler;
use autotel_layers::catalog;
use autotel_test_support::recorder::AtomicRecorder;
use autotel_test_support::time::{burn_cpu, wait_until};

fn fast_sampler() -> SystemSampler {
    SystemSampler::new()
        .with_interval(Duration::from_millis(5))
        .unwrap()
}

fn statm_resident_bytes() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: f64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096.0
}

#[test]
fn resident_memory_is_within_2x_of_proc_statm() {
    let metrics = AtomicRecorder::new();
    let guard = metrics::with_local_recorder(&metrics, || fast_sampler().start()).unwrap();
    wait_until(|| guard.samples() >= 1);
    let sampled = metrics
        .value(catalog::PROCESS_RESIDENT_MEMORY_BYTES.name(), &[])
        .unwrap();
    let statm = statm_resident_bytes();
    assert!(
        sampled > statm / 2.0 && sampled < statm * 2.0,
        "sampled {sampled} B, /proc/self/statm says {statm} B"
    );
    let virt = metrics
        .value(catalog::PROCESS_VIRTUAL_MEMORY_BYTES.name(), &[])
        .unwrap();
    assert!(virt >= sampled, "virtual {virt} < resident {sampled}");
}

#[test]
fn cpu_seconds_rise_under_a_busy_loop() {
    let metrics = AtomicRecorder::new();
    let guard = metrics::with_local_recorder(&metrics, || fast_sampler().start()).unwrap();
    wait_until(|| guard.samples() >= 1);
    let name = catalog::PROCESS_CPU_SECONDS_TOTAL.name();
    let before = metrics.value(name, &[]).unwrap();
    burn_cpu(Duration::from_millis(300));
    let samples = guard.samples();
    wait_until(|| guard.samples() > samples + 1);
    let after = metrics.value(name, &[]).unwrap();
    assert!(
        after >= before + 0.2,
        "CPU seconds went from {before} to {after}"
    );
}

#[test]
fn every_process_and_system_metric_is_published() {
    let metrics = AtomicRecorder::new();
    let guard = metrics::with_local_recorder(&metrics, || fast_sampler().start()).unwrap();
    wait_until(|| guard.samples() >= 2);
    for def in [
        &catalog::PROCESS_CPU_SECONDS_TOTAL,
        &catalog::PROCESS_RESIDENT_MEMORY_BYTES,
        &catalog::PROCESS_VIRTUAL_MEMORY_BYTES,
        &catalog::PROCESS_OPEN_FDS,
        &catalog::PROCESS_MAX_FDS,
        &catalog::PROCESS_THREADS,
        &catalog::PROCESS_START_TIME_SECONDS,
        &catalog::SYSTEM_CPU_USAGE_RATIO,
        &catalog::SYSTEM_MEMORY_USED_BYTES,
        &catalog::SYSTEM_MEMORY_TOTAL_BYTES,
        &catalog::SYSTEM_LOAD_AVERAGE_1M,
    ] {
        assert!(
            metrics.value(def.name(), &[]).is_some(),
            "{} missing",
            def.name()
        );
    }
    let value = |def: &catalog::MetricDef| metrics.value(def.name(), &[]).unwrap();
    assert!(
        value(&catalog::PROCESS_THREADS) >= 2.0,
        "the test thread and the sampler"
    );
    assert!(value(&catalog::PROCESS_OPEN_FDS) >= 3.0);
    assert!(value(&catalog::PROCESS_MAX_FDS) >= value(&catalog::PROCESS_OPEN_FDS));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let start = value(&catalog::PROCESS_START_TIME_SECONDS);
    assert!(
        start <= now && start > now - 86_400.0,
        "start time {start}, now {now}"
    );
    let ratio = value(&catalog::SYSTEM_CPU_USAGE_RATIO);
    assert!((0.0..=1.0).contains(&ratio), "{ratio}");
    assert!(
        value(&catalog::SYSTEM_MEMORY_USED_BYTES) <= value(&catalog::SYSTEM_MEMORY_TOTAL_BYTES)
    );
    // Not installed in this test binary: the allocator metrics are absent.
    assert!(
        metrics
            .value(catalog::PROCESS_HEAP_LIVE_BYTES.name(), &[])
            .is_none()
    );
    assert!(
        metrics
            .value(catalog::PROCESS_ALLOCATIONS_TOTAL.name(), &[])
            .is_none()
    );
}

#[test]
fn system_metrics_can_be_turned_off() {
    let metrics = AtomicRecorder::new();
    let guard = metrics::with_local_recorder(&metrics, || {
        fast_sampler().with_system_metrics(false).start()
    })
    .unwrap();
    wait_until(|| guard.samples() >= 1);
    assert!(
        metrics
            .value(catalog::PROCESS_RESIDENT_MEMORY_BYTES.name(), &[])
            .is_some()
    );
    assert!(
        metrics
            .value(catalog::SYSTEM_MEMORY_TOTAL_BYTES.name(), &[])
            .is_none()
    );
}

#[test]
fn a_zero_interval_is_refused() {
    let error = SystemSampler::new()
        .with_interval(Duration::ZERO)
        .unwrap_err();
    assert!(error.to_string().contains("with_interval='0ns'"), "{error}");
}

#[cfg(feature = "tokio")]
#[test]
fn tokio_runtime_metrics_are_published_inside_a_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let metrics = AtomicRecorder::new();
    let guard = runtime.block_on(async {
        metrics::with_local_recorder(&metrics, || fast_sampler().start()).unwrap()
    });
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let task = runtime.spawn_blocking(move || wait.recv());
    let pending = runtime.spawn(std::future::pending::<()>());
    let samples = guard.samples();
    wait_until(|| guard.samples() > samples + 1);
    assert_eq!(metrics.value(catalog::TOKIO_WORKERS.name(), &[]), Some(2.0));
    let alive = metrics
        .value(catalog::TOKIO_ALIVE_TASKS.name(), &[])
        .unwrap();
    assert!(alive >= 1.0, "alive tasks {alive}");
    assert!(
        metrics
            .value(catalog::TOKIO_GLOBAL_QUEUE_DEPTH.name(), &[])
            .is_some()
    );
    pending.abort();
    release.send(()).unwrap();
    drop(task);
    drop(guard);
}

#[test]
fn outside_a_runtime_there_are_no_tokio_metrics() {
    let metrics = AtomicRecorder::new();
    let guard = metrics::with_local_recorder(&metrics, || fast_sampler().start()).unwrap();
    wait_until(|| guard.samples() >= 1);
    assert!(
        !metrics
            .names()
            .iter()
            .any(|name| name.starts_with("tokio_"))
    );
}

/// Measures what the sampler costs: its own thread's CPU time per sample,
/// extrapolated to the default interval. Run with
/// `cargo test -p autotel-layers --release --test system_sampler -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn sampler_cost() {
    let metrics = AtomicRecorder::new();
    let guard = metrics::with_local_recorder(&metrics, || {
        SystemSampler::new()
            .with_interval(Duration::from_millis(10))
            .unwrap()
            .start()
    })
    .unwrap();
    std::thread::sleep(Duration::from_secs(5));
    let samples = guard.samples();
    let cpu = guard.cpu_time().unwrap();
    drop(guard);
    let per_sample = cpu / samples as u32;
    let share = per_sample.as_secs_f64() / 15.0 * 100.0;
    println!(
        "{samples} samples, {cpu:?} CPU: {per_sample:?} per sample, \
         {share:.5}% of one core at the 15 s default"
    );
}
