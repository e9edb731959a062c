//! The one error of a configuration value, and its one wording.

use std::borrow::Cow;
use std::fmt;

/// What an error, a log line or a `Debug` output shows in place of a value
/// that may hold a secret.
pub const REDACTED: &str = "[REDACTED]";

/// A setting, or the environment variable behind it, with an unusable value.
///
/// The value shown has its secrets removed (URL credentials, header values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    setting: Cow<'static, str>,
    value: String,
    expected: &'static str,
}

impl InvalidSetting {
    /// A new error: `setting` has `value` (already stripped of secrets), and
    /// `expected` says what is wrong and what would be accepted, starting
    /// with a verb ("is not a boolean (...)").
    pub fn new(
        setting: impl Into<Cow<'static, str>>,
        value: impl Into<String>,
        expected: &'static str,
    ) -> Self {
        Self {
            setting: setting.into(),
            value: value.into(),
            expected,
        }
    }

    /// The environment variable or builder method.
    pub fn setting(&self) -> &str {
        &self.setting
    }

    /// The value given, stripped of secrets.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// What is wrong and what would be accepted.
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

impl fmt::Display for InvalidSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}='{}' {}", self.setting, self.value, self.expected)
    }
}

impl std::error::Error for InvalidSetting {}
