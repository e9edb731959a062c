//! The keys already written to the `data` object of a line.

use super::offset;

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

    pub(super) fn push(&mut self, start: usize, end: usize, fingerprint: u64) {
        self.0.push((offset(start), offset(end), fingerprint));
    }

    /// Forgets the key noted last.
    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }

    pub(super) fn contains(&self, data: &[u8], key: &[u8], fingerprint: u64) -> bool {
        self.0.iter().any(|&(start, end, seen)| {
            seen == fingerprint && data.get(start as usize..end as usize) == Some(key)
        })
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.len()
    }
}

/// The length and first seven bytes of a key, packed.
pub(super) fn fingerprint(key: &[u8]) -> u64 {
    key.iter()
        .take(7)
        .enumerate()
        .fold((key.len() as u64) << 56, |print, (index, &byte)| {
            print | u64::from(byte) << (8 * index)
        })
}
