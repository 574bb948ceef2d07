//! Plain references for the plaquette-flip kernel, one replica bit at a time.
//!
//! - [`sweep_packed`]: the oracle. It walks the plaquettes of a `u64` replica buffer in
//!   the kernel's order and decides each bit (replica) on its own: flippability and
//!   ΔN_∥ from a recount of the parallel plaquettes around the plaquette before and after
//!   the flip (not from the kernel's formula), the probability from
//!   [`heat_bath_probability`], and a lazy digit-by-digit comparison of the bit's private
//!   uniform (bit b of the successive random words) with p. It consumes the same random
//!   words as the kernel, so the two agree bit for bit.
//! - [`is_covering`], [`winding`], [`parallel_count`]: plain checks and observables on
//!   one configuration stored as two bit planes (bit `y·L + x` of word `(y·L + x)/64`).

use super::{Plaquettes, heat_bath_probability};
use crate::error::{Error, check_len};
use crate::rng::bernoulli::BitOracle;
use crate::rng::{Prob, Xoshiro256PlusPlus};
use rand_core::Rng;

#[inline]
fn plane_bit(plane: &[u64], i: usize) -> bool {
    (plane[i / 64] >> (i % 64)) & 1 == 1
}

/// Words of a bit plane of the L×L torus, ⌈L²/64⌉ (`None` on overflow).
fn plane_words(l: usize) -> Option<usize> {
    Some(l.checked_mul(l)?.div_ceil(64))
}

fn check_planes(l: usize, h: &[u64], v: &[u64]) -> Result<(), Error> {
    let n = plane_words(l).ok_or(Error::UnsupportedSize {
        size: l,
        requirement: "L² must fit in usize",
    })?;
    check_len("h plane", n, h.len())?;
    check_len("v plane", n, v.len())
}

/// True when the planes (⌈L²/64⌉ words each) hold exactly one dimer at every site of
/// the L×L torus. Planes of another length, or L = 0, give false.
pub fn is_covering(l: usize, h: &[u64], v: &[u64]) -> bool {
    if l == 0 || check_planes(l, h, v).is_err() {
        return false;
    }
    (0..l).all(|y| {
        (0..l).all(|x| {
            let left = (x + l - 1) % l;
            let down = (y + l - 1) % l;
            let touching = plane_bit(h, y * l + x) as u32
                + plane_bit(h, y * l + left) as u32
                + plane_bit(v, y * l + x) as u32
                + plane_bit(v, down * l + x) as u32;
            touching == 1
        })
    })
}

/// Winding numbers (W_x, W_y) = (Σ_y (−1)^y h(0,y), Σ_x (−1)^x v(x,0)), the
/// convention of `tests/data/dimer_exact.json`; planes of ⌈L²/64⌉ words.
pub fn winding(l: usize, h: &[u64], v: &[u64]) -> Result<(i64, i64), Error> {
    check_planes(l, h, v)?;
    let sign = |i: usize| if i.is_multiple_of(2) { 1 } else { -1 };
    let wx = (0..l).map(|y| sign(y) * plane_bit(h, y * l) as i64).sum();
    let wy = (0..l).map(|x| sign(x) * plane_bit(v, x) as i64).sum();
    Ok((wx, wy))
}

/// N_∥: plaquettes (x,y) with h(x,y)·h(x,y+1) = 1 or v(x,y)·v(x+1,y) = 1; planes of
/// ⌈L²/64⌉ words.
pub fn parallel_count(l: usize, h: &[u64], v: &[u64]) -> Result<u64, Error> {
    check_planes(l, h, v)?;
    let mut n = 0;
    for y in 0..l {
        for x in 0..l {
            n += parallel_at(l, |i| plane_bit(h, i), |i| plane_bit(v, i), x, y) as u64;
        }
    }
    Ok(n)
}

/// Whether plaquette (x,y) holds two parallel dimers, links read through `h` and `v`.
fn parallel_at(
    l: usize,
    h: impl Fn(usize) -> bool,
    v: impl Fn(usize) -> bool,
    x: usize,
    y: usize,
) -> bool {
    let (x1, y1) = ((x + 1) % l, (y + 1) % l);
    (h(y * l + x) && h(y1 * l + x)) || (v(y * l + x) && v(y * l + x1))
}

/// One sweep of a `u64` replica buffer (64 replicas), bit by bit, in the kernel's order
/// and with the kernel's stream contract (see [`super`]). `h` and `v` have L² words.
pub fn sweep_packed(
    layout: &Plaquettes,
    h: &mut [u64],
    v: &mut [u64],
    interaction: f64,
    temperature: f64,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<(), Error> {
    let l = layout.size();
    check_len("h", l * l, h.len())?;
    check_len("v", l * l, v.len())?;
    let beta = crate::ising::beta(temperature)?;
    if !interaction.is_finite() {
        return Err(Error::InvalidParameter(
            "dimer interaction v must be a finite number",
        ));
    }
    let bv = beta * interaction;
    let all_half = (-2..=2).all(|dn| heat_bath_probability(bv, dn) == Prob::HALF);
    for class in 0..4 {
        let (cx, cy) = (class & 1, class >> 1);
        for y in (cy..l).step_by(2) {
            for x in (cx..l).step_by(2) {
                plaquette(l, h, v, x, y, bv, all_half, rng);
            }
        }
    }
    Ok(())
}

/// The four links of plaquette (x,y): h(x,y), h(x,y+1), v(x,y), v(x+1,y).
fn links(l: usize, x: usize, y: usize) -> [usize; 4] {
    let (x1, y1) = ((x + 1) % l, (y + 1) % l);
    [y * l + x, y1 * l + x, y * l + x, y * l + x1]
}

/// Parallel plaquettes of replica `bit` among (x,y) and its four edge neighbours: every
/// plaquette that shares a link with (x,y).
fn local_parallel(l: usize, h: &[u64], v: &[u64], x: usize, y: usize, bit: usize) -> i32 {
    let hb = |i: usize| (h[i] >> bit) & 1 == 1;
    let vb = |i: usize| (v[i] >> bit) & 1 == 1;
    let around = [
        (x, y),
        ((x + l - 1) % l, y),
        ((x + 1) % l, y),
        (x, (y + l - 1) % l),
        (x, (y + 1) % l),
    ];
    around
        .iter()
        .map(|&(px, py)| parallel_at(l, hb, vb, px, py) as i32)
        .sum()
}

/// Swap the dimer pair of plaquette (x,y) in replica `bit` (must be flippable).
fn swap_pair(l: usize, h: &mut [u64], v: &mut [u64], x: usize, y: usize, bit: usize) {
    let [h0, h1, v0, v1] = links(l, x, y);
    for i in [h0, h1] {
        h[i] ^= 1 << bit;
    }
    for i in [v0, v1] {
        v[i] ^= 1 << bit;
    }
}

#[allow(clippy::too_many_arguments)]
fn plaquette(
    l: usize,
    h: &mut [u64],
    v: &mut [u64],
    x: usize,
    y: usize,
    bv: f64,
    all_half: bool,
    rng: &mut Xoshiro256PlusPlus,
) {
    let [h0, h1, v0, v1] = links(l, x, y);
    let flippable: [bool; 64] = core::array::from_fn(|b| {
        let on = |w: u64| (w >> b) & 1 == 1;
        (on(h[h0]) && on(h[h1])) || (on(v[v0]) && on(v[v1]))
    });
    let mut flips = 0u64;
    if all_half {
        // One raw word when any bit is flippable; a bit flips when its digit is 0.
        if flippable.iter().any(|&f| f) {
            let u = rng.next_u64();
            for (b, &f) in flippable.iter().enumerate() {
                if f && (u >> b) & 1 == 0 {
                    flips |= 1 << b;
                }
            }
        }
    } else {
        let mut oracle = BitOracle::default();
        for (b, &f) in flippable.iter().enumerate() {
            if !f {
                continue;
            }
            // ΔN_∥ by recount: flip, count, flip back.
            let before = local_parallel(l, h, v, x, y, b);
            swap_pair(l, h, v, x, y, b);
            let after = local_parallel(l, h, v, x, y, b);
            swap_pair(l, h, v, x, y, b);
            let accept = oracle.accept(rng, b, heat_bath_probability(bv, after - before));
            flips |= (accept as u64) << b;
        }
        oracle.finish(rng);
    }
    for b in 0..64 {
        if (flips >> b) & 1 == 1 {
            swap_pair(l, h, v, x, y, b);
        }
    }
}
