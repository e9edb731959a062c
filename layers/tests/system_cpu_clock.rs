//! The fast thread CPU clock against the system call it stands in for: the
//! readings agree, never go back, stop while the thread sleeps, and each
//! thread gives its `perf_event` descriptor back when it ends.
#![cfg(target_os = "linux")]

use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use autotel_layers::cpu_clock::ThreadCpuClock;
use autotel_test_support::time::burn_cpu;

/// The tests count the process's `perf_event` descriptors: one at a time,
/// each on a thread of its own that has ended, descriptor closed, when the
/// test returns.
static SERIAL: Mutex<()> = Mutex::new(());

fn serially(test: impl FnOnce() + Send) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    std::thread::scope(|scope| scope.spawn(test).join().unwrap());
}

fn nanos(clock: ThreadCpuClock) -> i64 {
    clock.now().unwrap().as_nanos() as i64
}

fn perf_event_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("perf_event"))
        .count()
}

#[test]
fn the_fast_clock_agrees_with_the_system_call() {
    serially(|| {
        eprintln!("fast thread CPU clock: {}", ThreadCpuClock::Auto.is_fast());
        // Other threads compete for the cores, so that this one is preempted.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hogs: Vec<_> = (0..2)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        burn_cpu(Duration::from_micros(200));
                    }
                })
            })
            .collect();
        let mut last = 0;
        for i in 0..20_000u64 {
            let before = nanos(ThreadCpuClock::SystemCall);
            let fast = nanos(ThreadCpuClock::Auto);
            let after = nanos(ThreadCpuClock::SystemCall);
            assert!(fast >= last, "went back from {last} to {fast}");
            last = fast;
            // The fast clock lags its anchor by the end of a system call at
            // most, and never runs ahead of the kernel's figure.
            assert!(
                fast > before - 100_000 && fast <= after + 100_000,
                "{before} <= {fast} <= {after}, read {i}"
            );
            if i % 64 == 0 {
                burn_cpu(Duration::from_micros(i % 300));
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for hog in hogs {
            hog.join().unwrap();
        }
    });
}

#[test]
fn the_fast_clock_stops_while_the_thread_sleeps() {
    serially(|| {
        // Sleeps shorter than the 1 ms after which a reading takes a new anchor
        // anyway: counting one would show.
        for i in 0..200 {
            let fast_before = nanos(ThreadCpuClock::Auto);
            let kernel_before = nanos(ThreadCpuClock::SystemCall);
            std::thread::sleep(Duration::from_micros(500));
            let fast = nanos(ThreadCpuClock::Auto) - fast_before;
            let kernel = nanos(ThreadCpuClock::SystemCall) - kernel_before;
            assert!(
                fast < kernel + 250_000,
                "sleep {i}: fast clock {fast} ns, kernel {kernel} ns"
            );
        }
    });
}

#[test]
fn busy_work_reads_the_same_on_both_clocks() {
    serially(|| {
        let fast_before = nanos(ThreadCpuClock::Auto);
        let kernel_before = nanos(ThreadCpuClock::SystemCall);
        burn_cpu(Duration::from_millis(50));
        let kernel = nanos(ThreadCpuClock::SystemCall) - kernel_before;
        let fast = nanos(ThreadCpuClock::Auto) - fast_before;
        assert!(kernel >= 50_000_000, "{kernel}");
        assert!(
            (fast - kernel).abs() < kernel / 20,
            "fast clock {fast} ns, kernel {kernel} ns"
        );
    });
}

#[test]
fn each_thread_gives_its_descriptor_back_when_it_ends() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = perf_event_fds();
    let threads = 4;
    let ready = Arc::new(Barrier::new(threads + 1));
    let done = Arc::new(Barrier::new(threads + 1));
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (ready, done) = (Arc::clone(&ready), Arc::clone(&done));
            std::thread::spawn(move || {
                let fast = ThreadCpuClock::Auto.is_fast();
                assert!(ThreadCpuClock::Auto.now().is_some());
                ready.wait();
                done.wait();
                fast
            })
        })
        .collect();
    ready.wait();
    let during = perf_event_fds();
    done.wait();
    let fast: Vec<bool> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let expected = fast.iter().filter(|&&f| f).count();
    assert_eq!(during, before + expected);
    assert_eq!(perf_event_fds(), before);
}

#[test]
fn the_system_call_clock_never_takes_a_descriptor() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let fds = std::thread::spawn(|| {
        assert!(!ThreadCpuClock::SystemCall.is_fast());
        let first = ThreadCpuClock::SystemCall.now().unwrap();
        burn_cpu(Duration::from_millis(5));
        let second = ThreadCpuClock::SystemCall.now().unwrap();
        assert!(second >= first + Duration::from_millis(5));
        perf_event_fds()
    })
    .join()
    .unwrap();
    assert_eq!(fds, perf_event_fds());
}

#[test]
#[allow(unsafe_code)]
fn a_forked_child_reads_its_own_thread() {
    serially(|| {
        fn spin() {
            let mut x = 0u64;
            for i in 0..20_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(i));
            }
        }
        // The parent's thread has used some CPU and has its page.
        spin();
        let parent = nanos(ThreadCpuClock::Auto);
        // SAFETY: the child only reads clocks, spins and exits, without
        // allocating or taking locks that another thread may hold.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let kernel_before = nanos(ThreadCpuClock::SystemCall);
            let before = nanos(ThreadCpuClock::Auto);
            spin();
            let after = nanos(ThreadCpuClock::Auto);
            let kernel_after = nanos(ThreadCpuClock::SystemCall);
            // The child's thread starts from zero; its readings follow its
            // own, not the parent's.
            let own = before < parent && before <= kernel_before + 100_000;
            let agrees = (after - before - (kernel_after - kernel_before)).abs() < 1_000_000;
            // SAFETY: ends the child at once, without running the test
            // harness's exit handlers.
            unsafe { libc::_exit(if own && agrees { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child forked above; writes only `status`.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "{status}"
        );
    });
}
