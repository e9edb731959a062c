//! Values in the vocabulary every autotel crate shares: booleans, and the
//! `key=value` lists of the OpenTelemetry variables.

use super::InvalidSetting;

/// A boolean setting: `true`/`false`, `1`/`0`, `yes`/`no`, `on`/`off`, in
/// any case, surrounding blanks ignored.
///
/// # Errors
///
/// For any other value.
pub fn parse_bool(setting: &'static str, value: &str) -> Result<bool, InvalidSetting> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(InvalidSetting::new(
            setting,
            value,
            "is not a boolean (true or false, 1 or 0, yes or no, on or off)",
        )),
    }
}

/// A list `key1=value1,key2=value2` as `OTEL_RESOURCE_ATTRIBUTES` and
/// `OTEL_EXPORTER_OTLP_HEADERS` write it: keys and values percent-decoded and
/// trimmed, empty entries skipped.
///
/// With `secret_values`, values never appear in the error.
///
/// # Errors
///
/// When an entry has no `=`, an empty key, or a percent-decoded part that is
/// not UTF-8.
pub fn parse_key_values(
    setting: &'static str,
    value: &str,
    secret_values: bool,
) -> Result<Vec<(String, String)>, InvalidSetting> {
    let shown = || {
        if secret_values {
            value
                .split(',')
                .map(|entry| match entry.split_once('=') {
                    Some((key, _)) => format!("{}=[REDACTED]", key.trim()),
                    None => "[REDACTED]".to_owned(),
                })
                .collect::<Vec<_>>()
                .join(",")
        } else {
            value.to_owned()
        }
    };
    let mut pairs = Vec::new();
    for entry in value.split(',') {
        if entry.trim().is_empty() {
            continue;
        }
        let Some((key, val)) = entry.split_once('=') else {
            return Err(InvalidSetting::new(
                setting,
                shown(),
                "has an entry without '='; write key1=value1,key2=value2 (percent-encode ',' and '=' inside values)",
            ));
        };
        let decode = |part: &str| {
            percent_encoding::percent_decode_str(part.trim())
                .decode_utf8()
                .map(|s| s.into_owned())
        };
        let (Ok(key), Ok(val)) = (decode(key), decode(val)) else {
            return Err(InvalidSetting::new(
                setting,
                shown(),
                "has a percent-encoded part that is not UTF-8",
            ));
        };
        if key.is_empty() {
            return Err(InvalidSetting::new(
                setting,
                shown(),
                "has an entry with an empty key; write key1=value1,key2=value2",
            ));
        }
        pairs.push((key, val));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_share_one_vocabulary() {
        for yes in ["true", "TRUE", " 1 ", "yes", "On"] {
            assert!(parse_bool("B", yes).unwrap(), "{yes}");
        }
        for no in ["false", "False", "0", "NO", "off"] {
            assert!(!parse_bool("B", no).unwrap(), "{no}");
        }
        let error = parse_bool("OTEL_SDK_DISABLED", "2").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("OTEL_SDK_DISABLED='2' is not a boolean")
        );
    }

    #[test]
    fn key_values_are_percent_decoded_and_malformed_pairs_refused() {
        let pairs = parse_key_values("R", "team=pay%20ments, k8s.pod=a%2Cb,,", false).unwrap();
        assert_eq!(
            pairs,
            vec![
                ("team".into(), "pay ments".into()),
                ("k8s.pod".into(), "a,b".into())
            ]
        );
        for bad in ["novalue", "=v", " =v", "a=b,c", "k=%ff"] {
            let error = parse_key_values("OTEL_RESOURCE_ATTRIBUTES", bad, false).unwrap_err();
            assert_eq!(error.setting(), "OTEL_RESOURCE_ATTRIBUTES", "{bad}");
        }
        let error = parse_key_values("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cret,broken", true)
            .unwrap_err()
            .to_string();
        assert!(!error.contains("s3cret"), "{error}");
        assert!(error.contains("api-key=[REDACTED]"), "{error}");
    }
}
