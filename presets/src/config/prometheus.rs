//! Where the Prometheus endpoint listens and which credentials it asks for:
//! `PROMETHEUS_PORT`, `PROMETHEUS_BIND`, `PROMETHEUS_BASIC_AUTH` and
//! `PROMETHEUS_BEARER_TOKEN`.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[cfg(feature = "prometheus")]
use autotel_exporters::prometheus::{Prometheus, PrometheusError};

use super::Listen;
use crate::Error;

use autotel_exporters::env::REDACTED;

/// The default Prometheus port.
#[cfg(feature = "prometheus")]
const DEFAULT_PROMETHEUS_PORT: u16 = autotel_exporters::prometheus::DEFAULT_PORT;
/// The default Prometheus port.
#[cfg(not(feature = "prometheus"))]
const DEFAULT_PROMETHEUS_PORT: u16 = 9464;

/// The credentials the endpoint asks for. `Debug` never shows them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum PrometheusAuth {
    /// `PROMETHEUS_BASIC_AUTH=user:password`.
    Basic { user: String, password: String },
    /// `PROMETHEUS_BEARER_TOKEN=token`.
    Bearer(String),
}

impl fmt::Debug for PrometheusAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Basic { .. } => f.write_str("Basic([REDACTED])"),
            Self::Bearer(_) => f.write_str("Bearer([REDACTED])"),
        }
    }
}

impl PrometheusAuth {
    /// `builder` asking for these credentials.
    #[cfg(feature = "prometheus")]
    pub(crate) fn apply(&self, builder: Prometheus) -> Result<Prometheus, PrometheusError> {
        match self {
            Self::Basic { user, password } => builder.with_basic_auth(user, password),
            Self::Bearer(token) => builder.with_bearer_token(token),
        }
    }

    /// How the start line names it.
    pub(crate) fn scheme(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "basic auth",
            Self::Bearer(_) => "bearer token",
        }
    }
}

/// The endpoint's address and credentials from the code's port (`code_port`)
/// and the variables read by `var`; `enabled` is false when the code turned
/// Prometheus off, `testing` keeps it in memory unless a port or address is
/// given.
pub(super) fn resolve(
    enabled: bool,
    code_port: Option<u16>,
    testing: bool,
    var: &dyn Fn(&str) -> Option<String>,
) -> Result<(Listen, Option<PrometheusAuth>), Error> {
    let env_port = var("PROMETHEUS_PORT")
        .map(|value| {
            value.trim().parse::<u16>().map_err(|_| {
                Error::invalid(
                    "PROMETHEUS_PORT",
                    value,
                    "is not a port number (1-65535, or 0 for any free port)",
                )
            })
        })
        .transpose()?;
    let bind = var("PROMETHEUS_BIND")
        .map(|value| parse_bind(&value))
        .transpose()?;
    let bind_port = bind.and_then(|(_, port)| port);
    if let (Some(bind_port), Some(env_port)) = (bind_port, env_port)
        && bind_port != env_port
    {
        return Err(Error::invalid(
            "PROMETHEUS_BIND",
            var("PROMETHEUS_BIND").unwrap_or_default(),
            "names a port other than PROMETHEUS_PORT; give the port in only one of them",
        ));
    }
    let auth = resolve_auth(var)?;
    let ip = bind.map(|(ip, _)| ip);
    let port = code_port.or(bind_port).or(env_port);
    let listen = match (enabled, ip, port) {
        (false, _, _) => Listen::Off,
        (true, None, None) if testing => Listen::InMemory,
        (true, ip, port) => Listen::On(SocketAddr::new(
            ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            port.unwrap_or(DEFAULT_PROMETHEUS_PORT),
        )),
    };
    Ok((listen, auth))
}

/// `PROMETHEUS_BIND`: an IP address (`127.0.0.1`, `::1`, `[::1]`) or an
/// address with a port (`127.0.0.1:9464`, `[::1]:9464`).
fn parse_bind(value: &str) -> Result<(IpAddr, Option<u16>), Error> {
    let trimmed = value.trim();
    if let Ok(address) = trimmed.parse::<SocketAddr>() {
        return Ok((address.ip(), Some(address.port())));
    }
    let bare = trimmed
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(trimmed);
    bare.parse::<IpAddr>().map(|ip| (ip, None)).map_err(|_| {
        Error::invalid(
            "PROMETHEUS_BIND",
            value,
            "is not an IP address or IP:port (for example 127.0.0.1, ::1 or 127.0.0.1:9464)",
        )
    })
}

/// `PROMETHEUS_BASIC_AUTH` or `PROMETHEUS_BEARER_TOKEN`, checked as the
/// exporter will check them; errors never show the value.
fn resolve_auth(var: &dyn Fn(&str) -> Option<String>) -> Result<Option<PrometheusAuth>, Error> {
    let auth = match (var("PROMETHEUS_BASIC_AUTH"), var("PROMETHEUS_BEARER_TOKEN")) {
        (Some(_), Some(_)) => {
            return Err(Error::invalid(
                "PROMETHEUS_BEARER_TOKEN",
                REDACTED,
                "cannot be combined with PROMETHEUS_BASIC_AUTH: \
                 the endpoint asks for one kind of credentials; unset one of them",
            ));
        }
        (Some(pair), None) => {
            let Some((user, password)) = pair.split_once(':') else {
                return Err(Error::invalid(
                    "PROMETHEUS_BASIC_AUTH",
                    REDACTED,
                    "is not user:password (a user name, a colon, then the password)",
                ));
            };
            PrometheusAuth::Basic {
                user: user.to_owned(),
                password: password.to_owned(),
            }
        }
        (None, Some(token)) => PrometheusAuth::Bearer(token.trim().to_owned()),
        (None, None) => return Ok(None),
    };
    #[cfg(not(feature = "prometheus"))]
    return Ok(Some(auth));
    #[cfg(feature = "prometheus")]
    match (&auth, auth.apply(Prometheus::new())) {
        (_, Ok(_)) => Ok(Some(auth)),
        (PrometheusAuth::Basic { .. }, Err(_)) => Err(Error::invalid(
            "PROMETHEUS_BASIC_AUTH",
            REDACTED,
            "is not usable: give user:password with a non-empty user name \
             and no control characters",
        )),
        (PrometheusAuth::Bearer(_), Err(_)) => Err(Error::invalid(
            "PROMETHEUS_BEARER_TOKEN",
            REDACTED,
            "is not a usable bearer token: give letters, digits and -._~+/= only",
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve_with(
        code_port: Option<u16>,
        testing: bool,
        vars: &[(&str, &str)],
    ) -> Result<(Listen, Option<PrometheusAuth>), Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(true, code_port, testing, &|name| vars.get(name).cloned())
    }

    fn on(address: &str) -> Listen {
        Listen::On(address.parse().unwrap())
    }

    #[test]
    fn bind_sets_the_address_and_maybe_the_port() {
        let listen = |vars: &[(&str, &str)]| resolve_with(None, false, vars).unwrap().0;
        assert_eq!(listen(&[]), on("0.0.0.0:9464"));
        assert_eq!(
            listen(&[("PROMETHEUS_BIND", "127.0.0.1")]),
            on("127.0.0.1:9464")
        );
        assert_eq!(listen(&[("PROMETHEUS_BIND", "::1")]), on("[::1]:9464"));
        assert_eq!(listen(&[("PROMETHEUS_BIND", "[::1]")]), on("[::1]:9464"));
        assert_eq!(
            listen(&[("PROMETHEUS_BIND", "[::1]:9100")]),
            on("[::1]:9100")
        );
        assert_eq!(
            listen(&[
                ("PROMETHEUS_BIND", "10.0.0.5:9100"),
                ("PROMETHEUS_PORT", "9100")
            ]),
            on("10.0.0.5:9100")
        );
        assert_eq!(
            listen(&[
                ("PROMETHEUS_BIND", "127.0.0.1"),
                ("PROMETHEUS_PORT", "9200")
            ]),
            on("127.0.0.1:9200")
        );
        // The code's port wins; the address stays.
        let code = resolve_with(Some(9300), false, &[("PROMETHEUS_BIND", "127.0.0.1:9100")]);
        assert_eq!(code.unwrap().0, on("127.0.0.1:9300"));
        // Testing opens a socket only when asked.
        assert_eq!(resolve_with(None, true, &[]).unwrap().0, Listen::InMemory);
        let testing = resolve_with(None, true, &[("PROMETHEUS_BIND", "127.0.0.1")]);
        assert_eq!(testing.unwrap().0, on("127.0.0.1:9464"));
    }

    #[test]
    fn credentials_are_read_and_never_printed() {
        let (_, auth) =
            resolve_with(None, false, &[("PROMETHEUS_BASIC_AUTH", "prom:pa:ss")]).unwrap();
        let auth = auth.unwrap();
        assert_eq!(
            auth,
            PrometheusAuth::Basic {
                user: "prom".into(),
                password: "pa:ss".into()
            }
        );
        assert_eq!(format!("{auth:?}"), "Basic([REDACTED])");
        let (_, auth) = resolve_with(None, false, &[("PROMETHEUS_BEARER_TOKEN", "t0ken")]).unwrap();
        assert_eq!(auth, Some(PrometheusAuth::Bearer("t0ken".into())));
        assert_eq!(resolve_with(None, false, &[]).unwrap().1, None);
    }

    #[test]
    fn bad_values_name_the_variable_and_hide_secrets() {
        let cases: [(&[(&str, &str)], &str); 7] = [
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
        for (vars, expected) in cases {
            let message = resolve_with(None, false, vars).unwrap_err().to_string();
            assert!(message.starts_with(expected), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }
}
