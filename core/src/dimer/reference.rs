//! Plain reference implementations on per-site partner arrays.
//!
//! A configuration is `partner: &[u32]` of L² entries, `partner[i]` = the site index
//! (y·L + x) of the other end of site i's dimer. Everything here is written for clarity:
//! neighbours from coordinates, plaquettes checked through the partner array, one
//! decision at a time.
//!
//! - [`partners_from_planes`] / [`planes_from_partners`]: conversions (both validate).
//! - [`worm`]: the directed loop of [`super::worm`], consuming the same random numbers in
//!   the same order and taking the same integer decisions from the same
//!   [`ExitTable`](super::worm::ExitTable), so it must produce the same configuration and
//!   the same step count bit for bit.
//! - Observables ([`winding`], [`n_parallel`], [`link_counts`], [`axis_correlation`],
//!   [`columnar_order`], [`block_fields`]): one site at a time, the oracles of
//!   [`super::observables`].

// Site-index loops are the point of a reference.
#![allow(clippy::needless_range_loop)]

use super::lattice::{Torus, bit};
use super::worm::{ONE, Worm, WormOutcome};
use crate::error::{Error, check_len};
use crate::rng::{Xoshiro256PlusPlus, uniform_below};
use rand_core::Rng;

const NONE: u32 = u32::MAX;

/// Neighbour of site `i` in direction `d` (0: +x, 1: +y, 2: −x, 3: −y).
pub fn neighbour(torus: Torus, i: usize, d: usize) -> usize {
    let l = torus.l();
    let (x, y) = (i % l, i / l);
    match d % 4 {
        0 => y * l + (x + 1) % l,
        1 => ((y + 1) % l) * l + x,
        2 => y * l + (x + l - 1) % l,
        _ => ((y + l - 1) % l) * l + x,
    }
}

/// Fill `partner` (L² entries) from the planes; fails unless they are a valid covering.
pub fn partners_from_planes(
    torus: Torus,
    h: &[u64],
    v: &[u64],
    partner: &mut [u32],
) -> Result<(), Error> {
    torus.validate(h, v)?;
    check_len("partner", torus.sites(), partner.len())?;
    for i in 0..torus.sites() {
        if bit(h, i) {
            let j = neighbour(torus, i, 0);
            partner[i] = j as u32;
            partner[j] = i as u32;
        }
        if bit(v, i) {
            let j = neighbour(torus, i, 1);
            partner[i] = j as u32;
            partner[j] = i as u32;
        }
    }
    Ok(())
}

/// Write the planes from `partner`; fails unless it pairs every site with a neighbour
/// that points back.
pub fn planes_from_partners(
    torus: Torus,
    partner: &[u32],
    h: &mut [u64],
    v: &mut [u64],
) -> Result<(), Error> {
    torus.check_planes(h, v)?;
    check_len("partner", torus.sites(), partner.len())?;
    h.fill(0);
    v.fill(0);
    for i in 0..torus.sites() {
        let j = partner[i] as usize;
        if j >= torus.sites() || partner[j] as usize != i {
            return Err(Error::InvalidParameter(
                "partner array is not a symmetric pairing",
            ));
        }
        if j == neighbour(torus, i, 0) {
            h[i / 64] |= 1 << (i % 64);
        } else if j == neighbour(torus, i, 1) {
            v[i / 64] |= 1 << (i % 64);
        } else if j != neighbour(torus, i, 2) && j != neighbour(torus, i, 3) {
            return Err(Error::InvalidParameter(
                "partner array pairs sites that are not neighbours",
            ));
        }
    }
    Ok(())
}

/// Is the link (i, j) occupied in a partner array that may hold the worm's defects?
fn occupied(partner: &[u32], i: usize, j: usize) -> bool {
    partner[i] as usize == j || partner[j] as usize == i
}

/// One worm on a partner array, as [`Worm::run`] (see the module docs); returns the steps.
pub fn worm(worm: &Worm, partner: &mut [u32], rng: &mut Xoshiro256PlusPlus) -> Result<u64, Error> {
    let (steps, closed) = worm_capped_inner(worm, partner, rng, u64::MAX)?;
    debug_assert!(closed);
    Ok(steps)
}

/// One worm of at most `cap` steps, as [`Worm::run_capped`]; `backup` (L² entries)
/// receives a copy of `partner` first and restores it if the loop does not close.
pub fn worm_capped(
    worm: &Worm,
    partner: &mut [u32],
    backup: &mut [u32],
    cap: u64,
    rng: &mut Xoshiro256PlusPlus,
) -> Result<WormOutcome, Error> {
    check_len("backup", worm.torus().sites(), backup.len())?;
    check_len("partner", worm.torus().sites(), partner.len())?;
    if cap == 0 {
        return Err(Error::InvalidParameter("worm step cap must be at least 1"));
    }
    backup.copy_from_slice(partner);
    let (steps, closed) = worm_capped_inner(worm, partner, rng, cap)?;
    if closed {
        Ok(WormOutcome::Closed { steps })
    } else {
        partner.copy_from_slice(backup);
        Ok(WormOutcome::Rejected { steps })
    }
}

fn worm_capped_inner(
    w: &Worm,
    partner: &mut [u32],
    rng: &mut Xoshiro256PlusPlus,
    cap: u64,
) -> Result<(u64, bool), Error> {
    let torus = w.torus();
    let n = torus.sites();
    check_len("partner", n, partner.len())?;
    let tail = uniform_below(rng, n as u64) as usize;
    // State: the moving dimer (a, q) pivots about q. partner[q] = a; partner[a] = the far
    // end of a's other dimer (`prev`), or NONE when a is the tail.
    let mut a = tail;
    let mut q = partner[tail] as usize;
    if q >= n {
        return Err(Error::InvalidParameter("partner array entry out of range"));
    }
    partner[tail] = NONE;
    let mut prev = NONE as usize;
    let mut steps = 0u64;
    loop {
        if steps == cap {
            return Ok((steps, false));
        }
        let e = (0..4)
            .find(|&d| neighbour(torus, q, d) == a)
            .ok_or(Error::InvalidParameter(
                "partner array pairs non-neighbours",
            ))?;
        // n-pattern: for each exit d, the two plaquettes beside link (q, x): the parallel
        // link shifted by ±1 in the perpendicular direction.
        let mut p = 0usize;
        if w.interacting() {
            let mut scale = 1;
            for d in 0..4 {
                let x = neighbour(torus, q, d);
                let mut nd = 0;
                for s in [(d + 1) % 4, (d + 3) % 4] {
                    let (q2, x2) = (neighbour(torus, q, s), neighbour(torus, x, s));
                    if occupied(partner, q2, x2) {
                        nd += 1;
                    }
                }
                p += nd * scale;
                scale *= 3;
            }
        }
        let r = rng.next_u64() >> 1;
        let c = w.table().thresholds(p, e);
        debug_assert_eq!(c[3], ONE);
        let k = (0..4).find(|&k| r < c[k]).unwrap_or(3);
        steps += 1;
        let x = neighbour(torus, q, k);
        if x == tail {
            partner[q] = x as u32;
            partner[x] = q as u32;
            return Ok((steps, true));
        }
        if x == a {
            // Bounce: (a, q) is restored and becomes a's "other" dimer; a's previous other
            // dimer (a, prev) moves next, pivoting about prev.
            partner[a] = q as u32;
            (q, prev) = (prev, q);
            continue;
        }
        let r_old = partner[x] as usize;
        if r_old >= n {
            return Err(Error::InvalidParameter("partner array entry out of range"));
        }
        partner[q] = x as u32;
        partner[x] = q as u32;
        a = x;
        prev = q;
        q = r_old;
    }
}

/// Winding numbers (W_x, W_y) = (Σ_y (−1)^y h(0,y), Σ_x (−1)^x v(x,0)).
pub fn winding(torus: Torus, partner: &[u32]) -> (i64, i64) {
    let l = torus.l();
    let sign = |k: usize| if k.is_multiple_of(2) { 1 } else { -1 };
    let mut w = (0i64, 0i64);
    for y in 0..l {
        let i = y * l;
        if partner[i] as usize == neighbour(torus, i, 0) {
            w.0 += sign(y);
        }
    }
    for x in 0..l {
        if partner[x] as usize == neighbour(torus, x, 1) {
            w.1 += sign(x);
        }
    }
    w
}

/// N_∥: plaquettes (x, y) with both horizontal links or both vertical links occupied.
pub fn n_parallel(torus: Torus, partner: &[u32]) -> u64 {
    let mut count = 0;
    for i in 0..torus.sites() {
        let right = neighbour(torus, i, 0);
        let up = neighbour(torus, i, 1);
        let diag = neighbour(torus, right, 1);
        if occupied(partner, i, right) && occupied(partner, up, diag) {
            count += 1;
        }
        if occupied(partner, i, up) && occupied(partner, right, diag) {
            count += 1;
        }
    }
    count
}

/// (horizontal, vertical) occupied links.
pub fn link_counts(torus: Torus, partner: &[u32]) -> (u64, u64) {
    let mut c = (0, 0);
    for i in 0..torus.sites() {
        if partner[i] as usize == neighbour(torus, i, 0) {
            c.0 += 1;
        }
        if partner[i] as usize == neighbour(torus, i, 1) {
            c.1 += 1;
        }
    }
    c
}

/// `out[r]` = Σ_{x,y} h(x,y) h(x+r,y) for r = 0..out.len().
pub fn axis_correlation(torus: Torus, partner: &[u32], out: &mut [u64]) {
    let l = torus.l();
    let hor = |x: usize, y: usize| {
        let i = y * l + x % l;
        partner[i] as usize == neighbour(torus, i, 0)
    };
    for (r, o) in out.iter_mut().enumerate() {
        *o = 0;
        for y in 0..l {
            for x in 0..l {
                if hor(x, y) && hor(x + r, y) {
                    *o += 1;
                }
            }
        }
    }
}

/// (Σ (−1)^x h(x,y), Σ (−1)^y v(x,y)) as integers (the columnar order parameter times
/// L²/2).
pub fn columnar_order(torus: Torus, partner: &[u32]) -> (i64, i64) {
    let l = torus.l();
    let mut m = (0i64, 0i64);
    for y in 0..l {
        for x in 0..l {
            let i = y * l + x;
            if partner[i] as usize == neighbour(torus, i, 0) {
                m.0 += if x % 2 == 0 { 1 } else { -1 };
            }
            if partner[i] as usize == neighbour(torus, i, 1) {
                m.1 += if y % 2 == 0 { 1 } else { -1 };
            }
        }
    }
    m
}

/// Block fields (Σ (−1)^{x+y} h(x,y), Σ (−1)^{x+y} v(x,y)) over the b×b block with
/// corner (x0, y0), periodic.
pub fn block_fields(torus: Torus, partner: &[u32], x0: usize, y0: usize, b: usize) -> (i64, i64) {
    let l = torus.l();
    let mut e = (0i64, 0i64);
    for dy in 0..b {
        for dx in 0..b {
            let (x, y) = ((x0 + dx) % l, (y0 + dy) % l);
            let i = y * l + x;
            let s = if (x + y) % 2 == 0 { 1 } else { -1 };
            if partner[i] as usize == neighbour(torus, i, 0) {
                e.0 += s;
            }
            if partner[i] as usize == neighbour(torus, i, 1) {
                e.1 += s;
            }
        }
    }
    e
}
