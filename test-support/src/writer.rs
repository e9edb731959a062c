//! In-memory destinations for log lines: [`Sink`] keeps every write, [`Gate`]
//! holds each write until the test lets it through.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};

use tracing_subscriber::fmt::MakeWriter;

/// Collects everything written to it, as a `MakeWriter` for layers or an
/// `io::Write` for writers; each `write` call is kept apart, so that tests
/// can check one call per line. Clones share what was written.
#[derive(Debug, Clone, Default)]
pub struct Sink {
    writes: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Sink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    fn writes(&self) -> MutexGuard<'_, Vec<Vec<u8>>> {
        self.writes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The `write` calls made so far, as strings.
    ///
    /// # Panics
    ///
    /// When a write was not UTF-8.
    pub fn write_calls(&self) -> Vec<String> {
        self.writes()
            .iter()
            .map(|write| String::from_utf8(write.clone()).expect("output is UTF-8"))
            .collect()
    }

    /// Everything written so far, as one string.
    ///
    /// # Panics
    ///
    /// When the output is not UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8(self.writes().concat()).expect("output is UTF-8")
    }

    /// All lines written, without their newlines.
    ///
    /// # Panics
    ///
    /// When the output is not UTF-8.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }

    /// All lines, parsed as JSON.
    ///
    /// # Panics
    ///
    /// When a line is not JSON, showing it.
    pub fn json(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .collect()
    }
}

impl io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.writes().push(buf.to_vec());
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Sink {
    type Writer = Sink;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// A destination whose every write waits for one message on the channel
/// that [`Gate::new`] returns, or for that channel's sender to be dropped
/// (after which writes pass at once), and keeps what it got. Clones share
/// the channel and what was written.
#[derive(Debug, Clone)]
pub struct Gate {
    open: Arc<Mutex<mpsc::Receiver<()>>>,
    written: Sink,
}

impl Gate {
    /// A closed gate, and the sender that lets one write through per
    /// message.
    pub fn new() -> (Self, mpsc::Sender<()>) {
        let (open, receiver) = mpsc::channel();
        let gate = Self {
            open: Arc::new(Mutex::new(receiver)),
            written: Sink::new(),
        };
        (gate, open)
    }

    /// Everything written through the gate so far, as one string.
    ///
    /// # Panics
    ///
    /// When the output is not UTF-8.
    pub fn text(&self) -> String {
        self.written.text()
    }
}

impl io::Write for Gate {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = self
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .recv();
        self.written.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
