//! The range of values CloudWatch stores.

use crate::push::Distribution;

/// The largest magnitude CloudWatch takes; larger values are refused.
const LARGEST: f64 = 1.174271e108;
/// The smallest magnitude CloudWatch takes besides zero; smaller values are
/// refused, so they are sent as zero.
const SMALLEST: f64 = 8.515920e-109;

/// `value` as CloudWatch takes it: `None` when it is not finite or too
/// large, zero when too small.
pub(crate) fn accepted(value: f64) -> Option<f64> {
    let magnitude = value.abs();
    if !value.is_finite() || magnitude > LARGEST {
        None
    } else if magnitude < SMALLEST {
        Some(0.0)
    } else {
        Some(value)
    }
}

/// The exact statistics of a histogram's interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Statistics {
    pub(crate) count: u64,
    pub(crate) sum: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Statistics {
    /// The statistics of `distribution` as CloudWatch takes them, or `None`
    /// when it would refuse one of them.
    pub(crate) fn of(distribution: &Distribution) -> Option<Self> {
        Some(Self {
            count: distribution.count(),
            sum: accepted(distribution.sum())?,
            min: accepted(distribution.min())?,
            max: accepted(distribution.max())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_past_the_range_are_refused_and_tiny_ones_are_zero() {
        assert_eq!(accepted(1.5), Some(1.5));
        assert_eq!(accepted(-2e100), Some(-2e100));
        assert_eq!(accepted(1e-200), Some(0.0));
        assert_eq!(accepted(-1e-200), Some(0.0));
        assert_eq!(accepted(2e108), None);
        assert_eq!(accepted(f64::NAN), None);
        assert_eq!(accepted(f64::NEG_INFINITY), None);
    }
}
