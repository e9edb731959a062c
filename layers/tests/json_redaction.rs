//! Fields named like secrets are written as "[REDACTED]", in event and span
//! fields alike, and the list is configurable.

use autotel_layers::{JsonLayer, SpanFields};
use autotel_test_support::writer::Sink;
use serde_json::{Value, json};
use tracing_subscriber::prelude::*;

fn capture(layer: JsonLayer<Sink>, sink: &Sink, emit: impl FnOnce()) -> Vec<Value> {
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
    sink.json()
}

#[test]
fn default_list_covers_event_and_span_fields() {
    let sink = Sink::new();
    let lines = capture(JsonLayer::new(sink.clone()), &sink, || {
        let span = tracing::info_span!(
            "login",
            user = "ada",
            Authorization = "Bearer abc",
            session_cookie = tracing::field::Empty
        );
        let _entered = span.enter();
        span.record("session_cookie", "id=42");
        tracing::info!(
            password = "hunter2",
            db.password = "pg",
            client_secret = ?"shh",
            access_token = %"tok",
            api_key = 12345,
            apiKey = true,
            user_agent = "curl",
            "signed in"
        );
        tracing::info!("the second event still sees redacted span fields");
    });
    let expected = json!({
        "password": "[REDACTED]",
        "db.password": "[REDACTED]",
        "client_secret": "[REDACTED]",
        "access_token": "[REDACTED]",
        "api_key": "[REDACTED]",
        "apiKey": "[REDACTED]",
        "user_agent": "curl",
        "user": "ada",
        "Authorization": "[REDACTED]",
        "session_cookie": "[REDACTED]",
    });
    assert_eq!(lines[0]["data"], expected);
    assert_eq!(
        lines[1]["data"],
        json!({"user": "ada", "Authorization": "[REDACTED]", "session_cookie": "[REDACTED]"})
    );
    let raw = sink.lines().join("\n");
    for secret in [
        "hunter2", "\"pg\"", "shh", "tok\"", "12345", "Bearer", "id=42",
    ] {
        assert!(!raw.contains(secret), "{secret} leaked: {raw}");
    }
}

#[test]
fn the_list_is_configurable_and_case_insensitive() {
    let sink = Sink::new();
    let layer = JsonLayer::new(sink.clone())
        .with_redacted_fields(["SSN"])
        .with_redacted_field("card-number")
        .with_span_fields(SpanFields::Prefixed);
    let lines = capture(layer, &sink, || {
        tracing::info_span!("customer", ssn = "123").in_scope(|| {
            tracing::info!(card_number = 4111, password = "now visible", "paid");
        });
    });
    assert_eq!(
        lines[0]["data"],
        json!({"card_number": "[REDACTED]", "password": "now visible", "customer.ssn": "[REDACTED]"})
    );
}

#[test]
fn redacted_errors_hide_their_chain() {
    let error = std::io::Error::other("token abc expired");
    let sink = Sink::new();
    let lines = capture(JsonLayer::new(sink.clone()), &sink, || {
        tracing::warn!(
            token = &error as &(dyn std::error::Error + 'static),
            "refresh"
        );
    });
    assert_eq!(lines[0]["data"], json!({"token": "[REDACTED]"}));
}

#[test]
fn an_empty_list_turns_redaction_off() {
    let sink = Sink::new();
    let layer = JsonLayer::new(sink.clone()).with_redacted_fields(Vec::<String>::new());
    let lines = capture(layer, &sink, || tracing::info!(password = "visible"));
    assert_eq!(lines[0]["data"], json!({"password": "visible"}));
}
