//! The panic hook: a panic becomes an ERROR event, then everything is flushed,
//! then the hook that was there before runs.

use std::cell::Cell;
use std::panic::PanicHookInfo;
use std::sync::Weak;
use std::time::Duration;

use crate::guard::Flush;

/// The longest a panic waits for telemetry to be written out.
const PANIC_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

thread_local! {
    /// Set while this thread runs the hook: a panic inside it skips to the
    /// previous hook.
    static IN_HOOK: Cell<bool> = const { Cell::new(false) };
}

/// Installs the hook in front of the current one.
pub(crate) fn install(flush: Weak<Flush>) {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_HOOK.with(|flag| flag.replace(true)) {
            report(info);
            if let Some(flush) = flush.upgrade() {
                flush.flush(PANIC_FLUSH_TIMEOUT);
            }
            IN_HOOK.with(|flag| flag.set(false));
        }
        previous(info);
    }));
}

/// Records the panic as an ERROR event in the current span.
fn report(info: &PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("Box<dyn Any>");
    let location = info
        .location()
        .map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()))
        .unwrap_or_default();
    let thread = std::thread::current();
    let backtrace = std::backtrace::Backtrace::force_capture();
    tracing::error!(
        error.type = "panic",
        panic.location = %location,
        panic.thread = thread.name().unwrap_or("<unnamed>"),
        panic.backtrace = %backtrace,
        "{message}"
    );
}
