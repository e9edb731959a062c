//! Who the service is: `SERVICE_NAME` (else `OTEL_SERVICE_NAME`) and
//! `SERVICE_VERSION`.

use super::read::text;
use super::{InvalidSetting, ReadVar};

/// The longest service name or version, in bytes: the longest resource value
/// that a JSON log line carries ([`autotel_layers::json::MAX_RESOURCE_LEN`]).
pub const MAX_IDENTITY_LEN: usize = autotel_layers::json::MAX_RESOURCE_LEN;

/// How much of a value that is too long an error shows, in bytes.
const SHOWN_LEN: usize = 32;

/// `value`, the service name or version that `setting` gives, unless it is
/// longer than [`MAX_IDENTITY_LEN`].
///
/// It is an error rather than cut: the name and version go into every log
/// line, metric series and exported span, and a cut one would file the
/// telemetry under another identity than the one configured; a value that
/// long is a mistake (a file's content in the variable) best fixed at start.
///
/// # Errors
///
/// When the value is too long; the error shows its first 32 bytes and its
/// length.
pub fn check_identity(setting: &'static str, value: String) -> Result<String, InvalidSetting> {
    if value.len() <= MAX_IDENTITY_LEN {
        return Ok(value);
    }
    let shown = &value[..value.floor_char_boundary(SHOWN_LEN)];
    Err(InvalidSetting::new(
        setting,
        format!("{shown}... ({} bytes)", value.len()),
        "is longer than 256 bytes: the service name and version go into every log line, \
         metric series and span; set a short one",
    ))
}

/// The service name: `SERVICE_NAME`, else `OTEL_SERVICE_NAME`, checked with
/// [`check_identity`]; `None` when neither is set.
///
/// # Errors
///
/// Naming the variable that gave a name that is too long, or that `read`
/// could not read.
pub fn service_name(read: ReadVar<'_>) -> Result<Option<String>, InvalidSetting> {
    for name in ["SERVICE_NAME", "OTEL_SERVICE_NAME"] {
        if let Some(value) = text(read, name)? {
            return check_identity(name, value).map(Some);
        }
    }
    Ok(None)
}

/// The service version: `SERVICE_VERSION`, checked with [`check_identity`];
/// `None` when unset.
///
/// # Errors
///
/// When the version is too long, or `read` could not read it.
pub fn service_version(read: ReadVar<'_>) -> Result<Option<String>, InvalidSetting> {
    text(read, "SERVICE_VERSION")?
        .map(|value| check_identity("SERVICE_VERSION", value))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::read::tests_support::vars;

    #[test]
    fn service_name_prefers_service_name_over_otel_service_name() {
        let both = vars(&[("SERVICE_NAME", "ours"), ("OTEL_SERVICE_NAME", "otel")]);
        assert_eq!(service_name(&both).unwrap().as_deref(), Some("ours"));
        let otel = vars(&[("OTEL_SERVICE_NAME", "otel"), ("SERVICE_NAME", " ")]);
        assert_eq!(service_name(&otel).unwrap().as_deref(), Some("otel"));
        assert_eq!(service_name(&vars(&[])).unwrap(), None);
        let version = vars(&[("SERVICE_VERSION", "2.0.0")]);
        assert_eq!(service_version(&version).unwrap().as_deref(), Some("2.0.0"));
    }

    #[test]
    fn a_long_identity_is_an_error_that_shows_its_start_and_length() {
        let long = "é".repeat(200);
        let error = service_name(&vars(&[("OTEL_SERVICE_NAME", &long)])).unwrap_err();
        assert_eq!(error.setting(), "OTEL_SERVICE_NAME");
        assert_eq!(error.value(), format!("{}... (400 bytes)", "é".repeat(16)));
        assert!(error.expected().starts_with("is longer than 256 bytes"));
        let limit = "v".repeat(MAX_IDENTITY_LEN);
        assert_eq!(check_identity("S", limit.clone()), Ok(limit));
    }
}
