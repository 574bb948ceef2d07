//! # rsmi-core
//!
//! The `no_std`, allocation-free heart of rsmi: random streams, exact bit-parallel
//! Bernoulli masks, and multi-spin-coded Monte Carlo samplers for the 1D and 2D Ising
//! models, each beside a plain one-spin-at-a-time reference implementation.
//!
//! Every buffer is owned by the caller; caller mistakes (wrong buffer length,
//! unsupported size, non-positive temperature) come back as [`Error`] values and never
//! panic. `#![forbid(unsafe_code)]`; no allocation, no logging, no threads.
//!
//! Map of the crate:
//! - [`word`]: the [`Word`] trait implemented by `u64` (64 bits) and `wide::u64x4`
//!   (256 bits, four independent 64-bit lanes). Every multi-spin kernel is written once
//!   over it.
//! - [`rng`]: `stream(master_seed, job, lane)`, the 4-lane xoshiro256++ and the exact
//!   per-bit Bernoulli masks.
//! - [`ising`]: layouts (replica, strip), the Metropolis / heat-bath word kernels, Wolff
//!   cluster updates, observables, export to NumPy's packed bits, and the reference
//!   implementations.
//! - [`dimer`]: close-packed dimers: bit-plane configurations, directed-loop (worm)
//!   updates, multi-spin-coded plaquette flips, observables, the noise-decorated array.
//! - [`learn`]: the RSMI learning engine: block/environment geometry, the rule
//!   P_Λ(H|V), the mutual-information estimators and their gradient kernels, Adam.
//! - [`rg`]: real-space RG on packed configurations: lattice operators (sums of ±1
//!   spin products) by XOR and popcount, one-hidden-unit coarse-graining of packed
//!   bits, NumPy `packbits` conversion, and their spin-by-spin references.
//!
//! ```
//! use rsmi_core::ising::{AcceptTable, Algorithm, Counts, Dim, Layout, Replica, T_C_2D};
//! use rsmi_core::rng::stream_x4;
//! use wide::u64x4;
//!
//! # fn main() -> Result<(), rsmi_core::Error> {
//! let layout = Replica::new(Dim::Two, 16)?; // 256 replicas of a 16×16 torus
//! let table = AcceptTable::<u64x4>::uniform(4, Algorithm::Metropolis, T_C_2D, 0.0)?;
//! let mut lattice = [u64x4::ZERO; 256]; // one word per site
//! let (mut flip, mut rng) = (u64x4::ZERO, stream_x4(42, 0, 0));
//! for _ in 0..100 {
//!     layout.sweep(&mut lattice, &table, &mut rng)?;
//!     layout.global_flip(&mut flip, &table, &mut rng)?; // sector balance, free at h = 0
//! }
//! let mut counts = [Counts::default(); 256];
//! layout.measure(&lattice, flip, &mut counts)?; // per-replica energy and M
//! let e = counts[0].bond_energy(&layout.geometry()) as f64 / 256.0;
//! assert!(e > -2.0 && e < -1.0);
//! # Ok(())
//! # }
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// Index loops read best in the lane-by-lane comparisons of the tests.
#![cfg_attr(test, allow(clippy::needless_range_loop))]

pub mod dimer;
pub mod error;
pub mod ising;
pub mod learn;
pub mod rg;
pub mod rng;
pub mod word;

pub use error::Error;
pub use word::Word;

/// Crate version, for provenance records.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The SIMD level this build of the core was compiled for (`"avx2"` when `u64x4` maps to
/// 256-bit registers, `"sse2"`/`"neon"`/`"scalar"` otherwise). `wide` picks its
/// implementation at compile time only.
pub const fn simd_level() -> &'static str {
    if cfg!(target_feature = "avx512f") && cfg!(target_feature = "avx2") {
        "avx2 (avx512f available)"
    } else if cfg!(target_feature = "avx2") {
        "avx2"
    } else if cfg!(target_feature = "sse2") {
        "sse2"
    } else if cfg!(target_feature = "neon") {
        "neon"
    } else {
        "scalar"
    }
}
