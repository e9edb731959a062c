//! OTLP collector URLs: checked, and shown without their credentials.

use std::fmt;

use super::InvalidSetting;

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

/// `host:port`, `host`, `[v6]:port` or `[v6]` as a host and a port
/// (`default_port` when none is written): `None` when the host is empty or
/// the port is not a number from 1 to 65535.
#[cfg_attr(
    not(any(feature = "statsd", feature = "cloudwatch-emf")),
    allow(dead_code)
)]
pub(crate) fn split_host_port(text: &str, default_port: u16) -> Option<(&str, u16)> {
    let port = |text: &str| text.parse::<u16>().ok().filter(|port| *port != 0);
    let (host, port) = if let Some(bracketed) = text.strip_prefix('[') {
        let (host, tail) = bracketed.split_once(']')?;
        match tail {
            "" => (host, default_port),
            tail => (host, port(tail.strip_prefix(':')?)?),
        }
    } else {
        match text.split_once(':') {
            Some((host, text)) => (host, port(text)?),
            None => (text, default_port),
        }
    };
    (!host.is_empty()).then_some((host, port))
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
        Some((_, host)) => format!("[REDACTED]@{host}"),
        None => authority.to_owned(),
    };
    let path = path.split(['?', '#']).next().unwrap_or("");
    match scheme {
        Some(scheme) => format!("{scheme}://{host}{path}"),
        None => format!("{host}{path}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            error.starts_with("OTLP_ENDPOINT='http://[REDACTED]@c:99999/p'"),
            "{error}"
        );
        let with_user = parse_endpoint("E", "https://user:pw@c:4318").unwrap();
        assert_eq!(
            format!("{with_user:?}"),
            "Endpoint(\"https://[REDACTED]@c:4318\")"
        );
        assert_eq!(with_user.url(), "https://user:pw@c:4318");
    }
}
