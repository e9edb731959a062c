//! The `perf_event` page of each thread, and reads through it.

use std::cell::Cell;
use std::ptr;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU8, AtomicU32, AtomicUsize, Ordering, compiler_fence};

use super::{MAX_PERF_THREADS, system_call_nanos};

/// A reading extrapolated further than this from its anchor takes a new
/// anchor: it bounds the error of a page that stopped being updated.
const MAX_EXTRAPOLATION_NANOS: u64 = 1_000_000;

/// `perf_event_attr`, the first 64 bytes (`PERF_ATTR_SIZE_VER0`), which
/// every kernel with `perf_event_open` accepts.
#[repr(C)]
struct PerfEventAttr {
    kind: u32,
    size: u32,
    config: u64,
    sample_period: u64,
    sample_type: u64,
    read_format: u64,
    flags: u64,
    wakeup_events: u32,
    bp_type: u32,
    config1: u64,
}

const PERF_TYPE_SOFTWARE: u32 = 1;
const PERF_COUNT_SW_TASK_CLOCK: u64 = 1;
const PERF_ATTR_SIZE_VER0: u32 = 64;
/// `exclude_kernel` and `exclude_hv`, bits 5 and 6 of the flags.
const EXCLUDE_KERNEL_AND_HV: u64 = (1 << 5) | (1 << 6);
const PERF_FLAG_FD_CLOEXEC: libc::c_ulong = 8;
/// Offset of `lock`, the sequence number, in `perf_event_mmap_page`.
const LOCK_OFFSET: usize = 8;

const UNKNOWN: u8 = 0;
const AVAILABLE: u8 = 1;
const UNAVAILABLE: u8 = 2;

/// Whether `perf_event_open` and the mapping work in this process: found
/// out by the first thread that tries.
static SUPPORT: AtomicU8 = AtomicU8::new(UNKNOWN);
/// Threads holding a page now.
static OPEN_PAGES: AtomicUsize = AtomicUsize::new(0);
/// The most threads that may hold a page at once.
static MAX_PAGES: OnceLock<usize> = OnceLock::new();
/// Bumped in a forked child, whose inherited pages belong to the
/// parent's threads.
static FORKS: AtomicU32 = AtomicU32::new(0);
static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// Calibrates the TSC and sets up the calling thread's page, which the
/// first time in the process checks that the kernel keeps it up to date.
pub(super) fn prepare() {
    let _ = clock();
    let _ = is_available();
}

/// A value of `anchor_seq` that no page holds: the page's sequence
/// number is even whenever it can be read whole.
const NO_ANCHOR: u32 = 1;

/// The page of one thread, and the anchor of its readings.
struct ThreadPage {
    /// The mapped page; null until set up, or when unavailable.
    page: Cell<*const u8>,
    fd: Cell<libc::c_int>,
    page_len: Cell<usize>,
    /// Whether this thread tried to set its page up.
    tried: Cell<bool>,
    /// `FORKS` when the page was set up.
    forks: Cell<u32>,
    anchor_seq: Cell<u32>,
    anchor_tsc: Cell<u64>,
    anchor_cpu: Cell<u64>,
    /// The last reading, which the next one never goes below.
    last: Cell<u64>,
}

impl ThreadPage {
    fn release(&self) {
        let page = self.page.replace(ptr::null());
        if page.is_null() {
            return;
        }
        // SAFETY: `page` and `page_len` are those of a mapping this
        // thread made and has not unmapped (the pointer was just taken
        // out of `self.page`); nothing reads it after this.
        unsafe { libc::munmap(page.cast_mut().cast(), self.page_len.get()) };
        // SAFETY: `fd` is the descriptor this thread opened for the
        // page; it is closed once, here.
        unsafe { libc::close(self.fd.get()) };
        page_closed();
    }
}

impl Drop for ThreadPage {
    fn drop(&mut self) {
        self.release();
    }
}

thread_local! {
    static PAGE: ThreadPage = const {
        ThreadPage {
            page: Cell::new(ptr::null()),
            fd: Cell::new(-1),
            page_len: Cell::new(0),
            tried: Cell::new(false),
            forks: Cell::new(0),
            anchor_seq: Cell::new(NO_ANCHOR),
            anchor_tsc: Cell::new(0),
            anchor_cpu: Cell::new(0),
            last: Cell::new(0),
        }
    };
}

/// In a forked child, the pages are those of the parent's threads: the
/// child's threads set up their own, and the count starts again (the
/// parent's other threads, and their pages, do not exist there).
extern "C" fn after_fork_in_child() {
    FORKS.fetch_add(1, Ordering::Relaxed);
    OPEN_PAGES.store(0, Ordering::Relaxed);
}

fn page_closed() {
    let _ = OPEN_PAGES.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |open| {
        open.checked_sub(1)
    });
}

/// The most pages that threads may hold at once, worked out once per
/// process, when the fork handler is registered too; 0 if that fails.
fn max_pages() -> usize {
    *MAX_PAGES.get_or_init(|| {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `getrlimit` writes only to `limit`, a valid, exclusively
        // borrowed rlimit.
        let status = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
        if status != 0 {
            return 0;
        }
        let eighth = usize::try_from(limit.rlim_cur / 8).unwrap_or(usize::MAX);
        // SAFETY: registers a function that only writes atomics, which
        // is async-signal-safe as a child handler must be.
        let registered = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
        if registered != 0 {
            return 0;
        }
        eighth.min(MAX_PERF_THREADS)
    })
}

/// Opens the counter and maps its page for the calling thread.
fn set_up(state: &ThreadPage) {
    state.tried.set(true);
    if SUPPORT.load(Ordering::Relaxed) == UNAVAILABLE {
        return;
    }
    if OPEN_PAGES.fetch_add(1, Ordering::Relaxed) >= max_pages() {
        page_closed();
        return;
    }
    let attr = PerfEventAttr {
        kind: PERF_TYPE_SOFTWARE,
        size: PERF_ATTR_SIZE_VER0,
        config: PERF_COUNT_SW_TASK_CLOCK,
        sample_period: 0,
        sample_type: 0,
        read_format: 0,
        flags: EXCLUDE_KERNEL_AND_HV,
        wakeup_events: 0,
        bp_type: 0,
        config1: 0,
    };
    // SAFETY: `perf_event_open` reads `attr.size` bytes of a valid,
    // initialised `PerfEventAttr` of that size; pid 0 and cpu -1 count
    // the calling thread on any CPU; group fd -1 makes no group.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const PerfEventAttr,
            0 as libc::pid_t,
            -1 as libc::c_int,
            -1 as libc::c_int,
            PERF_FLAG_FD_CLOEXEC,
        )
    };
    let Ok(fd) = libc::c_int::try_from(fd) else {
        give_up(None);
        return;
    };
    if fd < 0 {
        give_up(None);
        return;
    }
    // SAFETY: `sysconf` only reads a configuration value.
    let page_len = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
    if page_len == 0 {
        give_up(Some(fd));
        return;
    }
    // SAFETY: maps one page of the counter that `fd` refers to, read
    // only, at an address the kernel chooses; the result is checked.
    let page = unsafe {
        libc::mmap(
            ptr::null_mut(),
            page_len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    if page == libc::MAP_FAILED || page.is_null() {
        give_up(Some(fd));
        return;
    }
    let page = page.cast_const().cast::<u8>();
    if SUPPORT.load(Ordering::Relaxed) == UNKNOWN && !moves_when_rescheduled(page) {
        // SAFETY: unmaps the page mapped above, which nothing else uses.
        unsafe { libc::munmap(page.cast_mut().cast(), page_len) };
        give_up(Some(fd));
        return;
    }
    state.page.set(page);
    state.fd.set(fd);
    state.page_len.set(page_len);
    state.forks.set(FORKS.load(Ordering::Relaxed));
    state.anchor_seq.set(NO_ANCHOR);
    SUPPORT.store(AVAILABLE, Ordering::Relaxed);
}

/// Checks, once per process, that the kernel bumps the page's sequence
/// number when it schedules the thread in again, which the reads rely
/// on: a short sleep deschedules the thread.
fn moves_when_rescheduled(page: *const u8) -> bool {
    (0..3).any(|_| {
        let before = sequence(page);
        std::thread::sleep(std::time::Duration::from_micros(1));
        sequence(page) != before
    })
}

/// The process cannot use the fast clock: later threads do not try.
fn give_up(fd: Option<libc::c_int>) {
    if let Some(fd) = fd {
        // SAFETY: `fd` was opened above and is not used after this.
        unsafe { libc::close(fd) };
    }
    page_closed();
    SUPPORT.store(UNAVAILABLE, Ordering::Relaxed);
}

/// The page of the calling thread, set up on first use; `None` when the
/// thread cannot have one.
#[inline]
fn page_of(state: &ThreadPage) -> Option<*const u8> {
    let page = state.page.get();
    if !page.is_null() && state.forks.get() == FORKS.load(Ordering::Relaxed) {
        return Some(page);
    }
    if !page.is_null() {
        // Forked: the page counts a thread of the parent process, and
        // this thread's CPU time started again from zero.
        state.release();
        state.tried.set(false);
        state.last.set(0);
    }
    if state.tried.get() {
        return None;
    }
    set_up(state);
    let page = state.page.get();
    (!page.is_null()).then_some(page)
}

#[inline]
fn sequence(page: *const u8) -> u32 {
    // SAFETY: `page` is a live, page-aligned mapping of a
    // `perf_event_mmap_page`, whose `lock` is a u32 at offset 8; the
    // kernel writes it concurrently, hence the volatile read.
    unsafe { ptr::read_volatile(page.add(LOCK_OFFSET).cast::<u32>()) }
}

pub(super) fn is_available() -> bool {
    PAGE.try_with(|state| page_of(state).is_some())
        .unwrap_or(false)
}

#[inline]
pub(super) fn thread_cpu_nanos() -> Option<u64> {
    PAGE.try_with(read).unwrap_or_else(|_| system_call_nanos())
}

#[inline]
fn read(state: &ThreadPage) -> Option<u64> {
    let Some(page) = page_of(state) else {
        return system_call_nanos();
    };
    let clock = clock();
    let before = sequence(page);
    compiler_fence(Ordering::SeqCst);
    let tsc = clock.raw();
    compiler_fence(Ordering::SeqCst);
    let after = sequence(page);
    let elapsed = clock.delta_as_nanos(state.anchor_tsc.get(), tsc);
    let cpu =
        if before == after && before == state.anchor_seq.get() && elapsed < MAX_EXTRAPOLATION_NANOS
        {
            state.anchor_cpu.get().saturating_add(elapsed)
        } else {
            anchor(state, page, clock)?
        };
    let cpu = cpu.max(state.last.get());
    state.last.set(cpu);
    Some(cpu)
}

/// Reads the system call with the TSC beside it and keeps the pair as
/// the anchor, if no rescheduling came between them.
#[cold]
fn anchor(state: &ThreadPage, page: *const u8, clock: &quanta::Clock) -> Option<u64> {
    let before = sequence(page);
    compiler_fence(Ordering::SeqCst);
    let cpu = system_call_nanos()?;
    let tsc = clock.raw();
    compiler_fence(Ordering::SeqCst);
    let after = sequence(page);
    if before == after && before.is_multiple_of(2) {
        state.anchor_seq.set(before);
        state.anchor_tsc.set(tsc);
        state.anchor_cpu.set(cpu);
    } else {
        state.anchor_seq.set(NO_ANCHOR);
    }
    Some(cpu)
}
