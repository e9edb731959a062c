//! Per-span resources: the CPU time a thread spent inside a span and the
//! bytes it allocated there, and `pipeline_cpu_percent` /
//! `pipeline_memory_bytes` for pipeline runs.
//!
//! The CPU time comes from [`ThreadCpuClock`](crate::cpu_clock::ThreadCpuClock) (user space where the kernel
//! allows it, the system call otherwise). The layer touches the registry
//! only where it must (pipeline runs, spans entered on another thread than
//! the one that created them, span extensions when asked for):
//!
//! - plain thread-local tables hold what it needs between the callbacks of
//!   one thread: the facts of each callsite (which of the fields it cares
//!   about it declares), what it knows of the spans created on the thread,
//!   and the clock readings of the spans the thread has entered;
//! - the figures of live spans live in the layer's own array of slots,
//!   claimed and released with single atomic operations, like the span
//!   state of the span metrics layer.

mod facts;
mod figures;
mod hooks;
mod layer;
mod thread_tables;

use std::time::Duration;

use crate::alloc;

pub use layer::SpanResourcesLayer;

/// The span field that receives the CPU time spent inside the span, in
/// seconds, when the span declares it (`cpu_time_seconds = field::Empty`).
pub const CPU_TIME_FIELD: &str = "cpu_time_seconds";
/// The span field that receives the bytes allocated inside the span, when the
/// span declares it (`allocated_bytes = field::Empty`) and a
/// [`CountingAllocator`](crate::alloc::CountingAllocator) is installed.
pub const ALLOCATED_BYTES_FIELD: &str = "allocated_bytes";

pub(crate) const PIPELINE_FIELD: &str = "pipeline.name";
pub(crate) const STEP_FIELD: &str = "step.name";

/// Which spans the [`SpanResourcesLayer`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResourceScope {
    /// Every span.
    AllSpans,
    /// Only pipeline runs (spans with a `pipeline.name` field) and steps
    /// (spans with a `step.name` field).
    #[default]
    PipelinesAndSteps,
}

/// What a span used while it was entered, kept in the span's extensions,
/// where other layers can read it, by a layer built
/// [`with_span_extensions(true)`](SpanResourcesLayer::with_span_extensions).
/// The layer inserts it when a measured span is first exited and adds to it
/// at each exit.
///
/// ```
/// use autotel_layers::SpanResources;
/// use tracing_subscriber::registry::LookupSpan;
///
/// fn cpu_of<S: for<'a> LookupSpan<'a>>(subscriber: &S, id: &tracing::Id) -> Option<std::time::Duration> {
///     let span = subscriber.span(id)?;
///     let extensions = span.extensions();
///     Some(extensions.get::<SpanResources>()?.cpu_time())
/// }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SpanResources {
    pub(super) cpu_nanos: u64,
    pub(super) allocated: u64,
}

impl SpanResources {
    /// CPU time the threads that entered the span spent inside it so far.
    pub fn cpu_time(&self) -> Duration {
        Duration::from_nanos(self.cpu_nanos)
    }

    /// Bytes allocated inside the span so far; `None` unless a
    /// [`CountingAllocator`](crate::alloc::CountingAllocator) is installed.
    pub fn allocated_bytes(&self) -> Option<u64> {
        alloc::is_installed().then_some(self.allocated)
    }
}
