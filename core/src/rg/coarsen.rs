//! One RG step on packed bits: a one-hidden-unit rule applied to non-overlapping
//! blocks.
//!
//! The rule is given as two tables over the 2^|V| block configurations, `act[v]` (the
//! pre-activation a(v) = bias + Σ_k λ_k v_k) and `prob[v]` (P(h = +1 | v)); table
//! index bit k = 1 means block site k is up. Site k of a b×b block is (dy, dx) =
//! (k / b, k % b) (row-major within the block); in 1D, site k is offset k. The caller
//! computes the tables (e.g. with [`rule_tables`], or with its own `exp` when the
//! probabilities must be bit-identical to another implementation's).
//!
//! Randomness contract (the CLI coarsener's, `cli/src/learn/coarsen.rs`): blocks in
//! row-major order on the block grid (coarse site p = (p / C, p % C), C = side / b);
//! every block draws exactly one `u64` x from `rng`, in both modes, and
//! u = ⌊x / 2¹¹⌋ · 2⁻⁵³ ∈ [0, 1).
//! - [`Draw::Sample`]: up iff u < prob\[v\].
//! - [`Draw::Argmax`]: up iff act\[v\] > 0, down iff act\[v\] < 0, and at act\[v\] = 0
//!   exactly (a tie) up iff u < ½ (a fair coin, which keeps the Z₂ symmetry).
//!
//! A block's configuration is gathered with word operations: the b bits of each block
//! row are shifted and masked out of the row's word (two words when they straddle a
//! word boundary). The coarse configuration is written in the packed layout of side C
//! with zero padding bits; padding bits of the fine input are never read.

use super::packed::{area, check_side, words_per_row};
use crate::error::{Error, check_len};
use crate::rng::Xoshiro256PlusPlus;
use rand_core::Rng;

/// How the coarse spin of a block is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Draw {
    /// h ~ P(h | v): up iff u < prob\[v\].
    Sample,
    /// h = sign act\[v\]; a tie (act\[v\] = 0) is broken by the block's coin, u < ½.
    Argmax,
}

/// The uniform in [0, 1) made from one 64-bit word (its 53 high bits).
#[inline(always)]
pub(crate) fn uniform(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The coarse spin (true = up) of a block with configuration index `v`, given the
/// block's random word `x`. NaN tables behave as in the CLI: a NaN `prob` never gives
/// up, a NaN `act` falls to the coin.
#[inline(always)]
fn decide(v: usize, act: &[f64], prob: &[f64], draw: Draw, x: u64) -> bool {
    let u = uniform(x);
    match draw {
        Draw::Sample => u < prob[v],
        Draw::Argmax => {
            let a = act[v];
            if a > 0.0 {
                true
            } else if a < 0.0 {
                false
            } else {
                u < 0.5
            }
        }
    }
}

/// `n` (≤ 64) bits of a row starting at site `x0` (x0 + n ≤ L, so padding is never
/// read), as the low bits of the result.
#[inline(always)]
fn bits(row: &[u64], x0: usize, n: usize) -> u64 {
    let (wi, sh) = (x0 / 64, x0 % 64);
    let mut v = row[wi] >> sh;
    if sh + n > 64 {
        v |= row[wi + 1] << (64 - sh);
    }
    if n == 64 { v } else { v & ((1u64 << n) - 1) }
}

/// Check block ≥ 1, side % block == 0 and coarse side = side / block ≥ 2; returns it.
fn coarse_side(side: usize, block: usize, max_block: usize) -> Result<usize, Error> {
    if block == 0 || block > max_block {
        return Err(Error::InvalidParameter(
            "block must be at least 1 and have at most 16 sites",
        ));
    }
    // (`side % block != 0`, written so that it needs no `is_multiple_of`, Rust ≥ 1.87.)
    let c = side / block;
    if c * block != side {
        return Err(Error::InvalidParameter("block must divide the side"));
    }
    if c < 2 {
        return Err(Error::InvalidParameter("coarse side must be at least 2"));
    }
    Ok(c)
}

/// Check the two rule tables have `1 << sites` entries.
fn check_tables(act: &[f64], prob: &[f64], sites: usize) -> Result<(), Error> {
    check_len("act", 1 << sites, act.len())?;
    check_len("prob", 1 << sites, prob.len())
}

/// Coarse-grain the L×L packed configuration `fine` (`side · ⌈side/64⌉` words) with
/// b×b blocks (`block` = b, b² ≤ 16, b | side, C = side / b ≥ 2) into `coarse`
/// (`C · ⌈C/64⌉` words, padding zero). `act` and `prob` have 2^(b²) entries (see the
/// module docs for the index order and the randomness contract); one `u64` is drawn
/// from `rng` per block, blocks in row-major order.
#[allow(clippy::too_many_arguments)]
pub fn coarsen_2d(
    fine: &[u64],
    side: usize,
    block: usize,
    act: &[f64],
    prob: &[f64],
    draw: Draw,
    rng: &mut Xoshiro256PlusPlus,
    coarse: &mut [u64],
) -> Result<(), Error> {
    check_side(side)?;
    let w = words_per_row(side);
    check_len("fine", area(side, w)?, fine.len())?;
    let c = coarse_side(side, block, 4)?;
    check_tables(act, prob, block * block)?;
    let cw = words_per_row(c);
    check_len("coarse", c * cw, coarse.len())?;
    let b = block;
    for (cy, out_row) in coarse.chunks_exact_mut(cw).enumerate() {
        let rows = &fine[cy * b * w..(cy + 1) * b * w];
        for (j, out) in out_row.iter_mut().enumerate() {
            let mut acc = 0u64;
            let end = ((j + 1) * 64).min(c);
            for cx in j * 64..end {
                let x0 = cx * b;
                let mut v = 0u64;
                for (dy, row) in rows.chunks_exact(w).enumerate() {
                    v |= bits(row, x0, b) << (dy * b);
                }
                let up = decide(v as usize, act, prob, draw, rng.next_u64());
                acc |= u64::from(up) << (cx - j * 64);
            }
            *out = acc;
        }
    }
    Ok(())
}

/// Coarse-grain a ring of `len` sites (`⌈len/64⌉` words) with blocks of `block` = b
/// consecutive sites (1 ≤ b ≤ 16, b | len, C = len / b ≥ 2) into `coarse`
/// (`⌈C/64⌉` words, padding zero). `act` and `prob` have 2^b entries; one `u64` is drawn
/// from `rng` per block, blocks in order.
#[allow(clippy::too_many_arguments)]
pub fn coarsen_1d(
    fine: &[u64],
    len: usize,
    block: usize,
    act: &[f64],
    prob: &[f64],
    draw: Draw,
    rng: &mut Xoshiro256PlusPlus,
    coarse: &mut [u64],
) -> Result<(), Error> {
    check_side(len)?;
    check_len("fine", words_per_row(len), fine.len())?;
    let c = coarse_side(len, block, 16)?;
    check_tables(act, prob, block)?;
    check_len("coarse", words_per_row(c), coarse.len())?;
    for (j, out) in coarse.iter_mut().enumerate() {
        let mut acc = 0u64;
        let end = ((j + 1) * 64).min(c);
        for cx in j * 64..end {
            let v = bits(fine, cx * block, block);
            let up = decide(v as usize, act, prob, draw, rng.next_u64());
            acc |= u64::from(up) << (cx - j * 64);
        }
        *out = acc;
    }
    Ok(())
}

/// Fill the rule tables of a one-hidden-unit rule with weights λ_k (`weights`, one per
/// block site, 1 ≤ |V| ≤ 16) and `bias`: for every configuration index v (bit k = 1:
/// v_k = +1, else −1), `act[v] = bias + Σ_k λ_k v_k` (the sum taken over k ascending,
/// as the CLI does) and `prob[v] = 1 / (1 + exp(−2 act[v]))` (`libm::exp`). `act` and
/// `prob` have 2^|V| entries.
///
/// Errors: |V| outside 1..=16 or a non-finite weight or bias
/// ([`Error::InvalidParameter`]), wrong table lengths ([`Error::BufferLength`]).
pub fn rule_tables(
    weights: &[f64],
    bias: f64,
    act: &mut [f64],
    prob: &mut [f64],
) -> Result<(), Error> {
    let n = weights.len();
    if n == 0 || n > 16 {
        return Err(Error::InvalidParameter(
            "a rule needs between 1 and 16 weights",
        ));
    }
    if !bias.is_finite() || weights.iter().any(|w| !w.is_finite()) {
        return Err(Error::InvalidParameter(
            "rule weights and bias must be finite",
        ));
    }
    check_len("act", 1 << n, act.len())?;
    check_len("prob", 1 << n, prob.len())?;
    for (v, (a, p)) in act.iter_mut().zip(prob.iter_mut()).enumerate() {
        let sum = weights
            .iter()
            .enumerate()
            .map(|(k, w)| w * if (v >> k) & 1 == 1 { 1.0 } else { -1.0 })
            .sum::<f64>();
        *a = bias + sum;
        *p = 1.0 / (1.0 + libm::exp(-2.0 * *a));
    }
    Ok(())
}
