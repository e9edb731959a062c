//! An array of cells each set once, read by index without locking.

use std::sync::OnceLock;

const FIRST_SEGMENT: usize = 32;
const SEGMENTS: usize = 26;

/// An array of cells that are each set once and read by index without
/// locking: segment `k` holds `32 << k` cells and is allocated when first
/// needed.
pub(crate) struct OnceArray<T> {
    segments: [OnceLock<Box<[OnceLock<T>]>>; SEGMENTS],
}

impl<T> OnceArray<T> {
    pub(crate) fn new() -> Self {
        Self {
            segments: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The segment and the cell within it of `index`.
    #[inline]
    fn locate(index: usize) -> (usize, usize) {
        let n = index / FIRST_SEGMENT + 1;
        let segment = (usize::BITS - 1 - n.leading_zeros()) as usize;
        (segment, index - FIRST_SEGMENT * ((1 << segment) - 1))
    }

    /// The value at `index`, once set.
    #[inline]
    pub(crate) fn get(&self, index: usize) -> Option<&T> {
        let (segment, cell) = Self::locate(index);
        self.segments.get(segment)?.get()?.get(cell)?.get()
    }

    /// The value at `index`, set to `make()` first when unset; `None` past the
    /// array's reach.
    pub(crate) fn get_or_init(&self, index: usize, make: impl FnOnce() -> T) -> Option<&T> {
        let (segment, cell) = Self::locate(index);
        let cells = self.segments.get(segment)?.get_or_init(|| {
            (0..FIRST_SEGMENT << segment)
                .map(|_| OnceLock::new())
                .collect()
        });
        Some(cells.get(cell)?.get_or_init(make))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_found_across_segments() {
        assert_eq!(OnceArray::<u8>::locate(31), (0, 31));
        assert_eq!(OnceArray::<u8>::locate(32), (1, 0));
        assert_eq!(OnceArray::<u8>::locate(95), (1, 63));
        assert_eq!(OnceArray::<u8>::locate(96), (2, 0));
        let array = OnceArray::new();
        assert_eq!(array.get(5000), None);
        assert_eq!(array.get_or_init(5000, || 7), Some(&7));
        assert_eq!(array.get_or_init(5000, || 8), Some(&7), "set once");
        assert_eq!(array.get(5000), Some(&7));
    }
}
