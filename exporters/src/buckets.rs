//! Histogram bucket boundaries shared by every exporter.
//!
//! Histograms are exported with buckets, so that `histogram_quantile` works in
//! Prometheus and the OTLP export carries the same boundaries. The bucket set
//! follows the metric's name: `_seconds` metrics get [`SECONDS`], `_bytes`
//! metrics get [`BYTES`], every other histogram gets [`DEFAULT`].

/// Upper bounds for durations in seconds, from half a millisecond to five
/// minutes: the span metrics layer's defaults,
/// [`autotel_layers::span_metrics::DEFAULT_DURATION_BUCKETS`].
pub const SECONDS: &[f64] = autotel_layers::span_metrics::DEFAULT_DURATION_BUCKETS;

/// Upper bounds for sizes in bytes, powers of four from 1 KiB to 4 GiB.
pub const BYTES: &[f64] = &[
    1024.0,
    4096.0,
    16384.0,
    65536.0,
    262_144.0,
    1_048_576.0,
    4_194_304.0,
    16_777_216.0,
    67_108_864.0,
    268_435_456.0,
    1_073_741_824.0,
    4_294_967_296.0,
];

/// Upper bounds for histograms without a recognised unit (counts, sizes in items).
pub const DEFAULT: &[f64] = &[
    1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0,
];

/// The bucket boundaries for a histogram named `name`, chosen by its unit suffix.
///
/// ```
/// use autotel_exporters::buckets;
/// assert_eq!(buckets::for_metric("span_duration_seconds"), buckets::SECONDS);
/// assert_eq!(buckets::for_metric("pipeline_memory_bytes"), buckets::BYTES);
/// assert_eq!(buckets::for_metric("batch_size"), buckets::DEFAULT);
/// ```
pub fn for_metric(name: &str) -> &'static [f64] {
    if name.ends_with("_seconds") {
        SECONDS
    } else if name.ends_with("_bytes") {
        BYTES
    } else {
        DEFAULT
    }
}

/// Whether `values` are usable bucket boundaries: not empty, finite and
/// strictly increasing.
#[cfg_attr(not(feature = "prometheus"), allow(dead_code))]
pub(crate) fn check(values: &[f64]) -> Result<(), &'static str> {
    if values.is_empty() {
        return Err("no boundaries given");
    }
    if values.iter().any(|v| !v.is_finite()) {
        return Err("boundaries must be finite numbers");
    }
    if values.windows(2).any(|w| w[0] >= w[1]) {
        return Err("boundaries must be strictly increasing");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_sets_are_valid() {
        for set in [SECONDS, BYTES, DEFAULT] {
            assert_eq!(check(set), Ok(()));
        }
        assert!(check(&[]).is_err());
        assert!(check(&[1.0, 1.0]).is_err());
        assert!(check(&[1.0, f64::NAN]).is_err());
    }
}
