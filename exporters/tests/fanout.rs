//! One `metrics` recorder feeds Prometheus and OTLP at the same time.
#![cfg(all(feature = "prometheus", feature = "otlp"))]

use autotel_exporters::fanout::Fanout;
use autotel_exporters::otlp::{Otlp, Protocol};
use autotel_exporters::prometheus::Prometheus;
use autotel_test_support::peers::TestAgent;

#[test]
fn one_recording_reaches_prometheus_and_otlp() {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let prometheus = Prometheus::new()
        .without_listener()
        .build_recorder()
        .expect("recorder");
    let scrape = prometheus.handle();
    let otlp = Otlp::new()
        .with_endpoint(format!("http://{}", agent.grpc))
        .expect("a valid endpoint")
        .with_protocol(Protocol::Grpc)
        .with_traces(false)
        .with_logs(false)
        .build()
        .expect("the pipeline starts");
    let fanout = Fanout::new()
        .with_recorder(prometheus)
        .with_recorder(otlp.metrics_recorder().expect("metrics are on"))
        .build();
    metrics::with_local_recorder(&fanout, || {
        let counter = metrics::counter!("api_calls_total", "pipeline_name" => "sync");
        counter.increment(4);
        counter.increment(3);
    });

    assert!(
        scrape
            .render()
            .contains("api_calls_total{pipeline_name=\"sync\"} 7\n"),
        "{}",
        scrape.render()
    );
    otlp.force_flush().expect("the agent accepts the metrics");
    let received = agent.received("metrics", |v| v.to_string().contains("api_calls_total"));
    let text = received.to_string();
    assert!(text.contains(r#""as_int":"7""#), "{text}");
    otlp.shutdown().expect("a clean shutdown");
}
