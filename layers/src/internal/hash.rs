//! The fast hasher of the layers' maps, and the multiplicative spread that
//! picks a slot or a shard from a span id.

use std::hash::{BuildHasher, Hasher};

/// Fibonacci hashing's multiplier: `spread(id) >> (64 - bits)` takes the
/// well-mixed top bits.
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// `id` with its bits spread upwards, for taking the top bits as an index.
#[inline]
pub(crate) fn spread(id: u64) -> u64 {
    id.wrapping_mul(GOLDEN)
}

/// A fast, non-cryptographic hasher for small integer keys and short strings.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHash;

impl BuildHasher for FastHash {
    type Hasher = FastHasher;

    #[inline]
    fn build_hasher(&self) -> FastHasher {
        FastHasher(0)
    }
}

#[derive(Debug)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        // splitmix64's finaliser: every output bit depends on every input bit,
        // which hashbrown needs (it uses both the top and the bottom bits).
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hasher_spreads_small_integers() {
        let hashes: std::collections::HashSet<u64> =
            (0..10_000u32).map(|i| FastHash.hash_one(i) >> 57).collect();
        assert_eq!(hashes.len(), 128, "the top seven bits take every value");
    }
}
