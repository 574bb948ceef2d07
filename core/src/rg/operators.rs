//! Lattice sums of ±1 spin products on packed configurations, by XOR and popcount.
//!
//! With bit 1 = spin +1 and bit 0 = spin −1, a product of spins is −1 iff an odd number
//! of them are down. For an even number of spins (pairs, plaquettes) that is "the XOR
//! of their bits is 1"; for an odd number (single spins, three-spin products) it is
//! "the XOR of their bits is 0". Over n terms, therefore
//!
//! * even products: Σ = n − 2·popcount(XOR),
//! * odd products:  Σ = 2·popcount(XOR) − n.
//!
//! The three-spin products of a plaquette use s₁s₂s₃ = (s₁s₂s₃s₄)·s₄: with p the XOR
//! of the four corner words and c the word of the corner left out, the XOR of the other
//! three is `p ^ c`.
//!
//! Rows shifted by k columns (bit x = site x + k mod L) are made a word at a time, by
//! one of three paths chosen once per call: L ≤ 64 (one word per row: a rotation within
//! L bits), L a multiple of 64 (funnel shifts across the words of the row, the last
//! word wrapping to the first), and any other L > 64 (funnel shifts with a zero-padded
//! last word, then the k wrapped sites OR-ed in at positions L−k..L). Padding bits are
//! masked on input (see [`packed`](super::packed)).
//!
//! All offsets are taken mod L (torus / ring), also when L is small enough that they
//! wrap onto the site itself (L = 2: x + 2 = x).

use super::packed::{area, check_side, last_word_mask, words_per_row};
use crate::error::{Error, check_len};

/// Lattice sums of ±1 products on the L×L torus (each bond / plaquette counted once;
/// every sum runs over all L² sites (x, y), indices mod L).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sums2d {
    /// Σ s(x,y) s(x+1,y).
    pub nn_x: i64,
    /// Σ s(x,y) s(x,y+1).
    pub nn_y: i64,
    /// Σ s(x,y) s(x+1,y+1).
    pub diag_a: i64,
    /// Σ s(x,y) s(x+1,y−1).
    pub diag_b: i64,
    /// Σ s(x,y) s(x+2,y).
    pub nn3_x: i64,
    /// Σ s(x,y) s(x,y+2).
    pub nn3_y: i64,
    /// Σ s(x,y) s(x+1,y) s(x,y+1) s(x+1,y+1).
    pub plaq: i64,
    /// Σ s(x,y).
    pub field: i64,
    /// Σ over plaquettes (x,y) of the sum of its four three-spin products (each of the
    /// four corners left out in turn).
    pub corner3: i64,
}

/// Sums of ±1 products on a ring of L sites (indices mod L, each term once per site).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sums1d {
    /// Σ s_i s_{i+1}.
    pub nn: i64,
    /// Σ s_i s_{i+2}.
    pub nnn: i64,
    /// Σ s_i s_{i+3}.
    pub nn3: i64,
    /// Σ s_i s_{i+1} s_{i+2} s_{i+3}.
    pub four: i64,
    /// Σ s_i.
    pub field: i64,
    /// Σ s_i s_{i+1} s_{i+2}.
    pub three: i64,
}

/// How word `i` of a row shifted by `k` columns is made (bit x = site x + k mod L).
/// `k` is already reduced mod L; the result has zero padding bits.
trait RowShift {
    fn shift(row: &[u64], i: usize, k: u32, side: usize) -> u64;
}

/// L ≤ 64: one word per row, rotation within L bits.
struct OneWord;
/// L a multiple of 64 (≥ 128): funnel shifts, last word wraps to the first.
struct Aligned;
/// Any other L > 64: funnel shifts with a zero-padded last word, wrapped sites OR-ed in.
struct General;

impl RowShift for OneWord {
    #[inline(always)]
    fn shift(row: &[u64], _i: usize, k: u32, side: usize) -> u64 {
        let m = last_word_mask(side);
        let r = row[0] & m;
        if k == 0 {
            r
        } else if side == 64 {
            r.rotate_right(k)
        } else {
            ((r >> k) | (r << (side as u32 - k))) & m
        }
    }
}

impl RowShift for Aligned {
    #[inline(always)]
    fn shift(row: &[u64], i: usize, k: u32, _side: usize) -> u64 {
        // 1 ≤ k < 64 here.
        let next = row[if i + 1 == row.len() { 0 } else { i + 1 }];
        (row[i] >> k) | (next << (64 - k))
    }
}

impl RowShift for General {
    #[inline(always)]
    fn shift(row: &[u64], i: usize, k: u32, side: usize) -> u64 {
        // 1 ≤ k < 64, side > 64, side % 64 ≠ 0.
        let w = row.len();
        let m = last_word_mask(side);
        let cur = if i + 1 == w { row[i] & m } else { row[i] };
        let next = if i + 2 < w {
            row[i + 1]
        } else if i + 2 == w {
            row[i + 1] & m
        } else {
            0
        };
        let mut v = (cur >> k) | (next << (64 - k));
        // Sites 0..k land at positions L−k..L (possibly across a word boundary).
        let wrap = row[0] & ((1u64 << k) - 1);
        let pos = side - k as usize;
        let (pw, pb) = (pos / 64, (pos % 64) as u32);
        if i == pw {
            v |= wrap << pb;
        } else if i == pw + 1 && pb + k > 64 {
            v |= wrap >> (64 - pb);
        }
        if i + 1 == w { v & m } else { v }
    }
}

#[inline(always)]
fn pc(x: u64) -> i64 {
    i64::from(x.count_ones())
}

/// Raw popcounts accumulated over the torus (even products: count of −1 terms; odd
/// products: count of +1 terms).
fn count_2d<S: RowShift>(words: &[u64], side: usize) -> Sums2d {
    let w = words_per_row(side);
    let (k1, k2) = ((1 % side) as u32, (2 % side) as u32);
    let mut c = Sums2d::default();
    for y in 0..side {
        let y1 = (y + 1) % side;
        let y2 = (y + 2) % side;
        let row0 = &words[y * w..(y + 1) * w];
        let row1 = &words[y1 * w..(y1 + 1) * w];
        let row2 = &words[y2 * w..(y2 + 1) * w];
        for i in 0..w {
            let m = if i + 1 == w { last_word_mask(side) } else { !0 };
            let r0 = row0[i] & m;
            let r1 = row1[i] & m;
            let r2 = row2[i] & m;
            let r0s1 = S::shift(row0, i, k1, side);
            let r0s2 = S::shift(row0, i, k2, side);
            let r1s1 = S::shift(row1, i, k1, side);
            let p = r0 ^ r0s1 ^ r1 ^ r1s1;
            c.nn_x += pc(r0 ^ r0s1);
            c.nn_y += pc(r0 ^ r1);
            c.diag_a += pc(r0 ^ r1s1);
            // Σ s(x,y) s(x+1,y−1) = Σ s(x,y+1) s(x+1,y) (y → y+1).
            c.diag_b += pc(r1 ^ r0s1);
            c.nn3_x += pc(r0 ^ r0s2);
            c.nn3_y += pc(r0 ^ r2);
            c.plaq += pc(p);
            c.field += pc(r0);
            c.corner3 += pc(p ^ r0) + pc(p ^ r0s1) + pc(p ^ r1) + pc(p ^ r1s1);
        }
    }
    c
}

/// The lattice sums of [`Sums2d`] for the L×L packed configuration `words`
/// (`side · ⌈side/64⌉` words, row-major; padding bits ignored), computed with XOR and
/// popcount a word at a time.
///
/// Errors: `side < 2` ([`Error::UnsupportedSize`]), a wrong `words.len()`
/// ([`Error::BufferLength`]).
pub fn sums_2d(words: &[u64], side: usize) -> Result<Sums2d, Error> {
    check_side(side)?;
    check_len("words", area(side, words_per_row(side))?, words.len())?;
    let c = if side <= 64 {
        count_2d::<OneWord>(words, side)
    } else if last_word_mask(side) == !0 {
        count_2d::<Aligned>(words, side)
    } else {
        count_2d::<General>(words, side)
    };
    let n = (side * side) as i64;
    let even = |x: i64| n - 2 * x;
    let odd = |x: i64| 2 * x - n;
    Ok(Sums2d {
        nn_x: even(c.nn_x),
        nn_y: even(c.nn_y),
        diag_a: even(c.diag_a),
        diag_b: even(c.diag_b),
        nn3_x: even(c.nn3_x),
        nn3_y: even(c.nn3_y),
        plaq: even(c.plaq),
        field: odd(c.field),
        corner3: 2 * c.corner3 - 4 * n,
    })
}

fn count_1d<S: RowShift>(row: &[u64], len: usize) -> Sums1d {
    let (k1, k2, k3) = ((1 % len) as u32, (2 % len) as u32, (3 % len) as u32);
    let w = row.len();
    let mut c = Sums1d::default();
    for i in 0..w {
        let m = if i + 1 == w { last_word_mask(len) } else { !0 };
        let r = row[i] & m;
        let s1 = S::shift(row, i, k1, len);
        let s2 = S::shift(row, i, k2, len);
        let s3 = S::shift(row, i, k3, len);
        c.nn += pc(r ^ s1);
        c.nnn += pc(r ^ s2);
        c.nn3 += pc(r ^ s3);
        c.four += pc(r ^ s1 ^ s2 ^ s3);
        c.field += pc(r);
        c.three += pc(r ^ s1 ^ s2);
    }
    c
}

/// The ring sums of [`Sums1d`] for a ring of `len` sites packed in ⌈len/64⌉ words
/// (padding bits ignored), computed with XOR and popcount a word at a time.
///
/// Errors: `len < 2` ([`Error::UnsupportedSize`]), a wrong `words.len()`
/// ([`Error::BufferLength`]).
pub fn sums_1d(words: &[u64], len: usize) -> Result<Sums1d, Error> {
    check_side(len)?;
    check_len("words", words_per_row(len), words.len())?;
    let c = if len <= 64 {
        count_1d::<OneWord>(words, len)
    } else if last_word_mask(len) == !0 {
        count_1d::<Aligned>(words, len)
    } else {
        count_1d::<General>(words, len)
    };
    let n = len as i64;
    let even = |x: i64| n - 2 * x;
    let odd = |x: i64| 2 * x - n;
    Ok(Sums1d {
        nn: even(c.nn),
        nnn: even(c.nnn),
        nn3: even(c.nn3),
        four: even(c.four),
        field: odd(c.field),
        three: odd(c.three),
    })
}
