//! Random streams and exact bit-parallel Bernoulli masks.
//!
//! - [`stream`]: the project's stream scheme, `stream(master_seed, job, lane)` =
//!   xoshiro256++ seeded from `master_seed`, then `jump_ce(job, 192)`, then
//!   `jump_ce(lane, 128)`. Any split of the work over threads, processes or cluster jobs
//!   that names the same (job, lane) pairs gets the same numbers.
//! - [`X4`]: four xoshiro256++ streams in the lanes of a `u64x4`, equal to four scalar
//!   `rand_xoshiro` streams bit for bit.
//! - [`WordRng`]: a source of random words, lane-masked so that a lane's stream advances
//!   only when that lane needs a digit (this is what makes a `u64x4` kernel equal to four
//!   `u64` kernels lane by lane).
//! - [`bernoulli`]: exact per-bit Bernoulli(p) masks by lazy binary expansion of p.

pub mod bernoulli;
mod stream;
mod x4;

pub use bernoulli::Prob;
pub use rand_core::{Rng, SeedableRng};
pub use rand_xoshiro::Xoshiro256PlusPlus;
pub use stream::{STREAM_SCHEME, stream, stream_x4};
pub use x4::X4;

use crate::word::Word;
use wide::u64x4;

/// A source of random words for a word type `W`.
pub trait WordRng<W: Word> {
    /// A fresh random word; every lane's stream advances once.
    fn next_word(&mut self) -> W;
    /// A fresh random word where only lanes with a non-zero `pending` lane advance their
    /// stream; the other lanes of the result are unspecified and must be ignored.
    fn next_word_masked(&mut self, pending: W) -> W;
    /// `D` fresh words, advancing only the lanes whose `active` lane is non-zero (the
    /// other lanes of the results are unspecified).
    fn next_block<const D: usize>(&mut self, active: W) -> [W; D];
}

impl WordRng<u64> for Xoshiro256PlusPlus {
    #[inline(always)]
    fn next_word(&mut self) -> u64 {
        self.next_u64()
    }
    #[inline(always)]
    fn next_word_masked(&mut self, _pending: u64) -> u64 {
        // Callers only ask for a digit while the (single) lane is pending.
        self.next_u64()
    }
    #[inline(always)]
    fn next_block<const D: usize>(&mut self, _active: u64) -> [u64; D] {
        // Callers only ask for a block when the (single) lane is active.
        core::array::from_fn(|_| self.next_u64())
    }
}

impl WordRng<u64x4> for X4 {
    #[inline(always)]
    fn next_word(&mut self) -> u64x4 {
        self.next_all()
    }
    #[inline(always)]
    fn next_word_masked(&mut self, pending: u64x4) -> u64x4 {
        self.next_masked(pending)
    }
    #[inline(always)]
    fn next_block<const D: usize>(&mut self, active: u64x4) -> [u64x4; D] {
        self.next_block_masked(active)
    }
}

/// Uniform integer in `0..n` (n ≥ 1) from a 64-bit stream, exactly uniform (Lemire's
/// multiply-and-reject method).
#[inline]
pub fn uniform_below(rng: &mut Xoshiro256PlusPlus, n: u64) -> u64 {
    debug_assert!(n > 0);
    let threshold = n.wrapping_neg() % n;
    loop {
        let m = (rng.next_u64() as u128) * (n as u128);
        if (m as u64) >= threshold {
            return (m >> 64) as u64;
        }
    }
}
