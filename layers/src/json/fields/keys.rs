//! The keys of a callsite's fields: their `"key":` text, whether each is
//! redacted or can stand in for a missing message, cached per thread.

use tracing::Metadata;

use crate::internal::callsite_cache::CallsiteSlots;
use crate::json::format::escape_into;
use crate::redact::Redaction;

use super::offset;

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
