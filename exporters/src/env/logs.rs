//! How logs are written: `LOG_LEVEL` and `JSON_LOGS`.

use tracing_core::LevelFilter;

use super::read::text;
use super::{InvalidSetting, ReadVar, parse_bool};

/// The lowest level logged, from `LOG_LEVEL`: `trace`, `debug`, `info`,
/// `warn` (or `warning`), `error` or `off`, in any case; `None` when unset.
///
/// ```
/// use autotel_exporters::env;
/// use tracing_core::LevelFilter;
///
/// let read = |_: &'static str| Ok(Some("Warning".to_owned()));
/// assert_eq!(env::log_level(&read)?, Some(LevelFilter::WARN));
/// # Ok::<(), env::InvalidSetting>(())
/// ```
///
/// # Errors
///
/// For any other value, or one that `read` could not read.
pub fn log_level(read: ReadVar<'_>) -> Result<Option<LevelFilter>, InvalidSetting> {
    let Some(value) = text(read, "LOG_LEVEL")? else {
        return Ok(None);
    };
    let level = match value.trim().to_ascii_lowercase().as_str() {
        "trace" => LevelFilter::TRACE,
        "debug" => LevelFilter::DEBUG,
        "info" => LevelFilter::INFO,
        "warn" | "warning" => LevelFilter::WARN,
        "error" => LevelFilter::ERROR,
        "off" => LevelFilter::OFF,
        _ => {
            return Err(InvalidSetting::new(
                "LOG_LEVEL",
                value,
                "is not a log level (trace, debug, info, warn, error or off)",
            ));
        }
    };
    Ok(Some(level))
}

/// Whether log lines are JSON, from `JSON_LOGS` (a boolean as
/// [`parse_bool`] reads it), with the text it was given for messages about
/// it; `None` when unset.
///
/// # Errors
///
/// When the value is not a boolean, or `read` could not read it.
pub fn json_logs(read: ReadVar<'_>) -> Result<Option<(bool, String)>, InvalidSetting> {
    let Some(value) = text(read, "JSON_LOGS")? else {
        return Ok(None);
    };
    let json = parse_bool("JSON_LOGS", &value)?;
    Ok(Some((json, value)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::read::tests_support::vars;

    #[test]
    fn levels_are_read_in_any_case_and_others_refused() {
        let level = |value| log_level(&vars(&[("LOG_LEVEL", value)]));
        assert_eq!(level("TRACE"), Ok(Some(LevelFilter::TRACE)));
        assert_eq!(level(" warning "), Ok(Some(LevelFilter::WARN)));
        assert_eq!(level("off"), Ok(Some(LevelFilter::OFF)));
        assert_eq!(level(""), Ok(None));
        assert_eq!(
            level("loud").unwrap_err().to_string(),
            "LOG_LEVEL='loud' is not a log level (trace, debug, info, warn, error or off)"
        );
    }

    #[test]
    fn json_logs_keeps_the_text_it_was_given() {
        let json = |value| json_logs(&vars(&[("JSON_LOGS", value)]));
        assert_eq!(json("0"), Ok(Some((false, "0".to_owned()))));
        assert_eq!(json("Yes"), Ok(Some((true, "Yes".to_owned()))));
        assert_eq!(json_logs(&vars(&[])), Ok(None));
        let error = json("maybe").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("JSON_LOGS='maybe' is not a boolean"),
            "{error}"
        );
    }
}
