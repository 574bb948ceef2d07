//! Multi-spin-coded plaquette flips for close-packed dimers, replica layout.
//!
//! **Layout.** One word per link, bit b = replica b (64 replicas per `u64`, 256 per
//! `u64x4`): two buffers `h` and `v` of L² words each, index `y·L + x`, where bit b of
//! `h[y·L + x]` is a dimer of replica b on the link (x,y)–(x+1,y) and bit b of
//! `v[y·L + x]` one on (x,y)–(x,y+1) (periodic, L even ≥ 4). Every replica must hold a
//! close-packed covering (exactly one dimer per site); [`Plaquettes::import`] checks this.
//!
//! **Move.** Plaquette (x,y) has corners (x,y), (x+1,y), (x,y+1), (x+1,y+1). It is
//! flippable when it holds two parallel dimers: `h(x,y) & h(x,y+1)` (horizontal pair) or
//! `v(x,y) & v(x+1,y)` (vertical pair); a flip swaps the pair. A sweep attempts one flip
//! on every plaquette of every replica, visiting the four sublattice classes
//! (x mod 2, y mod 2) = (0,0), (1,0), (0,1), (1,1) in turn, each class row by row
//! (y ascending, then x ascending). Plaquettes of one class share no site. In the replica
//! layout the bits of a word are different replicas of the *same* plaquette, so every
//! replica sees a plain sequential sweep; the class order only fixes the visiting order
//! (the oracle in [`reference`](mod@reference) uses the same one).
//!
//! **Energy.** E = v·N_∥, N_∥ = number of plaquettes holding two parallel dimers (the
//! flippable plaquettes). Flipping plaquette (x,y) keeps it parallel and changes only
//! its four edge neighbours: from horizontal to vertical,
//!
//! ```text
//! ΔN_∥ = [v(x−1,y)] + [v(x+2,y)] − [h(x,y−1)] − [h(x,y+2)]
//! ```
//!
//! (plaquette (x−1,y) gains its vertical pair when v(x−1,y) is set, (x+1,y) when
//! v(x+2,y) is set; plaquette (x,y−1) loses its horizontal pair when h(x,y−1) is set,
//! (x,y+1) when h(x,y+2) is set; no neighbour can hold the other orientation, because
//! the plaquette's dimers cover the shared sites). From vertical to horizontal the sign
//! is reversed. The classes ΔN_∥ ∈ {−2, …, 2} are computed bit-sliced per word.
//!
//! **Acceptance.** Heat bath, p(ΔN) = 1 / (1 + e^{β·v·ΔN}), so ΔN = 0 (and v = 0) gives
//! exactly ½ and no deterministic ΔE = 0 cycle can trap a replica (docs/monte-carlo.md#deterministic-cycles-of-sequential-metropolis).
//! Bits are accepted with the exact per-bit lazy comparison of [`crate::rng::bernoulli`]
//! (no randomness shared between replicas, docs/monte-carlo.md#exact-per-bit-randomness). The stream contract,
//! per plaquette word with at least one flippable bit (per lane for `u64x4`):
//!
//! * if every class has p = ½ exactly (v = 0): one raw word U, flippable bits with
//!   U-bit 0 flip;
//! * otherwise: bits of classes with p = 1 flip without randomness; the other flippable
//!   bits are decided by [`crate::rng::bernoulli::lazy`] (a block of
//!   [`BLOCK_DIGITS`](crate::rng::bernoulli::BLOCK_DIGITS) words, then one word per
//!   further digit while some bit is undecided).
//!
//! Words without any flippable bit draw nothing.
//!
//! ```
//! use rsmi_core::dimer::plaquette::{Accept, Plaquettes};
//! use rsmi_core::rng::stream_x4;
//! use wide::u64x4;
//!
//! # fn main() -> Result<(), rsmi_core::Error> {
//! let layout = Plaquettes::new(8)?; // 256 replicas of an 8×8 torus
//! let (mut h, mut v) = ([u64x4::ZERO; 64], [u64x4::ZERO; 64]);
//! layout.fill_columnar(&mut h, &mut v)?;
//! let accept = Accept::heat_bath(-1.0, 0.65)?; // aligning, near T_KT
//! let mut rng = stream_x4(42, 0, 0);
//! for _ in 0..100 {
//!     layout.sweep(&mut h, &mut v, &accept, &mut rng)?;
//! }
//! let mut n_par = [0u64; 256];
//! layout.parallel_counts(&h, &v, &mut n_par)?; // per-replica N_∥
//! let (mut hp, mut vp) = ([0u64; 1], [0u64; 1]);
//! layout.export(&h, &v, 3, &mut hp, &mut vp)?; // replica 3 as bit planes
//! assert_eq!((hp[0].count_ones() + vp[0].count_ones()) as usize, 32); // L²/2 dimers
//! # Ok(())
//! # }
//! ```

pub mod reference;
#[cfg(test)]
mod tests;

use crate::error::{Error, check_len};
use crate::rng::bernoulli::{self, DigitSource};
use crate::rng::{Prob, WordRng};
use crate::word::Word;

/// Heat-bath probability of a flip that changes N_∥ by `delta_n`, for `beta_v` = v / T:
/// 1 / (1 + e^{β·v·ΔN}), exactly ½ for ΔN = 0, rounded down to 64-bit fixed point
/// ([`Prob::from_f64`]). Shared by the kernel tables and the reference.
pub fn heat_bath_probability(beta_v: f64, delta_n: i32) -> Prob {
    if delta_n == 0 {
        Prob::HALF
    } else {
        Prob::from_f64(1.0 / (1.0 + libm::exp(beta_v * delta_n as f64)))
    }
}

/// Acceptance probabilities of the five classes ΔN_∥ ∈ {−2, …, 2} for E = v·N_∥ at one
/// temperature (the same for every replica).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Accept {
    interaction: f64,
    temperature: f64,
    /// `probs[j]`: probability of class ΔN = j − 2.
    probs: [Prob; 5],
}

impl Accept {
    /// Heat bath for E = `interaction`·N_∥ at `temperature` (finite, > 0); `interaction`
    /// must be finite (negative = aligning, as in the KT-transition model).
    pub fn heat_bath(interaction: f64, temperature: f64) -> Result<Self, Error> {
        let beta = crate::ising::beta(temperature)?;
        if !interaction.is_finite() {
            return Err(Error::InvalidParameter(
                "dimer interaction v must be a finite number",
            ));
        }
        let bv = beta * interaction;
        Ok(Accept {
            interaction,
            temperature,
            probs: core::array::from_fn(|j| heat_bath_probability(bv, j as i32 - 2)),
        })
    }

    /// The non-interacting (uniform) model, v = 0: every flippable plaquette flips with
    /// probability ½ (temperature irrelevant, reported as 1).
    pub fn uniform() -> Self {
        Accept {
            interaction: 0.0,
            temperature: 1.0,
            probs: [Prob::HALF; 5],
        }
    }

    /// The interaction v.
    pub fn interaction(&self) -> f64 {
        self.interaction
    }

    /// The temperature.
    pub fn temperature(&self) -> f64 {
        self.temperature
    }

    /// Acceptance probability of a flip with ΔN_∥ = `delta_n` (`None` outside −2..=2,
    /// which no flip can reach).
    pub fn probability(&self, delta_n: i32) -> Option<Prob> {
        let j = usize::try_from(delta_n.checked_add(2)?).ok()?;
        self.probs.get(j).copied()
    }

    /// True when every class has p = ½ exactly (v = 0): the kernel then draws one raw
    /// random word per plaquette word instead of running the lazy comparison.
    pub fn is_half(&self) -> bool {
        self.probs.iter().all(|&p| p == Prob::HALF)
    }

    /// Pattern of the random classes' digits for [`SplitUnions`], and which classes are
    /// random (p < 1).
    fn tables(&self) -> ([u8; 64], [bool; 5]) {
        let random: [bool; 5] = core::array::from_fn(|j| self.probs[j] != Prob::One);
        let mut pattern = [0u8; 64];
        for (k, p) in pattern.iter_mut().enumerate() {
            for (j, (&r, prob)) in random.iter().zip(&self.probs).enumerate() {
                if r && prob.digit(k) {
                    *p |= 1 << j;
                }
            }
        }
        (pattern, random)
    }
}

/// Digit source for five classes with one probability each: digit k is the union of the
/// class masks whose probability has digit k set, read from two small union tables built
/// once per word (classes 0–2 and 3–4): two loads and one OR per digit.
struct SplitUnions<'a, W: Word> {
    low: [W; 8],
    high: [W; 4],
    pattern: &'a [u8; 64],
}

impl<'a, W: Word> SplitUnions<'a, W> {
    #[inline(always)]
    fn new(m: &[W; 5], pattern: &'a [u8; 64]) -> Self {
        let ab = m[0] | m[1];
        SplitUnions {
            low: [
                W::ZERO,
                m[0],
                m[1],
                ab,
                m[2],
                m[0] | m[2],
                m[1] | m[2],
                ab | m[2],
            ],
            high: [W::ZERO, m[3], m[4], m[3] | m[4]],
            pattern,
        }
    }
}

impl<W: Word> DigitSource<W> for SplitUnions<'_, W> {
    #[inline(always)]
    fn digit(&self, k: usize) -> W {
        let p = self.pattern[k];
        self.low[(p & 7) as usize] | self.high[((p >> 3) & 3) as usize]
    }
}

/// One-hot masks of the class ΔN_∥ + 2 ∈ {0, …, 4} of flipping each bit's plaquette,
/// restricted to `flippable` bits. `fv` marks the vertical (flippable) bits, `a`, `b`,
/// `c`, `d` are v(x−1,y), v(x+2,y), h(x,y−1), h(x,y+2).
#[inline(always)]
fn delta_classes<W: Word>(flippable: W, fv: W, a: W, b: W, c: W, d: W) -> [W; 5] {
    // Gains g and losses l: (a, b) and (c, d) for horizontal bits, swapped for vertical.
    let t_ac = (a ^ c) & fv;
    let t_bd = (b ^ d) & fv;
    let (ga, la) = (a ^ t_ac, c ^ t_ac);
    let (gb, lb) = (b ^ t_bd, d ^ t_bd);
    // ΔN + 2 = ga + gb + (1 − la) + (1 − lb): a 4-input bit count (two half adders),
    // n = b0 + 2·b1 + 4·b2.
    let (s12, c12) = (ga ^ gb, ga & gb);
    let (s34, c34) = (la ^ lb, !(la | lb));
    let b0 = s12 ^ s34;
    let carry = s12 & s34; // never set together with c12 or c34
    let b1 = c12 ^ c34 ^ carry;
    let b2 = c12 & c34; // n = 4
    let fb0 = flippable & b0;
    let fb1 = flippable & b1;
    [
        flippable & !(b0 | b1 | b2),
        fb0 & !b1,
        fb1 & !b0,
        fb0 & b1,
        flippable & b2,
    ]
}

/// Bits to flip for one plaquette word (see the module docs for the stream contract).
/// `HALF`: every class has p = ½; `CERTAIN`: some class has p = 1 (its bits are in
/// `certain` and flip without randomness).
#[inline(always)]
fn flip_mask<W: Word, R: WordRng<W>, const HALF: bool, const CERTAIN: bool>(
    fh: W,
    fv: W,
    nb: [W; 4],
    certain: &[W; 5],
    pattern: &[u8; 64],
    rng: &mut R,
) -> W {
    let flippable = fh | fv;
    if flippable.is_zero() {
        return W::ZERO;
    }
    if HALF {
        let u = rng.next_word_masked(flippable);
        return flippable & !u;
    }
    let cls = delta_classes(flippable, fv, nb[0], nb[1], nb[2], nb[3]);
    if CERTAIN {
        let rm: [W; 5] = core::array::from_fn(|j| cls[j] & !certain[j]);
        let pending = rm[0] | rm[1] | rm[2] | rm[3] | rm[4];
        (flippable & !pending) | bernoulli::lazy(rng, &SplitUnions::new(&rm, pattern), pending)
    } else {
        bernoulli::lazy(rng, &SplitUnions::new(&cls, pattern), flippable)
    }
}

/// Set bit `bit` of `w` to `value`.
#[inline]
fn set_bit<W: Word>(w: &mut W, bit: usize, value: bool) {
    let m = W::from_fn(|lane| {
        if lane == bit / 64 {
            1u64 << (bit % 64)
        } else {
            0
        }
    });
    *w = (*w & !m) | if value { m } else { W::ZERO };
}

/// The replica layout of the plaquette-flip sampler on the L×L torus (see the module
/// docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plaquettes {
    l: usize,
}

impl Plaquettes {
    /// Largest supported linear size.
    pub const MAX_L: usize = 1 << 15;

    /// Layout for an L×L torus; L must be even and at least 4 (ΔN_∥ reads links two
    /// columns and two rows away).
    pub fn new(l: usize) -> Result<Self, Error> {
        if l < 4 || !l.is_multiple_of(2) {
            return Err(Error::UnsupportedSize {
                size: l,
                requirement: "plaquette flips need an even linear size of at least 4",
            });
        }
        if l > Self::MAX_L {
            return Err(Error::UnsupportedSize {
                size: l,
                requirement: "the linear size exceeds the supported maximum (2^15)",
            });
        }
        Ok(Plaquettes { l })
    }

    /// Linear size L.
    pub fn size(&self) -> usize {
        self.l
    }

    /// Words per link buffer (`h` or `v`): L².
    pub fn words(&self) -> usize {
        self.l * self.l
    }

    /// Words per bit plane of one replica: ⌈L²/64⌉.
    pub fn plane_words(&self) -> usize {
        self.words().div_ceil(64)
    }

    /// Replicas held by buffers of words `W` (`W::BITS`).
    pub fn replicas<W: Word>(&self) -> usize {
        W::BITS
    }

    fn check<W: Word>(&self, h: &[W], v: &[W]) -> Result<(), Error> {
        check_len("h", self.words(), h.len())?;
        check_len("v", self.words(), v.len())
    }

    /// One sweep: one flip attempt on every plaquette of every replica, sublattice
    /// classes in turn (see the module docs for the order and the stream contract).
    pub fn sweep<W: Word, R: WordRng<W>>(
        &self,
        h: &mut [W],
        v: &mut [W],
        accept: &Accept,
        rng: &mut R,
    ) -> Result<(), Error> {
        self.check(h, v)?;
        let certain = accept.probs.contains(&Prob::One);
        match (accept.is_half(), certain) {
            (true, _) => self.sweep_impl::<W, R, true, false>(h, v, accept, rng),
            (false, false) => self.sweep_impl::<W, R, false, false>(h, v, accept, rng),
            (false, true) => self.sweep_impl::<W, R, false, true>(h, v, accept, rng),
        }
        Ok(())
    }

    fn sweep_impl<W: Word, R: WordRng<W>, const HALF: bool, const CERTAIN: bool>(
        &self,
        h: &mut [W],
        v: &mut [W],
        accept: &Accept,
        rng: &mut R,
    ) {
        let l = self.l;
        let (pattern, random) = accept.tables();
        let certain: [W; 5] = random.map(|r| if r { W::ZERO } else { W::ONES });
        for class in 0..4 {
            let (cx, cy) = (class & 1, class >> 1);
            for y in (cy..l).step_by(2) {
                let r0 = y * l;
                let r1 = if y + 1 == l { 0 } else { r0 + l };
                let rm = if y == 0 { l * (l - 1) } else { r0 - l };
                let r2 = if y + 2 >= l {
                    (y + 2 - l) * l
                } else {
                    r0 + 2 * l
                };
                for x in (cx..l).step_by(2) {
                    let x1 = if x + 1 == l { 0 } else { x + 1 };
                    let xm = if x == 0 { l - 1 } else { x - 1 };
                    let x2 = if x + 2 >= l { x + 2 - l } else { x + 2 };
                    let fh = h[r0 + x] & h[r1 + x];
                    let fv = v[r0 + x] & v[r0 + x1];
                    let nb = if HALF {
                        [W::ZERO; 4]
                    } else {
                        [v[r0 + xm], v[r0 + x2], h[rm + x], h[r2 + x]]
                    };
                    let f = flip_mask::<W, R, HALF, CERTAIN>(fh, fv, nb, &certain, &pattern, rng);
                    // In a covering the four links hold either the horizontal pair or
                    // the vertical pair: toggling all four swaps the pair.
                    h[r0 + x] ^= f;
                    h[r1 + x] ^= f;
                    v[r0 + x] ^= f;
                    v[r0 + x1] ^= f;
                }
            }
        }
    }

    /// Put every replica into the columnar covering h(x,y) = 1 for even x (winding
    /// numbers (0, 0)).
    pub fn fill_columnar<W: Word>(&self, h: &mut [W], v: &mut [W]) -> Result<(), Error> {
        self.check(h, v)?;
        for (i, w) in h.iter_mut().enumerate() {
            *w = if (i % self.l).is_multiple_of(2) {
                W::ONES
            } else {
                W::ZERO
            };
        }
        v.fill(W::ZERO);
        Ok(())
    }

    /// Write replica `replica` as two bit planes (bit `y·L + x` of word `(y·L + x)/64`;
    /// ⌈L²/64⌉ words each, padding bits cleared).
    pub fn export<W: Word>(
        &self,
        h: &[W],
        v: &[W],
        replica: usize,
        h_plane: &mut [u64],
        v_plane: &mut [u64],
    ) -> Result<(), Error> {
        self.check(h, v)?;
        check_len("h plane", self.plane_words(), h_plane.len())?;
        check_len("v plane", self.plane_words(), v_plane.len())?;
        if replica >= W::BITS {
            return Err(Error::InvalidParameter("replica index out of range"));
        }
        h_plane.fill(0);
        v_plane.fill(0);
        for i in 0..self.words() {
            h_plane[i / 64] |= (h[i].bit(replica) as u64) << (i % 64);
            v_plane[i / 64] |= (v[i].bit(replica) as u64) << (i % 64);
        }
        Ok(())
    }

    /// Load replica `replica` from two bit planes (the layout of [`Plaquettes::export`]).
    /// The planes must hold a close-packed covering and zero padding bits; otherwise an
    /// error is returned and the buffers are left unchanged.
    pub fn import<W: Word>(
        &self,
        h: &mut [W],
        v: &mut [W],
        replica: usize,
        h_plane: &[u64],
        v_plane: &[u64],
    ) -> Result<(), Error> {
        self.check(h, v)?;
        check_len("h plane", self.plane_words(), h_plane.len())?;
        check_len("v plane", self.plane_words(), v_plane.len())?;
        if replica >= W::BITS {
            return Err(Error::InvalidParameter("replica index out of range"));
        }
        let n = self.words();
        if !n.is_multiple_of(64) {
            let pad = !0u64 << (n % 64);
            if (h_plane[n / 64] | v_plane[n / 64]) & pad != 0 {
                return Err(Error::InvalidParameter("padding bits of a plane are set"));
            }
        }
        if !reference::is_covering(self.l, h_plane, v_plane) {
            return Err(Error::InvalidParameter(
                "planes are not a close-packed dimer covering",
            ));
        }
        for i in 0..n {
            set_bit(&mut h[i], replica, (h_plane[i / 64] >> (i % 64)) & 1 == 1);
            set_bit(&mut v[i], replica, (v_plane[i / 64] >> (i % 64)) & 1 == 1);
        }
        Ok(())
    }

    /// N_∥ (plaquettes holding two parallel dimers) of every replica; `out.len()` must be
    /// `W::BITS`. Bit-sliced counters: no per-bit loop over the lattice.
    pub fn parallel_counts<W: Word>(&self, h: &[W], v: &[W], out: &mut [u64]) -> Result<(), Error> {
        self.check(h, v)?;
        check_len("counts", W::BITS, out.len())?;
        let l = self.l;
        let mut planes = [W::ZERO; 64];
        for y in 0..l {
            let r0 = y * l;
            let r1 = if y + 1 == l { 0 } else { r0 + l };
            for x in 0..l {
                let x1 = if x + 1 == l { 0 } else { x + 1 };
                let mut carry = (h[r0 + x] & h[r1 + x]) | (v[r0 + x] & v[r0 + x1]);
                for p in planes.iter_mut() {
                    if carry.is_zero() {
                        break;
                    }
                    let next = *p & carry;
                    *p ^= carry;
                    carry = next;
                }
            }
        }
        for (b, c) in out.iter_mut().enumerate() {
            *c = planes
                .iter()
                .enumerate()
                .map(|(p, w)| (w.bit(b) as u64) << p)
                .sum();
        }
        Ok(())
    }
}
