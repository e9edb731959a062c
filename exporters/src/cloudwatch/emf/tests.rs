//! Unit tests of `emf`.

use std::sync::{Arc, Mutex};

use metrics::Key;

use super::*;
use crate::push::{Series, Value};

/// A writer whose bytes the test reads back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A writer that always fails.
struct Closed;

impl Write for Closed {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::from(io::ErrorKind::BrokenPipe))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn snapshot() -> Snapshot {
    let series = vec![
        Series::new(Key::from_name("a_total"), None, Value::Counter(1)),
        Series::new(
            Key::from_parts("b", vec![metrics::Label::new("k", "v")]),
            None,
            Value::Gauge(2.0),
        ),
    ];
    Snapshot::new(
        std::time::SystemTime::now(),
        Duration::from_secs(10),
        series,
    )
}

#[test]
fn the_namespace_is_the_service_name_unless_set() {
    assert_eq!(Emf::new().namespace(), "unknown_service");
    let service = ServiceInfo::new("check out");
    assert_eq!(Emf::new().with_service(&service).namespace(), "check_out");
    let named = Emf::new()
        .with_service_name("billing")
        .with_service(&service);
    assert_eq!(named.namespace(), "billing");
    let set = Emf::new().with_namespace("Shop/Checkout").unwrap();
    assert_eq!(set.with_service(&service).namespace(), "Shop/Checkout");
    let error = Emf::new().with_namespace("AWS/EC2").unwrap_err();
    assert_eq!(error.setting(), "Emf::with_namespace");
}

#[test]
fn the_agent_gets_a_log_group_and_stdout_none_unless_set() {
    let agent = Emf::new()
        .with_service_name("checkout")
        .with_agent_endpoint("udp://127.0.0.1:25888")
        .unwrap()
        .build();
    assert_eq!(agent.format.log_group.as_deref(), Some("checkout-metrics"));
    assert_eq!(agent.format.max_line, MAX_DATAGRAM_LINE);
    let stdout = Emf::new().build();
    assert_eq!(stdout.format.log_group, None);
    assert_eq!(stdout.format.max_line, MAX_LINE);
    let named = Emf::new().with_log_group("/app/metrics").build();
    assert_eq!(named.format.log_group.as_deref(), Some("/app/metrics"));
    assert!(Emf::new().with_timeout(Duration::ZERO).is_err());
}

#[test]
fn a_writer_gets_one_valid_line_per_label_set() {
    let out = Shared::default();
    let mut exporter = Emf::new()
        .with_namespace("Test")
        .unwrap()
        .with_writer(out.clone())
        .build();
    exporter.export(&snapshot()).unwrap();
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(text.ends_with('\n'));
    for line in lines {
        autotel_test_support::emf::parse_valid(line);
    }
}

#[test]
fn a_failing_writer_is_an_error_counting_the_lost_lines() {
    let mut exporter = Emf::new().with_writer(Closed).build();
    let error = exporter.export(&snapshot()).unwrap_err();
    assert_eq!((error.reason(), error.failures()), ("io", 2));
    assert!(
        error
            .message()
            .starts_with("CloudWatch EMF export to its writer failed (io):"),
        "{error}"
    );
}
