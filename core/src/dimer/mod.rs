//! Close-packed dimers on the L×L torus (L even): bit-plane configurations, directed-loop
//! (worm) updates for the uniform and the interacting model E = v·N_∥, multi-spin-coded
//! plaquette flips, observables, the decorated (noise-spin) array of docs/method.md#dimers-and-the-noise-decoration,
//! and plain reference implementations of every update.
//!
//! Conventions (as in `tests/data/dimer_exact.json`): sites (x, y), x = column,
//! y = row; `h(x,y)` is a dimer on the link (x,y)–(x+1,y), `v(x,y)` a dimer on the link
//! (x,y)–(x,y+1), both periodic. A plane stores bit `y·L + x` in word `(y·L + x) / 64`,
//! bit `(y·L + x) % 64`; a plane has [`Torus::plane_words`] = ⌈L²/64⌉ words and its
//! padding bits are zero.
//!
//! - [`lattice`]: [`Torus`] (sizes, accessors, columnar / staggered starts, validity
//!   check with the first [`Defect`], N_∥).
//! - [`worm`]: [`Worm`], the directed-loop update (heat-bath or minimal-bounce exits),
//!   with step-capped worms, calibration of worms per loop sweep and a randomised start.
//! - [`observables`]: winding numbers, flippable plaquettes, link counts, axis
//!   correlations, columnar order, block electric fields.
//! - [`decorated`]: the 2L×2L decorated `u8` array and the 2·L² links export, with strict
//!   readers.
//! - [`reference`](mod@reference): per-site partner-array versions of the worm and the observables
//!   (bit-for-bit oracles).
//! - [`plaquette`]: multi-spin-coded plaquette flips.
//!
//! A chain for the 4×4 torus at v = −1, T = 2, measured after a fixed number of worms:
//!
//! ```
//! use rsmi_core::dimer::{Exits, Torus, Worm, observables};
//! use rsmi_core::rng::stream;
//!
//! # fn main() -> Result<(), rsmi_core::Error> {
//! let torus = Torus::new(4)?;
//! let worm = Worm::new(torus, -1.0, 2.0, Exits::MinimalBounce)?;
//! let words = torus.plane_words(); // 1 word per plane at L = 4
//! let (mut h, mut v) = ([0u64; 1], [0u64; 1]);
//! assert_eq!(h.len(), words);
//! let mut rng = stream(2024, 0, 0);
//! worm.randomise(&mut h, &mut v, &mut rng, 1000)?; // columnar start + warm-up
//! let per_sweep = worm.calibrate(&mut h, &mut v, &mut rng, 1000)?; // fixed from now on
//! let mut flippable = 0;
//! for _ in 0..100 {
//!     worm.run_many(&mut h, &mut v, &mut rng, per_sweep)?; // one loop sweep
//!     flippable += observables::flippable_plaquettes(torus, &h, &v)?;
//!     let (wx, wy) = observables::winding(torus, &h, &v)?;
//!     assert!(wx.abs() <= 2 && wy.abs() <= 2);
//! }
//! torus.validate(&h, &v)?;
//! assert!(flippable > 0);
//! # Ok(())
//! # }
//! ```

pub mod decorated;
pub mod lattice;
pub mod observables;
pub mod plaquette;
pub mod reference;
pub mod worm;

#[cfg(test)]
mod tests;

pub use lattice::{Defect, Plane, Torus};
pub use worm::{ExitTable, Exits, Worm, WormOutcome};
