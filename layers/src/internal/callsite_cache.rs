//! The per-callsite cache: what a layer computed once for a callsite, kept
//! per thread in a small direct-mapped table keyed by the callsite's
//! `'static` metadata address and by an owner (a layer, an index), so that a
//! callback finds it without touching shared memory.

use std::cell::Cell;

use tracing_core::Metadata;

/// The address of a callsite's metadata, which names the callsite.
#[inline]
pub(crate) fn callsite_address(metadata: &'static Metadata<'static>) -> usize {
    std::ptr::from_ref(metadata) as usize
}

/// The slot of (`owner`, `address`) in a table of `slots` slots.
#[inline]
fn slot_of(owner: u64, address: usize, slots: usize) -> usize {
    ((address >> 4) ^ (owner.wrapping_mul(0x9e37_79b9) as usize)) % slots
}

/// A direct-mapped table of small `Copy` values in plain cells, to sit in a
/// `thread_local!` initialised without code and without a destructor; a slot
/// holds the last callsite that mapped to it.
pub(crate) struct CallsiteCells<V: Copy, const N: usize> {
    slots: [Cell<(u64, usize, Option<V>)>; N],
}

impl<V: Copy, const N: usize> CallsiteCells<V, N> {
    /// An empty table.
    pub(crate) const fn new() -> Self {
        Self {
            slots: [const { Cell::new((0, 0, None)) }; N],
        }
    }

    /// The value of the callsite at `address` for `owner`, when the table
    /// holds it.
    #[inline]
    pub(crate) fn get(&self, owner: u64, address: usize) -> Option<V> {
        let (known_owner, known, value) = self.slots[slot_of(owner, address, N)].get();
        value.filter(|_| known_owner == owner && known == address)
    }

    #[inline]
    pub(crate) fn put(&self, owner: u64, address: usize, value: V) {
        self.slots[slot_of(owner, address, N)].set((owner, address, Some(value)));
    }
}

/// A direct-mapped table of values that own buffers, refilled in place on a
/// miss so that a warm table allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct CallsiteSlots<V> {
    slots: Vec<(u64, usize, V)>,
}

impl<V: Default> CallsiteSlots<V> {
    /// The value of `metadata`'s callsite for `owner`, filled by `fill` on a
    /// miss.
    #[inline]
    pub(crate) fn get_or_fill<const N: usize>(
        &mut self,
        owner: u64,
        metadata: &'static Metadata<'static>,
        fill: impl FnOnce(&mut V),
    ) -> &V {
        if self.slots.is_empty() {
            self.slots.resize_with(N, || (0, 0, V::default()));
        }
        let address = callsite_address(metadata);
        let slot = &mut self.slots[slot_of(owner, address, N)];
        if slot.0 != owner || slot.1 != address {
            fill(&mut slot.2);
            slot.0 = owner;
            slot.1 = address;
        }
        &slot.2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_tell_owners_and_callsites_apart() {
        let cells = CallsiteCells::<u32, 64>::new();
        assert_eq!(cells.get(1, 0x1000), None);
        cells.put(1, 0x1000, 7);
        assert_eq!(cells.get(1, 0x1000), Some(7));
        assert_eq!(cells.get(2, 0x1000), None, "another owner");
        assert_eq!(cells.get(1, 0x1000 + 64 * 16), None, "another callsite");
    }
}
