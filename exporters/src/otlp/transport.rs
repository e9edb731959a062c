//! Where and how each signal travels: the endpoint and protocol rule,
//! headers, compression, timeout and TLS files, resolved from the builder
//! and the standard variables.

use std::time::Duration;

use super::OtlpError;
use super::protocol::{GENERAL, Protocol, Signal};
use super::tls::{NamedFile, Tls, TlsFiles};
use crate::env::{self, Endpoint, InvalidSetting};

/// The export timeout when nothing sets one.
pub(crate) const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// What the builder set, before the environment fills the rest.
#[derive(Debug, Clone, Default)]
pub(crate) struct CodeSettings {
    pub(crate) endpoint: Option<Endpoint>,
    pub(crate) protocol: Option<Protocol>,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) gzip: Option<bool>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) tls: TlsFiles,
}

/// Reads one variable; injectable for tests.
pub(crate) use crate::env::ReadVar;

/// Everything one signal's exporter needs.
#[derive(Clone)]
pub(crate) struct SignalConfig {
    pub(crate) signal: Signal,
    pub(crate) protocol: Protocol,
    /// The endpoint, as configured (for gRPC, the URL used).
    pub(crate) endpoint: Endpoint,
    /// The URL requests go to.
    pub(crate) url: String,
    /// Header names and values; never shown.
    pub(crate) headers: Vec<(String, String)>,
    /// Which setting gave the headers, for errors.
    pub(crate) headers_setting: &'static str,
    pub(crate) gzip: bool,
    pub(crate) timeout: Duration,
    pub(crate) tls: Option<Tls>,
}

impl std::fmt::Debug for SignalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let header_names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("SignalConfig")
            .field("signal", &self.signal)
            .field("protocol", &self.protocol)
            .field("url", &env::redact_url(&self.url))
            .field("header_names", &header_names)
            .field("gzip", &self.gzip)
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .finish()
    }
}

/// The first of the signal's variable and the general one that is set.
fn either(
    read: ReadVar<'_>,
    signal: &'static str,
    general: &'static str,
) -> Result<Option<(&'static str, String)>, InvalidSetting> {
    if let Some(value) = read(signal)? {
        return Ok(Some((signal, value)));
    }
    Ok(read(general)?.map(|value| (general, value)))
}

/// Resolves one signal: code first, then the signal's variable, then the
/// general one, then the defaults.
pub(crate) fn resolve(
    signal: Signal,
    code: &CodeSettings,
    read: ReadVar<'_>,
) -> Result<SignalConfig, OtlpError> {
    let vars = signal.vars();

    let protocol = match code.protocol {
        Some(protocol) => Some(protocol),
        None => either(read, vars.protocol, GENERAL.protocol)?
            .map(|(name, value)| Protocol::parse(name, &value))
            .transpose()?,
    };

    // (endpoint, whether `/v1/<signal>` is appended for HTTP)
    let configured = match &code.endpoint {
        Some(endpoint) => Some((endpoint.clone(), true)),
        None => match read(vars.endpoint)? {
            Some(value) => Some((env::parse_endpoint(vars.endpoint, &value)?, false)),
            None => read(GENERAL.endpoint)?
                .map(|value| env::parse_endpoint(GENERAL.endpoint, &value))
                .transpose()?
                .map(|endpoint| (endpoint, true)),
        },
    };
    let protocol = protocol.unwrap_or_else(|| match &configured {
        Some((endpoint, _)) => Protocol::implied_by(endpoint),
        None => Protocol::HttpProtobuf,
    });
    let (endpoint, append) = match configured {
        Some(configured) => configured,
        None => {
            let default = match protocol {
                Protocol::Grpc => "http://localhost:4317",
                Protocol::HttpProtobuf => "http://localhost:4318",
            };
            (env::parse_endpoint("default endpoint", default)?, true)
        }
    };
    let url = match protocol {
        Protocol::Grpc => endpoint.url(),
        Protocol::HttpProtobuf if append => {
            let base = endpoint.url();
            let base = ["/v1/traces", "/v1/logs", "/v1/metrics"]
                .iter()
                .find_map(|path| base.strip_suffix(path))
                .unwrap_or(&base);
            format!("{base}{}", signal.path())
        }
        Protocol::HttpProtobuf => endpoint.url(),
    };

    let mut headers = Vec::new();
    let mut headers_setting = "Otlp::with_header";
    for name in [GENERAL.headers, vars.headers] {
        if let Some(value) = read(name)? {
            for (key, value) in env::parse_key_values(name, &value, true)? {
                check_header(name, &key, &value)?;
                headers.retain(|(k, _): &(String, String)| !k.eq_ignore_ascii_case(&key));
                headers.push((key, value));
            }
            headers_setting = name;
        }
    }
    for (key, value) in &code.headers {
        check_header("Otlp::with_header", key, value)?;
        headers.retain(|(k, _): &(String, String)| !k.eq_ignore_ascii_case(key));
        headers.push((key.clone(), value.clone()));
    }

    let gzip = match code.gzip {
        Some(gzip) => gzip,
        None => match either(read, vars.compression, GENERAL.compression)? {
            None => false,
            Some((name, value)) => match value.trim().to_ascii_lowercase().as_str() {
                "gzip" => true,
                "none" => false,
                _ => {
                    return Err(OtlpError::config(
                        name,
                        value,
                        "is not a supported compression (gzip or none)",
                    ));
                }
            },
        },
    };

    let timeout = match code.timeout {
        Some(timeout) => timeout,
        None => match either(read, vars.timeout, GENERAL.timeout)? {
            None => DEFAULT_EXPORT_TIMEOUT,
            Some((name, value)) => match value.trim().parse::<u64>() {
                Ok(ms) if ms > 0 => Duration::from_millis(ms),
                _ => {
                    return Err(OtlpError::config(
                        name,
                        value,
                        "is not a timeout in milliseconds (a whole number above 0, such as 10000)",
                    ));
                }
            },
        },
    };

    let file = |code: &Option<NamedFile>, signal_var, general_var| {
        Ok::<_, InvalidSetting>(match code {
            Some(file) => Some(file.clone()),
            None => either(read, signal_var, general_var)?.map(|(setting, path)| NamedFile {
                setting,
                path: path.trim().into(),
            }),
        })
    };
    let files = TlsFiles {
        ca: file(&code.tls.ca, vars.certificate, GENERAL.certificate)?,
        client_certificate: file(
            &code.tls.client_certificate,
            vars.client_certificate,
            GENERAL.client_certificate,
        )?,
        client_key: file(&code.tls.client_key, vars.client_key, GENERAL.client_key)?,
    };
    let tls = if endpoint.is_https() {
        Some(files.load()?)
    } else {
        None
    };

    Ok(SignalConfig {
        signal,
        protocol,
        endpoint,
        url,
        headers,
        headers_setting,
        gzip,
        timeout,
        tls,
    })
}

/// `Err` unless HTTP (and gRPC) accept this header; the value is never shown.
fn check_header(setting: &'static str, key: &str, value: &str) -> Result<(), OtlpError> {
    use reqwest::header::{HeaderName, HeaderValue};
    let name_ok = HeaderName::from_bytes(key.as_bytes()).is_ok();
    let value_ok = HeaderValue::from_str(value).is_ok();
    if name_ok && value_ok {
        Ok(())
    } else {
        Err(OtlpError::config(
            setting,
            format!("{key}=[REDACTED]"),
            "has a header name or value that HTTP does not allow (names are tokens such as x-api-key; values are visible ASCII)",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn resolve_with(
        signal: Signal,
        code: &CodeSettings,
        vars: &[(&'static str, &str)],
    ) -> Result<SignalConfig, OtlpError> {
        let vars: HashMap<&str, String> = vars.iter().map(|(k, v)| (*k, v.to_string())).collect();
        resolve(signal, code, &|name| Ok(vars.get(name).cloned()))
    }

    fn endpoint(url: &str) -> CodeSettings {
        CodeSettings {
            endpoint: Some(env::parse_endpoint("Otlp::with_endpoint", url).unwrap()),
            ..CodeSettings::default()
        }
    }

    #[test]
    fn the_port_implies_the_protocol_when_nothing_says() {
        let cases = [
            (
                "http://127.0.0.1:4317",
                Protocol::Grpc,
                "http://127.0.0.1:4317",
            ),
            (
                "otel-collector:4317",
                Protocol::Grpc,
                "http://otel-collector:4317",
            ),
            (
                "http://c:4318",
                Protocol::HttpProtobuf,
                "http://c:4318/v1/logs",
            ),
            (
                "https://c/otlp",
                Protocol::HttpProtobuf,
                "https://c/otlp/v1/logs",
            ),
            (
                "http://c:9999/v1/logs",
                Protocol::HttpProtobuf,
                "http://c:9999/v1/logs",
            ),
            (
                "http://c:9999/v1/traces",
                Protocol::HttpProtobuf,
                "http://c:9999/v1/logs",
            ),
            (
                "http://c:9999",
                Protocol::HttpProtobuf,
                "http://c:9999/v1/logs",
            ),
            (
                "http://c:4317/v1/logs",
                Protocol::HttpProtobuf,
                "http://c:4317/v1/logs",
            ),
            ("http://c:4317/otlp", Protocol::Grpc, "http://c:4317/otlp"),
        ];
        for (url, protocol, used) in cases {
            let config = resolve_with(Signal::Logs, &endpoint(url), &[]);
            let config = config.unwrap();
            assert_eq!(config.protocol, protocol, "{url}");
            assert_eq!(config.url, used, "{url}");
        }
    }

    #[test]
    fn code_then_signal_variable_then_general_variable_choose_the_protocol() {
        let grpc_port = endpoint("http://c:4317");
        let config = resolve_with(
            Signal::Traces,
            &grpc_port,
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")],
        )
        .unwrap();
        assert_eq!(config.protocol, Protocol::HttpProtobuf);
        assert_eq!(config.url, "http://c:4317/v1/traces");
        let config = resolve_with(
            Signal::Traces,
            &grpc_port,
            &[
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
                ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "GRPC"),
            ],
        )
        .unwrap();
        assert_eq!(config.protocol, Protocol::Grpc);
        let code = CodeSettings {
            protocol: Some(Protocol::HttpProtobuf),
            ..grpc_port.clone()
        };
        let config = resolve_with(
            Signal::Traces,
            &code,
            &[("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")],
        )
        .unwrap();
        assert_eq!(config.protocol, Protocol::HttpProtobuf);
        let error = resolve_with(
            Signal::Metrics,
            &grpc_port,
            &[("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json")],
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL='http/json'"),
            "{error}"
        );
    }

    #[test]
    fn signal_endpoints_are_used_as_they_are_and_general_ones_get_the_path() {
        let none = CodeSettings::default();
        let vars = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://general:4318"),
            (
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "http://traces:9000/custom",
            ),
        ];
        let traces = resolve_with(Signal::Traces, &none, &vars).unwrap();
        assert_eq!(traces.url, "http://traces:9000/custom");
        let logs = resolve_with(Signal::Logs, &none, &vars).unwrap();
        assert_eq!(logs.url, "http://general:4318/v1/logs");
        let default = resolve_with(Signal::Metrics, &none, &[]).unwrap();
        assert_eq!(default.url, "http://localhost:4318/v1/metrics");
        let grpc_default = resolve_with(
            Signal::Metrics,
            &none,
            &[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")],
        )
        .unwrap();
        assert_eq!(grpc_default.url, "http://localhost:4317");
        let error = resolve_with(
            Signal::Logs,
            &none,
            &[("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://u:pw@c:70000")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT='http://[REDACTED]@c:70000'"),
            "{error}"
        );
    }

    #[test]
    fn headers_merge_with_code_winning_and_never_show_their_values() {
        let code = CodeSettings {
            headers: vec![("X-Team".into(), "code".into())],
            ..CodeSettings::default()
        };
        let config = resolve_with(
            Signal::Traces,
            &code,
            &[
                ("OTEL_EXPORTER_OTLP_HEADERS", "x-team=env,api-key=s%3Dcret"),
                ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-trace=1"),
            ],
        )
        .unwrap();
        let mut headers = config.headers.clone();
        headers.sort();
        assert_eq!(
            headers,
            vec![
                ("X-Team".to_owned(), "code".to_owned()),
                ("api-key".to_owned(), "s=cret".to_owned()),
                ("x-trace".to_owned(), "1".to_owned()),
            ]
        );
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("s=cret") && !shown.contains("code\""),
            "{shown}"
        );
        let error = resolve_with(
            Signal::Traces,
            &CodeSettings::default(),
            &[("OTEL_EXPORTER_OTLP_HEADERS", "api-key=line%0Abreak")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("OTEL_EXPORTER_OTLP_HEADERS='api-key=[REDACTED]'"),
            "{error}"
        );
        assert!(!error.contains("break"), "{error}");
    }

    #[test]
    fn compression_and_timeout_follow_the_variables() {
        let none = CodeSettings::default();
        let config = resolve_with(
            Signal::Logs,
            &none,
            &[
                ("OTEL_EXPORTER_OTLP_COMPRESSION", "GZIP"),
                ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "2500"),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "bad, but the signal's wins"),
            ],
        )
        .unwrap();
        assert!(config.gzip);
        assert_eq!(config.timeout, Duration::from_millis(2500));
        let error = resolve_with(
            Signal::Logs,
            &none,
            &[("OTEL_EXPORTER_OTLP_COMPRESSION", "zstd")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("OTEL_EXPORTER_OTLP_COMPRESSION='zstd'"),
            "{error}"
        );
        let error = resolve_with(
            Signal::Logs,
            &none,
            &[("OTEL_EXPORTER_OTLP_TIMEOUT", "10s")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("OTEL_EXPORTER_OTLP_TIMEOUT='10s'"),
            "{error}"
        );
    }

    #[test]
    fn tls_files_that_cannot_be_read_name_their_variable() {
        let error = resolve_with(
            Signal::Traces,
            &endpoint("https://c:4317"),
            &[("OTEL_EXPORTER_OTLP_CERTIFICATE", "/nonexistent/ca.pem")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with("OTEL_EXPORTER_OTLP_CERTIFICATE='/nonexistent/ca.pem' cannot be used: cannot read the CA certificate"),
            "{error}"
        );
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// The traces configuration of an endpoint, without any variable.
    pub(crate) fn config(url: &str) -> SignalConfig {
        let code = CodeSettings {
            endpoint: Some(env::parse_endpoint("Otlp::with_endpoint", url).expect("a valid URL")),
            ..CodeSettings::default()
        };
        resolve(Signal::Traces, &code, &|_| Ok(None)).expect("a valid configuration")
    }
}
