//! A trace sampler whose ratio can change while the program runs.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry_sdk::trace::{Sampler, SamplingResult, ShouldSample};

use super::OtlpError;

/// The fraction of root spans an [`OtlpPipeline`](super::OtlpPipeline)
/// samples, readable and settable while the program runs. Child spans follow
/// their parent's decision.
///
/// Clones share the ratio. A change applies to the next root span.
///
/// ```
/// use autotel_exporters::otlp::SampleRatio;
///
/// let ratio = SampleRatio::new(1.0)?;
/// ratio.set(0.25)?;
/// assert_eq!(ratio.get(), 0.25);
/// assert!(ratio.set(1.5).is_err());
/// # Ok::<(), autotel_exporters::otlp::OtlpError>(())
/// ```
#[derive(Clone)]
pub struct SampleRatio(Arc<AtomicU64>);

impl SampleRatio {
    /// A ratio shared by nothing yet.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] unless `0.0 <= ratio <= 1.0`.
    pub fn new(ratio: f64) -> Result<Self, OtlpError> {
        let shared = Self(Arc::new(AtomicU64::new(1f64.to_bits())));
        shared.set(ratio)?;
        Ok(shared)
    }

    /// The current ratio.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    /// Sets the ratio of root spans to sample from now on.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] unless `0.0 <= ratio <= 1.0`; the ratio is unchanged.
    pub fn set(&self, ratio: f64) -> Result<(), OtlpError> {
        check_ratio("SampleRatio::set", ratio)?;
        self.0.store(ratio.to_bits(), Ordering::Relaxed);
        Ok(())
    }

    /// The sampler of a tracer provider: parent-based, with this ratio for
    /// root spans.
    pub(crate) fn sampler(&self) -> Sampler {
        Sampler::ParentBased(Box::new(RatioSampler(self.clone())))
    }
}

impl fmt::Debug for SampleRatio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SampleRatio").field(&self.get()).finish()
    }
}

/// `Err` naming `setting` unless `ratio` is in `0.0..=1.0`.
pub(crate) fn check_ratio(setting: &'static str, ratio: f64) -> Result<(), OtlpError> {
    if (0.0..=1.0).contains(&ratio) {
        Ok(())
    } else {
        Err(OtlpError::Config {
            setting,
            value: ratio.to_string(),
            expected: "a ratio from 0.0 to 1.0",
        })
    }
}

/// The trace-id ratio sampler of the SDK, with the ratio read on each call.
#[derive(Clone, Debug)]
struct RatioSampler(SampleRatio);

impl ShouldSample for RatioSampler {
    fn should_sample(
        &self,
        parent_context: Option<&opentelemetry::Context>,
        trace_id: TraceId,
        name: &str,
        span_kind: &SpanKind,
        attributes: &[KeyValue],
        links: &[Link],
    ) -> SamplingResult {
        Sampler::TraceIdRatioBased(self.0.get()).should_sample(
            parent_context,
            trace_id,
            name,
            span_kind,
            attributes,
            links,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_sdk::trace::SamplingDecision;

    fn decide(ratio: &SampleRatio, trace_id: u128) -> SamplingDecision {
        ratio
            .sampler()
            .should_sample(
                None,
                TraceId::from(trace_id),
                "root",
                &SpanKind::Internal,
                &[],
                &[],
            )
            .decision
    }

    #[test]
    fn a_change_applies_to_the_next_root_span() {
        let ratio = SampleRatio::new(1.0).unwrap();
        let ids: Vec<u128> = (1..=1000u128)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))
            .collect();
        let sampled = |ratio: &SampleRatio| {
            ids.iter()
                .filter(|&&id| decide(ratio, id) == SamplingDecision::RecordAndSample)
                .count()
        };
        assert_eq!(sampled(&ratio), 1000);
        ratio.set(0.0).unwrap();
        assert_eq!(sampled(&ratio), 0);
        ratio.set(0.5).unwrap();
        let half = sampled(&ratio);
        assert!((350..650).contains(&half), "{half} of 1000 sampled at 0.5");
    }

    #[test]
    fn bad_ratios_are_refused_and_change_nothing() {
        let ratio = SampleRatio::new(0.3).unwrap();
        for bad in [-0.1, 1.01, f64::NAN, f64::INFINITY] {
            let error = ratio.set(bad).unwrap_err().to_string();
            assert!(error.contains("SampleRatio::set"), "{error}");
        }
        assert_eq!(ratio.get(), 0.3);
        assert!(SampleRatio::new(2.0).is_err());
    }
}
