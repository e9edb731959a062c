//! What the resources layer needs to know of a callsite, from its field
//! names.

use tracing_core::field::FieldSet;

use super::{ALLOCATED_BYTES_FIELD, CPU_TIME_FIELD, PIPELINE_FIELD, STEP_FIELD};

/// What the layer needs to know of a callsite, from its field names.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) struct Facts(pub(super) u8);

impl Facts {
    pub(super) const PIPELINE: u8 = 1;
    pub(super) const STEP: u8 = 2;
    pub(super) const CPU_FIELD: u8 = 4;
    pub(super) const ALLOCATED_FIELD: u8 = 8;
    /// Set in the span table for spans the layer measures.
    pub(super) const MEASURED: u8 = 16;
    /// Set in the callsite table for entries that hold facts.
    pub(super) const KNOWN: u8 = 128;

    pub(super) fn of(fields: &FieldSet) -> Self {
        let mut facts = Self::KNOWN;
        for field in fields {
            facts |= match field.name() {
                PIPELINE_FIELD => Self::PIPELINE,
                STEP_FIELD => Self::STEP,
                CPU_TIME_FIELD => Self::CPU_FIELD,
                ALLOCATED_BYTES_FIELD => Self::ALLOCATED_FIELD,
                _ => 0,
            };
        }
        Self(facts)
    }

    pub(super) fn has(self, bits: u8) -> bool {
        self.0 & bits != 0
    }
}
