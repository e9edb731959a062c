//! Reading the environment: which variables autotel reads, and each one as
//! UTF-8 text or an error that names it (never silently unset).

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};

use super::{InvalidSetting, REDACTED};

/// Every variable autotel reads, besides the `OTEL_*` ones (all of which
/// are checked as text):
///
/// | variable | read by | what it sets |
/// |---|---|---|
/// | `SERVICE_NAME` | [`service_name`](super::service_name) | the service name (before `OTEL_SERVICE_NAME`) |
/// | `SERVICE_VERSION` | [`service_version`](super::service_version) | the service version |
/// | `ENVIRONMENT` | autotel-presets | `production`, `staging`, `development` or `testing` |
/// | `PROMETHEUS_PORT` | [`prometheus_address`](super::prometheus_address) | the port of the `/metrics` endpoint, 0 for any free port |
/// | `PROMETHEUS_BIND` | [`prometheus_address`](super::prometheus_address) | its IP address, or IP:port |
/// | `PROMETHEUS_BASIC_AUTH` | [`prometheus_credentials`](super::prometheus_credentials) | `user:password` that scrapers must present |
/// | `PROMETHEUS_BEARER_TOKEN` | [`prometheus_credentials`](super::prometheus_credentials) | a bearer token that scrapers must present |
/// | `OTLP_ENDPOINT` | [`otlp_endpoint`](super::otlp_endpoint) | the OTLP collector every signal goes to |
/// | `LOG_LEVEL` | [`log_level`](super::log_level) | the lowest level logged (after `RUST_LOG`) |
/// | `JSON_LOGS` | [`json_logs`](super::json_logs) | whether log lines are JSON |
/// | `RUST_LOG` | autotel-presets | log filter directives |
pub const VARIABLES: &[&str] = &[
    "SERVICE_NAME",
    "SERVICE_VERSION",
    "ENVIRONMENT",
    "PROMETHEUS_PORT",
    "PROMETHEUS_BIND",
    "PROMETHEUS_BASIC_AUTH",
    "PROMETHEUS_BEARER_TOKEN",
    "OTLP_ENDPOINT",
    "LOG_LEVEL",
    "JSON_LOGS",
    "RUST_LOG",
    "STATSD_HOST",
    "STATSD_PORT",
    "STATSD_PREFIX",
    "DD_AGENT_HOST",
    "DD_DOGSTATSD_PORT",
    "DD_DOGSTATSD_URL",
    "DD_TAGS",
    "DD_ENV",
    "DD_SERVICE",
    "DD_VERSION",
    "DD_API_KEY",
    "DD_SITE",
    "DD_URL",
    "DD_HOSTNAME",
    "AWS_EMF_NAMESPACE",
    "AWS_EMF_AGENT_ENDPOINT",
    "AWS_EMF_SERVICE_NAME",
    "AWS_EMF_LOG_GROUP_NAME",
    "AWS_EMF_LOG_STREAM_NAME",
    "CLOUDWATCH_NAMESPACE",
    "AWS_REGION",
    "AWS_ENDPOINT_URL_CLOUDWATCH",
];

/// Where the readers of this module get a variable's value: [`var`] for the
/// process environment, or any function that reads the same way, such as a
/// map in tests. Blank values count as unset whatever the function returns.
pub type ReadVar<'a> = &'a dyn Fn(&'static str) -> Result<Option<String>, InvalidSetting>;

/// Parts of names whose values may hold credentials.
const SECRET_PARTS: &[&str] = &[
    "ENDPOINT",
    "HEADERS",
    "CERTIFICATE",
    "KEY",
    "BIND",
    "AUTH",
    "TOKEN",
];

/// Whether the value of the variable `name` may hold a secret (credentials
/// in a URL, a header, a key, a token): errors show it as [`REDACTED`].
pub fn is_secret(name: &str) -> bool {
    SECRET_PARTS.iter().any(|part| name.contains(part))
        || autotel_layers::redact::Redaction::default().matches(name)
}

/// Checks that each variable autotel reads ([`VARIABLES`] and `OTEL_*`),
/// among `vars`, is UTF-8 text.
///
/// # Errors
///
/// For the first one that is not, naming it.
pub fn check_text(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<(), InvalidSetting> {
    for (name, value) in vars {
        let Some(name) = name.to_str() else {
            continue;
        };
        let read = VARIABLES.contains(&name) || name.starts_with("OTEL_");
        if read && value.to_str().is_none() {
            return Err(not_text(name.to_owned(), &value));
        }
    }
    Ok(())
}

/// The value of the environment variable `name`: `None` when unset or blank.
///
/// # Errors
///
/// When the value is not UTF-8 (shown with the bad bytes replaced).
pub fn var(name: &'static str) -> Result<Option<String>, InvalidSetting> {
    from_os(name, std::env::var_os(name))
}

/// The value of `name` that `read` gives: `None` when unset or blank.
pub(super) fn text(
    read: ReadVar<'_>,
    name: &'static str,
) -> Result<Option<String>, InvalidSetting> {
    Ok(read(name)?.filter(|value| !value.trim().is_empty()))
}

/// [`var`] for a value already read, for tests and other sources.
fn from_os(
    name: &'static str,
    value: Option<std::ffi::OsString>,
) -> Result<Option<String>, InvalidSetting> {
    match value {
        None => Ok(None),
        Some(value) => match value.into_string() {
            Ok(text) if text.trim().is_empty() => Ok(None),
            Ok(text) => Ok(Some(text)),
            Err(raw) => Err(not_text(name, &raw)),
        },
    }
}

/// The error of a variable whose value is not UTF-8.
fn not_text(name: impl Into<Cow<'static, str>>, value: &OsStr) -> InvalidSetting {
    let name = name.into();
    if is_secret(&name) {
        InvalidSetting::new(
            name,
            REDACTED,
            "is not valid UTF-8 text; autotel reads it as text: set it to UTF-8 text or unset it",
        )
    } else {
        let shown = value.to_string_lossy().into_owned();
        InvalidSetting::new(
            name,
            shown,
            "is not valid UTF-8 text (shown with U+FFFD for each invalid byte); \
             autotel reads it as text: set it to UTF-8 text or unset it",
        )
    }
}

/// Sources of variables for the tests of this module.
#[cfg(test)]
pub(super) mod tests_support {
    use std::collections::HashMap;

    use super::InvalidSetting;

    /// A source that reads `pairs`, as [`ReadVar`](super::ReadVar) asks.
    pub(crate) fn vars(
        pairs: &[(&str, &str)],
    ) -> impl Fn(&'static str) -> Result<Option<String>, InvalidSetting> + use<> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect();
        move |name| Ok(map.get(name).cloned())
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    fn not_utf8(prefix: &str) -> OsString {
        let mut bytes = prefix.as_bytes().to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe]);
        OsString::from_vec(bytes)
    }

    #[test]
    fn values_that_are_not_utf8_are_errors_naming_the_variable() {
        use std::os::unix::ffi::OsStringExt;
        let bad = std::ffi::OsString::from_vec(vec![b'a', 0xff, b'b']);
        let error = from_os("SERVICE_NAME", Some(bad)).unwrap_err();
        assert_eq!(error.setting(), "SERVICE_NAME");
        assert!(
            error
                .to_string()
                .starts_with("SERVICE_NAME='a\u{fffd}b' is not valid UTF-8"),
            "{error}"
        );
        assert_eq!(from_os("X", Some("  ".into())), Ok(None));
        assert_eq!(from_os("X", None), Ok(None));
        assert_eq!(from_os("X", Some("v".into())), Ok(Some("v".into())));
    }

    #[test]
    fn a_variable_that_is_not_utf8_is_an_error_naming_it() {
        let error = check_text([
            ("PATH".into(), not_utf8("/bin")),
            ("SERVICE_VERSION".into(), "1.0".into()),
            ("SERVICE_NAME".into(), not_utf8("caf")),
        ])
        .unwrap_err()
        .to_string();
        assert_eq!(
            error,
            "SERVICE_NAME='caf\u{fffd}\u{fffd}' is not valid UTF-8 text (shown with U+FFFD \
             for each invalid byte); autotel reads it as text: set it to UTF-8 text or unset it"
        );
        let error = check_text([("OTEL_SERVICE_NAME".into(), not_utf8(""))]).unwrap_err();
        assert_eq!(error.setting(), "OTEL_SERVICE_NAME");
    }

    #[test]
    fn a_value_that_may_hold_credentials_is_redacted() {
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
            "PROMETHEUS_BEARER_TOKEN",
            "PROMETHEUS_BASIC_AUTH",
        ] {
            let error = check_text([(name.into(), not_utf8("api-key=secret"))])
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(&format!("{name}='[REDACTED]' is not valid UTF-8 text;")),
                "{error}"
            );
            assert!(!error.contains("secret"), "{error}");
        }
    }

    #[test]
    fn other_variables_and_text_values_pass() {
        assert!(
            check_text([
                ("HOME".into(), not_utf8("/home/")),
                ("RUST_LOG".into(), "info".into()),
                ("OTEL_TRACES_SAMPLER".into(), "always_on".into()),
            ])
            .is_ok()
        );
    }
}
