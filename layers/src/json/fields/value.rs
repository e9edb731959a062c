//! Recorded values as JSON: the visitor that turns every `Visit` call into a
//! [`Value`], and an error's sources.

use std::error::Error;
use std::fmt;

use tracing::field::{Field, Visit};

use crate::json::format::{f64_into, int_into, wide_int_into};
use crate::json::limit::Limit;

/// What a redacted value is written as.
pub(crate) const REDACTED: &[u8] = b"\"[REDACTED]\"";

/// The most sources of an error chain that are written, in case a chain loops.
const MAX_SOURCES: usize = 32;

/// One recorded value, whatever `Visit` method brought it.
#[derive(Clone, Copy)]
pub(crate) enum Value<'v> {
    I64(i64),
    U64(u64),
    I128(i128),
    U128(u128),
    F64(f64),
    Bool(bool),
    Str(&'v str),
    Bytes(&'v [u8]),
    Debug(&'v dyn fmt::Debug),
    Error(&'v (dyn Error + 'static)),
}

/// Turns every `Visit` call into a call of `F` with a [`Value`].
pub(crate) struct Visitor<F>(pub(crate) F);

impl<F: FnMut(&Field, Value<'_>)> Visit for Visitor<F> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        (self.0)(field, Value::F64(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        (self.0)(field, Value::I64(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        (self.0)(field, Value::U64(value));
    }
    fn record_i128(&mut self, field: &Field, value: i128) {
        (self.0)(field, Value::I128(value));
    }
    fn record_u128(&mut self, field: &Field, value: u128) {
        (self.0)(field, Value::U128(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        (self.0)(field, Value::Bool(value));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        (self.0)(field, Value::Str(value));
    }
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        (self.0)(field, Value::Bytes(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn Error + 'static)) {
        (self.0)(field, Value::Error(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        (self.0)(field, Value::Debug(value));
    }
}

impl Value<'_> {
    /// Appends the value as JSON, text cut to `limit`. Errors write their
    /// `Display` text here; their sources are written by [`sources_into`].
    pub(crate) fn json_into(&self, buf: &mut Vec<u8>, limit: &mut Limit) {
        match *self {
            Value::I64(value) => int_into(buf, value),
            Value::U64(value) => int_into(buf, value),
            Value::I128(value) => wide_int_into(buf, value),
            Value::U128(value) => wide_int_into(buf, value),
            Value::F64(value) => f64_into(buf, value),
            Value::Bool(value) => buf.extend_from_slice(if value { b"true" } else { b"false" }),
            Value::Str(value) => {
                buf.push(b'"');
                limit.escape_into(buf, value);
                buf.push(b'"');
            }
            Value::Bytes(value) => {
                buf.push(b'"');
                limit.escape_lossy_into(buf, value);
                buf.push(b'"');
            }
            Value::Debug(value) => {
                buf.push(b'"');
                limit.debug_into(buf, value);
                buf.push(b'"');
            }
            Value::Error(value) => {
                buf.push(b'"');
                limit.display_into(buf, value);
                buf.push(b'"');
            }
        }
    }

    /// Appends the value as text (the inside of a JSON string), cut to
    /// `limit`, for the message.
    pub(crate) fn text_into(&self, buf: &mut Vec<u8>, limit: &mut Limit) {
        match *self {
            Value::Str(value) => limit.escape_into(buf, value),
            Value::Bytes(value) => limit.escape_lossy_into(buf, value),
            Value::Debug(value) => limit.debug_into(buf, value),
            Value::Error(value) => limit.display_into(buf, value),
            Value::F64(value) => limit.display_into(buf, &value),
            Value::I64(value) => int_into(buf, value),
            Value::U64(value) => int_into(buf, value),
            Value::I128(value) => int_into(buf, value),
            Value::U128(value) => int_into(buf, value),
            Value::Bool(value) => buf.extend_from_slice(if value { b"true" } else { b"false" }),
        }
    }
}

/// Appends the `Display` texts of the sources of `error` as a JSON array,
/// each cut to `limit`, or returns `false` without writing when it has none.
pub(crate) fn sources_into(
    buf: &mut Vec<u8>,
    error: &(dyn Error + 'static),
    limit: &mut Limit,
) -> bool {
    let mut source = error.source();
    if source.is_none() {
        return false;
    }
    buf.push(b'[');
    let mut count = 0;
    while let Some(error) = source {
        if count == MAX_SOURCES {
            break;
        }
        if count > 0 {
            buf.push(b',');
        }
        buf.push(b'"');
        limit.display_into(buf, error);
        buf.push(b'"');
        source = error.source();
        count += 1;
    }
    buf.push(b']');
    true
}
