//! Reading the fields that matter to span metrics, whatever their values.

use std::fmt::{self, Write as _};

use tracing_core::field::{Field, Visit};

use super::{MAX_DIMENSIONS, MAX_LABEL_VALUE_BYTES};
use crate::internal::interner::{ABSENT, Interner};
use crate::redact::REDACTED;

/// What a field means to the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RoleKind {
    None,
    Error,
    ErrorType,
    StatusCode,
    PipelineName,
    StepName,
    Items,
    ApiCalls,
    Cost,
    QueueDepth,
}

/// The meaning of one field of a callsite, resolved when the callsite is first
/// seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Role {
    pub(super) kind: RoleKind,
    /// The index of the dimension this field feeds, if any.
    pub(super) dim: Option<u8>,
}

impl Role {
    pub(super) fn for_field(name: &str, dimensions: &[std::sync::Arc<str>]) -> Self {
        let kind = match name {
            "error" => RoleKind::Error,
            "error.type" => RoleKind::ErrorType,
            "otel.status_code" => RoleKind::StatusCode,
            "pipeline.name" => RoleKind::PipelineName,
            "step.name" => RoleKind::StepName,
            "items_processed" => RoleKind::Items,
            "api_calls" => RoleKind::ApiCalls,
            "cost_usd" => RoleKind::Cost,
            "queue_depth" => RoleKind::QueueDepth,
            _ => RoleKind::None,
        };
        let dim = dimensions
            .iter()
            .position(|dimension| **dimension == *name)
            .map(|index| index as u8);
        Self { kind, dim }
    }
}

/// Text of at most [`MAX_LABEL_VALUE_BYTES`] bytes, kept on the stack. Longer
/// text is cut at a character boundary; writing never fails.
#[derive(Clone)]
pub(super) struct Text {
    bytes: [u8; MAX_LABEL_VALUE_BYTES],
    len: u8,
    set: bool,
}

impl Text {
    pub(super) const fn new() -> Self {
        Self {
            bytes: [0; MAX_LABEL_VALUE_BYTES],
            len: 0,
            set: false,
        }
    }

    pub(super) fn as_str(&self) -> Option<&str> {
        if !self.set {
            return None;
        }
        // Only whole characters are ever copied in, so this cannot fail.
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).ok()
    }

    pub(super) fn clear(&mut self) {
        self.len = 0;
        self.set = false;
    }

    fn set_str(&mut self, value: &str) {
        self.clear();
        self.set = true;
        let _ = self.write_str(value);
    }

    fn set_debug(&mut self, value: &dyn fmt::Debug) {
        self.clear();
        self.set = true;
        let _ = write!(self, "{value:?}");
    }
}

impl fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let len = usize::from(self.len);
        let room = MAX_LABEL_VALUE_BYTES - len;
        let take = s.floor_char_boundary(room);
        self.bytes[len..len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len = (len + take) as u8;
        Ok(())
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.as_str(), f)
    }
}

/// What the fields of one span, record or event said.
#[derive(Debug, Clone)]
pub(super) struct Captured {
    pub(super) error: bool,
    pub(super) error_type: Text,
    pub(super) pipeline: Text,
    pub(super) step: Text,
    pub(super) items: u64,
    pub(super) api_calls: u64,
    pub(super) cost_nanos: u64,
    /// The last queue depth reported: a gauge, not a sum.
    pub(super) queue_depth: Option<u64>,
    /// Values that could not be used (negative counts, costs that are not
    /// numbers).
    pub(super) invalid: u64,
    pub(super) dims: [u32; MAX_DIMENSIONS],
}

impl Captured {
    pub(super) const fn new() -> Self {
        Self {
            error: false,
            error_type: Text::new(),
            pipeline: Text::new(),
            step: Text::new(),
            items: 0,
            api_calls: 0,
            cost_nanos: 0,
            queue_depth: None,
            invalid: 0,
            dims: [ABSENT; MAX_DIMENSIONS],
        }
    }

    /// Whether the fields reported anything to a pipeline's counters or
    /// gauges.
    pub(super) fn has_counts(&self) -> bool {
        self.items > 0 || self.api_calls > 0 || self.cost_nanos > 0 || self.queue_depth.is_some()
    }
}

/// Converts dollars to nano-dollars, exactly for every amount with at most
/// nine decimals; `None` for negative or non-finite amounts.
fn dollars_to_nanos(dollars: f64) -> Option<u64> {
    if !dollars.is_finite() || dollars < 0.0 {
        return None;
    }
    let nanos = (dollars * 1e9).round();
    (nanos <= u64::MAX as f64).then_some(nanos as u64)
}

/// A field value seen by the visitor, before its role decides what it means.
#[derive(Clone, Copy)]
enum Value<'a> {
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(&'a str),
    Debug(&'a dyn fmt::Debug),
}

impl Value<'_> {
    fn into_text(self, text: &mut Text) {
        match self {
            Value::Str(s) => text.set_str(s),
            Value::Debug(d) => text.set_debug(d),
            Value::Bool(b) => text.set_debug(&b),
            Value::I64(n) => text.set_debug(&n),
            Value::U64(n) => text.set_debug(&n),
            Value::F64(n) => text.set_debug(&n),
        }
    }

    fn as_count(&self) -> Option<u64> {
        match *self {
            Value::U64(n) => Some(n),
            Value::I64(n) => u64::try_from(n).ok(),
            Value::F64(n) if n.is_finite() && n >= 0.0 && n.fract() == 0.0 => Some(n as u64),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    fn as_dollars(&self) -> Option<u64> {
        match *self {
            Value::F64(n) => dollars_to_nanos(n),
            Value::U64(n) => n.checked_mul(1_000_000_000),
            Value::I64(n) => u64::try_from(n).ok()?.checked_mul(1_000_000_000),
            Value::Str(s) => dollars_to_nanos(s.trim().parse().ok()?),
            _ => None,
        }
    }
}

/// Visits the fields of a span, record or event and fills a [`Captured`].
pub(super) struct FieldVisitor<'a> {
    roles: &'a [Role],
    dimensions: &'a [Interner],
    /// By dimension: whether its values are hidden.
    redacted: &'a [bool],
    captured: &'a mut Captured,
}

impl<'a> FieldVisitor<'a> {
    pub(super) fn new(
        roles: &'a [Role],
        dimensions: &'a [Interner],
        redacted: &'a [bool],
        captured: &'a mut Captured,
    ) -> Self {
        Self {
            roles,
            dimensions,
            redacted,
            captured,
        }
    }

    fn value(&mut self, field: &Field, value: Value<'_>) {
        let Some(role) = self.roles.get(field.index()).copied() else {
            return;
        };
        if let Some(dim) = role.dim.map(usize::from)
            && let Some(interner) = self.dimensions.get(dim)
        {
            // A hidden value is never formatted.
            self.captured.dims[dim] = if self.redacted.get(dim).copied().unwrap_or(false) {
                interner.intern(REDACTED)
            } else {
                let mut text = Text::new();
                value.into_text(&mut text);
                interner.intern(text.as_str().unwrap_or(""))
            };
        }
        let captured = &mut *self.captured;
        match role.kind {
            RoleKind::None => {}
            RoleKind::Error => captured.error |= !matches!(value, Value::Bool(false)),
            RoleKind::ErrorType => value.into_text(&mut captured.error_type),
            RoleKind::StatusCode => {
                let mut text = Text::new();
                value.into_text(&mut text);
                let code = text.as_str().unwrap_or("").trim_matches('"');
                if code.eq_ignore_ascii_case("error") {
                    captured.error = true;
                }
            }
            RoleKind::PipelineName => value.into_text(&mut captured.pipeline),
            RoleKind::StepName => value.into_text(&mut captured.step),
            RoleKind::Items => match value.as_count() {
                Some(n) => captured.items = captured.items.saturating_add(n),
                None => captured.invalid += 1,
            },
            RoleKind::ApiCalls => match value.as_count() {
                Some(n) => captured.api_calls = captured.api_calls.saturating_add(n),
                None => captured.invalid += 1,
            },
            RoleKind::Cost => match value.as_dollars() {
                Some(n) => captured.cost_nanos = captured.cost_nanos.saturating_add(n),
                None => captured.invalid += 1,
            },
            RoleKind::QueueDepth => match value.as_count() {
                Some(n) => captured.queue_depth = Some(n),
                None => captured.invalid += 1,
            },
        }
    }
}

impl Visit for FieldVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.value(field, Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.value(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.value(field, Value::U64(value));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        match u64::try_from(value) {
            Ok(value) => self.value(field, Value::U64(value)),
            Err(_) => self.value(field, Value::Debug(&value)),
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        match u64::try_from(value) {
            Ok(value) => self.value(field, Value::U64(value)),
            Err(_) => self.value(field, Value::Debug(&value)),
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.value(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.value(field, Value::Str(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.value(field, Value::Debug(&format_args!("{value}")));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.value(field, Value::Debug(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_cuts_at_a_character_boundary() {
        let mut text = Text::new();
        let long = "é".repeat(100); // 200 bytes
        text.set_str(&long);
        let kept = text.as_str().unwrap();
        assert_eq!(kept.len(), 128);
        assert!(long.starts_with(kept));
        let mut text = Text::new();
        text.set_str(&format!("a{}", "é".repeat(100)));
        assert_eq!(text.as_str().unwrap().len(), 127);
    }

    #[test]
    fn dollars_are_exact_to_the_nano() {
        assert_eq!(dollars_to_nanos(0.1), Some(100_000_000));
        assert_eq!(dollars_to_nanos(0.01), Some(10_000_000));
        assert_eq!(dollars_to_nanos(1234.56789), Some(1_234_567_890_000));
        assert_eq!(dollars_to_nanos(-0.5), None);
        assert_eq!(dollars_to_nanos(f64::NAN), None);
        assert_eq!(dollars_to_nanos(f64::INFINITY), None);
        assert_eq!(dollars_to_nanos(1e30), None);
    }
}
