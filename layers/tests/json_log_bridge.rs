//! Records of the `log` crate, bridged into `tracing` by tracing-log, are
//! written like any event: their logger is the record's target, and the
//! bridge's own `log.*` fields are left out.

use std::io::Write;
use std::sync::{Arc, Mutex};

use autotel_layers::JsonLayer;
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Clone, Default)]
struct Lines(Arc<Mutex<Vec<u8>>>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
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

#[test]
fn log_records_carry_their_target_and_no_bridge_fields() {
    tracing_log::LogTracer::init().expect("no other logger in this test binary");
    let lines = Lines::default();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(lines.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("import", batch = 7).entered();
        log::warn!(target: "legacy::store", "retrying {} rows", 12);
        tracing::info!(rows = 12, "native event");
    });

    let written = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> = written
        .lines()
        .map(|line| serde_json::from_str(line).expect("each line is JSON"))
        .collect();
    assert_eq!(lines.len(), 2, "{written}");
    let bridged = &lines[0];
    assert_eq!(bridged["level"], "WARN");
    assert_eq!(bridged["logger"], "legacy::store");
    assert_eq!(bridged["message"], "retrying 12 rows");
    assert_eq!(
        bridged["data"],
        serde_json::json!({"batch": 7}),
        "{written}"
    );
    assert!(bridged["trace_id"].is_string(), "in the span's trace");
    assert_eq!(lines[1]["logger"], "json_log_bridge");
    assert_eq!(lines[1]["data"]["rows"], 12);
}
