//! An array that only grows, read by index without locking.

use std::sync::Mutex;

use super::lock;
use super::once_array::OnceArray;

/// An array that only grows, read by index without locking.
pub(crate) struct AppendOnly<T> {
    cells: OnceArray<T>,
    len: Mutex<usize>,
}

impl<T> AppendOnly<T> {
    pub(crate) fn new() -> Self {
        Self {
            cells: OnceArray::new(),
            len: Mutex::new(0),
        }
    }

    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        self.cells.get(index)
    }

    /// Appends `value` and returns its index.
    pub(crate) fn push(&self, value: T) -> usize {
        let mut len = lock(&self.len);
        let index = *len;
        self.cells.get_or_init(index, move || value);
        *len += 1;
        index
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_only_keeps_every_value_at_its_index() {
        let array = AppendOnly::new();
        for i in 0..10_000usize {
            assert_eq!(array.push(i * 3), i);
        }
        for i in 0..10_000usize {
            assert_eq!(array.get(i), Some(&(i * 3)));
        }
        assert_eq!(array.get(10_000), None);
    }
}
