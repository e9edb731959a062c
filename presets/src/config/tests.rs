//! How code, the environment and the defaults combine.

use super::*;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

fn any_address(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port)
}

fn resolve(code: &Code, vars: &[(&str, &str)]) -> Result<Settings, Error> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    code.resolve("svc", &|name| Ok(vars.get(name).cloned()))
}

fn production() -> Code {
    Code::new(Some(Environment::Production))
}

#[test]
fn code_wins_over_the_environment_which_wins_over_defaults() {
    let settings = resolve(&production(), &[]).unwrap();
    assert_eq!(settings.prometheus, Listen::On(any_address(9464)));
    assert_eq!(settings.log_filter, "info");
    assert_eq!(settings.service_name, "svc");
    assert_eq!(settings.service_version, "0.0.0");

    let vars = [
        ("PROMETHEUS_PORT", "9100"),
        ("LOG_LEVEL", "WARNING"),
        ("SERVICE_NAME", "from-env"),
        ("SERVICE_VERSION", "2.0.0"),
        ("OTLP_ENDPOINT", "http://collector:4318/"),
    ];
    let settings = resolve(&production(), &vars).unwrap();
    assert_eq!(settings.prometheus, Listen::On(any_address(9100)));
    assert_eq!(settings.log_filter, "warn");
    assert_eq!(settings.service_name, "from-env");
    assert_eq!(settings.service_version, "2.0.0");
    assert_eq!(
        settings.otlp,
        OtlpTarget::Endpoint("http://collector:4318".into())
    );

    let mut code = production();
    code.prometheus_port = Some(9200);
    code.log_level = Some("error".into());
    code.service_name = Some("from-code".into());
    code.service_version = Some("3.0.0".into());
    code.otlp_endpoint = Some("http://other:4318".into());
    let settings = resolve(&code, &vars).unwrap();
    assert_eq!(settings.prometheus, Listen::On(any_address(9200)));
    assert_eq!(settings.log_filter, "error");
    assert_eq!(settings.service_name, "from-code");
    assert_eq!(settings.service_version, "3.0.0");
    assert_eq!(
        settings.otlp,
        OtlpTarget::Endpoint("http://other:4318".into())
    );
}

#[test]
fn rust_log_wins_over_log_level_and_otel_service_name_is_read() {
    let vars = [
        ("RUST_LOG", "my_crate=trace,warn"),
        ("LOG_LEVEL", "debug"),
        ("OTEL_SERVICE_NAME", "otel-name"),
    ];
    let settings = resolve(&production(), &vars).unwrap();
    assert_eq!(settings.log_filter, "my_crate=trace,warn");
    assert_eq!(settings.service_name, "otel-name");
    let both = [("SERVICE_NAME", "ours"), ("OTEL_SERVICE_NAME", "otel")];
    assert_eq!(resolve(&production(), &both).unwrap().service_name, "ours");
}

#[test]
fn bad_values_name_the_variable_and_the_value() {
    let cases = [
        (
            "PROMETHEUS_PORT",
            "abc",
            "PROMETHEUS_PORT='abc' is not a port number",
        ),
        (
            "PROMETHEUS_PORT",
            "70000",
            "PROMETHEUS_PORT='70000' is not a port number",
        ),
        ("LOG_LEVEL", "loud", "LOG_LEVEL='loud' is not a log level"),
        ("RUST_LOG", "a=b=c", "RUST_LOG='a=b=c' is not a log filter"),
        ("JSON_LOGS", "maybe", "JSON_LOGS='maybe' is not a boolean"),
        (
            "OTLP_ENDPOINT",
            "ftp://collector:4317",
            "OTLP_ENDPOINT='ftp://collector:4317' does not start with http:// or https://",
        ),
        (
            "OTLP_ENDPOINT",
            "http://u:secret@collector:99999",
            "OTLP_ENDPOINT='http://[REDACTED]@collector:99999' has a port",
        ),
        (
            "OTEL_TRACES_SAMPLER",
            "TraceIdRatio_typo",
            "OTEL_TRACES_SAMPLER='TraceIdRatio_typo' is not a supported sampler",
        ),
        (
            "OTEL_SDK_DISABLED",
            "sure",
            "OTEL_SDK_DISABLED='sure' is not a boolean",
        ),
        (
            "ENVIRONMENT",
            "qa",
            "ENVIRONMENT='qa' is not an environment",
        ),
    ];
    for (name, value, expected) in cases {
        let error = resolve(&Code::new(None), &[(name, value)])
            .unwrap_err()
            .to_string();
        assert!(error.starts_with(expected), "{name}: {error}");
    }
    let mut code = production();
    code.sample_ratio = Some(1.5);
    let error = resolve(&code, &[]).unwrap_err().to_string();
    assert!(
        error.starts_with("Preset::trace_sample_ratio='1.5'"),
        "{error}"
    );
    let mut code = production();
    code.log_level = Some("x=y=z".into());
    let error = resolve(&code, &[]).unwrap_err().to_string();
    assert!(error.starts_with("Preset::log_level='x=y=z'"), "{error}");
}

#[test]
fn json_logs_cannot_be_turned_off_in_production_or_staging() {
    for environment in [Environment::Production, Environment::Staging] {
        let code = Code::new(Some(environment));
        let error = resolve(&code, &[("JSON_LOGS", "false")]).unwrap_err();
        assert!(matches!(
            error,
            Error::JsonLogsRequired {
                setting: "JSON_LOGS",
                ..
            }
        ));
        assert!(error.to_string().contains(environment.as_str()), "{error}");
        let mut code = Code::new(Some(environment));
        code.json_logs = Some(false);
        let error = resolve(&code, &[]).unwrap_err();
        assert!(matches!(
            error,
            Error::JsonLogsRequired {
                setting: "Preset::json_logs",
                ..
            }
        ));
        assert!(
            resolve(&Code::new(Some(environment)), &[("JSON_LOGS", "true")])
                .unwrap()
                .json_logs
        );
    }
    let development = Code::new(Some(Environment::Development));
    assert!(!resolve(&development, &[]).unwrap().json_logs);
    assert!(
        resolve(&development, &[("JSON_LOGS", "1")])
            .unwrap()
            .json_logs
    );
}

#[test]
fn each_environment_has_its_defaults() {
    let of = |environment| resolve(&Code::new(Some(environment)), &[]).unwrap();
    let production = of(Environment::Production);
    assert!(production.json_logs && !production.console_export && production.system_metrics);
    assert_eq!(production.log_filter, "info");
    let staging = of(Environment::Staging);
    assert!(staging.json_logs && !staging.console_export);
    assert_eq!(staging.log_filter, "info");
    let development = of(Environment::Development);
    assert!(!development.json_logs && development.console_export);
    assert_eq!(development.log_filter, "debug");
    assert_eq!(development.prometheus, Listen::On(any_address(9464)));
    let testing = of(Environment::Testing);
    assert!(testing.in_memory && !testing.system_metrics);
    assert_eq!(testing.prometheus, Listen::InMemory);
    for settings in [production, staging, development, testing] {
        assert_eq!(settings.otlp, OtlpTarget::Off, "no endpoint, no OTLP");
        assert!(settings.span_metrics);
    }
}

#[test]
fn the_environment_comes_from_code_then_environment_then_the_build() {
    assert_eq!(
        resolve(&Code::new(None), &[]).unwrap().environment,
        Environment::of_build()
    );
    let staging = [("ENVIRONMENT", "Staging")];
    assert_eq!(
        resolve(&Code::new(None), &staging).unwrap().environment,
        Environment::Staging
    );
    assert_eq!(
        resolve(&production(), &staging).unwrap().environment,
        Environment::Production
    );
}

#[test]
fn otlp_follows_the_standard_variables_and_sdk_disabled() {
    let standard = [("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")];
    assert_eq!(
        resolve(&production(), &standard).unwrap().otlp,
        OtlpTarget::Standard
    );
    let disabled = [
        ("OTLP_ENDPOINT", "http://c:4318"),
        ("OTEL_SDK_DISABLED", "true"),
    ];
    assert_eq!(
        resolve(&production(), &disabled).unwrap().otlp,
        OtlpTarget::Off
    );
    let mut off = production();
    off.otlp = false;
    assert_eq!(resolve(&off, &standard).unwrap().otlp, OtlpTarget::Off);
}

#[test]
fn testing_opens_a_port_only_when_asked() {
    let testing = Code::new(Some(Environment::Testing));
    assert_eq!(
        resolve(&testing, &[("PROMETHEUS_PORT", "0")])
            .unwrap()
            .prometheus,
        Listen::On(any_address(0))
    );
    let mut off = testing.clone();
    off.prometheus = false;
    assert_eq!(
        resolve(&off, &[("PROMETHEUS_PORT", "1")])
            .unwrap()
            .prometheus,
        Listen::Off
    );
}

#[test]
fn endpoints_lose_their_credentials_in_logs() {
    assert_eq!(
        redact_endpoint("http://user:pass@collector:4318/v1?token=x"),
        "http://[REDACTED]@collector:4318/v1"
    );
    assert_eq!(
        redact_endpoint("http://collector:4318"),
        "http://collector:4318"
    );
}
