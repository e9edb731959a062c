//! Where log lines go: standard output through the non-blocking writer, or
//! memory for the testing preset.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use autotel_layers::writer::NonBlocking;
use tracing_subscriber::fmt::MakeWriter;

/// Log lines kept in memory by the testing preset.
#[derive(Debug, Clone, Default)]
pub(crate) struct Memory(Arc<Mutex<Vec<u8>>>);

impl Memory {
    /// The lines written so far, one per entry.
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    pub(crate) fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Write for &Memory {
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

impl<'a> MakeWriter<'a> for Memory {
    type Writer = &'a Memory;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// Where log lines go: the non-blocking writer, or memory for testing.
#[derive(Debug, Clone)]
pub(crate) enum Output {
    NonBlocking(NonBlocking),
    Memory(Memory),
}

/// The writer of one line, from [`Output`].
#[derive(Debug)]
pub(crate) enum OutputWriter<'a> {
    NonBlocking(&'a NonBlocking),
    Memory(&'a Memory),
}

impl Write for OutputWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Self::NonBlocking(writer) => writer.write(buf),
            Self::Memory(memory) => memory.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Self::NonBlocking(writer) => writer.flush(),
            Self::Memory(memory) => memory.flush(),
        }
    }
}

impl<'a> MakeWriter<'a> for Output {
    type Writer = OutputWriter<'a>;

    fn make_writer(&'a self) -> Self::Writer {
        match self {
            Self::NonBlocking(writer) => OutputWriter::NonBlocking(writer),
            Self::Memory(memory) => OutputWriter::Memory(memory),
        }
    }
}
