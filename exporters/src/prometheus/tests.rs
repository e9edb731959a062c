use super::*;

#[test]
fn bad_buckets_are_errors_that_name_the_metric() {
    let err = Prometheus::new()
        .with_buckets("batch_size", &[2.0, 1.0])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "buckets for metric 'batch_size' are not usable: boundaries must be strictly increasing"
    );
}

#[test]
fn limits_out_of_range_are_errors_naming_the_setting() {
    let err = Prometheus::new().with_max_connections(0).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Prometheus::with_max_connections(0) is not usable: at least one connection must be allowed"
    );
    let err = Prometheus::new()
        .with_header_read_timeout(Duration::from_secs(600))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Prometheus::with_header_read_timeout(600s) is not usable: \
         the timeout must be from 100 ms to 60 s"
    );
}

#[test]
fn debug_output_never_shows_credentials() {
    let basic = Prometheus::new()
        .with_basic_auth("prom", "hunter2")
        .unwrap();
    let bearer = Prometheus::new().with_bearer_token("hunter2").unwrap();
    for builder in [format!("{basic:?}"), format!("{bearer:?}")] {
        assert!(!builder.contains("hunter2"), "{builder}");
        assert!(builder.contains("[REDACTED]"), "{builder}");
    }
}
