//! The cap on distinct values of a label for metrics recorded through an API
//! (queue depths, benchmark results), as the layers cap their label sets:
//! values past the cap go to the overflow series, and are counted.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use crate::MAX_LABEL_VALUE_BYTES;
use crate::catalog::{AUTOTEL_SERIES_OVERFLOW_TOTAL, AUTOTEL_TRUNCATED_VALUES_TOTAL};

/// The values of one label that have their own series, at most `max`.
#[derive(Debug)]
pub(crate) struct LabelCap {
    values: Mutex<HashSet<Box<str>>>,
    max: usize,
}

impl LabelCap {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            values: Mutex::default(),
            max,
        }
    }

    /// Whether `value` has its own series: it had one, or there is room for
    /// it (and it now has one).
    pub(crate) fn admit(&self, value: &str) -> bool {
        let mut values = self.values.lock().unwrap_or_else(PoisonError::into_inner);
        if values.contains(value) {
            return true;
        }
        let room = values.len() < self.max;
        if room {
            values.insert(value.into());
        }
        room
    }
}

/// `value` cut to [`MAX_LABEL_VALUE_BYTES`] on a character boundary; a cut
/// is counted in `autotel_truncated_values_total{signal="metrics"}`.
pub(crate) fn cut(value: &str) -> &str {
    if value.len() <= MAX_LABEL_VALUE_BYTES {
        return value;
    }
    let end = (0..=MAX_LABEL_VALUE_BYTES)
        .rev()
        .find(|&at| value.is_char_boundary(at))
        .unwrap_or(0);
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
