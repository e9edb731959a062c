//! An in-memory destination for JSON lines, shared by the `json_*` tests.
#![allow(dead_code)]

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing_subscriber::fmt::MakeWriter;

/// Collects everything written to it; each `write` call is kept apart so
/// that tests can check one call per line.
#[derive(Clone, Default)]
pub struct Sink {
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Sink {
    pub fn new() -> Self {
        Self::default()
    }

    fn writes(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        self.writes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The `write` calls made so far, as strings.
    pub fn write_calls(&self) -> Vec<String> {
        self.writes()
            .iter()
            .map(|write| String::from_utf8(write.clone()).expect("output is UTF-8"))
            .collect()
    }

    /// All lines written, without their newlines.
    pub fn lines(&self) -> Vec<String> {
        let all: Vec<u8> = self.writes().concat();
        String::from_utf8(all)
            .expect("output is UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// All lines, parsed.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }
}

pub struct SinkWriter(Sink);

impl io::Write for SinkWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.writes().push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = SinkWriter;

    fn make_writer(&'a self) -> Self::Writer {
        SinkWriter(self.clone())
    }
}

/// 2026-06-15T14:32:45.123Z
pub fn fixed_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(1_781_533_965_123)
}
