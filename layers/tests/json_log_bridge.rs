//! Records of the `log` crate, bridged into `tracing` by tracing-log, are
//! written like any event: their logger is the record's target, and the
//! bridge's own `log.*` fields are left out.

use autotel_layers::JsonLayer;
use autotel_test_support::writer::Sink;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn log_records_carry_their_target_and_no_bridge_fields() {
    tracing_log::LogTracer::init().expect("no other logger in this test binary");
    let sink = Sink::new();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(sink.clone()));
    tracing::subscriber::with_default(subscriber, || {
        let _span = tracing::info_span!("import", batch = 7).entered();
        log::warn!(target: "legacy::store", "retrying {} rows", 12);
        tracing::info!(rows = 12, "native event");
    });

    let lines = sink.json();
    assert_eq!(lines.len(), 2, "{lines:#?}");
    let bridged = &lines[0];
    assert_eq!(bridged["level"], "WARN");
    assert_eq!(bridged["logger"], "legacy::store");
    assert_eq!(bridged["message"], "retrying 12 rows");
    assert_eq!(
        bridged["data"],
        serde_json::json!({"batch": 7}),
        "{bridged}"
    );
    assert!(bridged["trace_id"].is_string(), "in the span's trace");
    assert_eq!(lines[1]["logger"], "json_log_bridge");
    assert_eq!(lines[1]["data"]["rows"], 12);
}
