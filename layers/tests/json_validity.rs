//! Whatever the field values, every line is valid JSON and the values read
//! back as they were recorded.

use std::fmt;

use autotel_layers::{JsonLayer, KeyStyle};
use autotel_test_support::writer::Sink;
use proptest::prelude::*;
use serde_json::Value;
use tracing_subscriber::prelude::*;

fn capture(emit: impl FnOnce()) -> Vec<Value> {
    let sink = Sink::new();
    let subscriber = tracing_subscriber::registry().with(JsonLayer::new(sink.clone()));
    tracing::subscriber::with_default(subscriber, emit);
    let lines = sink.lines();
    for line in &lines {
        assert!(!line.contains('\n'));
    }
    sink.json()
}

/// What a float reads back as: the number, or the string for NaN and the
/// infinities.
fn expected_float(value: f64) -> Value {
    if value.is_nan() {
        Value::from("NaN")
    } else if value == f64::INFINITY {
        Value::from("Infinity")
    } else if value == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        Value::from(value)
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_values_round_trip(
        text in any::<String>(),
        message in any::<String>(),
        float in any::<f64>(),
        int in any::<i64>(),
        big in any::<u128>(),
        bytes in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let lines = capture(|| {
            let span = tracing::info_span!("span", span_text = text.as_str());
            let _entered = span.enter();
            tracing::info!(
                text = text.as_str(),
                debug = ?text,
                display = %text,
                float,
                int,
                big,
                bytes = &bytes[..],
                "{message}"
            );
        });
        let line = &lines[0];
        if message.is_empty() {
            // Never empty: the event's name stands in.
            prop_assert!(line["message"].as_str().unwrap().starts_with("event "));
        } else {
            prop_assert_eq!(&line["message"], &Value::from(message.as_str()));
        }
        let data = &line["data"];
        prop_assert_eq!(&data["text"], &Value::from(text.as_str()));
        prop_assert_eq!(&data["span_text"], &Value::from(text.as_str()));
        prop_assert_eq!(&data["debug"], &Value::from(format!("{text:?}")));
        prop_assert_eq!(&data["display"], &Value::from(text.as_str()));
        prop_assert_eq!(&data["int"], &Value::from(int));
        let expected_float = expected_float(float);
        prop_assert_eq!(&data["float"], &expected_float);
        if let Ok(small) = u64::try_from(big) {
            prop_assert_eq!(&data["big"], &Value::from(small));
        } else {
            prop_assert_eq!(&data["big"], &Value::from(big.to_string()));
        }
        prop_assert_eq!(&data["bytes"], &Value::from(String::from_utf8_lossy(&bytes).as_ref()));
    }

    #[test]
    fn any_resource_and_static_fields_round_trip(
        name in any::<String>(),
        version in any::<String>(),
        environment in any::<String>(),
        key in any::<String>(),
        value in any::<String>(),
        style in 0usize..4,
    ) {
        let style = match style {
            0 => KeyStyle::autotel(),
            1 => KeyStyle::ecs(),
            2 => KeyStyle::google_cloud(name.clone()),
            _ => KeyStyle::datadog(),
        };
        let sink = Sink::new();
        let layer = JsonLayer::new(sink.clone())
            .with_key_style(style)
            .with_service_name(name.as_str())
            .with_service_version(version.as_str())
            .with_environment(environment.as_str())
            .with_static_field(key.as_str(), value.as_str());
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || tracing::info!(text = value.as_str(), "{name}"));
        // Every line parses (`json` panics otherwise) and holds each string.
        let lines = sink.json();
        prop_assert_eq!(lines.len(), 1);
        let mut strings = Vec::new();
        collect_strings(&lines[0], &mut strings);
        for expected in [&name, &version, &environment, &value] {
            prop_assert!(strings.contains(expected), "{:?} not in {}", expected, lines[0]);
        }
    }

    #[test]
    fn short_decimals_read_back_bit_for_bit(n in -9_000_000_000_000_000i64..9_000_000_000_000_000, k in 0i32..9) {
        let float = n as f64 / 10f64.powi(k);
        let lines = capture(|| tracing::info!(float));
        let read = lines[0]["data"]["float"].as_f64().unwrap();
        prop_assert_eq!(read.to_bits(), float.to_bits());
    }

    #[test]
    fn any_float_reads_back_bit_for_bit(bits in any::<u64>()) {
        let float = f64::from_bits(bits);
        let lines = capture(|| tracing::info!(float));
        let read = &lines[0]["data"]["float"];
        match read.as_f64() {
            Some(value) => prop_assert_eq!(value.to_bits(), float.to_bits()),
            None => prop_assert!(!float.is_finite()),
        }
    }
}

/// Every string in `value`, keys included.
fn collect_strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|item| collect_strings(item, out)),
        Value::Object(map) => {
            for (key, item) in map {
                out.push(key.clone());
                collect_strings(item, out);
            }
        }
        _ => {}
    }
}

/// A `Debug` impl that writes whatever text it is given.
struct Raw(String);

impl fmt::Debug for Raw {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `Debug` impl that fails half way.
struct Failing;

impl fmt::Debug for Failing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("partial \"output")?;
        Err(fmt::Error)
    }
}

#[derive(Debug)]
#[allow(dead_code)]
struct Nested(Option<Box<Nested>>, &'static str);

/// `text` as a value of [`autotel_layers::json::DEFAULT_MAX_FIELD_LEN`] bytes at
/// most reads back.
fn cut(text: &str) -> String {
    let mut end = autotel_layers::json::DEFAULT_MAX_FIELD_LEN.min(text.len());
    if end == text.len() {
        return text.to_owned();
    }
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}[truncated]", &text[..end])
}

#[test]
fn hostile_values_stay_valid_json() {
    let surrogate_text = r#"\ud800 \u{d800} "\udc00" \\"#.to_owned();
    let control: String = (0u8..0x20)
        .map(char::from)
        .chain(['\u{7f}', '\u{2028}'])
        .collect();
    let big = "é\"\\\n".repeat(256 * 1024);
    let brackets = format!("{}{}", "[{(".repeat(100_000), ")}]".repeat(100_000));
    let mut nested = Nested(None, "leaf \"quoted\"");
    for _ in 0..200 {
        nested = Nested(Some(Box::new(nested)), "level\n");
    }
    let lines = capture(|| {
        tracing::info!(
            surrogates = ?Raw(surrogate_text.clone()),
            wtf8_surrogate = &b"\xed\xa0\x80"[..],
            control = control.as_str(),
            failing = ?Failing,
            nested = ?nested,
            brackets = ?Raw(brackets.clone()),
            "{control}"
        );
        tracing::info!(big = big.as_str(), "big");
        tracing::info!("we\"ird\nkey" = 1, "message" = 2);
    });
    let data = &lines[0]["data"];
    assert_eq!(data["surrogates"], surrogate_text.as_str());
    assert_eq!(data["wtf8_surrogate"], "\u{fffd}\u{fffd}\u{fffd}");
    assert_eq!(data["control"], control.as_str());
    assert_eq!(lines[0]["message"], control.as_str());
    assert_eq!(data["failing"], "partial \"output");
    assert_eq!(data["nested"], format!("{nested:?}").as_str());
    // Past the default limit, values are cut at a character boundary.
    assert_eq!(data["brackets"], cut(&brackets).as_str());
    assert_eq!(lines[1]["data"]["big"], cut(&big).as_str());
    assert_eq!(lines[2]["data"]["we\"ird\nkey"], 1);
    assert_eq!(lines[2]["message"], "2");
}
