//! What the features autotel-presets was built with allow: a part left out
//! at build time is off by default, and asking for it is an error that says
//! which feature to enable.

use autotel_exporters::env::ReadVar;

#[cfg(not(feature = "prometheus"))]
use super::Listen;
#[cfg(not(feature = "otlp"))]
use super::OtlpTarget;
use super::{Code, Settings};
#[cfg(not(feature = "testing"))]
use crate::Environment;
use crate::Error;

impl Settings {
    /// Turns off what was left out at build time, unless `code` or the
    /// variables read by `read` ask for it: then it is an error.
    #[allow(unused_variables, unused_mut)]
    pub(crate) fn within_features(mut self, code: &Code, read: ReadVar<'_>) -> Result<Self, Error> {
        #[cfg(not(feature = "testing"))]
        if self.environment == Environment::Testing {
            let setting = match code.environment {
                Some(_) => "Preset::environment",
                None => "ENVIRONMENT",
            };
            return Err(missing(setting, "testing", TESTING));
        }
        #[cfg(not(feature = "prometheus"))]
        if self.prometheus != Listen::Off {
            if let Some(port) = code.prometheus_port {
                return Err(missing(
                    "Preset::prometheus_port",
                    port.to_string(),
                    PROMETHEUS,
                ));
            }
            for name in ["PROMETHEUS_PORT", "PROMETHEUS_BIND"] {
                if let Some(value) = read(name)? {
                    return Err(missing(name, value, PROMETHEUS));
                }
            }
            for name in ["PROMETHEUS_BASIC_AUTH", "PROMETHEUS_BEARER_TOKEN"] {
                if read(name)?.is_some() {
                    return Err(missing(name, autotel_exporters::env::REDACTED, PROMETHEUS));
                }
            }
            self.prometheus = Listen::Off;
        }
        #[cfg(not(feature = "otlp"))]
        match &self.otlp {
            OtlpTarget::Off => {}
            OtlpTarget::Endpoint(endpoint) => {
                let setting = match code.otlp_endpoint {
                    Some(_) => "Preset::otlp_endpoint",
                    None => "OTLP_ENDPOINT",
                };
                return Err(missing(setting, super::redact_endpoint(endpoint), OTLP));
            }
            OtlpTarget::Standard => {
                let value = read("OTEL_EXPORTER_OTLP_ENDPOINT")?.unwrap_or_default();
                return Err(missing(
                    "OTEL_EXPORTER_OTLP_ENDPOINT",
                    super::redact_endpoint(&value),
                    OTLP,
                ));
            }
        }
        #[cfg(not(feature = "console"))]
        if self.console_export {
            if code.console_export == Some(true) {
                return Err(missing("Preset::console_export", "true", CONSOLE));
            }
            self.console_export = false;
        }
        #[cfg(not(feature = "system"))]
        {
            self.system_metrics = false;
        }
        #[cfg(not(feature = "cloudwatch"))]
        if let Some(namespace) = read("CLOUDWATCH_NAMESPACE")? {
            return Err(missing("CLOUDWATCH_NAMESPACE", namespace, CLOUDWATCH));
        }
        #[cfg(not(feature = "b3"))]
        if self.propagators.iter().any(|p| {
            matches!(
                p,
                autotel_exporters::env::Propagator::B3
                    | autotel_exporters::env::Propagator::B3Multi
            )
        }) {
            let value = read("OTEL_PROPAGATORS")?.unwrap_or_default();
            return Err(missing("OTEL_PROPAGATORS", value, B3));
        }
        #[cfg(not(feature = "jaeger"))]
        if self
            .propagators
            .contains(&autotel_exporters::env::Propagator::Jaeger)
        {
            let value = read("OTEL_PROPAGATORS")?.unwrap_or_default();
            return Err(missing("OTEL_PROPAGATORS", value, JAEGER));
        }
        Ok(self)
    }
}

#[cfg(not(feature = "testing"))]
const TESTING: &str = "needs the `testing` feature of autotel-presets: enable it \
     (`features = [\"testing\"]`, in [dev-dependencies] for tests) or choose another environment";
#[cfg(not(feature = "prometheus"))]
const PROMETHEUS: &str = "needs the `prometheus` feature of autotel-presets: enable it \
     (it is on by default) or unset the setting";
#[cfg(not(feature = "otlp"))]
const OTLP: &str = "needs the `otlp` feature of autotel-presets: enable it \
     (it is on by default) or unset the endpoint";
#[cfg(not(feature = "console"))]
const CONSOLE: &str = "needs the `console` feature of autotel-presets: enable it \
     (it is on by default) or leave console export off";

#[cfg(not(feature = "cloudwatch"))]
const CLOUDWATCH: &str = "needs the `cloudwatch` feature of autotel-presets: enable it (it is \
     off by default, as the AWS SDK is a heavy build) or unset the variable";
#[cfg(not(feature = "b3"))]
const B3: &str = "names B3, which needs the `b3` feature of autotel-presets: enable it, \
     or leave b3 and b3multi out (W3C trace context is always propagated)";
#[cfg(not(feature = "jaeger"))]
const JAEGER: &str = "names Jaeger, which needs the `jaeger` feature of autotel-presets: \
     enable it, or leave jaeger out (W3C trace context is always propagated)";

/// The error of a setting whose part was left out at build time.
#[cfg(not(all(
    feature = "testing",
    feature = "prometheus",
    feature = "otlp",
    feature = "console",
    feature = "cloudwatch",
    feature = "b3",
    feature = "jaeger"
)))]
fn missing(setting: &'static str, value: impl Into<String>, expected: &'static str) -> Error {
    Error::invalid(setting, value, expected)
}

#[cfg(all(test, not(feature = "testing")))]
mod tests {
    use crate::config::Code;

    #[test]
    fn the_testing_environment_needs_the_testing_feature() {
        let read = |name: &'static str| Ok((name == "ENVIRONMENT").then(|| "testing".to_owned()));
        let code = Code::new(None);
        let error = code
            .resolve("checkout", &read)
            .and_then(|settings| settings.within_features(&code, &read))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("ENVIRONMENT='testing' needs the `testing` feature"),
            "{error}"
        );
    }
}
