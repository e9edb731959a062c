//! `https://` collectors: all three signals reach the test agent through a
//! real TLS-terminating proxy (test CA made here with rcgen), over gRPC and
//! HTTP/protobuf, with an auth header and gzip; a client certificate when
//! the proxy asks for one; and a CA that did not sign the collector's
//! certificate fails with a readable, classified error.
#![cfg(feature = "otlp")]

use autotel_exporters::ServiceInfo;
use autotel_exporters::otlp::{Otlp, OtlpGuard, Protocol};
use autotel_test_support::otlp::items;
use autotel_test_support::peers::TestAgent;
use autotel_test_support::tls::{self, Pki, TlsProxy};
use tracing_subscriber::layer::SubscriberExt;

/// Emits one span with one event inside and one counter, then flushes.
fn emit(otlp: &OtlpGuard, name: &str) -> Result<(), autotel_exporters::otlp::OtlpError> {
    let subscriber = tracing_subscriber::registry()
        .with(otlp.trace_layer())
        .with(otlp.log_layer());
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("tls_span", test = name).entered();
        tracing::info!(test = name, "over tls");
    });
    if let Some(recorder) = otlp.metrics_recorder() {
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("tls_exports_total", "test" => name.to_owned()).increment(1);
        });
    }
    otlp.force_flush()
}

fn proxied_pipeline(
    agent: &TestAgent,
    pki: &Pki,
    protocol: Protocol,
    client_certificate: bool,
) -> Option<(TlsProxy, Otlp)> {
    let target = match protocol {
        Protocol::Grpc => agent.grpc,
        _ => agent.http,
    };
    let proxy = TlsProxy::start(pki, target, client_certificate)?;
    let otlp = Otlp::new()
        .with_endpoint(format!("https://localhost:{}", proxy.port))
        .expect("a valid endpoint")
        .with_protocol(protocol)
        .with_header("x-api-key", "not-a-real-key")
        .with_gzip(true)
        .with_shutdown_timeout(std::time::Duration::from_secs(20))
        .expect("a valid setting");
    Some((proxy, otlp))
}

fn all_signals_arrive_over_tls(protocol: Protocol, client_certificate: bool) {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let pki = tls::pki();
    let Some((_proxy, otlp)) = proxied_pipeline(&agent, &pki, protocol, client_certificate) else {
        return;
    };
    let name = format!("{protocol}-{client_certificate}");
    let mut otlp = otlp
        .with_certificate(&pki.ca)
        .with_service(ServiceInfo::new("tls-test"));
    if client_certificate {
        otlp = otlp.with_client_certificate(&pki.client_cert, &pki.client_key);
    }
    let otlp = otlp.build().expect("the pipeline starts");
    emit(&otlp, &name).unwrap_or_else(|error| {
        panic!(
            "{error}; last failure: {:?}\n{}",
            otlp.last_export_error(),
            agent.peer.logs()
        )
    });
    assert_eq!(
        otlp.stats().export_errors(),
        0,
        "{:?}",
        otlp.last_export_error()
    );
    let traces = agent.received("traces", |v| {
        items(v, "spans", "spans")
            .iter()
            .any(|(_, span)| span["name"] == "tls_span")
    });
    assert!(!items(&traces, "spans", "spans").is_empty());
    agent.received("logs", |v| {
        items(v, "logs", "log_records")
            .iter()
            .any(|(_, r)| r["body"]["string_value"] == "over tls")
    });
    agent.received("metrics", |v| {
        items(v, "metrics", "metrics")
            .iter()
            .any(|(_, m)| m["name"] == "tls_exports_total")
    });
    otlp.shutdown().expect("a clean shutdown");
}

#[test]
fn all_signals_arrive_over_grpc_with_tls() {
    all_signals_arrive_over_tls(Protocol::Grpc, false);
}

#[test]
fn all_signals_arrive_over_http_with_tls() {
    all_signals_arrive_over_tls(Protocol::HttpProtobuf, false);
}

#[test]
fn a_client_certificate_is_presented_over_grpc() {
    all_signals_arrive_over_tls(Protocol::Grpc, true);
}

#[test]
fn a_client_certificate_is_presented_over_http() {
    all_signals_arrive_over_tls(Protocol::HttpProtobuf, true);
}

/// The failure a pipeline reports after one flush.
fn failure(otlp: Otlp) -> String {
    let otlp = otlp
        .with_export_timeout(std::time::Duration::from_secs(3))
        .expect("a valid setting")
        .with_traces(true)
        .with_logs(false)
        .with_metrics(false)
        .build()
        .expect("the pipeline starts");
    assert!(emit(&otlp, "failure").is_err(), "the export cannot succeed");
    assert!(otlp.stats().export_errors() >= 1, "{:?}", otlp.stats());
    let report = otlp.last_export_error().expect("a failure is reported");
    let _ = otlp.shutdown();
    report
}

fn a_wrong_ca_fails_readably(protocol: Protocol) {
    let Some(agent) = TestAgent::start() else {
        return;
    };
    let pki = tls::pki();
    let Some((proxy, otlp)) = proxied_pipeline(&agent, &pki, protocol, false) else {
        return;
    };
    let report = failure(otlp.with_certificate(&pki.other_ca));
    let expected = format!("OTLP export of traces to https://localhost:{}", proxy.port);
    assert!(report.starts_with(&expected), "{report}");
    assert!(
        report.contains(&format!("over {protocol} failed (tls)")),
        "{report}"
    );
    assert!(
        report.contains("OTEL_EXPORTER_OTLP_CERTIFICATE"),
        "{report}"
    );
    assert!(!report.contains("not-a-real-key"), "{report}");
    println!("{report}");
}

#[test]
fn a_wrong_ca_fails_readably_over_grpc() {
    a_wrong_ca_fails_readably(Protocol::Grpc);
}

#[test]
fn a_wrong_ca_fails_readably_over_http() {
    a_wrong_ca_fails_readably(Protocol::HttpProtobuf);
}

fn a_missing_client_certificate_fails_readably(protocol: Protocol) {
    let Some(agent) = TestAgent::start() else {
        return;
    };
    let pki = tls::pki();
    let Some((_proxy, otlp)) = proxied_pipeline(&agent, &pki, protocol, true) else {
        return;
    };
    let report = failure(otlp.with_certificate(&pki.ca));
    assert!(report.contains("failed (tls)"), "{report}");
    assert!(report.contains("client certificate"), "{report}");
    println!("{report}");
}

#[test]
fn a_missing_client_certificate_fails_readably_over_grpc() {
    a_missing_client_certificate_fails_readably(Protocol::Grpc);
}

#[test]
fn a_missing_client_certificate_fails_readably_over_http() {
    a_missing_client_certificate_fails_readably(Protocol::HttpProtobuf);
}
