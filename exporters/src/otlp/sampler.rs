//! Trace samplers as the OpenTelemetry specification names them, with a
//! ratio that can change while the program runs.
//!
//! Only the `parentbased_*` samplers follow the decision of a parent span
//! (a remote one from an incoming `traceparent` included); `always_on`,
//! `always_off` and `traceidratio` decide for every span alone, so no
//! client can force tracing on when it is off.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Link, SpanKind, TraceId};
use opentelemetry_sdk::trace::{Sampler, SamplingResult, ShouldSample};

use super::OtlpError;
use crate::env::{self, InvalidSetting};

/// Which spans are sampled: a ratio of trace ids, and whether a parent's
/// decision is followed. The standard samplers map onto it:
///
/// | `OTEL_TRACES_SAMPLER` | [`Sampling`] |
/// |---|---|
/// | `always_on` / `always_off` | `Sampling::ratio(1.0)` / `Sampling::ratio(0.0)` |
/// | `traceidratio` | `Sampling::ratio(arg)` |
/// | `parentbased_always_on` (the default) | `Sampling::parent_based(1.0)` |
/// | `parentbased_always_off` | `Sampling::parent_based(0.0)` |
/// | `parentbased_traceidratio` | `Sampling::parent_based(arg)` |
///
/// ```
/// use autotel_exporters::otlp::Sampling;
///
/// let sampling = Sampling::parse("TraceIdRatio", Some("0.25"))?;
/// assert_eq!(sampling, Sampling::ratio(0.25)?);
/// assert!(!sampling.follows_parent());
/// assert!(Sampling::parse("traceidratio", Some("2")).is_err());
/// # Ok::<(), autotel_exporters::otlp::OtlpError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    ratio: f64,
    parent_based: bool,
}

impl Default for Sampling {
    /// `parentbased_always_on`, the specification's default.
    fn default() -> Self {
        Self {
            ratio: 1.0,
            parent_based: true,
        }
    }
}

impl Sampling {
    /// Samples this fraction of root spans; child spans, local or remote,
    /// follow their parent.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] unless `0.0 <= ratio <= 1.0`.
    pub fn parent_based(ratio: f64) -> Result<Self, OtlpError> {
        check_ratio("Sampling::parent_based", ratio)?;
        Ok(Self {
            ratio,
            parent_based: true,
        })
    }

    /// Samples this fraction of all traces, whatever a parent decided.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] unless `0.0 <= ratio <= 1.0`.
    pub fn ratio(ratio: f64) -> Result<Self, OtlpError> {
        check_ratio("Sampling::ratio", ratio)?;
        Ok(Self {
            ratio,
            parent_based: false,
        })
    }

    /// The fraction of traces sampled where no parent decides.
    pub fn sample_ratio(&self) -> f64 {
        self.ratio
    }

    /// Whether a parent's decision is followed.
    pub fn follows_parent(&self) -> bool {
        self.parent_based
    }

    /// Reads `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`; `None` when
    /// the sampler is unset.
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] naming the variable: an unknown sampler, an
    /// argument that is not a ratio from 0.0 to 1.0, a value that is not UTF-8.
    pub fn from_env() -> Result<Option<Self>, OtlpError> {
        let Some(sampler) = env::var("OTEL_TRACES_SAMPLER")? else {
            return Ok(None);
        };
        let arg = env::var("OTEL_TRACES_SAMPLER_ARG")?;
        Self::parse(&sampler, arg.as_deref()).map(Some)
    }

    /// The sampling that `OTEL_TRACES_SAMPLER=sampler` and
    /// `OTEL_TRACES_SAMPLER_ARG=arg` ask for; names in any case. The
    /// argument is read by the ratio samplers only (1.0 when absent).
    ///
    /// # Errors
    ///
    /// [`OtlpError::Config`] naming the variable.
    pub fn parse(sampler: &str, arg: Option<&str>) -> Result<Self, OtlpError> {
        let ratio = || -> Result<f64, OtlpError> {
            match arg.map(str::trim).filter(|a| !a.is_empty()) {
                None => Ok(1.0),
                Some(text) => text
                    .parse::<f64>()
                    .ok()
                    .filter(|r| (0.0..=1.0).contains(r))
                    .ok_or_else(|| {
                        InvalidSetting::new(
                            "OTEL_TRACES_SAMPLER_ARG",
                            text,
                            "is not a ratio from 0.0 to 1.0 (such as 0.25)",
                        )
                        .into()
                    }),
            }
        };
        let (ratio, parent_based) = match sampler.trim().to_ascii_lowercase().as_str() {
            "always_on" => (1.0, false),
            "always_off" => (0.0, false),
            "traceidratio" => (ratio()?, false),
            "parentbased_always_on" => (1.0, true),
            "parentbased_always_off" => (0.0, true),
            "parentbased_traceidratio" => (ratio()?, true),
            _ => {
                return Err(OtlpError::config(
                    "OTEL_TRACES_SAMPLER",
                    sampler,
                    "is not a supported sampler (always_on, always_off, traceidratio, \
                     parentbased_always_on, parentbased_always_off or parentbased_traceidratio)",
                ));
            }
        };
        Ok(Self {
            ratio,
            parent_based,
        })
    }
}

/// The fraction of root spans an [`OtlpGuard`](super::OtlpGuard)
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

    /// The sampler of a tracer provider: this ratio of trace ids, for root
    /// spans only when `parent_based`.
    pub(crate) fn sampler(&self, parent_based: bool) -> Box<dyn ShouldSample> {
        let ratio = RatioSampler(self.clone());
        if parent_based {
            Box::new(Sampler::ParentBased(Box::new(ratio)))
        } else {
            Box::new(ratio)
        }
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
        Err(OtlpError::config(
            setting,
            ratio.to_string(),
            "is not a ratio from 0.0 to 1.0",
        ))
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
            .sampler(true)
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

    /// The decision under a remote parent whose `traceparent` says sampled.
    fn under_sampled_remote_parent(sampling: Sampling) -> SamplingDecision {
        use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceState};
        let parent = SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128),
            SpanId::from(0x00f0_67aa_0ba9_02b7u64),
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        );
        let cx = opentelemetry::Context::new().with_remote_span_context(parent);
        SampleRatio::new(sampling.sample_ratio())
            .unwrap()
            .sampler(sampling.follows_parent())
            .should_sample(
                Some(&cx),
                TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736u128),
                "child",
                &SpanKind::Server,
                &[],
                &[],
            )
            .decision
    }

    #[test]
    fn only_parent_based_samplers_follow_a_sampled_remote_parent() {
        let cases = [
            ("always_off", SamplingDecision::Drop),
            ("ALWAYS_OFF", SamplingDecision::Drop),
            ("parentbased_always_off", SamplingDecision::RecordAndSample),
            (
                "parentbased_traceidratio",
                SamplingDecision::RecordAndSample,
            ),
            ("always_on", SamplingDecision::RecordAndSample),
        ];
        for (name, expected) in cases {
            let sampling = Sampling::parse(name, Some("0")).unwrap();
            assert_eq!(under_sampled_remote_parent(sampling), expected, "{name}");
        }
        let ratio_zero = Sampling::parse("TraceIdRatio", Some("0")).unwrap();
        assert_eq!(
            under_sampled_remote_parent(ratio_zero),
            SamplingDecision::Drop
        );
    }

    #[test]
    fn sampler_variables_are_checked_and_name_themselves() {
        assert_eq!(
            Sampling::parse("Parentbased_TraceIdRatio", Some(" 0.25 ")).unwrap(),
            Sampling::parent_based(0.25).unwrap()
        );
        assert_eq!(
            Sampling::parse("traceidratio", None).unwrap(),
            Sampling::ratio(1.0).unwrap()
        );
        assert_eq!(
            Sampling::parse("always_on", Some("not read")).unwrap(),
            Sampling::ratio(1.0).unwrap()
        );
        let error = Sampling::parse("sometimes", None).unwrap_err().to_string();
        assert!(
            error.starts_with("OTEL_TRACES_SAMPLER='sometimes' is not a supported sampler"),
            "{error}"
        );
        for bad in ["2", "-0.1", "half", "NaN"] {
            let error = Sampling::parse("traceidratio", Some(bad))
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(&format!("OTEL_TRACES_SAMPLER_ARG='{bad}'")),
                "{error}"
            );
        }
        assert_eq!(Sampling::default(), Sampling::parent_based(1.0).unwrap());
    }
}
