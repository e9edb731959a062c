//! CloudWatch PutMetricData through the current AWS SDK for Rust, which
//! speaks CloudWatch's `rpc-v2-cbor` protocol: a hyper server on loopback
//! stands for the API, decodes every request body with ciborium (gzip
//! first when the SDK compressed it), and the tests check the namespace,
//! names, dimensions, values, statistic sets, units, the signature's
//! credentials and region, and that no request carries more than 1,000
//! values.
#![cfg(feature = "cloudwatch")]

use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use autotel_exporters::cloudwatch::CloudWatch;
use autotel_exporters::cloudwatch::aws_config::retry::RetryConfig;
use autotel_exporters::cloudwatch::aws_config::{BehaviorVersion, Region, SdkConfig};
use autotel_exporters::cloudwatch::aws_sdk_cloudwatch::config::{
    Credentials, SharedCredentialsProvider,
};
use autotel_exporters::push::{PushExporter, Series, Snapshot, Value as Recorded};
use autotel_test_support::cloudwatch::{Answer, Api, data, datum, get, has, number};
use autotel_test_support::push::record_and_send;
use ciborium::Value;
use metrics::{Key, Label};

const SECRET: &str = "wJalrXUtnFEMI-not-a-real-secret";

/// An SDK configuration with static test credentials, no retries.
fn sdk_config() -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("eu-west-3"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "AKIDTEST", SECRET, None, None, "test",
        )))
        .retry_config(RetryConfig::disabled())
        .build()
}

fn exporter(api: &Api) -> CloudWatch {
    CloudWatch::new()
        .with_namespace("Shop/Checkout")
        .unwrap()
        .with_sdk_config(sdk_config())
        .with_endpoint_url(&api.url)
        .unwrap()
}

#[test]
fn put_metric_data_carries_what_was_recorded() {
    let api = Api::start(Answer::Accept);
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    record_and_send(exporter(&api).build(), 100, || {
        for (route, calls) in [("/orders", 7_u64), ("/orders/{id}", 5)] {
            metrics::counter!("http_server_requests_total", "http_route" => route).increment(calls);
        }
        metrics::gauge!("pipeline_cost_usd_total").set(0.25);
        metrics::gauge!("pipeline_queue_depth", "pipeline_name" => "etl").set(-3.5);
        for v in 1..=1000 {
            metrics::histogram!("span_duration_seconds", "span_name" => "checkout")
                .record(f64::from(v) / 1000.0);
        }
    });
    let requests = api.received();
    // The flush, then the gauge again as the guard drops.
    assert_eq!(requests.len(), 2, "{requests:#?}");
    assert_eq!(data(&requests[1]).len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.path,
        "/service/GraniteServiceVersion20100801/operation/PutMetricData"
    );
    assert_eq!(request.headers["smithy-protocol"], "rpc-v2-cbor");
    assert_eq!(request.headers["content-type"], "application/cbor");
    let authorization = &request.headers["authorization"];
    assert!(
        authorization.contains("Credential=AKIDTEST/")
            && authorization.contains("/eu-west-3/monitoring/aws4_request"),
        "{authorization}"
    );
    assert!(
        !format!("{request:?}").contains(SECRET),
        "the secret never leaves"
    );
    assert_eq!(
        get(&request.body, "Namespace").as_text(),
        Some("Shop/Checkout")
    );
    assert_eq!(data(request).len(), 5);

    let orders = datum(
        &requests,
        "http_server_requests_total",
        Some(("http_route", "/orders")),
    );
    assert_eq!(number(get(orders, "Value")), 7.0);
    assert_eq!(get(orders, "Unit").as_text(), Some("Count"));
    assert_eq!(number(get(orders, "StorageResolution")), 60.0);
    let Value::Tag(1, seconds) = get(orders, "Timestamp") else {
        panic!("the timestamp is an epoch-seconds tag: {orders:?}");
    };
    let seconds = number(seconds);
    assert!(
        seconds >= before.floor() && seconds < before + 600.0,
        "{seconds}"
    );
    let order = datum(
        &requests,
        "http_server_requests_total",
        Some(("http_route", "/orders/{id}")),
    );
    assert_eq!(number(get(order, "Value")), 5.0);

    let cost = datum(&requests, "pipeline_cost_usd_total", None);
    assert_eq!(number(get(cost, "Value")), 0.25);
    assert_eq!(get(cost, "Unit").as_text(), Some("None"));
    let depth = datum(
        &requests,
        "pipeline_queue_depth",
        Some(("pipeline_name", "etl")),
    );
    assert_eq!(number(get(depth, "Value")), -3.5);

    let durations = datum(
        &requests,
        "span_duration_seconds",
        Some(("span_name", "checkout")),
    );
    assert_eq!(get(durations, "Unit").as_text(), Some("Seconds"));
    assert!(!has(durations, "Value") && !has(durations, "Values"));
    let set = get(durations, "StatisticValues");
    assert_eq!(number(get(set, "SampleCount")), 1000.0);
    assert!((number(get(set, "Sum")) - 500.5).abs() < 1e-9);
    assert_eq!(number(get(set, "Minimum")), 0.001);
    assert_eq!(number(get(set, "Maximum")), 1.0);
}

#[test]
fn requests_carry_at_most_a_thousand_values() {
    let api = Api::start(Answer::Accept);
    record_and_send(
        exporter(&api).with_high_resolution(true).build(),
        100,
        || {
            for i in 0..2_500 {
                metrics::counter!("jobs_total", "job" => format!("job-{i:04}")).increment(i + 1);
            }
        },
    );
    let requests = api.received();
    let mut sizes: Vec<usize> = requests.iter().map(|r| data(r).len()).collect();
    // (No gauge: dropping the guard sends nothing more.)
    sizes.sort_unstable();
    assert_eq!(sizes, [500, 1_000, 1_000]);
    assert!(
        requests
            .iter()
            .any(|r| r.headers.get("content-encoding").map(String::as_str) == Some("gzip")),
        "large requests are gzipped"
    );
    let mut total = 0.0;
    for datum in requests.iter().flat_map(data) {
        assert_eq!(number(get(datum, "StorageResolution")), 1.0);
        total += number(get(datum, "Value"));
    }
    assert_eq!(total, (1..=2_500).sum::<u64>() as f64);
}

fn gauge_snapshot() -> Snapshot {
    let key = Key::from_parts("queue_depth", vec![Label::new("queue", "orders")]);
    let series = vec![Series::new(key, None, Recorded::Gauge(3.0))];
    Snapshot::new(SystemTime::now(), Duration::from_secs(10), series)
}

#[test]
fn a_refused_request_is_an_error_saying_why() {
    let api = Api::start(Answer::Refuse);
    let mut exporter = exporter(&api).build();
    let error = exporter.export(&gauge_snapshot()).unwrap_err();
    assert_eq!((error.reason(), error.failures()), ("rejected", 1));
    let message = error.message();
    assert!(
        message.starts_with(&format!(
            "CloudWatch PutMetricData to {} (eu-west-3) failed (rejected):",
            api.url
        )),
        "{message}"
    );
    assert!(message.contains("InvalidParameterValue"), "{message}");
    assert!(message.contains("1 values lost"), "{message}");
    assert!(!message.contains(SECRET), "{message}");
    assert_eq!(api.received().len(), 1);
}

#[test]
fn an_endpoint_nobody_listens_on_is_unavailable() {
    let closed = autotel_test_support::net::closed_port();
    let mut exporter = CloudWatch::new()
        .with_sdk_config(sdk_config())
        .with_endpoint_url(&format!("http://{closed}"))
        .unwrap()
        .build();
    let error = exporter.export(&gauge_snapshot()).unwrap_err();
    assert_eq!(error.reason(), "unavailable", "{error}");
}

#[test]
fn a_silent_endpoint_times_out() {
    let api = Api::start(Answer::Silence);
    let mut exporter = exporter(&api)
        .with_timeout(Duration::from_millis(300))
        .unwrap()
        .build();
    let error = exporter.export(&gauge_snapshot()).unwrap_err();
    assert_eq!(error.reason(), "timeout", "{error}");
    assert!(
        error.message().contains("CloudWatch::with_timeout"),
        "{error}"
    );
}

/// The child's side of the environment tests: the exporter from the
/// environment sends one snapshot, and says how it went.
#[test]
fn environment_child() {
    if std::env::var_os("AUTOTEL_CLOUDWATCH_CHILD").is_none() {
        return;
    }
    match CloudWatch::from_env() {
        Ok(Some(cloudwatch)) => match cloudwatch.build().export(&gauge_snapshot()) {
            Ok(()) => println!("sent"),
            Err(error) => println!("failed: {} {}", error.reason(), error.message()),
        },
        Ok(None) => println!("off"),
        Err(error) => println!("error: {error}"),
    }
}

/// Runs [`environment_child`] with `vars` as its only AWS and CloudWatch
/// variables, and no AWS files or instance metadata to fall back on.
fn child(vars: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "environment_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("AUTOTEL_CLOUDWATCH_CHILD", "1");
    for (name, _) in std::env::vars() {
        if name.starts_with("AWS_") || name.starts_with("CLOUDWATCH_") {
            command.env_remove(name);
        }
    }
    command
        .env("AWS_CONFIG_FILE", "/nonexistent/aws/config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/aws/credentials",
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(vars.iter().copied());
    let output = command.output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn the_standard_aws_variables_choose_credentials_region_and_endpoint() {
    let api = Api::start(Answer::Accept);
    let stdout = child(&[
        ("CLOUDWATCH_NAMESPACE", "Shop/FromEnv"),
        ("AWS_REGION", "ap-south-1"),
        ("AWS_ACCESS_KEY_ID", "AKIDFROMENV"),
        ("AWS_SECRET_ACCESS_KEY", SECRET),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", &api.url),
    ]);
    assert!(stdout.contains("sent\n"), "{stdout}");
    let requests = api.received();
    assert_eq!(requests.len(), 1);
    let authorization = &requests[0].headers["authorization"];
    assert!(
        authorization.contains("Credential=AKIDFROMENV/")
            && authorization.contains("/ap-south-1/monitoring/aws4_request"),
        "{authorization}"
    );
    assert_eq!(
        get(&requests[0].body, "Namespace").as_text(),
        Some("Shop/FromEnv")
    );
    let depth = datum(&requests, "queue_depth", Some(("queue", "orders")));
    assert_eq!(number(get(depth, "Value")), 3.0);
}

#[test]
fn the_environment_turns_the_exporter_on_and_says_what_is_missing() {
    assert!(
        child(&[]).contains("off\n"),
        "off without CLOUDWATCH_NAMESPACE"
    );
    let stdout = child(&[("CLOUDWATCH_NAMESPACE", "AWS/EC2")]);
    assert!(
        stdout.contains("error: CLOUDWATCH_NAMESPACE='AWS/EC2' is not a CloudWatch namespace"),
        "{stdout}"
    );
    let stdout = child(&[("CLOUDWATCH_NAMESPACE", "Shop")]);
    assert!(
        stdout.contains("failed: config CloudWatch PutMetricData has no AWS region"),
        "{stdout}"
    );
    let api = Api::start(Answer::Accept);
    let stdout = child(&[
        ("CLOUDWATCH_NAMESPACE", "Shop"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ENDPOINT_URL_CLOUDWATCH", &api.url),
    ]);
    assert!(
        stdout.contains("failed: config CloudWatch PutMetricData to "),
        "{stdout}"
    );
    assert!(stdout.contains("check the AWS credentials"), "{stdout}");
    assert!(api.received().is_empty(), "nothing unsigned left");
}
