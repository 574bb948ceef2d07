//! Plain reference implementations, one spin at a time.
//!
//! - [`sweep_packed`]: the oracle for the multi-spin word kernels. It walks the words of
//!   a `u64` lattice in the kernel's order and decides each bit on its own: ΔE from its
//!   neighbours (found through the layout's coordinates, not through shifts), the flip
//!   probability from [`flip_probability`], and a lazy digit-by-digit comparison of the
//!   bit's private uniform (bit b of the successive random words) with p. It consumes the
//!   same random words as the kernel, so the two must agree bit for bit.
//! - [`sweep_i8`]: a textbook scalar Metropolis / heat-bath sweep on `i8` spins with one
//!   64-bit uniform per random decision; the speed baseline of the benchmarks and an
//!   independent statistical check.
//! - [`wolff_step_i8`]: the Wolff update on `i8` spins, consuming the same random numbers
//!   in the same order as [`super::wolff::Wolff::step`].

use super::wolff::{Cluster, bond_probability, cluster_flip_probability, draw_below};
use super::{Algorithm, Dim, Geometry, Layout, delta_e, flip_probability};
use crate::error::{Error, check_len};
use crate::rng::bernoulli::BitOracle;
use crate::rng::{Prob, Xoshiro256PlusPlus, uniform_below};

fn beta_of(temperatures: &[f64], bit: usize) -> Result<f64, Error> {
    let t = if temperatures.len() == 1 {
        temperatures[0]
    } else {
        temperatures[bit]
    };
    super::beta(t)
}

/// One sweep of a `u64` lattice of `layout`, bit by bit (see the module docs).
///
/// `temperatures` has one entry (all bits) or 64 (one per bit). The lattice must hold no
/// pending global flip (or `h` must be 0).
pub fn sweep_packed<L: Layout>(
    layout: &L,
    lattice: &mut [u64],
    algorithm: Algorithm,
    temperatures: &[f64],
    h: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<(), Error> {
    check_len("lattice", layout.words(), lattice.len())?;
    if temperatures.len() != 1 && temperatures.len() != 64 {
        return Err(Error::BufferLength {
            what: "temperatures",
            expected: 64,
            got: temperatures.len(),
        });
    }
    let g = layout.geometry();
    let z = g.z();
    for w in 0..lattice.len() {
        let mut oracle = BitOracle::default();
        let mut flips = 0u64;
        for bit in 0..64 {
            let (chain, site) = layout.site_at::<u64>(w, bit);
            let s = (lattice[w] >> bit) & 1;
            let mut s_sum = 0i32;
            for &n in &g.neighbours(site)[..z] {
                let (nw, nb) = layout.locate::<u64>(chain, n);
                s_sum += if (lattice[nw] >> nb) & 1 == s { 1 } else { -1 };
            }
            let spin = if s == 1 { 1 } else { -1 };
            let p = flip_probability(
                algorithm,
                beta_of(temperatures, bit)?,
                delta_e(s_sum, spin, h),
            );
            let accept = oracle.accept(rng, bit, p);
            flips |= (accept as u64) << bit;
        }
        oracle.finish(rng);
        lattice[w] ^= flips;
    }
    Ok(())
}

/// A textbook sweep on `i8` spins (±1), sites in typewriter order, one 64-bit uniform per
/// random decision.
pub fn sweep_i8(
    geometry: &Geometry,
    spins: &mut [i8],
    algorithm: Algorithm,
    temperature: f64,
    h: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<(), Error> {
    check_len("spins", geometry.sites(), spins.len())?;
    let beta = super::beta(temperature)?;
    // table[(s_sum + 4) / 2][spin up?]
    let mut table = [[Prob::One; 2]; 5];
    for (i, row) in table.iter_mut().enumerate() {
        for (u, p) in row.iter_mut().enumerate() {
            let s = if u == 1 { 1 } else { -1 };
            *p = flip_probability(algorithm, beta, delta_e(2 * i as i32 - 4, s, h));
        }
    }
    let l = geometry.size();
    let mut visit = |i: usize, sum: i32, spins: &mut [i8]| {
        let s = spins[i];
        let p = table[((s as i32 * sum + 4) / 2) as usize][(s > 0) as usize];
        if draw_below(rng, p) {
            spins[i] = -s;
        }
    };
    match geometry.dim() {
        Dim::One => {
            for x in 0..l {
                let sum = spins[(x + l - 1) % l] as i32 + spins[(x + 1) % l] as i32;
                visit(x, sum, spins);
            }
        }
        Dim::Two => {
            for y in 0..l {
                let up = if y == 0 { l - 1 } else { y - 1 } * l;
                let dn = if y + 1 == l { 0 } else { y + 1 } * l;
                for x in 0..l {
                    let lf = if x == 0 { l - 1 } else { x - 1 };
                    let rt = if x + 1 == l { 0 } else { x + 1 };
                    let row = y * l;
                    let sum = spins[row + lf] as i32
                        + spins[row + rt] as i32
                        + spins[up + x] as i32
                        + spins[dn + x] as i32;
                    visit(row + x, sum, spins);
                }
            }
        }
    }
    Ok(())
}

/// Bond energy −Σ s_i s_j and magnetisation Σ s_i of `i8` spins.
pub fn energy_magnetization_i8(geometry: &Geometry, spins: &[i8]) -> (i64, i64) {
    let (mut e, mut m) = (0i64, 0i64);
    for (i, &s) in spins.iter().enumerate() {
        let nb = geometry.neighbours(i);
        e -= (s * spins[nb[1]]) as i64;
        if geometry.dim() == Dim::Two {
            e -= (s * spins[nb[3]]) as i64;
        }
        m += s as i64;
    }
    (e, m)
}

/// One Wolff cluster update on `i8` spins; the same random numbers in the same order as
/// [`super::wolff::Wolff::step`]. `visited` must be all false on entry (and is on exit).
pub fn wolff_step_i8(
    geometry: &Geometry,
    spins: &mut [i8],
    stack: &mut [u32],
    visited: &mut [bool],
    temperature: f64,
    h: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<Cluster, Error> {
    let n = geometry.sites();
    check_len("spins", n, spins.len())?;
    check_len("stack", n, stack.len())?;
    check_len("visited", n, visited.len())?;
    let beta = super::beta(temperature)?;
    let p_add = bond_probability(beta);
    let seed = uniform_below(rng, n as u64) as usize;
    let s0 = spins[seed];
    let mut members = 0usize;
    stack[members] = seed as u32;
    members += 1;
    visited[seed] = true;
    let mut next = 0usize;
    while next < members {
        let i = stack[next] as usize;
        next += 1;
        for &j in &geometry.neighbours(i)[..geometry.z()] {
            if !visited[j] && spins[j] == s0 && draw_below(rng, p_add) {
                visited[j] = true;
                stack[members] = j as u32;
                members += 1;
            }
        }
    }
    let flipped =
        h == 0.0 || draw_below(rng, cluster_flip_probability(beta, h, s0 as i32, members));
    for &i in &stack[..members] {
        visited[i as usize] = false;
        if flipped {
            spins[i as usize] = -s0;
        }
    }
    Ok(Cluster {
        size: members,
        flipped,
    })
}
