//! Where the Prometheus `/metrics` endpoint listens and which credentials it
//! asks for: `PROMETHEUS_PORT`, `PROMETHEUS_BIND`, `PROMETHEUS_BASIC_AUTH`
//! and `PROMETHEUS_BEARER_TOKEN`.
//!
//! They are read whatever the features this crate was built with, so that a
//! program built without the Prometheus exporter can still tell that they
//! are set; the credentials are checked by the rules the endpoint applies.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use super::read::text;
use super::{InvalidSetting, REDACTED, ReadVar};

/// The address that `PROMETHEUS_BIND` and `PROMETHEUS_PORT` give the
/// endpoint; either part may be missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PrometheusAddress {
    ip: Option<IpAddr>,
    port: Option<u16>,
}

impl PrometheusAddress {
    /// The IP address of `PROMETHEUS_BIND`.
    pub fn ip(&self) -> Option<IpAddr> {
        self.ip
    }

    /// The port of `PROMETHEUS_BIND` (when it is `IP:port`), else of
    /// `PROMETHEUS_PORT`; 0 asks for any free port.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

/// Reads `PROMETHEUS_PORT` (a port number, 0 for any free port) and
/// `PROMETHEUS_BIND` (an IP address such as `127.0.0.1`, `::1` or `[::1]`,
/// or an address with a port such as `127.0.0.1:9464` or `[::1]:9464`).
///
/// # Errors
///
/// Naming the variable: a value of the wrong form, a port in
/// `PROMETHEUS_BIND` other than `PROMETHEUS_PORT`, or a value that `read`
/// could not read.
pub fn prometheus_address(read: ReadVar<'_>) -> Result<PrometheusAddress, InvalidSetting> {
    let port = text(read, "PROMETHEUS_PORT")?
        .map(|value| {
            value.trim().parse::<u16>().map_err(|_| {
                InvalidSetting::new(
                    "PROMETHEUS_PORT",
                    value,
                    "is not a port number (1-65535, or 0 for any free port)",
                )
            })
        })
        .transpose()?;
    let Some(bind) = text(read, "PROMETHEUS_BIND")? else {
        return Ok(PrometheusAddress { ip: None, port });
    };
    let (ip, bind_port) = parse_bind(&bind)?;
    match (bind_port, port) {
        (Some(bind_port), Some(port)) if bind_port != port => Err(InvalidSetting::new(
            "PROMETHEUS_BIND",
            bind,
            "names a port other than PROMETHEUS_PORT; give the port in only one of them",
        )),
        _ => Ok(PrometheusAddress {
            ip: Some(ip),
            port: bind_port.or(port),
        }),
    }
}

/// A `PROMETHEUS_BIND` value: an IP address, with a port or not.
fn parse_bind(value: &str) -> Result<(IpAddr, Option<u16>), InvalidSetting> {
    let trimmed = value.trim();
    if let Ok(address) = trimmed.parse::<SocketAddr>() {
        return Ok((address.ip(), Some(address.port())));
    }
    let bare = trimmed
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(trimmed);
    bare.parse::<IpAddr>().map(|ip| (ip, None)).map_err(|_| {
        InvalidSetting::new(
            "PROMETHEUS_BIND",
            value,
            "is not an IP address or IP:port (for example 127.0.0.1, ::1 or 127.0.0.1:9464)",
        )
    })
}

/// The credentials that `PROMETHEUS_BASIC_AUTH` or `PROMETHEUS_BEARER_TOKEN`
/// ask scrapers for. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub enum PrometheusCredentials {
    /// HTTP basic authentication, from `PROMETHEUS_BASIC_AUTH=user:password`.
    Basic {
        /// The user name.
        user: String,
        /// The password.
        password: String,
    },
    /// A bearer token, from `PROMETHEUS_BEARER_TOKEN`.
    Bearer(String),
}

impl fmt::Debug for PrometheusCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { .. } => f.write_str("Basic([REDACTED])"),
            Self::Bearer(_) => f.write_str("Bearer([REDACTED])"),
        }
    }
}

/// Reads `PROMETHEUS_BASIC_AUTH` (`user:password`, split at the first
/// colon) or `PROMETHEUS_BEARER_TOKEN`; `None` when neither is set.
///
/// # Errors
///
/// Naming the variable, never showing its value: both are set, the pair
/// has no colon, a user name is empty, a control character, a token with
/// characters other than letters, digits and `-._~+/=`, or a value that
/// `read` could not read.
pub fn prometheus_credentials(
    read: ReadVar<'_>,
) -> Result<Option<PrometheusCredentials>, InvalidSetting> {
    match (
        text(read, "PROMETHEUS_BASIC_AUTH")?,
        text(read, "PROMETHEUS_BEARER_TOKEN")?,
    ) {
        (Some(_), Some(_)) => Err(InvalidSetting::new(
            "PROMETHEUS_BEARER_TOKEN",
            REDACTED,
            "cannot be combined with PROMETHEUS_BASIC_AUTH: \
             the endpoint asks for one kind of credentials; unset one of them",
        )),
        (Some(pair), None) => {
            let Some((user, password)) = pair.split_once(':') else {
                return Err(InvalidSetting::new(
                    "PROMETHEUS_BASIC_AUTH",
                    REDACTED,
                    "is not user:password (a user name, a colon, then the password)",
                ));
            };
            if basic_auth_problem(user, password).is_some() {
                return Err(InvalidSetting::new(
                    "PROMETHEUS_BASIC_AUTH",
                    REDACTED,
                    "is not usable: give user:password with a non-empty user name \
                     and no control characters",
                ));
            }
            Ok(Some(PrometheusCredentials::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            }))
        }
        (None, Some(token)) => {
            let token = token.trim();
            if bearer_token_problem(token).is_some() {
                return Err(InvalidSetting::new(
                    "PROMETHEUS_BEARER_TOKEN",
                    REDACTED,
                    "is not a usable bearer token: give letters, digits and -._~+/= only",
                ));
            }
            Ok(Some(PrometheusCredentials::Bearer(token.to_owned())))
        }
        (None, None) => Ok(None),
    }
}

/// Why the endpoint cannot ask for basic authentication with `user` and
/// `password`, if it cannot: the rule of the exporter's builder and of
/// `PROMETHEUS_BASIC_AUTH` alike.
pub(crate) fn basic_auth_problem(user: &str, password: &str) -> Option<&'static str> {
    if user.is_empty() {
        Some("the user name is empty")
    } else if user.contains(':') {
        Some("the user name contains ':', which basic authentication cannot carry")
    } else if user.chars().chain(password.chars()).any(char::is_control) {
        Some("the user name or password contains a control character")
    } else {
        None
    }
}

/// Why the endpoint cannot ask for the bearer `token`, if it cannot (RFC 6750
/// allows letters, digits and `-._~+/=`): the rule of the exporter's builder
/// and of `PROMETHEUS_BEARER_TOKEN` alike.
pub(crate) fn bearer_token_problem(token: &str) -> Option<&'static str> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~+/=".contains(c);
    if token.is_empty() {
        Some("the token is empty")
    } else if !token.chars().all(allowed) {
        Some("the token may hold only letters, digits and -._~+/=")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::read::tests_support::vars;

    #[test]
    fn bind_gives_the_address_and_maybe_the_port() {
        let address = |pairs: &[(&str, &str)]| prometheus_address(&vars(pairs)).unwrap();
        let ip = |text: &str| Some(text.parse::<IpAddr>().unwrap());
        assert_eq!(address(&[]), PrometheusAddress::default());
        let local = address(&[("PROMETHEUS_BIND", "127.0.0.1")]);
        assert_eq!((local.ip(), local.port()), (ip("127.0.0.1"), None));
        let v6 = address(&[("PROMETHEUS_BIND", "[::1]")]);
        assert_eq!((v6.ip(), v6.port()), (ip("::1"), None));
        let with_port = address(&[("PROMETHEUS_BIND", "[::1]:9100")]);
        assert_eq!((with_port.ip(), with_port.port()), (ip("::1"), Some(9100)));
        let both = address(&[
            ("PROMETHEUS_BIND", "10.0.0.5:9100"),
            ("PROMETHEUS_PORT", "9100"),
        ]);
        assert_eq!((both.ip(), both.port()), (ip("10.0.0.5"), Some(9100)));
        let port = address(&[("PROMETHEUS_PORT", " 0 ")]);
        assert_eq!((port.ip(), port.port()), (None, Some(0)));
    }

    #[test]
    fn credentials_are_read_and_never_printed() {
        let credentials = |pairs: &[(&str, &str)]| prometheus_credentials(&vars(pairs)).unwrap();
        let basic = credentials(&[("PROMETHEUS_BASIC_AUTH", "prom:pa:ss")]).unwrap();
        assert_eq!(
            basic,
            PrometheusCredentials::Basic {
                user: "prom".into(),
                password: "pa:ss".into()
            }
        );
        assert_eq!(format!("{basic:?}"), "Basic([REDACTED])");
        assert_eq!(
            credentials(&[("PROMETHEUS_BEARER_TOKEN", " t0ken ")]),
            Some(PrometheusCredentials::Bearer("t0ken".into()))
        );
        assert_eq!(credentials(&[]), None);
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_secrets() {
        let cases: [(&[(&str, &str)], &str); 9] = [
            (
                &[("PROMETHEUS_PORT", "abc")],
                "PROMETHEUS_PORT='abc' is not a port number",
            ),
            (
                &[("PROMETHEUS_PORT", "70000")],
                "PROMETHEUS_PORT='70000' is not a port number",
            ),
            (
                &[("PROMETHEUS_BIND", "localhost")],
                "PROMETHEUS_BIND='localhost' is not an IP address or IP:port",
            ),
            (
                &[("PROMETHEUS_BIND", "127.0.0.1:99999")],
                "PROMETHEUS_BIND='127.0.0.1:99999' is not an IP address or IP:port",
            ),
            (
                &[
                    ("PROMETHEUS_BIND", "127.0.0.1:9100"),
                    ("PROMETHEUS_PORT", "9200"),
                ],
                "PROMETHEUS_BIND='127.0.0.1:9100' names a port other than PROMETHEUS_PORT",
            ),
            (
                &[("PROMETHEUS_BASIC_AUTH", "hunter2")],
                "PROMETHEUS_BASIC_AUTH='[REDACTED]' is not user:password",
            ),
            (
                &[("PROMETHEUS_BASIC_AUTH", ":hunter2")],
                "PROMETHEUS_BASIC_AUTH='[REDACTED]' is not usable",
            ),
            (
                &[("PROMETHEUS_BEARER_TOKEN", "hunter2 x")],
                "PROMETHEUS_BEARER_TOKEN='[REDACTED]' is not a usable bearer token",
            ),
            (
                &[
                    ("PROMETHEUS_BEARER_TOKEN", "hunter2"),
                    ("PROMETHEUS_BASIC_AUTH", "a:hunter2"),
                ],
                "PROMETHEUS_BEARER_TOKEN='[REDACTED]' cannot be combined with PROMETHEUS_BASIC_AUTH",
            ),
        ];
        for (pairs, expected) in cases {
            let source = vars(pairs);
            let message = prometheus_address(&source)
                .and_then(|_| prometheus_credentials(&source))
                .unwrap_err()
                .to_string();
            assert!(message.starts_with(expected), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
