//! Where the Prometheus endpoint listens and which credentials it asks for:
//! the code's port, and what `autotel_exporters::env` reads from
//! `PROMETHEUS_PORT`, `PROMETHEUS_BIND`, `PROMETHEUS_BASIC_AUTH` and
//! `PROMETHEUS_BEARER_TOKEN`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use autotel_exporters::env::{self, PrometheusCredentials, ReadVar};
#[cfg(feature = "prometheus")]
use autotel_exporters::prometheus::{Prometheus, PrometheusError};

use super::Listen;
use crate::Error;

/// The default Prometheus port.
#[cfg(feature = "prometheus")]
const DEFAULT_PROMETHEUS_PORT: u16 = autotel_exporters::prometheus::DEFAULT_PORT;
/// The default Prometheus port.
#[cfg(not(feature = "prometheus"))]
const DEFAULT_PROMETHEUS_PORT: u16 = 9464;

/// `builder` asking for `credentials`.
#[cfg(feature = "prometheus")]
pub(crate) fn with_credentials(
    builder: Prometheus,
    credentials: &PrometheusCredentials,
) -> Result<Prometheus, PrometheusError> {
    match credentials {
        PrometheusCredentials::Basic { user, password } => builder.with_basic_auth(user, password),
        PrometheusCredentials::Bearer(token) => builder.with_bearer_token(token),
    }
}

/// How the start line names `credentials`.
pub(crate) fn credentials_scheme(credentials: &PrometheusCredentials) -> &'static str {
    match credentials {
        PrometheusCredentials::Basic { .. } => "basic auth",
        PrometheusCredentials::Bearer(_) => "bearer token",
    }
}

/// The endpoint's address and credentials from the code's port (`code_port`)
/// and the variables read by `read`; `enabled` is false when the code turned
/// Prometheus off, `testing` keeps it in memory unless a port or address is
/// given.
pub(super) fn resolve(
    enabled: bool,
    code_port: Option<u16>,
    testing: bool,
    read: ReadVar<'_>,
) -> Result<(Listen, Option<PrometheusCredentials>), Error> {
    let address = env::prometheus_address(read)?;
    let credentials = env::prometheus_credentials(read)?;
    let port = code_port.or(address.port());
    let listen = match (enabled, address.ip(), port) {
        (false, _, _) => Listen::Off,
        (true, None, None) if testing => Listen::InMemory,
        (true, ip, port) => Listen::On(SocketAddr::new(
            ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            port.unwrap_or(DEFAULT_PROMETHEUS_PORT),
        )),
    };
    Ok((listen, credentials))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn resolve_with(
        code_port: Option<u16>,
        testing: bool,
        vars: &[(&str, &str)],
    ) -> Result<(Listen, Option<PrometheusCredentials>), Error> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        resolve(true, code_port, testing, &|name| {
            Ok(vars.get(name).cloned())
        })
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
    fn credentials_come_from_the_variables() {
        let (_, auth) = resolve_with(None, false, &[("PROMETHEUS_BEARER_TOKEN", "t0ken")]).unwrap();
        assert_eq!(auth.as_ref().map(credentials_scheme), Some("bearer token"));
        let error = resolve_with(None, false, &[("PROMETHEUS_BASIC_AUTH", "hunter2")])
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with("PROMETHEUS_BASIC_AUTH='[REDACTED]' is not user:password"),
            "{error}"
        );
        assert!(!error.contains("hunter2"), "{error}");
    }
}
