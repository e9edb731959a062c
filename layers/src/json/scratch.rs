//! The per-thread buffers a line is built in, reused from line to line.

use std::cell::RefCell;

use super::fields::{CallsiteCache, SeenKeys};
use super::format::TimestampCache;

/// A retained line buffer larger than this is shrunk after use.
const MAX_RETAINED: usize = 64 * 1024;

/// The per-thread buffers one line is built in.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    pub(crate) line: Vec<u8>,
    pub(crate) message: Vec<u8>,
    /// The text of the field that stands in for a missing message.
    pub(crate) stand_in: Vec<u8>,
    pub(crate) data: Vec<u8>,
    /// The ranges of the keys written to `data`, to skip duplicates.
    pub(crate) seen: SeenKeys,
    pub(crate) timestamps: TimestampCache,
    pub(crate) callsites: CallsiteCache,
}

impl Scratch {
    pub(crate) fn clear(&mut self) {
        self.line.clear();
        self.message.clear();
        self.stand_in.clear();
        self.data.clear();
        self.seen.clear();
    }

    pub(crate) fn trim(&mut self) {
        for buf in [
            &mut self.line,
            &mut self.message,
            &mut self.stand_in,
            &mut self.data,
        ] {
            if buf.capacity() > MAX_RETAINED {
                buf.clear();
                buf.shrink_to(MAX_RETAINED / 16);
            }
        }
    }
}

thread_local! {
    pub(crate) static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}
