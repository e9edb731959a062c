//! Changing filters, sampling and metrics while the program runs.

use std::fmt;

use autotel_layers::MetricsSwitch;

use crate::Error;
use crate::config;
use crate::filter::FilterHandle;
use crate::ratio::SampleRatio;

/// Changes telemetry while the program runs; from
/// [`TelemetryGuard::control`](crate::TelemetryGuard::control). Clones control the same telemetry.
///
/// Every change applies to the next span or event, without a restart.
#[derive(Clone)]
pub struct TelemetryControl {
    pub(crate) filter: FilterHandle,
    pub(crate) switch: MetricsSwitch,
    pub(crate) sample_ratio: SampleRatio,
}

impl TelemetryControl {
    /// Replaces the log filter: a level (`debug`) or directives
    /// (`my_crate=trace,warn`), as `RUST_LOG` takes them.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] when the directives do not parse; the
    /// filter is unchanged.
    pub fn set_log_filter(&self, directives: &str) -> Result<(), Error> {
        let directives = config::check_filter("TelemetryControl::set_log_filter", directives)?;
        self.filter.set(&directives);
        Ok(())
    }

    /// The log filter in force.
    pub fn log_filter(&self) -> String {
        self.filter.directives()
    }

    /// Sets the fraction of root spans exported by OTLP (child spans follow
    /// their parent). Without OTLP traces the ratio is kept and has no effect.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidSetting`] unless `0.0 <= ratio <= 1.0`.
    pub fn set_trace_sample_ratio(&self, ratio: f64) -> Result<(), Error> {
        self.sample_ratio
            .set("TelemetryControl::set_trace_sample_ratio", ratio)
    }

    /// The fraction of root spans exported by OTLP.
    pub fn trace_sample_ratio(&self) -> f64 {
        self.sample_ratio.get()
    }

    /// Turns span and pipeline metrics on or off for every span.
    pub fn set_metrics_enabled(&self, enabled: bool) {
        self.switch.set_enabled(enabled);
    }

    /// Turns span and pipeline metrics off for spans called `name` and for
    /// the pipeline runs (with their steps) whose `pipeline.name` is `name`.
    pub fn disable_metrics_for(&self, name: impl Into<String>) {
        self.switch.disable(name);
    }

    /// Turns metrics back on for `name`.
    pub fn enable_metrics_for(&self, name: &str) {
        self.switch.enable(name);
    }

    /// The switch of the span metrics layer, for finer control.
    pub fn metrics_switch(&self) -> &MetricsSwitch {
        &self.switch
    }
}

impl fmt::Debug for TelemetryControl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TelemetryControl")
            .field("log_filter", &self.log_filter())
            .field("trace_sample_ratio", &self.trace_sample_ratio())
            .field("metrics", &self.switch)
            .finish()
    }
}
