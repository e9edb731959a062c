//! The CPU time of the calling thread, read in user space where the kernel
//! allows it.
//!
//! `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` gives the exact figure, but on
//! Linux it is a real system call (0.4–0.8 µs on a 2-vCPU Firecracker VM),
//! and the [`SpanResourcesLayer`](crate::SpanResourcesLayer) reads the clock
//! twice per measured span. [`ThreadCpuClock::Auto`] reads it in about 10 ns
//! there (the `resources` bench of `autotel-benches`):
//!
//! - Each thread opens, on its first read, a `perf_event` counter of its own
//!   task clock (`PERF_COUNT_SW_TASK_CLOCK`, user space only, which
//!   `perf_event_paranoid` 2 allows) and maps the counter's first page. The
//!   kernel rewrites that page, bumping its sequence number `lock`, each
//!   time it schedules the thread in.
//! - A read takes the CPU time from the system call once (the anchor), with
//!   the CPU's time-stamp counter (TSC) beside it. A later read that finds
//!   the sequence number unchanged knows that the thread has run without a
//!   break since the anchor, so its CPU time grew as much as wall time: the
//!   anchor plus the TSC ticks since, converted to nanoseconds by a
//!   calibrated [`quanta::Clock`].
//! - After the thread was descheduled (the sequence number moved), and at
//!   the latest 1 ms after the anchor, the next read takes a new anchor.
//!
//! The perf self-monitoring recipe (`time_enabled` plus a TSC delta scaled by
//! `time_mult` / `time_shift`) needs `cap_user_time` in the page, which the
//! kernel leaves unset under KVM and Firecracker (the guest's scheduler clock
//! is not the TSC); the sequence number works either way.
//!
//! # Accuracy
//!
//! Readings are monotonic per thread and never ahead of the system call's,
//! except for time the hypervisor steals from a running vCPU (the kernel
//! leaves it out, the TSC does not; at most 1 ms per anchor). They lag by the
//! time between the kernel's reading and the TSC read after it, a few
//! microseconds at most, until the next anchor.
//!
//! # Fallback
//!
//! Where `perf_event_open` or the mapping fails (seccomp, a
//! `perf_event_paranoid` of 3, a container without the system call, a
//! kernel that does not bump the sequence number, a platform other than
//! Linux on x86-64), the first thread that tries finds out and every read
//! makes the system call from then on. Where there is no
//! `CLOCK_THREAD_CPUTIME_ID` (outside Unix) there is no reading (`None`).
//!
//! Each thread that reads the fast clock holds one file descriptor and one
//! mapped page until it ends; at most [`MAX_PERF_THREADS`] threads at once
//! do, and never more than an eighth of the process's file descriptor limit.
//! A forked child sets up its own.
//!
//! ```
//! use autotel_layers::cpu_clock::ThreadCpuClock;
//!
//! let before = ThreadCpuClock::Auto.now();
//! let mut x = 0u64;
//! for i in 0..100_000u64 {
//!     x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
//! }
//! let after = ThreadCpuClock::Auto.now();
//! if let (Some(before), Some(after)) = (before, after) {
//!     assert!(after >= before);
//! }
//! ```

use std::time::Duration;

/// The most threads that hold a `perf_event` file descriptor for the fast
/// clock at the same time; other threads make the system call.
pub const MAX_PERF_THREADS: usize = 1024;

/// How the CPU time of the calling thread is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ThreadCpuClock {
    /// In user space through the thread's `perf_event` page and the TSC
    /// (see the [module docs](self)) where available, else the system call.
    #[default]
    Auto,
    /// Always the system call `clock_gettime(CLOCK_THREAD_CPUTIME_ID)`.
    SystemCall,
}

impl ThreadCpuClock {
    /// The CPU time the calling thread has used since it started; `None`
    /// where the platform cannot tell.
    ///
    /// ```
    /// use autotel_layers::cpu_clock::ThreadCpuClock;
    ///
    /// let cpu = ThreadCpuClock::SystemCall.now();
    /// # #[cfg(unix)]
    /// assert!(cpu.is_some());
    /// ```
    pub fn now(self) -> Option<Duration> {
        self.nanos().map(Duration::from_nanos)
    }

    /// Whether a read on the calling thread avoids the system call: always
    /// `false` for [`SystemCall`](Self::SystemCall); for
    /// [`Auto`](Self::Auto), whether the thread's `perf_event` page could be
    /// set up (it is, by this call, if it was not yet).
    ///
    /// ```
    /// use autotel_layers::cpu_clock::ThreadCpuClock;
    ///
    /// assert!(!ThreadCpuClock::SystemCall.is_fast());
    /// println!("fast thread CPU clock: {}", ThreadCpuClock::Auto.is_fast());
    /// ```
    pub fn is_fast(self) -> bool {
        match self {
            Self::Auto => fast::is_available(),
            Self::SystemCall => false,
        }
    }

    /// [`now`](Self::now) in nanoseconds.
    #[inline]
    pub(crate) fn nanos(self) -> Option<u64> {
        match self {
            Self::Auto => fast::thread_cpu_nanos(),
            Self::SystemCall => system_call_nanos(),
        }
    }

    /// Does the once-per-process work of the fast clock (calibrating the
    /// TSC, checking the kernel) and sets up the calling thread now rather
    /// than in the first read.
    pub(crate) fn prepare(self) {
        if self == Self::Auto {
            fast::prepare();
        }
    }
}

/// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` in nanoseconds.
#[cfg(unix)]
#[allow(unsafe_code)]
fn system_call_nanos() -> Option<u64> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `clock_gettime` is a foreign function and so unsafe to call; it
    // writes only to `now`, a valid, exclusively borrowed timespec.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) };
    if status != 0 {
        return None;
    }
    let seconds = u64::try_from(now.tv_sec).ok()?;
    let nanos = u64::try_from(now.tv_nsec).ok()?;
    Some(seconds.saturating_mul(1_000_000_000).saturating_add(nanos))
}

#[cfg(not(unix))]
fn system_call_nanos() -> Option<u64> {
    None
}

// Opening, mapping and reading the kernel's `perf_event` page goes through
// foreign functions and raw pointers: `fast` holds all of it, each block
// with its SAFETY comment.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[allow(unsafe_code)]
mod fast;

// Elsewhere every read makes the system call.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
mod fast {
    pub(super) fn prepare() {}

    pub(super) fn is_available() -> bool {
        false
    }

    #[inline]
    pub(super) fn thread_cpu_nanos() -> Option<u64> {
        super::system_call_nanos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_call_clock_reads_on_unix() {
        assert_eq!(ThreadCpuClock::SystemCall.now().is_some(), cfg!(unix));
    }
}
