//! Real-space RG on packed spin configurations: lattice operators (sums of ±1 spin
//! products) by XOR and popcount, and one-hidden-unit coarse-graining rules applied to
//! packed bits, each beside a plain spin-by-spin reference.
//!
//! - [`packed`]: the layout (⌈L/64⌉ `u64` words per row, LSB first, 1 = up; padding
//!   bits ignored on input, zero on output) and conversion from/to NumPy `packbits`.
//! - [`operators`]: [`sums_2d`] (nearest, diagonal, third-neighbour bonds, plaquettes,
//!   field, three-spin corners on the L×L torus) and [`sums_1d`] (ring), valid for every
//!   L ≥ 2.
//! - [`coarsen`]: [`coarsen_2d`] / [`coarsen_1d`] with caller-given rule tables, one
//!   random word per block (the CLI coarsener's contract), and [`rule_tables`].
//! - [`reference`](mod@reference): the spin-by-spin oracles of both.
//!
//! ```
//! use rsmi_core::rg::{Draw, coarsen_2d, rule_tables, sums_2d, words_per_row};
//! use rsmi_core::rng::{SeedableRng, Xoshiro256PlusPlus};
//!
//! # fn main() -> Result<(), rsmi_core::Error> {
//! let side = 8;
//! let fine = [!0u64; 8]; // all up, one word per row
//! let s = sums_2d(&fine, side)?;
//! assert_eq!((s.nn_x, s.plaq, s.corner3, s.field), (64, 64, 256, 64));
//!
//! // 2×2 majority, ties by the coin.
//! let (mut act, mut prob) = ([0.0; 16], [0.0; 16]);
//! rule_tables(&[1.0; 4], 0.0, &mut act, &mut prob)?;
//! let mut coarse = [0u64; 4 * words_per_row(4)];
//! let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
//! coarsen_2d(&fine, side, 2, &act, &prob, Draw::Argmax, &mut rng, &mut coarse)?;
//! assert_eq!(coarse, [0b1111; 4]);
//! # Ok(())
//! # }
//! ```

pub mod coarsen;
pub mod operators;
pub mod packed;
pub mod reference;

pub use coarsen::{Draw, coarsen_1d, coarsen_2d, rule_tables};
pub use operators::{Sums1d, Sums2d, sums_1d, sums_2d};
pub use packed::{
    from_packbits_1d, from_packbits_2d, last_word_mask, to_packbits_1d, to_packbits_2d,
    words_per_row,
};
pub use reference::{
    coarsen_1d_reference, coarsen_2d_reference, sums_1d_reference, sums_2d_reference,
};

#[cfg(test)]
mod tests;
