//! W3C `traceparent` values: built, parsed and printed.

use std::fmt;

use super::ids::{SpanId, TraceId};

/// The `sampled` bit of the trace flags.
pub(super) const SAMPLED: u8 = 0x01;
/// The `random` bit of the trace flags (W3C Trace Context Level 2): the
/// trace id's right-most 7 bytes are random.
pub(super) const RANDOM: u8 = 0x02;

/// A W3C `traceparent` value: the trace id, the id of the parent span and the
/// trace flags (`sampled`, and Level 2's `random`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceParent {
    pub(super) trace_id: TraceId,
    pub(super) parent_id: SpanId,
    /// Only the bits this version of W3C Trace Context defines.
    pub(super) flags: u8,
}

impl TraceParent {
    /// A traceparent from its parts, without the `random` flag (see
    /// [`TraceParent::with_random`]).
    ///
    /// # Errors
    ///
    /// When either id is zero (invalid in W3C trace context).
    pub fn new(
        trace_id: TraceId,
        parent_id: SpanId,
        sampled: bool,
    ) -> Result<Self, TraceParentError> {
        if !trace_id.is_valid() {
            return Err(TraceParentError("the trace id is all zeros"));
        }
        if !parent_id.is_valid() {
            return Err(TraceParentError("the parent id is all zeros"));
        }
        Ok(Self {
            trace_id,
            parent_id,
            flags: if sampled { SAMPLED } else { 0 },
        })
    }

    /// The same traceparent with the W3C Level 2 `random` flag set or
    /// cleared: set, it tells that the trace id's right-most 7 bytes are
    /// random.
    #[must_use]
    pub const fn with_random(mut self, random: bool) -> Self {
        self.flags = if random {
            self.flags | RANDOM
        } else {
            self.flags & !RANDOM
        };
        self
    }

    /// Parses a `traceparent` header value (`00-<trace id>-<parent id>-<flags>`),
    /// following the W3C rules: lowercase hex, no all-zero ids, version `ff`
    /// rejected, and later versions read by their version-00 prefix. Of the
    /// flags, `sampled` and `random` are kept and any other bit is dropped.
    ///
    /// # Errors
    ///
    /// When the value does not follow that format.
    pub fn parse(value: &str) -> Result<Self, TraceParentError> {
        let value = value.trim_matches(|c| c == ' ' || c == '\t');
        let bytes = value.as_bytes();
        if bytes.len() < 55 {
            return Err(TraceParentError("it is shorter than 55 characters"));
        }
        let version = parse_hex(&bytes[0..2]).ok_or(TraceParentError("the version is not hex"))?;
        if version == 0xff {
            return Err(TraceParentError("version ff is invalid"));
        }
        if version == 0 && bytes.len() != 55 {
            return Err(TraceParentError(
                "a version 00 value has exactly 55 characters",
            ));
        }
        if version != 0 && bytes.len() > 55 && bytes[55] != b'-' {
            return Err(TraceParentError("extra data does not start with '-'"));
        }
        if bytes[2] != b'-' || bytes[35] != b'-' || bytes[52] != b'-' {
            return Err(TraceParentError("the parts are not separated by '-'"));
        }
        let trace_id = parse_hex(&bytes[3..35]).ok_or(TraceParentError(
            "the trace id is not 32 lowercase hex digits",
        ))?;
        let parent_id = parse_hex(&bytes[36..52]).ok_or(TraceParentError(
            "the parent id is not 16 lowercase hex digits",
        ))?;
        let flags = parse_hex(&bytes[53..55]).ok_or(TraceParentError("the flags are not hex"))?;
        let parent = Self::new(
            TraceId::from_u128(trace_id),
            SpanId::from_u64(u64::try_from(parent_id).unwrap_or_default()),
            false,
        )?;
        Ok(Self {
            flags: flags as u8 & (SAMPLED | RANDOM),
            ..parent
        })
    }

    /// The trace id.
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// The id of the parent span.
    pub const fn parent_id(&self) -> SpanId {
        self.parent_id
    }

    /// Whether the parent sampled the trace.
    pub const fn is_sampled(&self) -> bool {
        self.flags & SAMPLED != 0
    }

    /// Whether the W3C Level 2 `random` flag is set: the trace id's
    /// right-most 7 bytes are random.
    pub const fn is_random(&self) -> bool {
        self.flags & RANDOM != 0
    }

    /// The trace flags as sent: `sampled` (`0x01`) and `random` (`0x02`).
    pub const fn flags(&self) -> u8 {
        self.flags
    }
}

impl fmt::Display for TraceParent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "00-{}-{}-{:02x}",
            self.trace_id, self.parent_id, self.flags
        )
    }
}

impl std::str::FromStr for TraceParent {
    type Err = TraceParentError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse(value)
    }
}

fn parse_hex(digits: &[u8]) -> Option<u128> {
    let mut value = 0u128;
    for &digit in digits {
        let nibble = match digit {
            b'0'..=b'9' => digit - b'0',
            b'a'..=b'f' => digit - b'a' + 10,
            _ => return None,
        };
        value = (value << 4) | u128::from(nibble);
    }
    Some(value)
}

/// A `traceparent` value that is not valid W3C trace context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid traceparent: {0}; expected 00-<32 lowercase hex digits>-<16 lowercase hex digits>-<2 hex digits>"
)]
pub struct TraceParentError(&'static str);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parent = TraceParent::parse(value).unwrap();
        assert_eq!(
            parent.trace_id().to_u128(),
            0x4bf92f3577b34da6a3ce929d0e0e4736
        );
        assert_eq!(parent.parent_id().to_u64(), 0x00f067aa0ba902b7);
        assert!(parent.is_sampled());
        assert_eq!(parent.to_string(), value);
    }

    #[test]
    fn traceparent_rejects_invalid_values() {
        for value in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert!(TraceParent::parse(value).is_err(), "{value:?} was accepted");
        }
        let future = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-more";
        let parent = TraceParent::parse(future).unwrap();
        assert!(!parent.is_sampled());
    }

    #[test]
    fn the_random_flag_is_kept_and_unknown_flags_dropped() {
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff";
        let parent = TraceParent::parse(value).unwrap();
        assert!(parent.is_sampled() && parent.is_random());
        assert_eq!(parent.flags(), 0x03);
        assert!(parent.to_string().ends_with("-03"));
        let random_only = TraceParent::parse(&value.replace("-ff", "-02")).unwrap();
        assert!(!random_only.is_sampled() && random_only.is_random());
        assert_eq!(random_only.with_random(false).flags(), 0);
        assert_eq!(random_only.with_random(true), random_only);
    }
}
