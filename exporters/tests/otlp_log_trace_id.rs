//! The `trace_id` and `span_id` in our JSON log line are the ids that the
//! OTLP receiver got for the same span.
#![cfg(feature = "otlp")]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use autotel_exporters::otlp::{Otlp, Protocol};
use autotel_layers::JsonLayer;
use serde_json::Value;
use support::{TestAgent, base64_to_hex};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

/// Lines written by the JSON layer, kept in memory.
#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Lines {
    type Writer = Lines;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

fn log_line_ids_match_exported_span(protocol: Protocol) {
    let Some(mut agent) = TestAgent::start() else {
        return;
    };
    let endpoint = match protocol {
        Protocol::Grpc => agent.grpc,
        _ => agent.http,
    };
    let otlp = Otlp::new()
        .with_endpoint(format!("http://{endpoint}"))
        .expect("a valid endpoint")
        .with_protocol(protocol)
        .with_logs(false)
        .with_metrics(false)
        .build()
        .expect("the pipeline starts");
    let lines = Lines::default();
    let subscriber = tracing_subscriber::registry()
        .with(JsonLayer::new(lines.clone()).with_service_name("checkout"))
        .with(otlp.trace_layer());
    tracing::subscriber::with_default(subscriber, || {
        let _outer = tracing::info_span!("settle_order").entered();
        let _inner = tracing::info_span!("write_ledger").entered();
        tracing::info!(rows = 3, "ledger written");
    });
    otlp.force_flush().expect("the agent accepts the spans");

    let written = String::from_utf8(lines.0.lock().unwrap().clone()).expect("UTF-8 lines");
    let line: Value = written
        .lines()
        .find(|l| l.contains("ledger written"))
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .unwrap_or_else(|| panic!("no log line in {written:?}"));
    let trace_id = line["trace_id"].as_str().expect("a trace_id").to_owned();
    let span_id = line["span_id"].as_str().expect("a span_id").to_owned();

    let traces = agent.received("traces", |v| v.to_string().contains("write_ledger"));
    let mut exported = None;
    for request in traces.as_array().into_iter().flatten() {
        for resource in request["resource_spans"].as_array().into_iter().flatten() {
            for scope in resource["scope_spans"].as_array().into_iter().flatten() {
                for span in scope["spans"].as_array().into_iter().flatten() {
                    if span["name"] == "write_ledger" {
                        exported = Some(span.clone());
                    }
                }
            }
        }
    }
    let exported = exported.unwrap_or_else(|| panic!("write_ledger not in {traces}"));
    assert_eq!(
        base64_to_hex(exported["trace_id"].as_str().unwrap_or("")),
        trace_id,
        "{line}\n{exported}"
    );
    assert_eq!(
        base64_to_hex(exported["span_id"].as_str().unwrap_or("")),
        span_id,
        "{line}\n{exported}"
    );
    otlp.shutdown().expect("a clean shutdown");
}

#[test]
fn json_log_ids_match_the_span_exported_over_grpc() {
    log_line_ids_match_exported_span(Protocol::Grpc);
}

#[test]
fn json_log_ids_match_the_span_exported_over_http() {
    log_line_ids_match_exported_span(Protocol::HttpProtobuf);
}
