//! Configuration errors.

/// A setting that cannot be used.
///
/// The message names the setting and the value, and says what would be
/// accepted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A setting was given a value it cannot take.
    #[error("{setting}='{value}' {reason}")]
    InvalidSetting {
        /// The setting, as a builder method or variable name.
        setting: &'static str,
        /// The value given, as text.
        value: String,
        /// What is wrong with it and what would be accepted.
        reason: &'static str,
    },
}

impl Error {
    pub(crate) fn invalid(
        setting: &'static str,
        value: impl ToString,
        reason: &'static str,
    ) -> Self {
        Self::InvalidSetting {
            setting,
            value: value.to_string(),
            reason,
        }
    }
}
