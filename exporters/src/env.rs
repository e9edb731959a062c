//! Reading configuration from environment variables, one way for every crate.
//!
//! - [`var`] reads a variable: unset and blank are `None`, a value that is not
//!   UTF-8 is an error naming the variable (never silently "unset").
//! - [`parse_bool`] accepts one vocabulary everywhere: `true`/`false`,
//!   `1`/`0`, `yes`/`no`, `on`/`off`, in any case.
//! - [`parse_endpoint`] checks an OTLP collector URL (`http://`, `https://`,
//!   or no scheme, which means `http://`), and [`redact_url`] strips the
//!   credentials out of one for logs and errors.
//! - [`parse_key_values`] reads the W3C-baggage-like lists of
//!   `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`.
//!
//! Errors name the variable (or builder method) and the value, and say what
//! would be accepted:
//!
//! ```
//! use autotel_exporters::env;
//!
//! let error = env::parse_bool("OTEL_SDK_DISABLED", "sure").unwrap_err();
//! assert_eq!(
//!     error.to_string(),
//!     "OTEL_SDK_DISABLED='sure' is not a boolean (true or false, 1 or 0, yes or no, on or off)"
//! );
//! assert!(env::parse_bool("OTEL_SDK_DISABLED", "ON")?);
//!
//! let endpoint = env::parse_endpoint("OTLP_ENDPOINT", "otel-collector:4317")?;
//! assert_eq!(endpoint.url(), "http://otel-collector:4317");
//! assert_eq!(endpoint.port(), 4317);
//! # Ok::<(), env::InvalidSetting>(())
//! ```

use std::fmt;

/// A setting, or the environment variable behind it, with an unusable value.
///
/// The value shown has its secrets removed (URL credentials, header values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSetting {
    setting: &'static str,
    value: String,
    expected: &'static str,
}

impl InvalidSetting {
    /// A new error: `setting` has `value` (already stripped of secrets), and
    /// `expected` says what is wrong and what would be accepted, starting
    /// with a verb ("is not a boolean (...)").
    pub fn new(setting: &'static str, value: impl Into<String>, expected: &'static str) -> Self {
        Self {
            setting,
            value: value.into(),
            expected,
        }
    }

    /// The environment variable or builder method.
    pub fn setting(&self) -> &'static str {
        self.setting
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

/// The value of the environment variable `name`: `None` when unset or blank.
///
/// # Errors
///
/// When the value is not UTF-8 (shown with the bad bytes replaced).
pub fn var(name: &'static str) -> Result<Option<String>, InvalidSetting> {
    from_os(name, std::env::var_os(name))
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
            Err(raw) => Err(InvalidSetting::new(
                name,
                raw.to_string_lossy(),
                "is not valid UTF-8; set it to a UTF-8 value or unset it",
            )),
        },
    }
}

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

/// A checked collector URL: scheme `http` or `https`, a host, a port, and a
/// path without a trailing slash.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    https: bool,
    /// Everything after `scheme://`, up to the path.
    authority: String,
    port: u16,
    explicit_port: bool,
    path: String,
}

impl Endpoint {
    /// The URL as it is used: `scheme://authority/path`, credentials
    /// included.
    pub fn url(&self) -> String {
        format!("{}://{}{}", self.scheme(), self.authority, self.path)
    }

    /// The URL without credentials, for logs and errors.
    pub fn redacted(&self) -> String {
        redact_url(&self.url())
    }

    /// `http` or `https`.
    pub fn scheme(&self) -> &'static str {
        if self.https { "https" } else { "http" }
    }

    /// Whether the URL asks for TLS.
    pub fn is_https(&self) -> bool {
        self.https
    }

    /// The port, the scheme's default (80 or 443) when the URL names none.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether the URL names its port.
    pub fn has_port(&self) -> bool {
        self.explicit_port
    }

    /// The path, without a trailing slash (empty for none).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// This URL with `suffix` appended to its path.
    pub fn join(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.url())
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Endpoint").field(&self.redacted()).finish()
    }
}

/// Checks an OTLP collector URL. Without a scheme (`otel-collector:4317`) it
/// is `http://`; `https://` asks for TLS. The port must be 1-65535; a query
/// or a fragment is refused, since the `/v1/...` path of OTLP/HTTP would
/// land after it.
///
/// # Errors
///
/// Naming `setting` and the value without its credentials.
pub fn parse_endpoint(setting: &'static str, value: &str) -> Result<Endpoint, InvalidSetting> {
    let text = value.trim();
    let invalid = |expected| Err(InvalidSetting::new(setting, redact_url(text), expected));
    let (https, rest) = match text.split_once("://") {
        Some((scheme, rest)) if !scheme.contains(['/', '?', '#', '@']) => {
            match scheme.to_ascii_lowercase().as_str() {
                "http" => (false, rest),
                "https" => (true, rest),
                _ => {
                    return invalid(
                        "does not start with http:// or https:// (an OTLP collector URL such as http://otel-collector:4317)",
                    );
                }
            }
        }
        _ => (false, text),
    };
    if rest.contains(['?', '#']) {
        return invalid(
            "has a query or a fragment, after which the /v1/... path would land; remove it",
        );
    }
    if rest.contains(char::is_whitespace) {
        return invalid("contains blanks; an OTLP collector URL has none");
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
        match bracketed.split_once(']') {
            Some((ip, after)) if !ip.is_empty() => (ip, after.strip_prefix(':')),
            _ => return invalid("has an unclosed [ in its IPv6 address"),
        }
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return invalid("has no host (an OTLP collector URL such as http://otel-collector:4317)");
    }
    let (port, explicit_port) = match port {
        None => (if https { 443 } else { 80 }, false),
        Some(port) => match port.parse::<u16>() {
            Ok(port) if port >= 1 => (port, true),
            _ => return invalid("has a port that is not a number from 1 to 65535"),
        },
    };
    Ok(Endpoint {
        https,
        authority: authority.to_owned(),
        port,
        explicit_port,
        path: path.trim_end_matches('/').to_owned(),
    })
}

/// `url` without user information (`user:secret@`), query or fragment, for
/// logs and errors.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) if !scheme.contains(['/', '?', '#', '@']) => (Some(scheme), rest),
        _ => (None, url),
    };
    let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
    let host = match authority.rsplit_once('@') {
        Some((_, host)) => format!("[redacted]@{host}"),
        None => authority.to_owned(),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    match scheme {
        Some(scheme) => format!("{scheme}://{host}{path}"),
        None => format!("{host}{path}"),
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
                    Some((key, _)) => format!("{}=[redacted]", key.trim()),
                    None => "[redacted]".to_owned(),
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
    fn endpoints_without_a_scheme_are_http_and_https_is_accepted() {
        let plain = parse_endpoint("E", "otel-collector:4317").unwrap();
        assert_eq!(plain.url(), "http://otel-collector:4317");
        assert!(!plain.is_https());
        let tls = parse_endpoint("E", " HTTPS://collector.example.com/otlp/ ").unwrap();
        assert_eq!(tls.url(), "https://collector.example.com/otlp");
        assert_eq!((tls.port(), tls.has_port()), (443, false));
        assert_eq!(tls.path(), "/otlp");
        let v6 = parse_endpoint("E", "http://[::1]:4318").unwrap();
        assert_eq!(v6.port(), 4318);
        assert_eq!(v6.join("/v1/traces"), "http://[::1]:4318/v1/traces");
    }

    #[test]
    fn bad_endpoints_name_the_setting_and_hide_credentials() {
        let cases = [
            (
                "http://c:99999",
                "has a port that is not a number from 1 to 65535",
            ),
            ("http://c:0", "has a port that is not a number"),
            ("http://c:port", "has a port that is not a number"),
            ("http://c:4318?x=1", "has a query or a fragment"),
            ("http://c:4318/#frag", "has a query or a fragment"),
            ("ftp://c:21", "does not start with http:// or https://"),
            ("http://:4317", "has no host"),
            ("http://", "has no host"),
            ("http://c 1:4317", "contains blanks"),
        ];
        for (value, expected) in cases {
            let error = parse_endpoint("OTLP_ENDPOINT", value).unwrap_err();
            assert_eq!(error.setting(), "OTLP_ENDPOINT");
            assert!(error.expected().starts_with(expected), "{value}: {error}");
        }
        let error = parse_endpoint("OTLP_ENDPOINT", "http://user:hunter2@c:99999/p?token=abc")
            .unwrap_err()
            .to_string();
        assert!(
            !error.contains("hunter2") && !error.contains("abc"),
            "{error}"
        );
        assert!(
            error.starts_with("OTLP_ENDPOINT='http://[redacted]@c:99999/p'"),
            "{error}"
        );
        let with_user = parse_endpoint("E", "https://user:pw@c:4318").unwrap();
        assert_eq!(
            format!("{with_user:?}"),
            "Endpoint(\"https://[redacted]@c:4318\")"
        );
        assert_eq!(with_user.url(), "https://user:pw@c:4318");
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
        assert!(error.contains("api-key=[redacted]"), "{error}");
    }
}
