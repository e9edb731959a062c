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

/// `max_series` if it can cap a metric's label sets (at least 1), else the
/// error for `setting`.
pub(crate) fn check_max_series(setting: &'static str, max_series: usize) -> Result<usize, Error> {
    if max_series == 0 {
        return Err(Error::invalid(
            setting,
            max_series,
            "is not a series cap: give at least 1 (label sets past the cap go to the overflow series)",
        ));
    }
    Ok(max_series)
}
