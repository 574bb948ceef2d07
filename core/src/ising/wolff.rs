//! Wolff single-cluster updates (scalar), on a plain row-major bit array.
//!
//! Spins: site i = y·L + x is bit i % 64 of word i / 64 (1 = up). The caller owns three
//! buffers: `spins` (⌈N/64⌉ words), `stack` (N entries, also the list of cluster members)
//! and `visited` (⌈N/64⌉ words, all zero between calls). Bonds to aligned neighbours are
//! activated with probability p = 1 − e^{−2β}, one 64-bit uniform per bond test (exact in
//! 64-bit fixed point). In a field h the built cluster is flipped with the Metropolis
//! probability min(1, e^{−β·2h·s·|C|}).

use super::{Counts, Dim, Geometry};
use crate::error::{Error, check_len};
use crate::rng::{Prob, Xoshiro256PlusPlus, uniform_below};
use rand_core::Rng;

/// Wolff cluster updater for one lattice.
///
/// A 16×16 torus at T_c, measured after a fixed number of clusters (never right after
/// [`Wolff::sweep`], whose end biases the measurement):
///
/// ```
/// use rsmi_core::ising::wolff::Wolff;
/// use rsmi_core::ising::{Dim, T_C_2D};
/// use rsmi_core::rng::stream;
///
/// # fn main() -> Result<(), rsmi_core::Error> {
/// let wolff = Wolff::new(Dim::Two, 16, T_C_2D, 0.0)?;
/// assert_eq!((wolff.words(), wolff.stack_len()), (4, 256));
/// let mut spins = [0u64; 4]; // all down; site y·16 + x is bit i % 64 of word i / 64
/// let mut stack = [0u32; 256];
/// let mut visited = [0u64; 4]; // all zero between calls
/// let mut rng = stream(42, 0, 0);
///
/// let cluster = wolff.step(&mut spins, &mut stack, &mut visited, &mut rng)?;
/// assert!(cluster.flipped); // always at h = 0
/// assert_eq!(wolff.measure(&spins)?.up as usize, cluster.size); // the cluster is up now
/// assert_eq!(visited, [0; 4]); // cleared again by the update
///
/// for _ in 0..20 {
///     wolff.sweep(&mut spins, &mut stack, &mut visited, &mut rng)?; // equilibration only
/// }
/// let mut e = 0.0;
/// for _ in 0..200 {
///     wolff.steps(&mut spins, &mut stack, &mut visited, &mut rng, 4)?;
///     e += wolff.measure(&spins)?.bond_energy(&wolff.geometry()) as f64 / 256.0;
/// }
/// assert!((e / 200.0 + 1.453).abs() < 0.1); // exact ⟨e⟩ on the 16×16 torus: −1.453
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wolff {
    g: Geometry,
    beta: f64,
    h: f64,
    p_add: Prob,
}

/// Outcome of one cluster update.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cluster {
    /// Number of sites in the cluster.
    pub size: usize,
    /// Whether it was flipped (always, at h = 0).
    pub flipped: bool,
}

#[inline(always)]
fn get(bits: &[u64], i: usize) -> bool {
    (bits[i / 64] >> (i % 64)) & 1 == 1
}
#[inline(always)]
fn toggle(bits: &mut [u64], i: usize) {
    bits[i / 64] ^= 1 << (i % 64);
}

/// Bond activation probability 1 − e^{−2β} in fixed point.
pub fn bond_probability(beta: f64) -> Prob {
    Prob::from_f64(-libm::expm1(-2.0 * beta))
}

/// Does a uniform 64-bit draw fall below `p`? (`One` consumes no draw.)
#[inline(always)]
pub(crate) fn draw_below(rng: &mut Xoshiro256PlusPlus, p: Prob) -> bool {
    match p {
        Prob::One => true,
        Prob::Fixed(x) => rng.next_u64() < x,
    }
}

/// Probability of flipping a built cluster of `size` spins of sign `s` in field `h`.
pub fn cluster_flip_probability(beta: f64, h: f64, s: i32, size: usize) -> Prob {
    let de = 2.0 * h * s as f64 * size as f64;
    if de <= 0.0 {
        Prob::One
    } else {
        Prob::from_f64(libm::exp(-beta * de))
    }
}

impl Wolff {
    /// Wolff updater for a ring or torus of linear size `l ≥ 2` at `temperature`, field `h`.
    pub fn new(dim: Dim, l: usize, temperature: f64, h: f64) -> Result<Self, Error> {
        let g = Geometry::new(dim, l)?;
        let beta = super::beta(temperature)?;
        if !h.is_finite() {
            return Err(Error::InvalidField);
        }
        if g.sites() > u32::MAX as usize {
            return Err(Error::UnsupportedSize {
                size: l,
                requirement: "Wolff needs fewer than 2^32 sites",
            });
        }
        Ok(Wolff {
            g,
            beta,
            h,
            p_add: bond_probability(beta),
        })
    }

    /// The lattice.
    pub fn geometry(&self) -> Geometry {
        self.g
    }
    /// Words of the `spins` and `visited` buffers: ⌈N/64⌉.
    pub fn words(&self) -> usize {
        self.g.sites().div_ceil(64)
    }
    /// Entries of the `stack` buffer: N.
    pub fn stack_len(&self) -> usize {
        self.g.sites()
    }

    fn check(&self, spins: &[u64], stack: &[u32], visited: &[u64]) -> Result<(), Error> {
        check_len("spins", self.words(), spins.len())?;
        check_len("stack", self.stack_len(), stack.len())?;
        check_len("visited", self.words(), visited.len())
    }

    /// Grow and (maybe) flip one cluster from a uniformly chosen seed site.
    pub fn step(
        &self,
        spins: &mut [u64],
        stack: &mut [u32],
        visited: &mut [u64],
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<Cluster, Error> {
        self.check(spins, stack, visited)?;
        Ok(self.step_unchecked(spins, stack, visited, rng))
    }

    fn step_unchecked(
        &self,
        spins: &mut [u64],
        stack: &mut [u32],
        visited: &mut [u64],
        rng: &mut Xoshiro256PlusPlus,
    ) -> Cluster {
        let n = self.g.sites();
        let z = self.g.z();
        let seed = uniform_below(rng, n as u64) as usize;
        let s0 = get(spins, seed);
        stack[0] = seed as u32;
        toggle(visited, seed);
        let (mut head, mut top) = (0usize, 1usize);
        while head < top {
            let i = stack[head] as usize;
            head += 1;
            let nb = self.g.neighbours(i);
            for &j in &nb[..z] {
                if !get(visited, j) && get(spins, j) == s0 {
                    // Branch-free push: the bond test's outcome is a coin flip that a
                    // branch predictor cannot learn.
                    let add = draw_below(rng, self.p_add);
                    visited[j / 64] |= (add as u64) << (j % 64);
                    if top < n {
                        stack[top] = j as u32;
                    }
                    top += add as usize;
                }
            }
        }
        let s = if s0 { 1 } else { -1 };
        let flipped =
            self.h == 0.0 || draw_below(rng, cluster_flip_probability(self.beta, self.h, s, top));
        for &i in &stack[..top] {
            let i = i as usize;
            toggle(visited, i);
            if flipped {
                toggle(spins, i);
            }
        }
        Cluster { size: top, flipped }
    }

    /// `count` cluster updates; returns the sum of their sizes.
    ///
    /// Use a fixed count between measurements: that is a valid Markov chain step whose
    /// end does not depend on the trajectory.
    pub fn steps(
        &self,
        spins: &mut [u64],
        stack: &mut [u32],
        visited: &mut [u64],
        rng: &mut Xoshiro256PlusPlus,
        count: usize,
    ) -> Result<usize, Error> {
        self.check(spins, stack, visited)?;
        Ok((0..count)
            .map(|_| self.step_unchecked(spins, stack, visited, rng).size)
            .sum())
    }

    /// Cluster updates until their sizes add up to at least N (one sweep-equivalent).
    /// Returns the number of clusters.
    ///
    /// **Do not measure right after such a sweep.** Its end is a stopping time that
    /// depends on the cluster sizes (it tends to stop right after a large cluster, i.e.
    /// in an ordered state), so observables measured there are biased: at T_c on an 8×8
    /// torus ⟨e⟩ comes out ≈ −1.545 instead of −1.4916. Use it for equilibration and
    /// timing, or to calibrate a fixed number of [`Wolff::steps`] per sweep.
    pub fn sweep(
        &self,
        spins: &mut [u64],
        stack: &mut [u32],
        visited: &mut [u64],
        rng: &mut Xoshiro256PlusPlus,
    ) -> Result<usize, Error> {
        self.check(spins, stack, visited)?;
        let (mut covered, mut clusters) = (0usize, 0usize);
        while covered < self.g.sites() {
            covered += self.step_unchecked(spins, stack, visited, rng).size;
            clusters += 1;
        }
        Ok(clusters)
    }

    /// Unsatisfied bonds and up spins.
    pub fn measure(&self, spins: &[u64]) -> Result<Counts, Error> {
        check_len("spins", self.words(), spins.len())?;
        let mut c = Counts::default();
        for i in 0..self.g.sites() {
            let s = get(spins, i);
            let nb = self.g.neighbours(i);
            c.unsatisfied += (s != get(spins, nb[1])) as u64;
            if self.g.dim() == Dim::Two {
                c.unsatisfied += (s != get(spins, nb[3])) as u64;
            }
            c.up += s as u64;
        }
        Ok(c)
    }

    /// Spin of `site` (true = up).
    pub fn spin(&self, spins: &[u64], site: usize) -> bool {
        get(spins, site)
    }
}

/// Spins as NumPy packed bits for a [`Wolff`] lattice (rows of ⌈L/8⌉ bytes, MSB first).
pub fn export_packed(w: &Wolff, spins: &[u64], out: &mut [u8]) -> Result<(), Error> {
    let g = w.geometry();
    let l = g.size();
    let rb = super::packed_row_bytes(l);
    check_len("spins", w.words(), spins.len())?;
    check_len("packed output", g.sites() / l * rb, out.len())?;
    out.fill(0);
    for i in 0..g.sites() {
        if get(spins, i) {
            let (row, col) = (i / l, i % l);
            out[row * rb + col / 8] |= 0x80 >> (col % 8);
        }
    }
    Ok(())
}
