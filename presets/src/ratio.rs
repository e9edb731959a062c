//! The trace sampling ratio that [`TelemetryControl`](crate::TelemetryControl)
//! changes: the OTLP pipeline's own, or a detached one when OTLP is left out
//! at build time (kept, with no effect).

use crate::Error;

/// What a ratio must be.
const EXPECTED: &str = "is not a ratio from 0.0 to 1.0";

/// A ratio of root spans to export, shared with the OTLP sampler.
#[derive(Clone, Debug)]
pub(crate) struct SampleRatio(Shared);

#[cfg(feature = "otlp")]
type Shared = autotel_exporters::otlp::SampleRatio;

#[cfg(not(feature = "otlp"))]
type Shared = std::sync::Arc<std::sync::atomic::AtomicU64>;

impl SampleRatio {
    /// A ratio shared by nothing yet; `setting` names where it came from.
    pub(crate) fn new(setting: &'static str, ratio: f64) -> Result<Self, Error> {
        #[cfg(feature = "otlp")]
        let shared = Shared::new(1.0).map_err(|_| Error::invalid(setting, "1", EXPECTED))?;
        #[cfg(not(feature = "otlp"))]
        let shared = Shared::new(std::sync::atomic::AtomicU64::new(1f64.to_bits()));
        let shared = Self(shared);
        shared.set(setting, ratio)?;
        Ok(shared)
    }

    /// The OTLP pipeline's ratio.
    #[cfg(feature = "otlp")]
    pub(crate) fn of(shared: autotel_exporters::otlp::SampleRatio) -> Self {
        Self(shared)
    }

    /// The current ratio.
    pub(crate) fn get(&self) -> f64 {
        #[cfg(feature = "otlp")]
        return self.0.get();
        #[cfg(not(feature = "otlp"))]
        f64::from_bits(self.0.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Sets the ratio, unless it is outside 0.0..=1.0; `setting` names the
    /// caller in the error.
    pub(crate) fn set(&self, setting: &'static str, ratio: f64) -> Result<(), Error> {
        if !(0.0..=1.0).contains(&ratio) {
            return Err(Error::invalid(setting, ratio.to_string(), EXPECTED));
        }
        #[cfg(feature = "otlp")]
        self.0
            .set(ratio)
            .map_err(|_| Error::invalid(setting, ratio.to_string(), EXPECTED))?;
        #[cfg(not(feature = "otlp"))]
        self.0
            .store(ratio.to_bits(), std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}
