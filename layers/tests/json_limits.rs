//! Length limits: field values and the message are cut at a character
//! boundary and marked `[truncated]`, formatting stops there, the service
//! fields are capped, every cut is counted, and lines stay valid JSON.

use std::fmt;

use autotel_layers::JsonLayer;
use autotel_layers::json::MAX_RESOURCE_LEN;
use autotel_layers::testing::Capture;
use autotel_test_support::time::fixed_time;
use autotel_test_support::writer::Sink;
use proptest::prelude::*;
use serde_json::Value;
use tracing_subscriber::prelude::*;

/// Runs `emit` with `layer`, returning the lines and the number of values
/// counted as cut.
fn run(layer: JsonLayer<Sink>, sink: &Sink, emit: impl FnOnce()) -> (Vec<String>, u64) {
    let capture = Capture::new();
    let recorder = capture.recorder();
    metrics::with_local_recorder(&recorder, || {
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), emit);
    });
    let counted = capture
        .snapshot()
        .counter("autotel_truncated_values_total", &[("signal", "logs")]);
    (sink.lines(), counted)
}

#[test]
fn values_and_the_message_are_cut_and_marked() {
    let sink = Sink::new();
    let layer = JsonLayer::new(sink.clone())
        .with_clock(fixed_time)
        .with_max_field_len(8);
    let (lines, counted) = run(layer, &sink, || {
        let span = tracing::info_span!("s", long = "span field value", short = "ok");
        let _entered = span.enter();
        tracing::info!(
            text = "abcdefghij",
            accents = "ééééé",
            exact = "12345678",
            number = 123_456_789_012u64,
            debug = ?[1, 2, 3, 4, 5],
            "0123456789"
        );
    });
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["message"], "01234567[truncated]");
    let data = &line["data"];
    assert_eq!(data["text"], "abcdefgh[truncated]");
    assert_eq!(data["accents"], "éééé[truncated]", "cut between characters");
    assert_eq!(data["exact"], "12345678", "a value of the limit is whole");
    assert_eq!(data["number"], 123_456_789_012u64, "numbers are never cut");
    assert_eq!(data["debug"], "[1, 2, 3[truncated]");
    assert_eq!(data["long"], "span fie[truncated]");
    assert_eq!(data["short"], "ok");
    // The message, text, accents, debug, and the span field once.
    assert_eq!(counted, 5);
}

/// A `Debug` impl whose output never ends.
struct Endless;

impl fmt::Debug for Endless {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        loop {
            f.write_str("0123456789abcdef")?;
        }
    }
}

#[test]
fn a_huge_value_is_cut_to_the_default_limit_and_formatting_stops() {
    let sink = Sink::new();
    let ten_megabytes = "x".repeat(10 * 1024 * 1024);
    let (lines, counted) = run(JsonLayer::new(sink.clone()), &sink, || {
        tracing::info!(big = ten_megabytes.as_str(), endless = ?Endless, "huge");
    });
    assert_eq!(lines.len(), 1);
    assert!(lines[0].len() < 40 * 1024, "{} bytes", lines[0].len());
    let line: Value = serde_json::from_str(&lines[0]).unwrap();
    let big = line["data"]["big"].as_str().unwrap();
    assert_eq!(big.len(), 16 * 1024 + "[truncated]".len());
    assert!(
        line["data"]["endless"]
            .as_str()
            .unwrap()
            .ends_with("[truncated]")
    );
    assert_eq!(counted, 2);
}

#[test]
fn service_fields_are_capped() {
    let sink = Sink::new();
    let huge_name = "n".repeat(100 * 1024);
    let capture = Capture::new();
    let recorder = capture.recorder();
    let layer = metrics::with_local_recorder(&recorder, || {
        JsonLayer::new(sink.clone())
            .with_service_name(huge_name.as_str())
            .with_service_version("1.0.0")
            .with_static_field("region", "é".repeat(200))
    });
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::info!("one");
    });
    let line: Value = serde_json::from_str(&sink.lines()[0]).unwrap();
    let name = line["service.name"].as_str().unwrap();
    assert_eq!(
        name,
        format!("{}[truncated]", &huge_name[..MAX_RESOURCE_LEN])
    );
    assert_eq!(line["service.version"], "1.0.0");
    assert_eq!(
        line["region"],
        format!("{}[truncated]", "é".repeat(MAX_RESOURCE_LEN / 2))
    );
    assert_eq!(
        capture
            .snapshot()
            .counter("autotel_truncated_values_total", &[("signal", "logs")]),
        2
    );
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_value_cut_to_any_limit_reads_back_as_its_prefix(
        text in any::<String>(),
        limit in 0usize..24,
    ) {
        let sink = Sink::new();
        let layer = JsonLayer::new(sink.clone()).with_max_field_len(limit);
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
            tracing::info!(text = text.as_str(), debug = ?text, "m");
        });
        let line: Value = serde_json::from_str(&sink.lines()[0]).unwrap();
        let expected = |text: &str| {
            if text.len() <= limit {
                return text.to_owned();
            }
            let mut end = limit;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}[truncated]", &text[..end])
        };
        prop_assert_eq!(&line["data"]["text"], &Value::from(expected(&text)));
        prop_assert_eq!(&line["data"]["debug"], &Value::from(expected(&format!("{text:?}"))));
    }
}
