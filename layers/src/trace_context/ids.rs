//! The W3C trace and span ids, and their lowercase hex form.

use std::fmt;

/// A W3C trace id: 16 bytes, written as 32 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId(u128);

impl TraceId {
    /// The id from its big-endian integer value. Zero is the invalid id.
    pub const fn from_u128(value: u128) -> Self {
        Self(value)
    }

    /// The id as a big-endian integer.
    pub const fn to_u128(self) -> u128 {
        self.0
    }

    /// The id as 16 bytes, most significant first (the W3C byte order).
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    /// Whether the id is valid (not all zeros).
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// The 32 lowercase hex digits of the id.
    pub fn to_hex(self) -> [u8; 32] {
        let mut out = [0u8; 32];
        write_hex(&self.to_bytes(), &mut out);
        out
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hex_str(&self.to_hex()))
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

/// A W3C span id: 8 bytes, written as 16 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(u64);

impl SpanId {
    /// The id from its big-endian integer value. Zero is the invalid id.
    pub const fn from_u64(value: u64) -> Self {
        Self(value)
    }

    /// The id as a big-endian integer.
    pub const fn to_u64(self) -> u64 {
        self.0
    }

    /// The id as 8 bytes, most significant first (the W3C byte order).
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    /// Whether the id is valid (not all zeros).
    pub const fn is_valid(self) -> bool {
        self.0 != 0
    }

    /// The 16 lowercase hex digits of the id.
    pub fn to_hex(self) -> [u8; 16] {
        let mut out = [0u8; 16];
        write_hex(&self.to_bytes(), &mut out);
        out
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(hex_str(&self.to_hex()))
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// The two lowercase hex digits of every byte.
static HEX_PAIRS: [[u8; 2]; 256] = {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut pairs = [[0u8; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [HEX[byte >> 4], HEX[byte & 0x0f]];
        byte += 1;
    }
    pairs
};

fn write_hex(bytes: &[u8], out: &mut [u8]) {
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair.copy_from_slice(&HEX_PAIRS[usize::from(*byte)]);
    }
}

fn hex_str(hex: &[u8]) -> &str {
    // Only ASCII hex digits are ever written by `write_hex`.
    std::str::from_utf8(hex).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_print_as_lowercase_hex() {
        let trace = TraceId::from_u128(0x4bf92f3577b34da6a3ce929d0e0e4736);
        assert_eq!(trace.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            SpanId::from_u64(0x00f067aa0ba902b7).to_string(),
            "00f067aa0ba902b7"
        );
    }
}
