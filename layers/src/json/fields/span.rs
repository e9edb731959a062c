//! The fields of a span, serialised once when recorded and copied into every
//! event inside the span.

use tracing::field::{Field, Visit};

use crate::json::limit::Limit;
use crate::redact::Redaction;

use super::keys::{ERROR_MESSAGE_SUFFIX, ERROR_SOURCES_SUFFIX, key_into};
use super::offset;
use super::seen::{SeenKeys, fingerprint};
use super::value::{REDACTED, Value, Visitor, sources_into};

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

fn shift(value: u32, delta: i64) -> u32 {
    u32::try_from(i64::from(value) + delta).unwrap_or(u32::MAX)
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
