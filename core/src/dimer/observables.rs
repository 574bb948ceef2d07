//! Observables of a dimer configuration given as bit-planes (see [`super::lattice`]).
//!
//! Whole-plane sums use popcounts on words; the per-site oracles are in
//! [`super::reference`]. Conventions as in `tests/data/dimer_exact.json`:
//!
//! - winding: W_x = Σ_y (−1)^y h(0,y), W_y = Σ_x (−1)^x v(x,0);
//! - N_∥ = flippable plaquettes = Σ h(x,y)h(x,y+1) + v(x,y)v(x+1,y);
//! - axis correlation sums C(r) = Σ_{x,y} h(x,y) h(x+r,y) (so ⟨h(x,y)h(x+r,y)⟩ = C(r)/L²);
//! - columnar order M_x = (2/L²) Σ (−1)^x h(x,y), M_y = (2/L²) Σ (−1)^y v(x,y) (±1 in the
//!   four columnar states);
//! - block electric fields Ē_x = Σ_block (−1)^{x+y} h(x,y), Ē_y = Σ_block (−1)^{x+y} v(x,y)
//!   (docs/method.md#dimers-and-the-noise-decoration).
//!
//! Padding bits are ignored by every function here.

use super::lattice::{Torus, bit, valid_mask, window};
use crate::error::{Error, check_len};

/// Bits at even positions of a word. Because L is even, bit parity = parity of x.
const EVEN: u64 = 0x5555_5555_5555_5555;

/// Winding numbers (W_x, W_y).
pub fn winding(torus: Torus, h: &[u64], v: &[u64]) -> Result<(i64, i64), Error> {
    torus.check_planes(h, v)?;
    let l = torus.l();
    let sign = |k: usize| 1 - 2 * (k as i64 & 1);
    let mut w = (0i64, 0i64);
    for k in 0..l {
        w.0 += sign(k) * bit(h, k * l) as i64;
        w.1 += sign(k) * bit(v, k) as i64;
    }
    Ok(w)
}

/// The number of flippable plaquettes (two parallel dimers), i.e. N_∥.
pub fn flippable_plaquettes(torus: Torus, h: &[u64], v: &[u64]) -> Result<u64, Error> {
    torus.n_parallel(h, v)
}

/// Occupied (horizontal, vertical) links.
#[allow(clippy::needless_range_loop)] // word index also feeds valid_mask
pub fn link_counts(torus: Torus, h: &[u64], v: &[u64]) -> Result<(u64, u64), Error> {
    torus.check_planes(h, v)?;
    let n = torus.sites();
    let mut c = (0u64, 0u64);
    for w in 0..torus.plane_words() {
        let m = valid_mask(n, w);
        c.0 += (h[w] & m).count_ones() as u64;
        c.1 += (v[w] & m).count_ones() as u64;
    }
    Ok(c)
}

/// Axis correlation sums: `out[r]` = Σ_{x,y} h(x,y) h(x+r,y) for r = 0..=L/2; `out`
/// must have L/2 + 1 entries. Cost O(L³/64).
pub fn axis_correlation(torus: Torus, h: &[u64], out: &mut [u64]) -> Result<(), Error> {
    check_len("h", torus.plane_words(), h.len())?;
    let l = torus.l();
    check_len("out", l / 2 + 1, out.len())?;
    out.fill(0);
    // One row, doubled (2L bits) so that a rotation is a window. Fixed scratch: L ≤ 2^15.
    let mut row = [0u64; 2 * Torus::MAX_L / 64 + 1];
    let rw = (2 * l).div_ceil(64);
    let row_words = l.div_ceil(64);
    for y in 0..l {
        let row = &mut row[..rw + 1];
        row.fill(0);
        for k in 0..row_words {
            let len = (l - 64 * k).min(64);
            let mut bits = window(h, torus.sites(), y * l + 64 * k);
            if len < 64 {
                bits &= (1u64 << len) - 1;
            }
            // Place at bit 64k and at bit L + 64k.
            for off in [64 * k, l + 64 * k] {
                let (w, s) = (off / 64, off % 64);
                row[w] |= bits << s;
                if s != 0 {
                    row[w + 1] |= bits >> (64 - s);
                }
            }
        }
        for (r, o) in out.iter_mut().enumerate() {
            for k in 0..row_words {
                let len = (l - 64 * k).min(64);
                let a = window(row, 2 * l, 64 * k);
                let b = window(row, 2 * l, 64 * k + r);
                let m = if len < 64 {
                    (1u64 << len) - 1
                } else {
                    u64::MAX
                };
                *o += (a & b & m).count_ones() as u64;
            }
        }
    }
    Ok(())
}

/// Integer columnar sums (Σ (−1)^x h(x,y), Σ (−1)^y v(x,y)).
#[allow(clippy::needless_range_loop)] // word index also feeds valid_mask
pub fn columnar_sums(torus: Torus, h: &[u64], v: &[u64]) -> Result<(i64, i64), Error> {
    torus.check_planes(h, v)?;
    let (l, n) = (torus.l(), torus.sites());
    let mut mx = 0i64;
    for w in 0..torus.plane_words() {
        let hw = h[w] & valid_mask(n, w);
        mx += (hw & EVEN).count_ones() as i64 - (hw & !EVEN).count_ones() as i64;
    }
    let mut my = 0i64;
    for y in 0..l {
        let c = count_range(v, y * l, l) as i64;
        my += if y % 2 == 0 { c } else { -c };
    }
    Ok((mx, my))
}

/// Columnar order parameter (M_x, M_y) = (2/L²)·[`columnar_sums`].
pub fn columnar_order(torus: Torus, h: &[u64], v: &[u64]) -> Result<(f64, f64), Error> {
    let (mx, my) = columnar_sums(torus, h, v)?;
    let s = 2.0 / torus.sites() as f64;
    Ok((mx as f64 * s, my as f64 * s))
}

/// Block electric fields (Ē_x, Ē_y) of the b×b block with corner (x0, y0) (periodic;
/// 1 ≤ b ≤ L; x0, y0 taken modulo L).
pub fn block_fields(
    torus: Torus,
    h: &[u64],
    v: &[u64],
    x0: usize,
    y0: usize,
    b: usize,
) -> Result<(i64, i64), Error> {
    torus.check_planes(h, v)?;
    let l = torus.l();
    if b == 0 || b > l {
        return Err(Error::InvalidParameter("block size must be in 1..=L"));
    }
    let mut e = (0i64, 0i64);
    for dy in 0..b {
        let y = (y0 % l + dy) % l;
        for dx in 0..b {
            let x = (x0 % l + dx) % l;
            let i = y * l + x;
            let s = 1 - 2 * ((x + y) as i64 & 1);
            e.0 += s * bit(h, i) as i64;
            e.1 += s * bit(v, i) as i64;
        }
    }
    Ok(e)
}

/// Set bits of `plane` in the index range start..start + len (no wrap).
fn count_range(plane: &[u64], start: usize, len: usize) -> u64 {
    let end = start + len;
    let mut c = 0u64;
    let mut i = start;
    while i < end {
        let (w, s) = (i / 64, i % 64);
        let take = (64 - s).min(end - i);
        let m = if take == 64 {
            u64::MAX
        } else {
            ((1u64 << take) - 1) << s
        };
        c += (plane[w] & m).count_ones() as u64;
        i += take;
    }
    c
}
