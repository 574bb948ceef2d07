//! Ising models on the periodic chain (1D ring) and square torus (2D).
//!
//! H = −J Σ_⟨ij⟩ s_i s_j − h Σ_i s_i with J = 1; spins are bits (1 = up).
//!
//! Layouts (how spins are packed into words):
//! - [`Replica`]: bit b of a word is replica b (64 per `u64`, 256 per `u64x4`); the lattice
//!   is one word per site. Any L ≥ 2; a temperature per replica.
//! - [`Strip`]: one lattice per 64-bit lane, many sites per lane (strip-interleaved,
//!   docs/monte-carlo.md#layouts): bit b of word (row, k) holds column b·W + k with W = L/64 ≥ 2.
//!   A `u64x4` carries four independent lattices, one per lane.
//! - [`wolff`]: scalar Wolff cluster updates on a plain row-major bit array.
//!
//! Local updates ([`Algorithm::Metropolis`], [`Algorithm::HeatBath`]) share one word
//! kernel: bonds are classified with bit-sliced adders and flips are accepted with exact
//! per-bit Bernoulli masks ([`crate::rng::bernoulli`]). [`Algorithm::MetropolisHalf`]
//! accepts ΔE = 0 moves with probability ½ instead of 1, which removes the
//! deterministic-cycle trap of sequential Metropolis on small lattices
//! (docs/monte-carlo.md#deterministic-cycles-of-sequential-metropolis); [`local_rule`]
//! picks it for rings and for 2D lattices below [`TRAP_FREE_BELOW`].

mod accept;
mod auto;
mod export;
mod geometry;
mod kernel;
mod observables;
pub mod reference;
mod replica;
mod strip;
pub mod wolff;

pub use accept::{AcceptTable, Algorithm, delta_e, flip_probability};
pub use auto::{Choice, TRAP_FREE_BELOW, choose, local_rule};
pub use export::{export_packed, import_packed, packed_row_bytes};
pub use geometry::{Dim, Geometry};
pub use replica::Replica;
pub use strip::Strip;

use crate::error::Error;
use crate::rng::WordRng;
use crate::word::Word;

/// Inverse temperature for a temperature, validated (finite, > 0).
pub fn beta(temperature: f64) -> Result<f64, Error> {
    if temperature.is_finite() && temperature > 0.0 {
        Ok(1.0 / temperature)
    } else {
        Err(Error::InvalidTemperature)
    }
}

/// Critical temperature of the 2D square-lattice Ising model, 2 / ln(1 + √2).
pub const T_C_2D: f64 = 2.269_185_314_213_022;

/// Per-chain measurements of one configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Number of unsatisfied bonds (s_i ≠ s_j).
    pub unsatisfied: u64,
    /// Number of up spins.
    pub up: u64,
}

impl Counts {
    /// Total bond energy −Σ s_i s_j = −(bonds − 2·unsatisfied) (the field term −h·M is
    /// not included).
    pub fn bond_energy(&self, geometry: &Geometry) -> i64 {
        2 * self.unsatisfied as i64 - geometry.bonds() as i64
    }
    /// Total magnetisation M = Σ s_i = 2·up − N.
    pub fn magnetization(&self, geometry: &Geometry) -> i64 {
        2 * self.up as i64 - geometry.sites() as i64
    }
}

/// What every packed layout offers the samplers and the CLI.
///
/// A lattice buffer is `&[W]` of [`Layout::words`] words; it holds
/// [`Layout::chains`]`::<W>()` independent configurations (chains). A separate `flip`
/// word holds the pending global spin flips (see [`Layout::global_flip`]): the physical
/// configuration is the stored one XOR `flip`.
pub trait Layout {
    /// The lattice.
    fn geometry(&self) -> Geometry;
    /// Words per lattice buffer.
    fn words(&self) -> usize;
    /// Independent configurations held by one buffer of words `W`.
    fn chains<W: Word>(&self) -> usize;
    /// One sequential sweep (every site of every chain visited once).
    fn sweep<W: Word, R: WordRng<W>>(
        &self,
        lattice: &mut [W],
        table: &AcceptTable<W>,
        rng: &mut R,
    ) -> Result<(), Error>;
    /// Flip each chain as a whole with probability ½ (exact at h = 0 only: an error is
    /// returned for a table with a field). Costs one random word; the lattice is not
    /// touched because the kernels depend only on spin differences at h = 0.
    fn global_flip<W: Word, R: WordRng<W>>(
        &self,
        flip: &mut W,
        table: &AcceptTable<W>,
        rng: &mut R,
    ) -> Result<(), Error>;
    /// Word index and bit of `site` of chain `chain` (bit within the word, `< W::BITS`).
    fn locate<W: Word>(&self, chain: usize, site: usize) -> (usize, usize);
    /// The (chain, site) held by bit `bit` of word `word` (the inverse of [`Layout::locate`]).
    fn site_at<W: Word>(&self, word: usize, bit: usize) -> (usize, usize);
    /// Unsatisfied bonds and up spins of every chain; `out.len()` must equal `chains`.
    fn measure<W: Word>(&self, lattice: &[W], flip: W, out: &mut [Counts]) -> Result<(), Error>;

    /// Spin of `site` in chain `chain` (true = up), including the pending global flip.
    fn spin<W: Word>(&self, lattice: &[W], flip: W, chain: usize, site: usize) -> bool {
        let (w, b) = self.locate::<W>(chain, site);
        lattice[w].bit(b) ^ flip.bit(b)
    }
}

#[cfg(test)]
mod tests;
