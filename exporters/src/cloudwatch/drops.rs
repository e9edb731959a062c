//! What one export left out, counted in `autotel_dropped_total`.

use autotel_layers::catalog;

/// Counts of what one export left out, by reason.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Drops {
    /// Series with a value CloudWatch refuses.
    pub(crate) out_of_range: u64,
    /// Series with labels past the 30th (sent, with 30 dimensions).
    pub(crate) too_many_dimensions: u64,
    /// Series too large for one line or request.
    pub(crate) too_large: u64,
    /// Series whose name is also the name of one of its dimensions (EMF).
    pub(crate) name_conflict: u64,
}

impl Drops {
    /// Adds the counts to `autotel_dropped_total{signal="metrics", reason}`.
    pub(crate) fn count(&self) {
        for (reason, n) in [
            ("out_of_range", self.out_of_range),
            ("too_many_dimensions", self.too_many_dimensions),
            ("too_large", self.too_large),
            ("name_conflict", self.name_conflict),
        ] {
            if n > 0 {
                metrics::counter!(
                    catalog::AUTOTEL_DROPPED_TOTAL.name(),
                    "signal" => "metrics",
                    "reason" => reason
                )
                .increment(n);
            }
        }
    }
}
