//! JSON encoding through `JsonLayer`: whatever the field values and the
//! message, every line parses with serde_json and strings come back exactly.
#![no_main]

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use autotel_layers::JsonLayer;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::prelude::*;

/// Everything written, in memory.
#[derive(Clone, Default)]
struct Memory(Arc<Mutex<Vec<u8>>>);

impl io::Write for Memory {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Memory {
    type Writer = Memory;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A value whose `Debug` output is exactly its text.
struct Raw<'a>(&'a str);

impl std::fmt::Debug for Raw<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn number<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0; N];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let (head, rest) = data.split_at(data.len().min(32));
    let float = f64::from_le_bytes(number(head));
    let int = i64::from_le_bytes(number(head.get(8..).unwrap_or_default()));
    let big = u128::from_le_bytes(number(head.get(16..).unwrap_or_default()));
    let text = String::from_utf8_lossy(rest);
    let mut parts = text.splitn(3, '\u{1}');
    let message = parts.next().unwrap_or_default();
    let value = parts.next().unwrap_or_default();
    let span_value = parts.next().unwrap_or_default();

    let memory = Memory::default();
    let subscriber = tracing_subscriber::registry().with(
        JsonLayer::new(memory.clone())
            .with_service_name(span_value)
            .with_static_field("static", value),
    );
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("fuzz", span_value);
        let _entered = span.enter();
        tracing::info!(
            value,
            debug = ?Raw(value),
            display = %value,
            bytes = rest,
            float,
            int,
            big,
            "{message}"
        );
        tracing::warn!(message = value, other = int);
    });

    let written = memory
        .0
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    let written = String::from_utf8(written).expect("JsonLayer writes UTF-8");
    assert!(written.ends_with('\n'), "{written:?}");
    let lines: Vec<Value> = written
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(lines.len(), 2, "{written}");
    let first = &lines[0];
    assert_eq!(first["message"], message);
    assert_eq!(first["service.name"], span_value);
    assert_eq!(first["static"], value);
    let data = &first["data"];
    assert_eq!(data["value"], value);
    assert_eq!(data["debug"], value);
    assert_eq!(data["display"], value);
    assert_eq!(data["span_value"], span_value);
    assert_eq!(data["bytes"], String::from_utf8_lossy(rest).as_ref());
    assert_eq!(data["int"], int);
    if float.is_finite() {
        assert_eq!(
            data["float"].as_f64().map(f64::to_bits),
            Some(float.to_bits())
        );
    } else {
        assert!(data["float"].is_string(), "{}", data["float"]);
    }
    match u64::try_from(big) {
        Ok(small) => assert_eq!(data["big"], small),
        Err(_) => assert_eq!(data["big"], big.to_string()),
    }
    assert_eq!(lines[1]["message"], value);
    assert_eq!(lines[1]["data"]["other"], int);
});
