//! A benchmark runner whose results are telemetry (feature `benchmark`).
//!
//! [`BenchmarkRunner`] runs a pipeline (a closure, or an async function) a
//! number of times after a warm-up and measures each iteration: wall time,
//! CPU time and bytes allocated, with the same clocks as the span resource
//! layer ([`cpu_clock`](crate::cpu_clock), [`alloc`](crate::alloc)). The
//! [`BenchmarkResult`] gives the mean and percentiles, throughput and cost per
//! item, prints as a table, and [`export`](BenchmarkResult::export)s itself as
//! the catalog's `benchmark_*` gauges with a `benchmark_name` label, so
//! Prometheus, OTLP and the push exporters carry it like any other metric.
//!
//! ```
//! use autotel_layers::benchmark::BenchmarkRunner;
//!
//! let result = BenchmarkRunner::new()
//!     .with_iterations(50)?
//!     .run("sum", || {
//!         std::hint::black_box((0..10_000u64).sum::<u64>());
//!     })
//!     .with_items_processed(50 * 10_000)
//!     .with_cost_tracking(100, 0.25);
//! assert_eq!(result.iterations(), 50);
//! assert!(result.p50() <= result.p99());
//! println!("{result}");
//! result.export();
//! # Ok::<(), autotel_layers::Error>(())
//! ```
//!
//! CPU time is the calling thread's; allocations are counted only when a
//! [`CountingAllocator`](crate::alloc::CountingAllocator) is installed. For
//! an async pipeline, [`run_async`](BenchmarkRunner::run_async) adds up the
//! CPU time and allocations of every poll, on whichever thread polls it; the
//! work the future hands to other tasks or threads is not included.
//!
//! While it runs, a progress bar is drawn on standard error when that is a
//! terminal, and nothing otherwise.

mod result;

use std::future::Future;
use std::io::IsTerminal;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use crate::Error;
use crate::cpu_clock::ThreadCpuClock;

pub use result::BenchmarkResult;

/// The measurements of one iteration.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Sample {
    wall: Duration,
    cpu: Option<Duration>,
    allocated: Option<u64>,
}

/// Runs a pipeline a number of times and measures it. See the
/// [module docs](self).
#[derive(Debug, Clone)]
pub struct BenchmarkRunner {
    iterations: usize,
    warmup: usize,
    profile_cpu: bool,
    profile_memory: bool,
    progress: bool,
}

impl Default for BenchmarkRunner {
    fn default() -> Self {
        Self::new()
    }
}

impl BenchmarkRunner {
    /// A runner of 50 measured iterations after 3 warm-up ones, measuring
    /// CPU time and allocations, with a progress bar on a terminal.
    pub fn new() -> Self {
        Self {
            iterations: 50,
            warmup: 3,
            profile_cpu: true,
            profile_memory: true,
            progress: true,
        }
    }

    /// Measures `iterations` runs; fails when it is 0. Defaults to 50.
    #[must_use = "the runner is returned, not changed in place"]
    pub fn with_iterations(self, iterations: usize) -> Result<Self, Error> {
        if iterations == 0 {
            return Err(Error::invalid(
                "with_iterations",
                iterations,
                "is not a number of iterations: give at least 1",
            ));
        }
        Ok(Self { iterations, ..self })
    }

    /// Runs the pipeline `warmup` times before measuring, unmeasured.
    /// Defaults to 3.
    #[must_use]
    pub fn with_warmup(self, warmup: usize) -> Self {
        Self { warmup, ..self }
    }

    /// Whether to measure the CPU time of each iteration. Defaults to `true`.
    #[must_use]
    pub fn with_profile_cpu(self, profile_cpu: bool) -> Self {
        Self {
            profile_cpu,
            ..self
        }
    }

    /// Whether to count the bytes each iteration allocates (with a
    /// [`CountingAllocator`](crate::alloc::CountingAllocator) installed).
    /// Defaults to `true`.
    #[must_use]
    pub fn with_profile_memory(self, profile_memory: bool) -> Self {
        Self {
            profile_memory,
            ..self
        }
    }

    /// Whether to draw a progress bar on standard error while running; it is
    /// drawn only when standard error is a terminal. Defaults to `true`.
    #[must_use]
    pub fn with_progress(self, progress: bool) -> Self {
        Self { progress, ..self }
    }

    fn progress_bar(&self, name: &str) -> indicatif::ProgressBar {
        let total = (self.warmup + self.iterations) as u64;
        if !self.progress || !std::io::stderr().is_terminal() {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::new(total);
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} {elapsed}")
        {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(name.to_owned());
        bar
    }

    /// Runs `pipeline` after the warm-up, measuring each iteration, and
    /// returns the result named `name`.
    pub fn run(&self, name: &str, mut pipeline: impl FnMut()) -> BenchmarkResult {
        let bar = self.progress_bar(name);
        for _ in 0..self.warmup {
            pipeline();
            bar.inc(1);
        }
        let mut samples = Vec::with_capacity(self.iterations);
        for _ in 0..self.iterations {
            let meter = Meter::start(self);
            let started = Instant::now();
            pipeline();
            let wall = started.elapsed();
            samples.push(meter.stop(wall));
            bar.inc(1);
        }
        bar.finish_and_clear();
        BenchmarkResult::new(name, samples)
    }

    /// Runs the future that `pipeline` makes after the warm-up, awaiting
    /// each in turn and measuring every poll, and returns the result named
    /// `name`. Works on any executor.
    pub async fn run_async<F, Fut>(&self, name: &str, mut pipeline: F) -> BenchmarkResult
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = ()>,
    {
        let bar = self.progress_bar(name);
        for _ in 0..self.warmup {
            pipeline().await;
            bar.inc(1);
        }
        let mut samples = Vec::with_capacity(self.iterations);
        for _ in 0..self.iterations {
            let started = Instant::now();
            let mut measured = Measured {
                future: Box::pin(pipeline()),
                runner: self,
                sample: Sample::default(),
            };
            (&mut measured).await;
            let mut sample = measured.sample;
            sample.wall = started.elapsed();
            samples.push(sample);
            bar.inc(1);
        }
        bar.finish_and_clear();
        BenchmarkResult::new(name, samples)
    }
}

/// The CPU clock and allocation count of the calling thread at a start.
struct Meter {
    cpu: Option<Duration>,
    allocated: Option<u64>,
}

impl Meter {
    fn start(runner: &BenchmarkRunner) -> Self {
        Self {
            cpu: runner
                .profile_cpu
                .then(|| ThreadCpuClock::Auto.now())
                .flatten(),
            allocated: (runner.profile_memory && crate::alloc::is_installed())
                .then(|| crate::alloc::thread_stats().allocated_bytes()),
        }
    }

    fn stop(self, wall: Duration) -> Sample {
        let cpu = self
            .cpu
            .zip(ThreadCpuClock::Auto.now())
            .map(|(before, after)| after.saturating_sub(before));
        let allocated = self.allocated.map(|before| {
            crate::alloc::thread_stats()
                .allocated_bytes()
                .saturating_sub(before)
        });
        Sample {
            wall,
            cpu,
            allocated,
        }
    }
}

/// A future whose polls are measured and added up in `sample`.
struct Measured<'a, Fut> {
    future: Pin<Box<Fut>>,
    runner: &'a BenchmarkRunner,
    sample: Sample,
}

impl<Fut: Future<Output = ()>> Future for Measured<'_, Fut> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let meter = Meter::start(this.runner);
        let poll = this.future.as_mut().poll(cx);
        let step = meter.stop(Duration::ZERO);
        if let Some(cpu) = step.cpu {
            this.sample.cpu = Some(this.sample.cpu.unwrap_or_default() + cpu);
        }
        if let Some(allocated) = step.allocated {
            this.sample.allocated = Some(this.sample.allocated.unwrap_or_default() + allocated);
        }
        poll
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_the_warm_up_then_the_measured_iterations() {
        let mut calls = 0;
        let result = BenchmarkRunner::new()
            .with_iterations(7)
            .unwrap()
            .with_warmup(2)
            .run("count", || calls += 1);
        assert_eq!(calls, 9);
        assert_eq!(result.iterations(), 7);
        assert_eq!(result.name(), "count");
    }

    #[test]
    fn zero_iterations_are_refused_by_name() {
        let error = BenchmarkRunner::new().with_iterations(0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "with_iterations='0' is not a number of iterations: give at least 1"
        );
    }

    #[test]
    fn cpu_time_is_measured_unless_switched_off() {
        let busy = || {
            std::hint::black_box((0..200_000u64).fold(0u64, |a, b| a.wrapping_mul(31) ^ b));
        };
        let result = BenchmarkRunner::new()
            .with_iterations(3)
            .unwrap()
            .run("busy", busy);
        assert!(result.mean_cpu().is_some_and(|cpu| cpu > Duration::ZERO));
        let result = BenchmarkRunner::new()
            .with_iterations(3)
            .unwrap()
            .with_profile_cpu(false)
            .run("busy", busy);
        assert_eq!(result.mean_cpu(), None);
    }

    #[test]
    fn async_pipelines_are_awaited_and_measured() {
        let runner = BenchmarkRunner::new()
            .with_iterations(4)
            .unwrap()
            .with_warmup(1);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut calls = 0;
        let result = runtime.block_on(runner.run_async("async", || {
            calls += 1;
            async {
                tokio::task::yield_now().await;
                std::hint::black_box((0..100_000u64).sum::<u64>());
            }
        }));
        assert_eq!(calls, 5);
        assert_eq!(result.iterations(), 4);
        assert!(result.mean_cpu().is_some_and(|cpu| cpu > Duration::ZERO));
    }
}
