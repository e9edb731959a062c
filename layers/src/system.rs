//! The system sampler: process, system, allocator and tokio runtime metrics,
//! read on a background thread at a fixed interval.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics::{Counter, Gauge};
use sysinfo::{MemoryRefreshKind, Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use crate::catalog::{self, MetricDef};
use crate::cpu_clock::ThreadCpuClock;
use crate::{Error, alloc};

/// The default interval between two samples.
pub const DEFAULT_SAMPLE_INTERVAL: Duration = Duration::from_secs(15);

/// Reads process and system figures on a background thread and publishes
/// them through the `metrics` facade.
///
/// Every interval it publishes, with the Prometheus client names of the
/// [`catalog`]:
///
/// - process: `process_cpu_seconds_total`, `process_resident_memory_bytes`,
///   `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
///   `process_threads`, `process_start_time_seconds`;
/// - system (unless turned off): `system_cpu_usage_ratio`,
///   `system_memory_used_bytes`, `system_memory_total_bytes`,
///   `system_load_average_1m`;
/// - allocator, when a [`CountingAllocator`](crate::alloc::CountingAllocator)
///   is the global allocator: `process_heap_live_bytes`,
///   `process_allocations_total`, `process_allocated_bytes_total`;
/// - with the `tokio` feature, when started inside a tokio runtime (or given
///   one): `tokio_workers`, `tokio_alive_tasks`, `tokio_global_queue_depth`.
///
/// The metrics are registered with the recorder current on the thread that
/// calls [`start`](Self::start): install the global recorder first, or start
/// the sampler inside `metrics::with_local_recorder`. Only the own process,
/// the CPU totals and the memory figures are refreshed, never the whole
/// process table.
///
/// ```
/// use std::time::Duration;
/// use autotel_layers::SystemSampler;
///
/// let guard = SystemSampler::new()
///     .with_interval(Duration::from_secs(5))?
///     .start()?;
/// // ... the program runs; dropping the guard stops and joins the thread.
/// drop(guard);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct SystemSampler {
    interval: Duration,
    system: bool,
    #[cfg(feature = "tokio")]
    runtime: Option<tokio::runtime::Handle>,
}

impl Default for SystemSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl SystemSampler {
    /// A sampler with the default settings.
    ///
    /// ```
    /// let sampler = autotel_layers::SystemSampler::new();
    /// ```
    pub fn new() -> Self {
        Self {
            interval: DEFAULT_SAMPLE_INTERVAL,
            system: true,
            #[cfg(feature = "tokio")]
            runtime: None,
        }
    }

    /// Sets the time between two samples; zero is an error.
    ///
    /// ```
    /// use std::time::Duration;
    /// use autotel_layers::SystemSampler;
    ///
    /// let sampler = SystemSampler::new().with_interval(Duration::from_secs(30))?;
    /// assert!(SystemSampler::new().with_interval(Duration::ZERO).is_err());
    /// # Ok::<(), autotel_layers::Error>(())
    /// ```
    ///
    /// Defaults to 15 seconds ([`DEFAULT_SAMPLE_INTERVAL`]).
    #[must_use = "with_interval returns the configured sampler"]
    pub fn with_interval(mut self, interval: Duration) -> Result<Self, Error> {
        if interval.is_zero() {
            return Err(Error::invalid(
                "with_interval",
                format_args!("{interval:?}"),
                "is not a sampling interval: give a duration above zero, such as 15s",
            ));
        }
        self.interval = interval;
        Ok(self)
    }

    /// Whether to publish the `system_*` metrics (CPU, memory and load of the
    /// whole machine) besides the process ones.
    ///
    /// ```
    /// let sampler = autotel_layers::SystemSampler::new().with_system_metrics(false);
    /// ```
    ///
    /// Defaults to `true`.
    #[must_use]
    pub fn with_system_metrics(mut self, enabled: bool) -> Self {
        self.system = enabled;
        self
    }

    /// Samples the metrics of this tokio runtime.
    ///
    /// ```
    /// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    /// let sampler = autotel_layers::SystemSampler::new().with_runtime(runtime.handle().clone());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// Defaults to the runtime that [`start`](Self::start) is called in, if
    /// any.
    #[cfg(feature = "tokio")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tokio")))]
    #[must_use]
    pub fn with_runtime(mut self, runtime: tokio::runtime::Handle) -> Self {
        self.runtime = Some(runtime);
        self
    }

    /// The interval between two samples.
    ///
    /// ```
    /// let sampler = autotel_layers::SystemSampler::new();
    /// assert_eq!(sampler.interval(), autotel_layers::system::DEFAULT_SAMPLE_INTERVAL);
    /// ```
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Registers the metrics with the current recorder, takes a first sample
    /// on a new thread named `autotel-sampler` and then one every interval,
    /// until the returned guard is dropped.
    ///
    /// Fails only when the thread cannot be spawned.
    ///
    /// ```
    /// let guard = autotel_layers::SystemSampler::new().start()?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn start(self) -> std::io::Result<SamplerGuard> {
        let mut probe = Probe::new(&self);
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        let interval = self.interval;
        let thread = std::thread::Builder::new()
            .name("autotel-sampler".into())
            .spawn(move || run(&mut probe, &thread_shared, interval))?;
        Ok(SamplerGuard {
            shared,
            thread: Some(thread),
        })
    }
}

/// State shared between the sampler thread and its guard.
#[derive(Debug, Default)]
struct Shared {
    stop: Mutex<bool>,
    wake: Condvar,
    samples: AtomicU64,
    cpu_nanos: AtomicU64,
}

fn run(probe: &mut Probe, shared: &Shared, interval: Duration) {
    let start_cpu = thread_cpu_nanos();
    loop {
        // The figures come from the operating system and sysinfo; should
        // either misbehave, the sampler stops rather than take the process
        // down.
        let sampled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| probe.sample()));
        if sampled.is_err() {
            return;
        }
        shared.samples.fetch_add(1, Ordering::Relaxed);
        if let (Some(start), Some(now)) = (start_cpu, thread_cpu_nanos()) {
            shared
                .cpu_nanos
                .store(now.saturating_sub(start), Ordering::Relaxed);
        }
        let stop = shared.stop.lock().unwrap_or_else(PoisonError::into_inner);
        let (stop, _) = shared
            .wake
            .wait_timeout_while(stop, interval, |stop| !*stop)
            .unwrap_or_else(PoisonError::into_inner);
        if *stop {
            return;
        }
    }
}

/// Keeps the sampler thread running; dropping it wakes the thread, which
/// stops at once (after the sample in progress, if any), and joins it.
///
/// ```
/// let guard = autotel_layers::SystemSampler::new().start()?;
/// drop(guard); // the `autotel-sampler` thread has ended here
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct SamplerGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl SamplerGuard {
    /// Samples taken so far.
    ///
    /// ```
    /// let guard = autotel_layers::SystemSampler::new().start()?;
    /// while guard.samples() == 0 {
    ///     std::thread::sleep(std::time::Duration::from_millis(1));
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn samples(&self) -> u64 {
        self.shared.samples.load(Ordering::Relaxed)
    }

    /// CPU time the sampler thread has used so far, as of its last sample:
    /// what the sampler costs. `None` where the platform cannot tell the CPU
    /// time of a thread.
    ///
    /// ```
    /// let guard = autotel_layers::SystemSampler::new().start()?;
    /// if let Some(cpu) = guard.cpu_time() {
    ///     println!("sampler CPU so far: {cpu:?}");
    /// }
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn cpu_time(&self) -> Option<Duration> {
        thread_cpu_nanos()?;
        Some(Duration::from_nanos(
            self.shared.cpu_nanos.load(Ordering::Relaxed),
        ))
    }

    /// Stops the sampler and waits for its thread to end; the same as
    /// dropping the guard.
    ///
    /// ```
    /// autotel_layers::SystemSampler::new().start()?.stop();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stop(self) {
        drop(self);
    }
}

impl Drop for SamplerGuard {
    fn drop(&mut self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_all();
        if let Some(thread) = self.thread.take() {
            // The thread never panics out (see `run`); a join error has
            // nothing left to clean up.
            let _ = thread.join();
        }
    }
}

fn gauge(def: &MetricDef) -> Gauge {
    def.describe();
    metrics::gauge!(def.name())
}

fn counter(def: &MetricDef) -> Counter {
    def.describe();
    metrics::counter!(def.name())
}

/// The metric handles and sources the sampler thread reads and writes.
struct Probe {
    system: Option<System>,
    pid: Option<Pid>,
    process: ProcessHandles,
    machine: Option<SystemHandles>,
    heap: Option<HeapHandles>,
    #[cfg(feature = "tokio")]
    runtime: Option<(tokio::runtime::Handle, TokioHandles)>,
}

struct ProcessHandles {
    cpu_seconds: Gauge,
    resident: Gauge,
    virtual_memory: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    threads: Gauge,
    start_time: Gauge,
}

struct SystemHandles {
    cpu_ratio: Gauge,
    memory_used: Gauge,
    memory_total: Gauge,
    load_1m: Gauge,
}

struct HeapHandles {
    live: Gauge,
    allocations: Counter,
    allocated: Counter,
}

#[cfg(feature = "tokio")]
struct TokioHandles {
    workers: Gauge,
    alive_tasks: Gauge,
    global_queue_depth: Gauge,
}

impl Probe {
    fn new(config: &SystemSampler) -> Self {
        let process = ProcessHandles {
            cpu_seconds: gauge(&catalog::PROCESS_CPU_SECONDS_TOTAL),
            resident: gauge(&catalog::PROCESS_RESIDENT_MEMORY_BYTES),
            virtual_memory: gauge(&catalog::PROCESS_VIRTUAL_MEMORY_BYTES),
            open_fds: gauge(&catalog::PROCESS_OPEN_FDS),
            max_fds: gauge(&catalog::PROCESS_MAX_FDS),
            threads: gauge(&catalog::PROCESS_THREADS),
            start_time: gauge(&catalog::PROCESS_START_TIME_SECONDS),
        };
        let machine = config.system.then(|| SystemHandles {
            cpu_ratio: gauge(&catalog::SYSTEM_CPU_USAGE_RATIO),
            memory_used: gauge(&catalog::SYSTEM_MEMORY_USED_BYTES),
            memory_total: gauge(&catalog::SYSTEM_MEMORY_TOTAL_BYTES),
            load_1m: gauge(&catalog::SYSTEM_LOAD_AVERAGE_1M),
        });
        let heap = alloc::is_installed().then(|| HeapHandles {
            live: gauge(&catalog::PROCESS_HEAP_LIVE_BYTES),
            allocations: counter(&catalog::PROCESS_ALLOCATIONS_TOTAL),
            allocated: counter(&catalog::PROCESS_ALLOCATED_BYTES_TOTAL),
        });
        #[cfg(feature = "tokio")]
        let runtime = config
            .runtime
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
            .map(|handle| {
                let handles = TokioHandles {
                    workers: gauge(&catalog::TOKIO_WORKERS),
                    alive_tasks: gauge(&catalog::TOKIO_ALIVE_TASKS),
                    global_queue_depth: gauge(&catalog::TOKIO_GLOBAL_QUEUE_DEPTH),
                };
                (handle, handles)
            });
        Self {
            system: System::new().ok(),
            pid: sysinfo::get_current_pid().ok(),
            process,
            machine,
            heap,
            #[cfg(feature = "tokio")]
            runtime,
        }
    }

    fn sample(&mut self) {
        if let Some(system) = self.system.as_mut() {
            sample_process(system, self.pid, &self.process);
            if let Some(machine) = &self.machine {
                sample_system(system, machine);
            }
        }
        if let Some(threads) = thread_count() {
            self.process.threads.set(threads as f64);
        }
        if let (Some(heap), Some(stats)) = (&self.heap, alloc::process_stats()) {
            heap.live.set(stats.live_bytes() as f64);
            heap.allocations.absolute(stats.allocations());
            heap.allocated.absolute(stats.allocated_bytes());
        }
        #[cfg(feature = "tokio")]
        if let Some((runtime, handles)) = &self.runtime {
            let metrics = runtime.metrics();
            handles.workers.set(metrics.num_workers() as f64);
            handles.alive_tasks.set(metrics.num_alive_tasks() as f64);
            handles
                .global_queue_depth
                .set(metrics.global_queue_depth() as f64);
        }
    }
}

fn sample_process(system: &mut System, pid: Option<Pid>, handles: &ProcessHandles) {
    let Some(pid) = pid else {
        return;
    };
    system.refresh_processes_specifics(
        ProcessesToUpdate::Some(&[pid]),
        false,
        ProcessRefreshKind::nothing().with_cpu().with_memory(),
    );
    let Some(process) = system.process(pid) else {
        return;
    };
    handles
        .cpu_seconds
        .set(process.accumulated_cpu_time() as f64 / 1e3);
    handles.resident.set(process.memory() as f64);
    handles.virtual_memory.set(process.virtual_memory() as f64);
    handles.start_time.set(process.start_time() as f64);
    if let Some(open) = process.open_files() {
        handles.open_fds.set(open as f64);
    }
    if let Some(max) = process.open_files_limit() {
        handles.max_fds.set(max as f64);
    }
}

fn sample_system(system: &mut System, handles: &SystemHandles) {
    system.refresh_cpu_usage();
    system.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
    handles
        .cpu_ratio
        .set(f64::from(system.global_cpu_usage()) / 100.0);
    handles.memory_used.set(system.used_memory() as f64);
    handles.memory_total.set(system.total_memory() as f64);
    if let Ok(load) = System::load_average() {
        handles.load_1m.set(load.one);
    }
}

/// Threads of the process, from the `num_threads` field of `/proc/self/stat`:
/// one read, where listing `/proc/self/task` through sysinfo would refresh
/// every thread.
#[cfg(target_os = "linux")]
fn thread_count() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name, in parentheses, may hold spaces; fields count from
    // the closing parenthesis. `num_threads` is the 20th field, the 18th
    // after the command name.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_ascii_whitespace().nth(17)?.parse().ok()
}

#[cfg(not(target_os = "linux"))]
fn thread_count() -> Option<u64> {
    None
}

/// The CPU time the calling thread has used, in nanoseconds, from the system
/// call (the sampler thread reads it rarely); `None` where the platform
/// cannot tell.
fn thread_cpu_nanos() -> Option<u64> {
    ThreadCpuClock::SystemCall.nanos()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zero_interval_is_an_error_naming_the_setting_and_value() {
        let error = SystemSampler::new()
            .with_interval(Duration::ZERO)
            .unwrap_err();
        let Error::InvalidSetting { setting, value, .. } = &error;
        assert_eq!(*setting, "with_interval");
        assert_eq!(value, "0ns");
        assert!(error.to_string().starts_with("with_interval='0ns'"));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn thread_count_matches_proc_self_task() {
        let tasks = std::fs::read_dir("/proc/self/task").unwrap().count() as u64;
        let counted = thread_count().unwrap();
        // Other tests may start or end threads between the two reads.
        assert!(counted.abs_diff(tasks) <= 4, "{counted} vs {tasks}");
        assert!(counted >= 1);
    }
}
