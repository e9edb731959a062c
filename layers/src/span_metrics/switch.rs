//! The runtime switch for span and pipeline metrics.

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use arc_swap::ArcSwap;

/// Turns span and pipeline metrics on and off while the program runs,
/// globally or for named spans and pipelines, without rebuilding the
/// subscriber.
///
/// A switch is a cheap handle: clones control the same state. Get the one of a
/// layer with [`SpanMetricsLayer::switch`](crate::SpanMetricsLayer::switch),
/// or share one between layers with
/// [`SpanMetricsLayer::with_switch`](crate::SpanMetricsLayer::with_switch).
///
/// A change takes effect for spans created after it. While metrics are off
/// globally, a span costs one atomic load and a branch.
///
/// ```
/// use autotel_layers::SpanMetricsLayer;
///
/// let layer = SpanMetricsLayer::new();
/// let switch = layer.switch();
/// switch.disable("healthcheck"); // no metrics for spans or pipelines of this name
/// switch.set_enabled(false); // no span metrics at all
/// assert!(!switch.is_enabled());
/// switch.set_enabled(true);
/// assert!(!switch.is_name_enabled("healthcheck"));
/// assert!(switch.is_name_enabled("checkout"));
/// ```
#[derive(Clone)]
pub struct MetricsSwitch {
    inner: Arc<Inner>,
}

struct Inner {
    enabled: AtomicBool,
    /// Bumped on every change of `disabled`, so that cached per-callsite
    /// decisions can tell they are stale.
    generation: AtomicU64,
    any_disabled: AtomicBool,
    disabled: ArcSwap<HashSet<Box<str>>>,
    write: Mutex<()>,
}

impl MetricsSwitch {
    /// Creates a switch with metrics on for every name.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                enabled: AtomicBool::new(true),
                generation: AtomicU64::new(0),
                any_disabled: AtomicBool::new(false),
                disabled: ArcSwap::from_pointee(HashSet::new()),
                write: Mutex::new(()),
            }),
        }
    }

    /// Turns span and pipeline metrics on or off for every span.
    pub fn set_enabled(&self, enabled: bool) {
        self.inner.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Whether span and pipeline metrics are on globally.
    #[inline]
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Relaxed)
    }

    /// Turns metrics off for spans whose name is `name` and for pipeline runs
    /// whose `pipeline.name` is `name` (with their steps).
    pub fn disable(&self, name: impl Into<String>) {
        let name = name.into().into_boxed_str();
        self.update(|set| {
            set.insert(name);
        });
    }

    /// Turns metrics back on for `name`.
    pub fn enable(&self, name: &str) {
        self.update(|set| {
            set.remove(name);
        });
    }

    /// Turns metrics back on for every name (the global state is unchanged).
    pub fn enable_all_names(&self) {
        self.update(HashSet::clear);
    }

    /// Whether metrics are on for spans or pipelines called `name`, leaving
    /// the global state aside.
    pub fn is_name_enabled(&self, name: &str) -> bool {
        !self.inner.any_disabled.load(Ordering::Acquire)
            || !self.inner.disabled.load().contains(name)
    }

    #[inline]
    pub(crate) fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Acquire)
    }

    fn update(&self, change: impl FnOnce(&mut HashSet<Box<str>>)) {
        let _write = self
            .inner
            .write
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let mut set = HashSet::clone(&self.inner.disabled.load());
        change(&mut set);
        self.inner
            .any_disabled
            .store(!set.is_empty(), Ordering::Release);
        self.inner.disabled.store(Arc::new(set));
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }
}

impl Default for MetricsSwitch {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MetricsSwitch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let disabled = self.inner.disabled.load();
        let mut names: Vec<&str> = disabled.iter().map(|name| &**name).collect();
        names.sort_unstable();
        f.debug_struct("MetricsSwitch")
            .field("enabled", &self.is_enabled())
            .field("disabled_names", &names)
            .finish()
    }
}

/// A per-callsite cache of the switch's decision for one name, valid while the
/// switch's generation does not change.
#[derive(Debug)]
pub(crate) struct CachedDecision(AtomicU64);

impl CachedDecision {
    const STALE: u64 = u64::MAX;

    pub(crate) fn new() -> Self {
        Self(AtomicU64::new(Self::STALE))
    }

    /// Whether `name` is enabled, answered from the cache when the switch has
    /// not changed since the last answer.
    #[inline]
    pub(crate) fn is_enabled(&self, switch: &MetricsSwitch, name: &str) -> bool {
        let generation = switch.generation();
        let cached = self.0.load(Ordering::Relaxed);
        if cached != Self::STALE && cached >> 1 == generation {
            return cached & 1 == 1;
        }
        let enabled = switch.is_name_enabled(name);
        self.0
            .store((generation << 1) | u64::from(enabled), Ordering::Relaxed);
        enabled
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_toggle_and_the_cache_follows() {
        let switch = MetricsSwitch::new();
        let cache = CachedDecision::new();
        assert!(cache.is_enabled(&switch, "load"));
        switch.disable("load");
        assert!(!cache.is_enabled(&switch, "load"));
        assert!(switch.is_name_enabled("save"));
        switch.enable("load");
        assert!(cache.is_enabled(&switch, "load"));
        switch.disable("a");
        switch.disable("b");
        switch.enable_all_names();
        assert!(switch.is_name_enabled("a") && switch.is_name_enabled("b"));
    }

    #[test]
    fn clones_share_state() {
        let switch = MetricsSwitch::new();
        let other = switch.clone();
        other.set_enabled(false);
        assert!(!switch.is_enabled());
        assert!(format!("{switch:?}").contains("enabled: false"));
    }
}
