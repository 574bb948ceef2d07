//! Bit-sliced counters: per-bit (per-replica) counts without per-bit loops.

use crate::word::Word;

/// A vertical (bit-sliced) counter: `planes[p]` holds bit p of every bit position's
/// count, so adding a word costs a ripple of a few boolean operations.
#[derive(Debug, Clone)]
pub(crate) struct BitCounter<W: Word> {
    planes: [W; 64],
}

impl<W: Word> BitCounter<W> {
    pub(crate) fn new() -> Self {
        BitCounter {
            planes: [W::ZERO; 64],
        }
    }

    /// Add 1 to the count of every set bit of `x`.
    #[inline]
    pub(crate) fn add(&mut self, x: W) {
        let mut carry = x;
        for plane in self.planes.iter_mut() {
            if carry.is_zero() {
                break;
            }
            let next = *plane & carry;
            *plane ^= carry;
            carry = next;
        }
    }

    /// Count of bit position `b`.
    pub(crate) fn count(&self, b: usize) -> u64 {
        self.planes
            .iter()
            .enumerate()
            .map(|(p, w)| (w.bit(b) as u64) << p)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use wide::u64x4;

    #[test]
    fn counts_match_per_bit_sums() {
        let mut c = BitCounter::<u64x4>::new();
        let mut expect = [0u64; 256];
        let mut x = 0x243f_6a88_85a3_08d3u64;
        for _ in 0..3000 {
            let w = u64x4::from(core::array::from_fn::<u64, 4, _>(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            }));
            for (b, e) in expect.iter_mut().enumerate() {
                *e += w.bit(b) as u64;
            }
            c.add(w);
        }
        for (b, e) in expect.iter().enumerate() {
            assert_eq!(c.count(b), *e);
        }
    }
}
