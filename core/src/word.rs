//! The word trait: every multi-spin kernel is written once over it.
//!
//! A word is a bundle of independent 64-bit lanes. `u64` has one lane; `wide::u64x4` has
//! four. Kernels only use lane-wise boolean algebra and per-lane shifts, so a `u64x4`
//! kernel run is exactly four `u64` kernel runs side by side, lane by lane (the tests
//! check this bit for bit).

use core::fmt::Debug;
use core::ops::{BitAnd, BitAndAssign, BitOr, BitOrAssign, BitXor, BitXorAssign, Not};
use wide::u64x4;

/// A bundle of `LANES` independent 64-bit lanes with boolean algebra.
pub trait Word:
    Copy
    + Debug
    + PartialEq
    + Default
    + BitAnd<Output = Self>
    + BitOr<Output = Self>
    + BitXor<Output = Self>
    + Not<Output = Self>
    + BitAndAssign
    + BitOrAssign
    + BitXorAssign
    + Send
    + Sync
    + 'static
{
    /// Number of 64-bit lanes.
    const LANES: usize;
    /// Number of bits (`64 * LANES`).
    const BITS: usize = 64 * Self::LANES;
    /// All bits clear.
    const ZERO: Self;
    /// All bits set.
    const ONES: Self;
    /// Name used in benchmark and provenance output.
    const NAME: &'static str;

    /// True when every bit is clear.
    fn is_zero(self) -> bool;
    /// Lane `i` as a `u64` (`i < LANES`; out-of-range lanes read as 0).
    fn lane(self, i: usize) -> u64;
    /// Build a word from a function of the lane index.
    fn from_fn(f: impl FnMut(usize) -> u64) -> Self;
    /// Rotate every lane left by one bit (bit 63 of a lane moves to bit 0 of that lane).
    fn rotl1(self) -> Self;
    /// Rotate every lane right by one bit (bit 0 of a lane moves to bit 63 of that lane).
    fn rotr1(self) -> Self;
    /// Per-lane mask: all ones in lanes whose bit 0 is set, zero elsewhere.
    fn lane_bit0_mask(self) -> Self;

    /// Bit `b` (`b < BITS`): lane `b / 64`, bit `b % 64`.
    #[inline]
    fn bit(self, b: usize) -> bool {
        (self.lane(b / 64) >> (b % 64)) & 1 == 1
    }
    /// Number of set bits in each lane.
    #[inline]
    fn lane_count_ones(self, lane: usize) -> u32 {
        self.lane(lane).count_ones()
    }
}

impl Word for u64 {
    const LANES: usize = 1;
    const ZERO: Self = 0;
    const ONES: Self = !0;
    const NAME: &'static str = "u64";

    #[inline(always)]
    fn is_zero(self) -> bool {
        self == 0
    }
    #[inline(always)]
    fn lane(self, i: usize) -> u64 {
        if i == 0 { self } else { 0 }
    }
    #[inline]
    fn from_fn(mut f: impl FnMut(usize) -> u64) -> Self {
        f(0)
    }
    #[inline(always)]
    fn rotl1(self) -> Self {
        self.rotate_left(1)
    }
    #[inline(always)]
    fn rotr1(self) -> Self {
        self.rotate_right(1)
    }
    #[inline(always)]
    fn lane_bit0_mask(self) -> Self {
        0u64.wrapping_sub(self & 1)
    }
}

impl Word for u64x4 {
    const LANES: usize = 4;
    const ZERO: Self = u64x4::ZERO;
    const ONES: Self = u64x4::MAX;
    const NAME: &'static str = "u64x4";

    #[inline(always)]
    fn is_zero(self) -> bool {
        self.simd_eq(u64x4::ZERO).all()
    }
    #[inline(always)]
    fn lane(self, i: usize) -> u64 {
        match self.to_array().get(i) {
            Some(&x) => x,
            None => 0,
        }
    }
    #[inline]
    fn from_fn(mut f: impl FnMut(usize) -> u64) -> Self {
        u64x4::new([f(0), f(1), f(2), f(3)])
    }
    #[inline(always)]
    fn rotl1(self) -> Self {
        (self << 1u32) | (self >> 63u32)
    }
    #[inline(always)]
    fn rotr1(self) -> Self {
        (self >> 1u32) | (self << 63u32)
    }
    #[inline(always)]
    fn lane_bit0_mask(self) -> Self {
        u64x4::ZERO - (self & u64x4::splat(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_lanewise<W: Word>(lanes: [u64; 4]) {
        let w = W::from_fn(|i| lanes[i]);
        for i in 0..W::LANES {
            assert_eq!(w.lane(i), lanes[i]);
            assert_eq!(w.rotl1().lane(i), lanes[i].rotate_left(1));
            assert_eq!(w.rotr1().lane(i), lanes[i].rotate_right(1));
            assert_eq!(w.lane_bit0_mask().lane(i), 0u64.wrapping_sub(lanes[i] & 1));
            assert_eq!(w.lane_count_ones(i), lanes[i].count_ones());
        }
        assert_eq!(w.is_zero(), lanes[..W::LANES].iter().all(|&x| x == 0));
    }

    #[test]
    fn lanes_behave_like_u64() {
        let cases = [
            [0, 0, 0, 0],
            [1, 0, 0, 0],
            [0, 0, 0, 1 << 63],
            [u64::MAX, 0x8000_0000_0000_0001, 0x5555, 3],
            [0x0123_4567_89ab_cdef, 1, 1 << 63, 0],
        ];
        for c in cases {
            check_lanewise::<u64>(c);
            check_lanewise::<u64x4>(c);
        }
    }
}
