//! Whether OTLP runs, and where to: `OTLP_ENDPOINT` and `OTEL_SDK_DISABLED`.

use autotel_layers::exemplar::ExemplarFilter;

use super::read::text;
use super::{Endpoint, InvalidSetting, ReadVar, parse_bool, parse_endpoint};

/// The collector that every signal goes to, from `OTLP_ENDPOINT`, checked as
/// [`parse_endpoint`] checks it; `None` when unset.
///
/// # Errors
///
/// When the value is not a collector URL (shown without its credentials),
/// or `read` could not read it.
pub fn otlp_endpoint(read: ReadVar<'_>) -> Result<Option<Endpoint>, InvalidSetting> {
    text(read, "OTLP_ENDPOINT")?
        .map(|value| parse_endpoint("OTLP_ENDPOINT", &value))
        .transpose()
}

/// Whether `OTEL_SDK_DISABLED` turns the OpenTelemetry SDK off (a boolean as
/// [`parse_bool`] reads it); `false` when unset.
///
/// # Errors
///
/// When the value is not a boolean, or `read` could not read it.
pub fn sdk_disabled(read: ReadVar<'_>) -> Result<bool, InvalidSetting> {
    match text(read, "OTEL_SDK_DISABLED")? {
        Some(value) => parse_bool("OTEL_SDK_DISABLED", &value),
        None => Ok(false),
    }
}

/// Which spans give exemplars to the histograms, from the OpenTelemetry
/// variable `OTEL_METRICS_EXEMPLAR_FILTER`: `trace_based` (sampled traces),
/// `always_on` or `always_off`; `None` when unset.
///
/// # Errors
///
/// When the value is none of the three, or `read` could not read it.
pub fn exemplar_filter(read: ReadVar<'_>) -> Result<Option<ExemplarFilter>, InvalidSetting> {
    const NAME: &str = "OTEL_METRICS_EXEMPLAR_FILTER";
    text(read, NAME)?
        .map(|value| {
            ExemplarFilter::from_name(&value).ok_or_else(|| {
                InvalidSetting::new(
                    NAME,
                    value,
                    "is not an exemplar filter (trace_based, always_on or always_off)",
                )
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::read::tests_support::vars;

    #[test]
    fn the_exemplar_filter_is_one_of_three_names() {
        let filter = |value| exemplar_filter(&vars(&[("OTEL_METRICS_EXEMPLAR_FILTER", value)]));
        assert_eq!(
            filter("always_off").unwrap(),
            Some(ExemplarFilter::AlwaysOff)
        );
        assert_eq!(
            filter("TRACE_BASED").unwrap(),
            Some(ExemplarFilter::TraceBased)
        );
        assert_eq!(exemplar_filter(&vars(&[])).unwrap(), None);
        assert_eq!(
            filter("off").unwrap_err().to_string(),
            "OTEL_METRICS_EXEMPLAR_FILTER='off' is not an exemplar filter \
             (trace_based, always_on or always_off)"
        );
    }

    #[test]
    fn the_endpoint_and_the_switch_are_checked() {
        let endpoint = otlp_endpoint(&vars(&[("OTLP_ENDPOINT", "collector:4317")])).unwrap();
        assert_eq!(
            endpoint.map(|e| e.url()).as_deref(),
            Some("http://collector:4317")
        );
        let error = otlp_endpoint(&vars(&[("OTLP_ENDPOINT", "ftp://u:pw@c:21")])).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("OTLP_ENDPOINT='ftp://[REDACTED]@c:21' does not start with"),
            "{error}"
        );
        assert!(sdk_disabled(&vars(&[("OTEL_SDK_DISABLED", "TRUE")])).unwrap());
        assert!(!sdk_disabled(&vars(&[])).unwrap());
        assert_eq!(
            sdk_disabled(&vars(&[("OTEL_SDK_DISABLED", "sure")]))
                .unwrap_err()
                .setting(),
            "OTEL_SDK_DISABLED"
        );
    }
}
