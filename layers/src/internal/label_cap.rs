//! The cap on distinct values of a label for metrics recorded through an API
//! (queue depths, benchmark results), as the layers cap their label sets:
//! values past the cap go to the overflow series, and are counted.

use crate::catalog::{AUTOTEL_SERIES_OVERFLOW_TOTAL, AUTOTEL_TRUNCATED_VALUES_TOTAL};
use crate::internal::interner::{Interner, OVERFLOW};
use crate::span_metrics::MAX_LABEL_VALUE_BYTES;

/// The values of one label that have their own series, at most `max`: the
/// shared [`Interner`], asked only whether a value got an id of its own.
pub(crate) struct LabelCap {
    values: Interner,
}

impl std::fmt::Debug for LabelCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LabelCap")
            .field("values", &self.values.len())
            .finish()
    }
}

impl LabelCap {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            values: Interner::new(max),
        }
    }

    /// Whether `value` has its own series: it had one, or there is room for
    /// it (and it now has one).
    pub(crate) fn admit(&self, value: &str) -> bool {
        self.values.intern(value) != OVERFLOW
    }
}

/// `value` cut to [`MAX_LABEL_VALUE_BYTES`] on a character boundary; a cut
/// is counted in `autotel_truncated_values_total{signal="metrics"}`.
pub(crate) fn cut(value: &str) -> &str {
    if value.len() <= MAX_LABEL_VALUE_BYTES {
        return value;
    }
    let end = value.floor_char_boundary(MAX_LABEL_VALUE_BYTES);
    metrics::counter!(AUTOTEL_TRUNCATED_VALUES_TOTAL.name(), "signal" => "metrics").increment(1);
    &value[..end]
}

/// The counter of recordings of `metric` sent to its overflow series.
pub(crate) fn overflow_counter(metric: &'static str) -> metrics::Counter {
    metrics::counter!(AUTOTEL_SERIES_OVERFLOW_TOTAL.name(), "metric" => metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admits_up_to_the_cap_and_known_values_after() {
        let cap = LabelCap::new(2);
        assert!(cap.admit("a"));
        assert!(cap.admit("b"));
        assert!(!cap.admit("c"));
        assert!(cap.admit("a"));
    }

    #[test]
    fn cuts_on_a_character_boundary() {
        let long = format!("{}é", "x".repeat(MAX_LABEL_VALUE_BYTES - 1));
        assert_eq!(cut(&long), "x".repeat(MAX_LABEL_VALUE_BYTES - 1));
        assert_eq!(cut("orders"), "orders");
    }
}
