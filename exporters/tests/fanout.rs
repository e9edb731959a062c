//! Every exporter at once: one `metrics` recorder (the fan-out) feeds
//! Prometheus, OTLP and the push recorder, which sends the same interval to
//! plain StatsD, DogStatsD, the Datadog API, CloudWatch EMF and CloudWatch
//! PutMetricData. Each real receiver gets the same counter, with the same
//! name (a prefix aside) and the same label.
#![cfg(all(
    feature = "prometheus",
    feature = "otlp",
    feature = "statsd",
    feature = "datadog",
    feature = "cloudwatch-emf",
    feature = "cloudwatch"
))]

use std::io::{BufRead, BufReader};
use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use autotel_exporters::cloudwatch::aws_config::retry::RetryConfig;
use autotel_exporters::cloudwatch::aws_config::{BehaviorVersion, Region, SdkConfig};
use autotel_exporters::cloudwatch::aws_sdk_cloudwatch::config::{
    Credentials, SharedCredentialsProvider,
};
use autotel_exporters::cloudwatch::{CloudWatch, Emf};
use autotel_exporters::datadog::Datadog;
use autotel_exporters::fanout::Fanout;
use autotel_exporters::otlp::{Otlp, Protocol};
use autotel_exporters::prometheus::Prometheus;
use autotel_exporters::push::Push;
use autotel_exporters::statsd::StatsD;
use autotel_test_support::cloudwatch::{self, Answer, Api};
use autotel_test_support::peers::TestAgent;
use autotel_test_support::statsd::{EtsyStatsd, read_flushes};
use autotel_test_support::victoria_metrics::VictoriaMetrics;

const FLUSH: Duration = Duration::from_secs(30);

#[test]
fn one_recording_reaches_every_exporter() {
    let (Some(mut agent), Some(mut statsd), Some(mut victoria)) = (
        TestAgent::start(),
        EtsyStatsd::start(),
        VictoriaMetrics::start(),
    ) else {
        return;
    };
    let dogstatsd = UdpSocket::bind("127.0.0.1:0").unwrap();
    dogstatsd
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let emf_agent = TcpListener::bind("127.0.0.1:0").unwrap();
    let api = Api::start(Answer::Accept);

    let prometheus = Prometheus::new()
        .without_listener()
        .build_recorder()
        .unwrap();
    let scrape = prometheus.handle();
    let otlp = Otlp::new()
        .with_endpoint(format!("http://{}", agent.grpc))
        .unwrap()
        .with_protocol(Protocol::Grpc)
        .with_traces(false)
        .with_logs(false)
        .build()
        .unwrap();
    let sdk = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-3"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST",
            "not-a-secret",
            None,
            None,
            "test",
        )))
        .retry_config(RetryConfig::disabled())
        .build();
    let (push, push_guard) = Push::new()
        .with_exporter(
            StatsD::new()
                .with_host("127.0.0.1", statsd.port)
                .with_prefix("shop")
                .build()
                .unwrap(),
        )
        .with_exporter(
            StatsD::dogstatsd()
                .with_host("127.0.0.1", dogstatsd.local_addr().unwrap().port())
                .build()
                .unwrap(),
        )
        .with_exporter(
            Datadog::new()
                .with_api_key("0123456789abcdef0123456789abcdef")
                .unwrap()
                .with_url(&victoria.datadog_url())
                .unwrap()
                .build()
                .unwrap(),
        )
        .with_exporter(
            Emf::new()
                .with_namespace("Shop")
                .unwrap()
                .with_agent_endpoint(&format!("tcp://{}", emf_agent.local_addr().unwrap()))
                .unwrap()
                .build(),
        )
        .with_exporter(
            CloudWatch::new()
                .with_namespace("Shop")
                .unwrap()
                .with_sdk_config(sdk)
                .with_endpoint_url(&api.url)
                .unwrap()
                .build(),
        )
        .build()
        .unwrap();
    let fanout = Fanout::new()
        .with_recorder(prometheus)
        .with_recorder(otlp.metrics_recorder().expect("metrics are on"))
        .with_recorder(push)
        .build();
    assert_eq!(fanout.len(), 3);

    metrics::with_local_recorder(&fanout, || {
        let counter = metrics::counter!("api_calls_total", "pipeline_name" => "sync");
        counter.increment(4);
        counter.increment(3);
    });
    assert!(push_guard.flush(FLUSH), "every push exporter sent");
    otlp.force_flush().expect("the agent accepts the metrics");

    // Prometheus.
    let text = scrape.render();
    assert!(
        text.contains("api_calls_total{pipeline_name=\"sync\"} 7\n"),
        "{text}"
    );
    // OTLP.
    let received = agent.received("metrics", |v| v.to_string().contains("api_calls_total"));
    assert!(
        received.to_string().contains(r#""as_int":"7""#),
        "{received}"
    );
    // Plain StatsD: the label folded into the name.
    let flushes_file = statsd.flushes_file();
    statsd.peer.wait_for("statsd to count the calls", || {
        let total: f64 = read_flushes(&flushes_file)
            .iter()
            .filter_map(|f| f["counters"]["shop.api_calls_total.pipeline_name.sync"].as_f64())
            .sum();
        (total == 7.0).then_some(())
    });
    // DogStatsD: the label as a tag.
    let mut buffer = [0; 65_536];
    let n = dogstatsd.recv(&mut buffer).expect("a DogStatsD datagram");
    let datagram = String::from_utf8_lossy(&buffer[..n]).into_owned();
    assert!(
        datagram
            .lines()
            .any(|l| l == "api_calls_total:7|c|#pipeline_name:sync"),
        "{datagram}"
    );
    // The Datadog API, stored by VictoriaMetrics.
    let stored = victoria.wait_for_samples(r#"{__name__="api_calls_total"}"#, 1);
    assert_eq!(stored[0].1, 7.0);
    assert_eq!(stored[0].0["pipeline_name"], "sync");
    // CloudWatch EMF, at the agent's TCP listener.
    let (stream, _) = emf_agent.accept().expect("the EMF exporter connects");
    stream.set_read_timeout(Some(FLUSH)).unwrap();
    let mut line = String::new();
    BufReader::new(stream).read_line(&mut line).unwrap();
    let emf = autotel_test_support::emf::parse_valid(line.trim_end());
    assert_eq!(emf["api_calls_total"], 7.0);
    assert_eq!(emf["pipeline_name"], "sync");
    // CloudWatch PutMetricData, decoded from CBOR.
    let requests = api.received();
    let datum = cloudwatch::datum(
        &requests,
        "api_calls_total",
        Some(("pipeline_name", "sync")),
    );
    assert_eq!(cloudwatch::number(cloudwatch::get(datum, "Value")), 7.0);

    drop(push_guard);
    otlp.shutdown().expect("a clean shutdown");
}
