//! The length limit of field values: text past it is cut at a character
//! boundary and marked, and a `Debug` or `Display` impl stops being
//! formatted there.

use std::fmt;

use super::format::{escape_into, escape_lossy_into};
use crate::catalog::AUTOTEL_TRUNCATED_VALUES_TOTAL;

/// The default longest field value, in bytes of text.
pub const DEFAULT_MAX_FIELD_LEN: usize = 16 * 1024;

/// The longest service name, version, environment or static field value,
/// in bytes: they go into every line.
pub const MAX_RESOURCE_LEN: usize = 256;

/// Counts values cut to a length limit.
pub(crate) fn count_truncated(values: u64) {
    if values > 0 {
        metrics::counter!(AUTOTEL_TRUNCATED_VALUES_TOTAL.name(), "signal" => "logs")
            .increment(values);
    }
}

/// `value` cut to [`MAX_RESOURCE_LEN`] bytes at a character boundary and
/// marked, and counted when it was cut.
pub(crate) fn resource_value(value: String) -> String {
    if value.len() <= MAX_RESOURCE_LEN {
        return value;
    }
    let end = value.floor_char_boundary(MAX_RESOURCE_LEN);
    count_truncated(1);
    format!("{}{TRUNCATED_MARKER}", &value[..end])
}

/// What follows a value that was cut, inside its JSON string.
pub(crate) const TRUNCATED_MARKER: &str = "[truncated]";

/// The longest value, in bytes of text before escaping, and how many values
/// were cut while one line was built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    max: usize,
    cuts: u64,
}

impl Limit {
    pub(crate) fn new(max: usize) -> Self {
        Self { max, cuts: 0 }
    }

    /// How many values were cut so far.
    pub(crate) fn cuts(&self) -> u64 {
        self.cuts
    }

    fn cut(&mut self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(TRUNCATED_MARKER.as_bytes());
        self.cuts += 1;
    }

    /// Appends `text` escaped, cut to the limit.
    pub(crate) fn escape_into(&mut self, buf: &mut Vec<u8>, text: &str) {
        let mut room = self.max;
        if !escape_within(buf, text, &mut room) {
            self.cut(buf);
        }
    }

    /// Appends bytes that may not be UTF-8 (see
    /// [`escape_lossy_into`]), cut to the limit.
    pub(crate) fn escape_lossy_into(&mut self, buf: &mut Vec<u8>, bytes: &[u8]) {
        if bytes.len() <= self.max {
            escape_lossy_into(buf, bytes);
            return;
        }
        // Cut between characters where the bytes are UTF-8.
        let mut end = self.max;
        while end > 0 && end > self.max.saturating_sub(3) && bytes[end] & 0xc0 == 0x80 {
            end -= 1;
        }
        escape_lossy_into(buf, &bytes[..end]);
        self.cut(buf);
    }

    /// Appends `value`'s `Debug` text escaped, cut to the limit; formatting
    /// stops at the limit. A `Debug` impl that fails leaves what it wrote.
    pub(crate) fn debug_into(&mut self, buf: &mut Vec<u8>, value: &dyn fmt::Debug) {
        self.write_into(buf, format_args!("{value:?}"));
    }

    /// Appends `value`'s `Display` text escaped, cut to the limit.
    pub(crate) fn display_into(&mut self, buf: &mut Vec<u8>, value: &dyn fmt::Display) {
        self.write_into(buf, format_args!("{value}"));
    }

    fn write_into(&mut self, buf: &mut Vec<u8>, args: fmt::Arguments<'_>) {
        let mut writer = Within {
            buf,
            room: self.max,
            cut: false,
        };
        let _ = fmt::write(&mut writer, args);
        if writer.cut {
            self.cut(buf);
        }
    }
}

/// Appends `text` escaped, at most `room` bytes of it (cut at a character
/// boundary), and takes what it wrote from `room`; returns `false` when it
/// had to cut.
fn escape_within(buf: &mut Vec<u8>, text: &str, room: &mut usize) -> bool {
    if text.len() <= *room {
        escape_into(buf, text);
        *room -= text.len();
        return true;
    }
    let end = text.floor_char_boundary(*room);
    escape_into(buf, &text[..end]);
    *room = 0;
    false
}

/// A `fmt::Write` that escapes what it is given, up to a number of bytes,
/// then fails to stop the formatting.
struct Within<'a> {
    buf: &'a mut Vec<u8>,
    room: usize,
    cut: bool,
}

impl fmt::Write for Within<'_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if escape_within(self.buf, text, &mut self.room) {
            Ok(())
        } else {
            self.cut = true;
            Err(fmt::Error)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(buf: Vec<u8>) -> String {
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn text_is_cut_at_a_character_boundary_and_marked() {
        let mut limit = Limit::new(5);
        let mut buf = Vec::new();
        limit.escape_into(&mut buf, "abcdé");
        assert_eq!(text(buf), "abcd[truncated]", "é would end past 5 bytes");
        let mut buf = Vec::new();
        limit.escape_into(&mut buf, "a\"b");
        assert_eq!(text(buf), "a\\\"b", "the limit counts text, not escapes");
        assert_eq!(limit.cuts(), 1);
    }

    #[test]
    fn formatting_stops_at_the_limit() {
        struct Endless;
        impl fmt::Debug for Endless {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                for _ in 0..u32::MAX {
                    f.write_str("0123456789")?;
                }
                Ok(())
            }
        }
        let mut limit = Limit::new(25);
        let mut buf = Vec::new();
        limit.debug_into(&mut buf, &Endless);
        assert_eq!(text(buf), "0123456789012345678901234[truncated]");
        let mut buf = Vec::new();
        limit.display_into(&mut buf, &"short");
        assert_eq!(text(buf), "short");
        assert_eq!(limit.cuts(), 1);
    }

    #[test]
    fn bytes_are_cut_between_characters() {
        let mut limit = Limit::new(4);
        let mut buf = Vec::new();
        limit.escape_lossy_into(&mut buf, "abcé".as_bytes());
        assert_eq!(text(buf), "abc[truncated]");
        let mut buf = Vec::new();
        limit.escape_lossy_into(&mut buf, b"\xff\xff\xff\xff\xff");
        assert_eq!(text(buf), "\u{fffd}\u{fffd}\u{fffd}\u{fffd}[truncated]");
    }
}
