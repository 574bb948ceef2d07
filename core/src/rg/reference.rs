//! Plain spin-by-spin references: every bit read on its own, ±1 spins multiplied in
//! `i64`, straight from the formulas. Oracles for [`operators`](super::operators) and
//! [`coarsen`](super::coarsen) (same validation, same results bit for bit).

use super::coarsen::{Draw, uniform};
use super::operators::{Sums1d, Sums2d};
use super::packed::{area, check_side, words_per_row};
use crate::error::{Error, check_len};
use crate::rng::Xoshiro256PlusPlus;
use rand_core::Rng;

/// Bit of site x in a row of packed words.
fn bit(row: &[u64], x: usize) -> bool {
    (row[x / 64] >> (x % 64)) & 1 == 1
}

/// Spin ±1 of site x in a row.
fn spin(row: &[u64], x: usize) -> i64 {
    if bit(row, x) { 1 } else { -1 }
}

/// [`sums_2d`](super::operators::sums_2d), one site at a time.
pub fn sums_2d_reference(words: &[u64], side: usize) -> Result<Sums2d, Error> {
    check_side(side)?;
    let w = words_per_row(side);
    check_len("words", area(side, w)?, words.len())?;
    let l = side;
    let s = |x: usize, y: usize| spin(&words[(y % l) * w..(y % l + 1) * w], x % l);
    let mut t = Sums2d::default();
    for y in 0..l {
        for x in 0..l {
            let (x1, x2, y1, y2, ym) = (x + 1, x + 2, y + 1, y + 2, y + l - 1);
            t.nn_x += s(x, y) * s(x1, y);
            t.nn_y += s(x, y) * s(x, y1);
            t.diag_a += s(x, y) * s(x1, y1);
            t.diag_b += s(x, y) * s(x1, ym);
            t.nn3_x += s(x, y) * s(x2, y);
            t.nn3_y += s(x, y) * s(x, y2);
            let c = [s(x, y), s(x1, y), s(x, y1), s(x1, y1)];
            t.plaq += c[0] * c[1] * c[2] * c[3];
            t.field += s(x, y);
            for left_out in 0..4 {
                let mut prod = 1;
                for (k, ck) in c.iter().enumerate() {
                    if k != left_out {
                        prod *= ck;
                    }
                }
                t.corner3 += prod;
            }
        }
    }
    Ok(t)
}

/// [`sums_1d`](super::operators::sums_1d), one site at a time.
pub fn sums_1d_reference(words: &[u64], len: usize) -> Result<Sums1d, Error> {
    check_side(len)?;
    check_len("words", words_per_row(len), words.len())?;
    let s = |i: usize| spin(words, i % len);
    let mut t = Sums1d::default();
    for i in 0..len {
        t.nn += s(i) * s(i + 1);
        t.nnn += s(i) * s(i + 2);
        t.nn3 += s(i) * s(i + 3);
        t.four += s(i) * s(i + 1) * s(i + 2) * s(i + 3);
        t.field += s(i);
        t.three += s(i) * s(i + 1) * s(i + 2);
    }
    Ok(t)
}

/// The coarse spin of one block, from its configuration index and its random word.
fn decide_reference(v: usize, act: &[f64], prob: &[f64], draw: Draw, x: u64) -> bool {
    let u = uniform(x);
    match draw {
        Draw::Sample => u < prob[v],
        Draw::Argmax if act[v] > 0.0 => true,
        Draw::Argmax if act[v] < 0.0 => false,
        Draw::Argmax => u < 0.5,
    }
}

/// [`coarsen_2d`](super::coarsen::coarsen_2d) with the block gathered site by site.
#[allow(clippy::too_many_arguments)]
pub fn coarsen_2d_reference(
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
    if block == 0 || block > 4 || side / block * block != side || side / block < 2 {
        return Err(Error::InvalidParameter(
            "block must have 1..=16 sites, divide the side and leave a coarse side ≥ 2",
        ));
    }
    let b = block;
    check_len("act", 1 << (b * b), act.len())?;
    check_len("prob", 1 << (b * b), prob.len())?;
    let c = side / b;
    let cw = words_per_row(c);
    check_len("coarse", c * cw, coarse.len())?;
    coarse.fill(0);
    for p in 0..c * c {
        let (cy, cx) = (p / c, p % c);
        let mut v = 0usize;
        for k in 0..b * b {
            let (y, x) = (cy * b + k / b, cx * b + k % b);
            if bit(&fine[y * w..(y + 1) * w], x) {
                v |= 1 << k;
            }
        }
        if decide_reference(v, act, prob, draw, rng.next_u64()) {
            coarse[cy * cw + cx / 64] |= 1 << (cx % 64);
        }
    }
    Ok(())
}

/// [`coarsen_1d`](super::coarsen::coarsen_1d) with the block gathered site by site.
#[allow(clippy::too_many_arguments)]
pub fn coarsen_1d_reference(
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
    if block == 0 || block > 16 || len / block * block != len || len / block < 2 {
        return Err(Error::InvalidParameter(
            "block must have 1..=16 sites, divide the length and leave a coarse length ≥ 2",
        ));
    }
    check_len("act", 1 << block, act.len())?;
    check_len("prob", 1 << block, prob.len())?;
    let c = len / block;
    check_len("coarse", words_per_row(c), coarse.len())?;
    coarse.fill(0);
    for p in 0..c {
        let mut v = 0usize;
        for k in 0..block {
            if bit(fine, p * block + k) {
                v |= 1 << k;
            }
        }
        if decide_reference(v, act, prob, draw, rng.next_u64()) {
            coarse[p / 64] |= 1 << (p % 64);
        }
    }
    Ok(())
}
