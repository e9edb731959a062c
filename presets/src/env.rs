//! The environment as text: a variable that autotel reads must be UTF-8,
//! or starting is an error that names it (never silently unset).

use std::ffi::OsString;

use crate::Error;

/// The variables of the presets themselves; every `OTEL_*` variable is
/// checked too.
const PRESET_VARIABLES: &[&str] = &[
    "SERVICE_NAME",
    "SERVICE_VERSION",
    "ENVIRONMENT",
    "PROMETHEUS_PORT",
    "PROMETHEUS_BIND",
    "OTLP_ENDPOINT",
    "LOG_LEVEL",
    "JSON_LOGS",
    "RUST_LOG",
];

/// Parts of names whose values may hold credentials: such a value is never
/// shown in an error.
const UNSHOWN: &[&str] = &["ENDPOINT", "HEADERS", "CERTIFICATE", "KEY", "BIND"];

/// Checks that each variable autotel reads, among `vars`, is UTF-8.
pub(crate) fn check_text(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
) -> Result<(), Error> {
    for (name, value) in vars {
        let Some(name) = name.to_str() else {
            continue;
        };
        let read = PRESET_VARIABLES.contains(&name) || name.starts_with("OTEL_");
        if !read || value.to_str().is_some() {
            continue;
        }
        let shown = !UNSHOWN.iter().any(|part| name.contains(part))
            && !autotel_layers::redact::Redaction::default().matches(name);
        return Err(Error::NotText {
            variable: name.to_owned(),
            value: if shown {
                format!("'{}'", value.to_string_lossy())
            } else {
                format!("({} bytes, not shown)", value.len())
            },
        });
    }
    Ok(())
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
        assert!(
            error.to_string().starts_with("OTEL_SERVICE_NAME='"),
            "{error}"
        );
    }

    #[test]
    fn a_value_that_may_hold_credentials_is_not_shown() {
        for name in [
            "OTEL_EXPORTER_OTLP_HEADERS",
            "OTLP_ENDPOINT",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        ] {
            let error = check_text([(name.into(), not_utf8("api-key=secret"))])
                .unwrap_err()
                .to_string();
            assert!(
                error.starts_with(&format!("{name}=(16 bytes, not shown)")),
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
