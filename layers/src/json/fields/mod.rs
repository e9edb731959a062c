//! Field values: the event visitor, the keys of each callsite's fields, and
//! span fields serialised once at span creation.

mod keys;
mod seen;
mod span;
mod value;

pub(crate) use self::keys::{
    CallsiteCache, ERROR_MESSAGE_SUFFIX, ERROR_SOURCES_SUFFIX, FieldKey, key_into,
};
pub(crate) use self::seen::SeenKeys;
pub(crate) use self::span::{FieldSet, JsonSpanFields, RecordFields};
pub(crate) use self::value::{REDACTED, Value, Visitor, sources_into};

/// A position in a buffer as the 32-bit offset that the tables keep
/// (`u32::MAX` past 4 GiB).
fn offset(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}
