//! The `/metrics` endpoint over real sockets: a real Prometheus server
//! scrapes it and stores what the program recorded; an HTTP client sees
//! gzip, HEAD, 404, 405, keep-alive, authentication and concurrent scrapes
//! answered as HTTP/1.1 says.
#![cfg(feature = "prometheus")]

use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};

use autotel_exporters::ServiceInfo;
use autotel_exporters::prometheus::Prometheus;
use autotel_layers::SpanMetricsLayer;
use autotel_test_support::http::{agent, get_json, url};
use autotel_test_support::peers::PrometheusPeer;
use autotel_test_support::scrape::{closed_by_server, endpoint, read_response, scrape};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tracing_subscriber::layer::SubscriberExt;

const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[test]
fn prometheus_server_stores_what_the_program_recorded() {
    let (recorder, server) = Prometheus::new()
        .with_listen_address(SocketAddr::from(([127, 0, 0, 1], 0)))
        .with_service(
            ServiceInfo::new("checkout")
                .with_version("2.3.4")
                .with_environment("testing"),
        )
        .with_global_label("region", "eu-west-1")
        .build()
        .expect("the endpoint starts");

    // Span and pipeline metrics come from real spans through SpanMetricsLayer;
    // one histogram is recorded directly, with known values.
    let subscriber = tracing_subscriber::registry().with(SpanMetricsLayer::new());
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..3 {
                drop(tracing::info_span!("charge").entered());
            }
            drop(tracing::info_span!("charge", error = true).entered());
            let run = tracing::info_span!(
                "nightly",
                pipeline.name = "nightly_etl",
                items_processed = 5_u64,
                cost_usd = 0.375
            );
            drop(run.entered());
        });
        for seconds in [0.002, 0.004, 0.2, 3.0] {
            metrics::histogram!(
                "http_server_request_duration_seconds",
                "http_request_method" => "GET",
                "http_route" => "/orders/{id}",
                "http_response_status_code" => "200"
            )
            .record(seconds);
        }
    });
    let target = server.local_addr().expect("a listener");

    let Some(mut prometheus) = PrometheusPeer::start(target) else {
        return;
    };

    assert_eq!(
        prometheus.value(r#"span_calls_total{span_name="charge",status="ok",region="eu-west-1"}"#),
        3.0
    );
    assert_eq!(
        prometheus.value(r#"span_calls_total{span_name="charge",status="error"}"#),
        1.0
    );
    assert_eq!(
        prometheus
            .value(r#"span_duration_seconds_bucket{span_name="charge",status="ok",le="+Inf"}"#),
        3.0
    );
    assert_eq!(
        prometheus.value(r#"span_duration_seconds_count{span_name="charge",status="error"}"#),
        1.0
    );
    let http = r#"http_server_request_duration_seconds_bucket{http_route="/orders/{id}""#;
    assert_eq!(prometheus.value(&format!(r#"{http},le="0.005"}}"#)), 2.0);
    assert_eq!(prometheus.value(&format!(r#"{http},le="+Inf"}}"#)), 4.0);
    let median = prometheus.value(&format!("histogram_quantile(0.5, sum by (le) ({http}}}))"));
    assert!((0.0025..=0.005).contains(&median), "median {median}");
    assert_eq!(
        prometheus.value(r#"pipeline_executions_total{pipeline_name="nightly_etl",status="ok"}"#),
        1.0
    );
    assert_eq!(
        prometheus.value(r#"items_processed_total{pipeline_name="nightly_etl"}"#),
        5.0
    );
    assert_eq!(
        prometheus.value(r#"pipeline_cost_usd_total{pipeline_name="nightly_etl"}"#),
        0.375
    );
    let build_info = prometheus.query("autotel_build_info");
    assert_eq!(build_info.len(), 1, "{build_info:?}");
    let (labels, value) = &build_info[0];
    assert_eq!(*value, 1.0);
    assert_eq!(labels["service_name"], "checkout");
    assert_eq!(labels["service_version"], "2.3.4");
    assert_eq!(labels["deployment_environment"], "testing");
    assert_eq!(labels["autotel_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(labels["region"], "eu-west-1");

    // Prometheus keeps the type from our TYPE line: a counter, not a gauge.
    // It scrapes OpenMetrics, where a counter's family drops `_total`.
    let metadata = get_json(
        prometheus.address,
        "/api/v1/metadata?metric=pipeline_cost_usd",
    )
    .expect("metadata answer");
    assert_eq!(
        metadata["data"]["pipeline_cost_usd"][0]["type"], "counter",
        "{metadata}"
    );
}

#[test]
fn prometheus_scrapes_an_endpoint_that_asks_for_a_bearer_token() {
    let builder = Prometheus::new()
        .with_bearer_token("pr0m-t0ken")
        .expect("a usable token");
    let (_recorder, _server, address) = endpoint(builder);
    let settings = "    authorization:\n      credentials: pr0m-t0ken\n";
    let Some(mut prometheus) = PrometheusPeer::start_with_scrape_settings(address, settings) else {
        return;
    };
    assert_eq!(prometheus.value("hits_total"), 7.0);
    assert_eq!(
        prometheus.value(r#"autotel_dropped_total{signal="scrape",reason="connection_limit"}"#),
        0.0
    );
}

#[test]
fn gzip_when_the_scraper_accepts_it_and_plain_text_otherwise() {
    let (_recorder, _server, address) = endpoint(Prometheus::new());
    let plain = scrape(address);

    let mut response = agent()
        .get(url(address, "/metrics"))
        .header("Accept-Encoding", "gzip")
        .call()
        .expect("a gzip scrape");
    assert_eq!(response.status(), 200);
    let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap());
    assert_eq!(header("content-encoding"), Some("gzip"));
    assert_eq!(header("content-type"), Some(CONTENT_TYPE));
    assert_eq!(header("vary"), Some("Accept, Accept-Encoding"));
    let compressed = response.body_mut().read_to_vec().expect("a body");
    assert_ne!(compressed, plain.as_bytes());
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_string(&mut decoded)
        .expect("valid gzip");
    // The renderer orders metric families differently from one render to
    // the next: compare the lines.
    let lines = |text: &str| {
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        lines.sort();
        lines
    };
    assert_eq!(lines(&decoded), lines(&plain));

    let refused = agent()
        .get(url(address, "/metrics"))
        .header("Accept-Encoding", "gzip;q=0, identity")
        .call()
        .expect("a plain scrape");
    assert_eq!(refused.headers().get("content-encoding"), None);
    scrape(address);
}

#[test]
fn head_answers_the_head_of_get_without_a_body() {
    let (_recorder, _server, address) = endpoint(Prometheus::new());
    let plain = scrape(address);
    let mut response = agent()
        .head(url(address, "/metrics"))
        .call()
        .expect("a HEAD answer");
    assert_eq!(response.status(), 200);
    let headers = response.headers();
    assert_eq!(headers["content-type"], CONTENT_TYPE);
    assert_eq!(headers["content-length"], plain.len().to_string().as_str());
    assert!(
        response
            .body_mut()
            .read_to_vec()
            .expect("no body")
            .is_empty()
    );
    scrape(address);
}

#[test]
fn other_paths_get_404_and_other_methods_405_with_allow() {
    let (_recorder, _server, address) = endpoint(Prometheus::new());
    let mut missing = agent().get(url(address, "/")).call().expect("an answer");
    assert_eq!(missing.status(), 404);
    let text = missing.body_mut().read_to_string().expect("a body");
    assert!(text.contains("/metrics"), "{text}");
    assert_eq!(
        agent()
            .get(url(address, "/metrics/x"))
            .call()
            .expect("an answer")
            .status(),
        404
    );
    for method in ["POST", "PUT", "DELETE"] {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(url(address, "/metrics"))
            .body(())
            .expect("a request");
        let response = agent().run(request).expect("an answer");
        assert_eq!(response.status(), 405, "{method}");
        assert_eq!(response.headers()["allow"], "GET, HEAD", "{method}");
    }
    // A query string does not change the path.
    let response = agent()
        .get(url(address, "/metrics?name[]=hits_total"))
        .call()
        .expect("an answer");
    assert_eq!(response.status(), 200);
    scrape(address);
}

#[test]
fn one_connection_carries_several_requests() {
    let (_recorder, _server, address) = endpoint(Prometheus::new());
    let stream = TcpStream::connect(address).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("a read timeout");
    let mut reader = BufReader::new(&stream);
    for path in ["/metrics", "/nothing", "/metrics"] {
        write!(&stream, "GET {path} HTTP/1.1\r\nHost: {address}\r\n\r\n").expect("send");
        let response = read_response(&mut reader).expect("an answer on the same connection");
        let expected = if path == "/metrics" { 200 } else { 404 };
        assert_eq!(response.status, expected, "{path}");
        if expected == 200 {
            let body = String::from_utf8(response.body).expect("UTF-8");
            assert!(body.contains("\nhits_total 7\n"), "{body}");
        }
        assert_ne!(
            response.headers.get("connection").map(String::as_str),
            Some("close")
        );
    }
    scrape(address);
}

/// Checks that `builder`'s endpoint answers 401 with `challenge` to each
/// of `wrong` (an `Authorization` value, or none) and 200 to `right`.
fn check_auth(builder: Prometheus, challenge: &str, wrong: &[Option<String>], right: &str) {
    let (_recorder, _server, address) = endpoint(builder);
    let call = |authorization: Option<&str>| {
        let mut request = agent().get(url(address, "/metrics"));
        if let Some(value) = authorization {
            request = request.header("Authorization", value);
        }
        request.call().expect("an answer")
    };
    for wrong in wrong {
        let mut response = call(wrong.as_deref());
        assert_eq!(response.status(), 401, "{wrong:?}");
        assert_eq!(
            response.headers()["www-authenticate"],
            challenge,
            "{wrong:?}"
        );
        let body = response.body_mut().read_to_string().expect("a body");
        assert!(!body.contains("hits_total"), "{body}");
    }
    let mut ok = call(Some(right));
    assert_eq!(ok.status(), 200);
    let body = ok.body_mut().read_to_string().expect("a body");
    assert!(body.contains("\nhits_total 7\n"), "{body}");
}

#[test]
fn basic_auth_refuses_missing_or_wrong_credentials_with_401() {
    let basic = |pair: &str| format!("Basic {}", STANDARD.encode(pair));
    let builder = Prometheus::new()
        .with_basic_auth("prometheus", "s3cret")
        .expect("usable credentials");
    check_auth(
        builder,
        "Basic realm=\"metrics\", charset=\"UTF-8\"",
        &[
            None,
            Some(basic("prometheus:wrong")),
            Some(basic("other:s3cret")),
            Some("Bearer s3cret".to_owned()),
        ],
        &basic("prometheus:s3cret"),
    );
}

#[test]
fn bearer_token_refuses_missing_or_wrong_tokens_with_401() {
    let builder = Prometheus::new()
        .with_bearer_token("t0ken-42")
        .expect("a usable token");
    let wrong = ["Bearer t0ken-4", "Bearer t0ken-421", "Basic t0ken-42"];
    let mut wrong: Vec<_> = wrong.map(|w| Some(w.to_owned())).to_vec();
    wrong.push(None);
    check_auth(
        builder,
        "Bearer realm=\"metrics\"",
        &wrong,
        "Bearer t0ken-42",
    );
}

#[test]
fn two_hundred_concurrent_scrapes_all_succeed() {
    const SCRAPERS: usize = 200;
    let (_recorder, _server, address) = endpoint(Prometheus::new());
    let start = Arc::new(Barrier::new(SCRAPERS));
    let scrapers: Vec<_> = (0..SCRAPERS)
        .map(|_| {
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                let mut response = agent()
                    .get(url(address, "/metrics"))
                    .header("Accept-Encoding", "gzip")
                    .call()?;
                let status = response.status().as_u16();
                let body = response.body_mut().read_to_vec()?;
                Ok::<_, ureq::Error>((status, body.len()))
            })
        })
        .collect();
    for scraper in scrapers {
        let (status, length) = scraper
            .join()
            .expect("the scraper thread")
            .expect("a scrape under load");
        assert_eq!(status, 200);
        assert!(length > 0);
    }
    scrape(address);
}

#[test]
fn dropping_the_server_closes_the_port() {
    let (_recorder, server, address) = endpoint(Prometheus::new());
    scrape(address);
    let idle = TcpStream::connect(address).expect("an idle connection");
    drop(server);
    assert!(TcpStream::connect(address).is_err());
    // The open connection was closed too.
    assert!(closed_by_server(&idle));
}
