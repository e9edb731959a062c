//! Field values: the event visitor and span fields serialised once at span
//! creation.

use std::error::Error;
use std::fmt;

use tracing::Metadata;
use tracing::field::{Field, Visit};

use crate::internal::callsite_cache::CallsiteSlots;
use crate::redact::Redaction;

use super::format::{escape_into, f64_into, int_into, wide_int_into};
use super::limit::Limit;

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

/// The suffixes of the two keys an error field `name` produces:
/// `name.message` and `name.sources`.
pub(crate) const ERROR_MESSAGE_SUFFIX: &str = ".message";
/// See [`ERROR_MESSAGE_SUFFIX`].
pub(crate) const ERROR_SOURCES_SUFFIX: &str = ".sources";

/// The fields whose text stands in for the message of an event that has
/// none, best first: what `#[instrument(err)]` records (`error`) and what
/// the OpenTelemetry SDK's reports about itself carry.
const MESSAGE_STAND_INS: &[&str] = &["error", "error.message", "error_message", "err", "reason"];

/// The rank of `name` in [`MESSAGE_STAND_INS`] (1 is the best), or 0.
fn stand_in_rank(name: &str) -> u8 {
    MESSAGE_STAND_INS
        .iter()
        .position(|stand_in| *stand_in == name)
        .map_or(0, |index| index as u8 + 1)
}

/// What the layer knows about one field of a callsite.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FieldKey<'a> {
    /// Its `"key":` text.
    pub(crate) text: &'a [u8],
    /// Whether its value is redacted.
    pub(crate) redacted: bool,
    /// Its rank as a stand-in for a missing message (see
    /// [`MESSAGE_STAND_INS`]); 0 when it is none.
    pub(crate) stand_in: u8,
}

/// The `"key":` text of each field of one callsite, whether the field is
/// redacted and whether it can stand in for a missing message, computed once
/// per thread, layer and callsite.
#[derive(Debug, Default)]
pub(crate) struct CallsiteKeys {
    text: Vec<u8>,
    /// By field index: where its key text ends, whether it is redacted, and
    /// its stand-in rank.
    fields: Vec<(u32, bool, u8)>,
}

impl CallsiteKeys {
    fn fill(&mut self, metadata: &'static Metadata<'static>, redaction: &Redaction) {
        self.text.clear();
        self.fields.clear();
        for field in metadata.fields() {
            key_into(&mut self.text, None, field.name(), "");
            let redacted = redaction.matches(field.name());
            let stand_in = if redacted {
                0
            } else {
                stand_in_rank(field.name())
            };
            self.fields
                .push((offset(self.text.len()), redacted, stand_in));
        }
    }

    /// What the layer knows about the field at `index`.
    pub(crate) fn get(&self, index: usize) -> Option<FieldKey<'_>> {
        let &(end, redacted, stand_in) = self.fields.get(index)?;
        let start = match index {
            0 => 0,
            _ => self.fields[index - 1].0,
        };
        Some(FieldKey {
            text: self.text.get(start as usize..end as usize)?,
            redacted,
            stand_in,
        })
    }
}

/// A per-thread, direct-mapped cache of [`CallsiteKeys`].
#[derive(Debug, Default)]
pub(crate) struct CallsiteCache(CallsiteSlots<CallsiteKeys>);

const CALLSITE_SLOTS: usize = 128;

impl CallsiteCache {
    /// The keys of `metadata`'s fields for `layer`, computed on a miss (a
    /// slot's buffers are reused, so a warm cache allocates nothing).
    #[inline]
    pub(crate) fn get(
        &mut self,
        layer: usize,
        metadata: &'static Metadata<'static>,
        redaction: &Redaction,
    ) -> &CallsiteKeys {
        self.0
            .get_or_fill::<CALLSITE_SLOTS>(layer as u64, metadata, |keys| {
                keys.fill(metadata, redaction);
            })
    }
}

/// The serialised fields of one span, for one JSON layer: each entry is a
/// ready `"key":value` fragment, copied into every event inside the span.
#[derive(Debug, Default)]
pub(crate) struct FieldSet {
    layer: usize,
    text: Vec<u8>,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    start: u32,
    key_end: u32,
    end: u32,
    fingerprint: u64,
}

impl FieldSet {
    /// An empty set belonging to `layer`.
    pub(crate) fn empty(layer: usize) -> Self {
        Self {
            layer,
            ..Self::default()
        }
    }

    /// The set, now belonging to `layer`.
    pub(crate) fn with_layer(mut self, layer: usize) -> Self {
        self.layer = layer;
        self
    }

    /// Records the fields of `values` (span attributes or a `record` call),
    /// replacing earlier values of the same keys; text is cut to `limit`.
    pub(crate) fn record(
        &mut self,
        values: &dyn RecordFields,
        prefix: Option<&str>,
        redaction: &Redaction,
        limit: &mut Limit,
    ) {
        let mut fragment = Vec::new();
        values.record_into(&mut Visitor(|field: &Field, value: Value<'_>| {
            let redacted = redaction.matches(field.name());
            if let (Value::Error(error), false) = (&value, redacted) {
                fragment.clear();
                let key_end = key_into(&mut fragment, prefix, field.name(), ERROR_MESSAGE_SUFFIX);
                value.json_into(&mut fragment, limit);
                self.upsert(&fragment, key_end);
                fragment.clear();
                let key_end = key_into(&mut fragment, prefix, field.name(), ERROR_SOURCES_SUFFIX);
                if sources_into(&mut fragment, *error, limit) {
                    self.upsert(&fragment, key_end);
                }
                return;
            }
            fragment.clear();
            let key_end = key_into(&mut fragment, prefix, field.name(), "");
            if redacted {
                fragment.extend_from_slice(REDACTED);
            } else {
                value.json_into(&mut fragment, limit);
            }
            self.upsert(&fragment, key_end);
        }));
    }

    fn upsert(&mut self, fragment: &[u8], key_end: usize) {
        // Offsets are 32-bit: span fields past 4 GiB are left out.
        if self.text.len() + fragment.len() > u32::MAX as usize {
            return;
        }
        let key = &fragment[1..key_end];
        let existing = self
            .entries
            .iter()
            .position(|entry| &self.text[entry.start as usize + 1..entry.key_end as usize] == key);
        match existing {
            None => {
                let start = self.text.len();
                self.text.extend_from_slice(fragment);
                self.entries.push(Entry {
                    start: offset(start),
                    key_end: offset(start + key_end),
                    end: offset(self.text.len()),
                    fingerprint: fingerprint(key),
                });
            }
            Some(index) => {
                let old = self.entries[index];
                let (start, end) = (old.start as usize, old.end as usize);
                self.text.splice(start..end, fragment.iter().copied());
                let delta = fragment.len() as i64 - (end - start) as i64;
                self.entries[index] = Entry {
                    end: offset(start + fragment.len()),
                    ..old
                };
                for entry in &mut self.entries[index + 1..] {
                    entry.start = shift(entry.start, delta);
                    entry.key_end = shift(entry.key_end, delta);
                    entry.end = shift(entry.end, delta);
                }
            }
        }
    }

    /// Appends the fragments to the `data` object under construction,
    /// skipping keys already written (`seen`).
    pub(crate) fn merge_into(&self, data: &mut Vec<u8>, seen: &mut SeenKeys) {
        for entry in &self.entries {
            let key = &self.text[entry.start as usize + 1..entry.key_end as usize];
            if seen.contains(data, key, entry.fingerprint) {
                continue;
            }
            if !data.is_empty() {
                data.push(b',');
            }
            let start = data.len() + 1;
            data.extend_from_slice(&self.text[entry.start as usize..entry.end as usize]);
            seen.push(start, start + key.len(), entry.fingerprint);
        }
    }

    /// The number of fields recorded.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

/// The keys written so far to the `data` object of a line, as ranges of it,
/// with a fingerprint that makes most comparisons one integer compare.
#[derive(Debug, Default)]
pub(crate) struct SeenKeys(Vec<(u32, u32, u64)>);

impl SeenKeys {
    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }

    /// Notes the key at `data[start..end]`.
    pub(crate) fn record(&mut self, data: &[u8], start: usize, end: usize) {
        let key = data.get(start..end).unwrap_or_default();
        self.push(start, end, fingerprint(key));
    }

    fn push(&mut self, start: usize, end: usize, fingerprint: u64) {
        self.0.push((offset(start), offset(end), fingerprint));
    }

    /// Forgets the key noted last.
    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }

    fn contains(&self, data: &[u8], key: &[u8], fingerprint: u64) -> bool {
        self.0.iter().any(|&(start, end, seen)| {
            seen == fingerprint && data.get(start as usize..end as usize) == Some(key)
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// The length and first seven bytes of a key, packed.
fn fingerprint(key: &[u8]) -> u64 {
    key.iter()
        .take(7)
        .enumerate()
        .fold((key.len() as u64) << 56, |print, (index, &byte)| {
            print | u64::from(byte) << (8 * index)
        })
}

fn offset(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

fn shift(value: u32, delta: i64) -> u32 {
    u32::try_from(i64::from(value) + delta).unwrap_or(u32::MAX)
}

/// Appends `"prefix.name suffix":` and returns the position just after the
/// key's text (before the closing quote).
pub(crate) fn key_into(buf: &mut Vec<u8>, prefix: Option<&str>, name: &str, suffix: &str) -> usize {
    buf.push(b'"');
    if let Some(prefix) = prefix {
        escape_into(buf, prefix);
        buf.push(b'.');
    }
    escape_into(buf, name);
    escape_into(buf, suffix);
    let key_end = buf.len();
    buf.extend_from_slice(b"\":");
    key_end
}

/// The span fields of every JSON layer in the stack, in span extensions.
#[derive(Debug, Default)]
pub(crate) struct JsonSpanFields {
    first: FieldSet,
    more: Vec<FieldSet>,
}

impl JsonSpanFields {
    pub(crate) fn get(&self, layer: usize) -> Option<&FieldSet> {
        if self.first.layer == layer {
            return Some(&self.first);
        }
        self.more.iter().find(|set| set.layer == layer)
    }

    /// Stores `fields` as the set of its layer.
    pub(crate) fn put(&mut self, fields: FieldSet) {
        let layer = fields.layer;
        *self.get_or_insert(layer) = fields;
    }

    /// The set of `layer`, created when missing.
    pub(crate) fn get_or_insert(&mut self, layer: usize) -> &mut FieldSet {
        if self.first.layer == layer || self.first.layer == 0 {
            self.first.layer = layer;
            return &mut self.first;
        }
        let index = match self.more.iter().position(|set| set.layer == layer) {
            Some(index) => index,
            None => {
                self.more.push(FieldSet {
                    layer,
                    ..FieldSet::default()
                });
                self.more.len() - 1
            }
        };
        &mut self.more[index]
    }
}

/// Span attributes and `record` values alike.
pub(crate) trait RecordFields {
    fn record_into(&self, visitor: &mut dyn Visit);
}

impl RecordFields for tracing::span::Attributes<'_> {
    fn record_into(&self, visitor: &mut dyn Visit) {
        self.record(visitor);
    }
}

impl RecordFields for tracing::span::Record<'_> {
    fn record_into(&self, visitor: &mut dyn Visit) {
        self.record(visitor);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upsert_replaces_values_in_place() {
        let mut set = FieldSet::default();
        for (key, fragment) in [
            ("a", "\"a\":1"),
            ("bb", "\"bb\":2"),
            ("c", "\"c\":3"),
            ("bb", "\"bb\":\"long value\""),
            ("a", "\"a\":true"),
        ] {
            set.upsert(fragment.as_bytes(), key.len() + 1);
        }
        assert_eq!(set.len(), 3);
        let mut data = Vec::new();
        set.merge_into(&mut data, &mut SeenKeys::default());
        assert_eq!(
            String::from_utf8(data).unwrap(),
            r#""a":true,"bb":"long value","c":3"#
        );
    }

    #[test]
    fn merge_skips_keys_already_written() {
        let mut set = FieldSet::default();
        set.upsert(b"\"a\":1", 2);
        set.upsert(b"\"b\":2", 2);
        let mut data = b"\"b\":0".to_vec();
        let mut seen = SeenKeys::default();
        seen.record(&data, 1, 2);
        set.merge_into(&mut data, &mut seen);
        assert_eq!(String::from_utf8(data).unwrap(), r#""b":0,"a":1"#);
        assert_eq!(seen.len(), 2);
    }
}
